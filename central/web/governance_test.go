package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// summary lists the error summary's entries as "Label: message".
func (r response) summary() []string {
	var out []string
	for _, li := range findAll(byID(r.doc, "error-summary"), func(n *htmlNode) bool { return n.Data == "li" }) {
		out = append(out, strings.Replace(text(li), " : ", ": ", 1))
	}
	return out
}

// TestOrderFormReportsEveryError: the new-order form reports every error
// at once, by the fields' labels, in the form's order, and writes nothing.
func TestOrderFormReportsEveryError(t *testing.T) {
	e := newEnv(t)
	e.seed()
	c := e.signedIn("alice", auth.RolePlanner)
	r := c.post("/orders", url.Values{"id": {"WO-9"}, "gtin": {""}, "lot": {"LOT 7"}, "expiry": {""}, "quantity": {"0"}, "reject_allowance": {"lots"}}, true)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
	require.Equal(t, []string{
		"Product: Missing.",
		"Lot (AI 10): AI (10) \"LOT 7\": CSET 82: space at position 4 is not in CSET 82",
		"Expiry (AI 17): Missing.",
		"Quantity: Must be at least 1.",
		"Reject allowance: Must be a whole number, got \"lots\".",
	}, r.summary())
	require.Contains(t, r.idText("error-summary"), "these 5 fields")
	require.Len(t, r.fieldErrors(), 5, "each next to its field too")
	os, err := e.s.Orders(e.ctx, orders.OrderFilter{})
	require.NoError(t, err)
	require.Empty(t, os)
}

