// Package agent wires the edge agent together: the devices, the serial
// pool and the outbox on one bbolt file, the station, the MQTT session,
// the retained status, /metrics and the read-only state API; the
// touchscreen (edge/ui) mounts itself with Handle.
// `serialine-edge run` is New + Run.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/edge/dbcheck"
	"github.com/serialine/serialine/edge/outbox"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/edge/pool"
	"github.com/serialine/serialine/edge/session"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/metrics"
	"github.com/serialine/serialine/shared/wire"
)

// ErrNotRunning is returned by the operator calls before Run has started
// the line (or after it ended).
var ErrNotRunning = errors.New("edge agent not running")

// DBFile is the bbolt file in the data folder.
const DBFile = "edge.db"

// Agent is one line's edge agent.
type Agent struct {
	cfg Config
	log *slog.Logger
	prn *printer.Printer
	scn *scanner.Scanner
	plc *plc.PLC
	// pack is the packing mode, when enabled (packing.go).
	pack packingParts

	ready chan struct{}
	done  chan struct{}

	// metrics are the agent's /metrics families, read from scrape.
	metrics *metrics.Registry
	scrape  scrape

	// extra are the handlers mounted with Handle, served beside /metrics
	// and the state API.
	extra []mounted

	mu       sync.Mutex
	closing  map[string]bool // orders being closed at central's word
	pool     *pool.Pool
	ob       *outbox.Outbox
	sess     *session.Session
	st       *station.Station
	httpAddr string
	started  time.Time
}

// New checks cfg and builds the device drivers; nothing is opened or
// dialled until Run.
func New(cfg Config, log *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("agent: logger: missing")
	}
	a := &Agent{cfg: cfg, log: log, ready: make(chan struct{}), done: make(chan struct{})}
	a.metrics = a.newMetrics()
	pc, err := cfg.printerConfig()
	if err != nil {
		return nil, fmt.Errorf("printer: %w", err)
	}
	if a.prn, err = printer.New(pc, log.With("device", "printer")); err != nil {
		return nil, fmt.Errorf("printer: %w", err)
	}
	if a.scn, err = scanner.New(cfg.Scanner, log.With("device", "scanner")); err != nil {
		return nil, fmt.Errorf("scanner: %w", err)
	}
	if a.plc, err = plc.New(cfg.PLC, log.With("device", "plc")); err != nil {
		return nil, fmt.Errorf("plc: %w", err)
	}
	if err := a.newPackingDevices(); err != nil {
		return nil, err
	}
	return a, nil
}

type mounted struct {
	pattern string
	h       http.Handler
}

// Handle mounts h on the agent's HTTP server under pattern (an
// http.ServeMux pattern, e.g. "/" for the touchscreen); call it before Run.
// The agent's own routes (GET /metrics, GET /api/v1/state) are more
// specific and win. If h has a Close() method, Run calls it before
// shutting the server down, so long-lived streams end. Run fails if a
// pattern is malformed or conflicts with another.
func (a *Agent) Handle(pattern string, h http.Handler) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.extra = append(a.extra, mounted{pattern: pattern, h: h})
}

type operatorKey struct{}

// WithOperator returns ctx carrying the operator signed in at the
// touchscreen; the operator calls (StartLine, CloseOrder, ...) put that name
// on the events they make instead of the configured operator.
func WithOperator(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, operatorKey{}, name)
}

// OperatorFrom returns the operator WithOperator put in ctx.
func OperatorFrom(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(operatorKey{}).(string)
	return s, ok && s != ""
}

// operator is who acts in ctx: the signed-in operator, or the configured one.
func (a *Agent) operator(ctx context.Context) string {
	if name, ok := OperatorFrom(ctx); ok {
		return name
	}
	return a.cfg.Operator
}

// Ready is closed once Run has the line up: store open, station running,
// HTTP listening.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// HTTPAddr is the address /metrics and the API listen on (after Ready).
func (a *Agent) HTTPAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.httpAddr
}

