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

	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/httpjson"
)

// Web UI sessions. Signing in with an API token creates a server-side
// session: the cookie carries a random session id (never the token), the
// database keeps only the id's hash, bound to the token. Every request
// looks the session up, so sign-out, revoking the token (which deletes
// its sessions) and the idle and absolute limits end it on every replica
// at once; the limits are the server's, not the cookie's. The session id
// is no API token: the API refuses it as a bearer token. The cookie is
// HttpOnly (no script reads it), SameSite=Strict (no other site's page
// sends it) and Secure unless configured off for plain-HTTP development.
//
// CSRF: a state-changing request (anything but GET, HEAD, OPTIONS) of a
// signed-in browser must
//  1. not come from another origin (net/http's CrossOriginProtection:
//     Sec-Fetch-Site, else Origin against Host; central's host check has
//     refused a Host that is not ours before this), and
//  2. carry the session's CSRF token in the form field "csrf_token" or the
//     header "X-CSRF-Token". The CSRF token is HMAC-SHA256 keyed by the
//     session id over a fixed label: the same on every replica, and
//     impossible to compute without the cookie that no other site can
//     read.
//
// SameSite=Strict alone already stops cross-site posts in current
// browsers; the two checks are defence in depth for older ones.

// Defaults of SessionConfig.
const (
	DefaultCookieName  = "serialine_session"
	DefaultSessionAge  = 8 * time.Hour // one shift
	DefaultSessionIdle = 30 * time.Minute
	// SessionPrefix starts every session id, which is therefore never a
	// well-formed API token.
	SessionPrefix = "sls_"
	CSRFField     = "csrf_token"
	CSRFHeader    = "X-CSRF-Token"
)

// csrfLabel is the HMAC message of the CSRF token; a new label would
// invalidate every open form.
const csrfLabel = "serialine csrf v1"

// SessionConfig configures the web UI's session cookie.
type SessionConfig struct {
	// CookieName defaults to DefaultCookieName.
	CookieName string
	// MaxAge is how long a sign-in lasts at most, however busy
	// (default DefaultSessionAge).
	MaxAge time.Duration
	// Idle ends a session unused for this long (default
	// DefaultSessionIdle); at most MaxAge.
	Idle time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
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
	tokens SessionStore
	cfg    SessionConfig
	log    *slog.Logger
	cop    *http.CrossOriginProtection
}

// NewSessions validates cfg and returns the session helper.
func NewSessions(tokens SessionStore, cfg SessionConfig, log *slog.Logger) (*Sessions, error) {
	if tokens == nil {
		return nil, errors.New("auth sessions: a session store is required")
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
	if cfg.Idle == 0 {
		cfg.Idle = min(DefaultSessionIdle, cfg.MaxAge)
	}
	if cfg.Idle < time.Minute || cfg.Idle > cfg.MaxAge {
		return nil, fmt.Errorf("auth sessions: idle: %s is outside a minute..max_age (%s)", cfg.Idle, cfg.MaxAge)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if err := (&http.Cookie{Name: cfg.CookieName, Value: "x", Path: cfg.Path}).Valid(); err != nil {
		return nil, fmt.Errorf("auth sessions: cookie_name/path: %w", err)
	}
	return &Sessions{tokens: tokens, cfg: cfg, log: log, cop: http.NewCrossOriginProtection()}, nil
}

// SignIn checks token and, when it is valid, starts a session, sets its
// cookie and returns the principal. An invalid token wraps
// ErrInvalidToken and sets nothing.
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
	if old := s.sessionID(r); old != "" {
		// A new sign-in replaces the browser's session (no fixation).
		if err := s.tokens.DeleteWebSession(r.Context(), HashToken(old)); err != nil {
			return Principal{}, fmt.Errorf("sign in: end the previous session: %w", err)
		}
	}
	id := newSessionID()
	now := s.cfg.Now().UTC()
	err = s.tokens.CreateWebSession(r.Context(), access.WebSession{Hash: HashToken(id), TokenID: p.TokenID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.MaxAge)})
	if errors.Is(err, sqldb.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: revoked while signing in", ErrInvalidToken)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("sign in: %w", err)
	}
	http.SetCookie(w, s.cookie(id, int(s.cfg.MaxAge/time.Second)))
	s.log.Info("signed in", "name", p.Name, "role", p.Role, "token", p.TokenID, "remote", r.RemoteAddr)
	return p, nil
}

