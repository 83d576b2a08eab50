package auth_test

import (
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

// webApp is a minimal web UI on the session helper: POST /signin with a
// token, GET /form shows the CSRF token, POST /form changes something.
func webApp(t *testing.T, s *store.Store, cfg auth.SessionConfig) (*httptest.Server, *auth.Sessions) {
	t.Helper()
	sess, err := auth.NewSessions(s, cfg, testkit.Logger(t))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
		if _, err := sess.SignIn(w, r, r.PostFormValue("token")); err != nil {
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("sign in: %v, want ErrInvalidToken", err)
			}
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, "/form", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /signout", func(w http.ResponseWriter, r *http.Request) {
		sess.SignOut(w, r)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.PrincipalFrom(r.Context())
		if !ok {
			http.Error(w, "sign in", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(string(p.Role) + " " + sess.CSRFToken(r)))
	})
	mux.HandleFunc("POST /form", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := auth.PrincipalFrom(r.Context()); !ok {
			http.Error(w, "sign in", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(sess.Middleware(mux))
	t.Cleanup(srv.Close)
	return srv, sess
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func signIn(t *testing.T, srv *httptest.Server, token string) *http.Response {
	t.Helper()
	req := newRequest(t, http.MethodPost, srv.URL+"/signin", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := &http.Client{CheckRedirect: noRedirect}
	resp, err := c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == auth.DefaultCookieName {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", auth.DefaultCookieName, resp.Header["Set-Cookie"])
	return nil
}

func TestSessionCookie(t *testing.T) {
	s := openStore(t)
	tok, _ := issue(t, s, "carol", auth.RoleQA)
	srv, _ := webApp(t, s, auth.SessionConfig{})

	resp := signIn(t, srv, tok)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	c := sessionCookie(t, resp)
	require.True(t, c.HttpOnly, "scripts must not read the token")
	require.True(t, c.Secure)
	require.Equal(t, http.SameSiteStrictMode, c.SameSite)
	require.Equal(t, "/", c.Path)
	require.Equal(t, int(auth.DefaultSessionAge/time.Second), c.MaxAge)

	t.Run("bad token sets no cookie", func(t *testing.T) {
		resp := signIn(t, srv, "slt_nope")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Empty(t, resp.Cookies())
	})
	t.Run("insecure for plain-HTTP development", func(t *testing.T) {
		srv2, _ := webApp(t, s, auth.SessionConfig{Insecure: true, MaxAge: time.Hour, CookieName: "dev"})
		resp := signIn(t, srv2, tok)
		require.Len(t, resp.Cookies(), 1)
		c := resp.Cookies()[0]
		require.Equal(t, "dev", c.Name)
		require.False(t, c.Secure)
		require.Equal(t, 3600, c.MaxAge)
	})
}

// TestPartnerHasNoWebSession: a partner token cannot sign in to the web
// UI, and a cookie carrying one (set by hand) gives no principal.
func TestPartnerHasNoWebSession(t *testing.T) {
	s := openStore(t)
	require.NoError(t, s.PutPartner(storetest.Context(t), master.Partner{GLN: "9506000000022", Name: "Acme Wholesale"}))
	tok, _, err := auth.IssuePartnerToken(storetest.Context(t), s, "acme-edi", "9506000000022")
	require.NoError(t, err)
	srv, _ := webApp(t, s, auth.SessionConfig{})
	resp := signIn(t, srv, tok)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Empty(t, resp.Cookies())

	req := newRequest(t, http.MethodGet, srv.URL+"/form", nil)
	req.AddCookie(&http.Cookie{Name: auth.DefaultCookieName, Value: tok})
	resp = do(t, req)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no principal from a partner's cookie")
}

func TestSessionConfigValidated(t *testing.T) {
	s := openStore(t)
	_, err := auth.NewSessions(s, auth.SessionConfig{MaxAge: time.Second}, testkit.Logger(t))
	require.ErrorContains(t, err, "max_age")
	_, err = auth.NewSessions(s, auth.SessionConfig{CookieName: "a b"}, testkit.Logger(t))
	require.ErrorContains(t, err, "cookie_name")
	_, err = auth.NewSessions(nil, auth.SessionConfig{}, testkit.Logger(t))
	require.Error(t, err)
}

func TestSessionCSRF(t *testing.T) {
	s := openStore(t)
	tok, rec := issue(t, s, "carol", auth.RoleQA)
	srv, _ := webApp(t, s, auth.SessionConfig{})
	cookie := sessionCookie(t, signIn(t, srv, tok))

	get := newRequest(t, http.MethodGet, srv.URL+"/form", nil)
	get.AddCookie(cookie)
	resp := do(t, get)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body := readAll(t, resp)
	role, csrf, _ := strings.Cut(body, " ")
	require.Equal(t, "qa", role)
	require.Len(t, csrf, 43)
	require.NotContains(t, tok, csrf)

	post := func(t *testing.T, form url.Values, header map[string]string) *http.Response {
		req := newRequest(t, http.MethodPost, srv.URL+"/form", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		return do(t, req)
	}
	cases := []struct {
		name   string
		form   url.Values
		header map[string]string
		status int
	}{
		{"form field", url.Values{auth.CSRFField: {csrf}}, nil, http.StatusNoContent},
		{"header", nil, map[string]string{auth.CSRFHeader: csrf}, http.StatusNoContent},
		{"same-origin browser", url.Values{auth.CSRFField: {csrf}}, map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusNoContent},
		{"missing", url.Values{"x": {"1"}}, nil, http.StatusForbidden},
		{"wrong", url.Values{auth.CSRFField: {strings.Repeat("A", 43)}}, nil, http.StatusForbidden},
		{"cross-site browser", url.Values{auth.CSRFField: {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"foreign origin", url.Values{auth.CSRFField: {csrf}}, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, tc.form, tc.header)
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.status == http.StatusForbidden {
				e := decodeError(t, resp)
				require.Equal(t, auth.CodeCSRF, e.Code)
				require.Equal(t, auth.CSRFField, e.Field)
			}
		})
	}

	t.Run("revoked token ends the session", func(t *testing.T) {
		require.NoError(t, s.RevokeAPIToken(storetest.Context(t), rec.ID))
		get := newRequest(t, http.MethodGet, srv.URL+"/form", nil)
		get.AddCookie(cookie)
		resp := do(t, get)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		c := sessionCookie(t, resp)
		require.Empty(t, c.Value)
		require.Negative(t, c.MaxAge, "the stale cookie is deleted")
	})
}

// TestSessionCSRFMultipart reads the CSRF field of a file upload, and
// answers an oversized one with 413.
func TestSessionCSRFMultipart(t *testing.T) {
	s := openStore(t)
	tok, _ := issue(t, s, "carol", auth.RolePlanner)
	sess, err := auth.NewSessions(s, auth.SessionConfig{}, testkit.Logger(t))
	require.NoError(t, err)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, signedIn := auth.PrincipalFrom(r.Context()); !signedIn {
			t.Error("no principal")
		}
		w.WriteHeader(http.StatusNoContent)
	})
	capped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1024)
		sess.Middleware(ok).ServeHTTP(w, r)
	})
	srv := httptest.NewServer(capped)
	t.Cleanup(srv.Close)
	signedIn := httptest.NewRecorder()
	_, err = sess.SignIn(signedIn, httptest.NewRequest(http.MethodPost, "/signin", nil), tok)
	require.NoError(t, err)
	cookie := signedIn.Result().Cookies()[0]
	csrf := sess.CSRFToken(func() *http.Request { r := httptest.NewRequest("GET", "/", nil); r.AddCookie(cookie); return r }())

	upload := func(t *testing.T, csrfValue string, size int) *http.Response {
		var body strings.Builder
		mw := multipart.NewWriter(&body)
		require.NoError(t, mw.WriteField(auth.CSRFField, csrfValue))
		fw, err := mw.CreateFormFile("file", "serials.csv")
		require.NoError(t, err)
		_, err = fw.Write([]byte(strings.Repeat("S\n", size)))
		require.NoError(t, err)
		require.NoError(t, mw.Close())
		req := newRequest(t, http.MethodPost, srv.URL, strings.NewReader(body.String()))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.AddCookie(cookie)
		return do(t, req)
	}
	require.Equal(t, http.StatusNoContent, upload(t, csrf, 10).StatusCode)
	resp := upload(t, "nope", 10)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Equal(t, auth.CodeCSRF, decodeError(t, resp).Code)
	resp = upload(t, csrf, 2000)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Equal(t, "too_large", decodeError(t, resp).Code)
}

func TestSignOut(t *testing.T) {
	s := openStore(t)
	tok, _ := issue(t, s, "dave", auth.RoleOperator)
	srv, sess := webApp(t, s, auth.SessionConfig{})
	cookie := sessionCookie(t, signIn(t, srv, tok))

	req := newRequest(t, http.MethodPost, srv.URL+"/signout", nil)
	req.AddCookie(cookie)
	req.Header.Set(auth.CSRFHeader, sess.CSRFToken(req))
	resp := do(t, req)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	c := sessionCookie(t, resp)
	require.Empty(t, c.Value)
	require.Negative(t, c.MaxAge)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestSessionStoreDown(t *testing.T) {
	sess, err := auth.NewSessions(failingSessions{}, auth.SessionConfig{}, testkit.Logger(t))
	require.NoError(t, err)
	h := sess.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("must not be reached")
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: auth.DefaultCookieName, Value: auth.SessionPrefix + strings.Repeat("A", 43)})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
}
