package gs1

import (
	"strconv"
	"strings"
	"time"
)

// yearSource gives the current year lazily: most element strings carry a
// date, but looking up the clock is only needed when one does.
type yearSource struct{ year int }

func (y *yearSource) get() int {
	if y.year == 0 {
		y.year = time.Now().Year()
	}
	return y.year
}

// checkValue checks v against the format of e (length, character set,
// component linters). It returns nil when v is valid.
func (e *aiEntry) checkValue(v string, ys *yearSource) *Error {
	ai := e.def.AI
	if n := len(v); n < e.def.MinLen || n > e.def.MaxLen {
		return newErr(ai, v, RuleLength, lengthDetail(e.def, n))
	}
	rest := v
	pos := 0 // offset of rest within v
	for _, c := range e.comps {
		if rest == "" {
			if c.optional {
				break
			}
			return newErr(ai, v, RuleLength, lengthDetail(e.def, len(v)))
		}
		n := c.max
		if c.min != c.max { // variable: only ever the last component
			n = len(rest)
		}
		if n > len(rest) {
			return newErr(ai, v, RuleLength, lengthDetail(e.def, len(v)))
		}
		part := rest[:n]
		if c.numeric {
			if i := firstNonDigit(part); i >= 0 {
				return newErr(ai, v, RuleNumeric, charDetail(v, pos+i, "is not a digit"))
			}
		} else if i := firstNonCSET82(part); i >= 0 {
			return newErr(ai, v, RuleCharset, charDetail(v, pos+i, "is not in CSET 82"))
		}
		for _, l := range c.lints {
			if err := applyLint(l, ai, v, part, ys); err != nil {
				return err
			}
		}
		rest = rest[n:]
		pos += n
	}
	if rest != "" {
		return newErr(ai, v, RuleLength, lengthDetail(e.def, len(v)))
	}
	return nil
}

func lengthDetail(d AIDef, got int) string {
	g := strconv.Itoa(got)
	switch {
	case d.MinLen == d.MaxLen:
		return "must be exactly " + strconv.Itoa(d.MaxLen) + " characters, got " + g
	case got > d.MaxLen:
		return "must be at most " + strconv.Itoa(d.MaxLen) + " characters, got " + g
	case d.MinLen == 1 && got == 0:
		return "must not be empty"
	}
	return "must be " + strconv.Itoa(d.MinLen) + " to " + strconv.Itoa(d.MaxLen) + " characters (format " + d.Format + "), got " + g
}

func applyLint(l lint, ai, v, part string, ys *yearSource) *Error {
	switch l {
	case lintCsum:
		return checkKey(ai, v, part)
	case lintGCP:
		if len(part) < 4 || !allDigits(part[:4]) {
			return newErr(ai, v, RuleCompanyPrefix, "must start with a GS1 Company Prefix (at least 4 digits)")
		}
	case lintYYMMD0, lintYYMMDD:
		if d := checkYYMMDD(part, l == lintYYMMD0, ys.get()); d != "" {
			return newErr(ai, v, RuleDate, d)
		}
	case lintHHMI:
		if h := two(part[0:2]); h > 23 {
			return newErr(ai, v, RuleDate, "hour "+part[0:2]+" does not exist")
		}
		if m := two(part[2:4]); m > 59 {
			return newErr(ai, v, RuleDate, "minute "+part[2:4]+" does not exist")
		}
	case lintHH:
		if two(part) > 23 {
			return newErr(ai, v, RuleDate, "hour "+part+" does not exist")
		}
	case lintMI:
		if two(part) > 59 {
			return newErr(ai, v, RuleDate, "minute "+part+" does not exist")
		}
	case lintSS:
		if two(part) > 59 {
			return newErr(ai, v, RuleDate, "second "+part+" does not exist")
		}
	case lintZero:
		if part != "0" {
			return newErr(ai, v, RuleValue, "first digit must be 0, got "+part)
		}
	case lintPieceOfTotal:
		h := len(part) / 2
		piece, _ := strconv.Atoi(part[:h])
		total, _ := strconv.Atoi(part[h:])
		switch {
		case piece == 0:
			return newErr(ai, v, RuleValue, "piece number "+part[:h]+" must not be zero")
		case total == 0:
			return newErr(ai, v, RuleValue, "total count "+part[h:]+" must not be zero")
		case piece > total:
			return newErr(ai, v, RuleValue, "piece "+part[:h]+" exceeds the total "+part[h:])
		}
	case lintImporterIdx:
		c := part[0]
		if !(isDigit(c) || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return newErr(ai, v, RuleValue, charDetail(part, 0, "is not an importer index (0-9 A-Z a-z - _)"))
		}
	}
	return nil
}

// Validate checks every element's value (length, character set, check
// digits, dates), duplicates, and the mandatory associations and invalid
// pairings of GenSpec 4.14 / the GS1 Barcode Syntax Dictionary. It returns
// the first problem found as a *Error, or nil.
//
// The same AI twice with the same value is tolerated (GenSpec 4.14 treats
// it as redundant, not contradictory, and GS1's syntax engine accepts it);
// with different values it is RuleDuplicate.
func (es ElementString) Validate() error {
	if err := es.validate(); err != nil {
		return err
	}
	return nil
}

func (es ElementString) validate() *Error {
	if len(es) == 0 {
		return newErr("", "", RuleSyntax, "no element strings")
	}
	var ys yearSource
	for i, el := range es {
		e := lookup(el.AI)
		if e == nil {
			return unknownAI(el.AI, el.Value)
		}
		if err := e.checkValue(el.Value, &ys); err != nil {
			return err
		}
		for _, prev := range es[:i] {
			if prev.AI == el.AI && prev.Value != el.Value {
				return newErr(el.AI, el.Value, RuleDuplicate,
					"appears twice with different values "+strconv.Quote(prev.Value)+" and "+strconv.Quote(el.Value))
			}
		}
	}
	for _, el := range es {
		e := lookup(el.AI)
		for _, other := range e.def.Excludes {
			if es.has(other) {
				return newErr(el.AI, el.Value, RuleExclusion, "must not appear together with AI ("+other+")")
			}
		}
		for _, group := range e.def.Requires {
			if !es.satisfies(group) {
				return newErr(el.AI, el.Value, RulePairing, "must appear together with "+describeGroup(group))
			}
		}
	}
	return nil
}

func (es ElementString) has(ai string) bool {
	for _, el := range es {
		if el.AI == ai {
			return true
		}
	}
	return false
}

func (es ElementString) satisfies(group []string) bool {
	for _, alt := range group {
		ok := true
		for rest := alt; rest != "" && ok; {
			var ai string
			ai, rest, _ = strings.Cut(rest, "+")
			ok = es.has(ai)
		}
		if ok {
			return true
		}
	}
	return false
}

// describeGroup renders {"01","02","03+21"} as "AI (01), (02) or (03)+(21)".
func describeGroup(group []string) string {
	var b strings.Builder
	b.WriteString("AI ")
	for i, alt := range group {
		switch {
		case i == 0:
		case i == len(group)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString("(" + strings.ReplaceAll(alt, "+", ")+(") + ")")
	}
	return b.String()
}

func unknownAI(ai, value string) *Error {
	return newErr(ai, value, RuleUnknownAI, "not a GS1 Application Identifier this system knows")
}
