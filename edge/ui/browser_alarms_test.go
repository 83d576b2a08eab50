package ui

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/pool"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
)

// threeAlarms stops a line that runs WO-1 with 7-digit counts: a
// reject-missed (QA acknowledges it), a jam and a lost camera with the
// driver's long words, their causes gone, waiting to be acknowledged.
func threeAlarms(tb testing.TB) func(*agent.State) {
	since := time.Date(2026, 3, 2, 7, 58, 9, 0, time.Local)
	return func(s *agent.State) {
		o := testOrder("WO-1")
		o.Quantity = 9_999_999
		s.Order = &o
		s.State, s.Want, s.Rate = wire.LineAlarm, wire.LineRunning, 0
		s.Production = &station.Production{Order: "WO-1", State: wire.ProgressStopped, Quantity: 9_999_999, Good: 9_999_998,
			Rejected: 8_888_888, Allowance: 9_999_999, AllowanceLeft: 1_111_111, Remaining: 1}
		s.Pool = &pool.Level{Order: "WO-1", Available: 9_999_999, Rate: 0, Counts: wire.Reconciliation{
			Decommissioned: map[wire.Reason]uint64{wire.ReasonNoRead: 7_777_777, wire.ReasonMismatch: 1_111_111}}}
		s.Outbox.Connected, s.Outbox.Pending = true, 9_999_999
		s.Orders = append(s.Orders, testOrder("WO-2"))
		missed := catalogued(tb, station.AlarmRejectMissed, "plc", "plc alarm: reject-missed (word 0x0010)", since)
		jam := catalogued(tb, station.AlarmPLCJam, "plc-jam", "plc alarm: jam", since.Add(time.Second))
		cam := catalogued(tb, station.AlarmScannerOffline, "scanner",
			"scanner not connected: tcp:127.0.0.1:9004: read: link lost: not connected (EOF) after 3 retries with backoff 100ms..10s", since.Add(2*time.Second))
		for i, a := range []*station.Alarm{&missed, &jam, &cam} {
			a.ID = uint64(i + 1)
			s.AlarmHistory = append([]station.AlarmRecord{{ID: a.ID, Code: a.Code, Device: a.Device, Message: a.Message, Fault: a.Fault,
				Raised: a.Since, StoppedLine: true}}, s.AlarmHistory...)
		}
		s.Alarms = []station.Alarm{missed, jam, cam}
	}
}

