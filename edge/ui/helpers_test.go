package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/edge/pool"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// fakeLine is an in-memory Line. The screen's tests need a line whose
// state they set at will; the real agent is exercised by its own tests
// (edge/agent) and by the system tests, which run the screen on it.
type fakeLine struct {
	mu       sync.Mutex
	st       agent.State
	changed  chan struct{}
	calls    []lineCall
	recon    wire.Reconciliation
	pk       *packing.Packer // the packing mode, once attached (packhelpers_test.go)
	extended []string        // "units: reason" of each extension
}

type lineCall struct {
	Name, Order, Operator string
}

func testOrder(id string) wire.Order {
	return wire.Order{ID: id, GTIN: "09506000134352", Lot: "LOT-" + id, Expiry: "271231", Quantity: 1000,
		State: wire.OrderStateReleased, Product: "Amoxicillin 500 mg ×20"}
}

func newFakeLine() *fakeLine {
	return &fakeLine{
		changed: make(chan struct{}),
		st: agent.State{
			Snapshot: station.Snapshot{Line: "L1", State: wire.LineStopped, Want: wire.LineStopped,
				Alarms: []station.Alarm{},
				Devices: map[string]wire.DeviceHealth{
					"printer": {State: wire.DeviceOK}, "scanner": {State: wire.DeviceOK}, "plc": {State: wire.DeviceOK},
				},
				Counts: station.Counts{Rejected: map[wire.Reason]uint64{}}},
			Orders: []wire.Order{testOrder("WO-1")},
		},
		recon: wire.Reconciliation{Granted: 100, Commissioned: 90, Decommissioned: map[wire.Reason]uint64{wire.ReasonNoRead: 4}, Voided: 1, ReturnedUnused: 5},
	}
}

func (f *fakeLine) State() agent.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.st
	s.Counts.Rejected = map[wire.Reason]uint64{}
	for k, v := range f.st.Counts.Rejected {
		s.Counts.Rejected[k] = v
	}
	s.Alarms = append([]station.Alarm(nil), f.st.Alarms...)
	if p := f.st.Production; p != nil {
		c := *p
		s.Production = &c
	}
	s.Orders = append([]wire.Order(nil), f.st.Orders...)
	if f.pk != nil {
		ps := f.pk.Snapshot()
		s.Packing = &ps
	}
	return s
}

func (f *fakeLine) Changes() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// update changes the state and wakes the Changes waiters.
func (f *fakeLine) update(fn func(*agent.State)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.st)
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeLine) note(ctx context.Context, name, order string) {
	op, _ := OperatorFrom(ctx)
	f.mu.Lock()
	f.calls = append(f.calls, lineCall{Name: name, Order: order, Operator: op})
	f.mu.Unlock()
}

func (f *fakeLine) Calls() []lineCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]lineCall(nil), f.calls...)
}

func (f *fakeLine) StartLine(ctx context.Context, order string) error {
	f.note(ctx, "start", order)
	var err error
	f.update(func(s *agent.State) {
		if len(s.Alarms) > 0 { // as the station: no start during an alarm
			err = fmt.Errorf("start %q: %w", order, station.ErrAlarm)
			return
		}
		for _, o := range s.Orders {
			if o.ID == order {
				o := o
				s.Order = &o
			}
		}
		if s.Order == nil || s.Order.ID != order {
			err = errors.New("order " + order + " is not released to this line")
			return
		}
		s.State, s.Want = wire.LineRunning, wire.LineRunning
		if s.Production == nil || s.Production.Order != order {
			s.Production = &station.Production{Order: order, Quantity: s.Order.Quantity, Remaining: s.Order.Quantity, Allowance: 50, AllowanceLeft: 50}
		}
		s.Production.State = wire.ProgressRunning
		s.Pool = &pool.Level{Order: order, Granted: 500, Available: 500, Rate: 100, MinutesLeft: 5}
	})
	return err
}