// TestOrderFormExpiryAndLot: the lot's rule is in the form before it is
// sent, the expiry comes from a date picker and is stored as YYMMDD (DD 00
// for the month only), and an expiry in the past or too close for the
// product's shelf life is refused, naming the field.
func TestOrderFormExpiryAndLot(t *testing.T) {
	e := newEnv(t)
	e.seed()
	p := product("00312345678937", seqSpec)
	p.Name, p.MinShelfLifeDays = "Amoxicillin 500 mg", 365
	require.NoError(t, e.s.PutProduct(e.ctx, p))
	c := e.signedIn("alice", auth.RolePlanner)

	r := c.get("/orders/new")
	lotIn, expIn := byID(r.doc, "f-lot"), byID(r.doc, "f-expiry")
	require.Equal(t, "20", attr(lotIn, "maxlength"))
	require.Equal(t, `[!"%&'\(\)*+,\-.\/0-9:;<=>?A-Z_a-z]{1,20}`, attr(lotIn, "pattern"))
	require.Contains(t, r.idText("f-lot-hint"), "1 to 20 characters")
	require.Equal(t, "date", attr(expIn, "type"))
	require.Equal(t, "2026-05-01", attr(expIn, "min"), "no date before today is offered")

	form := func(id, gtin, exp string, monthEnd bool) url.Values {
		v := url.Values{"id": {id}, "gtin": {gtin}, "lot": {"L-7/B"}, "expiry": {exp}, "quantity": {"100"}}
		if monthEnd {
			v.Set("expiry_month_end", "yes")
		}
		return v
	}
	for _, tc := range []struct {
		name, gtin, date string
		monthEnd         bool
		want, err        string
	}{
		{"a date", gtinSeq, "2028-12-31", false, "281231", ""},
		{"the month only", gtinSeq, "2028-02-10", true, "280200", ""},
		{"typed as YYMMDD", gtinSeq, "281130", false, "281130", ""},
		{"today", gtinSeq, "2026-05-01", false, "260501", ""},
		{"yesterday", gtinSeq, "2026-04-30", false, "", "260430 (2026-04-30) is in the past (today is 2026-05-01)"},
		{"last month", gtinSeq, "2026-04-10", true, "", "260400 (2026-04-30) is in the past"},
		{"too short a shelf life", p.GTIN, "2026-11-01", false, "", "is 184 days ahead; product 00312345678937 needs at least 365 days"},
		{"long enough", p.GTIN, "2027-05-01", false, "270501", ""},
		{"not a date", gtinSeq, "next year", false, "", "Choose a date, or write it as YYMMDD"},
		{"a century off", gtinSeq, "2150-01-01", false, "", "too far from today for a two-digit year"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "WO-" + strings.ReplaceAll(tc.name, " ", "-")
			r := c.post("/orders", form(id, tc.gtin, tc.date, tc.monthEnd), true)
			if tc.err != "" {
				require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
				require.Equal(t, map[string]string{"expiry": r.fieldError("expiry")}, r.fieldErrors())
				require.Contains(t, r.fieldError("expiry"), tc.err)
				_, err := e.s.Order(e.ctx, id)
				require.ErrorIs(t, err, sqldb.ErrNotFound)
				return
			}
			require.Equal(t, http.StatusSeeOther, r.status, r.body)
			o, err := e.s.Order(e.ctx, id)
			require.NoError(t, err)
			require.Equal(t, tc.want, o.Expiry)
			require.Equal(t, "L-7/B", o.Lot)
		})
	}
	// A typed YYMMDD that fails elsewhere is shown back in the picker's form.
	r = c.post("/orders", url.Values{"id": {"WO-x"}, "gtin": {gtinSeq}, "lot": {"L1"}, "expiry": {"281200"}, "quantity": {"x"}}, true)
	require.Equal(t, http.StatusUnprocessableEntity, r.status)
	require.Equal(t, "2028-12-31", attr(byID(r.doc, "f-expiry"), "value"))
	require.Equal(t, "checked", func() string {
		if n := byID(r.doc, "f-expiry_month_end"); n != nil {
			for _, a := range n.Attr {
				if a.Key == "checked" {
					return "checked"
				}
			}
		}
		return ""
	}())

	// Time passes: releasing re-checks the expiry.
	e.order("WO-late", p.GTIN, "")
	_, err := e.s.CreateOrder(e.ctx, orders.WorkOrder{ID: "WO-soon", GTIN: p.GTIN, Lot: lot, Expiry: "270601", Quantity: 5})
	require.NoError(t, err)
	e.now = e.now.AddDate(0, 2, 0)
	r = c.post("/orders/WO-soon/release", url.Values{"line": {line1}}, true)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
	require.Contains(t, r.idText("page-problem")+r.fieldError("expiry")+r.idText("error-summary"), "needs at least 365 days")
	o, err := e.s.Order(e.ctx, "WO-soon")
	require.NoError(t, err)
	require.Equal(t, wire.OrderStateCreated, o.State)
}

// TestReleasePreselectsTheOnlyLine: with one line, the release form has it
// chosen; with two, the planner chooses.
func TestReleasePreselectsTheOnlyLine(t *testing.T) {
	selected := func(r response) string {
		for _, o := range findAll(byID(r.doc, "f-line"), func(n *htmlNode) bool { return n.Data == "option" }) {
			for _, a := range o.Attr {
				if a.Key == "selected" {
					return attr(o, "value")
				}
			}
		}
		return ""
	}
	e := newEnv(t)
	require.NoError(t, e.s.PutProduct(e.ctx, product(gtinSeq, seqSpec)))
	require.NoError(t, e.s.PutLine(e.ctx, master.Line{ID: line1, Name: "Line 1", PasswordHash: "x"}))
	e.order("WO-1", gtinSeq, "")
	c := e.signedIn("alice", auth.RolePlanner)
	require.Equal(t, line1, selected(c.get("/orders/WO-1")))
	require.NoError(t, e.s.PutLine(e.ctx, master.Line{ID: line2, Name: "Line 2", PasswordHash: "x"}))
	require.Equal(t, "", selected(c.get("/orders/WO-1")))
}

