package ui

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

// send makes a request with the given Host and Origin headers ("" = none)
// and returns the status and body.
func (r *rig) send(tb testing.TB, c *http.Client, method, path, host, origin, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	require.NoError(tb, err)
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, string(b)
}

func (r *rig) port(tb testing.TB) string {
	tb.Helper()
	_, p, err := net.SplitHostPort(r.srv.Listener.Addr().String())
	require.NoError(tb, err)
	return p
}

// TestDNSRebindingRefused is the attack of finding 4: a page on
// attacker.example, rebound to 127.0.0.1, sends Host and Origin both
// attacker.example:47103. Sign-in, actions (Stop included) and reading
// the state are refused; nothing reaches the line.
func TestDNSRebindingRefused(t *testing.T) {
	r := newRig(t, Config{})
	c := r.client(t)
	r.signIn(t, c, pinAna) // the real screen's session, in the jar
	const evil = "attacker.example:47103"
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, "/ui/signin", `{"pin":"` + pinAna + `"}`},
		{http.MethodPost, "/ui/start", `{"order":"WO-1"}`},
		{http.MethodPost, "/ui/stop", `{}`},
		{http.MethodGet, "/ui/state", ``},
		{http.MethodGet, "/", ``},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			code, body := r.send(t, c, tc.method, tc.path, evil, "http://"+evil, tc.body)
			require.Equal(t, http.StatusMisdirectedRequest, code, body)
			require.Contains(t, body, `host \"attacker.example:47103\": not a name of this touchscreen`)
			require.Contains(t, body, "ui.hosts")
		})
	}
	require.Empty(t, r.line.Calls(), "no call may reach the line")
	require.Len(t, r.rec.Actions(), 1, "only the real sign-in")
}

// TestHostsDefault: with no ui.hosts the loopback names and the listen
// address, on the port the screen listens on, are accepted; other names
// and ports are not. An action's Origin is compared with those names,
// not with the request's Host.
func TestHostsDefault(t *testing.T) {
	r := newRig(t, Config{})
	c := r.client(t)
	p := r.port(t)
	for _, tc := range []struct {
		host, origin string
		code         int
	}{
		{"127.0.0.1:" + p, "", http.StatusOK},
		{"localhost:" + p, "http://localhost:" + p, http.StatusOK},
		{"LocalHost:" + p, "", http.StatusOK},
		{"[::1]:" + p, "http://[::1]:" + p, http.StatusOK},
		{"127.0.0.1:" + p, "http://localhost:" + p, http.StatusOK}, // both the screen's names
		{"localhost:1", "", http.StatusMisdirectedRequest},
		{"localhost", "", http.StatusMisdirectedRequest}, // port 80, not the screen's
		{"localhost.attacker.example:" + p, "", http.StatusMisdirectedRequest},
		{"127.0.0.1:" + p, "http://attacker.example:" + p, http.StatusForbidden},
		{"127.0.0.1:" + p, "http://localhost:1", http.StatusForbidden},
		{"127.0.0.1:" + p, "null", http.StatusForbidden},
		{"127.0.0.1:" + p, "http://localhost:" + p + "/path", http.StatusForbidden},
	} {
		t.Run(tc.host+" "+tc.origin, func(t *testing.T) {
			code, body := r.send(t, c, http.MethodPost, "/ui/stop", tc.host, tc.origin, `{}`)
			require.Equal(t, tc.code, code, body)
		})
	}
	require.Len(t, r.line.Calls(), 5)
}

// TestHostsConfigured: ui.hosts replaces the defaults; a name without a
// port takes the screen's.
func TestHostsConfigured(t *testing.T) {
	r := newRig(t, Config{Hosts: []string{"line1-hmi", "10.1.2.3:8443"}})
	c := r.client(t)
	p := r.port(t)
	for _, tc := range []struct {
		host string
		code int
	}{
		{"line1-hmi:" + p, http.StatusOK},
		{"LINE1-HMI:" + p, http.StatusOK},
		{"10.1.2.3:8443", http.StatusOK},
		{"line1-hmi:1", http.StatusMisdirectedRequest},
		{"10.1.2.3:" + p, http.StatusMisdirectedRequest},
		{"127.0.0.1:" + p, http.StatusMisdirectedRequest},
	} {
		t.Run(tc.host, func(t *testing.T) {
			code, body := r.send(t, c, http.MethodGet, "/ui/state", tc.host, "", "")
			require.Equal(t, tc.code, code, body)
		})
	}
	code, body := r.send(t, c, http.MethodPost, "/ui/stop", "line1-hmi:"+p, "http://10.1.2.3:8443", `{}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = r.send(t, c, http.MethodPost, "/ui/stop", "line1-hmi:"+p, "http://127.0.0.1:"+p, `{}`)
	require.Equal(t, http.StatusForbidden, code, body)
}

func TestHostsConfigRefused(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"", "ui: hosts[0]: \"\": empty"},
		{"http://line1", "no scheme or path"},
		{"line1/ui", "no scheme or path"},
		{"line1:0", `port "0": must be 1-65535`},
		{"line1:http", `port "http": must be 1-65535`},
		{"line 1", `host "line 1": letters, digits`},
		{"line_1", `host "line_1": letters, digits`},
	} {
		t.Run(tc.host, func(t *testing.T) {
			_, err := New(Config{Hosts: []string{tc.host}}, newFakeLine(), testOperators(t), nil, testkit.Discard())
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := New(Config{Hosts: []string{"line1", "[fe80::1]:8081", "10.0.0.7"}}, newFakeLine(), testOperators(t), nil, testkit.Discard())
	require.NoError(t, err)
}
