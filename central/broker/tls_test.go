package broker

import (
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/pki"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/tlsfiles"
)

// withTLS has the client dial TLS with cfg instead of plain TCP.
func withTLS(cfg *tls.Config) clientOpt {
	return func(o *paho.ClientOptions) {
		o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			return tls.DialWithDialer(&net.Dialer{Timeout: waitFor}, "tcp", u.Host, cfg)
		})
	}
}

// tlsSetup makes a CA, a server certificate for 127.0.0.1 and client
// certificates for L1 and L2, and returns the broker's TLS configuration
// (requiring client certificates) and a client configuration per name
// ("" = none).
func tlsSetup(tb testing.TB) (server *tls.Config, clients map[string]*tls.Config) {
	tb.Helper()
	dir := tb.TempDir()
	_, err := pki.Make(pki.Options{Dir: dir, Hosts: []string{"127.0.0.1"}, Clients: []string{"L1", "L2"}})
	require.NoError(tb, err)
	ca := filepath.Join(dir, pki.CACert)
	server, err = tlsfiles.Server(filepath.Join(dir, pki.ServerCert), filepath.Join(dir, pki.ServerKey), ca)
	require.NoError(tb, err)
	clients = map[string]*tls.Config{}
	clients[""], err = tlsfiles.Client(ca, "", "")
	require.NoError(tb, err)
	for _, n := range []string{"L1", "L2"} {
		clients[n], err = tlsfiles.Client(ca, pki.ClientCert(dir, n), pki.ClientKey(dir, n))
		require.NoError(tb, err)
	}
	return server, clients
}

// TestTLSListener: the TLS listener admits a line only with its own
// client certificate (common name = username) and its password, refuses
// plain MQTT, and is under the same limits as the plain listener.
func TestTLSListener(t *testing.T) {
	srvTLS, clients := tlsSetup(t)
	b, sink, reg, _ := startLimited(t, func(c *Config) {
		c.TLSListen, c.TLS = "127.0.0.1:0", srvTLS
		c.MaxUnauthenticated, c.MaxPacketSize = 2, minPacketSize
	})
	addr := b.TLSAddr()
	require.NotEmpty(t, addr)
	require.NotEqual(t, b.Addr(), addr)
	lines := testLines()

	// The line with its own certificate and password.
	l1 := mustDial(t, addr, "edge-L1", "L1", lines["L1"], withTLS(clients["L1"]))
	l1.publish(t, topic("L1", "status"), "up", false)

	// The attack: L2's certificate (a valid one of the plant's CA) used to
	// log in as L1, with L1's password.
	_, err := dial(t, addr, "edge-L1-b", "L1", lines["L1"], withTLS(clients["L2"]))
	require.True(t, refused(err), "L2's certificate as L1: %v", err)
	sink.await(t, "mqtt connect refused", "reason", `client certificate is for "L2", not for username "L1"`)
	require.Equal(t, 1.0, metricValue(t, reg, `serialine_mqtt_connections_refused_total{reason="client_certificate"}`))

	// No client certificate: the handshake fails, the password is never asked.
	_, err = dial(t, addr, "edge-L2-nocert", "L2", lines["L2"], withTLS(clients[""]))
	require.Error(t, err, "no client certificate")
	require.False(t, refused(err), "refused by the handshake, before any CONNACK: %v", err)

	// Plain MQTT to the TLS port: no CONNACK.
	_, err = dial(t, addr, "edge-L2-plain", "L2", lines["L2"])
	require.Error(t, err, "plain MQTT on the TLS port")

	// The packet size limit holds inside TLS: a line's oversized publish
	// closes its connection and is counted.
	l2 := mustDial(t, addr, "edge-L2", "L2", lines["L2"], withTLS(clients["L2"]))
	tok := l2.Publish(topic("L2", "events"), 1, false, strings.Repeat("x", 2*minPacketSize))
	tok.WaitTimeout(waitFor)
	testkit.Eventually(t, "the oversized publish counted", func() bool {
		return metricValue(t, reg, `serialine_mqtt_packets_too_large_total{packet="publish"}`) == 1
	})

	// The connection limits are shared with the plain listener: two idle
	// connections (one on each) fill max_unauthenticated, a third on the
	// TLS port is closed at once.
	testkit.Eventually(t, "no unauthenticated connection left", func() bool {
		return metricValue(t, reg, `serialine_mqtt_connections{state="unauthenticated"}`) == 0
	})
	for _, a := range []string{b.Addr(), addr} {
		c, err := net.DialTimeout("tcp", a, waitFor)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
	}
	testkit.Eventually(t, "two unauthenticated connections", func() bool {
		return metricValue(t, reg, `serialine_mqtt_connections{state="unauthenticated"}`) == 2
	})
	third, err := net.DialTimeout("tcp", addr, waitFor)
	require.NoError(t, err)
	defer third.Close()
	require.NoError(t, third.SetReadDeadline(time.Now().Add(waitFor)))
	_, err = third.Read(make([]byte, 1))
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the broker kept the third connection open: %v", err)
	require.Equal(t, 1.0, metricValue(t, reg, `serialine_mqtt_connections_refused_total{reason="max_unauthenticated"}`))
}

func TestTLSConfigErrors(t *testing.T) {
	srvTLS, _ := tlsSetup(t)
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"listen without TLS", func(c *Config) { c.TLSListen = "127.0.0.1:0" }, "tls_listen: needs a server certificate"},
		{"TLS without listen", func(c *Config) { c.TLS = srvTLS }, "tls_listen: missing"},
		{"bad address", func(c *Config) { c.TLSListen, c.TLS = "8883", srvTLS }, `tls_listen: "8883" is not HOST:PORT`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.edit(&c)
			err := c.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
