// Package ui is the line operator's touchscreen: one server-rendered page
// with a little vanilla JS, live by server-sent events, and a PIN sign-in
// in front of every action. It runs inside serialine-edge, mounted at "/"
// of the agent's HTTP server.
package ui

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/shared/wire"
)

//go:embed assets
var assets embed.FS

// Line is the part of the edge agent the screen drives (*agent.Agent).
type Line interface {
	State() agent.State
	Changes() <-chan struct{}
	Start(ctx context.Context, order string) error
	Pause(context.Context) error
	Stop(context.Context) error
	Acknowledge(context.Context) error
	CloseOrder(context.Context) (wire.Reconciliation, error)
}

// Operators checks a PIN and names its operator.
type Operators interface {
	Check(pin string) (name string, ok bool)
}

// Recorder takes every operator action, for the agent to send to central
// as events.
type Recorder interface {
	Record(ctx context.Context, a Action) error
}

// Action is one thing an operator did at the screen.
type Action struct {
	Operator string    `json:"operator"`
	Action   string    `json:"action"` // sign-in, sign-out, start, pause, stop, ack, close, and the packing actions (ActPackScan ...)
	Order    string    `json:"order,omitempty"`
	At       time.Time `json:"at"`
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
)

// WithOperator returns ctx carrying the signed-in operator's name; the
// screen passes it to every Line call. The agent owns the context key
// (agent.WithOperator), so it puts the name on the events it makes.
func WithOperator(ctx context.Context, name string) context.Context {
	return agent.WithOperator(ctx, name)
}

// OperatorFrom returns the operator WithOperator put in ctx.
func OperatorFrom(ctx context.Context) (string, bool) { return agent.OperatorFrom(ctx) }

// Config tunes the screen; zero values take the defaults.
type Config struct {
	// SessionIdle signs an operator out after this long without a touch
	// on the screen (default 10 min).
	SessionIdle time.Duration `yaml:"session_idle"`
	// MaxPINFailures wrong PINs in a row from one client lock sign-in for
	// LockOut (defaults 5 and 1 min).
	MaxPINFailures int           `yaml:"max_pin_failures"`
	LockOut        time.Duration `yaml:"lock_out"`
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

	mu       sync.Mutex
	sessions map[string]*session
	failures map[string]*failure
	actions  []Action
}

type session struct {
	operator string
	last     time.Time
}

type failure struct {
	n     int
	until time.Time // locked until
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
	u := &UI{cfg: cfg, line: line, ops: ops, rec: rec, log: log, page: page, done: make(chan struct{}),
		sessions: map[string]*session{}, failures: map[string]*failure{}}
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
	m.HandleFunc("POST /ui/pause", u.simple(ActPause, line.Pause))
	m.HandleFunc("POST /ui/stop", u.simple(ActStop, line.Stop))
	m.HandleFunc("POST /ui/ack", u.simple(ActAck, line.Acknowledge))
	m.HandleFunc("POST /ui/close", u.serveClose)
	u.registerPacking(m)
	u.mux = m
	return u, nil
}

// ServeHTTP serves the page, its assets and its API under /ui/.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
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

const cookieName = "serialine_operator"

// operator returns the signed-in operator of r; touch marks activity.
func (u *UI) operator(r *http.Request, touch bool) (string, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return "", false
	}
	now := u.cfg.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.sessions[c.Value]
	if !ok {
		return "", false
	}
	if now.Sub(s.last) >= u.cfg.SessionIdle {
		delete(u.sessions, c.Value)
		return "", false
	}
	if touch {
		s.last = now
	}
	return s.operator, true
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
	u.log.Info("operator action", "operator", a.Operator, "action", a.Action, "order", a.Order,
		"container", a.Container, "unit", a.Unit, "with", a.With, "err", a.Error)
	if u.rec == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := u.rec.Record(rctx, a); err != nil {
		u.log.Error("operator action not recorded", "operator", a.Operator, "action", a.Action, "err", err)
	}
}

// guard admits an operator action: same-origin, JSON, signed in.
func (u *UI) guard(w http.ResponseWriter, r *http.Request) (string, bool) {
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		writeJSON(w, http.StatusForbidden, errBody{Error: "origin: cross-site request refused"})
		return "", false
	}
	name, ok := u.operator(r, true)
	if !ok {
		writeJSON(w, http.StatusForbidden, errBody{Error: "not signed in: sign in with your PIN first", SignIn: true})
		return "", false
	}
	return name, true
}

