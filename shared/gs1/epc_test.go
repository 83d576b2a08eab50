package gs1_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

// Examples of the EPC Tag Data Standard (sections 6.3.1, 6.3.2, 6.3.3).
func TestSGTINURI(t *testing.T) {
	cases := []struct {
		name   string
		gtin   gs1.GTIN
		serial string
		gcp    int
		want   string
	}{
		{"TDS example", "80614141123458", "6789", 7, "urn:epc:id:sgtin:0614141.812345.6789"},
		{"GTIN-13 input padded", "9506000134352", "1", 7, "urn:epc:id:sgtin:9506000.013435.1"},
		{"6-digit prefix", "80614141123458", "6789", 6, "urn:epc:id:sgtin:061414.8112345.6789"},
		{"12-digit prefix", "80614141123458", "6789", 12, "urn:epc:id:sgtin:061414112345.8.6789"},
		{"escaped serial", "80614141123458", `A"%&/<>?Z`, 7, "urn:epc:id:sgtin:0614141.812345.A%22%25%26%2F%3C%3E%3FZ"},
		{"unescaped punctuation", "80614141123458", "a!'()*+,-.:;=_", 7, "urn:epc:id:sgtin:0614141.812345.a!'()*+,-.:;=_"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uri, err := gs1.SGTINURI(tc.gtin, tc.serial, tc.gcp)
			require.NoError(t, err)
			require.Equal(t, tc.want, uri)
			g, serial, err := gs1.ParseSGTINURI(uri)
			require.NoError(t, err)
			want, err := gs1.ParseGTIN(string(tc.gtin))
			require.NoError(t, err)
			require.Equal(t, want, g)
			require.Equal(t, tc.serial, serial)
		})
	}
}

func TestSGTINURIRejects(t *testing.T) {
	cases := []struct {
		name   string
		gtin   gs1.GTIN
		serial string
		gcp    int
		ai     string
		rule   gs1.Rule
	}{
		{"bad GTIN", "80614141123459", "1", 7, "01", gs1.RuleCheckDigit},
		{"prefix too short", "80614141123458", "1", 5, "01", gs1.RuleCompanyPrefix},
		{"prefix too long", "80614141123458", "1", 13, "01", gs1.RuleCompanyPrefix},
		{"empty serial", "80614141123458", "", 7, "21", gs1.RuleLength},
		{"serial of 21", "80614141123458", "123456789012345678901", 7, "21", gs1.RuleLength},
		{"serial with space", "80614141123458", "A B", 7, "21", gs1.RuleCharset},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gs1.SGTINURI(tc.gtin, tc.serial, tc.gcp)
			requireRule(t, err, tc.ai, tc.rule)
		})
	}
}

func TestParseSGTINURIRejects(t *testing.T) {
	cases := []struct {
		name, in, ai string
		rule         gs1.Rule
	}{
		{"other scheme", "urn:epc:id:sscc:0614141.1234567890", "01", gs1.RuleSyntax},
		{"tag URI", "urn:epc:tag:sgtin-96:3.0614141.812345.6789", "01", gs1.RuleSyntax},
		{"missing serial", "urn:epc:id:sgtin:0614141.812345", "01", gs1.RuleSyntax},
		{"13 digits short", "urn:epc:id:sgtin:0614141.81234.6789", "01", gs1.RuleLength},
		{"prefix of 5", "urn:epc:id:sgtin:06141.41812345.6789", "01", gs1.RuleCompanyPrefix},
		{"letters in prefix", "urn:epc:id:sgtin:06141A1.812345.6789", "01", gs1.RuleNumeric},
		{"bare slash in serial", "urn:epc:id:sgtin:0614141.812345.A/B", "21", gs1.RuleSyntax},
		{"escape of an unreserved character", "urn:epc:id:sgtin:0614141.812345.%41", "21", gs1.RuleSyntax},
		{"truncated escape", "urn:epc:id:sgtin:0614141.812345.A%2", "21", gs1.RuleSyntax},
		{"space in serial", "urn:epc:id:sgtin:0614141.812345.A B", "21", gs1.RuleCharset},
		{"empty serial", "urn:epc:id:sgtin:0614141.812345.", "21", gs1.RuleLength},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := gs1.ParseSGTINURI(tc.in)
			requireRule(t, err, tc.ai, tc.rule)
		})
	}
}

func TestSSCCURI(t *testing.T) {
	uri, err := gs1.SSCCURI("106141412345678908", 7)
	require.NoError(t, err)
	require.Equal(t, "urn:epc:id:sscc:0614141.1234567890", uri)
	s, err := gs1.ParseSSCCURI(uri)
	require.NoError(t, err)
	require.Equal(t, gs1.SSCC("106141412345678908"), s)

	uri, err = gs1.SSCCURI("106141411234567897", 12)
	require.NoError(t, err)
	require.Equal(t, "urn:epc:id:sscc:061414112345.16789", uri)

	_, err = gs1.SSCCURI("106141412345678909", 7)
	requireRule(t, err, "00", gs1.RuleCheckDigit)
	_, err = gs1.ParseSSCCURI("urn:epc:id:sscc:0614141.123456789")
	requireRule(t, err, "00", gs1.RuleLength)
	_, err = gs1.ParseSSCCURI("urn:epc:id:sscc:0614141.1234567890.1")
	requireRule(t, err, "00", gs1.RuleSyntax)
}

func TestSGLNURI(t *testing.T) {
	cases := []struct {
		name string
		gln  gs1.GLN
		ext  string
		gcp  int
		want string
	}{
		{"TDS example", "0614141123452", "400", 7, "urn:epc:id:sgln:0614141.12345.400"},
		{"no extension", "0614141123452", "", 7, "urn:epc:id:sgln:0614141.12345.0"},
		{"12-digit prefix, empty location reference", "0614141123452", "", 12, "urn:epc:id:sgln:061414112345..0"},
		{"escaped extension", "0614141123452", "A/1", 7, "urn:epc:id:sgln:0614141.12345.A%2F1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uri, err := gs1.SGLNURI(tc.gln, tc.ext, tc.gcp)
			require.NoError(t, err)
			require.Equal(t, tc.want, uri)
			g, ext, err := gs1.ParseSGLNURI(uri)
			require.NoError(t, err)
			require.Equal(t, tc.gln, g)
			require.Equal(t, tc.ext, ext)
		})
	}
	_, err := gs1.SGLNURI("0614141123453", "", 7)
	requireRule(t, err, "414", gs1.RuleCheckDigit)
	_, err = gs1.SGLNURI("0614141123452", "A B", 7)
	requireRule(t, err, "254", gs1.RuleCharset)
	_, _, err = gs1.ParseSGLNURI("urn:epc:id:sgln:0614141.1234.0")
	requireRule(t, err, "414", gs1.RuleLength)
}

func TestSGTIN96Eligible(t *testing.T) {
	cases := []struct {
		serial string
		rule   gs1.Rule // "" means eligible
	}{
		{"0", ""},
		{"1", ""},
		{"6789", ""},
		{"274877906943", ""},
		{"274877906944", gs1.RuleSGTIN96},
		{"999999999999999999999", gs1.RuleSGTIN96},
		{"0123", gs1.RuleSGTIN96},
		{"00", gs1.RuleSGTIN96},
		{"12A", gs1.RuleNumeric},
		{"", gs1.RuleLength},
	}
	for _, tc := range cases {
		t.Run(tc.serial, func(t *testing.T) {
			err := gs1.SGTIN96Eligible(tc.serial)
			if tc.rule == "" {
				require.NoError(t, err)
				return
			}
			requireRule(t, err, "21", tc.rule)
		})
	}
}
