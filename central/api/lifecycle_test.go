package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

type orderView struct {
	orders.WorkOrder
	Reconciliation struct {
		wire.Reconciliation
		DecommissionedTotal uint64 `json:"decommissioned_total"`
		Accounted           uint64 `json:"accounted"`
		Difference          int64  `json:"difference"`
		Balanced            bool   `json:"balanced"`
		Status              string `json:"status"`
	} `json:"reconciliation"`
	Grants []struct {
		RequestID string `json:"request_id"`
		Count     uint64 `json:"count"`
	} `json:"grants"`
	Flags []string `json:"flags"`
}

func (e *env) order(t *testing.T, role auth.Role, id string) orderView {
	t.Helper()
	resp := e.as(t, role, req{method: "GET", path: "/api/v1/orders/" + id})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var o orderView
	resp.json(t, &o)
	return o
}

// TestOrderLifecycle runs a work order through the API as the people
// would (planner, admin, QA, operator), with the line's side played by
// the real store: Grant for the serial request and ApplyEvents for the
// events; the reconciliation must account for every granted serial. The
// same test runs on SQLite and PostgreSQL.
func TestOrderLifecycle(t *testing.T) {
	storetest.ForEachBackend(t, orderLifecycle)
}

func orderLifecycle(t *testing.T, dsn string) {
	e := newEnv(t, dsn)
	const gtin = gtinRand

	// The planner creates an EU FMD product; the key is generated.
	p := product(gtin, serials.Spec{Kind: serials.KindRandomized, Length: 12})
	resp := e.as(t, auth.RolePlanner, req{method: "PUT", path: "/api/v1/products/" + gtin, body: testkit.MustJSON(t, p)})
	require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
	prod := resp.obj(t)
	scheme := prod["scheme"].(map[string]any)
	require.Equal(t, true, scheme["key_set"], "a key was generated")
	require.NotContains(t, scheme, "key", "the key is never shown")
	fmd := prod["fmd"].(map[string]any)
	require.Equal(t, true, fmd["compliant"])
	require.InDelta(t, 1e6/1e12, fmd["guess_probability"], 1e-12)

	// The admin creates the line; its MQTT password is generated, shown
	// once and stored hashed.
	resp = e.as(t, auth.RoleAdmin, req{method: "PUT", path: "/api/v1/lines/" + line1, body: `{"name": "Line 1"}`})
	require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
	line := resp.obj(t)
	pw, _ := line["mqtt_password"].(string)
	require.Len(t, pw, 43)
	require.Equal(t, true, line["has_password"])
	ok, err := auth.NewLineCredentials(e.s).CheckLine(e.ctx, line1, pw)
	require.NoError(t, err)
	require.True(t, ok, "the broker accepts the generated password")
	stored, err := e.s.Line(e.ctx, line1)
	require.NoError(t, err)
	require.NotContains(t, stored.PasswordHash, pw)
	resp = e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/lines/" + line1})
	require.NotContains(t, string(resp.body), pw, "the password is shown once only")
	require.NotContains(t, string(resp.body), stored.PasswordHash)

	// The planner plans and releases the order; the line's orders are
	// republished.
	resp = e.as(t, auth.RolePlanner, req{method: "POST", path: "/api/v1/orders",
		body: testkit.MustJSON(t, map[string]any{"id": "WO-100", "gtin": gtin, "lot": lot, "expiry": expiry, "quantity": 15})})
	require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
	require.Equal(t, "created", resp.obj(t)["state"])
	resp = e.as(t, auth.RolePlanner, req{method: "POST", path: "/api/v1/orders/WO-100/release", body: `{"line": "L1"}`})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	rel := resp.obj(t)
	require.Equal(t, "released", rel["state"])
	require.Equal(t, true, rel["published"])
	require.Equal(t, []string{line1}, e.pub.published())
	lo, err := e.s.LineOrders(e.ctx, line1)
	require.NoError(t, err)
	require.Len(t, lo.Orders, 1)
	require.Equal(t, "WO-100", lo.Orders[0].ID)

	o := e.order(t, auth.RoleOperator, "WO-100")
	require.Zero(t, o.Reconciliation.Granted)
	require.NotNil(t, o.Reconciliation.Decommissioned, `"decommissioned": {} is always there`)
	require.True(t, o.Reconciliation.Balanced)
	require.Empty(t, o.Flags)

	// The line asks for 20 serials and reports: 12 commissioned (one later
	// damaged), 2 rejected unread, 3 voided.
	g, err := e.s.Grant(e.ctx, wire.SerialRequest{V: 1, RequestID: "req-1", Line: line1, Order: "WO-100", GTIN: gtin, Count: 20}, 0)
	require.NoError(t, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(t, err)
	serial := func(c uint64) string {
		b, err := sc.Serial(nil, c)
		require.NoError(t, err)
		return string(b)
	}
	var events []wire.Event
	seq := uint64(0)
	add := func(typ wire.EventType, c uint64) {
		seq++
		events = append(events, unitEvent(seq, typ, "WO-100", gtin, serial(c), c))
	}
	for c := uint64(0); c < 12; c++ {
		add(wire.Commissioned, c)
	}
	add(wire.Decommissioned, 12)
	add(wire.Decommissioned, 13)
	for c := uint64(14); c < 17; c++ {
		add(wire.Voided, c)
	}
	seq++
	damaged := wire.Event{ID: fmt.Sprintf("L1:%d", seq), Seq: seq, Type: wire.Decommissioned, At: t0.Add(time.Hour),
		GTIN: gtin, Serial: serial(0), Reason: wire.ReasonDamaged, Order: "WO-100", Operator: "ana"}
	events = append(events, damaged)
	res, err := e.s.ApplyEvents(e.ctx, line1, events)
	require.NoError(t, err)
	require.Equal(t, len(events), res.Applied, "%+v", res)

	// Everyone who reads orders sees the reconciliation; 3 serials are
	// still in the line's pool.
	for _, role := range []auth.Role{auth.RolePlanner, auth.RoleQA, auth.RoleOperator, auth.RoleAuditor} {
		o := e.order(t, role, "WO-100")
		r := o.Reconciliation
		require.Equal(t, uint64(20), r.Granted)
		require.Equal(t, uint64(11), r.Commissioned)
		require.Equal(t, map[wire.Reason]uint64{wire.ReasonNoRead: 2, wire.ReasonDamaged: 1}, r.Decommissioned)
		require.Equal(t, uint64(3), r.Voided)
		require.Equal(t, uint64(0), r.ReturnedUnused)
		require.Equal(t, uint64(17), r.Accounted)
		require.Equal(t, int64(3), r.Difference)
		require.False(t, r.Balanced)
		require.Equal(t, "in progress", r.Status)
		require.Equal(t, []string{"3 granted serials are not accounted for yet (in the line's pool or not reported)"}, o.Flags)
		require.Len(t, o.Grants, 1)
		require.Equal(t, uint64(20), o.Grants[0].Count)
	}

	// The damaged unit shows both events.
	resp = e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/units/" + gtin + "/" + serial(0)})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var u struct {
		lineevents.Unit
		ElementString string `json:"element_string"`
		DigitalLink   string `json:"digital_link"`
	}
	resp.json(t, &u)
	require.Equal(t, orders.StateDecommissioned, u.State)
	require.Equal(t, wire.ReasonDamaged, u.Reason)
	require.Equal(t, "WO-100", u.Order)
	require.Len(t, u.History, 2)
	require.Equal(t, wire.Commissioned, u.History[0].Type)
	require.Equal(t, wire.Decommissioned, u.History[1].Type)
	require.Equal(t, "(01)"+gtin+"(17)"+expiry+"(10)"+lot+"(21)"+serial(0), u.ElementString)
	require.Equal(t, "https://id.gs1.org/01/"+gtin+"/10/"+lot+"/21/"+serial(0)+"?17="+expiry, u.DigitalLink)

	// QA stops the order from central: closed, the line's orders
	// republished. The 3 pooled serials are now flagged.
	resp = e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/orders/WO-100/close", ctype: "application/json"})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.Equal(t, "closed", resp.obj(t)["state"])
	require.Equal(t, []string{line1, line1}, e.pub.published())
	o = e.order(t, auth.RolePlanner, "WO-100")
	require.Equal(t, []string{"3 granted serials are not accounted for although the order is closed: events not received yet, or lost"}, o.Flags)
	require.Equal(t, "difference", o.Reconciliation.Status, "closed: the difference is a finding now")
	resp = e.as(t, auth.RolePlanner, req{method: "POST", path: "/api/v1/orders/WO-100/close"})
	require.Equal(t, http.StatusConflict, resp.status)
	require.Equal(t, "state", resp.apiErr(t).Code)

	// The line hands the rest back and closes with its own counts, which
	// miscount the commissioned units by one: balanced, but flagged.
	seq++
	ret := wire.Event{ID: fmt.Sprintf("L1:%d", seq), Seq: seq, Type: wire.SerialsReturned, At: t0.Add(2 * time.Hour),
		Order: "WO-100", GTIN: gtin, Ranges: []wire.CounterRange{{Start: 17, Count: 3}}}
	seq++
	closed := wire.Event{ID: fmt.Sprintf("L1:%d", seq), Seq: seq, Type: wire.OrderClosed, At: t0.Add(2 * time.Hour), Order: "WO-100",
		Counts: &wire.Reconciliation{Granted: 20, Commissioned: 12, Decommissioned: map[wire.Reason]uint64{wire.ReasonNoRead: 2, wire.ReasonDamaged: 1},
			Voided: 3, ReturnedUnused: 3}}
	res, err = e.s.ApplyEvents(e.ctx, line1, []wire.Event{ret, closed})
	require.NoError(t, err)
	require.Equal(t, 2, res.Applied, "%+v", res)
	o = e.order(t, auth.RoleAuditor, "WO-100")
	require.True(t, o.Reconciliation.Balanced)
	require.Equal(t, int64(0), o.Reconciliation.Difference)
	require.Equal(t, uint64(3), o.Reconciliation.ReturnedUnused)
	require.Equal(t, uint64(20), o.Reconciliation.Accounted)
	require.Equal(t, []string{"the line reported 12 commissioned, central has 11"}, o.Flags)

	// Listing filters.
	var list struct{ Orders []orders.WorkOrder }
	e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/orders?state=closed&line=L1"}).json(t, &list)
	require.Len(t, list.Orders, 1)
	e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/orders?state=released"}).json(t, &list)
	require.Empty(t, list.Orders)

	// The serial pool shows the usage and its guess probability.
	resp = e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/products/" + gtin + "/serials"})
	require.Equal(t, http.StatusOK, resp.status)
	pool := resp.obj(t)
	require.EqualValues(t, 20, pool["granted"])
	require.InDelta(t, 20/1e12, pool["guess_probability"], 1e-15)
	require.Equal(t, false, pool["fmd_limit_exceeded"])

	// Every change is in the audit trail under the person who made it.
	var trail struct {
		Entries []struct {
			Actor, Action, Entity string
			EntityID              string `json:"entity_id"`
		}
	}
	resp = e.as(t, auth.RoleAuditor, req{method: "GET", path: "/api/v1/audit?entity=work_order&entity_id=WO-100"})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	resp.json(t, &trail)
	want := []struct{ action, actor string }{
		{"create", "user-planner (planner, token "},
		{"release", "user-planner (planner, token "},
		{"close", "user-qa (qa, token "},
		{"reconcile", "line:L1"}, // the line's own order-closed event: its counts, not a second close
	}
	require.Len(t, trail.Entries, len(want))
	for i, w := range want {
		require.Equal(t, w.action, trail.Entries[i].Action, "entry %d", i)
		require.True(t, strings.HasPrefix(trail.Entries[i].Actor, w.actor), "entry %d: actor %q", i, trail.Entries[i].Actor)
	}
}

