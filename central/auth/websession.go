package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/sqldb"
)

// SessionStore keeps the web UI's sessions and finds tokens (store.Store
// does).
type SessionStore interface {
	TokenStore
	CreateWebSession(ctx context.Context, ws access.WebSession) error
	WebSessionByHash(ctx context.Context, hash string) (access.WebSession, access.APIToken, error)
	TouchWebSession(ctx context.Context, hash string, at time.Time) error
	DeleteWebSession(ctx context.Context, hash string) error
}

// sessionLen is the length of a session id: prefix + 256 random bits in
// unpadded base64url.
var sessionLen = len(SessionPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

func newSessionID() string {
	var b [tokenBytes]byte
	_, _ = rand.Read(b[:])
	return SessionPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// wellFormedSession reports whether v can be a session id at all, so that
// garbage (or an API token in an old cookie) costs no database lookup.
func wellFormedSession(v string) bool {
	if len(v) != sessionLen || !strings.HasPrefix(v, SessionPrefix) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v[len(SessionPrefix):])
	return err == nil
}

// session returns the principal of session id, enforcing its limits: a
// session that is gone, of a revoked token, past its absolute limit or
// idle too long wraps ErrInvalidToken (and a session past a limit is
// deleted). Use is recorded at most every touchEvery, to spare the
// database a write per page.
func (s *Sessions) session(r *http.Request, id string) (Principal, error) {
	ctx := r.Context()
	hash := HashToken(id)
	ws, tok, err := s.tokens.WebSessionByHash(ctx, hash)
	if errors.Is(err, sqldb.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: no such session (signed out or token revoked)", ErrInvalidToken)
	}
	if err != nil {
		return Principal{}, err
	}
	now := s.cfg.Now().UTC()
	var ended error
	switch {
	case !now.Before(ws.ExpiresAt):
		ended = fmt.Errorf("%w: session of token %s reached its limit of %s at %s", ErrInvalidToken, ws.TokenID, s.cfg.MaxAge, ws.ExpiresAt.Format(time.RFC3339))
	case !now.Before(ws.CreatedAt.Add(s.cfg.MaxAge)):
		// max_age was shortened since the sign-in: the new limit counts.
		ended = fmt.Errorf("%w: session of token %s is older than %s", ErrInvalidToken, ws.TokenID, s.cfg.MaxAge)
	case now.Sub(ws.LastSeen) >= s.cfg.Idle:
		ended = fmt.Errorf("%w: session of token %s idle since %s (limit %s)", ErrInvalidToken, ws.TokenID, ws.LastSeen.Format(time.RFC3339), s.cfg.Idle)
	}
	if ended != nil {
		if err := s.tokens.DeleteWebSession(ctx, hash); err != nil {
			return Principal{}, err
		}
		return Principal{}, ended
	}
	p, err := principalOf(tok)
	if err == nil && p.Role == RolePartner {
		err = fmt.Errorf("%w: a partner token has no web session", ErrInvalidToken)
	}
	if err != nil {
		return Principal{}, err
	}
	if now.Sub(ws.LastSeen) >= s.touchEvery() {
		if err := s.tokens.TouchWebSession(ctx, hash, now); err != nil {
			return Principal{}, err
		}
	}
	return p, nil
}

// touchEvery is how stale the recorded last use may be: a sixtieth of the
// idle limit (30 s for 30 min), so the limit is kept to within that.
func (s *Sessions) touchEvery() time.Duration { return s.cfg.Idle / 60 }
