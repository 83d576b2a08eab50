package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/broker"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/metrics"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// waitFor bounds every wait for an event in these tests: a deadline
// against hangs, never a measure of speed.
const waitFor = 20 * time.Second

const (
	envMosquitto     = "SERIALINE_TEST_MOSQUITTO"
	envSkipMosquitto = "SERIALINE_SKIP_MOSQUITTO"
	defaultMosquitto = "127.0.0.1:1883"

	gtin    = "00312345678906" // sequential scheme; embeds NDC 12345-678-90
	badGTIN = "09506000134353" // wrong check digit
	lot     = "LOT42"
	expiry  = "281231"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// --- logs ------------------------------------------------------------

// logBuf collects log output and prints it only when the test failed
// (goroutines may log after the test returned, which t.Log forbids).
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func captureLogger(tb testing.TB) (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Log("log:\n" + lb.String())
		}
	})
	var w io.Writer = lb
	if os.Getenv("INGEST_TEST_LOG") != "" {
		w = io.MultiWriter(lb, os.Stderr)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})), lb
}

// --- brokers ---------------------------------------------------------

// mqttBroker is a broker for a test: its URL, central's login and how a
// line logs in.
type mqttBroker struct {
	name     string
	url      string
	user, pw string
	embedded bool
	close    func() error // stops an embedded broker
}

// linePassword is a line's MQTT password in the embedded broker's tests.
func linePassword(line string) string { return "pw-" + line }

// anyLine accepts every line whose password is linePassword(line).
type anyLine struct{}

func (anyLine) CheckLine(_ context.Context, line, password string) (bool, error) {
	return password == linePassword(line), nil
}

func startEmbedded(tb testing.TB, log *slog.Logger) mqttBroker {
	tb.Helper()
	pw := testkit.RandHex(16)
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", ServiceUser: "central", ServicePassword: pw}, anyLine{}, log)
	require.NoError(tb, err)
	require.NoError(tb, b.Start(context.Background()))
	tb.Cleanup(func() { _ = b.Close() })
	return mqttBroker{name: "embedded", url: "tcp://" + b.Addr(), user: "central", pw: pw, embedded: true, close: b.Close}
}

// mosquitto is the real Mosquitto the machine runs (anonymous), shared
// with other tests: every test uses its own line ids and share group.
func mosquitto(tb testing.TB) mqttBroker {
	tb.Helper()
	addr := os.Getenv(envMosquitto)
	if addr == "" {
		addr = defaultMosquitto
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		if os.Getenv(envSkipMosquitto) == "1" {
			tb.Skipf("SKIPPED Mosquitto half: %s=1 and %s is unreachable: %v", envSkipMosquitto, addr, err)
		}
		tb.Fatalf("Mosquitto is not reachable at %s (set %s to another broker, or %s=1 to skip; `make test` starts it): %v",
			addr, envMosquitto, envSkipMosquitto, err)
	}
	_ = c.Close()
	return mqttBroker{name: "mosquitto", url: "tcp://" + addr, user: "central"}
}

// --- central ---------------------------------------------------------

// central is a store and an ingest connected to a broker.
type central struct {
	st  *store.Store
	in  *ingest.Ingest
	reg *metrics.Registry
	ctx context.Context
	log *logBuf
}

func startIngest(tb testing.TB, st *store.Store, b mqttBroker, group string, mod func(*ingest.Config)) (*ingest.Ingest, *metrics.Registry, *logBuf) {
	tb.Helper()
	log, lb := captureLogger(tb)
	cfg := ingest.Config{Broker: b.url, Username: b.user, Password: b.pw, ShareGroup: group}
	if mod != nil {
		mod(&cfg)
	}
	reg := metrics.NewRegistry()
	in, err := ingest.New(cfg, st, reg, log)
	require.NoError(tb, err)
	require.NoError(tb, in.Start(context.Background()))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		require.NoError(tb, in.Close(ctx))
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(tb, in.WaitReady(ctx))
	return in, reg, lb
}

func newCentral(tb testing.TB, dsn string, b mqttBroker, mod func(*ingest.Config)) *central {
	tb.Helper()
	log, _ := captureLogger(tb)
	st := storetest.Open(tb, dsn, log)
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "user:test"), 2*time.Minute)
	tb.Cleanup(cancel)
	require.NoError(tb, st.PutProduct(ctx, testProduct()))
	in, reg, lb := startIngest(tb, st, b, "g"+testkit.RandHex(4), mod)
	return &central{st: st, in: in, reg: reg, ctx: ctx, log: lb}
}

