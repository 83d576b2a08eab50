package gs1

// Element is one GS1 element string: an Application Identifier and its data.
type Element struct {
	AI    string
	Value string
}

// ElementString is a sequence of elements in the order given (printed,
// scanned or parsed). Use Sorted for the order that needs fewest separators.
type ElementString []Element

// Get returns the value of the first element with ai.
func (es ElementString) Get(ai string) (string, bool) {
	for _, el := range es {
		if el.AI == ai {
			return el.Value, true
		}
	}
	return "", false
}

// Map returns the elements as AI → value. (Validate has already rejected
// an AI given twice with different values.)
func (es ElementString) Map() map[string]string {
	m := make(map[string]string, len(es))
	for _, el := range es {
		if _, seen := m[el.AI]; !seen {
			m[el.AI] = el.Value
		}
	}
	return m
}

// Sorted returns a copy with the predefined-length AIs (00, 01, 02, 11, 17,
// 31nn, 410, ...) first and the others after them, each group keeping its
// relative order. Only fields that are not of predefined length need a
// separator, and the last field needs none, so this order leaves separators
// only between variable-length fields: the shortest symbol.
func (es ElementString) Sorted() ElementString {
	out := make(ElementString, 0, len(es))
	for _, el := range es {
		if predefined(el.AI) {
			out = append(out, el)
		}
	}
	for _, el := range es {
		if !predefined(el.AI) {
			out = append(out, el)
		}
	}
	return out
}

// predefined reports whether ai is of predefined length and so never needs a
// separator after it. Unknown AIs are treated as needing one.
func predefined(ai string) bool {
	e := lookup(ai)
	return e != nil && e.def.Fixed
}

// Parse parses s in whichever of the three forms it is written: bracketed
// "(01)...", a GS1 Digital Link URI "https://..." (anything starting with a
// URI scheme), or transmitted data "01...", "]d201..." as a scanner sends it.
func Parse(s string) (ElementString, error) {
	switch {
	case s == "":
		return nil, newErr("", "", RuleSyntax, "empty input")
	case s[0] == '(':
		return ParseBracketed(s)
	case s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z':
		// Element strings and scan data never start with a letter.
		return ParseDigitalLink(s)
	}
	return ParseTransmitted(s)
}
