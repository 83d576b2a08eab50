package serials_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
)

func TestSequentialSerial(t *testing.T) {
	tests := []struct {
		name    string
		spec    serials.Spec
		space   uint64
		counter uint64
		want    string
	}{
		{"padded", serials.Spec{Length: 8, Start: 1}, 99_999_999, 0, "00000001"},
		{"padded later", serials.Spec{Length: 8, Start: 1}, 99_999_999, 41, "00000042"},
		{"last", serials.Spec{Length: 8, Start: 1}, 99_999_999, 99_999_998, "99999999"},
		{"start zero", serials.Spec{Length: 3}, 1000, 7, "007"},
		{"full width start", serials.Spec{Length: 9, Start: 100_000_000}, 900_000_000, 5, "100000005"},
		{"length 20", serials.Spec{Length: 20, Start: 1}, math.MaxUint64 - 1, 0, "00000000000000000001"},
		{"length 20 last", serials.Spec{Length: 20, Start: 1}, math.MaxUint64 - 1, math.MaxUint64 - 2, "18446744073709551614"},
		{"sgtin96 not padded", serials.Spec{Length: 9, Start: 100_000_000, SGTIN96: true}, 900_000_000, 0, "100000000"},
		{"sgtin96 12 digits last", serials.Spec{Length: 12, Start: 274_877_906_900, SGTIN96: true}, 44, 43, "274877906943"},
		{"sgtin96 single digit zero", serials.Spec{Length: 1, SGTIN96: true}, 10, 0, "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Kind = serials.KindSequential
			s := mustNew(t, tc.spec)
			require.Equal(t, serials.KindSequential, s.Kind())
			require.Equal(t, tc.space, s.Space())
			got := serialOf(t, s, tc.counter)
			require.Equal(t, tc.want, got)
			require.Len(t, got, tc.spec.Length)
			if tc.spec.SGTIN96 {
				require.NoError(t, gs1.SGTIN96Eligible(got))
			}
		})
	}
}

func TestSerialAppendsToDst(t *testing.T) {
	s := mustNew(t, serials.Spec{Kind: serials.KindSequential, Length: 4, Start: 10})
	dst := []byte("prefix:")
	dst, err := s.Serial(dst, 2)
	require.NoError(t, err)
	require.Equal(t, "prefix:0012", string(dst))
}

func TestSerialOutOfRange(t *testing.T) {
	list, err := serials.NewList(serials.Spec{Kind: serials.KindList}, []string{"A", "B"})
	require.NoError(t, err)
	tests := []struct {
		name   string
		scheme serials.Scheme
	}{
		{"sequential", mustNew(t, serials.Spec{Kind: serials.KindSequential, Length: 3, Start: 990})},
		{"randomized", mustNew(t, serials.Spec{Kind: serials.KindRandomized, Length: 3, Key: testKey})},
		{"randomized sgtin96", mustNew(t, serials.Spec{Kind: serials.KindRandomized, Length: 2, SGTIN96: true, Key: testKey})},
		{"list", list},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			space := tc.scheme.Space()
			_, err := tc.scheme.Serial(nil, space-1)
			require.NoError(t, err)
			for _, c := range []uint64{space, space + 1, math.MaxUint64} {
				dst, err := tc.scheme.Serial([]byte("x"), c)
				require.ErrorIs(t, err, serials.ErrOutOfRange)
				require.Contains(t, err.Error(), string(tc.scheme.Kind()))
				require.Equal(t, "x", string(dst), "dst is returned unchanged")
			}
		})
	}
}
