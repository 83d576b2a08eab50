package ui

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// TestBrowserPacking drives the packing view in headless Chromium as the
// operator at the packing station would: sign in on the keypad, scan packs
// with the handheld (the scanner simulator over TCP, the real driver) and
// type one into the entry field, watch the count rise, read a refusal's
// reason on the screen, close a short case and read its SSCC (the one its
// printed label carries), and take a unit out of it again.
func TestBrowserPacking(t *testing.T) {
	ctx := browser(t)
	r := newRig(t, Config{MinPush: 10 * time.Millisecond})
	pr := startPacking(t, r.line, 5, 0)
	pr.commission(t, pr.order, 0, 4)
	dir := t.TempDir()

	var mu sync.Mutex
	var jsErrors []string
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			jsErrors = append(jsErrors, e.ExceptionDetails.Text+" "+exceptionText(e))
			mu.Unlock()
		}
	}))
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1024, 768), chromedp.Navigate(r.srv.URL)))
	waitJS(t, ctx, `!document.getElementById('tabs').hidden`)
	click(t, ctx, "#tab-pack")
	waitJS(t, ctx, `!document.getElementById('pack-view').hidden && document.getElementById('line-view').hidden`)
	require.Equal(t, "0", text(t, ctx, "#pack-count"))
	require.Equal(t, "5", text(t, ctx, "#pack-size"))

	// Sign in, then the handheld scans two packs: the count rises.
	click(t, ctx, "#signin")
	waitJS(t, ctx, `!document.getElementById('keypad').hidden`)
	for _, k := range []string{"1", "2", "3", "4", "ok"} {
		click(t, ctx, `.key[data-key="`+k+`"]`)
	}
	waitJS(t, ctx, `document.getElementById('keypad').hidden && document.getElementById('operator').textContent === 'Ana'`)
	for i, want := range []string{"1", "2"} {
		_, err := pr.scan.InspectData(pr.data(i), true)
		require.NoError(t, err)
		waitJS(t, ctx, `document.getElementById('pack-count').textContent === '`+want+`'`)
	}
	caseSSCC := text(t, ctx, "#pack-case")
	require.Len(t, caseSSCC, 18)
	require.Equal(t, "Packing 2/5", text(t, ctx, "#tab-pack"))

	// The handheld reads a pack that is in the case already: refused, the
	// reason on the screen.
	_, err := pr.scan.InspectData(pr.data(1), true)
	require.NoError(t, err)
	waitJS(t, ctx, `document.querySelectorAll('#pack-refusals li').length === 1`)
	require.Equal(t, "already-packed", text(t, ctx, "#pack-refusals li .reason"))
	require.Contains(t, text(t, ctx, "#pack-refusals li .detail"), "is in this case already")

	// A handheld without connection: the code typed (or wedge-scanned)
	// into the entry field, Enter sends it.
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys("#pack-input", pr.typed(2)+kb.Enter)))
	waitJS(t, ctx, `document.getElementById('pack-last').textContent.startsWith('Packed ')`)
	require.Equal(t, "Packed "+pr.ref(2)+" into case "+caseSSCC+" (3)", text(t, ctx, "#pack-last"))
	waitJS(t, ctx, `document.getElementById('pack-count').textContent === '3'`)
	// A pack never commissioned on this line, typed: refused with its reason.
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys("#pack-input", pr.typed(9)+kb.Enter)))
	waitJS(t, ctx, `document.getElementById('pack-last').textContent.startsWith('REFUSED not-commissioned')`)
	require.Contains(t, text(t, ctx, "#pack-last"), "was not commissioned on line L1")
	waitJS(t, ctx, `document.querySelectorAll('#pack-refusals li').length === 2`)
	require.Equal(t, "not-commissioned", text(t, ctx, "#pack-refusals li .reason"), "newest first")
	require.Equal(t, "3", text(t, ctx, "#pack-count"), "a refused pack is not counted")
	shot(t, ctx, dir, "packing-1024x768.png")
	fits(t, ctx, 1024, 768)
	require.Empty(t, smallTargets(t, ctx, "button, input"), "touch targets under 48 px")
	require.Empty(t, lowContrast(t, ctx), "text under 4.5:1")

	// Close the short case now: its SSCC on the screen is the one its
	// label carries.
	click(t, ctx, "#btn-close-case")
	waitJS(t, ctx, `document.getElementById('pack-last').textContent.startsWith('Case ')`)
	require.Equal(t, "Case "+caseSSCC+" closed: 3 units", text(t, ctx, "#pack-last"))
	require.Equal(t, caseSSCC, pr.label(t), "the printed label carries the SSCC shown")
	waitJS(t, ctx, `document.getElementById('pack-count').textContent === '0'`)
	require.Contains(t, text(t, ctx, "#pack-closed li"), caseSSCC)
	require.True(t, strings.HasSuffix(text(t, ctx, "#pack-closed li"), "3 units"))

	// Rework: take unit 0 out of the case just closed (its SSCC is filled
	// in); the label is reprinted.
	click(t, ctx, "#btn-remove")
	waitJS(t, ctx, `!document.getElementById('rework').hidden`)
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('rework-sscc').value`))
	require.NoError(t, err)
	require.Equal(t, caseSSCC, v)
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys("#rework-unit", pr.typed(0))))
	shot(t, ctx, dir, "rework-1024x768.png")
	require.Empty(t, lowContrast(t, ctx), "rework sheet: text under 4.5:1")
	click(t, ctx, "#rework-ok")
	waitJS(t, ctx, `document.getElementById('rework').hidden`)
	require.Equal(t, "Removed from "+caseSSCC+"; label reprinted", text(t, ctx, "#pack-last"))
	require.Equal(t, caseSSCC, pr.label(t))
	ct, err := pr.pk.Container(caseSSCC)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{pr.ref(1), pr.ref(2)}, ct.Children)

	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)))
	waitJS(t, ctx, `window.innerWidth === 1280`)
	fits(t, ctx, 1280, 800)
	shot(t, ctx, dir, "packing-1280x800.png")

	var got []string
	for _, a := range r.rec.Actions() {
		require.Equal(t, "Ana", a.Operator)
		got = append(got, a.Action)
	}
	require.Equal(t, []string{ActSignIn, ActPackScan, ActPackScan, ActCloseCase, ActRemoveUnit}, got)
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, jsErrors, "JavaScript errors on the page")
}

func exceptionText(e *runtime.EventExceptionThrown) string {
	if x := e.ExceptionDetails.Exception; x != nil {
		return x.Description
	}
	return ""
}
