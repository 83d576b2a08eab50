package access

import (
	"context"
	"fmt"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
)

// WebSession is a signed-in browser of the web UI (central/auth). The
// browser holds a random id; the store keeps its hash only, so a copy of
// the database signs nobody in.
type WebSession struct {
	Hash      string
	TokenID   string
	CreatedAt time.Time
	LastSeen  time.Time
	// ExpiresAt is the absolute limit: the session ends then whatever
	// its use.
	ExpiresAt time.Time
}

// CreateWebSession stores a new session of an unrevoked token. Sessions
// that expired before it started are removed on the way, so the table
// does not grow with sign-ins nobody signed out of.
func (s *Registry) CreateWebSession(ctx context.Context, ws WebSession) error {
	if len(ws.Hash) < 16 || len(ws.Hash) > 256 {
		return sqldb.Invalid("web session", "hash", "must be 16 to 256 characters (a hash of the session id, never the id)")
	}
	if !ws.ExpiresAt.After(ws.CreatedAt) {
		return sqldb.Invalid("web session", "expires_at", "%s is not after created_at %s", ws.ExpiresAt, ws.CreatedAt)
	}
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		var revoked bool
		err := tx.QueryRow(ctx, "SELECT revoked_at IS NOT NULL FROM api_tokens WHERE id = $1", ws.TokenID).Scan(&revoked)
		if sqldb.IsNoRows(err) || err == nil && revoked {
			return fmt.Errorf("web session of token %s: %w (unknown or revoked)", ws.TokenID, sqldb.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("web session of token %s: %w", ws.TokenID, err)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM web_sessions WHERE expires_at < $1", sqldb.TS(ws.CreatedAt)); err != nil {
			return fmt.Errorf("web sessions: remove expired: %w", err)
		}
		_, err = tx.Exec(ctx, "INSERT INTO web_sessions (id_hash, token_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
			ws.Hash, ws.TokenID, sqldb.TS(ws.CreatedAt), sqldb.TS(ws.CreatedAt), sqldb.TS(ws.ExpiresAt))
		if err != nil {
			return fmt.Errorf("web session of token %s: %w", ws.TokenID, err)
		}
		return nil
	})
}

// WebSessionByHash returns the session with hash and its token. A session
// that does not exist, or whose token is revoked, is sqldb.ErrNotFound; the
// caller judges the time limits.
func (s *Registry) WebSessionByHash(ctx context.Context, hash string) (WebSession, APIToken, error) {
	var ws WebSession
	var t APIToken
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		r := q.QueryRow(ctx, `SELECT w.id_hash, w.token_id, w.created_at, w.last_seen_at, w.expires_at,
			t.id, t.name, t.role, t.partner_gln, t.hash, t.created_at
			FROM web_sessions w JOIN api_tokens t ON t.id = w.token_id
			WHERE w.id_hash = $1 AND t.revoked_at IS NULL`, hash)
		return r.Scan(&ws.Hash, &ws.TokenID, &ws.CreatedAt, &ws.LastSeen, &ws.ExpiresAt,
			&t.ID, &t.Name, &t.Role, &t.Partner, &t.Hash, &t.CreatedAt)
	})
	if sqldb.IsNoRows(err) {
		return ws, t, fmt.Errorf("web session: %w", sqldb.ErrNotFound)
	}
	if err != nil {
		return ws, t, fmt.Errorf("web session: %w", err)
	}
	ws.CreatedAt, ws.LastSeen, ws.ExpiresAt, t.CreatedAt = ws.CreatedAt.UTC(), ws.LastSeen.UTC(), ws.ExpiresAt.UTC(), t.CreatedAt.UTC()
	return ws, t, nil
}

// TouchWebSession records that the session was used at at (the idle
// limit counts from there). A session that is gone is no error.
func (s *Registry) TouchWebSession(ctx context.Context, hash string, at time.Time) error {
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2", hash, sqldb.TS(at)); err != nil {
			return fmt.Errorf("web session: touch: %w", err)
		}
		return nil
	})
}

// DeleteWebSession ends a session (sign-out, or a limit passed). A
// session that is gone already is no error.
func (s *Registry) DeleteWebSession(ctx context.Context, hash string) error {
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM web_sessions WHERE id_hash = $1", hash); err != nil {
			return fmt.Errorf("web session: delete: %w", err)
		}
		return nil
	})
}

// deleteWebSessionsOfToken ends every session of a token, in the
// transaction that revokes it.
func deleteWebSessionsOfToken(ctx context.Context, tx sqldb.Tx, tokenID string) error {
	if _, err := tx.Exec(ctx, "DELETE FROM web_sessions WHERE token_id = $1", tokenID); err != nil {
		return fmt.Errorf("api token %s: end its web sessions: %w", tokenID, err)
	}
	return nil
}
