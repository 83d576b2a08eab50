package pin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHashParseMatches(t *testing.T) {
	h, err := Hash("4321", MinIterations)
	require.NoError(t, err)
	p, err := Parse(h)
	require.NoError(t, err)
	require.True(t, p.Matches("4321"))
	require.False(t, p.Matches("4322"))
	require.False(t, Hashed{}.Matches("4321"), "the zero value matches nothing")

	tests := []struct{ name, hash, want string }{
		{"not a hash", "4321", "want pbkdf2-sha256$"},
		{"other scheme", strings.Replace(h, "pbkdf2-sha256", "bcrypt", 1), "want pbkdf2-sha256$"},
		{"few iterations", strings.Replace(h, "$1000$", "$999$", 1), "iterations"},
		{"bad salt", strings.Replace(h, "$1000$", "$1000$!", 1), "salt"},
		{"short key", h[:len(h)-4], "key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.hash)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err = Hash("12a4", 0)
	require.ErrorIs(t, err, ErrBadPIN)
}

func TestCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Command([]string{"--iterations", "1000"}, strings.NewReader("2468\n"), &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	p, err := Parse(strings.TrimSpace(out.String()))
	require.NoError(t, err)
	require.True(t, p.Matches("2468"))

	out.Reset()
	code = Command(nil, strings.NewReader("24\n"), &out, &errOut)
	require.Equal(t, 2, code)
	require.Empty(t, out.String())
	require.Contains(t, errOut.String(), "4 to 8 digits")
	code = Command([]string{"2468"}, strings.NewReader(""), &out, &errOut)
	require.Equal(t, 2, code, "the PIN is never an argument")
}