// Run opens the store, voids what a crash left unaccounted, connects to
// the broker and the devices and runs the line until ctx ends; then it
// stops the line and closes everything cleanly.
//
// It is long because each part is opened with its defer in this frame, so that they
// close in reverse order (the devices and the session before the outbox and the store)
// whichever step fails.
func (a *Agent) Run(ctx context.Context) error {
	defer close(a.done)
	if err := os.MkdirAll(a.cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	path := filepath.Join(a.cfg.DataDir, DBFile)
	// Checked before bbolt trusts it: a damaged file is refused, never
	// guessed at (edge/dbcheck).
	db, err := dbcheck.Open(path, dbcheck.Options{}, a.log.With("part", "store"))
	if err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	defer db.Close()

	pl, err := pool.Open(db, a.cfg.poolConfig(), a.log.With("part", "pool"))
	if err != nil {
		return err
	}
	// The session hands central's acks to the outbox and its orders and
	// grants to the agent; the outbox publishes through the session. The
	// handlers only run once Connect is called, below, when both exist.
	var ob *outbox.Outbox
	scfg := a.cfg.sessionConfig()
	if scfg.Password, err = a.cfg.password(); err != nil {
		return err
	}
	if scfg.TLS, err = a.cfg.MQTT.tlsConfig(); err != nil {
		return err
	}
	sess, err := session.New(scfg, session.Handlers{
		Acks:      func(ack wire.Ack) { ob.Ack(ack) },
		Connected: func() { ob.Wake() },
		Orders:    a.onOrders,
		Grant:     a.onGrant,
	}, a.log.With("part", "session"))
	if err != nil {
		return err
	}
	ocfg := a.cfg.outboxConfig()
	ocfg.Publisher = sess
	ocfg.Hooks = a.commitHooks(pl)
	ocfg.OnCommitError = a.onCommitError
	ocfg.OnIncarnation = a.onIncarnation
	ob, err = outbox.Open(db, ocfg, a.log.With("part", "outbox"))
	if err != nil {
		return err
	}
	defer ob.Close()
	defer sess.Close() // first: the offline status goes out before the outbox stops
	voided, err := pl.Recover(ctx, ob)
	if err != nil {
		return err
	} else if voided > 0 {
		a.log.Warn("serials voided after an unclean stop", "count", voided, "reason", "unaccounted after restart")
	}
	st, err := station.New(a.cfg.stationConfig(), a.prn, a.scn, a.plc, pl, ob, a.log.With("part", "station"))
	if err != nil {
		return err
	}
	st.SetOrders(pl.Orders()) // known orders: the line can start while central is away
	if voided > 0 {
		st.Notice("restart", station.AlarmUncleanRestart, fmt.Sprintf("%d serials voided (reserved, no record of their fate)", voided))
	}
	a.mu.Lock()
	a.pool, a.ob, a.sess, a.st, a.started = pl, ob, sess, st, time.Now()
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.pool, a.ob, a.sess, a.st = nil, nil, nil, nil
		a.mu.Unlock()
	}()

	if err := sess.Connect(); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := a.plc.Connect(cctx); err != nil {
		a.log.Warn("plc not reachable at start; retrying in the background", "err", err)
	}
	if err := a.prn.Connect(cctx); err != nil {
		a.log.Warn("printer not ready at start; retrying in the background", "err", err)
	}
	cancel()
	defer a.plc.Close()
	defer a.prn.Close()

	h, closers, err := a.handler()
	if err != nil {
		return err
	}
	// The mounted handlers close first (their long-lived streams would hold
	// Shutdown), then the server; on every way out of Run after this point.
	var srv *http.Server
	var httpStopped sync.Once
	stopHTTP := func() {
		httpStopped.Do(func() {
			for _, c := range closers {
				c.Close()
			}
			if srv != nil {
				sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = srv.Shutdown(sctx)
				scancel()
			}
		})
	}
	defer stopHTTP()
	ln, err := net.Listen("tcp", a.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	srv, ln = NewHTTPServer(a.cfg.HTTPServer, h, ln, a.log)
	a.mu.Lock()
	a.httpAddr = ln.Addr().String()
	a.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}()

	rctx, stop := context.WithCancel(context.Background())
	waitPacking, err := a.startPacking(rctx, db, lineIO{ob, sess}, st)
	if err != nil {
		stop()
		return err
	}
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); pl.Run(rctx, sess) }()
	go func() { defer wg.Done(); a.watchDisk(rctx, st) }()
	go func() {
		defer wg.Done()
		if err := st.Run(rctx); err != nil {
			a.log.Error("station stopped", "err", err)
		}
	}()
	go func() { defer wg.Done(); a.publishStatus(rctx) }()
	a.log.Info("edge agent running", "line", a.cfg.Line, "http", a.httpAddr, "broker", a.cfg.MQTT.Broker, "data", path)
	close(a.ready)

	<-ctx.Done()
	a.log.Info("edge agent stopping")
	stop() // the station leaves the line stopped
	wg.Wait()
	waitPacking()
	stopHTTP()
	if err := pl.Close(); err != nil {
		a.log.Error("pool close", "err", err)
	}
	return nil
}

