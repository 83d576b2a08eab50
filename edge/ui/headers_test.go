package ui

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/internal/testkit"
)

// TestSecurityHeaders: every answer of the screen — the page, a static
// file, the state JSON, the event stream and a refusal — carries each
// security header.
func TestSecurityHeaders(t *testing.T) {
	r := newRig(t, Config{})
	headers := []struct{ name, want string }{
		{"Content-Security-Policy", "default-src 'self'"},
		{"Content-Security-Policy", "script-src 'self';"},
		{"Content-Security-Policy", "frame-ancestors 'none'"},
		{"Content-Security-Policy", "object-src 'none'"},
		{"X-Content-Type-Options", "nosniff"},
		{"Referrer-Policy", "no-referrer"},
		{"X-Frame-Options", "DENY"},
	}
	for _, p := range []struct{ name, path, host string }{
		{"page", "/", ""},
		{"static", "/ui/static/app.js", ""},
		{"state", "/ui/state", ""},
		{"events", "/ui/events", ""},
		{"refused host", "/ui/state", "attacker.example"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.srv.URL+p.path, nil)
		require.NoError(t, err)
		if p.host != "" {
			req.Host = p.host
		}
		resp, err := http.DefaultClient.Do(req) // the stream's headers come at once
		require.NoError(t, err)
		cancel()
		resp.Body.Close()
		for _, h := range headers {
			t.Run(p.name+" "+h.name+" "+h.want, func(t *testing.T) {
				require.Contains(t, resp.Header.Get(h.name), h.want)
			})
		}
		if p.host == "" {
			require.Equal(t, http.StatusOK, resp.StatusCode, p.path)
		}
	}
	t.Run("no inline script", func(t *testing.T) {
		csp := headers[0]
		resp, err := http.Get(r.srv.URL + "/")
		require.NoError(t, err)
		defer resp.Body.Close()
		v := resp.Header.Get(csp.name)
		require.NotContains(t, v, "unsafe-inline")
		require.NotContains(t, v, "unsafe-eval")
		page, err := assets.ReadFile("assets/index.html")
		require.NoError(t, err)
		for _, bad := range []string{"<script>", " onclick=", " onload=", " style=", "<style", "javascript:"} {
			require.NotContains(t, strings.ToLower(string(page)), bad, "the page must not need inline script or style")
		}
	})
}

// TestEventStreamOutlivesServerTimeouts: on the agent's server with its
// read and write timeouts (agent.NewHTTPServer), the event stream goes on
// past both, as it extends its own write deadline; a state request is
// still answered.
func TestEventStreamOutlivesServerTimeouts(t *testing.T) {
	r := newRig(t, Config{Heartbeat: 20 * time.Millisecond})
	sc := agent.HTTPServerConfig{ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond,
		WriteTimeout: 150 * time.Millisecond, IdleTimeout: time.Second, MaxConnections: 8}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv, ln := agent.NewHTTPServer(sc, r.stream, ln, testkit.Discard())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "http://" + ln.Addr().String()

	resp, err := http.Get(url + "/ui/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	start := time.Now()
	sc2 := bufio.NewScanner(resp.Body)
	beats := 0
	for sc2.Scan() && time.Since(start) < 600*time.Millisecond {
		if sc2.Text() == "event: heartbeat" {
			beats++
		}
	}
	require.NoError(t, sc2.Err(), "the stream was cut after %v (%d heartbeats)", time.Since(start), beats)
	require.GreaterOrEqual(t, time.Since(start), 600*time.Millisecond, "the stream ended after %d heartbeats", beats)
	require.Greater(t, beats, 5)
}
