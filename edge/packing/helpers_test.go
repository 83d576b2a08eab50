package packing_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/edge/outbox"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/edge/session"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/metrics"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
	printersim "github.com/serialine/serialine/simulators/printer"
	scannersim "github.com/serialine/serialine/simulators/scanner"
)

const (
	gtin   = "00312345678906" // company prefix 0312345 (7 digits); embeds NDC 12345-678-90
	prefix = "0312345"
	lot    = "LOT42"
	expiry = "281231"
	wait   = testcentral.Wait
)

// central is the real central of the tests: its store (SQLite) and its
// MQTT ingest on the test's broker, with a product whose company prefix
// the line's SSCCs use and orders released to the line.
type central struct {
	st  *store.Store
	ctx context.Context
}

func startCentral(tb testing.TB, broker, line string, ids ...string) *central {
	tb.Helper()
	log := testkit.Logger(tb)
	st := storetest.OpenSQLite(tb, log)
	ctx := sqldb.WithActor(testkit.ContextFor(tb, 2*wait), "user:test")
	require.NoError(tb, st.PutProduct(ctx, master.Product{GTIN: gtin, Name: "Paracetamol 500 mg", CompanyPrefixLen: 7, NDC: "12345-678-90",
		Markets: []master.Market{master.MarketUSDSCSA}, Scheme: serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}}))
	require.NoError(tb, st.PutLine(ctx, master.Line{ID: line, Name: "Line " + line, PasswordHash: "unused"}))
	for _, id := range ids {
		_, err := st.CreateOrder(ctx, orders.WorkOrder{ID: id, GTIN: gtin, Lot: lot, Expiry: expiry, Quantity: 1000})
		require.NoError(tb, err)
		_, err = st.ReleaseOrder(ctx, id, line)
		require.NoError(tb, err)
	}
	in, err := ingest.New(ingest.Config{Broker: broker, ShareGroup: fmt.Sprintf("g%08x", rand.Uint32())}, st, metrics.NewRegistry(), log)
	require.NoError(tb, err)
	require.NoError(tb, in.Start(context.Background()))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = in.Close(ctx)
	})
	rctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(tb, in.WaitReady(rctx))
	return &central{st: st, ctx: ctx}
}

// units are serials central granted to an order, made into units as the
// station does.
type units struct {
	order  wire.Order
	grant  wire.SerialGrant
	scheme serials.Scheme
}

