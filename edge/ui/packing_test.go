package ui

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
)

// TestPackingPanel: with packing on, the view carries the packing state
// and the page shows the packing tab, the open case, its count and the
// refusals with their reasons; with packing off the tab is hidden.
func TestPackingPanel(t *testing.T) {
	snap := &packing.Snapshot{Order: "WO-1", CaseSize: 12,
		Case:     &packing.CaseView{SSCC: "095060000000000008", Order: "WO-1", Count: 5},
		Refusals: []packing.Refusal{{Reason: packing.RefuseAlreadyPacked, Detail: "unit (01)09506000134352(21)7 is packed in case 095060000000000015 already"}}}
	for _, tc := range []struct {
		name string
		snap *packing.Snapshot
	}{{"on", snap}, {"off", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			v := buildView(agent.State{Packing: tc.snap}, Person{}, 10, time.Time{})
			require.Equal(t, tc.snap, v.Packing)
			var b bytes.Buffer
			require.NoError(t, pageTemplate(t).Execute(&b, v))
			if tc.snap == nil {
				require.Contains(t, b.String(), `<div id="tabs" class="tabs" hidden>`)
				require.Contains(t, b.String(), `data-packing=""`)
				return
			}
			for _, want := range []string{`<div id="tabs" class="tabs" >`, `data-packing="on"`, `id="packing"`, "095060000000000008",
				`<b id="pack-count">5</b>`, ">12</span>", "already-packed", "is packed in case 095060000000000015 already"} {
				require.Contains(t, b.String(), want)
			}
		})
	}
}

func pageTemplate(tb testing.TB) *template.Template {
	tb.Helper()
	page, err := template.ParseFS(assets, "assets/index.html")
	require.NoError(tb, err)
	return page
}

// TestPackingNeedsSignIn: every packing action is refused without a
// session, and nothing reaches the packer; with packing off (no packer)
// a signed-in action is told so.
func TestPackingNeedsSignIn(t *testing.T) {
	r := newRig(t, Config{})
	routes := map[string]string{
		"/ui/pack/scan":         `{"data":"(01)09506000134352(21)S1"}`,
		"/ui/pack/close-case":   `{}`,
		"/ui/pack/close-pallet": `{}`,
		"/ui/pack/remove":       `{"sscc":"095060000000000008","unit":"(01)09506000134352(21)S1"}`,
		"/ui/pack/replace":      `{"sscc":"095060000000000008","unit":"(01)09506000134352(21)S1","with":"(01)09506000134352(21)S2"}`,
		"/ui/pack/unpack":       `{"sscc":"095060000000000008","confirm":true}`,
	}
	c := r.client(t)
	for path, body := range routes {
		t.Run(path, func(t *testing.T) {
			code, out := r.post(t, c, path, body)
			require.Equal(t, http.StatusForbidden, code)
			require.Equal(t, true, out["sign_in"])
		})
	}
	require.Empty(t, r.rec.Actions(), "nothing recorded without a sign-in")
	r.signIn(t, c, pinAna)
	code, out := r.post(t, c, "/ui/pack/close-case", `{}`)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, out["error"], "packing")
}

