package auth_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/storetest"
)

func TestPasswordHash(t *testing.T) {
	pw := auth.GeneratePassword()
	require.Len(t, pw, 43)
	require.NoError(t, auth.CheckPassword(pw))
	h, err := auth.HashPassword(pw)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "pbkdf2-sha256$600000$"), h)
	require.NotContains(t, h, pw)
	h2, err := auth.HashPassword(pw)
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "salted")

	ok, err := auth.VerifyPassword(h, pw)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = auth.VerifyPassword(h, pw+"x")
	require.NoError(t, err)
	require.False(t, ok)

	for _, bad := range []string{"", "plain", "bcrypt$1$a$b", "pbkdf2-sha256$0$AAAA$AAAA", "pbkdf2-sha256$99999999$AAAA$AAAA", "pbkdf2-sha256$1$!!$AAAA"} {
		_, err := auth.VerifyPassword(bad, pw)
		require.ErrorIs(t, err, auth.ErrBadHash, bad)
	}
}

func TestCheckPassword(t *testing.T) {
	cases := []struct {
		pw, want string
	}{
		{"short", "has 5 characters, at least 16"},
		{strings.Repeat("x", 257), "has 257 bytes, at most 256"},
		{"\xff" + strings.Repeat("x", 20), "not valid UTF-8"},
		{strings.Repeat("x", 16), ""},
	}
	for _, tc := range cases {
		err := auth.CheckPassword(tc.pw)
		if tc.want == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorContains(t, err, tc.want)
	}
}

func TestLineCredentials(t *testing.T) {
	s := openStore(t)
	ctx := storetest.Context(t)
	pw := auth.GeneratePassword()
	h, err := auth.HashPassword(pw)
	require.NoError(t, err)
	require.NoError(t, s.PutLine(ctx, master.Line{ID: "L1", Name: "Line 1", PasswordHash: h}))
	require.NoError(t, s.PutLine(ctx, master.Line{ID: "L2", Name: "Line 2"}))
	require.NoError(t, s.PutLine(ctx, master.Line{ID: "L3", Name: "Line 3", PasswordHash: "md5:abcdef0123456789"}))
	creds := auth.NewLineCredentials(s)

	cases := []struct {
		name, line, pw string
		ok             bool
		err            bool
	}{
		{"right password", "L1", pw, true, false},
		{"wrong password", "L1", pw[1:], false, false},
		{"other line's password", "L2", pw, false, false},
		{"unknown line", "L9", pw, false, false},
		{"foreign hash format", "L3", pw, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := creds.CheckLine(ctx, tc.line, tc.pw)
			require.Equal(t, tc.ok, ok)
			if tc.err {
				require.ErrorIs(t, err, auth.ErrBadHash)
				require.ErrorContains(t, err, `line "L3"`)
				return
			}
			require.NoError(t, err)
		})
	}
}
