package gs1

import (
	"strconv"
	"strings"
)

// GS is the group separator (ASCII 29) a scanner transmits for FNC1 used as
// a field separator.
const GS = '\x1d'

// ParseTransmitted parses data as a scanner transmits it, e.g.
// "01095060001343521720122510ABC123\x1d21XYZ", and validates it. A leading symbology identifier for GS1 data (]d2 DataMatrix,
// ]C1 GS1-128, ]Q3 QR Code, ]e0 DataBar, ]J1 DotCode) and a leading GS are
// dropped. A GS ends each field that is not of predefined length; one after
// a predefined-length field is tolerated, a GS at the very end is not.
func ParseTransmitted(s string) (ElementString, error) {
	es, err := parseTransmitted(s)
	if err != nil {
		return nil, err
	}
	if err := es.validate(); err != nil {
		return nil, err
	}
	return es, nil
}

func parseTransmitted(s string) (ElementString, *Error) {
	in := s
	if len(s) > 0 && s[0] == ']' {
		if len(s) < 3 {
			return nil, newErr("", s, RuleSyntax, "truncated symbology identifier")
		}
		switch s[1:3] {
		case "d2", "C1", "Q3", "e0", "J1":
			s = s[3:]
		default:
			return nil, newErr("", s[:3], RuleSyntax, "symbology identifier does not announce GS1 data (want ]d2, ]C1, ]Q3, ]e0 or ]J1)")
		}
	}
	if len(s) > 0 && s[0] == GS {
		s = s[1:]
	}
	if s == "" {
		return nil, newErr("", in, RuleSyntax, "no element strings")
	}
	es := make(ElementString, 0, 4)
	for s != "" {
		pos := len(in) - len(s) + 1
		if len(s) < 2 || !isDigit(s[0]) || !isDigit(s[1]) {
			return nil, newErr("", truncate(s), RuleSyntax, "expected an AI at position "+strconv.Itoa(pos))
		}
		n := aiLength(s[:2])
		if n == 0 {
			return nil, newErr(s[:2], "", RuleUnknownAI, "no GS1 Application Identifier starts with "+s[:2])
		}
		if len(s) < n || !allDigits(s[:n]) {
			return nil, newErr("", truncate(s), RuleSyntax, "incomplete "+strconv.Itoa(n)+"-digit AI at position "+strconv.Itoa(pos))
		}
		ai := s[:n]
		s = s[n:]
		e := lookup(ai)
		if e == nil {
			v := s
			if k := strings.IndexByte(v, GS); k >= 0 {
				v = v[:k]
			}
			return nil, unknownAI(ai, truncate(v))
		}
		var v string
		if e.def.Fixed {
			size := e.def.MaxLen
			if k := strings.IndexByte(s[:min(size, len(s))], GS); k >= 0 {
				return nil, newErr(ai, s[:k], RuleLength, "must be exactly "+strconv.Itoa(size)+" characters, got "+strconv.Itoa(k)+" before a separator")
			}
			if len(s) < size {
				return nil, newErr(ai, s, RuleLength, "must be exactly "+strconv.Itoa(size)+" characters, got "+strconv.Itoa(len(s)))
			}
			v, s = s[:size], s[size:]
			if s != "" && s[0] == GS { // needless, but readers and printers emit it
				s = s[1:]
				if s == "" {
					return nil, newErr(ai, v, RuleSyntax, "separator at the end of the data")
				}
			}
		} else if k := strings.IndexByte(s, GS); k >= 0 {
			v, s = s[:k], s[k+1:]
			if s == "" {
				return nil, newErr(ai, v, RuleSyntax, "separator at the end of the data")
			}
		} else {
			v, s = s, ""
		}
		es = append(es, Element{AI: ai, Value: v})
	}
	return es, nil
}

// truncate keeps error values short when the input is long.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Transmitted renders the data a scanner would transmit for es, without a
// symbology identifier: a GS after each field that is not of predefined
// length, except the last. (In a GS1 DataMatrix each GS is an FNC1
// codeword, and the symbol starts with FNC1.)
func (es ElementString) Transmitted() string {
	n := 0
	for _, el := range es {
		n += len(el.AI) + len(el.Value) + 1
	}
	return string(es.AppendTransmitted(make([]byte, 0, n)))
}

// AppendTransmitted appends the Transmitted form to dst and returns it. It
// allocates nothing when dst has room, for the print path.
func (es ElementString) AppendTransmitted(dst []byte) []byte {
	for i, el := range es {
		dst = append(dst, el.AI...)
		dst = append(dst, el.Value...)
		if i < len(es)-1 && !predefined(el.AI) {
			dst = append(dst, GS)
		}
	}
	return dst
}
