package serials_test

import (
	"bytes"
	"cmp"
	"hash/maphash"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
)

// propertySpecs cover both modes of the permutation: range mode (spaces up
// to 2^62, cycle walking) and wide mode (digit halves), and every alphabet.
var propertySpecs = []struct {
	name string
	spec serials.Spec
	// exhaustive: the whole space is enumerated; otherwise the first
	// bigCount counters are checked for collisions.
	exhaustive bool
}{
	{"numeric 6", serials.Spec{Length: 6}, true},
	{"numeric 1", serials.Spec{Length: 1}, true},
	{"sgtin96 5", serials.Spec{Length: 5, SGTIN96: true}, true},
	{"sgtin96 1", serials.Spec{Length: 1, SGTIN96: true}, true},
	{"alphanumeric 3", serials.Spec{Length: 3, Alphabet: "alphanumeric"}, true},
	{"custom 7", serials.Spec{Length: 7, Alphabet: "XY?"}, true},
	{"custom CSET 82 symbols 3", serials.Spec{Length: 3, Alphabet: `!"%&'()*+,-./:;<=>?_`}, true},
	{"numeric 20 (wide)", serials.Spec{Length: 20}, false},
	{"alphanumeric 20 (wide)", serials.Spec{Length: 20, Alphabet: "alphanumeric"}, false},
	{"sgtin96 12 (cycle walking)", serials.Spec{Length: 12, SGTIN96: true}, false},
	{"custom 11 (wide, odd split)", serials.Spec{Length: 11, Alphabet: "ACDEFHJKLMNPRTWXY34679abcdefghijkmnopqrstuvwxyz"}, false},
}

func bigCount(tb testing.TB) int {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

// Every randomized serial is right (length, CSET 82, alphabet, SGTIN-96)
// and no two counters give the same serial.
func TestRandomizedIsBijection(t *testing.T) {
	for _, tc := range propertySpecs {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.Kind, spec.Key = serials.KindRandomized, testKey
			s := mustNew(t, spec)
			check := newChecker(spec, alphabetChars(spec))

			n := uint64(bigCount(t))
			if tc.exhaustive {
				n = s.Space()
				require.LessOrEqual(t, n, uint64(2_000_000), "exhaustive specs must stay small")
				require.Equal(t, expectedSpace(spec), n, "the space is the whole serial space")
			}
			all := make([]byte, 0, int(n)*spec.Length)
			var err error
			for c := range n {
				start := len(all)
				all, err = s.Serial(all, c)
				require.NoError(t, err)
				check.check(t, string(all[start:]))
			}
			requireDistinct(t, all, spec.Length)
		})
	}
}

func TestSequentialIsBijection(t *testing.T) {
	for _, spec := range []serials.Spec{
		{Kind: serials.KindSequential, Length: 5, Start: 0},
		{Kind: serials.KindSequential, Length: 5, Start: 10_000, SGTIN96: true},
	} {
		t.Run(spec.String(), func(t *testing.T) {
			s := mustNew(t, spec)
			check := newChecker(spec, "0123456789")
			all := make([]byte, 0, int(s.Space())*spec.Length)
			var err error
			for c := range s.Space() {
				start := len(all)
				all, err = s.Serial(all, c)
				require.NoError(t, err)
				check.check(t, string(all[start:]))
			}
			requireDistinct(t, all, spec.Length)
		})
	}
}

func alphabetChars(s serials.Spec) string {
	switch s.Alphabet {
	case "", "numeric":
		return "0123456789"
	case "alphanumeric":
		return "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	}
	return s.Alphabet
}

func expectedSpace(s serials.Spec) uint64 {
	if s.SGTIN96 {
		if s.Length == 1 {
			return 10
		}
		return 9 * pow(10, s.Length-1)
	}
	return pow(uint64(len(alphabetChars(s))), s.Length)
}

func pow(b uint64, e int) uint64 {
	p := uint64(1)
	for range e {
		p *= b
	}
	return p
}

// checker checks serials of one spec without allocating (it runs a
// million times per subtest).
type checker struct {
	spec serials.Spec
	in   [256]bool
}

func newChecker(spec serials.Spec, alphabet string) *checker {
	c := &checker{spec: spec}
	for i := range len(alphabet) {
		c.in[alphabet[i]] = true
	}
	return c
}

func (c *checker) check(tb testing.TB, v string) {
	ok := len(v) == c.spec.Length && gs1.IsCSET82(v)
	for i := 0; ok && i < len(v); i++ {
		ok = c.in[v[i]]
	}
	if !ok {
		tb.Fatalf("serial %q: want %d characters of the alphabet %q (CSET 82)", v, c.spec.Length, alphabetChars(c.spec))
	}
	if c.spec.SGTIN96 {
		if err := gs1.SGTIN96Eligible(v); err != nil {
			tb.Fatalf("serial %q: %v", v, err)
		}
	}
}

// requireDistinct checks that the fixed-width serials packed in all are
// pairwise different: it sorts 64-bit hashes (cheaper than a map of a
// million strings) and compares the serials behind equal hashes.
func requireDistinct(tb testing.TB, all []byte, width int) {
	tb.Helper()
	type entry struct {
		hash uint64
		i    int32
	}
	seed := maphash.MakeSeed()
	n := len(all) / width
	at := func(i int32) []byte { return all[int(i)*width : int(i+1)*width] }
	entries := make([]entry, n)
	for i := range entries {
		entries[i] = entry{maphash.Bytes(seed, at(int32(i))), int32(i)}
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.hash, b.hash) })
	for k := 1; k < n; k++ {
		a, b := entries[k-1], entries[k]
		if a.hash == b.hash && bytes.Equal(at(a.i), at(b.i)) {
			tb.Fatalf("counters %d and %d give the same serial %q", a.i, b.i, at(b.i))
		}
	}
}
