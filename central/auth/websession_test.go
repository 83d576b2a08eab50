package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

// clock is a settable time for the session limits.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// failingSessions is a session store whose database is down.
type failingSessions struct{ failingTokens }

var errDown = errors.New("connection refused")

func (failingSessions) CreateWebSession(context.Context, access.WebSession) error { return errDown }
func (failingSessions) WebSessionByHash(context.Context, string) (access.WebSession, access.APIToken, error) {
	return access.WebSession{}, access.APIToken{}, errDown
}
func (failingSessions) TouchWebSession(context.Context, string, time.Time) error { return errDown }
func (failingSessions) DeleteWebSession(context.Context, string) error           { return errDown }

// getForm asks the web app's GET /form with cookie; 200 means signed in.
func getForm(t *testing.T, srv *httptest.Server, cookie *http.Cookie) *http.Response {
	t.Helper()
	req := newRequest(t, http.MethodGet, srv.URL+"/form", nil)
	req.AddCookie(cookie)
	return do(t, req)
}

// TestSessionCookieIsNotTheToken is finding 6's first half as an attack:
// the cookie a browser holds is no API token (not the token, and refused
// as a bearer token by the API), and the database holds only its hash.
func TestSessionCookieIsNotTheToken(t *testing.T) {
	s := openStore(t)
	tok, _ := issue(t, s, "carol", auth.RoleQA)
	srv, _ := webApp(t, s, auth.SessionConfig{})
	cookie := sessionCookie(t, signIn(t, srv, tok))
	require.NotContains(t, cookie.Value, tok[len(auth.TokenPrefix):])
	require.True(t, strings.HasPrefix(cookie.Value, auth.SessionPrefix), cookie.Value)
	require.Equal(t, http.StatusOK, getForm(t, srv, cookie).StatusCode)

	api := httptest.NewServer(auth.Middleware(s, testkit.Logger(t))(echo(t)))
	t.Cleanup(api.Close)
	req := newRequest(t, http.MethodGet, api.URL+"/x", nil)
	req.Header.Set("Authorization", "Bearer "+cookie.Value)
	resp := do(t, req)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a session id is no bearer token")
	require.Equal(t, auth.CodeUnauthorized, decodeError(t, resp).Code)

	_, _, err := s.WebSessionByHash(storetest.Context(t), cookie.Value)
	require.ErrorIs(t, err, sqldb.ErrNotFound, "the id itself is not stored")
	_, got, err := s.WebSessionByHash(storetest.Context(t), auth.HashToken(cookie.Value))
	require.NoError(t, err)
	require.Equal(t, "carol", got.Name)
}

// TestSessionEnds: the ways a session ends on the server, each replaying
// the cookie the browser had afterwards (the attack: a copied cookie).
func TestSessionEnds(t *testing.T) {
	const maxAge, idle = time.Hour, 20 * time.Minute
	cases := []struct {
		name string
		// end does what ends the session; steps of use before are allowed.
		end func(t *testing.T, s *store.Store, srv *httptest.Server, sess *auth.Sessions, clk *clock, cookie *http.Cookie, tokenID string)
	}{
		{"sign-out", func(t *testing.T, _ *store.Store, srv *httptest.Server, sess *auth.Sessions, _ *clock, cookie *http.Cookie, _ string) {
			req := newRequest(t, http.MethodPost, srv.URL+"/signout", nil)
			req.AddCookie(cookie)
			req.Header.Set(auth.CSRFHeader, sess.CSRFToken(req))
			require.Equal(t, http.StatusNoContent, do(t, req).StatusCode)
		}},
		{"absolute limit while in use", func(t *testing.T, _ *store.Store, srv *httptest.Server, _ *auth.Sessions, clk *clock, cookie *http.Cookie, _ string) {
			// Used every 15 minutes: never idle, still ends at max age.
			for range maxAge/(15*time.Minute) - 1 {
				clk.advance(15 * time.Minute)
				require.Equal(t, http.StatusOK, getForm(t, srv, cookie).StatusCode, "at %s", clk.Now())
			}
			clk.advance(15 * time.Minute)
		}},
		{"idle limit", func(t *testing.T, _ *store.Store, srv *httptest.Server, _ *auth.Sessions, clk *clock, cookie *http.Cookie, _ string) {
			clk.advance(idle - time.Minute)
			require.Equal(t, http.StatusOK, getForm(t, srv, cookie).StatusCode, "within the idle limit")
			clk.advance(idle)
		}},
		{"token revoked", func(t *testing.T, s *store.Store, _ *httptest.Server, _ *auth.Sessions, _ *clock, _ *http.Cookie, tokenID string) {
			require.NoError(t, s.RevokeAPIToken(storetest.Context(t), tokenID))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			tok, rec := issue(t, s, "erin", auth.RolePlanner)
			clk := &clock{t: time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)}
			srv, sess := webApp(t, s, auth.SessionConfig{MaxAge: maxAge, Idle: idle, Now: clk.Now})
			cookie := sessionCookie(t, signIn(t, srv, tok))
			require.Equal(t, http.StatusOK, getForm(t, srv, cookie).StatusCode)

			tc.end(t, s, srv, sess, clk, cookie, rec.ID)

			resp := getForm(t, srv, cookie)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the old cookie must not sign in")
			_, _, err := s.WebSessionByHash(storetest.Context(t), auth.HashToken(cookie.Value))
			require.ErrorIs(t, err, sqldb.ErrNotFound, "the session is gone from the database")
		})
	}
}

func TestSessionIdleConfig(t *testing.T) {
	s := openStore(t)
	_, err := auth.NewSessions(s, auth.SessionConfig{MaxAge: time.Hour, Idle: 2 * time.Hour}, testkit.Logger(t))
	require.ErrorContains(t, err, "idle")
	_, err = auth.NewSessions(s, auth.SessionConfig{Idle: time.Second}, testkit.Logger(t))
	require.ErrorContains(t, err, "idle")
}

// TestSignInReplacesSession: a browser that signs in again (a shared PC
// with a session left over) gets a new session id, and the old one ends.
func TestSignInReplacesSession(t *testing.T) {
	s := openStore(t)
	tok, _ := issue(t, s, "frank", auth.RoleQA)
	srv, sess := webApp(t, s, auth.SessionConfig{})
	old := sessionCookie(t, signIn(t, srv, tok))

	req := newRequest(t, http.MethodPost, srv.URL+"/signin", strings.NewReader("token="+tok))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(old)
	req.Header.Set(auth.CSRFHeader, sess.CSRFToken(req)) // a signed-in browser's post
	resp, err := (&http.Client{CheckRedirect: noRedirect}).Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	fresh := sessionCookie(t, resp)
	require.NotEqual(t, old.Value, fresh.Value)
	require.Equal(t, http.StatusUnauthorized, getForm(t, srv, old).StatusCode, "the old session ended")
	require.Equal(t, http.StatusOK, getForm(t, srv, fresh).StatusCode)
}