func (f *fakeLine) setState(st wire.LineState) {
	f.update(func(s *agent.State) {
		s.State, s.Want = st, st
		if s.Production != nil {
			s.Production.State = map[wire.LineState]wire.OrderProgress{wire.LineRunning: wire.ProgressRunning, wire.LinePaused: wire.ProgressPaused}[st]
			if s.Production.State == "" {
				s.Production.State = wire.ProgressStopped
			}
		}
	})
}

func (f *fakeLine) Pause(ctx context.Context) error {
	f.note(ctx, "pause", "")
	f.setState(wire.LinePaused)
	return nil
}

func (f *fakeLine) StopLine(ctx context.Context) error {
	f.note(ctx, "stop", "")
	f.setState(wire.LineStopped)
	return nil
}

// Acknowledge acknowledges, as the station does, the alarms the role in
// ctx may; those needing a higher role stay and are named in the error.
func (f *fakeLine) Acknowledge(ctx context.Context) error {
	f.note(ctx, "ack", "")
	role := RoleFrom(ctx)
	var refused []string
	f.update(func(s *agent.State) {
		var keep []station.Alarm
		for _, a := range s.Alarms {
			if !role.May(a.AckRole) {
				if !a.Acked {
					refused = append(refused, string(a.Code)+" needs "+string(a.AckRole))
				}
				keep = append(keep, a)
				continue
			}
			a.Acked = true
			if a.Active {
				keep = append(keep, a)
			}
		}
		s.Alarms = keep
	})
	if len(refused) > 0 {
		return fmt.Errorf("station: acknowledge: %w: %s", station.ErrRole, strings.Join(refused, "; "))
	}
	return nil
}

func (f *fakeLine) CloseOrder(ctx context.Context) (wire.Reconciliation, error) {
	f.note(ctx, "close", "")
	f.update(func(s *agent.State) {
		if s.Order != nil {
			s.Orders = slices.DeleteFunc(s.Orders, func(o wire.Order) bool { return o.ID == s.Order.ID })
		}
		s.Order, s.Pool, s.Production = nil, nil, nil
	})
	return f.recon, nil
}

// ExtendAllowance extends the running order's allowance, as the agent
// does: a supervisor's or QA's decision.
func (f *fakeLine) ExtendAllowance(ctx context.Context, units uint64, reason string) error {
	f.note(ctx, "extend", "")
	if !RoleFrom(ctx).May(station.RoleSupervisor) {
		return fmt.Errorf("extend allowance: %w", agent.ErrRole)
	}
	var err error
	f.update(func(s *agent.State) {
		p := s.Production
		if p == nil {
			err = errors.New("extend allowance: no order is running")
			return
		}
		p.Allowance += units
		p.AllowanceLeft = p.Allowance - min(p.Allowance, p.Rejected)
		f.extended = append(f.extended, fmt.Sprintf("%d: %s", units, reason))
	})
	return err
}

// memRecorder keeps what the screen records.
type memRecorder struct {
	mu  sync.Mutex
	got []Action
}

func (m *memRecorder) Record(_ context.Context, a Action) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, a)
	return nil
}

func (m *memRecorder) Actions() []Action {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Action(nil), m.got...)
}

// clock is a settable clock for the session and lock-out tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	pinAna   = "1234"
	pinBen   = "987654"
	pinSam   = "246810" // supervisor
	pinQuinn = "135790" // qa
)

// testOperators has Ana and Ben (operators), Sam (supervisor) and Quinn
// (QA), hashed with few iterations to keep the tests fast.
func testOperators(tb testing.TB) *StaticOperators {
	tb.Helper()
	var cfg []OperatorConfig
	for _, o := range []struct {
		name, pin string
		role      station.Role
	}{{"Ana", pinAna, ""}, {"Ben", pinBen, station.RoleOperator}, {"Sam", pinSam, station.RoleSupervisor}, {"Quinn", pinQuinn, station.RoleQA}} {
		h, err := HashPIN(o.pin, 1000)
		require.NoError(tb, err)
		cfg = append(cfg, OperatorConfig{Name: o.name, PINHash: h, Role: o.role})
	}
	ops, err := NewOperators(cfg)
	require.NoError(tb, err)
	return ops
}

