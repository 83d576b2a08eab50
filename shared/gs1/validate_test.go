package gs1_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

const gtin = "(01)09506000134352"

// Every rejection names the AI and the rule, whichever form the input had.
func TestRejections(t *testing.T) {
	cases := []struct {
		name, in string
		ai       string
		rule     gs1.Rule
	}{
		// check digits
		{"GTIN check digit", "(01)09506000134353", "01", gs1.RuleCheckDigit},
		{"SSCC check digit", "(00)106141411234567898", "00", gs1.RuleCheckDigit},
		{"GLN check digit", "(414)0614141123453", "414", gs1.RuleCheckDigit},
		{"ITIP check digit", "(8006)095060001343530102", "8006", gs1.RuleCheckDigit},
		{"GTIN check digit, transmitted", "0109506000134353", "01", gs1.RuleCheckDigit},
		{"GTIN check digit, Digital Link", "https://id.gs1.org/01/09506000134353", "01", gs1.RuleCheckDigit},
		// dates
		{"29 Feb 2025", gtin + "(17)250229", "17", gs1.RuleDate},
		{"31 Feb", gtin + "(17)250231", "17", gs1.RuleDate},
		{"month 13", gtin + "(17)251301", "17", gs1.RuleDate},
		{"month 00", gtin + "(11)250001", "11", gs1.RuleDate},
		{"production date day 32", gtin + "(11)250132", "11", gs1.RuleDate},
		{"expiry time hour 24", gtin + "(7003)2512312400", "7003", gs1.RuleDate},
		{"expiry time DD=00 not allowed", gtin + "(7003)2512000000", "7003", gs1.RuleDate},
		{"date in Digital Link query", "https://id.gs1.org/01/09506000134352?17=250229", "17", gs1.RuleDate},
		// character sets
		{"space in lot", gtin + "(10)AB 1", "10", gs1.RuleCharset},
		{"hash in serial", gtin + "(21)A#1", "21", gs1.RuleCharset},
		{"non-ASCII in NDC", gtin + "(715)ñ", "715", gs1.RuleCharset},
		{"GS inside bracketed lot", gtin + "(10)A" + gsc + "B", "10", gs1.RuleCharset},
		{"decoded space in Digital Link", "https://id.gs1.org/01/09506000134352/21/A%20B", "21", gs1.RuleCharset},
		{"letter in GTIN", "(01)0950600013435A", "01", gs1.RuleNumeric},
		{"letter in expiry", gtin + "(17)2512A1", "17", gs1.RuleNumeric},
		{"letter in count", "(00)106141411234567897(02)09506000134352(37)1O", "37", gs1.RuleNumeric},
		// lengths
		{"lot of 21", gtin + "(10)" + strings.Repeat("L", 21), "10", gs1.RuleLength},
		{"serial of 21", gtin + "(21)" + strings.Repeat("9", 21), "21", gs1.RuleLength},
		{"TPX of 29", gtin + "(235)" + strings.Repeat("T", 29), "235", gs1.RuleLength},
		{"GTIN of 13 in bracketed", "(01)0950600013435", "01", gs1.RuleLength},
		{"empty lot", gtin + "(10)", "10", gs1.RuleLength},
		{"short GTIN transmitted", "01095060001343", "01", gs1.RuleLength},
		{"GS inside a predefined field", "0109506" + gsc + "00134352", "01", gs1.RuleLength},
		{"serial of 21 transmitted", "0109506000134352" + "21" + strings.Repeat("S", 21), "21", gs1.RuleLength},
		{"empty value in Digital Link path", "https://id.gs1.org/01/09506000134352/10//21/S", "10", gs1.RuleLength},
		{"ITIP too short", "(8006)09506000134352010", "8006", gs1.RuleLength},
		// mandatory associations (GenSpec 4.14.2)
		{"lot without GTIN", "(10)ABC", "10", gs1.RulePairing},
		{"expiry without GTIN", "(17)251231", "17", gs1.RulePairing},
		{"serial without GTIN", "(21)S1", "21", gs1.RulePairing},
		{"serial with SSCC only", "(00)106141411234567897(21)S1", "21", gs1.RulePairing},
		{"NDC without GTIN", "(715)1234567890", "715", gs1.RulePairing},
		{"PZN without GTIN", "(710)12345678", "710", gs1.RulePairing},
		{"content without count", "(00)106141411234567897(02)09506000134352", "02", gs1.RulePairing},
		{"count without SSCC", "(02)09506000134352(37)10", "37", gs1.RulePairing},
		{"secondary serial without serial", gtin + "(250)X", "250", gs1.RulePairing},
		{"active potency without lot", gtin + "(7004)50", "7004", gs1.RulePairing},
		{"GLN extension without GLN", "(254)X", "254", gs1.RulePairing},
		{"serial without GTIN, transmitted", "21S1", "21", gs1.RulePairing},
		// invalid pairings
		{"serial with TPX", gtin + "(21)S1(235)T1", "21", gs1.RuleExclusion},
		{"TPX with serial", gtin + "(235)T1(21)S1", "235", gs1.RuleExclusion},
		{"GTIN with content", "(01)09506000134352(02)09506000134352(37)1", "01", gs1.RuleExclusion},
		{"two net weights", gtin + "(3102)001950(3103)000195", "3102", gs1.RuleExclusion},
		{"ITIP with GTIN", "(8006)095060001343520102(01)09506000134352", "8006", gs1.RuleExclusion},
		// duplicates
		{"two lots", gtin + "(10)A(10)B", "10", gs1.RuleDuplicate},
		{"two expiries transmitted", "01095060001343521725123117260101", "17", gs1.RuleDuplicate},
		{"path and query disagree", "https://id.gs1.org/01/09506000134352/10/A?10=B", "10", gs1.RuleDuplicate},
		// unknown AIs
		{"unassigned prefix, bracketed", gtin + "(05)X", "05", gs1.RuleUnknownAI},
		{"unassigned 3-digit AI", gtin + "(239)X", "239", gs1.RuleUnknownAI},
		{"AI with unimplemented rules", gtin + "(422)528", "422", gs1.RuleUnknownAI},
		{"unassigned prefix, transmitted", "0109506000134352" + "05X", "05", gs1.RuleUnknownAI},
		{"unknown 4-digit AI, transmitted", "0109506000134352" + "7299X", "7299", gs1.RuleUnknownAI},
		{"unknown AI in Digital Link query", "https://id.gs1.org/01/09506000134352?999=faux", "999", gs1.RuleUnknownAI},
		// other value rules
		{"piece 00 of ITIP", "(8006)095060001343520002", "8006", gs1.RuleValue},
		{"piece beyond total", "(8006)095060001343520302", "8006", gs1.RuleValue},
		{"GRAI first digit not 0", "(8003)106141411234562", "8003", gs1.RuleValue},
		{"GIAI without company prefix", "(8004)ABC123", "8004", gs1.RuleCompanyPrefix},
		// syntax
		{"Digital Link qualifiers out of order", "https://id.gs1.org/01/09506000134352/21/S/10/L", "10", gs1.RuleSyntax},
		{"Digital Link qualifier of another key", "https://id.gs1.org/01/09506000134352/254/X", "254", gs1.RuleSyntax},
		{"Digital Link mixing qualifier sequences", "https://id.gs1.org/01/09506000134352/10/L/235/T", "235", gs1.RuleSyntax},
		{"serial in Digital Link query", "https://id.gs1.org/01/09506000134352?21=S1", "21", gs1.RuleSyntax},
		{"bad percent-encoding", "https://id.gs1.org/01/09506000134352/10/A%2G", "10", gs1.RuleSyntax},
		{"bracketed AI not digits", "(0A)X", "0A", gs1.RuleSyntax},
		{"GS at the end", "010950600013435210ABC" + gsc, "10", gs1.RuleSyntax},
		{"GS at the end after fixed field", "0109506000134352" + gsc, "01", gs1.RuleSyntax},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gs1.Parse(tc.in)
			ge := requireRule(t, err, tc.ai, tc.rule)
			require.NotEmpty(t, ge.Detail)
			require.True(t, strings.HasPrefix(err.Error(), "AI ("+tc.ai+")"), err.Error())
		})
	}
}