func (c *central) units(tb testing.TB, line, order string, n uint64) *units {
	tb.Helper()
	g, err := c.st.Grant(c.ctx, wire.SerialRequest{V: 1, RequestID: "setup-" + order, Line: line, Order: order, GTIN: gtin, Count: n}, 0)
	require.NoError(tb, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(tb, err)
	return &units{order: wire.Order{ID: order, GTIN: gtin, Lot: lot, Expiry: expiry, Quantity: 1000, State: wire.OrderStateReleased, Product: "Paracetamol 500 mg"},
		grant: g, scheme: sc}
}

func (u *units) counter(i int) uint64 { return u.grant.Ranges[0].Start + uint64(i) }

func (u *units) serial(tb testing.TB, i int) string {
	b, err := u.scheme.Serial(nil, u.counter(i))
	require.NoError(tb, err)
	return string(b)
}

// ref is unit i as a child reference; data as a scanner sends it.
func (u *units) ref(tb testing.TB, i int) string { return wire.UnitRef(gtin, u.serial(tb, i)) }

func (u *units) data(tb testing.TB, i int) string {
	es := gs1.ElementString{{AI: "01", Value: gtin}, {AI: "17", Value: expiry}, {AI: "10", Value: lot}, {AI: "21", Value: u.serial(tb, i)}}
	return es.Sorted().Transmitted()
}

// event is the station's event for unit i.
func (u *units) event(tb testing.TB, typ wire.EventType, i int) wire.Event {
	c := u.counter(i)
	e := wire.Event{Type: typ, Order: u.order.ID, GTIN: gtin, Serial: u.serial(tb, i), Lot: lot, Expiry: expiry, Counter: &c}
	if typ == wire.Decommissioned {
		e.Reason = wire.ReasonDamaged
	}
	return e
}

// devices are the case printer and the handheld scanner: the simulators
// on loopback TCP, driven by the real drivers.
type devices struct {
	printed chan printersim.Printed
	prnSim  *printersim.Simulator
	prn     *printer.Printer
	scanSim *scannersim.Simulator
	scanDrv *scanner.Scanner
	prnAddr string
}

func startDevices(tb testing.TB) *devices {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	d := &devices{printed: make(chan printersim.Printed, 64)}
	var err error
	d.prnSim, err = printersim.New(printersim.Config{Name: "case-printer", DPI: 203, WidthMM: 100, HeightMM: 50,
		OnPrint: func(p printersim.Printed) { d.printed <- p }}, testkit.Discard())
	require.NoError(tb, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	go func() { _ = d.prnSim.Serve(ctx, ln) }()
	tb.Cleanup(func() { _ = d.prnSim.Close() })
	d.prnAddr = ln.Addr().String()
	d.prn, err = printer.New(printer.Config{Name: "case-printer", Transport: "tcp:" + d.prnAddr, Layout: packing.LabelLayout(8),
		StatusInterval: 50 * time.Millisecond}, testkit.Discard())
	require.NoError(tb, err)
	require.NoError(tb, d.prn.Connect(testkit.ContextFor(tb, 2*wait)))
	tb.Cleanup(func() { _ = d.prn.Close() })

	d.scanSim, err = scannersim.New(scannersim.Config{Name: "handheld"}, testkit.Discard())
	require.NoError(tb, err)
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	go func() { _ = d.scanSim.Serve(ctx, sln) }()
	d.scanDrv, err = scanner.New(scanner.Config{Name: "handheld", Transport: "tcp:" + sln.Addr().String(),
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond}, testkit.Discard())
	require.NoError(tb, err)
	return d
}

// edge is the packing side of one line's agent: bbolt file, outbox on the
// broker, packer.
type edge struct {
	dir  string
	db   *bolt.DB
	ob   *outbox.Outbox
	pk   *packing.Packer
	stop func()
}

func startEdge(tb testing.TB, dir, broker string, cfg packing.Config, d *devices) *edge {
	tb.Helper()
	db, err := bolt.Open(filepath.Join(dir, "edge.db"), 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(tb, err)
	e := &edge{dir: dir, db: db}
	var pk *packing.Packer
	var ob *outbox.Outbox
	// The packer exists before any event is appended or any grant comes
	// (the session connects after the assignments below).
	sess, err := session.New(session.Config{Line: cfg.Line, Broker: broker, ReconnectMax: 200 * time.Millisecond}, session.Handlers{
		Acks:      func(a wire.Ack) { ob.Ack(a) },
		Connected: func() { ob.Wake() },
		Grant: func(g wire.SerialGrant) {
			if g.Kind.IsSSCC() {
				if err := pk.ApplyGrant(g); err != nil {
					tb.Logf("grant not applied: %v", err)
				}
			}
		}}, testkit.Logger(tb))
	require.NoError(tb, err)
	ob, err = outbox.Open(db, outbox.Config{Line: cfg.Line, Publisher: sess, Linger: 5 * time.Millisecond, ResendAfter: time.Second,
		Hooks: []outbox.CommitHook{func(tx *bolt.Tx, evs []wire.Event) error { return pk.RecordEvents(tx, evs) }}}, testkit.Logger(tb))
	require.NoError(tb, err)
	pk, err = packing.Open(db, cfg, d.prn, linked{ob, sess}, testkit.Logger(tb))
	require.NoError(tb, err)
	e.ob, e.pk = ob, pk
	require.NoError(tb, sess.Connect())
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan scanner.Result, 16)
	done := make(chan struct{}, 2)
	go func() { _ = d.scanDrv.Run(ctx, results); done <- struct{}{} }()
	go func() { pk.Run(ctx, results); done <- struct{}{} }()
	var stopped bool
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		<-done
		sess.Close()
		_ = ob.Close()
		_ = db.Close()
	}
	tb.Cleanup(e.stop)
	return e
}

// linked is the line's link as packing needs it: the outbox takes the
// events, the session sends the SSCC requests.
type linked struct {
	ob   *outbox.Outbox
	sess *session.Session
}

func (l linked) AppendSync(ctx context.Context, evs ...wire.Event) (uint64, error) {
	return l.ob.AppendSync(ctx, evs...)
}

func (l linked) RequestSerials(ctx context.Context, req wire.SerialRequest) error {
	if l.sess == nil {
		return session.ErrOffline // no broker (the benchmark)
	}
	return l.sess.RequestSerials(ctx, req)
}

// snap waits until the packer's snapshot satisfies cond and returns it.
func (e *edge) snap(tb testing.TB, what string, cond func(packing.Snapshot) bool) packing.Snapshot {
	tb.Helper()
	deadline := time.After(wait)
	for {
		ch := e.pk.Changes()
		s := e.pk.Snapshot()
		if cond(s) {
			return s
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("packing: %s: not within %v; snapshot %+v", what, wait, s)
		}
	}
}

// scan has the handheld scanner read data and waits for the packer to
// take it (accepted or refused).
func (e *edge) scan(tb testing.TB, d *devices, data string) packing.Snapshot {
	tb.Helper()
	before := e.pk.Snapshot()
	require.Eventually(tb, func() bool { return d.scanSim.Stats().Clients > 0 }, wait, 10*time.Millisecond, "scanner connected")
	_, err := d.scanSim.InspectData(data, true)
	require.NoError(tb, err)
	return e.snap(tb, "scan taken", func(s packing.Snapshot) bool { return s.Accepted+s.Refused > before.Accepted+before.Refused })
}

// acked waits until central has acknowledged every event of the outbox.
func (e *edge) acked(tb testing.TB) {
	tb.Helper()
	require.Eventually(tb, func() bool {
		s := e.ob.Stats()
		return s.Acked == s.LastSeq
	}, wait, 10*time.Millisecond, "central acks every event")
}

func (d *devices) nextLabel(tb testing.TB) printersim.Printed {
	tb.Helper()
	select {
	case p := <-d.printed:
		return p
	case <-time.After(wait):
		tb.Fatalf("no label printed within %v", wait)
		return printersim.Printed{}
	}
}
