package station

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/edge/outbox"
	"github.com/serialine/serialine/edge/pool"
	"github.com/serialine/serialine/edge/session"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/simulators/line"
)

// waitLong bounds every wait: a deadline against hangs, not a measure.
const waitLong = 60 * time.Second

func scanFormat() scanner.Format { return scanner.Format{Grade: scanner.GradeLetter, AssumeGS1: true} }

// lineConfig is a simulated line on loopback, every port picked by the
// system, stopped until the station starts it, with a print log.
func lineConfig(tb testing.TB) line.Config {
	cfg := line.DefaultConfig()
	cfg.Line = "t-station"
	cfg.Printer.Listen = "tcp:127.0.0.1:0"
	cfg.Scanner.Listen = "tcp:127.0.0.1:0"
	cfg.Scanner.Format = scanFormat()
	cfg.PLC.Listen = "127.0.0.1:0"
	cfg.PLC.StartStopped = true
	cfg.HTTP = "127.0.0.1:0"
	cfg.PrintLog = filepath.Join(tb.TempDir(), "print.log")
	// A print-and-apply head: a unit leaves the print station before the
	// next one enters, so a missing label leaves its unit blank.
	cfg.Jitter = 2
	cfg.Travel = line.Travel{PrintWindow: 0.8, PrinterToCamera: 8, CameraToReject: 6}
	return cfg
}

func testOrder() wire.Order {
	return wire.Order{ID: "WO-1", GTIN: "09506000134352", Lot: "LOT42", Expiry: "271231", Quantity: 100000,
		State: wire.OrderStateReleased, MinGrade: "C", Product: "Paracetamol 500 mg"}
}

// noSend is a Requester for rigs without a broker: grants are applied by
// the test itself.
type noSend struct{}

func (noSend) RequestSerials(context.Context, wire.SerialRequest) error { return nil }

// rig is a simulated line with the real drivers, pool and outbox around a
// station.
type rig struct {
	tb      testing.TB
	line    *line.Line
	plc     *plc.PLC
	printer *printer.Printer
	scanner *scanner.Scanner
	db      *bolt.DB
	pool    *pool.Pool
	outbox  *outbox.Outbox
	st      *Station
	cancel  context.CancelFunc
	done    chan error
	// failCommits makes every outbox commit fail, as a full disk does.
	failCommits atomic.Bool
	stRef       atomic.Pointer[Station]
}

type rigOptions struct {
	grant   uint64 // serials granted up front (0: none)
	broker  string // MQTT broker for the outbox ("": none)
	station Config
	order   *wire.Order // WO-1 (testOrder() when nil)
	// quality keeps the quality limits at their defaults (or as station
	// sets them). Otherwise they are off: the simulated line on a busy
	// test machine rejects units for timing alone, and only the tests of
	// the limits want them to stop it.
	quality bool
}

