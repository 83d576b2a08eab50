package ui

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// countingOps counts the PIN checks (each computes every operator's
// PBKDF2 hash) of the operators it wraps. With hold set, a check waits
// until release is closed.
type countingOps struct {
	ops     Operators
	checks  atomic.Int64
	inside  atomic.Int64
	hold    bool
	entered chan struct{} // one send per check, if hold
	release chan struct{}
}

func (c *countingOps) Check(pin string) (Person, bool) {
	c.checks.Add(1)
	if c.hold {
		c.inside.Add(1)
		c.entered <- struct{}{}
		select {
		case <-c.release:
		case <-time.After(10 * time.Second): // the test fails on the count then
		}
	}
	return c.ops.Check(pin)
}

// localClient is a client whose connections come from the local address
// ip (127.0.0.x), without cookies: a process on the line PC. It sends an
// X-Forwarded-For, which the screen must not believe.
func localClient(tb testing.TB, ip string) *http.Client {
	tb.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 20 * time.Second, Transport: &forwardedFor{ip: ip, rt: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}}
}

type forwardedFor struct {
	ip string
	rt http.RoundTripper
}

func (f *forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.ip)
	return f.rt.RoundTrip(r)
}

func signInCode(tb testing.TB, r *rig, c *http.Client, pin string) int {
	tb.Helper()
	code, _ := r.send(tb, c, http.MethodPost, "/ui/signin", "", "", `{"pin":"`+pin+`"}`)
	return code
}

// TestPINBurstChecksOnlyTheBudget is the attack of finding 5: 300
// concurrent wrong PINs. The screen may check 5 of them (max_pin_failures)
// and refuse the rest with 429 before computing a hash. Each check is held
// until either more than 5 are inside the hash at once (the old code: the
// failures were counted after the hash) or all the others were answered.
func TestPINBurstChecksOnlyTheBudget(t *testing.T) {
	const n, budget = 300, 5
	ops := &countingOps{ops: testOperators(t), hold: true, entered: make(chan struct{}, n), release: make(chan struct{})}
	r := newRigOps(t, Config{MaxPINFailures: budget}, ops)
	var answered atomic.Int64
	done := make(chan struct{}, n)
	go func() { // the release: >budget inside the hash, or the rest answered
		for inside := 0; ; {
			select {
			case <-ops.entered:
				inside++
			case <-done:
			}
			if inside > budget || answered.Load() >= n-budget {
				close(ops.release)
				return
			}
		}
	}()
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 20 * time.Second}
			code := signInCode(t, r, c, fmt.Sprintf("%06d", 100000+i)) // none is a test PIN
			answered.Add(1)
			codes <- code
			done <- struct{}{}
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	require.Equal(t, int64(budget), ops.checks.Load(), "PIN checks (hash evaluations)")
	require.Equal(t, map[int]int{http.StatusUnauthorized: budget, http.StatusTooManyRequests: n - budget}, count)

	// Locked: the right PIN from a new client is refused too, without a check.
	require.Equal(t, http.StatusTooManyRequests, signInCode(t, r, &http.Client{}, pinAna))
	require.Equal(t, int64(budget), ops.checks.Load())
	// Stop needs no PIN and is never locked out.
	code, body := r.send(t, &http.Client{}, http.MethodPost, "/ui/stop", "", "", `{}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, []lineCall{{Name: "stop"}}, r.line.Calls())
	// The lock-out ends after lock_out (1 min).
	r.clock.Advance(time.Minute)
	require.Equal(t, http.StatusOK, signInCode(t, r, &http.Client{}, pinAna))
}

// TestPINRotatingAddresses: processes on the line PC rotating their
// source address over 127.0.0.2-41 (and claiming other X-Forwarded-For
// addresses) share one budget: 5 checks in all, not 5 per address. The
// real screen, which signed in before, keeps its own budget: its operator
// still signs in, its session still acts, and Stop works for anyone.
func TestPINRotatingAddresses(t *testing.T) {
	ops := &countingOps{ops: testOperators(t)}
	r := newRigOps(t, Config{MaxPINFailures: 5}, ops)
	screen := r.client(t)
	r.signIn(t, screen, pinBen) // earlier in the shift: the screen is known
	code, body := r.post(t, screen, "/ui/signout", `{}`)
	require.Equal(t, http.StatusOK, code, body)
	checks := ops.checks.Load()

	count := map[int]int{}
	for i := 2; i <= 41; i++ {
		c := localClient(t, fmt.Sprintf("127.0.0.%d", i))
		for j := range 2 {
			count[signInCode(t, r, c, fmt.Sprintf("%04d", 5000+10*i+j))]++
		}
	}
	require.Equal(t, map[int]int{http.StatusUnauthorized: 5, http.StatusTooManyRequests: 75}, count)
	require.Equal(t, checks+5, ops.checks.Load(), "PIN checks")

	// The locked-out processes: even the right PIN is refused.
	require.Equal(t, http.StatusTooManyRequests, signInCode(t, r, localClient(t, "127.0.0.99"), pinAna))
	// The real screen is not locked out, and acts.
	r.signIn(t, screen, pinAna)
	code, body = r.post(t, screen, "/ui/start", `{"order":"WO-1"}`)
	require.Equal(t, http.StatusOK, code, body)
	// Stop from a process without sign-in, while locked out.
	code, _ = r.send(t, localClient(t, "127.0.0.7"), http.MethodPost, "/ui/stop", "", "", `{}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []lineCall{{Name: "start", Order: "WO-1", Operator: "Ana"}, {Name: "stop"}}, r.line.Calls())
}