func (a *Agent) parts() (*pool.Pool, *outbox.Outbox, *station.Station, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.st == nil {
		return nil, nil, nil, ErrNotRunning
	}
	return a.pool, a.ob, a.st, nil
}

// commitHooks are the outbox's commit hooks, in order, inside the
// transaction that makes the events durable: the pool records the units'
// fates, then (packing on) the packer its records.
func (a *Agent) commitHooks(pl *pool.Pool) []outbox.CommitHook {
	hooks := []outbox.CommitHook{pl.RecordFates}
	if a.cfg.Packing.Enabled {
		hooks = append(hooks, func(tx *bolt.Tx, evs []wire.Event) error {
			// The packer is opened before the station, i.e. before any event.
			if pk := a.packer(); pk != nil {
				return pk.RecordEvents(tx, evs)
			}
			return nil
		})
	}
	return hooks
}

// lineIO is what packing needs of the line's link: the outbox for its
// events, the session for its SSCC requests.
type lineIO struct {
	ob   *outbox.Outbox
	sess *session.Session
}

func (l lineIO) AppendSync(ctx context.Context, evs ...wire.Event) (uint64, error) {
	return l.ob.AppendSync(ctx, evs...)
}

func (l lineIO) RequestSerials(ctx context.Context, req wire.SerialRequest) error {
	return l.sess.RequestSerials(ctx, req)
}

func (a *Agent) onGrant(g wire.SerialGrant) {
	if g.Kind.IsSSCC() {
		a.onSSCCGrant(g)
		return
	}
	pl, _, _, err := a.parts()
	if err != nil {
		return
	}
	if err := pl.ApplyGrant(g); err != nil {
		a.log.Warn("serial grant not applied", "request_id", g.RequestID, "order", g.Order, "err", err)
	}
}