func newRig(tb testing.TB, lcfg line.Config, opts rigOptions) *rig {
	tb.Helper()
	log := testkit.Logger(tb)
	l, err := line.New(lcfg, slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelError})))
	require.NoError(tb, err)
	require.NoError(tb, l.Start(context.Background()))
	tb.Cleanup(func() { _ = l.Close() })
	d := l.Devices()
	r := &rig{tb: tb, line: l, done: make(chan error, 1)}

	r.plc, err = plc.New(plc.Config{Name: "plc", Transport: d.PLC, UnitID: d.PLCUnitID, PollInterval: time.Millisecond}, log)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = r.plc.Close() })
	require.NoError(tb, r.plc.Connect(testkit.Context(tb)))
	r.printer, err = printer.New(printer.Config{Name: "printer", Transport: d.Printer, Layout: zpl.DefaultLayout(12), StatusInterval: 20 * time.Millisecond}, log)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = r.printer.Close() })
	require.NoError(tb, r.printer.Connect(testkit.Context(tb)))
	r.scanner, err = scanner.New(scanner.Config{Name: "scanner", Transport: d.Scanner, Format: scanFormat(), ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond}, log)
	require.NoError(tb, err)

	r.db, err = bolt.Open(filepath.Join(tb.TempDir(), "edge.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = r.db.Close() })
	r.pool, err = pool.Open(r.db, pool.Config{Line: lcfg.Line}, log)
	require.NoError(tb, err)
	ocfg := outbox.Config{Line: lcfg.Line,
		Hooks: []outbox.CommitHook{func(tx *bolt.Tx, evs []wire.Event) error {
			if r.failCommits.Load() {
				return errors.New("write edge.db: no space left on device")
			}
			return r.pool.RecordFates(tx, evs)
		}},
		OnCommitError: func(err error, evs []wire.Event) {
			if st := r.stRef.Load(); st != nil {
				st.StorageFault(err, evs)
			}
		}}
	var sess *session.Session
	if opts.broker != "" {
		sess, err = session.New(session.Config{Line: lcfg.Line, Broker: opts.broker}, session.Handlers{
			Acks: func(a wire.Ack) { r.outbox.Ack(a) }, Connected: func() { r.outbox.Wake() }}, log)
		require.NoError(tb, err)
		ocfg.Publisher = sess
	}
	r.outbox, err = outbox.Open(r.db, ocfg, log)
	require.NoError(tb, err)
	if sess != nil {
		require.NoError(tb, sess.Connect())
		tb.Cleanup(sess.Close)
	}
	tb.Cleanup(func() { _ = r.outbox.Close() })

	o := testOrder()
	if opts.order != nil {
		o = *opts.order
	}
	require.NoError(tb, r.pool.AddOrder(o))
	if opts.grant > 0 {
		r.grant(opts.grant)
	}
	scfg := opts.station
	scfg.Line = lcfg.Line
	if !opts.quality && scfg.MaxConsecutiveRejects == 0 && scfg.MaxRejectRate == 0 {
		scfg.MaxConsecutiveRejects, scfg.MaxRejectRate = 1000, 100
	}
	if scfg.PrinterToCamera == 0 {
		scfg.PrinterToCamera, scfg.CameraToReject, scfg.Jitter = lcfg.Travel.PrinterToCamera, lcfg.Travel.CameraToReject, lcfg.Jitter
		scfg.PrintWindow = lcfg.Travel.PrintWindow
	}
	if scfg.TriggerLag == 0 {
		scfg.TriggerLag = time.Millisecond // the PLC poll interval below
	}
	if scfg.MonitorEvery == 0 {
		scfg.MonitorEvery, scfg.PrinterPoll = 20*time.Millisecond, 50*time.Millisecond
	}
	r.st, err = New(scfg, r.printer, r.scanner, r.plc, r.pool, r.outbox, log)
	require.NoError(tb, err)
	r.stRef.Store(r.st)
	r.st.SetOrders([]wire.Order{o})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	poolDone := make(chan struct{})
	go func() { defer close(poolDone); r.pool.Run(ctx, noSend{}) }()
	go func() {
		err := r.st.Run(ctx)
		<-poolDone
		r.done <- err
	}()
	tb.Cleanup(r.stop)
	// Ready when every device reports healthy.
	r.waitState(func(s Snapshot) bool {
		return len(s.Alarms) == 0 && s.Devices["scanner"].State == wire.DeviceOK && s.Devices["printer"].State == wire.DeviceOK && s.Devices["plc"].State == wire.DeviceOK
	}, "devices healthy")
	return r
}

// grant gives the order n more serials, as central would.
func (r *rig) grant(n uint64) {
	r.tb.Helper()
	req, err := r.pool.RequestNow(testkit.Context(r.tb), "WO-1", noSend{})
	require.NoError(r.tb, err)
	l, err := r.pool.Level("WO-1")
	require.NoError(r.tb, err)
	spec := serials.Spec{Kind: serials.KindSequential, Length: 12, Alphabet: serials.AlphabetNumeric, Start: 100_000_000_000}
	g := wire.SerialGrant{V: 1, RequestID: req.RequestID, Line: r.line.Status().Line, Order: "WO-1", GTIN: testOrder().GTIN,
		Scheme: &spec, Ranges: []wire.CounterRange{{Start: l.Granted, Count: n}}}
	require.NoError(r.tb, g.Validate())
	require.NoError(r.tb, r.pool.ApplyGrant(g))
}

func (r *rig) stop() {
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
		select {
		case err := <-r.done:
			require.NoError(r.tb, err)
		case <-time.After(waitLong):
			r.tb.Errorf("station did not stop")
		}
	}
}

// waitState waits until cond holds for the station's snapshot.
func (r *rig) waitState(cond func(Snapshot) bool, what string) Snapshot {
	r.tb.Helper()
	deadline := time.After(waitLong)
	for {
		ch := r.st.Changes()
		s := r.st.Snapshot()
		if cond(s) {
			return s
		}
		select {
		case <-ch:
		case <-time.After(5 * time.Millisecond): // counters change without notice: look again
		case <-deadline:
			r.tb.Fatalf("station: waiting for %s; state %s, alarms %+v, counts %+v", what, s.State, s.Alarms, s.Counts)
			return s
		}
	}
}

// startLine starts order WO-1 and the line. The infeed is held back until
// the conveyor runs: the simulator's clock would otherwise catch up on the
// time since its last tick at once, feeding a burst of products.
func (r *rig) startLine(ctx context.Context) {
	r.tb.Helper()
	r.setFault("line", "starved", true)
	require.NoError(r.tb, r.st.StartLine(ctx, "WO-1"))
	require.Eventually(r.tb, func() bool { return r.line.Status().Running }, waitLong, time.Millisecond)
	r.setFault("line", "starved", false)
}

func (r *rig) setFault(device, fault string, v any) {
	r.tb.Helper()
	b, err := json.Marshal(v)
	require.NoError(r.tb, err)
	require.NoError(r.tb, r.line.SetFault(line.FaultChange{Device: device, Fault: fault, Value: b}))
}

// events returns every event in the outbox.
func (r *rig) events() []wire.Event {
	r.tb.Helper()
	require.NoError(r.tb, r.outbox.Flush(testkit.Context(r.tb)))
	evs, err := r.outbox.Events(0, 1<<20)
	require.NoError(r.tb, err)
	return evs
}