func testProduct() master.Product {
	return master.Product{
		GTIN: gtin, Name: "Paracetamol 500 mg tablets", CompanyPrefixLen: 7, NDC: "12345-678-90",
		Markets: []master.Market{master.MarketUSDSCSA}, Scheme: serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1},
	}
}

// metric returns the value of a series in the registry's text output.
func metric(tb testing.TB, reg *metrics.Registry, series string) float64 {
	tb.Helper()
	var b strings.Builder
	require.NoError(tb, reg.WriteText(&b))
	for _, l := range strings.Split(b.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			var v float64
			_, err := fmt.Sscan(rest, &v)
			require.NoError(tb, err)
			return v
		}
	}
	return 0
}

// --- a line ----------------------------------------------------------

// line is a line in central's store with a released order and a grant,
// producing commissioning events the way the edge does.
type line struct {
	id     string
	order  string
	grant  wire.SerialGrant
	scheme serials.Scheme
	next   int // next unit of the grant
}

// newLine creates a line with a unique id, an order released to it and a
// grant of n serials.
func (c *central) newLine(tb testing.TB, n uint64) *line {
	tb.Helper()
	l := &line{id: "L" + testkit.RandHex(4)}
	l.order = "WO-" + l.id
	require.NoError(tb, c.st.PutLine(c.ctx, master.Line{ID: l.id, Name: "Line " + l.id, PasswordHash: "unused-by-these-tests"}))
	_, err := c.st.CreateOrder(c.ctx, orders.WorkOrder{ID: l.order, GTIN: gtin, Lot: lot, Expiry: expiry, Quantity: max(n, 1000)})
	require.NoError(tb, err)
	_, err = c.st.ReleaseOrder(c.ctx, l.order, l.id)
	require.NoError(tb, err)
	if n > 0 {
		l.grant, err = c.st.Grant(c.ctx, wire.SerialRequest{V: 1, RequestID: "setup-" + l.id, Line: l.id, Order: l.order, GTIN: gtin, Count: n}, n)
		require.NoError(tb, err)
		l.scheme, err = serials.New(*l.grant.Scheme)
		require.NoError(tb, err)
	}
	return l
}

// commissioned returns the commissioning event of the line's next unit,
// with seq.
func (l *line) commissioned(tb testing.TB, seq uint64) wire.Event {
	tb.Helper()
	c := l.grant.Ranges[0].Start + uint64(l.next)
	l.next++
	s, err := l.scheme.Serial(nil, c)
	require.NoError(tb, err)
	return wire.Event{ID: fmt.Sprintf("%s:%d", l.id, seq), Seq: seq, Type: wire.Commissioned, At: t0.Add(time.Duration(seq) * time.Millisecond),
		Order: l.order, GTIN: gtin, Serial: string(s), Lot: lot, Expiry: expiry, Counter: &c, Operator: "ana"}
}

// events returns commissioning events with seqs from..to.
func (l *line) events(tb testing.TB, from, to uint64) []wire.Event {
	var out []wire.Event
	for s := from; s <= to; s++ {
		out = append(out, l.commissioned(tb, s))
	}
	return out
}

func batch(tb testing.TB, lineID string, events []wire.Event) []byte {
	tb.Helper()
	b, err := json.Marshal(wire.EventBatch{V: 1, Line: lineID, Events: events})
	require.NoError(tb, err)
	return b
}

// --- the edge's side of the wire --------------------------------------

// edge is a paho client logged in as a line, receiving its acks, grants
// and orders.
type edge struct {
	paho.Client
	line   string
	acks   chan wire.Ack
	grants chan wire.SerialGrant
	orders chan wire.Orders
}

func dialEdge(tb testing.TB, b mqttBroker, lineID string, opts ...func(*paho.ClientOptions)) (*edge, error) {
	tb.Helper()
	e := &edge{line: lineID, acks: make(chan wire.Ack, 10000), grants: make(chan wire.SerialGrant, 100), orders: make(chan wire.Orders, 100)}
	o := paho.NewClientOptions().AddBroker(b.url).SetClientID("edge-" + lineID + "-" + testkit.RandHex(3)).
		SetUsername(lineID).SetPassword(linePassword(lineID)).SetProtocolVersion(4).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(waitFor).SetWriteTimeout(waitFor).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			_, kind, err := wire.ParseTopic(m.Topic())
			if err != nil {
				return
			}
			switch kind {
			case wire.KindAcks:
				a, err := wire.DecodeAck(m.Payload())
				if err == nil {
					e.acks <- a
				}
			case wire.KindSerialGrant:
				g, err := wire.DecodeSerialGrant(m.Payload())
				if err == nil {
					e.grants <- g
				}
			case wire.KindOrders:
				if len(m.Payload()) == 0 {
					return
				}
				o, err := wire.DecodeOrders(m.Payload())
				if err == nil {
					e.orders <- o
				}
			}
		})
	for _, opt := range opts {
		opt(o)
	}
	e.Client = paho.NewClient(o)
	tok := e.Connect()
	if !tok.WaitTimeout(waitFor) {
		return nil, fmt.Errorf("edge %s: no CONNACK within %v", lineID, waitFor)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	tb.Cleanup(func() { e.Disconnect(100) })
	for _, kind := range []string{wire.KindAcks, wire.KindSerialGrant, wire.KindOrders} {
		topic, err := wire.Topic(lineID, kind)
		require.NoError(tb, err)
		tok := e.Subscribe(topic, 1, nil)
		require.True(tb, tok.WaitTimeout(waitFor))
		require.NoError(tb, tok.Error())
	}
	return e, nil
}

