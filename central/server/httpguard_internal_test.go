package server

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDownloadsOutliveTheWriteTimeout: a CSV download that keeps going
// longer than the write timeout completes (each write moves the deadline
// on); any other answer taking as long is cut off.
func TestDownloadsOutliveTheWriteTimeout(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	s := &Server{log: slog.New(slog.DiscardHandler)}
	s.cfg.HTTP.WriteTimeout = writeTimeout
	// A slow producer, as a recall CSV read from a busy database: the
	// pauses are the workload, not a wait of the test.
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 8 {
			_, _ = io.WriteString(w, "row,of,a,long,download\n")
			_ = http.NewResponseController(w).Flush()
			time.Sleep(writeTimeout / 3)
		}
	})
	srv := httptest.NewUnstartedServer(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv.Listener = ln
	srv.Config.Handler = s.guard(allowedHosts(nil, ln.Addr()), slow)
	srv.Config.WriteTimeout = writeTimeout
	srv.Start()
	t.Cleanup(srv.Close)

	get := func(path string) (string, error) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	body, err := get("/recalls/R1/units.csv")
	require.NoError(t, err)
	require.Len(t, body, 8*len("row,of,a,long,download\n"))

	_, err = get("/lines")
	require.Error(t, err, "an answer that is no download is bound by the write timeout")
}

func TestHTTPGuardDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	require.NoError(t, c.Validate())
	require.Equal(t, DefaultHTTPReadTimeout, c.HTTP.ReadTimeout)
	require.Equal(t, DefaultHTTPWriteTimeout, c.HTTP.WriteTimeout)
	require.Equal(t, DefaultHTTPIdleTimeout, c.HTTP.IdleTimeout)
	require.Equal(t, DefaultHTTPMaxConnections, c.HTTP.MaxConnections)
	require.Equal(t, 10*time.Second, c.HTTP.ReadHeaderTimeout)

	// A short read timeout takes the header timeout down with it.
	c = Config{HTTP: HTTPConfig{ReadTimeout: 5 * time.Second}}.WithDefaults()
	require.NoError(t, c.Validate())
	require.Equal(t, 5*time.Second, c.HTTP.ReadHeaderTimeout)
}

func TestAllowedHosts(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	def := allowedHosts(nil, addr)
	for host, ok := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:8080": true, "LOCALHOST:8080": true, "[::1]:8080": true,
		"127.0.0.1:8081": false, "localhost": false, "attacker.example:8080": false, "": false,
	} {
		require.Equal(t, ok, def.allows(host), "default hosts, %q", host)
	}
	conf := allowedHosts([]string{"central.plant.example", "10.0.0.5:8443"}, addr)
	for host, ok := range map[string]bool{
		"central.plant.example": true, "central.plant.example:443": true, "Central.Plant.Example:8443": true,
		"10.0.0.5:8443": true, "10.0.0.5": false, "10.0.0.5:80": false, "127.0.0.1:8080": false,
		"central.plant.example.attacker.example": false,
	} {
		require.Equal(t, ok, conf.allows(host), "configured hosts, %q", host)
	}
}
