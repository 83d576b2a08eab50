package agent_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/internal/testcentral"
)

// limitedAgent runs an agent (touchscreen mounted) on a simulated line
// with short HTTP server limits; it returns the HTTP address.
func limitedAgent(tb testing.TB, hs agent.HTTPServerConfig) string {
	tb.Helper()
	lineID := testcentral.LineID("http")
	l, lcfg := startLine(tb, lineID, 10, 600)
	cfg := agentConfig(tb, lineID, l, lcfg, testcentral.Mosquitto)
	cfg.HTTPServer = hs
	require.NoError(tb, cfg.Validate())
	return runAgent(tb, cfg).HTTPAddr()
}

// closedWithin reads from c until the server closes it and returns how
// long that took; the test fails if the server keeps it open for limit.
func closedWithin(tb testing.TB, c net.Conn, limit time.Duration) (time.Duration, string) {
	tb.Helper()
	start := time.Now()
	require.NoError(tb, c.SetReadDeadline(start.Add(limit)))
	b, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		tb.Fatalf("the server held the connection open for %v (read %q)", limit, b)
	}
	return time.Since(start), string(b)
}

// TestHTTPServerCutsSlowAndIdleClients is the attack of finding 8 on the
// edge: a sign-in whose body trickles in is cut after read_timeout, an
// idle keep-alive connection is closed after idle_timeout, and a
// connection beyond max_connections is answered 503 at once.
func TestHTTPServerCutsSlowAndIdleClients(t *testing.T) {
	hs := agent.HTTPServerConfig{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond,
		WriteTimeout: 2 * time.Second, IdleTimeout: 500 * time.Millisecond, MaxConnections: 3}
	addr := limitedAgent(t, hs)

	t.Run("slow sign-in body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		start := time.Now()
		_, err = fmt.Fprintf(c, "POST /ui/signin HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"pin\":", addr)
		require.NoError(t, err)
		go func() { // a byte every 50 ms, until the server hangs up
			tk := time.NewTicker(50 * time.Millisecond)
			defer tk.Stop()
			for range tk.C {
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
		_, answer := closedWithin(t, c, 5*time.Second)
		took := time.Since(start)
		require.GreaterOrEqual(t, took, hs.ReadTimeout-100*time.Millisecond, "cut before read_timeout")
		require.Less(t, took, hs.ReadTimeout+2*time.Second)
		if answer != "" { // the screen answers the cut body with a 400 naming the field
			require.True(t, strings.HasPrefix(answer, "HTTP/1.1 400"), answer)
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = fmt.Fprintf(c, "GET /api/v1/state HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		require.NoError(t, err)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.False(t, resp.Close, "a keep-alive answer")
		start := time.Now()
		require.NoError(t, c.SetReadDeadline(start.Add(5*time.Second)))
		_, err = br.ReadByte()
		require.ErrorIs(t, err, io.EOF, "the idle connection was not closed")
		require.GreaterOrEqual(t, time.Since(start), hs.IdleTimeout-100*time.Millisecond)
	})

	t.Run("connection limit", func(t *testing.T) {
		var open []net.Conn
		for range hs.MaxConnections {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer c.Close()
			open = append(open, c)
		}
		extra, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer extra.Close()
		took, answer := closedWithin(t, extra, 5*time.Second)
		require.True(t, strings.HasPrefix(answer, "HTTP/1.1 503 "), answer)
		require.Contains(t, answer, "http_server.max_connections")
		require.Less(t, took, hs.ReadHeaderTimeout, "refused at once, not left waiting")
		// The silent ones are closed after read_header_timeout, which
		// frees their places.
		for _, c := range open {
			closedWithin(t, c, 5*time.Second)
		}
		require.Eventually(t, func() bool {
			resp, err := http.Get("http://" + addr + "/api/v1/state")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 5*time.Second, 20*time.Millisecond)
	})
}

func TestHTTPServerConfigNamesTheKey(t *testing.T) {
	good := agent.DefaultHTTPServer()
	require.NoError(t, good.Validate())
	for _, tc := range []struct {
		name string
		mod  func(*agent.HTTPServerConfig)
		want string
	}{
		{"read", func(c *agent.HTTPServerConfig) { c.ReadTimeout = 0 }, "http_server.read_timeout: must be positive"},
		{"write", func(c *agent.HTTPServerConfig) { c.WriteTimeout = -time.Second }, "http_server.write_timeout: must be positive"},
		{"idle", func(c *agent.HTTPServerConfig) { c.IdleTimeout = 0 }, "http_server.idle_timeout: must be positive"},
		{"header", func(c *agent.HTTPServerConfig) { c.ReadHeaderTimeout = 0 }, "http_server.read_header_timeout: must be positive"},
		{"header > read", func(c *agent.HTTPServerConfig) { c.ReadHeaderTimeout = time.Minute }, "must not exceed read_timeout"},
		{"conns", func(c *agent.HTTPServerConfig) { c.MaxConnections = 0 }, "http_server.max_connections: must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			require.ErrorContains(t, c.Validate(), tc.want)
		})
	}
	_, err := agent.ParseConfig(strings.NewReader("http_server:\n  read_timout: 5s\n"))
	require.ErrorContains(t, err, `unknown key "http_server.read_timout"`)
	_, err = agent.ParseConfig(strings.NewReader("http_server:\n  idle_timeout: 0s\n"))
	require.ErrorContains(t, err, "http_server.idle_timeout")
	_, err = agent.ParseConfig(strings.NewReader("ui:\n  hosts: [\"http://line1\"]\n"))
	require.ErrorContains(t, err, "ui.hosts[0]")
	_, err = agent.ParseConfig(strings.NewReader("ui:\n  max_pin_failures_global: -1\n"))
	require.ErrorContains(t, err, "ui.max_pin_failures_global")
}
