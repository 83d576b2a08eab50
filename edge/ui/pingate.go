package ui

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/serialine/serialine/shared/httpjson"
)

// The PIN lock-out. A 4- to 8-digit PIN is guessable, so the number of
// PINs the screen checks is capped, and an attempt is counted before its
// (slow) hash is computed: a burst of concurrent tries gets no more checks
// than the cap, and one check runs at a time.
//
// What is a terminal? Not the source address: every local process shares
// loopback and may pick any 127.0.0.x, and a LAN client may hold many
// addresses. A terminal is a browser that has signed in here before: a
// correct PIN gives it a random terminal id in an HttpOnly cookie, and a
// known terminal has a budget of its own (max_pin_failures). Every other
// client — a fresh browser, curl, a process on the line PC, whatever its
// address or cookie — draws from one shared budget
// (max_pin_failures_global), so rotating addresses or cookies gets no more
// tries.
//
// Locking the real operator out: a local process can spend the shared
// budget at will, but not the budget of a screen that has signed in
// before, whose id it cannot read; lock-outs end after lock_out (they do
// not grow); a signed-in session, and Stop and Pause (which need no PIN),
// are never touched by a lock-out. The one gap: after the agent restarts
// no terminal is known until someone signs in, so a process that keeps
// spending the shared budget delays that first sign-in; the log names the
// client address of every wrong PIN ("wrong PIN"), and Stop works
// throughout.

// terminalCookie carries a terminal's id.
const terminalCookie = "serialine_terminal"

// maxTerminals bounds the known terminals (a line has one or two screens);
// the one that signed in longest ago is forgotten first.
const maxTerminals = 32

// pinBudget is the wrong PINs of one budget: failures counted, checks
// under way, and the end of a lock-out.
type pinBudget struct {
	max     int
	fails   int
	pending int
	first   time.Time // the first of the failures counted
	until   time.Time
	used    time.Time // the last correct PIN (known terminals)
}

// pinGate holds the budgets; check is the single lane of PIN hashing.
type pinGate struct {
	lockOut time.Duration
	max     int
	mu      sync.Mutex
	shared  pinBudget
	known   map[string]*pinBudget
	check   chan struct{}
}

func newPINGate(cfg Config) *pinGate {
	return &pinGate{lockOut: cfg.LockOut, max: cfg.MaxPINFailures, shared: pinBudget{max: cfg.MaxPINFailuresGlobal},
		known: map[string]*pinBudget{}, check: make(chan struct{}, 1)}
}

// reserve takes one try from the budget of terminal id (the shared one if
// id is unknown) before the PIN is checked; it returns the budget, or how
// long to wait.
func (g *pinGate) reserve(id string, now time.Time) (*pinBudget, time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.known[id]
	if b == nil {
		b = &g.shared
	}
	if now.Before(b.until) {
		return nil, b.until.Sub(now), false
	}
	if !b.until.IsZero() || b.fails > 0 && now.Sub(b.first) >= g.lockOut {
		// The lock-out, or the window of lock_out the failures were
		// counted in, is over: a fresh budget.
		b.until, b.fails = time.Time{}, 0
	}
	if b.fails+b.pending >= b.max { // the last tries are being checked
		return nil, time.Second, false
	}
	b.pending++
	return b, 0, true
}

// settle books the outcome of a reserved try; it reports whether the
// budget is now locked.
func (g *pinGate) settle(b *pinBudget, right bool, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	b.pending--
	if right {
		if b != &g.shared {
			b.fails = 0 // "in a row" on a known terminal
		}
		return false
	}
	if b.fails == 0 {
		b.first = now
	}
	b.fails++
	if b.fails >= b.max {
		b.fails, b.until = 0, now.Add(g.lockOut)
		return true
	}
	return false
}

// cancel gives back a reserved try whose PIN was never checked.
func (g *pinGate) cancel(b *pinBudget) {
	g.mu.Lock()
	b.pending--
	g.mu.Unlock()
}

// known reports whether id is a terminal that signed in before.
func (g *pinGate) isKnown(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return id != "" && g.known[id] != nil
}

// remember makes a new terminal id with a budget of its own.
func (g *pinGate) remember(now time.Time) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.known) >= maxTerminals {
		oldest := ""
		for k, v := range g.known {
			if oldest == "" || v.used.Before(g.known[oldest].used) {
				oldest = k
			}
		}
		delete(g.known, oldest)
	}
	g.known[id] = &pinBudget{max: g.max, used: now}
	return id, nil
}

func terminalID(r *http.Request) string {
	c, err := r.Cookie(terminalCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// checkPIN returns the person whose PIN pin is, or answers: 400 for a PIN
// the keypad cannot make, 429 while the terminal's budget is locked, 401
// for a wrong one (which counts towards the lock-out).
func (u *UI) checkPIN(w http.ResponseWriter, r *http.Request, pin string) (Person, bool) {
	if err := ValidatePIN(pin); err != nil {
		httpjson.Write(w, http.StatusBadRequest, errBody{Error: "pin: " + err.Error(), Field: "pin"})
		return Person{}, false
	}
	id := terminalID(r)
	b, wait, ok := u.pins.reserve(id, u.cfg.Now())
	if !ok {
		secs := int(wait.Seconds() + 0.999)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		httpjson.Write(w, http.StatusTooManyRequests, errBody{Error: fmt.Sprintf("pin: too many wrong PINs; try again in %d s", secs), Field: "pin"})
		return Person{}, false
	}
	select { // one PIN check at a time
	case u.pins.check <- struct{}{}:
	case <-r.Context().Done():
		u.pins.cancel(b)
		return Person{}, false
	}
	who, right := u.ops.Check(pin)
	<-u.pins.check
	now := u.cfg.Now()
	locked := u.pins.settle(b, right, now)
	if !right {
		u.log.Warn("wrong PIN", "client", clientKey(r), "known_terminal", u.pins.isKnown(id), "path", r.URL.Path, "locked", locked)
		httpjson.Write(w, http.StatusUnauthorized, errBody{Error: "pin: wrong PIN", Field: "pin"})
		return Person{}, false
	}
	if !u.pins.isKnown(id) {
		nid, err := u.pins.remember(now)
		if err != nil {
			u.log.Error("terminal id not made", "err", err)
			return who, true
		}
		// Long-lived, so the screen keeps its own budget across sign-ins.
		http.SetCookie(w, &http.Cookie{Name: terminalCookie, Value: nid, Path: "/", MaxAge: 400 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteStrictMode})
	} else {
		u.pins.touch(id, now)
	}
	return who, true
}

// touch marks the known terminal id as used now.
func (g *pinGate) touch(id string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b := g.known[id]; b != nil {
		b.used = now
	}
}
