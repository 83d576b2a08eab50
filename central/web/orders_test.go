package web_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/shared/wire"
)

// TestCreateOrderBadInput: bad input shows the form again with the error
// next to the named field, and writes nothing.
func TestCreateOrderBadInput(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.order("WO-1", gtinSeq, "")
	c := e.signedIn("alice", auth.RolePlanner)
	good := func() url.Values {
		return url.Values{"id": {"WO-2"}, "gtin": {gtinSeq}, "lot": {"LOT-7"}, "expiry": {"281200"}, "quantity": {"1,000"}}
	}
	for _, tc := range []struct {
		name, field, value, want string
	}{
		{"id missing", "id", "", "Missing"},
		{"id taken", "id", "WO-1", "exists already"},
		{"unknown product", "gtin", "00312345678937", "not found"},
		{"gtin check digit", "gtin", "09506000134353", "check digit"},
		{"lot has a space", "lot", "LOT 7", "CSET 82"},
		{"lot too long", "lot", "ABCDEFGHIJKLMNOPQRSTU", "1 to 20"},
		{"expiry day", "expiry", "250231", "day 31"},
		{"expiry month", "expiry", "251301", "month"},
		{"quantity words", "quantity", "many", "whole number"},
		{"quantity zero", "quantity", "0", "at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := good()
			f.Set(tc.field, tc.value)
			r := c.post("/orders", f, true)
			require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
			errs := r.fieldErrors()
			require.Len(t, errs, 1, "%v", errs)
			require.Contains(t, errs[tc.field], tc.want)
			require.True(t, r.has("error-summary"))
			// The form keeps what was typed.
			in := byID(r.doc, "f-lot")
			require.Equal(t, f.Get("lot"), attr(in, "value"))
			require.Equal(t, "true", attr(byID(r.doc, "f-"+tc.field), "aria-invalid"))
			os, err := e.s.Orders(e.ctx, orders.OrderFilter{})
			require.NoError(t, err)
			require.Len(t, os, 1, "nothing written")
		})
	}
	r := c.post("/orders", good(), true)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	require.Equal(t, "/orders/WO-2?ok=order-created", r.header.Get("Location"))
	o, err := e.s.Order(e.ctx, "WO-2")
	require.NoError(t, err)
	require.Equal(t, uint64(1000), o.Quantity)
	r = c.get(r.header.Get("Location"))
	require.Equal(t, "Work order created.", r.idText("notice"))
	require.Equal(t, "created", r.idText("order-state"))
}

func TestOrdersListFilters(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.order("WO-1", gtinSeq, line1)
	e.order("WO-2", gtinSeq, line2)
	e.order("WO-3", gtinList, "")
	c := e.signedIn("olga", auth.RoleOperator)
	rows := func(r response) []string {
		var ids []string
		for _, tr := range findAll(r.doc, func(n *htmlNode) bool { return n.Data == "tr" && attr(n, "data-order") != "" }) {
			ids = append(ids, attr(tr, "data-order"))
		}
		return ids
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"WO-1", "WO-2", "WO-3"}},
		{"?state=released", []string{"WO-1", "WO-2"}},
		{"?state=released&line=L2", []string{"WO-2"}},
		{"?gtin=" + gtinList, []string{"WO-3"}},
		{"?lot=NOPE", nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := c.get("/orders" + tc.query)
			require.Equal(t, http.StatusOK, r.status)
			require.ElementsMatch(t, tc.want, rows(r))
		})
	}
	r := c.get("/orders?state=lost")
	require.Equal(t, http.StatusUnprocessableEntity, r.status)
	require.Contains(t, r.fieldError("state"), "created, released or closed")
	require.False(t, r.has("new-order"), "an operator is not offered to create orders")
}

