package serials_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
)

var fuzzAlphabets = []string{"", "numeric", "alphanumeric", `AB!"?`}

// FuzzParseList: whatever the file, ParseList does not panic; what it
// accepts is a non-empty list of distinct valid serials; what it refuses
// comes with at least one problem, each naming a rule.
func FuzzParseList(f *testing.F) {
	seeds := []struct {
		csv     string
		length  uint8
		alpha   uint8
		sgtin96 bool
	}{
		{"A1\nB2\n", 0, 0, false},
		{"serial\r\n12345678\r\n87654321\r\n", 8, 1, false},
		{"gtin,serial\n09506000134352,A\n09506000134352,B\n", 0, 2, false},
		{"\xEF\xBB\xBFserial,note\n\"A,B\"\"C\",x\n", 0, 0, false},
		{"A1\nA1\n", 0, 0, false},
		{"A\"B\n\"unterminated\n", 0, 0, false},
		{"274877906943\n0\n0123\n", 12, 1, true},
		{"Serial Number\n1\n", 0, 0, false},
		{"AB!\n\"?\"\"\"\n", 3, 3, false},
	}
	for _, s := range seeds {
		f.Add([]byte(s.csv), s.length, s.alpha, s.sgtin96)
	}
	f.Fuzz(func(t *testing.T, data []byte, length, alpha uint8, sgtin96 bool) {
		spec := serials.ListSpec{
			Length:   int(length % (serials.MaxLength + 1)),
			Alphabet: fuzzAlphabets[int(alpha)%len(fuzzAlphabets)],
			SGTIN96:  sgtin96,
		}
		got, err := serials.ParseList(strings.NewReader(string(data)), spec)
		if err != nil {
			require.Nil(t, got)
			var se *serials.SpecError
			if errors.As(err, &se) {
				require.True(t, spec.SGTIN96, "only an SGTIN-96 spec can be invalid here: %v", err)
				return
			}
			var le *serials.ListError
			require.ErrorAs(t, err, &le)
			require.NotEmpty(t, le.Problems)
			for _, p := range le.Problems {
				require.NotEmpty(t, p.Reason)
				require.NotEmpty(t, p.String())
			}
			return
		}
		require.NotEmpty(t, got)
		seen := make(map[string]bool, len(got))
		for _, s := range got {
			require.False(t, seen[s], "duplicate %q accepted", s)
			seen[s] = true
			require.True(t, len(s) >= 1 && len(s) <= serials.MaxLength, "length of %q", s)
			require.True(t, gs1.IsCSET82(s), "%q is not CSET 82", s)
			if spec.Length > 0 {
				require.Len(t, s, spec.Length)
			}
			switch spec.Alphabet {
			case "numeric":
				require.Empty(t, strings.Trim(s, "0123456789"), "%q", s)
			case "alphanumeric":
				require.Empty(t, strings.Trim(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "%q", s)
			case "":
			default:
				require.Empty(t, strings.Trim(s, spec.Alphabet), "%q", s)
			}
			if spec.SGTIN96 {
				require.NoError(t, gs1.SGTIN96Eligible(s))
			}
		}
	})
}
