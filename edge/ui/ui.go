// Package ui is the line operator's touchscreen: one server-rendered page
// with a little vanilla JS, live by server-sent events, and a PIN sign-in
// in front of every action but Stop and Pause (a stop is never locked out).
// It runs inside serialine-edge, mounted at "/" of the agent's HTTP server.
package ui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/wire"
)

//go:embed assets
var assets embed.FS

// Line is the part of the edge agent the screen drives (*agent.Agent).
type Line interface {
	State() agent.State
	Changes() <-chan struct{}
	StartLine(ctx context.Context, order string) error
	Pause(context.Context) error
	StopLine(context.Context) error
	Acknowledge(context.Context) error
	CloseOrder(context.Context) (wire.Reconciliation, error)
	ExtendAllowance(ctx context.Context, units uint64, reason string) error
}

// Operators checks a PIN and names its person and role.
type Operators interface {
	Check(pin string) (Person, bool)
}

// Recorder takes every operator action, for the agent to send to central
// as events.
type Recorder interface {
	Record(ctx context.Context, a Action) error
}

// Action is one thing an operator did at the screen.
type Action struct {
	// Operator is who acted: the signed-in person, the person whose PIN
	// came with the action, or Unsigned (Stop and Pause need no sign-in).
	Operator string `json:"operator"`
	// Role is the operator's role, "" for Unsigned.
	Role   station.Role `json:"role,omitempty"`
	Action string       `json:"action"` // sign-in, sign-out, start, pause, stop, ack, close, extend, and the packing actions (ActPackScan ...)
	Order  string       `json:"order,omitempty"`
	At     time.Time    `json:"at"`
	// Note is what an action decided: the units and reason of an extension.
	Note string `json:"note,omitempty"`
	// Container (an SSCC), Unit (a code as entered, or "(01)…(21)…") and
	// With (the replacement unit) say what a packing action concerned.
	Container string `json:"container,omitempty"`
	Unit      string `json:"unit,omitempty"`
	With      string `json:"with,omitempty"`
	// Error is the line's refusal, if it refused.
	Error string `json:"error,omitempty"`
}

// The action names.
const (
	ActSignIn  = "sign-in"
	ActSignOut = "sign-out"
	ActStart   = "start"
	ActPause   = "pause"
	ActStop    = "stop"
	ActAck     = "ack"
	ActClose   = "close"
	ActExtend  = "extend"
)

// Unsigned is the action log's operator of a Stop or Pause made without a
// sign-in.
const Unsigned = "unsigned"

// WithSignIn returns ctx carrying who acts and their role; the screen
// passes it to every Line call of a signed-in person. The agent owns the
// context keys (agent.WithSignIn), so it puts the name on the events it
// makes and lets the role decide what may be done.
func WithSignIn(ctx context.Context, p Person) context.Context {
	return agent.WithSignIn(ctx, p.Name, p.Role)
}

// OperatorFrom returns the name WithSignIn put in ctx.
func OperatorFrom(ctx context.Context) (string, bool) { return agent.OperatorFrom(ctx) }

// RoleFrom returns the role WithSignIn put in ctx (operator otherwise).
func RoleFrom(ctx context.Context) station.Role { return agent.RoleFrom(ctx) }

