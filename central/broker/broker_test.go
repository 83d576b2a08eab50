package broker

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testServicePassword = "svc-s3cret"

func testConfig() Config {
	return Config{Listen: "127.0.0.1:0", ServiceUser: serviceUser, ServicePassword: testServicePassword}
}

func staticCreds(tb testing.TB) *StaticCredentials {
	tb.Helper()
	creds, err := NewStaticCredentials(testLines())
	require.NoError(tb, err)
	return creds
}

// startBroker starts an embedded broker on a free loopback port and closes
// it when the test ends.
func startBroker(tb testing.TB, cfg Config, creds Credentials) (*Broker, *logSink) {
	tb.Helper()
	log, sink := newLogSink(tb)
	b, err := New(cfg, creds, log)
	require.NoError(tb, err)
	require.NoError(tb, b.Start(context.Background()))
	tb.Cleanup(func() { require.NoError(tb, b.Close()) })
	return b, sink
}

func TestEmbeddedBrokerEnforcesContractACL(t *testing.T) {
	b, sink := startBroker(t, testConfig(), staticCreds(t))
	runScenarios(t, target{
		addr:            b.Addr(),
		servicePassword: testServicePassword,
		subackDenied:    true,
		settle: func(t *testing.T, c *client, _, _ string) {
			// Logged by OnDisconnect, which mochi calls after the last will.
			sink.await(t, "mqtt client disconnected", "client", c.id)
		},
	})
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*Config)
		wantKey string // "" for a valid config
	}{
		{"valid", func(*Config) {}, ""},
		{"all interfaces", func(c *Config) { c.Listen = "0.0.0.0:1883" }, ""},
		{"explicit limits", func(c *Config) { c.MaxInflight = 100; c.AuthTimeout = 1e9 }, ""},
		{"listen empty", func(c *Config) { c.Listen = "" }, "listen"},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, "listen"},
		{"listen without host", func(c *Config) { c.Listen = ":1883" }, "listen"},
		{"listen port not a number", func(c *Config) { c.Listen = "127.0.0.1:mqtt" }, "listen"},
		{"listen port too large", func(c *Config) { c.Listen = "127.0.0.1:70000" }, "listen"},
		{"service user empty", func(c *Config) { c.ServiceUser = "" }, "service_user"},
		{"service user with a wildcard", func(c *Config) { c.ServiceUser = "central#" }, "service_user"},
		{"service user with a separator", func(c *Config) { c.ServiceUser = "central/1" }, "service_user"},
		{"service password empty", func(c *Config) { c.ServicePassword = "" }, "service_password"},
		{"max inflight negative", func(c *Config) { c.MaxInflight = -1 }, "max_inflight"},
		{"max inflight over packet ids", func(c *Config) { c.MaxInflight = 65536 }, "max_inflight"},
		{"auth timeout negative", func(c *Config) { c.AuthTimeout = -1 }, "auth_timeout"},
		{"all limits", func(c *Config) {
			c.MaxPacketSize, c.MaxConnections, c.MaxUnauthenticated, c.MaxConnectionsPerUser, c.LoginTimeout, c.MaxInflightPerLine = 64<<10, 10, 5, 1, time.Second, 16
		}, ""},
		{"packet size too small", func(c *Config) { c.MaxPacketSize = 100 }, "max_packet_size"},
		{"packet size over a wire payload", func(c *Config) { c.MaxPacketSize = 9 << 20 }, "max_packet_size"},
		{"max connections negative", func(c *Config) { c.MaxConnections = -1 }, "max_connections"},
		{"max unauthenticated too many", func(c *Config) { c.MaxUnauthenticated = 1_000_000 }, "max_unauthenticated"},
		{"max connections per user negative", func(c *Config) { c.MaxConnectionsPerUser = -2 }, "max_connections_per_user"},
		{"login timeout negative", func(c *Config) { c.LoginTimeout = -time.Second }, "login_timeout"},
		{"inflight per line over the window", func(c *Config) { c.MaxInflight, c.MaxInflightPerLine = 10, 11 }, "max_inflight_per_line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if tc.wantKey == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, ": "+tc.wantKey+": ")
			_, err = New(cfg, staticCreds(t), nil)
			require.ErrorIs(t, err, ErrInvalidConfig, "New validates too")
		})
	}
}

