package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/server"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// waitFor bounds every wait: a deadline against hangs, not a measure.
const waitFor = 30 * time.Second

// syncBuf is an io.Writer safe for the server's goroutines.
type syncBuf struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuf() *syncBuf { return &syncBuf{changed: make(chan struct{})} }

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is serialine-central run in-process by server.Main.
type running struct {
	srv      *server.Server
	out, log *syncBuf
	cancel   context.CancelFunc
	done     chan int
	once     sync.Once
	code     int
}

func startMain(tb testing.TB, env map[string]string, args ...string) *running {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{out: newSyncBuf(), log: newSyncBuf(), cancel: cancel, done: make(chan int, 1)}
	started := make(chan *server.Server, 1)
	go func() {
		r.done <- server.Main(ctx, args, server.Env{Stdout: r.out, Stderr: r.log,
			Getenv: func(k string) string { return env[k] }, Started: func(s *server.Server) { started <- s }})
	}()
	select {
	case r.srv = <-started:
	case code := <-r.done:
		cancel()
		tb.Fatalf("serialine-central exited with %d:\n%s", code, r.log)
	case <-time.After(waitFor):
		tb.Fatalf("serialine-central did not start within %v:\n%s", waitFor, r.log)
	}
	tb.Cleanup(func() {
		r.stop(tb)
		if tb.Failed() {
			tb.Log("serialine-central log:\n" + r.log.String())
		}
	})
	return r
}

// stop ends the process as SIGINT would and returns its exit code.
func (r *running) stop(tb testing.TB) int {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.code = <-r.done:
		case <-time.After(waitFor):
			tb.Errorf("serialine-central did not stop within %v", waitFor)
			r.code = -1
		}
	})
	return r.code
}

func (r *running) get(tb testing.TB, path, token string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+r.srv.HTTPAddr()+path, nil)
	require.NoError(tb, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, string(b)
}

// getNoRedirect is a GET without credentials that does not follow a
// redirect.
func (r *running) getNoRedirect(tb testing.TB, path string) (int, http.Header, string) {
	tb.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("http://" + r.srv.HTTPAddr() + path)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, resp.Header, string(b)
}

var tokenRE = regexp.MustCompile(auth.TokenPrefix + `[A-Za-z0-9_-]{43}`)

// --- an edge -----------------------------------------------------------

type edge struct {
	paho.Client
	acks chan wire.Ack
}

func dialEdge(tb testing.TB, brokerURL, line, password string) (*edge, error) {
	tb.Helper()
	e := &edge{acks: make(chan wire.Ack, 100)}
	o := paho.NewClientOptions().AddBroker(brokerURL).SetClientID("edge-" + line + "-" + testkit.RandHex(3)).
		SetUsername(line).SetPassword(password).SetProtocolVersion(4).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(waitFor).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if a, err := wire.DecodeAck(m.Payload()); err == nil {
				e.acks <- a
			}
		})
	e.Client = paho.NewClient(o)
	tok := e.Connect()
	if !tok.WaitTimeout(waitFor) {
		return nil, errors.New("no CONNACK")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	tb.Cleanup(func() { e.Disconnect(100) })
	topic, err := wire.Topic(line, wire.KindAcks)
	require.NoError(tb, err)
	st := e.Subscribe(topic, 1, nil)
	require.True(tb, st.WaitTimeout(waitFor))
	require.NoError(tb, st.Error())
	return e, nil
}

// --- tests -------------------------------------------------------------

// TestServe runs `serialine-central serve` in-process, end to end, on
// SQLite and on PostgreSQL: a config file with flags over it, the
// bootstrap admin token printed once, the API behind it, a line's events
// through the embedded broker acked, /metrics and /healthz.
func TestServe(t *testing.T) {
	storetest.ForEachBackend(t, testServe)
}

