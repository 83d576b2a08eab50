package access_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

// TestWebSessions: a session lives on both databases, is bound to an
// unrevoked token and ends with sign-out or the token's revocation.
func TestWebSessions(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s := storetest.Open(t, dsn, testkit.Logger(t))
		ctx := storetest.Context(t)
		tok, err := s.CreateAPIToken(ctx, "alice", "planner", "tokenhash-0123456789abcdef")
		require.NoError(t, err)
		t0 := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)
		ws := access.WebSession{Hash: "sessionhash-0123456789", TokenID: tok.ID, CreatedAt: t0, ExpiresAt: t0.Add(8 * time.Hour)}
		require.NoError(t, s.CreateWebSession(ctx, ws))
		got, gotTok, err := s.WebSessionByHash(ctx, ws.Hash)
		require.NoError(t, err)
		require.Equal(t, "alice", gotTok.Name)
		require.True(t, got.ExpiresAt.Equal(ws.ExpiresAt), "%s", got.ExpiresAt)
		require.True(t, got.LastSeen.Equal(t0), "%s", got.LastSeen)

		require.NoError(t, s.TouchWebSession(ctx, ws.Hash, t0.Add(time.Minute)))
		require.NoError(t, s.TouchWebSession(ctx, ws.Hash, t0), "an older touch changes nothing")
		got, _, err = s.WebSessionByHash(ctx, ws.Hash)
		require.NoError(t, err)
		require.True(t, got.LastSeen.Equal(t0.Add(time.Minute)), "%s", got.LastSeen)

		bad := ws
		bad.Hash, bad.ExpiresAt = "sessionhash-abcdefghij", t0
		require.ErrorContains(t, s.CreateWebSession(ctx, bad), "expires_at")

		other := ws
		other.Hash = "sessionhash-second-one"
		require.NoError(t, s.CreateWebSession(ctx, other))
		require.NoError(t, s.DeleteWebSession(ctx, other.Hash))
		_, _, err = s.WebSessionByHash(ctx, other.Hash)
		require.ErrorIs(t, err, sqldb.ErrNotFound, "signed out")

		require.NoError(t, s.RevokeAPIToken(ctx, tok.ID))
		_, _, err = s.WebSessionByHash(ctx, ws.Hash)
		require.ErrorIs(t, err, sqldb.ErrNotFound, "revoking the token ends its sessions")
		other.Hash = "sessionhash-third-one"
		require.ErrorIs(t, s.CreateWebSession(ctx, other), sqldb.ErrNotFound, "no new session for a revoked token")
	})
}
