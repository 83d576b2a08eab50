package ui

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium for tb, or skips when there is none.
func browser(tb testing.TB) context.Context {
	tb.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		tb.Skipf("headless browser tests need %s: %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(tb.TempDir(), "profile")),
		chromedp.WindowSize(1024, 768),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	tb.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	tb.Cleanup(bcancel)
	return bctx
}

// shot saves a screenshot of the screen into dir (and into
// $SERIALINE_UI_SHOTS, to look at after the test).
func shot(tb testing.TB, ctx context.Context, dir, name string) {
	tb.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(tb, err)
	require.Greater(tb, len(png), 10_000, "a screenshot of a rendered page")
	require.NoError(tb, os.WriteFile(filepath.Join(dir, name), png, 0o600))
	if keep := os.Getenv("SERIALINE_UI_SHOTS"); keep != "" {
		require.NoError(tb, os.WriteFile(filepath.Join(keep, name), png, 0o600))
	}
}

// waitJS waits until the JavaScript expression is true.
func waitJS(tb testing.TB, ctx context.Context, expr string) {
	tb.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(tb, err, "waiting for %s", expr)
}

func text(tb testing.TB, ctx context.Context, css string) string {
	tb.Helper()
	// textContent, not innerText: CSS upper-cases some labels.
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(css)+`).textContent`))
	require.NoError(tb, err, css)
	return s
}

// fits checks that the page needs no scrolling at this screen size.
func fits(tb testing.TB, ctx context.Context, w, h int) {
	tb.Helper()
	size, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, document.documentElement.scrollHeight]`))
	require.NoError(tb, err)
	require.LessOrEqual(tb, size[0], w, "page width")
	require.LessOrEqual(tb, size[1], h, "page height")
}

// smallTargets lists the visible elements matching css (by id, else
// text) that are under 48 px in either direction: too small to touch.
func smallTargets(tb testing.TB, ctx context.Context, css string) []string {
	tb.Helper()
	small, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('`+css+`')]
		.filter(b => b.offsetParent !== null)
		.filter(b => { const r = b.getBoundingClientRect(); return r.height < 48 || r.width < 48; })
		.map(b => b.id || b.textContent)`))
	require.NoError(tb, err)
	return small
}

func click(tb testing.TB, ctx context.Context, css string) {
	tb.Helper()
	require.NoError(tb, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(css))), "click %s", css)
}

