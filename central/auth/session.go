package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Web UI sessions. The cookie carries the token itself, not a session id:
// every request re-checks it against the store, so revoking the token
// ends the session at once, and several central replicas need no shared
// session table. The cookie is HttpOnly (no script reads it), SameSite=
// Strict (no other site's page sends it), Secure unless configured off for
// plain-HTTP development, and lives for MaxAge.
//
// CSRF: a state-changing request (anything but GET, HEAD, OPTIONS) of a
// signed-in browser must
//  1. not come from another origin (net/http's CrossOriginProtection:
//     Sec-Fetch-Site, else Origin against Host), and
//  2. carry the session's CSRF token in the form field "csrf_token" or the
//     header "X-CSRF-Token". The CSRF token is HMAC-SHA256 keyed by the
//     session's token over a fixed label: stateless, the same on every
//     replica, and impossible to compute without the cookie that no other
//     site can read.
//
// SameSite=Strict alone already stops cross-site posts in current
// browsers; the two checks are defence in depth for older ones.

// Defaults of SessionConfig.
const (
	DefaultCookieName = "serialine_session"
	DefaultSessionAge = 8 * time.Hour // one shift
	CSRFField         = "csrf_token"
	CSRFHeader        = "X-CSRF-Token"
)

// csrfLabel is the HMAC message of the CSRF token; a new label would
// invalidate every open form.
const csrfLabel = "serialine csrf v1"

// SessionConfig configures the web UI's session cookie.
type SessionConfig struct {
	// CookieName defaults to DefaultCookieName.
	CookieName string
	// MaxAge is how long a sign-in lasts (default DefaultSessionAge).
	MaxAge time.Duration
	// Insecure drops the cookie's Secure attribute, for plain HTTP on a
	// development machine. Never set it in production.
	Insecure bool
	// Path scopes the cookie (default "/").
	Path string
}

// ErrCSRF is wrapped when a state-changing request fails the CSRF checks.
var ErrCSRF = errors.New("cross-site request refused")

// Sessions signs web UI users in with a token and recognises them by
// cookie.
type Sessions struct {
	tokens TokenStore
	cfg    SessionConfig
	log    *slog.Logger
	cop    *http.CrossOriginProtection
}

// NewSessions validates cfg and returns the session helper.
func NewSessions(tokens TokenStore, cfg SessionConfig, log *slog.Logger) (*Sessions, error) {
	if tokens == nil {
		return nil, errors.New("auth sessions: a token store is required")
	}
	if log == nil {
		return nil, errors.New("auth sessions: a logger is required")
	}
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultSessionAge
	}
	if cfg.MaxAge < time.Minute {
		return nil, fmt.Errorf("auth sessions: max_age: %s is shorter than a minute", cfg.MaxAge)
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if err := (&http.Cookie{Name: cfg.CookieName, Value: "x", Path: cfg.Path}).Valid(); err != nil {
		return nil, fmt.Errorf("auth sessions: cookie_name/path: %w", err)
	}
	return &Sessions{tokens: tokens, cfg: cfg, log: log, cop: http.NewCrossOriginProtection()}, nil
}

// SignIn checks token and, when it is valid, sets the session cookie and
// returns the principal. An invalid token wraps ErrInvalidToken and sets
// nothing.
func (s *Sessions) SignIn(w http.ResponseWriter, r *http.Request, token string) (Principal, error) {
	p, err := Authenticate(r.Context(), s.tokens, token)
	if err != nil {
		return Principal{}, err
	}
	if p.Role == RolePartner {
		// A partner's system calls the partner routes of the API; the web
		// UI is for our own people.
		return Principal{}, fmt.Errorf("%w: a partner token cannot sign in to the web UI", ErrInvalidToken)
	}
	http.SetCookie(w, s.cookie(token, int(s.cfg.MaxAge/time.Second)))
	s.log.Info("signed in", "name", p.Name, "role", p.Role, "token", p.TokenID, "remote", r.RemoteAddr)
	return p, nil
}

