package zpl

import (
	"strconv"
	"strings"
)

// unescape128 resolves ^BC mode N invocation codes (ZPL II Programming
// Guide, ^BC, Code 128 invocation characters): >8 is FNC1 (first:
// GS1-128, later: GS), >0 is ">", >< "^" and >= "~" (symbol values 30, 62
// and 94 in subset B); start codes (>9 >: >;) and code set switches (>5 >6
// >7) carry no data; FNC2-4 and shift (>1-4) are dropped with a warning.
func (p *Parser) unescape128(s string) (string, bool) {
	if strings.IndexByte(s, '>') < 0 {
		return s, false
	}
	out := make([]byte, 0, len(s))
	gs1 := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '>' || i+1 == len(s) {
			out = append(out, c)
			continue
		}
		i++
		switch n := s[i]; n {
		case '8':
			if len(out) == 0 && !gs1 {
				gs1 = true
			} else {
				out = append(out, gs)
			}
		case '0':
			out = append(out, '>')
		case '<':
			out = append(out, '^')
		case '=':
			out = append(out, '~')
		case '5', '6', '7', '9', ':', ';':
		default:
			p.log.Warn("zpl: ^BC invocation code dropped", "sequence", s[i-1:i+1])
		}
	}
	return string(out), gs1
}

// unhex resolves ^FH escapes: the indicator and two hex digits give a byte.
// A malformed escape is kept as it is and logged.
func (p *Parser) unhex(s string, ind byte) string {
	if strings.IndexByte(s, ind) < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ind {
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				out = append(out, unhexDigit(s[i+1])<<4|unhexDigit(s[i+2]))
				i += 2
				continue
			}
			p.log.Warn("zpl: malformed ^FH escape kept as text", "at", i, "rule", "indicator then two hex digits")
		}
		out = append(out, c)
	}
	return string(out)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func unhexDigit(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// unescapeDataMatrix resolves the ^BX quality 200 escape sequences (ZPL II
// Programming Guide, ^BX field data): esc+'1' is FNC1 (first: GS1 mode,
// later: GS), esc+esc a literal esc, esc+'dNNN' the byte NNN, esc+'@'..'^' a
// control character; FNC2 (+9 digits), FNC3 and code pages (+3 digits) carry
// no data and are dropped.
func (p *Parser) unescapeDataMatrix(s string, esc byte) (string, bool) {
	if strings.IndexByte(s, esc) < 0 {
		return s, false
	}
	out := make([]byte, 0, len(s))
	gs1 := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != esc {
			out = append(out, c)
			continue
		}
		if i+1 == len(s) {
			p.log.Warn("zpl: ^BX escape character at the end of the data kept", "escape", string(esc))
			out = append(out, c)
			break
		}
		n := s[i+1]
		switch {
		case n == esc:
			out = append(out, esc)
			i++
		case n == '1':
			if len(out) == 0 && !gs1 {
				gs1 = true
			} else {
				out = append(out, gs)
			}
			i++
		case n == '2':
			i += 1 + countDigits(s[i+2:], 9)
		case n == '3':
			i++
		case n == '5':
			i += 1 + countDigits(s[i+2:], 3)
		case n == 'd':
			if d := countDigits(s[i+2:], 3); d == 3 {
				if v, _ := strconv.Atoi(s[i+2 : i+5]); v <= 255 {
					out = append(out, byte(v))
					i += 4
					continue
				}
			}
			p.log.Warn("zpl: malformed ^BX escape kept", "sequence", truncate(s[i:], 5), "rule", "d then three digits 000-255")
			out = append(out, c)
		case n >= '@' && n <= '^':
			out = append(out, n-'@')
			i++
		default:
			p.log.Warn("zpl: unknown ^BX escape kept", "sequence", s[i:i+2])
			out = append(out, c)
		}
	}
	return string(out), gs1
}

// countDigits counts leading decimal digits of s, up to limit.
func countDigits(s string, limit int) int {
	n := 0
	for n < len(s) && n < limit && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