// TestBrowserAlarmsAtTheLine drives the page in headless Chromium at both
// screen sizes with three alarms and 7-digit counts: Acknowledge, Start and
// Stop on screen, Start disabled, nothing clipped, every text at 4.5:1 or
// more; then Stop without a sign-in, the acknowledgement that needs a QA
// PIN, and the connection-lost overlay while the event stream is down.
func TestBrowserAlarmsAtTheLine(t *testing.T) {
	ctx := browser(t)
	r := newRig(t, Config{MinPush: 10 * time.Millisecond})
	dir := t.TempDir()
	var mu sync.Mutex
	var jsErrors []string
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			jsErrors = append(jsErrors, e.ExceptionDetails.Text)
			mu.Unlock()
		}
	}))
	r.line.update(threeAlarms(t))
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1024, 768), chromedp.Navigate(r.srv.URL)))
	waitJS(t, ctx, `document.querySelectorAll('#alarms .alarm').length === 3 && document.getElementById('good').textContent === '9,999,998'`)

	counts := "#good, #rejected, #done, #quantity, #allowance, #pool-available, #backlog, #reasons b"
	for _, size := range [][2]int{{1024, 768}, {1280, 800}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(w), int64(h))))
			waitJS(t, ctx, fmt.Sprintf(`window.innerWidth === %d && window.innerHeight === %d`, w, h))
			shot(t, ctx, dir, fmt.Sprintf("three-alarms-%dx%d.png", w, h))
			fits(t, ctx, w, h)
			for _, css := range []string{"#btn-ack", "#btn-stop", "#btn-start", "#btn-pause", "#btn-close", "#btn-history", "#alarms .alarm:nth-child(3) .meta"} {
				onScreen(t, ctx, css)
			}
			require.True(t, jsBool(t, ctx, `document.getElementById('btn-start').disabled`), "Start during an alarm")
			require.True(t, jsBool(t, ctx, `[...document.querySelectorAll('#orders button')].every(b => b.disabled)`), "no order starts during an alarm")
			require.Contains(t, text(t, ctx, "#start-blocked"), "alarm")
			require.False(t, jsBool(t, ctx, `document.getElementById('btn-stop').disabled`), "Stop is always at hand")
			require.Empty(t, clipped(t, ctx, counts), "7-digit counts")
			require.Empty(t, lowContrast(t, ctx), "text under 4.5:1")
			require.Empty(t, smallTargets(t, ctx, "button"), "buttons under 48 px")
			// The banner: the plain cause first, the developer's words small.
			require.Equal(t, "reject-missedA pack that had to be rejected may have passed the reject station.", text(t, ctx, "#alarms .alarm .cause"))
			require.True(t, jsBool(t, ctx, `parseFloat(getComputedStyle(document.querySelector('#alarms .alarm .meta')).fontSize) <
				parseFloat(getComputedStyle(document.querySelector('#alarms .alarm .cause')).fontSize)`), "the detail is smaller than the cause")
			require.Contains(t, text(t, ctx, "#alarms .alarm:nth-child(3) .meta"), "2026-03-02 07:58:11", "one date format")
			require.Equal(t, "2027-12-31", text(t, ctx, "#expiry"))

			// The alarm history sheet, and the QA keypad, also readable.
			click(t, ctx, "#btn-history")
			waitJS(t, ctx, `document.querySelectorAll('#history-rows tr').length === 3`)
			require.Contains(t, text(t, ctx, "#history-rows tr"), "scanner-offline")
			require.Empty(t, lowContrast(t, ctx), "history: text under 4.5:1")
			shot(t, ctx, dir, fmt.Sprintf("history-%dx%d.png", w, h))
			click(t, ctx, "#history-ok")
		})
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1024, 768)))
	waitJS(t, ctx, `window.innerWidth === 1024`)

	t.Run("stop without sign-in", func(t *testing.T) {
		require.Equal(t, "not signed in", text(t, ctx, "#operator"))
		click(t, ctx, "#btn-stop")
		waitJS(t, ctx, `document.getElementById('state').textContent === 'stopped'`)
		require.True(t, jsBool(t, ctx, `document.getElementById('keypad').hidden`), "no PIN asked")
		calls := r.line.Calls()
		require.Equal(t, lineCall{Name: "stop"}, calls[len(calls)-1])
		log := r.ui.Actions()
		require.Equal(t, Unsigned, log[len(log)-1].Operator)
		require.Equal(t, ActStop, log[len(log)-1].Action)
	})

	t.Run("acknowledge needs QA", func(t *testing.T) {
		require.Equal(t, "Needs a QA PIN", text(t, ctx, "#ack-hint"))
		click(t, ctx, "#btn-ack")
		waitJS(t, ctx, `!document.getElementById('keypad').hidden`)
		require.Equal(t, "QA PIN needed", text(t, ctx, "#keypad-title"))
		require.Contains(t, text(t, ctx, "#keypad-why"), "reject-missed")
		require.Empty(t, lowContrast(t, ctx), "keypad: text under 4.5:1")
		shot(t, ctx, dir, "qa-keypad-1024x768.png")
		// An operator's PIN acknowledges what an operator may; the
		// reject-missed stays and the keypad says why.
		for _, k := range pinKeys(pinAna) {
			click(t, ctx, `.key[data-key="`+k+`"]`)
		}
		waitJS(t, ctx, `document.getElementById('pin-error').textContent.startsWith('reject-missed needs a QA PIN to acknowledge (Ana is an operator)')`)
		waitJS(t, ctx, `document.querySelectorAll('#alarms .alarm').length === 1`)
		require.False(t, jsBool(t, ctx, `document.getElementById('keypad').hidden`))
		for _, k := range pinKeys(pinQuinn) {
			click(t, ctx, `.key[data-key="`+k+`"]`)
		}
		waitJS(t, ctx, `document.getElementById('keypad').hidden && document.getElementById('alarm-strip').hidden`)
		require.Equal(t, "not signed in", text(t, ctx, "#operator"), "a PIN for one action signs nobody in")
		require.False(t, jsBool(t, ctx, `document.getElementById('btn-start').disabled`), "Start once every alarm is acknowledged")
		calls := r.line.Calls()
		require.Equal(t, lineCall{Name: "ack", Operator: "Quinn"}, calls[len(calls)-1])
	})

	t.Run("connection lost", func(t *testing.T) {
		require.True(t, jsBool(t, ctx, `document.getElementById('lost').hidden`))
		require.Equal(t, 1, r.stream.open(), "one stream")
		r.stream.cut()
		waitJS(t, ctx, `!document.getElementById('lost').hidden`)
		for _, css := range []string{"#good", "#rejected", "#state", "#btn-start", "#rate"} {
			require.True(t, coveredBy(t, ctx, css, "#lost"), "%s hidden by the overlay", css)
		}
		onScreen(t, ctx, "#lost-stop")
		require.Empty(t, lowContrast(t, ctx), "overlay: text under 4.5:1")
		shot(t, ctx, dir, "connection-lost-1024x768.png")
		// The line moves on meanwhile; the screen shows it when back.
		r.line.update(func(s *agent.State) {
			s.Production.Good = 42
			s.State, s.Want, s.Production.State = wire.LineStopped, wire.LineStopped, wire.ProgressStopped
		})
		require.True(t, jsBool(t, ctx, `!document.getElementById('lost').hidden`), "still down")
		r.stream.restore()
		waitJS(t, ctx, `document.getElementById('lost').hidden && document.getElementById('good').textContent === '42'`)
		require.False(t, coveredBy(t, ctx, "#good", "#lost"))
	})

	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, jsErrors, "JavaScript errors on the page")
}