// TestPackingActions drives the packing routes on a real packer: manual
// entry, refusals with their reason, a short case, a pallet, the rework
// actions, bad input naming the field; each action recorded with the
// operator and what it concerned, each event carrying the operator.
func TestPackingActions(t *testing.T) {
	r := newRig(t, Config{})
	pr := startPacking(t, r.line, 3, 2)
	pr.commission(t, pr.order, 0, 8)
	c := r.client(t)
	r.signIn(t, c, pinAna)

	scan := func(t *testing.T, data string) (int, map[string]any) {
		t.Helper()
		return r.post(t, c, "/ui/pack/scan", `{"data":`+quote(data)+`}`)
	}
	// Three units fill case 1: the third scan closes it.
	for i := range 3 {
		code, out := scan(t, pr.typed(i))
		require.Equal(t, http.StatusOK, code, "%v", out)
		require.Equal(t, true, out["outcome"].(map[string]any)["accepted"])
		require.Equal(t, "L1", out["line"], "the answer carries the view")
	}
	case1 := pr.label(t)
	require.Equal(t, case1, r.rec.Actions()[3].Container, "the scan that closed the case names it")

	refusals := []struct {
		name, data, reason, detail string
	}{
		{"packed already", pr.typed(1), "already-packed", "is packed in case " + case1},
		{"not commissioned", pr.typed(20), "not-commissioned", "was not commissioned on line L1"},
		{"not GS1", "hello", "unreadable", "not a GS1 element string"},
		{"an SSCC label", "(00)" + case1, "not-a-unit", "SSCC label"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			code, out := scan(t, tc.data)
			require.Equal(t, http.StatusConflict, code)
			require.Equal(t, tc.reason, out["reason"])
			require.Contains(t, out["error"], tc.detail)
			s := pr.pk.Snapshot()
			require.Equal(t, packing.Reason(tc.reason), s.Refusals[0].Reason, "the screen's list shows it")
		})
	}

	// A short case: one unit, closed now; it goes on the pallet, which
	// then holds two cases and closes.
	code, out := r.post(t, c, "/ui/pack/close-case", `{}`)
	require.Equal(t, http.StatusConflict, code)
	require.Equal(t, "no case is open", out["error"])
	code, out = scan(t, pr.data(3))
	require.Equal(t, http.StatusOK, code, "%v", out)
	code, out = r.post(t, c, "/ui/pack/close-case", `{}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	closed := out["closed"].(map[string]any)
	case2 := closed["sscc"].(string)
	require.Equal(t, float64(1), closed["children"])
	require.Equal(t, case2, pr.label(t))
	pallet := closed["pallet"].(map[string]any)["sscc"].(string)
	require.Equal(t, pallet, pr.label(t), "two cases fill the pallet")
	require.True(t, strings.HasPrefix(pallet, "1"+packPrefix))
	code, out = r.post(t, c, "/ui/pack/close-pallet", `{}`)
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, out["error"], "no pallet is open")

	// A pallet closed before it is full.
	for i := 4; i < 7; i++ {
		code, out = scan(t, pr.data(i))
		require.Equal(t, http.StatusOK, code, "%v", out)
	}
	case3 := pr.label(t)
	code, out = r.post(t, c, "/ui/pack/close-pallet", `{}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	pallet2 := out["closed"].(map[string]any)["sscc"].(string)
	require.Equal(t, pallet2, pr.label(t))

	// Rework, with bad input first: each names the field.
	bad := []struct {
		name, path, body, field, msg string
	}{
		{"no data", "/ui/pack/scan", `{"data":"  "}`, "data", "missing"},
		{"unknown key", "/ui/pack/scan", `{"code":"x"}`, "data", "want"},
		{"sscc check digit", "/ui/pack/remove", `{"sscc":"095060000000000009","unit":"` + pr.ref(0) + `"}`, "sscc", "(00)"},
		{"sscc missing", "/ui/pack/remove", `{"unit":"` + pr.ref(0) + `"}`, "sscc", "missing"},
		{"unit not a unit", "/ui/pack/remove", `{"sscc":"` + case1 + `","unit":"(00)` + case1 + `"}`, "unit", "no (01) GTIN and (21) serial"},
		{"replacement missing", "/ui/pack/replace", `{"sscc":"` + case1 + `","unit":"` + pr.ref(0) + `"}`, "with", "missing"},
		{"replacement is the same", "/ui/pack/replace", `{"sscc":"` + case1 + `","unit":"` + pr.ref(0) + `","with":"` + pr.typed(0) + `"}`, "with", "the same unit"},
		{"unpack unconfirmed", "/ui/pack/unpack", `{"sscc":"` + case1 + `"}`, "confirm", "confirm"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			n := len(r.rec.Actions())
			code, out := r.post(t, c, tc.path, tc.body)
			require.Equal(t, http.StatusBadRequest, code, "%v", out)
			require.Equal(t, tc.field, out["field"])
			require.Contains(t, out["error"], tc.field+": ")
			require.Contains(t, out["error"], tc.msg)
			require.Len(t, r.rec.Actions(), n, "bad input is not an action")
		})
	}

	code, out = r.post(t, c, "/ui/pack/remove", `{"sscc":"(00)`+case1+`","unit":"`+pr.typed(0)+`"}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	require.Equal(t, case1, pr.label(t), "the case label is reprinted")
	code, out = r.post(t, c, "/ui/pack/remove", `{"sscc":"`+case1+`","unit":"`+pr.typed(0)+`"}`)
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, out["error"], "not inside that container")
	code, out = r.post(t, c, "/ui/pack/replace", `{"sscc":"`+case1+`","unit":"`+pr.ref(1)+`","with":"`+pr.typed(4)+`"}`)
	require.Equal(t, http.StatusConflict, code, "a packed unit cannot replace one")
	require.Equal(t, "already-packed", out["reason"])
	code, out = r.post(t, c, "/ui/pack/replace", `{"sscc":"`+case1+`","unit":"`+pr.ref(1)+`","with":`+quote(pr.data(7))+`}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	code, out = r.post(t, c, "/ui/pack/unpack", `{"sscc":"`+case3+`","confirm":true}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	require.Equal(t, float64(3), out["removed"])
	code, out = r.post(t, c, "/ui/pack/unpack", `{"sscc":"`+case3+`","confirm":true}`)
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, out["error"], "empty already")
	code, out = r.post(t, c, "/ui/pack/unpack", `{"sscc":"095060000000099996","confirm":true}`)
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, out["error"], "was closed on this line")

	// The packer's record: case 1 holds units 2 and 7.
	ct, err := pr.pk.Container(case1)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{pr.ref(2), pr.ref(7)}, ct.Children)

	// Every action is recorded with who, when and what; the events carry
	// the operator.
	var got []string
	for _, a := range r.rec.Actions() {
		require.Equal(t, "Ana", a.Operator)
		require.False(t, a.At.IsZero())
		got = append(got, a.Action)
	}
	want := []string{ActSignIn, ActPackScan, ActPackScan, ActPackScan, ActPackScan, ActPackScan, ActPackScan, ActPackScan,
		ActCloseCase, ActPackScan, ActCloseCase, ActClosePallet, ActPackScan, ActPackScan, ActPackScan, ActClosePallet,
		ActRemoveUnit, ActRemoveUnit, ActReplaceUnit, ActReplaceUnit, ActUnpack, ActUnpack, ActUnpack}
	require.Equal(t, want, got)
	acts := r.rec.Actions()
	require.Equal(t, Action{Operator: "Ana", Role: station.RoleOperator, Action: ActReplaceUnit, Order: "", Container: case1, Unit: pr.ref(1), With: pr.ref(7), At: acts[19].At}, acts[19])
	require.Contains(t, acts[4].Error, "already-packed", "a refused scan is recorded with its reason")
	var packEvents int
	for _, e := range pr.ob.Events() {
		if e.Type == wire.Aggregated || e.Type == wire.Disaggregated {
			require.Equal(t, "Ana", e.Operator, "%s %s", e.Type, e.Parent)
			packEvents++
		}
	}
	require.Equal(t, 9, packEvents, "3 cases + 2 pallets, remove, replace (2), unpack")
}

// quote is s as a JSON string (codes carry GS, a control character).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