func TestNewRefusesMissingParts(t *testing.T) {
	log, _ := newLogSink(t)
	_, err := New(testConfig(), nil, log)
	require.ErrorContains(t, err, "credentials")
	_, err = New(testConfig(), staticCreds(t), nil)
	require.ErrorContains(t, err, "logger")
}

func TestLifecycle(t *testing.T) {
	log, _ := newLogSink(t)
	b, err := New(testConfig(), staticCreds(t), log)
	require.NoError(t, err)
	require.Empty(t, b.Addr(), "New does not listen")

	require.NoError(t, b.Start(context.Background()))
	host, port, err := net.SplitHostPort(b.Addr())
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	require.NotZero(t, p, "Addr reports the port bound, not 0")
	mustDial(t, b.Addr(), "lifecycle-L1", "L1", testLines()["L1"])

	require.ErrorIs(t, b.Start(context.Background()), ErrStarted)
	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "Close twice")
	require.ErrorIs(t, b.Start(context.Background()), ErrClosed)
	require.ErrorIs(t, b.Publish(topic("L1", "orders"), nil, false, 1), ErrClosed)
	_, err = net.Dial("tcp", b.Addr())
	require.Error(t, err, "nothing listens after Close")
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	cfg := testConfig()
	cfg.Listen = l.Addr().String()
	log, _ := newLogSink(t)
	b, err := New(cfg, staticCreds(t), log)
	require.NoError(t, err)
	err = b.Start(context.Background())
	require.ErrorContains(t, err, cfg.Listen)
	require.NoError(t, b.Close())
}

func TestStartContextEndsBroker(t *testing.T) {
	log, sink := newLogSink(t)
	b, err := New(testConfig(), staticCreds(t), log)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, b.Start(ctx))
	cancel()
	sink.await(t, "mqtt broker closed")
	require.ErrorIs(t, b.Start(context.Background()), ErrClosed)
	_, err = net.Dial("tcp", b.Addr())
	require.Error(t, err, "nothing listens once ctx has ended")
}

func TestDeniedPublishIsLoggedWithClientAndTopic(t *testing.T) {
	b, sink := startBroker(t, testConfig(), staticCreds(t))
	l1 := mustDial(t, b.Addr(), "logged-L1", "L1", testLines()["L1"])
	l1.publish(t, topic("L2", "events"), "x", false)
	r := sink.await(t, "mqtt publish denied", "client", "logged-L1")
	require.Equal(t, "L1", r.attrs["user"])
	require.Equal(t, topic("L2", "events"), r.attrs["topic"])

	code := l1.subscribe(t, topic("L2", "acks"))
	require.Equal(t, byte(0x80), code)
	sink.await(t, "mqtt read denied", "client", "logged-L1", "topic", topic("L2", "acks"))
}

func TestForgedWillIsDroppedAtConnect(t *testing.T) {
	b, sink := startBroker(t, testConfig(), staticCreds(t))
	mustDial(t, b.Addr(), "forger", "L1", testLines()["L1"], withWill(topic("L2", "status"), "offline"))
	r := sink.await(t, "mqtt last will dropped: topic not allowed", "client", "forger")
	require.Equal(t, topic("L2", "status"), r.attrs["topic"])
}

// failingCreds is a credential store that cannot answer.
type failingCreds struct{}

func (failingCreds) CheckLine(context.Context, string, string) (bool, error) {
	return false, errors.New("database unavailable")
}

func TestCredentialErrorRefusesAndLogs(t *testing.T) {
	b, sink := startBroker(t, testConfig(), failingCreds{})
	_, err := dial(t, b.Addr(), "creds-down", "L1", "whatever")
	require.True(t, refused(err), "want a refused login, got %v", err)
	r := sink.await(t, "mqtt connect refused: credential check failed", "client", "creds-down")
	require.Contains(t, r.attrs["error"], "database unavailable")
	// mochi's own record of the refused connection gets a message, not "".
	sink.await(t, "mqtt connection ended")
	// The service user does not depend on the store.
	mustDial(t, b.Addr(), "svc-creds-down", serviceUser, testServicePassword)
}