// Config tunes the screen; zero values take the defaults.
type Config struct {
	// SessionIdle signs an operator out after this long without a touch
	// on the screen (default 10 min).
	SessionIdle time.Duration `yaml:"session_idle"`
	// MaxPINFailures wrong PINs (within LockOut) at a screen that has
	// signed in before lock its PIN checks for LockOut (defaults 5 and
	// 1 min); MaxPINFailuresGlobal is the budget all other clients share,
	// whatever their address (default MaxPINFailures). See pingate.go.
	MaxPINFailures       int           `yaml:"max_pin_failures"`
	MaxPINFailuresGlobal int           `yaml:"max_pin_failures_global"`
	LockOut              time.Duration `yaml:"lock_out"`
	// Hosts are the names the screen is opened with (HOST or HOST:PORT;
	// without a port, the one it listens on); a request for another
	// Host, or an action from another Origin, is refused (DNS
	// rebinding). Empty: localhost, 127.0.0.1, [::1] and the address it
	// listens on, with its port.
	Hosts []string `yaml:"hosts"`
	// Heartbeat is the interval of the event stream's heartbeat (15 s).
	Heartbeat time.Duration `yaml:"heartbeat"`
	// MinPush is the shortest time between two state pushes on one
	// stream, so a fast line does not flood the screen (200 ms).
	MinPush time.Duration `yaml:"min_push"`
	// PoolWarnMinutes: the pool shows a warning when it will be empty
	// within this many minutes at the current rate (10).
	PoolWarnMinutes float64 `yaml:"pool_warn_minutes"`
	// ActionLog is how many actions the in-memory log keeps (10,000).
	ActionLog int `yaml:"action_log"`
	// Now is the clock (time.Now); tests set it.
	Now func() time.Time `yaml:"-"`
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.SessionIdle == 0 {
		c.SessionIdle = 10 * time.Minute
	}
	if c.MaxPINFailures == 0 {
		c.MaxPINFailures = 5
	}
	if c.MaxPINFailuresGlobal == 0 {
		c.MaxPINFailuresGlobal = c.MaxPINFailures
	}
	if c.LockOut == 0 {
		c.LockOut = time.Minute
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.MinPush == 0 {
		c.MinPush = 200 * time.Millisecond
	}
	if c.PoolWarnMinutes == 0 {
		c.PoolWarnMinutes = 10
	}
	if c.ActionLog == 0 {
		c.ActionLog = 10_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks the (defaulted) values.
func (c Config) Validate() error {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"session_idle", c.SessionIdle}, {"lock_out", c.LockOut}, {"heartbeat", c.Heartbeat}, {"min_push", c.MinPush}} {
		if d.v < 0 {
			return fmt.Errorf("ui: %s: must be positive, got %v", d.key, d.v)
		}
	}
	if c.MaxPINFailures < 0 {
		return fmt.Errorf("ui: max_pin_failures: must be positive, got %d", c.MaxPINFailures)
	}
	if c.MaxPINFailuresGlobal < 0 {
		return fmt.Errorf("ui: max_pin_failures_global: must be positive, got %d", c.MaxPINFailuresGlobal)
	}
	if _, err := parseHosts(c.Hosts); err != nil {
		return err
	}
	if c.PoolWarnMinutes < 0 {
		return fmt.Errorf("ui: pool_warn_minutes: must be positive, got %v", c.PoolWarnMinutes)
	}
	if c.ActionLog < 0 {
		return fmt.Errorf("ui: action_log: must be positive, got %d", c.ActionLog)
	}
	return nil
}

// UI is the touchscreen's HTTP handler.
type UI struct {
	cfg  Config
	line Line
	ops  Operators
	rec  Recorder
	log  *slog.Logger
	mux  *http.ServeMux
	page *template.Template
	done chan struct{}
	once sync.Once
	// hosts are the names the screen answers to (none: the loopback
	// names); pins is the PIN lock-out.
	hosts []hostName
	pins  *pinGate

	mu       sync.Mutex
	sessions map[string]*session
	actions  []Action
	// last is the order the screen last showed running, kept to tell the
	// operator it was closed (View.Order with state closed) until another
	// order starts.
	last *shown
	// closedHere is the order last closed at this screen.
	closedHere string
}

type session struct {
	who  Person
	last time.Time
}

// New builds the screen. rec may be nil (the in-memory action log is
// kept either way); nothing starts until requests come.
func New(cfg Config, line Line, ops Operators, rec Recorder, log *slog.Logger) (*UI, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case line == nil:
		return nil, errors.New("ui: line: missing")
	case ops == nil:
		return nil, errors.New("ui: operators: missing")
	case log == nil:
		return nil, errors.New("ui: logger: missing")
	}
	page, err := template.ParseFS(assets, "assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("ui: page template: %w", err)
	}
	hosts, err := parseHosts(cfg.Hosts)
	if err != nil {
		return nil, err
	}
	u := &UI{cfg: cfg, line: line, ops: ops, rec: rec, log: log, page: page, done: make(chan struct{}),
		sessions: map[string]*session{}, hosts: hosts, pins: newPINGate(cfg)}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, fmt.Errorf("ui: assets: %w", err)
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", u.servePage)
	m.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /ui/state", u.serveState)
	m.HandleFunc("GET /ui/events", u.serveEvents)
	m.HandleFunc("GET /ui/actions", u.serveActions)
	m.HandleFunc("POST /ui/signin", u.serveSignIn)
	m.HandleFunc("POST /ui/signout", u.serveSignOut)
	m.HandleFunc("POST /ui/touch", u.serveTouch)
	m.HandleFunc("POST /ui/start", u.serveStart)
	m.HandleFunc("POST /ui/pause", u.unsigned(ActPause, line.Pause))
	m.HandleFunc("POST /ui/stop", u.unsigned(ActStop, line.StopLine))
	m.HandleFunc("POST /ui/ack", u.serveAck)
	m.HandleFunc("POST /ui/close", u.serveClose)
	m.HandleFunc("POST /ui/extend", u.serveExtend)
	u.registerPacking(m)
	u.mux = m
	return u, nil
}