// TestOrderLifecycle: release to a line (published), production reported
// by the line, reconciliation with its difference flagged, then balanced;
// close (published).
func TestOrderLifecycle(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.order("WO-1", gtinSeq, "")
	c := e.signedIn("alice", auth.RolePlanner)

	t.Run("release needs a line", func(t *testing.T) {
		r := c.post("/orders/WO-1/release", url.Values{"line": {""}}, true)
		require.Equal(t, http.StatusUnprocessableEntity, r.status)
		require.Equal(t, "Missing.", r.fieldError("line"))
		r = c.post("/orders/WO-1/release", url.Values{"line": {"L9"}}, true)
		require.Equal(t, http.StatusUnprocessableEntity, r.status)
		require.Contains(t, r.fieldError("line"), "line L9")
		require.Empty(t, e.pub.published())
		o, err := e.s.Order(e.ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, wire.OrderStateCreated, o.State, "nothing written")
	})

	r := c.post("/orders/WO-1/release", url.Values{"line": {line1}}, true)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	require.Equal(t, []string{line1}, e.pub.published(), "the line's orders were published")
	r = c.get(r.header.Get("Location"))
	require.Equal(t, "released", r.idText("order-state"))
	require.Equal(t, "L1", r.idText("order-line"))
	require.False(t, r.has("release-form"))
	require.True(t, r.has("close-form"))
	require.False(t, r.has("warning"))

	t.Run("release twice", func(t *testing.T) {
		r := c.post("/orders/WO-1/release", url.Values{"line": {line2}}, true)
		require.Equal(t, http.StatusUnprocessableEntity, r.status)
		require.Contains(t, r.idText("page-problem"), "only a created order can be released")
	})

	// The line gets 10 serials and reports 5 of them.
	u := e.grant("req-1", line1, "WO-1", gtinSeq, 10)
	res := e.apply(line1,
		u.ev(line1, 1, wire.Commissioned, 0), u.ev(line1, 2, wire.Commissioned, 1), u.ev(line1, 3, wire.Commissioned, 2),
		u.ev(line1, 4, wire.Decommissioned, 3), u.ev(line1, 5, wire.Voided, 4))
	require.Empty(t, res.Rejected)

	r = c.get("/orders/WO-1")
	require.Equal(t, http.StatusOK, r.status)
	diff := byID(r.doc, "difference")
	require.Equal(t, "progress", attr(diff, "class"), "while the order runs, a difference is not a finding")
	require.Equal(t, "5", attr(diff, "data-difference"))
	require.Contains(t, text(diff), "in progress")
	require.NotContains(t, text(diff), "not reconciled")
	require.Equal(t, "3 of 1,000 (0.3 %) 0.3 %", r.idText("order-produced"))
	require.Equal(t, "1; 1 voided", r.idText("order-rejected"))
	require.Contains(t, r.idText("order-allowance"), "50 packs, the product's rule")
	require.Equal(t, "1,041", r.idText("order-need"), "(1,000 − 3) + (50 − 1) − 5 outstanding at the line")
	recon := r.idText("reconciliation")
	require.Contains(t, recon, "Granted 10")
	require.Contains(t, recon, "Commissioned 3")
	require.Contains(t, recon, "Decommissioned: no-read 1")
	require.Contains(t, recon, "Voided 1")
	require.Contains(t, r.idText("grants"), "req-1")

	// The rest goes back unused: balanced.
	ret := wire.Event{ID: "L1:6", Seq: 6, Type: wire.SerialsReturned, At: t0, Order: "WO-1", GTIN: gtinSeq,
		Ranges: []wire.CounterRange{{Start: u.counter[5], Count: 5}}}
	res = e.apply(line1, ret)
	require.Empty(t, res.Rejected)
	r = c.get("/orders/WO-1")
	diff = byID(r.doc, "difference")
	require.Equal(t, "ok", attr(diff, "class"))
	require.Equal(t, "0", attr(diff, "data-difference"))

	t.Run("close needs confirmation", func(t *testing.T) {
		r := c.post("/orders/WO-1/close", url.Values{}, true)
		require.Equal(t, http.StatusUnprocessableEntity, r.status)
		require.Contains(t, r.fieldError("confirm"), "Tick the box")
		o, err := e.s.Order(e.ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, wire.OrderStateReleased, o.State)
	})
	r = c.post("/orders/WO-1/close", url.Values{"confirm": {"yes"}}, true)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	require.Equal(t, []string{line1, line1}, e.pub.published())
	r = c.get(r.header.Get("Location"))
	require.Equal(t, "closed", r.idText("order-state"))
	require.Equal(t, "Work order closed.", r.idText("notice"))
	require.False(t, r.has("close-form"))

	r = c.post("/orders/NOPE/close", url.Values{"confirm": {"yes"}}, true)
	require.Equal(t, http.StatusNotFound, r.status)
}

// TestReportedCountsCompared: the line's own reconciliation (order-closed)
// is shown beside central's, and a disagreement is flagged.
func TestReportedCountsCompared(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.order("WO-1", gtinSeq, line1)
	u := e.grant("req-1", line1, "WO-1", gtinSeq, 4)
	closed := wire.Event{ID: "L1:3", Seq: 3, Type: wire.OrderClosed, At: t0, Order: "WO-1",
		Counts: &wire.Reconciliation{Granted: 4, Commissioned: 3, ReturnedUnused: 1}}
	e.apply(line1, u.ev(line1, 1, wire.Commissioned, 0), u.ev(line1, 2, wire.Commissioned, 1), closed)
	c := e.signedIn("quinn", auth.RoleQA)
	r := c.get("/orders/WO-1")
	require.Equal(t, http.StatusOK, r.status)
	diff := byID(r.doc, "difference")
	require.Equal(t, "2", attr(diff, "data-difference"))
	require.Equal(t, "bad", attr(diff, "class"), "closed: a difference is a finding, in red")
	require.Contains(t, text(diff), "not reconciled")
	require.Equal(t, "0", attr(byID(r.doc, "reported-difference"), "data-difference"))
	require.Contains(t, r.idText("reported-differs"), "differ")
}

func TestPublishFailureIsShown(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.order("WO-1", gtinSeq, "")
	e.pub.err = errors.New("broker down")
	c := e.signedIn("alice", auth.RolePlanner)
	r := c.post("/orders/WO-1/release", url.Values{"line": {line1}}, true)
	require.Equal(t, http.StatusSeeOther, r.status)
	r = c.get(r.header.Get("Location"))
	require.Equal(t, "released", r.idText("order-state"), "the release is stored")
	require.Contains(t, r.idText("warning"), "could not be published")
}

// TestNoticesAreFixedTexts: the ?ok= and ?warn= of a redirect only pick
// fixed messages; anything else shows nothing.
func TestNoticesAreFixedTexts(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn("alice", auth.RoleOperator)
	r := c.get("/lookup?ok=" + url.QueryEscape("<b>you won</b>") + "&warn=x")
	require.False(t, r.has("notice"))
	require.False(t, r.has("warning"))
	require.NotContains(t, r.body, "you won")
}