func TestReservedInlineClientIDIsRefused(t *testing.T) {
	b, _ := startBroker(t, testConfig(), staticCreds(t))
	_, err := dial(t, b.Addr(), "inline", serviceUser, testServicePassword)
	require.True(t, refused(err), "want a refused login, got %v", err)
}

func TestClientIDStaysWithItsUser(t *testing.T) {
	b, _ := startBroker(t, testConfig(), staticCreds(t))
	replica := mustDial(t, b.Addr(), "central-1", serviceUser, testServicePassword)
	replica.mustSubscribe(t, "serialine/v1/lines/+/events")

	_, err := dial(t, b.Addr(), "central-1", "L1", testLines()["L1"])
	require.True(t, refused(err), "a line must not take over central's client id, got %v", err)

	// The replica kept its session: it still gets the feed.
	l1 := mustDial(t, b.Addr(), "edge-L1", "L1", testLines()["L1"])
	l1.publish(t, topic("L1", "events"), "after-attempt", false)
	require.Equal(t, msg{topic: topic("L1", "events"), payload: "after-attempt"}, replica.next(t))

	// A line may take over its own session (an edge back before the broker saw it go).
	again := mustDial(t, b.Addr(), "edge-L1", "L1", testLines()["L1"])
	again.publish(t, topic("L1", "events"), "from-new-session", false)
	require.Equal(t, msg{topic: topic("L1", "events"), payload: "from-new-session"}, replica.next(t))
}

func TestInProcessClient(t *testing.T) {
	b, _ := startBroker(t, testConfig(), staticCreds(t))

	t.Run("retained publish reaches the line", func(t *testing.T) {
		require.NoError(t, b.Publish(topic("L1", "orders"), []byte("orders-v1"), true, 1))
		l1 := mustDial(t, b.Addr(), "inproc-L1", "L1", testLines()["L1"])
		l1.mustSubscribe(t, topic("L1", "orders"))
		require.Equal(t, msg{topic: topic("L1", "orders"), payload: "orders-v1", retained: true}, l1.next(t))
	})

	t.Run("subscription gets the lines' events", func(t *testing.T) {
		got := make(chan Message, 10)
		unsubscribe, err := b.Subscribe("serialine/v1/lines/+/events", func(m Message) { got <- m })
		require.NoError(t, err)
		l2 := mustDial(t, b.Addr(), "inproc-L2", "L2", testLines()["L2"])
		l2.publish(t, topic("L2", "events"), "batch-1", false)
		select {
		case m := <-got:
			require.Equal(t, Message{Topic: topic("L2", "events"), Payload: []byte("batch-1")}, m)
		case <-time.After(waitFor):
			t.Fatalf("no in-process message within %v", waitFor)
		}
		require.NoError(t, unsubscribe())
	})

	t.Run("refusals", func(t *testing.T) {
		require.ErrorIs(t, b.Publish("other/topic", nil, false, 1), ErrDenied)
		require.ErrorIs(t, b.Publish("serialine/v1/lines/+/acks", nil, false, 1), ErrDenied)
		require.Error(t, b.Publish(topic("L1", "acks"), nil, false, 3))
		_, err := b.Subscribe("#", func(Message) {})
		require.ErrorIs(t, err, ErrDenied)
		_, err = b.Subscribe("$share/central/serialine/v1/lines/+/events", func(Message) {})
		require.ErrorContains(t, err, "shared")
		_, err = b.Subscribe(topic("L1", "events"), nil)
		require.ErrorContains(t, err, "handler")
	})
}

func TestStaticCredentials(t *testing.T) {
	creds := staticCreds(t)
	cases := []struct {
		line, password string
		want           bool
	}{
		{"L1", testLines()["L1"], true},
		{"L1", testLines()["L2"], false},
		{"L1", "", false},
		{"L1", testLines()["L1"] + "x", false},
		{"L99", "anything", false},
	}
	for _, tc := range cases {
		t.Run(tc.line+"/"+tc.password, func(t *testing.T) {
			ok, err := creds.CheckLine(context.Background(), tc.line, tc.password)
			require.NoError(t, err)
			require.Equal(t, tc.want, ok)
		})
	}

	_, err := NewStaticCredentials(map[string]string{"L/1": "pw"})
	require.ErrorContains(t, err, `"L/1"`)
	_, err = NewStaticCredentials(map[string]string{"L1": ""})
	require.ErrorContains(t, err, "password")
}
