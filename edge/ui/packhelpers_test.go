package ui

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/label"
	"github.com/serialine/serialine/shared/wire"
	printersim "github.com/serialine/serialine/simulators/printer"
	scannersim "github.com/serialine/serialine/simulators/scanner"
)

const (
	packGTIN   = "09506000134352"
	packPrefix = "9506000"
	packWait   = 10 * time.Second
)

// Packer gives the screen the line's packing mode, as *agent.Agent does:
// ErrNotRunning until the test attaches a packer.
func (f *fakeLine) Packer() (*packing.Packer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pk == nil {
		return nil, fmt.Errorf("packing: %w", agent.ErrNotRunning)
	}
	return f.pk, nil
}

// attach makes pk the line's packer: its snapshot goes into the state and
// its changes wake the screen's streams, as the agent does.
func (f *fakeLine) attach(tb testing.TB, pk *packing.Packer) {
	f.mu.Lock()
	f.pk = pk
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	tb.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for {
			ch := pk.Changes()
			f.update(func(*agent.State) {})
			select {
			case <-ctx.Done():
				return
			case <-ch:
			}
		}
	}()
}

// memOutbox stands in for the agent's outbox and central: events are
// validated as the outbox would store them and recorded in the packer's
// commit hook inside one bbolt transaction (as the real outbox does), and
// SSCC requests are granted at once from a counter.
type memOutbox struct {
	db   *bolt.DB
	line string

	mu     sync.Mutex
	pk     *packing.Packer
	seq    uint64
	events []wire.Event
	next   map[string]uint64 // next serial reference per prefix
}

func (o *memOutbox) AppendSync(_ context.Context, evs ...wire.Event) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	evs = append([]wire.Event(nil), evs...)
	for i := range evs {
		o.seq++
		e := &evs[i]
		e.Seq, e.ID = o.seq, o.line+"-"+strconv.FormatUint(o.seq, 10)
		if e.At.IsZero() {
			e.At = time.Now().UTC()
		}
		if err := e.Validate(); err != nil {
			return 0, fmt.Errorf("events[%d]: %w", i, err)
		}
	}
	if err := o.db.Update(func(tx *bolt.Tx) error { return o.pk.RecordEvents(tx, evs) }); err != nil {
		return 0, err
	}
	o.events = append(o.events, evs...)
	return o.seq, nil
}

func (o *memOutbox) RequestSerials(_ context.Context, req wire.SerialRequest) error {
	if err := req.Validate(); err != nil {
		return err
	}
	o.mu.Lock()
	key := req.SSCC.String()
	start := o.next[key]
	o.next[key] = start + req.Count
	pk := o.pk
	o.mu.Unlock()
	return pk.ApplyGrant(wire.SerialGrant{V: wire.Version, RequestID: req.RequestID, Line: req.Line, Kind: req.Kind,
		SSCC: req.SSCC, Order: req.Order, Ranges: []wire.CounterRange{{Start: start, Count: req.Count}}})
}

func (o *memOutbox) Events() []wire.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]wire.Event(nil), o.events...)
}

// packRig is the packing side of a line behind the screen: a real packer
// on a bbolt file, the case printer (simulator over TCP, real driver) and
// the handheld scanner (simulator over TCP, real driver).
type packRig struct {
	pk      *packing.Packer
	ob      *memOutbox
	printed chan printersim.Printed
	scan    *scannersim.Simulator
	order   wire.Order
}

