package gs1

import (
	"strconv"
	"strings"
)

// ParseBracketed parses the human-readable form
// "(01)09506000134352(17)201225(10)ABC123(21)XYZ" and validates it. A "("
// inside data is written "\(" (the GS1 Barcode Syntax Engine's escape).
func ParseBracketed(s string) (ElementString, error) {
	es, err := parseBracketed(s)
	if err != nil {
		return nil, err
	}
	if err := es.validate(); err != nil {
		return nil, err
	}
	return es, nil
}

func parseBracketed(s string) (ElementString, *Error) {
	if s == "" {
		return nil, newErr("", "", RuleSyntax, "empty element string")
	}
	es := make(ElementString, 0, 4)
	for i := 0; i < len(s); {
		if s[i] != '(' {
			return nil, newErr("", s, RuleSyntax, "expected \"(\" at position "+strconv.Itoa(i+1))
		}
		j := strings.IndexByte(s[i+1:], ')')
		if j < 0 {
			return nil, newErr("", s, RuleSyntax, "\"(\" at position "+strconv.Itoa(i+1)+" is not closed")
		}
		ai := s[i+1 : i+1+j]
		if len(ai) < 2 || len(ai) > 4 || !allDigits(ai) {
			return nil, newErr(ai, "", RuleSyntax, "an AI is 2 to 4 digits in brackets")
		}
		start := i + 1 + j + 1
		k := start
		escaped := false
		for k < len(s) {
			if s[k] == '(' {
				if k > start && s[k-1] == '\\' {
					escaped = true
				} else {
					break
				}
			}
			k++
		}
		v := s[start:k]
		if escaped {
			v = strings.ReplaceAll(v, `\(`, "(")
		}
		if lookup(ai) == nil {
			return nil, unknownAI(ai, v)
		}
		es = append(es, Element{AI: ai, Value: v})
		i = k
	}
	return es, nil
}

// Bracketed renders the human-readable form "(01)...(21)...", escaping a
// "(" in data as "\(".
func (es ElementString) Bracketed() string {
	n := 0
	for _, el := range es {
		n += len(el.AI) + len(el.Value) + 2
	}
	b := make([]byte, 0, n)
	for _, el := range es {
		b = append(b, '(')
		b = append(b, el.AI...)
		b = append(b, ')')
		for i := 0; i < len(el.Value); i++ {
			if el.Value[i] == '(' {
				b = append(b, '\\')
			}
			b = append(b, el.Value[i])
		}
	}
	return string(b)
}
