package serials_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
)

// GS1's rules for AI 21, checked by validate-gs1 (not our code): serials
// of every scheme make valid element strings beside a GTIN.
func TestSerialsPassValidateGS1(t *testing.T) {
	testkit.ValidatorsBin(t)
	specs := []serials.Spec{
		{Kind: serials.KindSequential, Length: 20, Start: 1},
		{Kind: serials.KindSequential, Length: 12, Start: 274_877_906_000, SGTIN96: true},
		{Kind: serials.KindRandomized, Length: 20, Key: testKey},
		{Kind: serials.KindRandomized, Length: 20, Alphabet: "alphanumeric", Key: testKey},
		{Kind: serials.KindRandomized, Length: 12, SGTIN96: true, Key: testKey},
		// every CSET 82 character that is not a letter or digit
		{Kind: serials.KindRandomized, Length: 20, Alphabet: `!"%&'()*+,-./:;<=>?_`, Key: testKey},
		{Kind: serials.KindRandomized, Length: 1, Alphabet: "ab", Key: testKey},
	}
	var args []string
	for _, spec := range specs {
		s := mustNew(t, spec)
		for c := range uint64(2) {
			// transmitted form: AI 21 last, so it needs no separator and
			// any CSET 82 character (brackets too) is unambiguous
			args = append(args, "0109506000134352"+"21"+serialOf(t, s, c))
		}
	}
	out, code := testkit.RunValidator(t, "validate-gs1", args...)
	require.Equal(t, 0, code, "validate-gs1 refused a serial:\n%s", out)

	// The validator does refuse what is not a serial.
	out, code = testkit.RunValidator(t, "validate-gs1", "0109506000134352"+"21"+"ABCDEFGHIJKLMNOPQRSTU")
	require.Equal(t, 1, code, out)
}