// gapLine is the line whose events holdBehindGap holds back, apart from
// line1 so that the other samples' seqs are untouched.
const gapLine = "LGAP"

// holdBehindGap makes gapLine send an event two seqs past central's
// acked, so that it is held behind a one-seq gap, and returns the missing
// seq (the open gap's, if there is one already).
func holdBehindGap(tb testing.TB, e *env, _ *fixture) uint64 {
	tb.Helper()
	if _, err := e.s.Line(e.ctx, gapLine); errors.Is(err, sqldb.ErrNotFound) {
		require.NoError(tb, e.s.PutLine(e.ctx, master.Line{ID: gapLine, Name: "Gap line"}))
		_, err = e.s.CreateOrder(e.ctx, orders.WorkOrder{ID: "WO-GAP", GTIN: gtinRand, Lot: lot, Expiry: expiry, Quantity: 1000})
		require.NoError(tb, err)
		_, err = e.s.ReleaseOrder(e.ctx, "WO-GAP", gapLine)
		require.NoError(tb, err)
		_, err = e.s.Grant(e.ctx, wire.SerialRequest{V: 1, RequestID: "gap-1", Line: gapLine, Order: "WO-GAP", GTIN: gtinRand, Count: 100}, 0)
		require.NoError(tb, err)
	}
	ls, err := e.s.LineSeq(e.ctx, gapLine)
	require.NoError(tb, err)
	if len(ls.Gaps) > 0 {
		return ls.Gaps[0].From
	}
	grants, err := e.s.Grants(e.ctx, "WO-GAP")
	require.NoError(tb, err)
	require.Len(tb, grants, 1)
	p, err := e.s.Product(e.ctx, gtinRand)
	require.NoError(tb, err)
	sc, err := serials.New(p.Scheme)
	require.NoError(tb, err)
	c := grants[0].Ranges[0].Start + ls.Acked + 1
	sn, err := sc.Serial(nil, c)
	require.NoError(tb, err)
	ev := unitEvent(ls.Acked+2, wire.Commissioned, "WO-GAP", gtinRand, string(sn), c)
	ev.ID = fmt.Sprintf("%s:%d", gapLine, ev.Seq)
	res, err := e.s.ApplyEvents(e.ctx, gapLine, []wire.Event{ev})
	require.NoError(tb, err)
	require.Equal(tb, 1, res.Held, "%+v", res)
	return ls.Acked + 1
}

