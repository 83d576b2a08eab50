package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startGuarded runs central on SQLite with the http keys given (YAML
// lines under http:) and returns it with its bootstrap admin token.
func startGuarded(t *testing.T, httpKeys ...string) (*running, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := "http:\n"
	for _, k := range httpKeys {
		cfg += "  " + k + "\n"
	}
	cfgPath := filepath.Join(dir, "central.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	r := startMain(t, nil, "serve", "--config", cfgPath, "--http", "127.0.0.1:0",
		"--db", "sqlite:"+filepath.Join(dir, "central.db"), "--mqtt", "embedded:127.0.0.1:0")
	tokens := tokenRE.FindAllString(r.out.String(), -1)
	require.Len(t, tokens, 1, r.out.String())
	return r, tokens[0]
}

// rawConn is a TCP connection to central that speaks HTTP by hand, so a
// test can send half a request or keep a connection idle.
func rawConn(t *testing.T, r *running) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", r.srv.HTTPAddr(), waitFor)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

// awaitClose reads until central closes the connection and returns how
// long that took; a connection still open after waitFor fails the test.
func awaitClose(t *testing.T, c net.Conn, br *bufio.Reader) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, c.SetReadDeadline(start.Add(waitFor)))
	_, err := io.Copy(io.Discard, br)
	require.NoError(t, err, "central must close the connection, not hold it")
	return time.Since(start)
}

func healthz(t *testing.T, c net.Conn, br *bufio.Reader, host string) *http.Response {
	t.Helper()
	_, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", host)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp
}

// TestSlowSignInBodyIsCut is finding 8's attack: an unauthenticated
// client announces a sign-in form and sends it a byte at a time (here:
// not at all). Central closes the connection at the read timeout.
func TestSlowSignInBodyIsCut(t *testing.T) {
	const readTimeout = 400 * time.Millisecond
	r, _ := startGuarded(t, "read_timeout: "+readTimeout.String())
	c, br := rawConn(t, r)
	sent := time.Now()
	_, err := fmt.Fprintf(c, "POST /signin HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntoken=slt_", r.srv.HTTPAddr())
	require.NoError(t, err)
	awaitClose(t, c, br)
	require.GreaterOrEqual(t, time.Since(sent), readTimeout-50*time.Millisecond, "not before the read timeout")
}

// TestIdleConnectionIsClosed: a keep-alive connection left idle after an
// answer is closed at the idle timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	r, _ := startGuarded(t, "idle_timeout: 300ms")
	c, br := rawConn(t, r)
	healthz(t, c, br, r.srv.HTTPAddr())
	awaitClose(t, c, br)
}

// TestConnectionLimit: with max_connections 2 and two connections held
// open, a third is not served until one of them closes.
func TestConnectionLimit(t *testing.T) {
	r, _ := startGuarded(t, "max_connections: 2")
	host := r.srv.HTTPAddr()
	a, abr := rawConn(t, r)
	healthz(t, a, abr, host)
	b, bbr := rawConn(t, r)
	healthz(t, b, bbr, host)

	c, cbr := rawConn(t, r)
	_, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", host)
	require.NoError(t, err)
	// Nothing can be awaited here: the point is that nothing comes.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(500*time.Millisecond)))
	_, err = cbr.Peek(1)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "the third connection must wait, got %v", err)

	require.NoError(t, a.Close())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
	resp, err := http.ReadResponse(cbr, nil)
	require.NoError(t, err, "served once a connection is free")
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_ = b
}

// signInAs posts the sign-in form with the given Host and Origin.
func signInAs(t *testing.T, r *running, token, host, origin string) *http.Response {
	t.Helper()
	form := url.Values{"token": {token}, "next": {"/lines"}}.Encode()
	req, err := http.NewRequest(http.MethodPost, "http://"+r.srv.HTTPAddr()+"/signin", strings.NewReader(form))
	require.NoError(t, err)
	req.Host = host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp
}

// TestHostCheck is the DNS-rebinding attack (finding 4, on central): a
// page of attacker.example, whose name now resolves to central, posts the
// sign-in form with Host and Origin both attacker.example:47103.
func TestHostCheck(t *testing.T) {
	r, admin := startGuarded(t)
	own := r.srv.HTTPAddr()
	_, port, _ := net.SplitHostPort(own)
	cases := []struct {
		name, host, origin string
		status             int
	}{
		{"rebinding: host and origin the attacker's", "attacker.example:47103", "http://attacker.example:47103", http.StatusMisdirectedRequest},
		{"host the attacker's", "attacker.example:47103", "", http.StatusMisdirectedRequest},
		{"own host, attacker's origin", own, "http://attacker.example:47103", http.StatusForbidden},
		{"own host, origin on another port", own, "http://127.0.0.1:1", http.StatusForbidden},
		{"own host", own, "http://" + own, http.StatusSeeOther},
		{"localhost", "localhost:" + port, "http://localhost:" + port, http.StatusSeeOther},
		{"no origin (not a browser)", own, "", http.StatusSeeOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := signInAs(t, r, admin, tc.host, tc.origin)
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.status != http.StatusSeeOther {
				require.Empty(t, resp.Cookies(), "no session for a refused request")
			}
		})
	}
	t.Run("the API too", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, "http://"+own+"/api/v1/me", nil)
		require.NoError(t, err)
		req.Host = "attacker.example:47103"
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)
		require.Contains(t, string(b), "http.hosts")
	})
}

// TestConfiguredHosts: with http.hosts set, only those names are served.
func TestConfiguredHosts(t *testing.T) {
	r, admin := startGuarded(t, "hosts: [central.plant.example, '10.0.0.5:8080']")
	require.Equal(t, http.StatusSeeOther, signInAs(t, r, admin, "central.plant.example:8443", "https://central.plant.example:8443").StatusCode)
	require.Equal(t, http.StatusSeeOther, signInAs(t, r, admin, "10.0.0.5:8080", "").StatusCode)
	require.Equal(t, http.StatusMisdirectedRequest, signInAs(t, r, admin, "10.0.0.5:8081", "").StatusCode)
	require.Equal(t, http.StatusMisdirectedRequest, signInAs(t, r, admin, r.srv.HTTPAddr(), "").StatusCode, "the listen address is not among them")
}

// TestSecurityHeaders: every answer of central carries them: a page, a
// static file, an API answer, a refusal.
func TestSecurityHeaders(t *testing.T) {
	r, admin := startGuarded(t)
	base := "http://" + r.srv.HTTPAddr()
	for _, tc := range []struct{ name, path, token, host string }{
		{"page", "/signin", "", ""},
		{"static file", "/static/style.css", "", ""},
		{"script", "/static/live.js", "", ""},
		{"API", "/api/v1/me", admin, ""},
		{"API error", "/api/v1/me", "", ""},
		{"EPCIS", "/epcis/events", admin, ""},
		{"wrong host", "/signin", "", "attacker.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, base+tc.path, nil)
			require.NoError(t, err)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			h := resp.Header
			csp := h.Get("Content-Security-Policy")
			for _, d := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
				require.Contains(t, csp, d)
			}
			require.NotContains(t, csp, "unsafe-inline")
			require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
			require.Equal(t, "same-origin", h.Get("Referrer-Policy"))
			require.Equal(t, "DENY", h.Get("X-Frame-Options"))
		})
	}
}
