package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// lostOrder is a closed order of a line that lost its event store: 10
// serials granted, 3 reported, 7 never heard of again.
func (e *env) lostOrder(tb testing.TB) (string, wire.SerialGrant) {
	tb.Helper()
	n := e.next()
	lineID, id := fmt.Sprintf("LL%d", n), fmt.Sprintf("WO-L%d", n)
	require.NoError(tb, e.s.PutLine(e.ctx, master.Line{ID: lineID, Name: "Line " + lineID, PasswordHash: "unused"}))
	_, err := e.s.CreateOrder(e.ctx, orders.WorkOrder{ID: id, GTIN: gtinRand, Lot: lot, Expiry: expiry, Quantity: 100})
	require.NoError(tb, err)
	_, err = e.s.ReleaseOrder(e.ctx, id, lineID)
	require.NoError(tb, err)
	g, err := e.s.Grant(e.ctx, wire.SerialRequest{V: 1, RequestID: "req-" + id, Line: lineID, Order: id, GTIN: gtinRand, Count: 10}, 0)
	require.NoError(tb, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(tb, err)
	var events []wire.Event
	for i := range uint64(3) {
		c := g.Ranges[0].Start + i
		sn, err := sc.Serial(nil, c)
		require.NoError(tb, err)
		ev := unitEvent(i+1, wire.Commissioned, id, gtinRand, string(sn), c)
		ev.ID, ev.At = fmt.Sprintf("%s:%d", lineID, i+1), time.Now()
		events = append(events, ev)
	}
	res, err := e.s.ApplyEvents(e.ctx, lineID, events)
	require.NoError(tb, err)
	require.Equal(tb, 3, res.Applied, "%+v", res)
	return id, g
}

// TestVoidUnaccounted: QA records a closed order's serials whose fate
// central never learnt (a line's lost event store) as voided, with the
// reason: the order reconciles, each serial is a voided unit, the audit
// trail has the decision. Only a closed order, only QA, a reason needed.
func TestVoidUnaccounted(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		e.fixture(t)
		id, g := e.lostOrder(t)
		path := "/api/v1/orders/" + id + "/void-unaccounted"
		body := testkit.MustJSON(t, map[string]string{"reason": "line PC disk lost; packs pulled and destroyed (deviation DV-7)"})

		resp := e.as(t, auth.RoleQA, req{method: "POST", path: path, body: body})
		require.Equal(t, http.StatusConflict, resp.status, "an open order: %s", resp.body)
		require.Contains(t, resp.apiErr(t).Message, "close it first")
		_, err := e.s.CloseOrder(e.ctx, id)
		require.NoError(t, err)
		rec, err := e.s.Reconciliation(e.ctx, id)
		require.NoError(t, err)
		require.Equal(t, int64(7), rec.Difference(), "7 serials unaccounted")

		for _, role := range []auth.Role{auth.RoleAdmin, auth.RolePlanner, auth.RoleOperator, auth.RoleAuditor} {
			require.Equal(t, http.StatusForbidden, e.as(t, role, req{method: "POST", path: path, body: body}).status, role)
		}
		resp = e.as(t, auth.RoleQA, req{method: "POST", path: path, body: `{"reason": "  "}`})
		require.Equal(t, http.StatusUnprocessableEntity, resp.status, "%s", resp.body)
		require.Equal(t, "reason", resp.apiErr(t).Field)

		resp = e.as(t, auth.RoleQA, req{method: "POST", path: path, body: body})
		require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
		var v lineevents.VoidedUnaccounted
		resp.json(t, &v)
		require.EqualValues(t, 7, v.Count)
		require.Equal(t, []wire.CounterRange{{Start: g.Ranges[0].Start + 3, Count: 7}}, v.Ranges)
		rec, err = e.s.Reconciliation(e.ctx, id)
		require.NoError(t, err)
		require.True(t, rec.Balanced(), "%+v", rec)
		require.EqualValues(t, 7, rec.Voided)
		sc, err := serials.New(*g.Scheme)
		require.NoError(t, err)
		sn, err := sc.Serial(nil, g.Ranges[0].Start+9)
		require.NoError(t, err)
		u, err := e.s.Unit(e.ctx, gtinRand, string(sn))
		require.NoError(t, err)
		require.Equal(t, orders.StateVoided, u.State)
		o, err := e.s.Order(e.ctx, id)
		require.NoError(t, err)
		require.EqualValues(t, 7, o.Voided, "the order's own count")

		trail, err := e.s.Audit(e.ctx, audit.Filter{Entity: "work_order", EntityID: id})
		require.NoError(t, err)
		var found bool
		for _, a := range trail {
			found = found || a.Action == "void-unaccounted"
		}
		require.True(t, found, "the decision is in the audit trail")

		// Nothing left: a second call voids nothing.
		resp = e.as(t, auth.RoleQA, req{method: "POST", path: path, body: body})
		require.Equal(t, http.StatusOK, resp.status)
		resp.json(t, &v)
		require.Zero(t, v.Count)
	})
}