type errBody struct {
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
	SignIn bool   `json:"sign_in,omitempty"`
	// Reason is a refused scan's reason (edge/packing), e.g. already-packed.
	Reason string `json:"reason,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
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

func (u *UI) serveSignIn(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PIN string `json:"pin"`
	}
	if err := decode(r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, errBody{Error: `body: want {"pin": "<4 to 8 digits>"}`, Field: "pin"})
		return
	}
	if err := ValidatePIN(body.PIN); err != nil {
		writeJSON(w, http.StatusBadRequest, errBody{Error: "pin: " + err.Error(), Field: "pin"})
		return
	}
	key, now := clientKey(r), u.cfg.Now()
	u.mu.Lock()
	f := u.failures[key]
	if f != nil && now.Before(f.until) {
		wait := f.until.Sub(now)
		u.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		writeJSON(w, http.StatusTooManyRequests, errBody{Error: fmt.Sprintf("pin: too many wrong PINs; try again in %d s", int(wait.Seconds()+0.999)), Field: "pin"})
		return
	}
	u.mu.Unlock()

	name, ok := u.ops.Check(body.PIN)
	if !ok {
		u.mu.Lock()
		for k, v := range u.failures { // forget lock-outs that are over
			if !v.until.IsZero() && now.After(v.until) {
				delete(u.failures, k)
			}
		}
		f := u.failures[key]
		if f == nil {
			f = &failure{}
			u.failures[key] = f
		}
		f.n++
		locked := f.n >= u.cfg.MaxPINFailures
		if locked {
			f.n, f.until = 0, now.Add(u.cfg.LockOut)
		}
		u.mu.Unlock()
		u.log.Warn("wrong PIN at sign-in", "client", key, "locked", locked)
		writeJSON(w, http.StatusUnauthorized, errBody{Error: "pin: wrong PIN", Field: "pin"})
		return
	}
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		writeJSON(w, http.StatusInternalServerError, errBody{Error: "session: " + err.Error()})
		return
	}
	id := base64.RawURLEncoding.EncodeToString(tok)
	u.mu.Lock()
	delete(u.failures, key)
	for k, s := range u.sessions { // forget sessions that have expired
		if now.Sub(s.last) >= u.cfg.SessionIdle {
			delete(u.sessions, k)
		}
	}
	u.sessions[id] = &session{operator: name, last: now}
	u.mu.Unlock()
	// No Max-Age: the server ends the session after inactivity; the
	// cookie dies with the browser at the latest. Not Secure: the screen
	// talks plain HTTP over loopback.
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	u.record(r.Context(), Action{Operator: name, Action: ActSignIn, At: now})
	writeJSON(w, http.StatusOK, map[string]string{"operator": name})
}

func (u *UI) serveSignOut(w http.ResponseWriter, r *http.Request) {
	name, ok := u.guard(w, r)
	if !ok {
		return
	}
	if c, err := r.Cookie(cookieName); err == nil {
		u.mu.Lock()
		delete(u.sessions, c.Value)
		u.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	u.record(r.Context(), Action{Operator: name, Action: ActSignOut, At: u.cfg.Now()})
	writeJSON(w, http.StatusOK, map[string]string{"operator": ""})
}

// serveTouch keeps the session alive while the operator uses the screen.
func (u *UI) serveTouch(w http.ResponseWriter, r *http.Request) {
	name, ok := u.guard(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"operator": name})
}

// call runs one Line call as the operator and records it.
func (u *UI) call(w http.ResponseWriter, r *http.Request, name, act, order string, fn func(context.Context) (any, error)) {
	ctx, cancel := context.WithTimeout(WithOperator(r.Context(), name), 30*time.Second)
	defer cancel()
	v, err := fn(ctx)
	a := Action{Operator: name, Action: act, Order: order, At: u.cfg.Now()}
	if err != nil {
		a.Error = err.Error()
	}
	u.record(r.Context(), a)
	switch {
	case err != nil:
		writeCallErr(w, err)
	case v != nil:
		writeJSON(w, http.StatusOK, v)
	default:
		writeJSON(w, http.StatusOK, u.view(name))
	}
}

// writeCallErr answers a line call that failed: 503 while the agent is
// not running (it is starting, or stopped), 409 for anything the line
// refused.
func writeCallErr(w http.ResponseWriter, err error) {
	status := http.StatusConflict
	if errors.Is(err, agent.ErrNotRunning) {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, errBody{Error: err.Error()})
}

func (u *UI) currentOrder() string {
	if o := u.line.State().Order; o != nil {
		return o.ID
	}
	return ""
}

func (u *UI) simple(act string, fn func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, ok := u.guard(w, r)
		if !ok {
			return
		}
		u.call(w, r, name, act, u.currentOrder(), func(ctx context.Context) (any, error) { return nil, fn(ctx) })
	}
}

func (u *UI) serveStart(w http.ResponseWriter, r *http.Request) {
	name, ok := u.guard(w, r)
	if !ok {
		return
	}
	var body struct {
		Order string `json:"order"`
	}
	if err := decode(r, &body); err != nil || body.Order == "" {
		writeJSON(w, http.StatusBadRequest, errBody{Error: `order: missing; want {"order": "<work order id>"}`, Field: "order"})
		return
	}
	u.call(w, r, name, ActStart, body.Order, func(ctx context.Context) (any, error) {
		return nil, u.line.Start(ctx, body.Order)
	})
}

func (u *UI) serveClose(w http.ResponseWriter, r *http.Request) {
	name, ok := u.guard(w, r)
	if !ok {
		return
	}
	var body struct {
		Confirm bool `json:"confirm"`
	}
	if err := decode(r, &body); err != nil || !body.Confirm {
		writeJSON(w, http.StatusBadRequest, errBody{Error: `confirm: closing an order cannot be undone; send {"confirm": true}`, Field: "confirm"})
		return
	}
	order := u.currentOrder()
	u.call(w, r, name, ActClose, order, func(ctx context.Context) (any, error) {
		rec, err := u.line.CloseOrder(ctx)
		if err != nil {
			return nil, err
		}
		return reconciliationView(order, rec), nil
	})
}

func (u *UI) serveActions(w http.ResponseWriter, r *http.Request) {
	if _, ok := u.operator(r, false); !ok {
		writeJSON(w, http.StatusForbidden, errBody{Error: "not signed in: sign in with your PIN first", SignIn: true})
		return
	}
	writeJSON(w, http.StatusOK, u.Actions())
}

func (u *UI) serveState(w http.ResponseWriter, r *http.Request) {
	name, _ := u.operator(r, false)
	writeJSON(w, http.StatusOK, u.view(name))
}

func (u *UI) servePage(w http.ResponseWriter, r *http.Request) {
	name, _ := u.operator(r, false)
	v := u.view(name)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := u.page.Execute(w, v); err != nil {
		u.log.Error("page not rendered", "err", err)
	}
}