// TestBrowserOperatorShift drives the page in headless Chromium as an
// operator would: sign in on the keypad, start, watch the counts, take an
// alarm and acknowledge it, close the order.
func TestBrowserOperatorShift(t *testing.T) {
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

	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1024, 768), chromedp.Navigate(r.srv.URL)))
	require.Equal(t, "not signed in", text(t, ctx, "#operator"))
	require.Equal(t, "stopped", text(t, ctx, "#state"))

	// Start the released order: the screen asks for the PIN first.
	click(t, ctx, `#orders button[data-order="WO-1"]`)
	waitJS(t, ctx, `!document.getElementById('keypad').hidden`)
	// A wrong PIN first.
	for _, k := range []string{"9", "9", "9", "9", "ok"} {
		click(t, ctx, `.key[data-key="`+k+`"]`)
	}
	waitJS(t, ctx, `document.getElementById('pin-error').textContent === 'wrong PIN'`)
	for _, k := range []string{"1", "2", "3", "5", "back", "4", "ok"} { // 1234 after a correction
		click(t, ctx, `.key[data-key="`+k+`"]`)
	}
	waitJS(t, ctx, `document.getElementById('keypad').hidden && document.getElementById('state').textContent === 'running'`)
	require.Equal(t, "Ana", text(t, ctx, "#operator"))
	require.Equal(t, "Amoxicillin 500 mg ×20", text(t, ctx, "#product"))
	require.Equal(t, "2027-12-31", text(t, ctx, "#expiry"))
	require.Equal(t, []lineCall{{Name: "start", Order: "WO-1", Operator: "Ana"}}, r.line.Calls())

	// Production: the order's counts follow the line, pushed by the server;
	// the agent's counts since it started are not the order's.
	r.line.update(func(s *agent.State) {
		s.Counts.Good = 99_999
		s.Production.Good, s.Production.Rejected = 250, 3
		s.Pool.Counts.Decommissioned = map[wire.Reason]uint64{wire.ReasonNoRead: 2, wire.ReasonLowGrade: 1}
		s.Rate = 240
		s.Pool.Available, s.Pool.MinutesLeft, s.Pool.Rate = 480, 2, 240
		s.Outbox.Connected, s.Outbox.Pending = true, 17
	})
	waitJS(t, ctx, `document.getElementById('good').textContent === '250'`)
	require.Equal(t, "3", text(t, ctx, "#rejected"))
	require.Equal(t, "240", text(t, ctx, "#rate"))
	require.Equal(t, "25", text(t, ctx, "#progress"))
	require.Equal(t, "17", text(t, ctx, "#backlog"))
	require.Equal(t, "running", text(t, ctx, "#order-state"))
	cls, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('pool').className`))
	require.NoError(t, err)
	require.Equal(t, "pool level-low", cls, "2 minutes of serials left")

	// An alarm stops the line; its cause has cleared, it waits for the ack.
	r.line.update(func(s *agent.State) {
		s.State = wire.LineAlarm
		s.Rate = 0
		s.Production.State = wire.ProgressStopped
		s.Devices["printer"] = wire.DeviceHealth{State: wire.DeviceFault, Detail: "ribbon out"}
		s.Alarms = append(s.Alarms, catalogued(t, station.AlarmPrinterRibbonOut, "printer", "printer: ~HS: ribbon out", time.Now()))
	})
	waitJS(t, ctx, `document.querySelector('#alarms .alarm.needs-ack') !== null`)
	require.Equal(t, "printer-ribbon-outThe label printer is out of ribbon.", text(t, ctx, "#alarms .alarm .cause"), "code and plain cause")
	require.Contains(t, text(t, ctx, "#alarms .alarm .what"), "Fit a new ribbon")
	require.Contains(t, text(t, ctx, "#alarms .alarm .meta"), "printer: ~HS: ribbon out", "the device's words, small")
	require.Equal(t, "0", text(t, ctx, "#rate"), "no rate while the line stands")
	require.True(t, jsBool(t, ctx, `document.getElementById('btn-start').disabled`), "no start during an alarm")
	require.Contains(t, text(t, ctx, `#devices li[data-device="printer"]`), "ribbon out")
	shot(t, ctx, dir, "alarm-1024x768.png")
	fits(t, ctx, 1024, 768)
	// Every touch target is at least 48 px.
	require.Empty(t, smallTargets(t, ctx, "button"), "buttons under 48 px")

	click(t, ctx, "#btn-ack")
	waitJS(t, ctx, `document.querySelectorAll('#alarms .alarm').length === 0 && document.getElementById('alarm-strip').hidden`)
	require.False(t, jsBool(t, ctx, `document.getElementById('btn-start').disabled`), "Start again once acknowledged")
	calls := r.line.Calls()
	require.Equal(t, lineCall{Name: "ack", Operator: "Ana"}, calls[len(calls)-1])

	// Close the order: confirm, then read the reconciliation.
	r.line.setState(wire.LineStopped)
	waitJS(t, ctx, `!document.getElementById('btn-close').disabled`)
	click(t, ctx, "#btn-close")
	waitJS(t, ctx, `!document.getElementById('confirm').hidden`)
	click(t, ctx, "#confirm-yes")
	waitJS(t, ctx, `!document.getElementById('recon').hidden`)
	require.Equal(t, "100", text(t, ctx, "#recon-granted"))
	require.Equal(t, "no-read 4", text(t, ctx, "#recon-decommissioned"))
	require.Contains(t, text(t, ctx, "#recon-balance"), "Balanced")
	shot(t, ctx, dir, "closed-1024x768.png")

	click(t, ctx, "#recon-ok")
	waitJS(t, ctx, `document.getElementById('order-state').textContent === 'closed'`)
	require.Equal(t, "Order WO-1 was closed at this line; choose the next order.", text(t, ctx, "#order-notice"))
	require.Equal(t, "No order released to line L1: ask planning to release one.", text(t, ctx, "#no-order"))
	require.Empty(t, lowContrast(t, ctx), "text under 4.5:1")
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)))
	waitJS(t, ctx, `window.innerWidth === 1280`)
	fits(t, ctx, 1280, 800)
	shot(t, ctx, dir, "stopped-1280x800.png")

	var got []string
	for _, a := range r.rec.Actions() {
		require.Equal(t, "Ana", a.Operator)
		got = append(got, a.Action)
	}
	require.Equal(t, []string{ActSignIn, ActStart, ActAck, ActClose}, got)
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, jsErrors, "JavaScript errors on the page")
}
