package gs1

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// GenSpec 7.12: YY is in the previous century when it is 51 to 99 years
// ahead of the current year, in the next when it is 50 to 99 behind.
func TestFullYearSlidingWindow(t *testing.T) {
	cases := []struct{ yy, now, want int }{
		{26, 2026, 2026},
		{76, 2026, 2076}, // 50 ahead: still this century
		{77, 2026, 1977}, // 51 ahead: previous century
		{99, 2026, 1999},
		{0, 2026, 2000},
		{30, 2080, 2130}, // 50 behind: next century
		{31, 2080, 2031}, // 49 behind: this century
		{0, 2050, 2100},
		{0, 2049, 2000},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, fullYear(tc.yy, tc.now), "yy=%02d now=%d", tc.yy, tc.now)
	}
}

func TestCenturyDecidesLeapDay(t *testing.T) {
	// 000229: 29 February 2000 exists (divisible by 400), in 2100 it does not.
	require.Nil(t, validateDate("17", "000229", true, 2026))
	err := validateDate("17", "000229", true, 2050)
	require.NotNil(t, err)
	require.Equal(t, RuleDate, err.Rule)
	require.Contains(t, err.Detail, "February 2100")

	exp, err2 := expiryTime("990200", 2026) // 1999
	require.NoError(t, err2)
	require.Equal(t, 1999, exp.Year())
	require.Equal(t, 28, exp.Day())
}
