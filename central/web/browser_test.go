package web_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

const chromiumPath = "/usr/bin/chromium"

// envScreenshots names a folder to keep the screenshots in; by default
// they go to the test's temporary folder.
const envScreenshots = "SERIALINE_WEB_SCREENSHOTS"

// newBrowser starts headless Chromium with a fresh profile; the browser
// lives as long as the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("SKIPPED browser test: Chromium not found at %s (.ci/provision installs it)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// The first Do starts the browser, bound to ctx: no deadline here, or
	// the browser would end with it (each step below has its own).
	require.NoError(t, chromedp.Do(ctx), "start Chromium")
	return ctx
}

// tab runs browser steps, each with a deadline, and keeps screenshots.
type tab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...))
}

func run[T any](b *tab, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(b.t, err)
	return v
}

func (b *tab) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.base + path)) }

func (b *tab) text(sel string) string {
	b.t.Helper()
	return strings.Join(strings.Fields(run(b, chromedp.TextContent(chromedp.CSS(sel)))), " ")
}

func (b *tab) eval(js string) bool { b.t.Helper(); return run(b, chromedp.Evaluate[bool](js)) }

// screenshot keeps a full-page PNG of the current page.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	png := run(b, chromedp.FullScreenshot(100))
	require.True(b.t, bytes.HasPrefix(png, []byte("\x89PNG")), "a PNG")
	path := filepath.Join(b.shots, name+".png")
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot %s (%d bytes)", path, len(png))
}