// TestProductOrderRules: a product's reject allowance and shelf life, set
// when it is created and changed on its page (audited); every error at
// once.
func TestProductOrderRules(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn("alice", auth.RolePlanner)
	r := c.get("/products/new")
	require.Equal(t, "5", attr(byID(r.doc, "f-reject_allowance_percent"), "value"), "the defaults, shown")
	require.Equal(t, "50", attr(byID(r.doc, "f-reject_allowance_min"), "value"))
	good := url.Values{"gtin": {gtinSeq}, "name": {"Paracetamol"}, "company_prefix_len": {"7"}, "markets": {"us-dscsa"}, "ndc": {"12345-678-90"},
		"scheme.kind": {"sequential"}, "scheme.length": {"10"}, "reject_allowance_percent": {"2"}, "reject_allowance_min": {"20"}, "min_shelf_life_days": {"90"}}
	bad := url.Values{}
	for k, v := range good {
		bad[k] = v
	}
	bad.Set("name", "")
	bad.Set("company_prefix_len", "3")
	bad.Set("reject_allowance_percent", "150")
	bad.Set("min_shelf_life_days", "4000")
	r = c.post("/products", bad, true)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
	require.Equal(t, []string{
		"Name: Missing.",
		"GS1 Company Prefix length: must be 6 to 12 digits, got 3",
		"Reject allowance (%): must be 0 to 100 (% of the order quantity), got 150",
		"Minimum shelf life (days): must be 0 to 3660 days, got 4000",
	}, r.summary())
	r = c.post("/products", good, true)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	r = c.get("/products/" + gtinSeq)
	require.Equal(t, "2 % of an order's quantity, at least 20 packs", r.idText("rule-allowance"))
	require.Equal(t, "90 days", r.idText("rule-shelf-life"))

	r = c.post("/products/"+gtinSeq+"/rules", url.Values{"reject_allowance_percent": {"0"}, "reject_allowance_min": {"0"}, "min_shelf_life_days": {""}}, true)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
	require.Equal(t, []string{"Reject allowance at least: must be at least 1 unit when reject_allowance_percent is 0: an order's allowance is at least 1",
		"Minimum shelf life (days): Missing."}, r.summary())
	r = c.post("/products/"+gtinSeq+"/rules", url.Values{"reject_allowance_percent": {"0"}, "reject_allowance_min": {"15"}, "min_shelf_life_days": {"0"}}, true)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	r = c.get(r.header.Get("Location"))
	require.Equal(t, "Order rules saved.", r.idText("notice"))
	require.Equal(t, "0 % of an order's quantity, at least 15 packs", r.idText("rule-allowance"))
	entries, err := e.s.Audit(e.ctx, audit.Filter{Entity: "product", EntityID: gtinSeq})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	var before, after master.Product
	require.NoError(t, json.Unmarshal(entries[1].Before, &before))
	require.NoError(t, json.Unmarshal(entries[1].After, &after))
	require.Equal(t, [2]uint64{20, 15}, [2]uint64{*before.RejectAllowanceMin, *after.RejectAllowanceMin})
	require.Contains(t, entries[1].Actor, "alice")

	// An operator reads the rules but is not offered the form.
	r = e.signedIn("olga", auth.RoleOperator).get("/products/" + gtinSeq)
	require.True(t, r.has("rule-facts"))
	require.False(t, r.has("rules-form"))
}