// Syntax errors that concern no AI in particular.
func TestSyntaxErrors(t *testing.T) {
	cases := []struct {
		name  string
		parse func(string) (gs1.ElementString, error)
		in    string
	}{
		{"empty bracketed", gs1.ParseBracketed, ""},
		{"no bracket", gs1.ParseBracketed, "0109506000134352"},
		{"unclosed bracket", gs1.ParseBracketed, "(01"},
		{"empty transmitted", gs1.ParseTransmitted, ""},
		{"only a symbology identifier", gs1.ParseTransmitted, "]d2"},
		{"non-GS1 symbology identifier", gs1.ParseTransmitted, "]d10109506000134352"},
		{"truncated symbology identifier", gs1.ParseTransmitted, "]d"},
		{"AI cut short", gs1.ParseTransmitted, "01095060001343521"},
		{"two GS", gs1.ParseTransmitted, "010950600013435210ABC" + gsc + gsc + "21X"},
		{"letters where an AI belongs", gs1.ParseTransmitted, "AB1234"},
		{"Digital Link without scheme", gs1.ParseDigitalLink, "id.gs1.org/01/09506000134352"},
		{"Digital Link without path", gs1.ParseDigitalLink, "https://id.gs1.org"},
		{"Digital Link without key", gs1.ParseDigitalLink, "https://id.gs1.org/10/ABC"},
		{"Digital Link trailing slash", gs1.ParseDigitalLink, "https://id.gs1.org/01/09506000134352/"},
		{"Digital Link with a space", gs1.ParseDigitalLink, "https://id.gs1.org/01/0950600013 4352"},
		{"Digital Link empty host", gs1.ParseDigitalLink, "https:///01/09506000134352"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.parse(tc.in)
			requireRule(t, err, "", gs1.RuleSyntax)
		})
	}
}

