package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/sqldb"
)

// bootstrapName names the first admin token in the token list and audit trail.
const bootstrapName = "bootstrap-admin"

// bootstrapAdmin makes sure someone can sign in on a new database.
//
// With SERIALINE_ADMIN_TOKEN set, that token is stored (as its SHA-256
// hash) unless it is already. Otherwise, on the first start (no token at
// all, revoked ones included), a random 256-bit admin token is issued and
// printed once; only its hash is stored, so it can never be shown again.
// SHA-256 without salt or stretching is right for a random 256-bit
// secret: there is nothing to guess, unlike for a password.
func (s *Server) bootstrapAdmin(ctx context.Context) error {
	ctx = sqldb.WithActor(ctx, "system:bootstrap")
	if tok := s.getenv(EnvAdminToken); tok != "" {
		return s.adminFromEnv(ctx, strings.TrimSpace(tok))
	}
	tokens, err := s.st.APITokens(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap admin token: %w", err)
	}
	if len(tokens) > 0 {
		return nil
	}
	secret, rec, err := auth.IssueToken(ctx, s.st, bootstrapName, auth.RoleAdmin)
	if err != nil {
		return fmt.Errorf("bootstrap admin token: %w", err)
	}
	s.log.Warn("first start: bootstrap admin token issued and printed once on stdout", "token_id", rec.ID)
	_, err = fmt.Fprintf(s.out, `
serialine-central: first start on this database. Bootstrap admin token (shown ONCE,
only its SHA-256 hash is stored):

    %s

Use it as "Authorization: Bearer <token>" or sign in to the web UI with it,
create personal tokens (admin: POST /api/v1/tokens), then revoke this one.

`, secret)
	return err
}

func (s *Server) adminFromEnv(ctx context.Context, tok string) error {
	if err := checkTokenFormat(tok); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidConfig, EnvAdminToken, err)
	}
	hash := auth.HashToken(tok)
	_, err := s.st.APITokenByHash(ctx, hash)
	if err == nil {
		return nil // stored at an earlier start
	}
	if !errors.Is(err, sqldb.ErrNotFound) {
		return fmt.Errorf("bootstrap admin token: %w", err)
	}
	all, err := s.st.APITokens(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap admin token: %w", err)
	}
	for _, t := range all {
		if t.Hash == hash {
			return fmt.Errorf("%w: %s: this token (id %s) was revoked; unset the variable or set a new token", ErrInvalidConfig, EnvAdminToken, t.ID)
		}
	}
	rec, err := s.st.CreateAPIToken(ctx, bootstrapName, string(auth.RoleAdmin), hash)
	if err != nil {
		return fmt.Errorf("bootstrap admin token: %w", err)
	}
	s.log.Info("bootstrap admin token from the environment stored (its hash)", "env", EnvAdminToken, "token_id", rec.ID)
	return nil
}

// checkTokenFormat checks that tok looks like the tokens central/auth
// issues (auth.TokenPrefix and 43 base64url characters, 256 bits);
// anything else would never authenticate.
func checkTokenFormat(tok string) error {
	rest, ok := strings.CutPrefix(tok, auth.TokenPrefix)
	if !ok || len(rest) != 43 {
		return fmt.Errorf("must be %q followed by 43 base64url characters (256 random bits), e.g. from `openssl rand -base64 32 | tr '+/' '-_' | tr -d =`", auth.TokenPrefix)
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("character %q at position %d is not base64url (A-Z a-z 0-9 - _)", c, len(auth.TokenPrefix)+i+1)
		}
	}
	return nil
}
