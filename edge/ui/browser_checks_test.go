package ui

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// Checks run in the page: what a person at the screen would see.

func jsBool(tb testing.TB, ctx context.Context, expr string) bool {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
	require.NoError(tb, err, expr)
	return v
}

// contrastJS computes, for every visible element with text of its own,
// the WCAG 2.x contrast ratio of its computed colour against its effective
// background: the background colours of it and its ancestors composited
// from the canvas up (alpha included), the text's alpha times the
// ancestors' opacity. It returns [checked, failures...].
const contrastJS = `(() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const lin = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = (c) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const over = (top, bottom) => {
    const a = top[3];
    return [top[0] * a + bottom[0] * (1 - a), top[1] * a + bottom[1] * (1 - a), top[2] * a + bottom[2] * (1 - a), 1];
  };
  const background = (e) => {
    const layers = [];
    for (let n = e; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1]; // the canvas
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const fails = [];
  let checked = 0;
  for (const e of document.querySelectorAll('body *')) {
    if (e.tagName === 'SCRIPT' || e.tagName === 'STYLE') continue;
    const own = [...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim() !== '');
    if (!own) continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || !e.checkVisibility({ visibilityProperty: true })) continue;
    const fg = parse(getComputedStyle(e).color);
    let op = 1;
    for (let n = e; n; n = n.parentElement) op *= Number(getComputedStyle(n).opacity);
    fg[3] *= op;
    const bg = background(e);
    const l1 = lum(over(fg, bg)), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    checked++;
    if (ratio < 4.5) {
      fails.push((e.id ? '#' + e.id : e.tagName.toLowerCase() + '.' + e.className) + ' "' + e.textContent.trim().slice(0, 40) + '" ' + ratio.toFixed(2) + ':1');
    }
  }
  return [String(checked), ...fails];
})()`

// lowContrast returns the visible texts under 4.5:1, after checking that
// there were texts to check.
func lowContrast(tb testing.TB, ctx context.Context) []string {
	tb.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](contrastJS))
	require.NoError(tb, err)
	n, err := strconv.Atoi(out[0])
	require.NoError(tb, err)
	require.Greater(tb, n, 10, "texts checked")
	return out[1:]
}

// clipped returns what of the elements matching css does not fit: the
// element, or an ancestor up to the body, wider than its box (scrollWidth
// > clientWidth), the element outside the viewport, or outside a box that
// clips or scrolls it (so it cannot be read without scrolling).
func clipped(tb testing.TB, ctx context.Context, css string) []string {
	tb.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
  const bad = [];
  const els = [...document.querySelectorAll(`+strconv.Quote(css)+`)];
  if (els.length === 0) return ['nothing matches'];
  for (const e of els) {
    const name = (e.id ? '#' + e.id : e.tagName.toLowerCase()) + ' "' + e.textContent.trim() + '"';
    const r = e.getBoundingClientRect();
    if (r.left < 0 || r.right > innerWidth || r.top < 0 || r.bottom > innerHeight) bad.push(name + ' outside the viewport');
    for (let n = e; n && n !== document.body; n = n.parentElement) {
      const st = getComputedStyle(n);
      const box = n.id || n.className || n.tagName;
      if (st.display !== 'inline' && n.scrollWidth > n.clientWidth) bad.push(name + ': ' + box + ' ' + n.scrollWidth + ' > ' + n.clientWidth);
      if (n !== e && (st.overflowX !== 'visible' || st.overflowY !== 'visible')) {
        // Inside a box that clips or scrolls: it must show within it.
        const p = n.getBoundingClientRect();
        if (r.left < p.left || r.right > p.right || r.top < p.top || r.bottom > p.bottom) bad.push(name + ' hidden outside ' + box);
      }
    }
  }
  return bad;
})()`))
	require.NoError(tb, err)
	return out
}

// onScreen checks that the element matching css is inside the viewport
// and that a touch at its centre reaches it (nothing covers it).
func onScreen(tb testing.TB, ctx context.Context, css string) {
	tb.Helper()
	why, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
  const e = document.querySelector(`+strconv.Quote(css)+`);
  if (!e) return 'missing';
  const r = e.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return 'not shown';
  if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight)
    return 'outside the viewport: ' + [r.left, r.top, r.right, r.bottom].map(Math.round).join(',') + ' of ' + innerWidth + 'x' + innerHeight;
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  if (!hit || (hit !== e && !e.contains(hit))) return 'covered by ' + (hit ? hit.id || hit.className || hit.tagName : 'nothing');
  return '';
})()`))
	require.NoError(tb, err)
	require.Empty(tb, why, "%s on screen", css)
}

// coveredBy reports whether a touch at the centre of the element matching
// css lands in the element matching cover.
func coveredBy(tb testing.TB, ctx context.Context, css, cover string) bool {
	tb.Helper()
	return jsBool(tb, ctx, fmt.Sprintf(`(() => {
  const r = document.querySelector(%s).getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return !!hit && !!hit.closest(%s);
})()`, strconv.Quote(css), strconv.Quote(cover)))
}
