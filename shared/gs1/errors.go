package gs1

import "strconv"

// Rule names one rule of the GS1 General Specifications (or of the EPC Tag
// Data Standard / GS1 Digital Link standard) that input broke.
type Rule string

// The rules a rejection can name. Callers match on them with errors.As and
// (*Error).Rule; the values are short human-readable words used in messages.
const (
	RuleCheckDigit    Rule = "check digit"      // mod-10 check digit of a GS1 key is wrong
	RuleDate          Rule = "date"             // YYMMDD (or time HHMM/SS) that does not exist
	RuleCharset       Rule = "CSET 82"          // character outside GS1 AI encodable character set 82
	RuleLength        Rule = "length"           // too short, too long or not the fixed length
	RuleNumeric       Rule = "numeric"          // non-digit in a numeric field
	RulePairing       Rule = "required pairing" // an AI lacks the AI(s) it must appear with
	RuleExclusion     Rule = "invalid pairing"  // two AIs that must not appear together
	RuleDuplicate     Rule = "duplicate AI"     // the same AI twice with different values
	RuleUnknownAI     Rule = "unknown AI"       // an AI this package does not know
	RuleSyntax        Rule = "syntax"           // malformed element string, URI or EPC URI
	RuleValue         Rule = "value"            // a component value the AI's format forbids (e.g. piece 0 of total)
	RuleCompanyPrefix Rule = "company prefix"   // a key that does not start with (or cannot hold) a GS1 Company Prefix
	RuleSGTIN96       Rule = "SGTIN-96"         // serial that cannot be encoded in an SGTIN-96 tag
)

// Error is a rejection naming the AI and the rule it broke. Every error this
// package returns for bad input is an *Error, so callers can use errors.As.
//
// Error() reads e.g. `AI (17) "250231": date: day 31 does not exist in February 2025`.
type Error struct {
	AI     string // the application identifier concerned, "" when none applies (e.g. an empty string)
	Value  string // the offending value as given (possibly truncated input), may be ""
	Rule   Rule
	Detail string // what exactly is wrong, in plain words
}

func (e *Error) Error() string {
	b := make([]byte, 0, 32+len(e.AI)+len(e.Value)+len(e.Detail))
	if e.AI != "" {
		b = append(b, "AI ("...)
		b = append(b, e.AI...)
		b = append(b, ')')
		if e.Value != "" {
			b = append(b, ' ')
			b = strconv.AppendQuote(b, e.Value)
		}
	} else {
		b = append(b, "gs1"...)
		if e.Value != "" {
			b = append(b, ' ')
			b = strconv.AppendQuote(b, e.Value)
		}
	}
	b = append(b, ": "...)
	b = append(b, e.Rule...)
	if e.Detail != "" {
		b = append(b, ": "...)
		b = append(b, e.Detail...)
	}
	return string(b)
}

func newErr(ai, value string, rule Rule, detail string) *Error {
	return &Error{AI: ai, Value: value, Rule: rule, Detail: detail}
}