func testServe(t *testing.T, dsn string) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "central.yaml")
	// The file names addresses that cannot work; the flags override them.
	require.NoError(t, os.WriteFile(cfgPath, []byte(`
http:
  listen: 127.0.0.1:1
database:
  url: sqlite:/nonexistent/dir/central.db
mqtt:
  broker: tcp://127.0.0.1:1
ingest:
  gap_alert: 1m
log:
  level: debug
`), 0o600))
	args := []string{"serve", "--config", cfgPath, "--http", "127.0.0.1:0", "--db", dsn, "--mqtt", "embedded:127.0.0.1:0"}
	r := startMain(t, nil, args...)

	tokens := tokenRE.FindAllString(r.out.String(), -1)
	require.Len(t, tokens, 1, "the bootstrap admin token is printed once:\n%s", r.out)
	admin := tokens[0]
	require.NotContains(t, r.log.String(), admin, "the token is never logged")

	code, body := r.get(t, "/api/v1/me", admin)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"role":"admin"`)
	code, _ = r.get(t, "/api/v1/me", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, body = r.get(t, "/healthz", "")
	require.Equal(t, http.StatusOK, code, body)
	code, body = r.get(t, "/", "")
	require.Equal(t, http.StatusOK, code, "the web UI answers at / (sign-in page)")
	require.Contains(t, strings.ToLower(body), "sign in")
	// A partner's LMVS request without credentials: the responder's 401,
	// never a redirect to the web UI's sign-in page.
	for _, path := range []string{
		"/01/00312345678906/10/LOT1/21/1?17=281231&linkType=verificationService&context=dscsaSaleableReturn&reqGLN=0614141000005",
		"/gtin/00312345678906/lot/LOT1/ser/1?exp=281231&linkType=verificationService&reqGLN=0614141000005",
		"/01/00312345678906?linkType=verificationService&checkConnectivity=true&reqGLN=0614141000005",
	} {
		code, hdr, body := r.getNoRedirect(t, path)
		require.Equal(t, http.StatusUnauthorized, code, "%s: %s", path, body)
		require.Empty(t, hdr.Get("Location"), path)
		require.True(t, strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer"), path)
	}

	// A line with an MQTT password, as the API stores it, and an order.
	st := r.srv.Store()
	ctx := sqldb.WithActor(context.Background(), "user:test")
	line, pw := "L"+testkit.RandHex(3), auth.GeneratePassword()
	hash, err := auth.HashPassword(pw)
	require.NoError(t, err)
	require.NoError(t, st.PutLine(ctx, master.Line{ID: line, Name: "Line 1", PasswordHash: hash}))
	const gtin = "00312345678906" // embeds NDC 12345-678-90
	require.NoError(t, st.PutProduct(ctx, master.Product{GTIN: gtin, Name: "Paracetamol", CompanyPrefixLen: 7, NDC: "12345-678-90",
		Markets: []master.Market{master.MarketUSDSCSA}, Scheme: serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}}))
	_, err = st.CreateOrder(ctx, orders.WorkOrder{ID: "WO-1", GTIN: gtin, Lot: "LOT1", Expiry: "281231", Quantity: 100})
	require.NoError(t, err)
	_, err = st.ReleaseOrder(ctx, "WO-1", line)
	require.NoError(t, err)
	g, err := st.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "r1", Line: line, Order: "WO-1", GTIN: gtin, Count: 3}, 0)
	require.NoError(t, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(t, err)

	// The embedded broker admits the line by its stored password only.
	_, err = dialEdge(t, r.srv.MQTTURL(), line, "wrong-password-000")
	require.True(t, errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) || errors.Is(err, packets.ErrorRefusedNotAuthorised),
		"wrong password refused at CONNECT: %v", err)
	e, err := dialEdge(t, r.srv.MQTTURL(), line, pw)
	require.NoError(t, err)

	var events []wire.Event
	for i := range uint64(3) {
		c := g.Ranges[0].Start + i
		s, err := sc.Serial(nil, c)
		require.NoError(t, err)
		events = append(events, wire.Event{ID: fmt.Sprintf("%s:%d", line, i+1), Seq: i + 1, Type: wire.Commissioned, At: time.Now().UTC(),
			Order: "WO-1", GTIN: gtin, Serial: string(s), Lot: "LOT1", Expiry: "281231", Counter: &c})
	}
	payload, err := json.Marshal(wire.EventBatch{V: 1, Line: line, Events: events})
	require.NoError(t, err)
	topic, err := wire.Topic(line, wire.KindEvents)
	require.NoError(t, err)
	tok := e.Publish(topic, 1, false, payload)
	require.True(t, tok.WaitTimeout(waitFor))
	require.NoError(t, tok.Error())
	select {
	case a := <-e.acks:
		require.Equal(t, uint64(3), a.Seq)
	case <-time.After(waitFor):
		t.Fatal("no ack")
	}

	// The committed units are served as EPCIS commissioning events.
	code, _ = r.get(t, "/epcis/events?EQ_bizStep=commissioning", "")
	require.Equal(t, http.StatusUnauthorized, code, "EPCIS needs a token")
	code, body = r.get(t, "/epcis/events?EQ_bizStep=commissioning", admin)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "EPCISQueryDocument")
	require.Equal(t, 3, strings.Count(body, `"bizStep":"commissioning"`)+strings.Count(body, `"bizStep": "commissioning"`), body)

	code, body = r.get(t, "/metrics", "")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		"# TYPE serialine_ingest_events_total counter",
		`serialine_ingest_events_total{outcome="applied"} 3`,
		`serialine_ingest_messages_total{kind="events"} 1`,
		"serialine_ingest_acks_total 1",
		"serialine_mqtt_connected 1",
		`serialine_ingest_line_acked_seq{line="` + line + `"} 3`,
		`serialine_http_requests_total{method="GET",code="2xx"}`,
		// The embedded broker's figures are on /metrics too.
		"# TYPE serialine_mqtt_dropped_messages_total counter",
		`serialine_mqtt_dropped_messages_total{reason="inflight_full"} 0`,
		`serialine_mqtt_connections{state="unauthenticated"} 0`,
	} {
		require.Contains(t, body, want)
	}

	require.Equal(t, 0, r.stop(t), "a clean shutdown exits 0")

	// The second start on the same database prints no token; the first still works.
	r2 := startMain(t, nil, args...)
	require.NotRegexp(t, tokenRE, r2.out.String())
	code, _ = r2.get(t, "/api/v1/me", admin)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 0, r2.stop(t))
}

func TestAdminTokenFromEnvironment(t *testing.T) {
	secret, _ := auth.NewToken()
	dsn := storetest.SQLiteDSN(t)
	env := map[string]string{server.EnvAdminToken: secret}
	args := []string{"serve", "--http", "127.0.0.1:0", "--db", dsn, "--mqtt", "embedded:127.0.0.1:0"}
	for range 2 { // stored at the first start, found at the second
		r := startMain(t, env, args...)
		require.NotRegexp(t, tokenRE, r.out.String(), "nothing is printed")
		code, body := r.get(t, "/api/v1/me", secret)
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `"role":"admin"`)
		require.Equal(t, 0, r.stop(t))
	}
}

// TestBadStartStopsBeforeAnything: bad configuration or environment exits
// 2 naming the key, having created nothing.
func TestBadStartStopsBeforeAnything(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("mqtt:\n  brokr: embedded\n"), 0o600))
	dbPath := filepath.Join(dir, "data", "central.db")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown key", nil, []string{"serve", "--config", bad, "--db", "sqlite:" + dbPath}, `line 2: unknown key "mqtt.brokr"`},
		{"bad flag value", nil, []string{"serve", "--db", "oracle://x"}, "--db: invalid configuration: database.url"},
		{"unknown command", nil, []string{"run"}, `unknown command "run"`},
		{"malformed admin token", map[string]string{server.EnvAdminToken: "letmein"},
			[]string{"serve", "--http", "127.0.0.1:0", "--db", "sqlite:" + dbPath, "--mqtt", "embedded:127.0.0.1:0"}, "SERIALINE_ADMIN_TOKEN: must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := server.Main(context.Background(), tc.args, server.Env{Stdout: io.Discard, Stderr: &stderr,
				Getenv: func(k string) string { return tc.env[k] }})
			require.Equal(t, 2, code, stderr.String())
			require.Contains(t, stderr.String(), tc.want)
			if tc.name != "malformed admin token" {
				require.NoDirExists(t, filepath.Dir(dbPath), "nothing was created")
			}
		})
	}
}