// TestSkipGap: QA sees a line's gap and the event held behind it, declares
// the missing seq lost with a reason, and the held event applies; the lost
// seq is a dead letter with the reason, and the decision is audited. Bad
// decisions are refused with the field and leave everything as it was.
func TestSkipGap(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		f := e.fixture(t)
		missing := holdBehindGap(t, e, f)

		var seq struct {
			Acked uint64   `json:"acked"`
			Held  []uint64 `json:"held"`
			Gaps  []struct {
				From, To uint64
			} `json:"gaps"`
			Applied, Lost int
		}
		r := e.as(t, auth.RoleAuditor, req{method: "GET", path: "/api/v1/lines/" + gapLine + "/seq"})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.NoError(t, json.Unmarshal(r.body, &seq))
		require.Equal(t, missing-1, seq.Acked)
		require.Equal(t, []uint64{missing + 1}, seq.Held)
		require.Len(t, seq.Gaps, 1)
		require.Equal(t, missing, seq.Gaps[0].From)

		audits := e.auditCount(t)
		type refusal struct {
			body   string
			status int
			field  string
		}
		refusals := []refusal{
			{`{"through": 0, "reason": "x"}`, http.StatusUnprocessableEntity, "through"},
			{fmt.Sprintf(`{"through": %d, "reason": ""}`, missing), http.StatusUnprocessableEntity, "reason"},
			{fmt.Sprintf(`{"through": %d, "reason": "x"}`, missing+1), http.StatusConflict, ""}, // the held event itself
		}
		if missing > 1 {
			refusals = append(refusals, refusal{fmt.Sprintf(`{"through": %d, "reason": "x"}`, missing-1), http.StatusConflict, ""}) // done already
		}
		for _, tc := range refusals {
			r := e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/lines/" + gapLine + "/skip-gap", body: tc.body})
			require.Equal(t, tc.status, r.status, "%s: %s", tc.body, r.body)
			if tc.field != "" {
				require.Contains(t, string(r.body), tc.field)
			}
		}
		require.Equal(t, audits, e.auditCount(t), "a refused decision writes nothing")

		r = e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/lines/" + gapLine + "/skip-gap", body: fmt.Sprintf(`{"through": %d, "reason": "line PC replaced, events lost"}`, missing)})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.NoError(t, json.Unmarshal(r.body, &seq))
		require.Equal(t, missing+1, seq.Acked)
		require.Empty(t, seq.Held)
		require.Empty(t, seq.Gaps)
		require.Equal(t, 1, seq.Applied)
		require.Equal(t, 1, seq.Lost)
		require.Equal(t, audits+1, e.auditCount(t), "the decision is audited")
		dls, err := e.s.DeadLetters(e.ctx, lineevents.DeadLetterFilter{Line: gapLine})
		require.NoError(t, err)
		var found bool
		for _, d := range dls {
			if d.Seq == missing {
				found = true
				require.Contains(t, d.Reason, "line PC replaced, events lost")
			}
		}
		require.True(t, found, "the lost seq is a dead letter with the reason")
	})
}