// TestOrderProgressAndFlags: the order list and page show produced,
// rejected and progress; the page lists the events flagged after the
// close, and QA records a disposition (ticked ones, then every open one).
func TestOrderProgressAndFlags(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.order("WO-1", gtinSeq, line1)
	u := e.grant("req-1", line1, "WO-1", gtinSeq, 10)
	e.apply(line1, u.ev(line1, 1, wire.Commissioned, 0), u.ev(line1, 2, wire.Commissioned, 1), u.ev(line1, 3, wire.Decommissioned, 2))
	e.flagged("WO-F", gtinSeq, "LF", 3)

	op := e.signedIn("olga", auth.RoleOperator)
	r := op.get("/orders")
	row := findAll(r.doc, func(n *htmlNode) bool { return attr(n, "data-order") == "WO-1" })[0]
	cell := func(col string) string {
		return text(findAll(row, func(n *htmlNode) bool { return attr(n, "data-col") == col })[0])
	}
	require.Equal(t, "2", cell("produced"))
	require.Equal(t, "1", cell("rejected"))
	require.Equal(t, "0.2 % 0.2 %", cell("progress"))

	r = op.get("/orders/WO-F")
	require.Contains(t, r.idText("flag-count"), "3 events recorded but flagged for QA; 3 wait for a disposition")
	require.Len(t, findAll(byID(r.doc, "flag-list"), func(n *htmlNode) bool { return attr(n, "data-open") == "true" }), 3)
	require.False(t, r.has("disposition-form"), "an operator may not disposition")
	r = op.post("/orders/WO-F/flags/disposition", url.Values{"disposition": {"accepted"}, "note": {"x"}}, true)
	require.Equal(t, http.StatusForbidden, r.status)

	qa := e.signedIn("quinn", auth.RoleQA)
	r = qa.get("/orders/WO-F")
	require.True(t, r.has("disposition-form"))
	r = qa.post("/orders/WO-F/flags/disposition", url.Values{"disposition": {""}, "note": {""}}, true)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
	require.Equal(t, []string{"Disposition: Missing.", "Note: Missing."}, r.summary())
	flags, err := e.s.EventFlags(e.ctx, lineevents.FlagFilter{Order: "WO-F"})
	require.NoError(t, err)
	r = qa.post("/orders/WO-F/flags/disposition", url.Values{"flag": {itoa(flags[1].ID)}, "disposition": {"rejected"}, "note": {"packed after the close: pulled"}}, true)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	r = qa.get(r.header.Get("Location"))
	require.Equal(t, "Disposition recorded.", r.idText("notice"))
	require.Contains(t, r.idText("flag-count"), "2 wait")
	r = qa.post("/orders/WO-F/flags/disposition", url.Values{"disposition": {"accepted"}, "note": {"belong to the batch"}}, true)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	flags, err = e.s.EventFlags(e.ctx, lineevents.FlagFilter{Order: "WO-F"})
	require.NoError(t, err)
	var got []string
	for _, f := range flags {
		got = append(got, f.Disposition)
		require.Contains(t, f.DisposedBy, "quinn")
	}
	require.Equal(t, []string{"accepted", "rejected", "accepted"}, got)
	r = qa.get("/orders/WO-F")
	require.Contains(t, r.idText("flag-count"), "every one has its disposition")
	require.False(t, r.has("disposition-form"))
}

// TestLinesShowOrderStateAndAlarms: the lines page shows where the line
// stands with its order and its alarms by code.
func TestLinesShowOrderStateAndAlarms(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.lines.set(line1, statusOf(line1, wire.LineAlarm, e.now.Add(-time.Second), func(s *wire.Status) {
		s.Order, s.OrderState = "WO-1", wire.ProgressStopped
		s.Alarms = []wire.StatusAlarm{{Code: "consecutive-rejects", Device: "scanner", Detail: "5 rejects in a row", Active: true, StoppedLine: true, Since: e.now.Add(-time.Minute)}}
	}))
	r := e.signedIn("olga", auth.RoleOperator).get("/lines")
	card := byID(r.doc, "line-L1")
	require.Contains(t, text(card), "WO-1 stopped")
	alarms := findAll(card, func(n *htmlNode) bool { return attr(n, "data-code") != "" })
	require.Len(t, alarms, 1)
	require.Equal(t, "consecutive-rejects", attr(alarms[0], "data-code"))
	require.Contains(t, text(alarms[0]), "5 rejects in a row active; stopped the line")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