// SignOut ends the request's session on the server and clears the
// cookie.
func (s *Sessions) SignOut(w http.ResponseWriter, r *http.Request) {
	if id := s.sessionID(r); id != "" {
		if err := s.tokens.DeleteWebSession(r.Context(), HashToken(id)); err != nil {
			// The cookie is cleared anyway; the session ends at its limit.
			s.log.Error("sign out: session not deleted", "err", err)
		}
	}
	s.clear(w)
}

func (s *Sessions) clear(w http.ResponseWriter) { http.SetCookie(w, s.cookie("", -1)) }

func (s *Sessions) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: s.cfg.CookieName, Value: value, Path: s.cfg.Path, MaxAge: maxAge,
		HttpOnly: true, Secure: !s.cfg.Insecure, SameSite: http.SameSiteStrictMode,
	}
}

// sessionID returns the session cookie's id, "" when there is no
// well-formed one.
func (s *Sessions) sessionID(r *http.Request) string {
	c, err := r.Cookie(s.cfg.CookieName)
	if err != nil || !wellFormedSession(c.Value) {
		return ""
	}
	return c.Value
}

// Middleware recognises the signed-in user: a valid session cookie puts
// the Principal in the context (WithPrincipal); without one the request
// goes on without a principal (the UI shows its sign-in page), and a
// cookie whose session has ended (signed out, token revoked, idle or
// absolute limit passed) is cleared. A
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
		id := s.sessionID(r)
		if id == "" {
			if _, err := r.Cookie(s.cfg.CookieName); err == nil {
				s.clear(w) // an old token cookie, or garbage
			}
			next.ServeHTTP(w, r)
			return
		}
		p, err := s.session(r, id)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				s.log.Error("session check failed", "method", r.Method, "path", r.URL.Path, "err", err)
				httpjson.WriteError(w, http.StatusServiceUnavailable, httpjson.Error{Code: CodeUnavailable, Message: "credentials cannot be checked right now; retry later"})
				return
			}
			s.log.Info("session ended", "path", r.URL.Path, "reason", err)
			s.clear(w)
			next.ServeHTTP(w, r)
			return
		}
		if unsafe {
			if err := s.checkCSRF(r, id); err != nil {
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
		httpjson.WriteError(w, http.StatusRequestEntityTooLarge, httpjson.Error{Code: "too_large", Message: fmt.Sprintf("the request body exceeds %d bytes", tooBig.Limit)})
		return
	}
	s.log.Warn("cross-site request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
	httpjson.WriteError(w, http.StatusForbidden, httpjson.Error{Code: CodeCSRF, Message: err.Error(), Field: CSRFField})
}

// maxFormMemory is what a multipart form may hold in memory while the
// CSRF field is read; larger files spill to temporary files. Cap the body
// (http.MaxBytesReader) before this middleware.
const maxFormMemory = 32 << 20

func (s *Sessions) checkCSRF(r *http.Request, id string) error {
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
	if !hmac.Equal([]byte(got), []byte(csrfToken(id))) {
		return fmt.Errorf("%w: %s does not match the session", ErrCSRF, CSRFField)
	}
	return nil
}

// CSRFToken returns the CSRF token of the request's session, for a
// hidden form field named CSRFField (or the X-CSRF-Token header of a
// script's request); "" when the request has no session cookie.
func (s *Sessions) CSRFToken(r *http.Request) string {
	id := s.sessionID(r)
	if id == "" {
		return ""
	}
	return csrfToken(id)
}

func csrfToken(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte(csrfLabel))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
