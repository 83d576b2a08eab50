package gs1

import (
	"strconv"
	"strings"
)

// DefaultDigitalLinkBase is the resolver DigitalLink uses when given "".
const DefaultDigitalLinkBase = "https://id.gs1.org"

// ParseDigitalLink parses a GS1 Digital Link URI (GS1 Digital Link standard
// 1.x) and validates the elements it carries. Any scheme, host and leading
// path ("stem") is accepted: the GS1 path starts at the right-most primary
// key (00, 01, 253, 255, 401, 402, 414, 415, 417, 8003, 8004, 8006, 8017,
// 8018) and continues with that key's qualifiers in their fixed order
// (22, 10, 21 for a GTIN). Query parameters with numeric names are AIs and
// must be ones allowed as Digital Link attributes; other parameters and the
// fragment are ignored. Values are percent-decoded; a GTIN-8, -12 or -13 is
// padded to 14 digits.
func ParseDigitalLink(uri string) (ElementString, error) {
	es, err := parseDigitalLink(uri)
	if err != nil {
		return nil, err
	}
	if err := es.validate(); err != nil {
		return nil, err
	}
	return es, nil
}

func parseDigitalLink(uri string) (ElementString, *Error) {
	rest, err := splitURI(uri)
	if err != nil {
		return nil, err
	}
	if f := strings.IndexByte(rest, '#'); f >= 0 {
		rest = rest[:f]
	}
	path, query, _ := strings.Cut(rest, "?")
	segs := strings.Split(path[1:], "/")

	// Walk "/AI/value" pairs back from the end of the path to the primary key.
	start := -1
	for i := len(segs) - 2; i >= 0; i -= 2 {
		e := lookup(segs[i])
		if e == nil {
			break
		}
		if e.def.DLPrimaryKey {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, newErr("", truncate(uri), RuleSyntax, "no GS1 Digital Link primary key (such as /01/{gtin}) ends the URI path")
	}
	key := lookup(segs[start])
	es := make(ElementString, 0, 4)
	var quals []string
	for i := start; i < len(segs); i += 2 {
		ai := segs[i]
		v, err := percentDecode(ai, segs[i+1])
		if err != nil {
			return nil, err
		}
		if i > start {
			quals = append(quals, ai)
		}
		es = append(es, Element{AI: ai, Value: padGTIN(ai, v)})
	}
	if err := checkQualifiers(key, quals); err != nil {
		return nil, err
	}

	for _, param := range strings.Split(query, "&") {
		name, val, ok := strings.Cut(param, "=")
		if !ok || name == "" || !allDigits(name) {
			continue // not an AI: other query parameters are the resolver's business
		}
		e := lookup(name)
		if e == nil {
			return nil, unknownAI(name, val)
		}
		if !e.def.DLAttribute {
			return nil, newErr(name, val, RuleSyntax, "may not be a Digital Link query parameter (a key or key qualifier belongs in the path)")
		}
		v, err := percentDecode(name, val)
		if err != nil {
			return nil, err
		}
		es = append(es, Element{AI: name, Value: padGTIN(name, v)})
	}
	return es, nil
}

// splitURI checks the characters and the scheme://host part of uri and
// returns what follows the host: the path (starting with "/"), query and
// fragment.
func splitURI(uri string) (string, *Error) {
	for i := 0; i < len(uri); i++ {
		if !isURIByte(uri[i]) {
			return "", newErr("", truncate(uri), RuleSyntax, charDetail(uri, i, "is not allowed in a URI"))
		}
	}
	k := strings.Index(uri, "://")
	if k <= 0 || !validScheme(uri[:k]) {
		return "", newErr("", truncate(uri), RuleSyntax, "a Digital Link URI starts with scheme://host/")
	}
	rest := uri[k+3:]
	slash := strings.IndexByte(rest, '/')
	if slash <= 0 || strings.ContainsAny(rest[:slash], "?#") {
		return "", newErr("", truncate(uri), RuleSyntax, "a Digital Link URI needs a host and a path")
	}
	return rest[slash:], nil
}

func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
		if !letter && (i == 0 || !(isDigit(c) || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// isURIByte reports the characters RFC 3986 allows in a URI, % included.
func isURIByte(c byte) bool {
	switch {
	case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}

// checkQualifiers checks that the path qualifiers after key follow one of
// its allowed sequences, in order (GS1 Digital Link 1.x, section 4).
func checkQualifiers(key *aiEntry, quals []string) *Error {
	if len(quals) == 0 {
		return nil
	}
	for _, alt := range key.dlQualifiers {
		if isOrderedSubset(quals, alt) {
			return nil
		}
	}
	pk := key.def.AI
	for _, q := range quals {
		if !qualifierOf(key, q) {
			return newErr(q, "", RuleSyntax, "is not a key qualifier of AI ("+pk+") and may not follow it in a Digital Link path")
		}
	}
	var orders []string
	for _, alt := range key.dlQualifiers {
		orders = append(orders, strings.Join(alt, ", "))
	}
	return newErr(quals[len(quals)-1], "", RuleSyntax,
		"key qualifiers of AI ("+pk+") must appear in the order "+strings.Join(orders, " or ")+", each at most once, without mixing sequences")
}

func qualifierOf(key *aiEntry, ai string) bool {
	for _, alt := range key.dlQualifiers {
		for _, q := range alt {
			if q == ai {
				return true
			}
		}
	}
	return false
}

// isOrderedSubset reports whether quals appear in alt in the same order.
func isOrderedSubset(quals, alt []string) bool {
	j := 0
	for _, q := range quals {
		for j < len(alt) && alt[j] != q {
			j++
		}
		if j == len(alt) {
			return false
		}
		j++
	}
	return true
}

func padGTIN(ai, v string) string {
	if ai == "01" && (len(v) == 8 || len(v) == 12 || len(v) == 13) && allDigits(v) {
		return "00000000000000"[:14-len(v)] + v
	}
	return v
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func percentDecode(ai, s string) (string, *Error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", newErr(ai, s, RuleSyntax, "truncated percent-encoding at position "+strconv.Itoa(i+1))
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", newErr(ai, s, RuleSyntax, "bad percent-encoding at position "+strconv.Itoa(i+1))
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), nil
}

// appendEscaped percent-encodes everything but RFC 3986 unreserved
// characters, so that any CSET 82 value survives path and query alike.
func appendEscaped(b []byte, v string) []byte {
	const hexdigits = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '.' || c == '_' || c == '~' {
			b = append(b, c)
		} else {
			b = append(b, '%', hexdigits[c>>4], hexdigits[c&15])
		}
	}
	return b
}

// DigitalLink renders es as a GS1 Digital Link URI on base (""
// means https://id.gs1.org): the primary key and its qualifiers in the
// path, e.g. /01/{gtin}/22/../10/../21/.., every other AI in the query
// (?17=...). The first primary key in es that can carry all the other AIs
// is used. es is validated first.
func (es ElementString) DigitalLink(base string) (string, error) {
	if err := es.validate(); err != nil {
		return "", err
	}
	if base == "" {
		base = DefaultDigitalLinkBase
	}
	base = strings.TrimRight(base, "/")
	if rest, err := splitURI(base + "/"); err != nil || strings.ContainsAny(rest, "?#") {
		return "", newErr("", base, RuleSyntax, "a Digital Link base is scheme://host[/path] without query or fragment")
	}

	var blocker *Error
	for pi, el := range es {
		key := lookup(el.AI)
		if !key.def.DLPrimaryKey {
			continue
		}
		alt, bad := pickQualifiers(key, es, pi)
		if bad >= 0 {
			if blocker == nil {
				blocker = newErr(es[bad].AI, es[bad].Value, RuleSyntax,
					"cannot be carried in a Digital Link URI whose primary key is AI ("+el.AI+")")
			}
			continue
		}
		return es.renderDigitalLink(base, pi, alt), nil
	}
	if blocker != nil {
		return "", blocker
	}
	return "", newErr("", "", RuleSyntax, "no GS1 Digital Link primary key (00, 01, 253, 255, 401, 402, 414, 415, 417, 8003, 8004, 8006, 8017, 8018)")
}

// pickQualifiers returns the first qualifier sequence of key under which
// every element of es other than the key at index pi can be carried (as a
// path qualifier or a query attribute), or the index of an element that
// cannot.
func pickQualifiers(key *aiEntry, es ElementString, pi int) ([]string, int) {
	alts := key.dlQualifiers
	if len(alts) == 0 {
		alts = [][]string{nil}
	}
	bad := -1
	for _, alt := range alts {
		bad = -1
		usedInPath := make(map[string]bool, len(alt))
		for i, el := range es {
			if i == pi {
				continue
			}
			inAlt := false
			for _, q := range alt {
				if q == el.AI {
					inAlt = true
				}
			}
			if inAlt && !usedInPath[el.AI] {
				usedInPath[el.AI] = true
				continue
			}
			if !lookup(el.AI).def.DLAttribute {
				bad = i
				break
			}
		}
		if bad < 0 {
			return alt, -1
		}
	}
	return nil, bad
}

func (es ElementString) renderDigitalLink(base string, pi int, alt []string) string {
	inPath := make([]bool, len(es))
	inPath[pi] = true
	b := make([]byte, 0, len(base)+64)
	b = append(b, base...)
	b = append(b, '/')
	b = append(b, es[pi].AI...)
	b = append(b, '/')
	b = appendEscaped(b, es[pi].Value)
	for _, q := range alt {
		for i, el := range es {
			if el.AI == q && !inPath[i] {
				inPath[i] = true
				b = append(b, '/')
				b = append(b, q...)
				b = append(b, '/')
				b = appendEscaped(b, el.Value)
				break
			}
		}
	}
	sep := byte('?')
	for i, el := range es {
		if inPath[i] {
			continue
		}
		b = append(b, sep)
		sep = '&'
		b = append(b, el.AI...)
		b = append(b, '=')
		b = appendEscaped(b, el.Value)
	}
	return string(b)
}
