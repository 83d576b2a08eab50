package serials_test

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/serials"
)

func TestGuessProbability(t *testing.T) {
	tests := []struct {
		used, space uint64
		want        float64
	}{
		{0, 1000, 0},
		{1, 10_000, 1.0 / 10_000},
		{576_000, 1_000_000_000_000, 5.76e-7},
		{999, 1000, 0.999},
		{1000, 1000, 1},
		{2000, 1000, 1},
		{5, 0, 1},
		{1, math.MaxUint64, 1 / float64(math.MaxUint64)},
	}
	for _, tc := range tests {
		got := serials.GuessProbability(tc.used, tc.space)
		if tc.want == 0 {
			require.Zero(t, got)
			continue
		}
		require.InEpsilon(t, tc.want, got, 1e-12, "%d of %d", tc.used, tc.space)
	}
}

func TestCheckFMD(t *testing.T) {
	rnd := func(length int, alphabet string, sgtin96 bool) serials.Spec {
		return serials.Spec{Kind: serials.KindRandomized, Length: length, Alphabet: alphabet, SGTIN96: sgtin96, Key: testKey}
	}
	tests := []struct {
		name    string
		spec    serials.Spec
		planned uint64
		refuse  []string // parts of the refusal; nil: accepted
	}{
		{"sequential", serials.Spec{Kind: serials.KindSequential, Length: 20, Start: 1}, 10,
			[]string{"kind:", "sequential serials are guessable", "art. 4(b)", "use kind \"randomized\""}},
		{"numeric 12, just below", rnd(12, "", false), 99_999_999, nil},
		{"numeric 12, exactly 1/10,000", rnd(12, "", false), 100_000_000,
			[]string{"length:", "guess probability of 0.0001, not below 1/10,000", "art. 4(c)", "a length of 13 or more would do"}},
		{"numeric 6, a million", rnd(6, "numeric", false), 1_000_000,
			[]string{"1000000 serials out of 1e+06 possible numeric serials of 6 characters", "a length of 11 or more"}},
		{"numeric 20, everything", rnd(20, "", false), math.MaxUint64,
			[]string{"no length up to 20 is enough with this alphabet"}},
		{"alphanumeric 20, everything", rnd(20, "alphanumeric", false), math.MaxUint64, nil},
		{"alphanumeric 10", rnd(10, "alphanumeric", false), 365_615_844_006, nil},
		{"alphanumeric 10, one more", rnd(10, "alphanumeric", false), 365_615_844_007,
			[]string{"possible alphanumeric serials of 10 characters", "a length of 11 or more"}},
		{"sgtin96 12, largest volume", rnd(12, "", true), 17_487_790, nil},
		{"sgtin96 12, one more", rnd(12, "", true), 17_487_791,
			[]string{"SGTIN-96-safe numeric serials", "drop sgtin96"}},
		{"sgtin96 9", rnd(9, "", true), 1_000_000,
			[]string{"a length of 11 or more"}},
		{"custom 16", rnd(16, "ACDEFHJKLMNPRTWXY34679", false), 1_000_000_000, nil},
		{"list, variable length", serials.Spec{Kind: serials.KindList}, math.MaxUint64, nil},
		{"list, 8 alphanumeric", serials.Spec{Kind: serials.KindList, Length: 8, Alphabet: "alphanumeric"}, 1_000_000, nil},
		{"list, 6 numeric", serials.Spec{Kind: serials.KindList, Length: 6, Alphabet: "numeric"}, 1000,
			[]string{"possible numeric serials of 6 characters"}},
		{"list, 4 any CSET 82", serials.Spec{Kind: serials.KindList, Length: 4}, 10_000,
			[]string{"possible CSET 82 serials of 4 characters", "a length of 5 or more"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := serials.CheckFMD(tc.spec, tc.planned)
			if tc.refuse == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, serials.ErrNotFMD)
			for _, part := range tc.refuse {
				require.Contains(t, err.Error(), part)
			}
			require.Contains(t, err.Error(), "EU FMD")
			require.NotContains(t, err.Error(), testKey)
		})
	}
}

func TestCheckFMDBadInput(t *testing.T) {
	var se *serials.SpecError
	err := serials.CheckFMD(serials.Spec{Kind: serials.KindRandomized, Length: 12}, 1000)
	require.ErrorAs(t, err, &se)
	require.Equal(t, "key", se.Field)
	require.False(t, errors.Is(err, serials.ErrNotFMD))

	err = serials.CheckFMD(serials.Spec{Kind: serials.KindRandomized, Length: 12, Key: testKey}, 0)
	require.ErrorContains(t, err, "planned volume: must be at least 1")
}
