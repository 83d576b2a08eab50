package gs1_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

func TestAITableCoversRequiredAIs(t *testing.T) {
	for _, ai := range []string{"00", "01", "02", "10", "11", "12", "13", "15", "16", "17", "20", "21", "22",
		"235", "240", "241", "250", "251", "30", "37", "400", "401", "402", "403", "410", "411", "412", "413",
		"414", "415", "416", "417", "7003", "710", "711", "712", "713", "714", "715", "8003", "8004", "8006", "8018"} {
		d, ok := gs1.LookupAI(ai)
		require.True(t, ok, "AI %s", ai)
		require.Equal(t, ai, d.AI)
		require.NotEmpty(t, d.Title, "AI %s", ai)
		require.NotEmpty(t, d.Format, "AI %s", ai)
		require.LessOrEqual(t, d.MinLen, d.MaxLen, "AI %s", ai)
	}
	_, ok := gs1.LookupAI("05")
	require.False(t, ok)
	require.Contains(t, gs1.AIs(), "3103")
}

func TestAIDefinitions(t *testing.T) {
	cases := []struct {
		ai   string
		want gs1.AIDef
	}{
		{"01", gs1.AIDef{AI: "01", Title: "GTIN", Format: "N14", Fixed: true, MinLen: 14, MaxLen: 14,
			Charset: gs1.Numeric, CheckDigit: true, Excludes: []string{"02", "03", "255", "37", "8006"},
			DLPrimaryKey: true, DLAttribute: true, Requires: [][]string{}}},
		{"17", gs1.AIDef{AI: "17", Title: "USE BY OR EXPIRY", Format: "N6", Fixed: true, MinLen: 6, MaxLen: 6,
			Charset: gs1.Numeric, Date: true, Requires: [][]string{{"01", "02", "03", "255", "8006", "8026"}},
			DLAttribute: true}},
		{"21", gs1.AIDef{AI: "21", Title: "SERIAL", Format: "X..20", MinLen: 1, MaxLen: 20, Charset: gs1.CSET82,
			Requires: [][]string{{"01", "03", "8006"}}, Excludes: []string{"235"}}},
		{"8006", gs1.AIDef{AI: "8006", Title: "ITIP", Format: "N14 N4", MinLen: 18, MaxLen: 18, Charset: gs1.Numeric,
			CheckDigit: true, Excludes: []string{"01", "255", "37", "8026"}, DLPrimaryKey: true, DLAttribute: true,
			Requires: [][]string{}}},
		{"8003", gs1.AIDef{AI: "8003", Title: "GRAI", Format: "N1 N13 [X..16]", MinLen: 14, MaxLen: 30, Charset: gs1.CSET82,
			CheckDigit: true, DLPrimaryKey: true, DLAttribute: true, Requires: [][]string{}, Excludes: []string{}}},
		{"7004", gs1.AIDef{AI: "7004", Title: "ACTIVE POTENCY", Format: "N..4", MinLen: 1, MaxLen: 4, Charset: gs1.Numeric,
			Requires: [][]string{{"01+10"}}, DLAttribute: true, Excludes: []string{}}},
		{"37", gs1.AIDef{AI: "37", Title: "COUNT", Format: "N..8", MinLen: 1, MaxLen: 8, Charset: gs1.Numeric,
			Requires: [][]string{{"00"}, {"02", "8026"}}, Excludes: []string{"01", "03", "8006"}, DLAttribute: true}},
	}
	for _, tc := range cases {
		t.Run(tc.ai, func(t *testing.T) {
			got, ok := gs1.LookupAI(tc.ai)
			require.True(t, ok)
			normalise := func(d *gs1.AIDef) {
				if len(d.Requires) == 0 {
					d.Requires = nil
				}
				if len(d.Excludes) == 0 {
					d.Excludes = nil
				}
			}
			normalise(&got)
			normalise(&tc.want)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestMeasureExclusions(t *testing.T) {
	d, ok := gs1.LookupAI("3103")
	require.True(t, ok)
	require.True(t, d.Fixed)
	require.Equal(t, []string{"3100", "3101", "3102", "3104", "3105"}, d.Excludes)
}

func TestLookupAIReturnsACopy(t *testing.T) {
	d, ok := gs1.LookupAI("21")
	require.True(t, ok)
	d.Requires[0][0] = "99"
	d.Excludes[0] = "99"
	again, _ := gs1.LookupAI("21")
	require.Equal(t, "01", again.Requires[0][0])
	require.Equal(t, "235", again.Excludes[0])
}

func TestPredefinedLengthAIs(t *testing.T) {
	// GenSpec figure 7.8.5-2: the AIs whose length is predefined by their
	// first two digits, so that they never need a separator.
	fixed := map[string]bool{"00": true, "01": true, "02": true, "03": true, "11": true, "12": true, "13": true,
		"15": true, "16": true, "17": true, "20": true, "410": true, "411": true, "412": true, "413": true,
		"414": true, "415": true, "416": true, "417": true}
	for _, ai := range gs1.AIs() {
		d, _ := gs1.LookupAI(ai)
		want := fixed[ai] || (len(ai) == 4 && ai[:2] >= "31" && ai[:2] <= "36")
		require.Equal(t, want, d.Fixed, "AI %s", ai)
		if d.Fixed {
			require.Equal(t, d.MinLen, d.MaxLen, "AI %s", ai)
		}
	}
}
