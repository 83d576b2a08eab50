package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/httpjson"
)

// Principal is the authenticated caller: the token's name, its role and
// the token's id; for a partner token, the trading partner's GLN.
type Principal struct {
	Name    string `json:"name"`
	Role    Role   `json:"role"`
	TokenID string `json:"token_id"`
	// Partner is the GLN a partner token is bound to: the partner may act
	// for that GLN only. "" for every other role.
	Partner string `json:"partner,omitempty"`
}

// Actor is how the principal appears in the audit trail, e.g.
// "alice (planner, token 1a2b3c4d5e6f7a8b)": the name, and the role and
// token that made the change; a partner's with its GLN.
func (p Principal) Actor() string {
	if p.Partner != "" {
		return fmt.Sprintf("%s (%s %s, token %s)", p.Name, p.Role, p.Partner, p.TokenID)
	}
	return fmt.Sprintf("%s (%s, token %s)", p.Name, p.Role, p.TokenID)
}

// ActsFor reports whether the principal may act for the trading partner
// gln: a partner only for its own GLN, our own people for any.
func (p Principal) ActsFor(gln string) bool {
	return p.Role != RolePartner || p.Partner == gln
}

// Can reports whether the principal holds permission perm.
func (p Principal) Can(perm Permission) bool { return Can(p.Role, perm) }

type principalKey struct{}

// WithPrincipal returns a context carrying p, with store writes
// attributed to it (sqldb.WithActor).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	ctx = context.WithValue(ctx, principalKey{}, p)
	return sqldb.WithActor(ctx, p.Actor())
}

// PrincipalFrom returns the principal of an authenticated request.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// TokenStore finds a token by its hash (store.Store does). A revoked or
// unknown token is an error wrapping sqldb.ErrNotFound.
type TokenStore interface {
	APITokenByHash(ctx context.Context, hash string) (access.APIToken, error)
}

// Authenticate returns the principal of a token. A token that is
// malformed, unknown, revoked or of an unknown role wraps ErrInvalidToken;
// any other error means the check could not be made.
func Authenticate(ctx context.Context, tokens TokenStore, token string) (Principal, error) {
	if !wellFormed(token) {
		return Principal{}, fmt.Errorf("%w: not a serialine token", ErrInvalidToken)
	}
	t, err := tokens.APITokenByHash(ctx, HashToken(token))
	switch {
	case errors.Is(err, sqldb.ErrNotFound):
		return Principal{}, fmt.Errorf("%w: unknown or revoked", ErrInvalidToken)
	case err != nil:
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	return principalOf(t)
}

// principalOf checks a stored token's role and partner binding.
func principalOf(t access.APIToken) (Principal, error) {
	role := Role(t.Role)
	if !role.Valid() {
		// Stored by someone else with a role this build does not know:
		// grant nothing rather than guess.
		return Principal{}, fmt.Errorf("%w: token %s has unknown role %q", ErrInvalidToken, t.ID, t.Role)
	}
	if (role == RolePartner) != (t.Partner != "") {
		// A partner token without its GLN, or a GLN on another role: the
		// record is not one this build writes; grant nothing.
		return Principal{}, fmt.Errorf("%w: token %s: role %s with partner %q", ErrInvalidToken, t.ID, t.Role, t.Partner)
	}
	return Principal{Name: t.Name, Role: role, TokenID: t.ID, Partner: t.Partner}, nil
}

// bearer returns the token of an "Authorization: Bearer ..." header, and
// whether the header was there at all.
func bearer(r *http.Request) (token string, present bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true, fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", ErrInvalidToken)
	}
	return strings.TrimSpace(tok), true, nil
}

// realm is the WWW-Authenticate challenge (RFC 6750).
const realm = `Bearer realm="serialine"`

// Middleware authenticates every request by its bearer token and puts the
// Principal in the context (WithPrincipal); routes then check roles with
// Allow or Require. No token: 401 with "WWW-Authenticate: Bearer"; a
// wrong, revoked or malformed one: 401 with error="invalid_token"; a
// database failure: 503. Failures are logged without the token.
func Middleware(tokens TokenStore, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, present, err := bearer(r)
			if !present {
				w.Header().Set("WWW-Authenticate", realm)
				httpjson.WriteError(w, http.StatusUnauthorized, httpjson.Error{Code: CodeUnauthorized,
					Message: "authentication required: send \"Authorization: Bearer <token>\"", Field: "Authorization"})
				return
			}
			var p Principal
			if err == nil {
				p, err = Authenticate(r.Context(), tokens, tok)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidToken) {
					log.Error("token check failed", "method", r.Method, "path", r.URL.Path, "err", err)
					httpjson.WriteError(w, http.StatusServiceUnavailable, httpjson.Error{Code: CodeUnavailable, Message: "credentials cannot be checked right now; retry later"})
					return
				}
				log.Info("authentication refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
				w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token"`)
				httpjson.WriteError(w, http.StatusUnauthorized, httpjson.Error{Code: CodeUnauthorized,
					Message: "invalid token: unknown, revoked or malformed", Field: "Authorization"})
				return
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// Allow lets through principals whose role holds perm; others get 403
// naming the permission and the roles that hold it, and a request without
// a principal 401.
func Allow(perm Permission) func(http.Handler) http.Handler {
	return guard(perm.Roles(), string(perm))
}

// Require lets through principals with one of roles; others get 403, and
// a request without a principal 401.
func Require(roles ...Role) func(http.Handler) http.Handler {
	return guard(roles, "")
}

func guard(roles []Role, what string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := PrincipalFrom(r.Context())
			if !ok {
				w.Header().Set("WWW-Authenticate", realm)
				httpjson.WriteError(w, http.StatusUnauthorized, httpjson.Error{Code: CodeUnauthorized, Message: "authentication required"})
				return
			}
			for _, role := range roles {
				if p.Role == role {
					next.ServeHTTP(w, r)
					return
				}
			}
			msg := fmt.Sprintf("role %s may not do this", p.Role)
			if what != "" {
				msg = fmt.Sprintf("role %s lacks permission %s", p.Role, what)
			}
			if len(roles) > 0 {
				msg += "; it needs " + joinRoles(roles)
			}
			w.Header().Set("WWW-Authenticate", realm+`, error="insufficient_scope"`)
			httpjson.WriteError(w, http.StatusForbidden, httpjson.Error{Code: CodeForbidden, Message: msg})
		})
	}
}
