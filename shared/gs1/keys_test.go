package gs1_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

func TestParseGTIN(t *testing.T) {
	cases := []struct{ in, want string }{
		{"09506000134352", "09506000134352"},
		{"9506000134352", "09506000134352"},  // GTIN-13
		{"6291041500213", "06291041500213"},  // GenSpec check digit example
		{"416000336108", "00416000336108"},   // GTIN-12 (UPC-A)
		{"02345673", "00000002345673"},       // GTIN-8
		{"80614141123458", "80614141123458"}, // TDS example, indicator 8
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			g, err := gs1.ParseGTIN(tc.in)
			require.NoError(t, err)
			require.Equal(t, gs1.GTIN(tc.want), g)
			require.Len(t, g.String(), 14)
			require.Equal(t, tc.want[0], g.Indicator())
		})
	}
}

func TestParseKeysReject(t *testing.T) {
	cases := []struct {
		name  string
		parse func(string) error
		in    string
		ai    string
		rule  gs1.Rule
	}{
		{"GTIN 11 digits", parseGTIN, "95060001343", "01", gs1.RuleLength},
		{"GTIN 15 digits", parseGTIN, "095060001343520", "01", gs1.RuleLength},
		{"GTIN letter", parseGTIN, "0950600013435X", "01", gs1.RuleNumeric},
		{"GTIN check digit", parseGTIN, "09506000134353", "01", gs1.RuleCheckDigit},
		{"GTIN-13 check digit", parseGTIN, "6291041500214", "01", gs1.RuleCheckDigit},
		{"SSCC 17 digits", parseSSCC, "10614141123456789", "00", gs1.RuleLength},
		{"SSCC check digit", parseSSCC, "106141411234567898", "00", gs1.RuleCheckDigit},
		{"SSCC letter", parseSSCC, "10614141123456789A", "00", gs1.RuleNumeric},
		{"GLN 12 digits", parseGLN, "061414112345", "414", gs1.RuleLength},
		{"GLN check digit", parseGLN, "0614141123453", "414", gs1.RuleCheckDigit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireRule(t, tc.parse(tc.in), tc.ai, tc.rule)
		})
	}
}

func parseGTIN(s string) error { _, err := gs1.ParseGTIN(s); return err }
func parseSSCC(s string) error { _, err := gs1.ParseSSCC(s); return err }
func parseGLN(s string) error  { _, err := gs1.ParseGLN(s); return err }

func TestParseSSCCAndGLN(t *testing.T) {
	s, err := gs1.ParseSSCC("106141411234567897")
	require.NoError(t, err)
	require.Equal(t, "106141411234567897", s.String())
	g, err := gs1.ParseGLN("0614141123452")
	require.NoError(t, err)
	require.Equal(t, "0614141123452", g.String())
}

func TestNewSSCC(t *testing.T) {
	cases := []struct {
		name string
		ext  int
		cp   string
		ref  uint64
		want string
	}{
		// GenSpec figure 3.2-? / TDS: extension 1, prefix 0614141, serial reference 123456789.
		{"GenSpec example", 1, "0614141", 123456789, "106141411234567897"},
		{"extension 3", 3, "0614141", 123456789, "306141411234567891"},
		{"TDS SSCC example", 1, "0614141", 234567890, "106141412345678908"},
		{"padded serial reference", 0, "0614141", 42, "006141410000000425"},
		{"12-digit prefix", 9, "061414112345", 6789, "906141411234567893"},
		{"4-digit prefix", 0, "0614", 1, "006140000000000016"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := gs1.NewSSCC(tc.ext, tc.cp, tc.ref)
			require.NoError(t, err)
			require.Len(t, string(s), 18)
			require.True(t, gs1.ValidCheckDigit(string(s)))
			require.Equal(t, gs1.SSCC(tc.want), s)
		})
	}
}

func TestNewSSCCRejects(t *testing.T) {
	cases := []struct {
		name string
		ext  int
		cp   string
		ref  uint64
		rule gs1.Rule
	}{
		{"extension 10", 10, "0614141", 1, gs1.RuleValue},
		{"negative extension", -1, "0614141", 1, gs1.RuleValue},
		{"3-digit prefix", 0, "061", 1, gs1.RuleCompanyPrefix},
		{"13-digit prefix", 0, "0614141123456", 1, gs1.RuleCompanyPrefix},
		{"prefix not digits", 0, "06141A1", 1, gs1.RuleNumeric},
		{"serial reference too long", 0, "061414112345", 12345, gs1.RuleLength},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gs1.NewSSCC(tc.ext, tc.cp, tc.ref)
			requireRule(t, err, "00", tc.rule)
		})
	}
}