// SignOut clears the session cookie.
func (s *Sessions) SignOut(w http.ResponseWriter) {
	http.SetCookie(w, s.cookie("", -1))
}

func (s *Sessions) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: s.cfg.CookieName, Value: value, Path: s.cfg.Path, MaxAge: maxAge,
		HttpOnly: true, Secure: !s.cfg.Insecure, SameSite: http.SameSiteStrictMode,
	}
}

// token returns the session cookie's token, "" when there is none.
func (s *Sessions) token(r *http.Request) string {
	c, err := r.Cookie(s.cfg.CookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

// Middleware recognises the signed-in user: a valid session cookie puts
// the Principal in the context (WithPrincipal); without one the request
// goes on without a principal (the UI shows its sign-in page), and a
// cookie that is no longer valid (revoked token) is cleared. A
// state-changing request must pass the CSRF checks, else it gets 403
// (code "csrf") and goes no further; reading the form for the CSRF field
// parses it (urlencoded or multipart), so cap the body before this
// middleware: an oversized one gets 413. A database failure is 503.
func (s *Sessions) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unsafe := !(r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions)
		if unsafe {
			if err := s.cop.Check(r); err != nil {
				s.refuse(w, r, err)
				return
			}
		}
		tok := s.token(r)
		if tok == "" {
			next.ServeHTTP(w, r)
			return
		}
		p, err := Authenticate(r.Context(), s.tokens, tok)
		if err == nil && p.Role == RolePartner {
			err = fmt.Errorf("%w: a partner token has no web session", ErrInvalidToken)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				s.log.Error("session check failed", "method", r.Method, "path", r.URL.Path, "err", err)
				WriteError(w, http.StatusServiceUnavailable, Error{Code: CodeUnavailable, Message: "credentials cannot be checked right now; retry later"})
				return
			}
			s.log.Info("session ended", "path", r.URL.Path, "reason", err)
			s.SignOut(w)
			next.ServeHTTP(w, r)
			return
		}
		if unsafe {
			if err := s.checkCSRF(r, tok); err != nil {
				s.refuse(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

func (s *Sessions) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		WriteError(w, http.StatusRequestEntityTooLarge, Error{Code: "too_large", Message: fmt.Sprintf("the request body exceeds %d bytes", tooBig.Limit)})
		return
	}
	s.log.Warn("cross-site request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
	WriteError(w, http.StatusForbidden, Error{Code: CodeCSRF, Message: err.Error(), Field: CSRFField})
}

// maxFormMemory is what a multipart form may hold in memory while the
// CSRF field is read; larger files spill to temporary files. Cap the body
// (http.MaxBytesReader) before this middleware.
const maxFormMemory = 32 << 20

func (s *Sessions) checkCSRF(r *http.Request, tok string) error {
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		err := r.ParseMultipartForm(maxFormMemory)
		if errors.Is(err, http.ErrNotMultipart) {
			err = r.ParseForm()
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		got = r.PostForm.Get(CSRFField)
	}
	if got == "" {
		return fmt.Errorf("%w: the form has no %s", ErrCSRF, CSRFField)
	}
	if !hmac.Equal([]byte(got), []byte(csrfToken(tok))) {
		return fmt.Errorf("%w: %s does not match the session", ErrCSRF, CSRFField)
	}
	return nil
}

// CSRFToken returns the CSRF token of the request's session, for a
// hidden form field named CSRFField (or the X-CSRF-Token header of a
// script's request); "" when the request has no session cookie.
func (s *Sessions) CSRFToken(r *http.Request) string {
	tok := s.token(r)
	if tok == "" {
		return ""
	}
	return csrfToken(tok)
}

func csrfToken(tok string) string {
	m := hmac.New(sha256.New, []byte(tok))
	m.Write([]byte(csrfLabel))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
