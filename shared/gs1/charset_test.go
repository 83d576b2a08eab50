package gs1_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

func TestCSET82HasExactly82Characters(t *testing.T) {
	var in []byte
	for c := 0; c < 256; c++ {
		if gs1.IsCSET82(string(rune(c))) && c < 0x80 {
			in = append(in, byte(c))
		}
	}
	require.Len(t, in, 82)
	require.Equal(t, `!"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz`, string(in))
}

func TestValidateCSET82(t *testing.T) {
	cases := []struct {
		name, v string
		ok      bool
	}{
		{"empty", "", true},
		{"all punctuation", `!"%&'()*+,-./:;<=>?_`, true},
		{"space", "AB 12", false},
		{"hash", "AB#1", false},
		{"dollar", "$", false},
		{"at", "a@b", false},
		{"backslash", `a\b`, false},
		{"brackets", "[x]", false},
		{"caret", "^", false},
		{"backtick", "`", false},
		{"braces", "{", false},
		{"pipe", "|", false},
		{"tilde", "~", false},
		{"GS", "A" + gsc + "B", false},
		{"non-ASCII", "café", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.ok, gs1.IsCSET82(tc.v))
			err := gs1.ValidateCSET82("21", tc.v)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			requireRule(t, err, "21", gs1.RuleCharset)
		})
	}
}