// pinKeys are the keypad keys that enter pin and OK.
func pinKeys(pin string) []string {
	var keys []string
	for _, c := range pin {
		keys = append(keys, string(c))
	}
	return append(keys, "ok")
}

// TestBrowserExtendAndComplete: an order past its allowance offers Extend,
// which takes a supervisor's PIN at the operator's screen; a complete order
// says so with Close at hand.
func TestBrowserExtendAndComplete(t *testing.T) {
	ctx := browser(t)
	r := newRig(t, Config{MinPush: 10 * time.Millisecond})
	c := r.client(t)
	r.signIn(t, c, pinAna)
	code, _ := r.post(t, c, "/ui/start", `{"order":"WO-1"}`)
	require.Equal(t, 200, code)
	r.line.update(func(s *agent.State) {
		s.State, s.Want, s.Rate = wire.LineAlarm, wire.LineRunning, 0
		s.Production.State, s.Production.Rejected, s.Production.AllowanceLeft = wire.ProgressStopped, 50, 0
	})
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1024, 768), chromedp.Navigate(r.srv.URL)))
	// Sign in on the keypad as Ana, an operator.
	click(t, ctx, "#signin")
	for _, k := range pinKeys(pinAna) {
		click(t, ctx, `.key[data-key="`+k+`"]`)
	}
	waitJS(t, ctx, `document.getElementById('keypad').hidden && document.getElementById('operator').textContent === 'Ana'`)
	waitJS(t, ctx, `!document.getElementById('btn-extend').hidden`)
	require.Contains(t, text(t, ctx, "#order-notice"), "Reject allowance spent: 50 rejects of 50 allowed")
	require.True(t, jsBool(t, ctx, `document.getElementById('btn-start').disabled`))
	require.Empty(t, lowContrast(t, ctx))

	click(t, ctx, "#btn-extend")
	waitJS(t, ctx, `!document.getElementById('extend').hidden`)
	require.Empty(t, lowContrast(t, ctx), "extend sheet")
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#extend-units"), "25"),
		chromedp.SendKeys(chromedp.CSS("#extend-reason"), "label reel splice")))
	click(t, ctx, "#extend-ok")
	waitJS(t, ctx, `!document.getElementById('keypad').hidden && document.getElementById('keypad-title').textContent === 'Supervisor PIN needed'`)
	for _, k := range pinKeys(pinSam) {
		click(t, ctx, `.key[data-key="`+k+`"]`)
	}
	waitJS(t, ctx, `document.getElementById('keypad').hidden && document.getElementById('btn-extend').hidden`)
	require.Equal(t, []string{"25: label reel splice"}, r.line.extended)
	require.Equal(t, "Ana", text(t, ctx, "#operator"), "the operator stays signed in")
	require.Equal(t, "75", text(t, ctx, "#allowance"))

	// The order completes: the screen says to close it, Close is at hand.
	r.line.update(func(s *agent.State) {
		s.State, s.Want = wire.LineStopped, wire.LineStopped
		s.Production.State, s.Production.Complete, s.Production.Good, s.Production.Remaining = wire.ProgressComplete, true, 1000, 0
	})
	waitJS(t, ctx, `document.getElementById('order-state').textContent === 'complete'`)
	require.Equal(t, "Order complete: 1000 of 1000 made. Close it.", text(t, ctx, "#order-notice"))
	require.True(t, jsBool(t, ctx, `document.getElementById('btn-start').disabled`))
	require.False(t, jsBool(t, ctx, `document.getElementById('btn-close').disabled`))
	require.Equal(t, "btn go", jsString(t, ctx, `document.getElementById('btn-close').className`))
	onScreen(t, ctx, "#btn-close")
	require.Empty(t, lowContrast(t, ctx))
}

func jsString(tb testing.TB, ctx context.Context, expr string) string {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	require.NoError(tb, err, expr)
	return v
}