func TestValidateByHand(t *testing.T) {
	require.NoError(t, genSpecExample.Validate())
	requireRule(t, gs1.ElementString(nil).Validate(), "", gs1.RuleSyntax)
	requireRule(t, es("01", "09506000134352", "98x", "X").Validate(), "98x", gs1.RuleUnknownAI)
	requireRule(t, es("01", "09506000134352", "21", "").Validate(), "21", gs1.RuleLength)
}

func TestErrorMessages(t *testing.T) {
	cases := []struct{ in, want string }{
		{gtin + "(17)250231", `AI (17) "250231": date: day 31 does not exist in February 2025`},
		{"(01)09506000134353", `AI (01) "09506000134353": check digit: check digit 3 is wrong, expected 2`},
		{"(21)S1", `AI (21) "S1": required pairing: must appear together with AI (01), (03) or (8006)`},
		{gtin + "(21)S1(235)T", `AI (21) "S1": invalid pairing: must not appear together with AI (235)`},
		{gtin + "(10)A B", `AI (10) "A B": CSET 82: space at position 2 is not in CSET 82`},
		{gtin + "(10)" + strings.Repeat("L", 21), `AI (10) "` + strings.Repeat("L", 21) + `": length: must be at most 20 characters, got 21`},
		{gtin + "(05)X", `AI (05) "X": unknown AI: not a GS1 Application Identifier this system knows`},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			_, err := gs1.Parse(tc.in)
			require.EqualError(t, err, tc.want)
		})
	}
}