// TestKnownTerminalBudget: a known screen has a budget of its own: its
// wrong PINs lock it (not the others), a right PIN resets its count, and
// its lock-out ends after lock_out. A forged terminal cookie is just
// another unknown client.
func TestKnownTerminalBudget(t *testing.T) {
	r := newRig(t, Config{MaxPINFailures: 3, LockOut: time.Minute})
	screen := r.client(t)
	r.signIn(t, screen, pinAna)
	for range 2 {
		require.Equal(t, http.StatusUnauthorized, signInCode(t, r, screen, "0000"))
	}
	r.signIn(t, screen, pinAna) // in a row: the count starts again
	for range 3 {
		require.Equal(t, http.StatusUnauthorized, signInCode(t, r, screen, "0000"))
	}
	require.Equal(t, http.StatusTooManyRequests, signInCode(t, r, screen, pinAna))
	require.Equal(t, http.StatusOK, signInCode(t, r, &http.Client{}, pinBen), "the shared budget is untouched")

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	forged := &http.Client{Jar: jar}
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/ui/signin", strings.NewReader(`{"pin":"0000"}`))
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: terminalCookie, Value: "forged"})
	for range 3 {
		resp, err := forged.Do(req.Clone(context.Background()))
		require.NoError(t, err)
		resp.Body.Close()
		req.Body, _ = req.GetBody()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	require.Equal(t, http.StatusTooManyRequests, signInCode(t, r, &http.Client{}, pinBen), "forged cookies share the budget")

	r.clock.Advance(time.Minute)
	r.signIn(t, screen, pinAna)
}

// TestPINFailuresForgottenAfterTheWindow: wrong PINs count within
// lock_out; a mistake yesterday does not lock today's first.
func TestPINFailuresForgottenAfterTheWindow(t *testing.T) {
	r := newRig(t, Config{MaxPINFailures: 3, LockOut: time.Minute})
	c := &http.Client{}
	for range 2 {
		require.Equal(t, http.StatusUnauthorized, signInCode(t, r, c, "0000"))
	}
	r.clock.Advance(time.Minute)
	for range 2 {
		require.Equal(t, http.StatusUnauthorized, signInCode(t, r, c, "0000"))
	}
	require.Equal(t, http.StatusOK, signInCode(t, r, c, pinAna))
}

// TestSharedBudgetConfigured: max_pin_failures_global sets the shared
// budget apart from a known screen's.
func TestSharedBudgetConfigured(t *testing.T) {
	r := newRig(t, Config{MaxPINFailures: 5, MaxPINFailuresGlobal: 2})
	for range 2 {
		require.Equal(t, http.StatusUnauthorized, signInCode(t, r, &http.Client{}, "0000"))
	}
	require.Equal(t, http.StatusTooManyRequests, signInCode(t, r, &http.Client{}, pinAna))
}