func startPacking(tb testing.TB, line *fakeLine, caseSize, palletSize int) *packRig {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })
	pr := &packRig{printed: make(chan printersim.Printed, 16), order: testOrder("WO-1")}

	psim, err := printersim.New(printersim.Config{Name: "case-printer", DPI: 203, WidthMM: 100, HeightMM: 50,
		OnPrint: func(p printersim.Printed) { pr.printed <- p }}, testkit.Discard())
	require.NoError(tb, err)
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	wg.Add(1)
	go func() { defer wg.Done(); _ = psim.Serve(ctx, pln) }()
	prn, err := printer.New(printer.Config{Name: "case-printer", Transport: "tcp:" + pln.Addr().String(),
		Layout: packing.LabelLayout(8), StatusInterval: 50 * time.Millisecond}, testkit.Discard())
	require.NoError(tb, err)
	cctx, ccancel := context.WithTimeout(ctx, packWait)
	defer ccancel()
	require.NoError(tb, prn.Connect(cctx))
	tb.Cleanup(func() { _ = prn.Close() })

	pr.scan, err = scannersim.New(scannersim.Config{Name: "handheld"}, testkit.Discard())
	require.NoError(tb, err)
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	wg.Add(1)
	go func() { defer wg.Done(); _ = pr.scan.Serve(ctx, sln) }()
	drv, err := scanner.New(scanner.Config{Name: "handheld", Transport: "tcp:" + sln.Addr().String(),
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond}, testkit.Discard())
	require.NoError(tb, err)

	db, err := bolt.Open(filepath.Join(tb.TempDir(), "edge.db"), 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	pr.ob = &memOutbox{db: db, line: "L1", next: map[string]uint64{}}
	pr.pk, err = packing.Open(db, packing.Config{Line: "L1", CompanyPrefix: packPrefix, CaseExtension: 0, PalletExtension: 1,
		CaseSize: caseSize, PalletSize: palletSize, LowWater: 5, RequestSize: 20, RequestRetry: 200 * time.Millisecond,
		Operator: func(ctx context.Context) string { n, _ := OperatorFrom(ctx); return n }}, prn, pr.ob, testkit.Discard())
	require.NoError(tb, err)
	pr.ob.pk = pr.pk
	require.NoError(tb, pr.pk.SetOrder(pr.order))

	results := make(chan scanner.Result, 16)
	wg.Add(2)
	go func() { defer wg.Done(); _ = drv.Run(ctx, results) }()
	go func() { defer wg.Done(); pr.pk.Run(ctx, results) }()
	require.Eventually(tb, func() bool { return pr.scan.Stats().Clients > 0 }, packWait, 5*time.Millisecond, "handheld connected")
	line.attach(tb, pr.pk)
	return pr
}

// serial is unit i's serial; data its code as a handheld sends it
// (transmitted, GS separators), typed its bracketed form as an operator
// types it; ref the child reference.
func serial(i int) string { return fmt.Sprintf("S%05d", i) }

func unitES(i int) gs1.ElementString {
	return gs1.ElementString{{AI: "01", Value: packGTIN}, {AI: "17", Value: "271231"}, {AI: "10", Value: "LOT-WO-1"}, {AI: "21", Value: serial(i)}}.Sorted()
}

func (pr *packRig) data(i int) string  { return unitES(i).Transmitted() }
func (pr *packRig) typed(i int) string { return unitES(i).Bracketed() }
func (pr *packRig) ref(i int) string   { return wire.UnitRef(packGTIN, serial(i)) }

// commission has the line commission units [from, to) of order o.
func (pr *packRig) commission(tb testing.TB, o wire.Order, from, to int) {
	tb.Helper()
	var evs []wire.Event
	for i := from; i < to; i++ {
		c := uint64(i)
		evs = append(evs, wire.Event{Type: wire.Commissioned, Order: o.ID, GTIN: packGTIN, Serial: serial(i), Lot: "LOT-WO-1", Expiry: "271231", Counter: &c})
	}
	_, err := pr.ob.AppendSync(context.Background(), evs...)
	require.NoError(tb, err)
}

// label waits for the next printed label and returns the SSCC its symbol
// carries, read from the pixels.
func (pr *packRig) label(tb testing.TB) string {
	tb.Helper()
	select {
	case p := <-pr.printed:
		require.NotNil(tb, p.Image)
		dec, err := label.Decode(p.Image)
		require.NoError(tb, err, "the printed label decodes")
		es, err := gs1.ParseTransmitted(dec.Data)
		require.NoError(tb, err)
		sscc, ok := es.Get("00")
		require.True(tb, ok, "the symbol carries (00): %q", dec.Data)
		return sscc
	case <-time.After(packWait):
		tb.Fatalf("no label printed within %v", packWait)
		return ""
	}
}
