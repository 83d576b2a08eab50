package gs1_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

// These dates lie within 49 years of any year this code will run in, so
// GenSpec 7.12's century window puts them in the 2000s whatever the clock.
func TestValidateDate(t *testing.T) {
	cases := []struct {
		name, ai, v string
		day00       bool
		rule        gs1.Rule // "" means valid
	}{
		{"2025 not leap", "17", "250229", true, gs1.RuleDate},
		{"2024 leap", "17", "240229", true, ""},
		{"2028 leap", "17", "280229", true, ""},
		{"DD=00 for expiry", "17", "250200", true, ""},
		{"DD=00 where not allowed", "7006", "250200", false, gs1.RuleDate},
		{"month 13", "17", "251301", true, gs1.RuleDate},
		{"month 00", "17", "250001", true, gs1.RuleDate},
		{"February 31", "17", "250231", true, gs1.RuleDate},
		{"April 31", "11", "250431", true, gs1.RuleDate},
		{"April 30", "11", "250430", true, ""},
		{"December 31", "15", "251231", true, ""},
		{"day 32", "16", "250132", true, gs1.RuleDate},
		{"five digits", "17", "25023", true, gs1.RuleLength},
		{"seven digits", "17", "2502281", true, gs1.RuleLength},
		{"letter", "17", "25O228", true, gs1.RuleNumeric},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := gs1.ValidateDate(tc.ai, tc.v, tc.day00)
			if tc.rule == "" {
				require.NoError(t, err)
				return
			}
			requireRule(t, err, tc.ai, tc.rule)
		})
	}
}

func TestDateErrorMessage(t *testing.T) {
	err := gs1.ValidateDate("17", "250231", true)
	require.EqualError(t, err, `AI (17) "250231": date: day 31 does not exist in February 2025`)
}

func TestExpiryTime(t *testing.T) {
	cases := []struct{ in, want string }{
		{"250200", "2025-02-28"}, // DD=00: last day of the month
		{"240200", "2024-02-29"}, // ... of a leap February
		{"251200", "2025-12-31"},
		{"250415", "2025-04-15"},
		{"301130", "2030-11-30"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := gs1.ExpiryTime(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Format(time.DateOnly))
			require.Equal(t, time.UTC, got.Location())
		})
	}
	_, err := gs1.ExpiryTime("250229")
	requireRule(t, err, "17", gs1.RuleDate)
}