func mustEdge(tb testing.TB, b mqttBroker, lineID string, opts ...func(*paho.ClientOptions)) *edge {
	tb.Helper()
	e, err := dialEdge(tb, b, lineID, opts...)
	require.NoError(tb, err)
	return e
}

// publish sends payload on the line's topic of kind and waits for the PUBACK.
func (e *edge) publish(tb testing.TB, kind string, payload []byte, retain bool) {
	tb.Helper()
	topic, err := wire.Topic(e.line, kind)
	require.NoError(tb, err)
	tok := e.Publish(topic, 1, retain, payload)
	require.True(tb, tok.WaitTimeout(waitFor), "no PUBACK for %s", topic)
	require.NoError(tb, tok.Error())
}

func (e *edge) sendEvents(tb testing.TB, events []wire.Event) {
	tb.Helper()
	e.publish(tb, wire.KindEvents, batch(tb, e.line, events), false)
}

// nextAck returns the next ack.
func (e *edge) nextAck(tb testing.TB) wire.Ack {
	tb.Helper()
	select {
	case a := <-e.acks:
		require.Equal(tb, e.line, a.Line)
		return a
	case <-time.After(waitFor):
		tb.Fatalf("edge %s: no ack within %v", e.line, waitFor)
		return wire.Ack{}
	}
}

// awaitAck reads acks until one covers seq and returns it.
func (e *edge) awaitAck(tb testing.TB, seq uint64) wire.Ack {
	tb.Helper()
	for {
		if a := e.nextAck(tb); a.Seq >= seq {
			return a
		}
	}
}

func (e *edge) nextGrant(tb testing.TB) wire.SerialGrant {
	tb.Helper()
	select {
	case g := <-e.grants:
		return g
	case <-time.After(waitFor):
		tb.Fatalf("edge %s: no grant within %v", e.line, waitFor)
		return wire.SerialGrant{}
	}
}

func (e *edge) nextOrders(tb testing.TB) wire.Orders {
	tb.Helper()
	select {
	case o := <-e.orders:
		return o
	case <-time.After(waitFor):
		tb.Fatalf("edge %s: no orders within %v", e.line, waitFor)
		return wire.Orders{}
	}
}

// awaitOrders reads orders payloads until one satisfies ok and returns it
// (a replica starting up may republish the same payload meanwhile).
func (e *edge) awaitOrders(tb testing.TB, ok func(wire.Orders) bool) wire.Orders {
	tb.Helper()
	for {
		if o := e.nextOrders(tb); ok(o) {
			return o
		}
	}
}

// clearRetained removes the line's retained messages from a shared broker.
func clearRetained(tb testing.TB, b mqttBroker, lineID string) {
	tb.Cleanup(func() {
		o := paho.NewClientOptions().AddBroker(b.url).SetClientID("clean-" + testkit.RandHex(4)).SetUsername(b.user).SetPassword(b.pw).
			SetProtocolVersion(4).SetConnectTimeout(waitFor)
		c := paho.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
			return
		}
		defer c.Disconnect(100)
		for _, kind := range []string{wire.KindStatus, wire.KindOrders} {
			topic, _ := wire.Topic(lineID, kind)
			c.Publish(topic, 1, true, []byte{}).WaitTimeout(waitFor)
		}
	})
}

func deadLetters(tb testing.TB, c *central, lineID string) []lineevents.DeadLetter {
	tb.Helper()
	d, err := c.st.DeadLetters(c.ctx, lineevents.DeadLetterFilter{Line: lineID})
	require.NoError(tb, err)
	return d
}

func unitCount(tb testing.TB, c *central, order string) uint64 {
	tb.Helper()
	n, err := c.st.UnitCounts(c.ctx, lineevents.UnitFilter{Order: order})
	require.NoError(tb, err)
	return n.Total()
}
