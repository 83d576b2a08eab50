package scanner

import (
	"fmt"
	"strings"
)

// ParseEscapes turns the backslash escapes a configuration file uses for
// control characters into bytes: \xHH (any byte, e.g. \x02 for STX, \x1d for
// GS), \r, \n, \t and \\. Other text is kept as it is, so "<GS>" stays the four
// characters it is.
func ParseEscapes(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("%q: a lone backslash at the end; write \\\\ for a backslash", s)
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'x':
			if i+2 >= len(s) {
				return "", fmt.Errorf("%q: \\x at offset %d needs two hex digits", s, i-1)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("%q: \\x at offset %d needs two hex digits, got %q", s, i-1, s[i+1:i+3])
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		default:
			return "", fmt.Errorf("%q: unknown escape \\%c at offset %d; use \\xHH, \\r, \\n, \\t or \\\\", s, s[i], i-1)
		}
	}
	return b.String(), nil
}

// FormatEscapes is the inverse of ParseEscapes: it writes control characters,
// bytes above 0x7E and backslashes as escapes, so a configuration can be
// written back in the form it is read.
func FormatEscapes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c > 0x7e:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
