package gs1_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

func TestCheckDigit(t *testing.T) {
	// Examples from the GS1 General Specifications (7.9) and the EPC Tag Data
	// Standard, plus the GS1 Digital Link examples' GTINs.
	cases := []struct {
		name, payload string
		want          byte
	}{
		{"GenSpec 7.9 GTIN-13 629104150021?", "629104150021", '3'},
		{"GTIN-14 0950600013435?", "0950600013435", '2'},
		{"GTIN-14 8061414112345?", "8061414112345", '8'},
		{"GTIN-14 0952012345678?", "0952012345678", '8'},
		{"GLN 061414112345?", "061414112345", '2'},
		{"SSCC 1 0614141 123456789 ?", "10614141123456789", '7'},
		{"SSCC 1 0614141 234567890 ?", "10614141234567890", '8'},
		{"GTIN-8 0234567?", "0234567", '3'},
		{"all zeros", "0000000000000", '0'},
		{"single digit", "1", '7'},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gs1.CheckDigit(tc.payload)
			require.NoError(t, err)
			require.Equal(t, string(tc.want), string(got))
			require.True(t, gs1.ValidCheckDigit(tc.payload+string(tc.want)))
			for d := byte('0'); d <= '9'; d++ {
				if d != tc.want {
					require.False(t, gs1.ValidCheckDigit(tc.payload+string(d)), "digit %c", d)
				}
			}
		})
	}
}

func TestCheckDigitRejects(t *testing.T) {
	cases := []struct {
		name, in string
		rule     gs1.Rule
	}{
		{"empty", "", gs1.RuleLength},
		{"letter", "12A4", gs1.RuleNumeric},
		{"space", "12 4", gs1.RuleNumeric},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gs1.CheckDigit(tc.in)
			requireRule(t, err, "", tc.rule)
		})
	}
	for _, bad := range []string{"", "7", "0950600013435A", "09506000134353"} {
		require.False(t, gs1.ValidCheckDigit(bad), bad)
	}
}