type rig struct {
	ui     *UI
	line   *fakeLine
	rec    *memRecorder
	clock  *clock
	srv    *httptest.Server
	stream *streamGate
}

// streamGate stands between the screen and its event streams so a test
// can drop them from the server side: cut ends every open stream and
// answers new ones 503 (as an agent that is restarting), restore lets
// them through again.
type streamGate struct {
	h       http.Handler
	mu      sync.Mutex
	down    bool
	n       int
	cancels map[int]context.CancelFunc
}

func (g *streamGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ui/events" {
		g.h.ServeHTTP(w, r)
		return
	}
	g.mu.Lock()
	if g.down {
		g.mu.Unlock()
		http.Error(w, "the agent is restarting", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	g.n++
	id := g.n
	g.cancels[id] = cancel
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.cancels, id)
		g.mu.Unlock()
		cancel()
	}()
	g.h.ServeHTTP(w, r.WithContext(ctx))
}

// cut ends the open streams and refuses new ones.
func (g *streamGate) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = true
	for _, c := range g.cancels {
		c()
	}
}

func (g *streamGate) restore() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = false
}

// open is the number of streams being served.
func (g *streamGate) open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.cancels)
}

// catalogued is an alarm as the station raises it: the catalogue's texts
// for code, the device's own words as the fault.
func catalogued(tb testing.TB, code station.AlarmCode, device, fault string, since time.Time) station.Alarm {
	tb.Helper()
	for _, sp := range station.Catalogue() {
		if sp.Code == code {
			return station.Alarm{Code: code, Message: sp.Cause, Action: sp.Action, AckRole: sp.AckRole, Device: device,
				Fault: fault, Since: since, StoppedLine: true}
		}
	}
	tb.Fatalf("no alarm %s in the catalogue", code)
	return station.Alarm{}
}

// newRig serves a screen on a fake line on 127.0.0.1:0.
func newRig(tb testing.TB, cfg Config) *rig {
	tb.Helper()
	return newRigOps(tb, cfg, testOperators(tb))
}

// newRigOps is newRig with the operators ops.
func newRigOps(tb testing.TB, cfg Config, ops Operators) *rig {
	tb.Helper()
	r := &rig{line: newFakeLine(), rec: &memRecorder{}, clock: &clock{now: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)}}
	if cfg.Now == nil {
		cfg.Now = r.clock.Now
	}
	u, err := New(cfg, r.line, ops, r.rec, testkit.Discard())
	require.NoError(tb, err)
	r.ui = u
	r.stream = &streamGate{h: u, cancels: map[int]context.CancelFunc{}}
	r.srv = httptest.NewServer(r.stream) // 127.0.0.1:0
	tb.Cleanup(r.srv.Close)
	tb.Cleanup(u.Close) // runs first: ends the event streams
	return r
}

// client is a browser-like client with its own cookie jar.
func (r *rig) client(tb testing.TB) *http.Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(tb, err)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// post sends a JSON body and decodes the JSON answer into a map.
func (r *rig) post(tb testing.TB, c *http.Client, path, body string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+path, strings.NewReader(body))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	var out map[string]any
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	if len(b) > 0 && b[0] == '{' {
		require.NoError(tb, json.Unmarshal(b, &out), "body %s", b)
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	require.NoError(tb, err, "path %s", path)
	require.Equal(tb, "application/json", mt, "path %s", path)
	return resp.StatusCode, out
}

func (r *rig) signIn(tb testing.TB, c *http.Client, pin string) {
	tb.Helper()
	code, body := r.post(tb, c, "/ui/signin", `{"pin":"`+pin+`"}`)
	require.Equal(tb, http.StatusOK, code, "sign-in: %v", body)
}