// publishStatus keeps the retained status current: every StatusInterval
// and at every change of the line's state.
func (a *Agent) publishStatus(ctx context.Context) {
	t := time.NewTicker(a.cfg.StatusInterval)
	defer t.Stop()
	for {
		_, _, st, err := a.parts()
		if err != nil {
			return
		}
		a.mu.Lock()
		sess := a.sess
		a.mu.Unlock()
		changed := st.Changes()
		if err := sess.PublishStatus(a.status()); err != nil {
			a.log.Error("status not published", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
			// Coalesce bursts of changes.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// status is the retained status payload.
func (a *Agent) status() wire.Status {
	s := a.State()
	out := wire.Status{V: wire.Version, Line: a.cfg.Line, State: s.State, At: time.Now(), Devices: s.Devices, Outbox: s.Outbox.Pending,
		Alarms: statusAlarms(s.Alarms)}
	if s.Order != nil {
		out.Order = s.Order.ID
	}
	if s.Production != nil {
		out.OrderState = s.Production.State
	}
	if s.Pool != nil {
		c := s.Pool.Counts
		out.Counts = &c
		out.Pool = wire.Pool{Available: s.Pool.Available, MinutesLeft: s.Pool.MinutesLeft}
	}
	return out
}

// State is everything the operator's screen shows.
type State struct {
	station.Snapshot
	// Pool is the current order's serial stock, if an order runs.
	Pool *pool.Level `json:"pool,omitempty"`
	// Outbox is the event outbox and the MQTT session.
	Outbox outbox.Stats `json:"outbox"`
	// Orders are the orders the operator may start: released by central
	// and not closed at this line.
	Orders []wire.Order `json:"orders"`
	// PrintLatency is the trigger → print job time (p50, p99).
	PrintLatency [2]time.Duration `json:"print_latency_ns"`
	// Packing is the packing mode's state, when enabled.
	Packing *packing.Snapshot `json:"packing,omitempty"`
	// AlarmHistory is the last alarms, newest first.
	AlarmHistory []station.AlarmRecord `json:"alarm_history"`
}

// State returns the line's state (zero while not running).
func (a *Agent) State() State {
	pl, ob, st, err := a.parts()
	if err != nil {
		return State{Snapshot: station.Snapshot{Line: a.cfg.Line, State: wire.LineOffline}}
	}
	s := State{Snapshot: st.Snapshot(), Outbox: ob.Stats(), Orders: []wire.Order{}, AlarmHistory: st.History()}
	for _, o := range st.Orders() {
		// An order closed here stays in central's released list until
		// central has the close; it may not be started again, so it is
		// not offered.
		if l, err := pl.Level(o.ID); err == nil && l.Closed {
			continue
		}
		s.Orders = append(s.Orders, o)
	}
	if s.Order != nil {
		if l, err := pl.Level(s.Order.ID); err == nil {
			s.Pool = &l
		}
	}
	q := st.LatencyQuantiles(0.5, 0.99)
	s.PrintLatency = [2]time.Duration{q[0], q[1]}
	if pk := a.packer(); pk != nil {
		ps := pk.Snapshot()
		s.Packing = &ps
	}
	return s
}

// Changes returns a channel closed at the next change of the line's state,
// alarms, devices, order or serial stock.
func (a *Agent) Changes() <-chan struct{} {
	ch := make(chan struct{})
	pl, _, st, err := a.parts()
	if err != nil {
		close(ch)
		return ch
	}
	sc, pc := st.Changes(), pl.Changes()
	var kc <-chan struct{} // nil (never) without packing
	if pk := a.packer(); pk != nil {
		kc = pk.Changes()
	}
	go func() {
		defer close(ch)
		select {
		case <-sc:
		case <-pc:
		case <-kc:
		case <-a.done:
		}
	}()
	return ch
}

// StartLine runs a released order (or resumes the current one).
func (a *Agent) StartLine(ctx context.Context, orderID string) error {
	_, _, st, err := a.parts()
	if err != nil {
		return err
	}
	return st.StartLineAs(ctx, orderID, a.operator(ctx))
}

// Pause stops the conveyor; StartLine resumes.
func (a *Agent) Pause(ctx context.Context) error {
	_, _, st, err := a.parts()
	if err != nil {
		return err
	}
	return st.Pause(ctx)
}

// StopLine stops the line.
func (a *Agent) StopLine(ctx context.Context) error {
	_, _, st, err := a.parts()
	if err != nil {
		return err
	}
	return st.StopLine(ctx)
}

// Acknowledge acknowledges the alarms the signed-in person's role allows
// (WithSignIn; an operator otherwise).
func (a *Agent) Acknowledge(ctx context.Context) error {
	_, _, st, err := a.parts()
	if err != nil {
		return err
	}
	who, _ := OperatorFrom(ctx)
	return st.AcknowledgeAs(ctx, who, RoleFrom(ctx))
}

// CloseOrder closes the current order (the line must be stopped or
// paused): units still in flight are voided, unused serials returned, and
// the reconciliation sent to central, which it returns.
func (a *Agent) CloseOrder(ctx context.Context) (wire.Reconciliation, error) {
	pl, ob, st, err := a.parts()
	if err != nil {
		return wire.Reconciliation{}, err
	}
	id, err := st.Release(ctx)
	if err != nil {
		return wire.Reconciliation{}, err
	}
	return pl.CloseOrder(ctx, id, a.operator(ctx), ob)
}
