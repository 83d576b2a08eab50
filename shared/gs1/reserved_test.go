package gs1_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

func TestCheckTradeItemGTIN(t *testing.T) {
	for _, c := range []struct {
		gtin string
		why  string // "" when the GTIN may be a trade item's
	}{
		{"00000000000000", "all-zero"},
		{"10000000000007", "all-zero"},
		{"00000000123457", "RCN-8"},
		{"00000002345673", "RCN-8"},
		{"00000096385074", ""}, // GTIN-8 96385074
		{"00212345678907", "within a company"},
		{"00412345678903", "within a company"},
		{"02012345678909", "geographic region"},
		{"02912345678900", "geographic region"},
		{"00512345678900", "coupon"},
		{"09781234567897", "ISBN"},
		{"09912345678904", "coupon"},
		{"00312345678913", ""}, // a US drug: 03 + NDC
		{"09506000134352", ""},
		{"14150123456785", ""},
	} {
		// The table's check digits are recomputed: the rule is the prefix.
		cd, err := gs1.CheckDigit(c.gtin[:13])
		require.NoError(t, err)
		err = gs1.CheckTradeItemGTIN(gs1.GTIN(c.gtin[:13] + string(cd)))
		if c.why == "" {
			require.NoError(t, err, c.gtin)
			continue
		}
		var ge *gs1.Error
		require.True(t, errors.As(err, &ge), "%s: %v", c.gtin, err)
		require.Equal(t, gs1.RuleReserved, ge.Rule)
		require.Equal(t, "01", ge.AI)
		require.Contains(t, err.Error(), c.why, c.gtin)
	}
}

func TestCheckLocationGLNAndSSCC(t *testing.T) {
	require.Error(t, gs1.CheckLocationGLN("0000000000000"))
	require.NoError(t, gs1.CheckLocationGLN("9506000000019"))
	require.ErrorContains(t, gs1.CheckSSCCSerialRef("000000000000000000", 7), "all-zero SSCC")
	require.ErrorContains(t, gs1.CheckSSCCSerialRef("006141410000000006", 7), "serial reference is all zeros")
	require.NoError(t, gs1.CheckSSCCSerialRef("006141410000000013", 7))
}
