package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/pool"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
)

var actionPaths = []struct{ path, body, action string }{
	{"/ui/start", `{"order":"WO-1"}`, ActStart},
	{"/ui/pause", `{}`, ActPause},
	{"/ui/stop", `{}`, ActStop},
	{"/ui/ack", `{}`, ActAck},
	{"/ui/close", `{"confirm":true}`, ActClose},
	{"/ui/signout", `{}`, ActSignOut},
}

// signedPaths are the actions that need a sign-in (all but Stop and Pause).
var signedPaths = []struct{ path, body, action string }{
	{"/ui/start", `{"order":"WO-1"}`, ActStart},
	{"/ui/ack", `{}`, ActAck},
	{"/ui/close", `{"confirm":true}`, ActClose},
	{"/ui/extend", `{"units":10,"reason":"film splice"}`, ActExtend},
	{"/ui/signout", `{}`, ActSignOut},
}

func TestActionsRefusedWithoutSignIn(t *testing.T) {
	r := newRig(t, Config{})
	c := r.client(t)
	for _, tc := range signedPaths {
		t.Run(tc.path, func(t *testing.T) {
			code, body := r.post(t, c, tc.path, tc.body)
			require.Equal(t, http.StatusForbidden, code)
			require.Equal(t, true, body["sign_in"])
			require.Contains(t, body["error"], "not signed in")
		})
	}
	t.Run("forged cookie", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/ui/start", strings.NewReader(`{"order":"WO-1"}`))
		require.NoError(t, err)
		req.AddCookie(&http.Cookie{Name: cookieName, Value: "made-up"})
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	t.Run("action log", func(t *testing.T) {
		resp, err := c.Get(r.srv.URL + "/ui/actions")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	require.Empty(t, r.line.Calls(), "no call may reach the line")
	require.Empty(t, r.rec.Actions())
}

func TestCrossOriginRefused(t *testing.T) {
	r := newRig(t, Config{})
	c := r.client(t)
	r.signIn(t, c, pinAna)
	for _, p := range []string{"/ui/stop", "/ui/start", "/ui/signin", "/ui/ack", "/ui/extend"} {
		req, err := http.NewRequest(http.MethodPost, r.srv.URL+p, strings.NewReader(`{}`))
		require.NoError(t, err)
		req.Header.Set("Origin", "http://evil.example")
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode, p)
	}
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/ui/stop", strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("Origin", "http://evil.example")
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, r.line.Calls())
}

func TestSignInPINChecks(t *testing.T) {
	r := newRig(t, Config{MaxPINFailures: 3, LockOut: time.Minute})
	c := r.client(t)
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"not JSON", `pin=1234`, http.StatusBadRequest},
		{"too short", `{"pin":"12"}`, http.StatusBadRequest},
		{"letters", `{"pin":"12a4"}`, http.StatusBadRequest},
		{"unknown field", `{"pin":"1234","name":"Ana"}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := r.post(t, c, "/ui/signin", tc.body)
			require.Equal(t, tc.code, code)
			require.Equal(t, "pin", body["field"])
		})
	}
	t.Run("wrong PIN then lock-out", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			code, body := r.post(t, c, "/ui/signin", `{"pin":"0000"}`)
			require.Equal(t, http.StatusUnauthorized, code, "try %d", i+1)
			require.Equal(t, "pin: wrong PIN", body["error"])
		}
		// Locked: even the right PIN is refused now.
		code, body := r.post(t, c, "/ui/signin", `{"pin":"`+pinAna+`"}`)
		require.Equal(t, http.StatusTooManyRequests, code)
		require.Contains(t, body["error"], "too many wrong PINs")
		code, _ = r.post(t, c, "/ui/start", `{"order":"WO-1"}`)
		require.Equal(t, http.StatusForbidden, code)

		r.clock.Advance(time.Minute + time.Second)
		r.signIn(t, c, pinAna)
	})
	require.Equal(t, []Action{{Operator: "Ana", Role: station.RoleOperator, Action: ActSignIn, At: r.clock.Now()}}, r.ui.Actions())
}

func TestSignedInActionsReachTheLine(t *testing.T) {
	r := newRig(t, Config{})
	c := r.client(t)
	r.signIn(t, c, pinBen)
	for _, tc := range actionPaths[:5] {
		t.Run(tc.action, func(t *testing.T) {
			code, body := r.post(t, c, tc.path, tc.body)
			require.Equal(t, http.StatusOK, code, "%v", body)
			calls := r.line.Calls()
			require.NotEmpty(t, calls)
			last := calls[len(calls)-1]
			require.Equal(t, tc.action, last.Name)
			require.Equal(t, "Ben", last.Operator, "the operator rides in the context")
			rec := r.rec.Actions()
			got := rec[len(rec)-1]
			require.Equal(t, "Ben", got.Operator)
			require.Equal(t, tc.action, got.Action)
			require.Equal(t, "WO-1", got.Order)
			require.Empty(t, got.Error)
			if tc.action == ActClose {
				require.Equal(t, float64(100), body["granted"])
				require.Equal(t, true, body["balanced"])
				require.Equal(t, "WO-1", body["order"])
			} else {
				require.Equal(t, "Ben", body["operator"], "actions answer with the new view")
			}
		})
	}
	t.Run("sign-out", func(t *testing.T) {
		code, _ := r.post(t, c, "/ui/signout", `{}`)
		require.Equal(t, http.StatusOK, code)
		code, _ = r.post(t, c, "/ui/start", `{"order":"WO-1"}`)
		require.Equal(t, http.StatusForbidden, code)
	})
	want := []string{ActSignIn, ActStart, ActPause, ActStop, ActAck, ActClose, ActSignOut}
	var got []string
	for _, a := range r.ui.Actions() {
		require.Equal(t, "Ben", a.Operator)
		require.False(t, a.At.IsZero())
		got = append(got, a.Action)
	}
	require.Equal(t, want, got, "the in-memory log")
	require.Equal(t, r.ui.Actions(), r.rec.Actions(), "the Recorder got the same")
}

func TestBadActionBodies(t *testing.T) {
	r := newRig(t, Config{})
	c := r.client(t)
	r.signIn(t, c, pinAna)
	for _, tc := range []struct{ path, body, field string }{
		{"/ui/start", `{}`, "order"},
		{"/ui/start", `{"order":""}`, "order"},
		{"/ui/close", `{}`, "confirm"},
		{"/ui/close", `{"confirm":false}`, "confirm"},
	} {
		t.Run(tc.path+tc.body, func(t *testing.T) {
			code, body := r.post(t, c, tc.path, tc.body)
			require.Equal(t, http.StatusBadRequest, code)
			require.Equal(t, tc.field, body["field"])
		})
	}
	t.Run("line refuses", func(t *testing.T) {
		code, body := r.post(t, c, "/ui/start", `{"order":"WO-9"}`)
		require.Equal(t, http.StatusConflict, code)
		require.Contains(t, body["error"], "WO-9")
		rec := r.rec.Actions()
		require.Contains(t, rec[len(rec)-1].Error, "not released", "refusals are recorded too")
	})
	require.Len(t, r.line.Calls(), 1, "only the well-formed start reached the line")
}

func TestSessionExpiresAfterInactivity(t *testing.T) {
	r := newRig(t, Config{SessionIdle: 5 * time.Minute})
	c := r.client(t)
	r.signIn(t, c, pinAna)

	r.clock.Advance(4 * time.Minute)
	code, _ := r.post(t, c, "/ui/touch", `{}`) // the operator uses the screen
	require.Equal(t, http.StatusOK, code)
	r.clock.Advance(4 * time.Minute)
	code, _ = r.post(t, c, "/ui/start", `{"order":"WO-1"}`)
	require.Equal(t, http.StatusOK, code, "activity keeps the session")

	r.clock.Advance(5 * time.Minute)
	code, body := r.post(t, c, "/ui/start", `{"order":"WO-1"}`)
	require.Equal(t, http.StatusForbidden, code, "idle too long")
	require.Equal(t, true, body["sign_in"])
	require.Len(t, r.line.Calls(), 1)
}

func TestCookieFlags(t *testing.T) {
	r := newRig(t, Config{})
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/ui/signin", strings.NewReader(`{"pin":"`+pinAna+`"}`))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	cs := resp.Cookies()
	require.Len(t, cs, 2, "the session and the terminal id (pingate.go)")
	byName := map[string]*http.Cookie{}
	for _, c := range cs {
		byName[c.Name] = c
	}
	for _, name := range []string{cookieName, terminalCookie} {
		c := byName[name]
		require.NotNil(t, c, name)
		require.True(t, c.HttpOnly, name)
		require.Equal(t, http.SameSiteStrictMode, c.SameSite, name)
		require.GreaterOrEqual(t, len(c.Value), 43, "%s: 256-bit token", name)
	}
	require.Zero(t, byName[cookieName].MaxAge, "the session cookie dies with the browser")
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// readEvents parses the stream into ch until it ends.
func readEvents(resp *http.Response, ch chan<- sseEvent) {
	defer close(ch)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" {
				ch <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func TestEventsStreamState(t *testing.T) {
	r := newRig(t, Config{MinPush: time.Millisecond, Heartbeat: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.srv.URL+"/ui/events", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := make(chan sseEvent, 16)
	go readEvents(resp, events)

	// next returns the next event named name, within the deadline.
	next := func(name string) View {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				require.True(t, ok, "stream ended")
				if ev.name != name {
					continue
				}
				var v View
				if name == "state" {
					require.NoError(t, json.Unmarshal([]byte(ev.data), &v))
				} else {
					require.Contains(t, ev.data, `"operator"`)
				}
				return v
			case <-ctx.Done():
				t.Fatalf("no %s event before the deadline", name)
			}
		}
	}
	first := next("state")
	require.Equal(t, "L1", first.Line)
	require.Equal(t, "stopped", first.State)

	r.line.update(func(s *agent.State) {
		o := testOrder("WO-1")
		s.Order = &o
		s.Production = &station.Production{Order: "WO-1", State: wire.ProgressStopped, Quantity: 1000, Good: 42, Rejected: 3}
		s.Pool = &pool.Level{Order: "WO-1", Counts: wire.Reconciliation{Decommissioned: map[wire.Reason]uint64{wire.ReasonMismatch: 3}}}
		s.Alarms = append(s.Alarms, station.Alarm{Code: station.AlarmPrinterRibbonOut, Device: "printer", Fault: "ribbon out", Active: true, StoppedLine: true})
	})
	for {
		v := next("state")
		if v.Counts.Good != 42 {
			continue // a push from before the change
		}
		require.Equal(t, uint64(3), v.Counts.Rejected)
		require.Equal(t, []Reason{{Reason: "mismatch", Count: 3}}, v.Counts.ByReason)
		require.Len(t, v.Alarms, 1)
		a := v.Alarms[0]
		require.Equal(t, "printer-ribbon-out", a.Code)
		require.Equal(t, "ribbon out", a.Detail)
		require.True(t, a.Active)
		require.True(t, a.NeedsAck)
		require.False(t, a.MayAck, "nobody is signed in on this stream")
		require.NotEmpty(t, a.Message)
		break
	}
	next("heartbeat")
}

func TestPageAndAssets(t *testing.T) {
	r := newRig(t, Config{})
	r.line.update(func(s *agent.State) {
		s.Devices["printer"] = wire.DeviceHealth{State: wire.DeviceFault, Detail: "head open <lid>"}
	})
	for _, tc := range []struct{ path, ctype, want string }{
		{"/", "text/html; charset=utf-8", "head open &lt;lid&gt;"},
		{"/ui/static/app.js", "text/javascript; charset=utf-8", "EventSource"},
		{"/ui/static/app.css", "text/css; charset=utf-8", ".keys"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(r.srv.URL + tc.path)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, tc.ctype, resp.Header.Get("Content-Type"))
			b := new(strings.Builder)
			_, err = bufio.NewReader(resp.Body).WriteTo(b)
			require.NoError(t, err)
			require.Contains(t, b.String(), tc.want)
		})
	}
	resp, err := http.Get(r.srv.URL + "/nope")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