// ServeHTTP serves the page, its assets and its API under /ui/.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if !u.checkHost(w, r) {
		return
	}
	u.mux.ServeHTTP(w, r)
}

// Close ends the open event streams (call it before shutting the HTTP
// server down, which otherwise waits for them).
func (u *UI) Close() { u.once.Do(func() { close(u.done) }) }

// Actions returns the action log, oldest first.
func (u *UI) Actions() []Action {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Action(nil), u.actions...)
}

// record appends to the action log and hands the action to the Recorder.
func (u *UI) record(ctx context.Context, a Action) {
	u.mu.Lock()
	if len(u.actions) >= u.cfg.ActionLog {
		// Drop the oldest; the Recorder has them all.
		u.actions = append(u.actions[:0], u.actions[len(u.actions)-u.cfg.ActionLog+1:]...)
	}
	u.actions = append(u.actions, a)
	u.mu.Unlock()
	u.log.Info("operator action", "operator", a.Operator, "role", a.Role, "action", a.Action, "order", a.Order,
		"container", a.Container, "unit", a.Unit, "with", a.With, "note", a.Note, "err", a.Error)
	if u.rec == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := u.rec.Record(rctx, a); err != nil {
		u.log.Error("operator action not recorded", "operator", a.Operator, "action", a.Action, "err", err)
	}
}

type errBody struct {
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
	SignIn bool   `json:"sign_in,omitempty"`
	// Role is the role the refused action needs (a PIN of that role, or a
	// higher one, may do it).
	Role station.Role `json:"role,omitempty"`
	// Reason is a refused scan's reason (edge/packing), e.g. already-packed.
	Reason string `json:"reason,omitempty"`
}

// decode reads a small JSON body into v (an empty body leaves v as is).
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (u *UI) serveActions(w http.ResponseWriter, r *http.Request) {
	if _, ok := u.signedIn(r, false); !ok {
		httpjson.Write(w, http.StatusForbidden, errBody{Error: "not signed in: sign in with your PIN first", SignIn: true})
		return
	}
	httpjson.Write(w, http.StatusOK, u.Actions())
}

func (u *UI) serveState(w http.ResponseWriter, r *http.Request) {
	who, _ := u.signedIn(r, false)
	httpjson.Write(w, http.StatusOK, u.view(who))
}

func (u *UI) servePage(w http.ResponseWriter, r *http.Request) {
	who, _ := u.signedIn(r, false)
	v := u.view(who)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := u.page.Execute(w, v); err != nil {
		u.log.Error("page not rendered", "err", err)
	}
}