func (b *tab) signIn(token string) {
	b.t.Helper()
	b.do(
		chromedp.WaitVisible(chromedp.ID("f-token")),
		chromedp.SendKeys(chromedp.ID("f-token"), token),
		chromedp.Click(chromedp.CSS(`form[action="/signin"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("user-role")),
	)
}

// TestBrowser drives the UI in headless Chromium as a planner and an
// auditor would: sign in, watch a line, create a product and an order,
// release it, scan a unit's Digital Link into the lookup, see the
// reconciliation flag a difference and the dead letter of a bad event.
// Assertions are on the DOM; one screenshot per main page goes to a
// temporary folder.
func TestBrowser(t *testing.T) {
	ctx := newBrowser(t)
	e := newEnv(t)
	e.seed()
	e.lines.set(line1, statusOf(line1, wire.LineRunning, e.now.Add(-3*time.Second), func(s *wire.Status) {
		s.Pool = wire.Pool{Available: 250, MinutesLeft: 5}
		s.Devices = map[string]wire.DeviceHealth{"printer": {State: wire.DeviceOK}, "scanner": {State: wire.DeviceOK}}
	}))
	shots := t.TempDir()
	if dir := os.Getenv(envScreenshots); dir != "" {
		shots = dir // to look at them after the test
	}
	b := &tab{t: t, ctx: ctx, base: e.srv.URL, shots: shots}

	// Signing in returns to the page asked for.
	b.open("/orders")
	b.signIn(e.token("alice", auth.RolePlanner))
	require.Equal(t, "planner", b.text("#user-role"))
	require.Equal(t, e.srv.URL+"/orders", run(b, chromedp.Location()))

	// Lines: live status, refreshed without reloading the page.
	b.open("/lines")
	require.Equal(t, "running", run(b, chromedp.AttributeValue(chromedp.ID("line-L1"), "data-state")).Value)
	require.Contains(t, b.text("#line-L2"), "OFFLINE")
	b.do(chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	e.lines.set(line1, statusOf(line1, wire.LineAlarm, e.now.Add(-time.Second), func(s *wire.Status) {
		s.Devices = map[string]wire.DeviceHealth{"printer": {State: wire.DeviceFault, Detail: "ribbon out"}}
	}))
	b.do(chromedp.WaitVisible(chromedp.CSS(`#line-L1[data-state="alarm"]`)))
	require.Contains(t, b.text("#line-L1"), "ribbon out")
	require.True(t, b.eval(`window.notReloaded === true`), "the status was swapped in, the page not reloaded")
	b.screenshot("lines")

	// A product: first with a wrong check digit, shown next to the field.
	b.open("/products/new")
	b.do(
		chromedp.SendKeys(chromedp.ID("f-gtin"), "09506000134360"),
		chromedp.SendKeys(chromedp.ID("f-name"), "Amoxicillin 500 mg"),
		chromedp.Click(chromedp.ID("f-market-eu")),
		chromedp.SendKeys(chromedp.ID("f-planned_volume"), "1000000"),
		chromedp.Click(chromedp.CSS(`#product-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("error-summary")),
	)
	require.Contains(t, b.text("#f-gtin-err"), "check digit")
	require.Equal(t, "true", run(b, chromedp.AttributeValue(chromedp.ID("f-gtin"), "aria-invalid")).Value)
	require.True(t, b.eval(`document.getElementById("f-market-eu").checked`), "the form keeps what was entered")
	b.do(
		chromedp.SetValue(chromedp.ID("f-gtin"), gtinRand),
		chromedp.Click(chromedp.CSS(`#product-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("scheme-facts")),
	)
	require.Equal(t, "Product created.", b.text("#notice"))
	require.Contains(t, b.text("#guess-planned"), "1 in 1,000,000")
	require.Contains(t, b.text("#fmd-check"), "Passes")
	b.screenshot("product")
	b.open("/products")
	require.Contains(t, b.text(`tr[data-gtin="`+gtinRand+`"]`), "1 in 1,000,000")
	b.screenshot("products")

	// An order. The form tells the lot's rule before it is sent (at most
	// 20 characters, CSET 82), and reports every error at once by label.
	b.open("/orders/new?gtin=" + gtinRand)
	require.Equal(t, "date", run(b, chromedp.AttributeValue(chromedp.ID("f-expiry"), "type")).Value, "a date picker")
	b.do(
		chromedp.SendKeys(chromedp.ID("f-id"), "WO-100"),
		chromedp.SendKeys(chromedp.ID("f-lot"), "LOT 42 AND FAR TOO LONG"),
	)
	require.Equal(t, "LOT 42 AND FAR TOO L", run(b, chromedp.Value(chromedp.ID("f-lot"))), "no more than 20 characters can be typed")
	require.True(t, b.eval(`document.getElementById("f-lot").validity.patternMismatch`), "the browser knows the space breaks the rule")
	require.Contains(t, b.text("#f-lot-hint"), "1 to 20 characters")
	b.do(
		chromedp.SendKeys(chromedp.ID("f-quantity"), "0"),
		chromedp.Click(chromedp.CSS(`#order-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("error-summary")),
	)
	summary := run(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#error-summary li")).map(li => li.textContent.trim())`))
	require.Len(t, summary, 3, "%q", summary)
	require.True(t, strings.HasPrefix(summary[0], "Lot (AI 10): "), "%q", summary)
	require.Equal(t, []string{"Expiry (AI 17): Missing.", "Quantity: Must be at least 1."}, summary[1:])
	b.do(
		chromedp.SetValue(chromedp.ID("f-lot"), lot),
		chromedp.SetValue(chromedp.ID("f-expiry"), "2028-12-31"),
		chromedp.SetValue(chromedp.ID("f-quantity"), "500"),
		chromedp.Click(chromedp.CSS(`#order-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("release-form")),
	)
	require.Equal(t, "created", b.text("#order-state"))
	created, err := e.s.Order(e.ctx, "WO-100")
	require.NoError(t, err)
	require.Equal(t, expiry, created.Expiry, "the date picker's date is stored as YYMMDD")
	b.do(
		chromedp.SetValue(chromedp.ID("f-line"), line1),
		chromedp.Click(chromedp.CSS(`#release-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("close-form")),
	)
	require.Equal(t, "released", b.text("#order-state"))
	require.Equal(t, "L1", b.text("#order-line"))
	require.Equal(t, []string{line1}, e.pub.published())

	// The line produces: 10 serials granted, 3 commissioned, and one event
	// for a product the order is not for (a dead letter).
	u := e.grant("req-1", line1, "WO-100", gtinRand, 10)
	bad := u.ev(line1, 4, wire.Commissioned, 3)
	bad.GTIN = gtinSeq
	res := e.apply(line1, u.ev(line1, 1, wire.Commissioned, 0), u.ev(line1, 2, wire.Commissioned, 1), u.ev(line1, 3, wire.Commissioned, 2), bad)
	require.Len(t, res.Rejected, 1)

	// Reconciliation: 10 granted, 3 accounted for while the order runs:
	// in progress, not a red difference.
	b.open("/orders/WO-100")
	require.Equal(t, "progress", run(b, chromedp.AttributeValue(chromedp.ID("difference"), "class")).Value)
	require.Contains(t, b.text("#difference"), "7 in progress")
	require.True(t, b.eval(`getComputedStyle(document.querySelector("#difference td")).color === getComputedStyle(document.querySelector("#reconciliation tr td")).color`),
		"not red while the order runs")
	require.Equal(t, "3 of 500 (0.6 %) 0.6 %", b.text("#order-produced"))
	b.screenshot("order-running")

	// Closed with 7 serials unaccounted for: now the difference is a
	// finding, in red.
	b.do(
		chromedp.Click(chromedp.ID("f-confirm")),
		chromedp.Click(chromedp.CSS(`#close-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	require.Equal(t, "closed", b.text("#order-state"))
	require.Equal(t, "bad", run(b, chromedp.AttributeValue(chromedp.ID("difference"), "class")).Value)
	require.Contains(t, b.text("#difference"), "not reconciled")
	require.True(t, b.eval(`getComputedStyle(document.querySelector("#difference td")).color !== getComputedStyle(document.querySelector("#reconciliation tr td")).color`),
		"the difference row is styled apart")
	b.screenshot("order")
	b.open("/orders")
	require.Contains(t, b.text(`tr[data-order="WO-100"]`), "closed")
	b.screenshot("orders")

	// A handheld scanner types the Digital Link into the focused field and
	// presses Enter.
	dl, err := gs1.ElementString{{AI: "01", Value: gtinRand}, {AI: "10", Value: lot}, {AI: "21", Value: u.serial[1]}, {AI: "17", Value: expiry}}.DigitalLink("")
	require.NoError(t, err)
	b.open("/lookup")
	// autofocus is applied at the next rendering step after load: await it.
	require.True(t, run(b, chromedp.Poll[bool](`document.activeElement && document.activeElement.id === "f-code"`, chromedp.WithPollingTimeout(5*time.Second))),
		"the code field has the focus")
	b.do(
		chromedp.KeyEvent(dl+"\r"),
		chromedp.WaitVisible(chromedp.ID("unit-state")),
	)
	require.Equal(t, "commissioned", b.text("#unit-state"))
	require.Equal(t, "WO-100", b.text("#unit-order"))
	require.Contains(t, b.text("#history"), "commissioned")
	require.Contains(t, b.text("#read-as"), "(21)"+u.serial[1])
	b.screenshot("lookup")

	// A tablet in portrait: nothing wider than the screen, touch targets
	// at least 44 px high.
	b.do(chromedp.EmulateViewport(768, 1024, chromedp.EmulatePortrait, chromedp.EmulateTouch))
	b.open("/orders/WO-100")
	require.True(t, b.eval(`document.documentElement.scrollWidth <= window.innerWidth`), "no sideways scrolling")
	small := run(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("button, a.button, header nav a, input[type=text], select"))
		.filter(el => el.offsetParent !== null && el.getBoundingClientRect().height < 44)
		.map(el => el.outerHTML.slice(0, 80))`))
	require.Empty(t, small, "touch targets under 44 px")
	b.screenshot("order-tablet")
	b.do(chromedp.EmulateViewport(1280, 900))

	// Sign out; an auditor sees the dead letter and the audit trail, and is
	// not offered to create orders.
	b.do(
		chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)),
		chromedp.WaitVisible(chromedp.ID("f-token")),
	)
	b.signIn(e.token("ursula", auth.RoleAuditor))
	require.Equal(t, "auditor", b.text("#user-role"))
	b.open("/orders")
	require.True(t, b.eval(`document.getElementById("new-order") === null`), "no create button for an auditor")
	b.open("/dead-letters")
	require.Contains(t, b.text("#dead-letters"), "is not the GTIN")
	require.Contains(t, b.text("#dead-letters"), "L1:4")
	b.do(
		chromedp.Click(chromedp.CSS(`#dead-letters summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#dead-letters pre.payload`)),
	)
	require.Contains(t, b.text(`#dead-letters pre.payload`), `"gtin": "`+gtinSeq+`"`, "the payload as received")
	b.screenshot("dead-letters")
	b.open("/audit?entity=work_order&entity_id=WO-100")
	require.Contains(t, b.text("#audit"), "alice (planner")
	require.Contains(t, b.text(`tr[data-action="release"]`), "released")
	b.screenshot("audit")

	// QA dispositions events a line made after their order was closed.
	e.flagged("WO-F", gtinSeq, "LF", 3)
	b.do(
		chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)),
		chromedp.WaitVisible(chromedp.ID("f-token")),
	)
	b.signIn(e.token("quinn", auth.RoleQA))
	b.open("/orders/WO-F")
	require.Contains(t, b.text("#flag-count"), "3 wait for a disposition")
	flags, err := e.s.EventFlags(e.ctx, lineevents.FlagFilter{Order: "WO-F"})
	require.NoError(t, err)
	b.do(
		chromedp.Click(chromedp.ID(fmt.Sprintf("flag-%d", flags[0].ID))),
		chromedp.SetValue(chromedp.ID("f-disposition"), lineevents.DispositionRejected),
		chromedp.SendKeys(chromedp.ID("f-note"), "made after the close: pulled at the line"),
		chromedp.Click(chromedp.CSS(`#disposition-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	require.Equal(t, "Disposition recorded.", b.text("#notice"))
	require.Contains(t, b.text("#flag-count"), "2 wait for a disposition")
	require.Contains(t, b.text(fmt.Sprintf(`tr[data-flag="%d"]`, flags[0].ID)), "rejected by quinn")
	b.screenshot("order-flags")
}
