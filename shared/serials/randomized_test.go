package serials_test

import (
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/serials"
)

// Pinned serials: the edge and central must agree on them on every machine,
// today and in ten years. A change here means issued serials would be
// issued again under other counters — never change the permutation, add a
// new version.
func TestRandomizedPinnedSerials(t *testing.T) {
	const longKey = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
	tests := []struct {
		name  string
		spec  serials.Spec
		space uint64
		want  map[uint64]string
	}{
		{"numeric 6", serials.Spec{Length: 6, Key: testKey}, 1_000_000,
			map[uint64]string{0: "874401", 1: "713336", 2: "557206", 999_999: "292061"}},
		{"numeric 12", serials.Spec{Length: 12, Key: testKey}, 1_000_000_000_000,
			map[uint64]string{0: "436372746737", 1: "892945950256", 2: "961285335923", 999_999: "030202310551", 999_999_999_999: "495950313705"}},
		{"numeric 12, 256-bit key", serials.Spec{Length: 12, Key: longKey}, 1_000_000_000_000,
			map[uint64]string{0: "103325019632", 1: "253513717436", 2: "945125299264"}},
		{"numeric 19 (wide, space below 2^64)", serials.Spec{Length: 19, Key: testKey}, 10_000_000_000_000_000_000,
			map[uint64]string{0: "6794023100819578294", 9_999_999_999_999_999_999: "1842110870301389180"}},
		{"numeric 20", serials.Spec{Length: 20, Alphabet: "numeric", Key: testKey}, math.MaxUint64,
			map[uint64]string{0: "11354769958565970561", 2: "00744748895152086070", math.MaxUint64 - 1: "02904524482095682737"}},
		{"alphanumeric 10", serials.Spec{Length: 10, Alphabet: "alphanumeric", Key: testKey}, 3_656_158_440_062_976,
			map[uint64]string{0: "XQRZB3XPZ8", 1: "6X5PCEB2RM", 999_999: "ONGBRNIKUR"}},
		{"alphanumeric 20", serials.Spec{Length: 20, Alphabet: "alphanumeric", Key: testKey}, math.MaxUint64,
			map[uint64]string{0: "YDFFYY3J285CNP6K4GZR", 1: "MXL3GLC63BM10Q5MU5LZ", math.MaxUint64 - 1: "7E8QRDBNX6QUODF8E2OM"}},
		{"sgtin96 12", serials.Spec{Length: 12, SGTIN96: true, Key: testKey}, 174_877_906_944,
			map[uint64]string{0: "272099174039", 1: "215955847647", 174_877_906_943: "160818129075"}},
		{"custom 16", serials.Spec{Length: 16, Alphabet: "ACDEFHJKLMNPRTWXY34679", Key: testKey}, math.MaxUint64,
			map[uint64]string{0: "CJELPNFPTNHKMJWE", 999_999: "6LAA4JEP76A3LDWX"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Kind = serials.KindRandomized
			s := mustNew(t, tc.spec)
			again := mustNew(t, tc.spec) // a second instance: nothing depends on state
			require.Equal(t, serials.KindRandomized, s.Kind())
			require.Equal(t, tc.space, s.Space())
			for c, want := range tc.want {
				require.Equal(t, want, serialOf(t, s, c), "counter %d", c)
				require.Equal(t, want, serialOf(t, again, c), "counter %d", c)
			}
		})
	}
}

func TestRandomizedKeyMatters(t *testing.T) {
	base := serials.Spec{Kind: serials.KindRandomized, Length: 12, Key: testKey}
	variants := map[string]serials.Spec{
		"other key":          {Kind: serials.KindRandomized, Length: 12, Key: "100102030405060708090a0b0c0d0e0f"},
		"same key, 256 bits": {Kind: serials.KindRandomized, Length: 12, Key: testKey + testKey},
		"other format":       {Kind: serials.KindRandomized, Length: 12, SGTIN96: true, Key: testKey},
	}
	a := mustNew(t, base)
	for name, spec := range variants {
		t.Run(name, func(t *testing.T) {
			b := mustNew(t, spec)
			same := 0
			for c := range uint64(1000) {
				if serialOf(t, a, c) == serialOf(t, b, c) {
					same++
				}
			}
			require.Zero(t, same, "an unrelated permutation should share no serial in 1000 counters of 10^12")
		})
	}
}

// The serials of consecutive counters look random: every digit value is
// about equally frequent at every position, and neighbours are not close.
// The key is fixed, so the figures are too: the bounds cannot flake.
func TestRandomizedLooksRandom(t *testing.T) {
	s := mustNew(t, serials.Spec{Kind: serials.KindRandomized, Length: 12, Key: testKey})
	const n = 20_000
	var freq [12][10]int
	prev := ""
	closeNeighbours := 0
	for c := range uint64(n) {
		v := serialOf(t, s, c)
		for i := range len(v) {
			freq[i][v[i]-'0']++
		}
		if prev != "" && v[:3] == prev[:3] {
			closeNeighbours++ // same leading 3 digits: 1 in 1000 by chance
		}
		prev = v
	}
	for pos, f := range freq {
		for d, count := range f {
			// expected 2000, standard deviation about 42
			require.InDelta(t, n/10, count, 250, "digit %d at position %d", d, pos+1)
		}
	}
	require.Less(t, closeNeighbours, 60)
}

// A Scheme is shared by goroutines (run with -race).
func TestRandomizedConcurrent(t *testing.T) {
	s := mustNew(t, serials.Spec{Kind: serials.KindRandomized, Length: 20, Alphabet: "alphanumeric", Key: testKey})
	const n = 2000
	want := make([]string, n)
	for c := range want {
		want[c] = serialOf(t, s, uint64(c))
	}
	var wg sync.WaitGroup
	got := make([][]string, 4)
	for g := range got {
		got[g] = make([]string, n)
		wg.Go(func() {
			var buf []byte
			for c := range n {
				buf, _ = s.Serial(buf[:0], uint64(c))
				got[g][c] = string(buf)
			}
		})
	}
	wg.Wait()
	for g := range got {
		require.Equal(t, want, got[g], "goroutine %d", g)
	}
	require.False(t, strings.Contains(strings.Join(want, ""), " "))
}
