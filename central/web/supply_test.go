package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// TestSupplyPages: a shipped sales order with its invoice, and a lot
// recall with its report and CSV, as every role reads them.
func TestSupplyPages(t *testing.T) {
	e := newEnv(t)
	e.seed()
	glnOf := func(digits string) string {
		c, err := gs1.CheckDigit(digits)
		require.NoError(t, err)
		return digits + string(c)
	}
	site, cust := glnOf("950600000001"), glnOf("950600000002")
	require.NoError(t, e.s.PutSite(e.ctx, master.Site{GLN: site, Name: "Plant"}))
	require.NoError(t, e.s.PutPartner(e.ctx, master.Partner{GLN: cust, Name: "Wholesale <Ltd>"}))
	require.NoError(t, e.s.PutLine(e.ctx, master.Line{ID: line1, SiteGLN: site, Name: "Line 1", PasswordHash: "x"}))
	e.order("WO-1", gtinSeq, line1)
	u := e.grant("r1", line1, "WO-1", gtinSeq, 5)
	var evs []wire.Event
	for i := range 5 {
		evs = append(evs, u.ev(line1, uint64(i+1), wire.Commissioned, i))
	}
	require.Equal(t, 5, e.apply(line1, evs...).Applied)
	_, err := e.s.CreateSalesOrder(e.ctx, supply.SalesOrder{ID: "SO-1", CustomerGLN: cust, PONumber: "PO-9", Currency: "EUR",
		Lines: []supply.SalesLine{{GTIN: gtinSeq, Quantity: 4, UnitPrice: 1500}}})
	require.NoError(t, err)
	_, err = e.s.CreateShipment(e.ctx, supply.Shipment{ID: "SHP-1", SalesOrder: "SO-1", SourceGLN: site})
	require.NoError(t, err)
	_, err = e.s.Pick(e.ctx, "SHP-1", []supply.PickItem{{GTIN: gtinSeq, Serial: u.serial[0]}, {GTIN: gtinSeq, Serial: u.serial[1]}})
	require.NoError(t, err)
	_, err = e.s.ConfirmShipment(e.ctx, "SHP-1", t0.Add(time.Hour))
	require.NoError(t, err)
	_, err = e.s.CreateRecall(e.ctx, supply.RecallRequest{ID: "RC-1", GTIN: gtinSeq, Lot: lot, Reason: "particles"})
	require.NoError(t, err)

	for _, role := range auth.Roles() {
		t.Run(string(role), func(t *testing.T) {
			c := e.signedIn("u-"+string(role), role)
			r := c.get("/sales")
			require.Equal(t, http.StatusOK, r.status)
			require.True(t, r.has("sales-orders"))
			require.Contains(t, r.body, `href="/sales/SO-1"`)

			r = c.get("/sales/SO-1")
			require.Equal(t, http.StatusOK, r.status)
			require.Contains(t, r.body, "Wholesale &lt;Ltd&gt;", "escaped")
			require.True(t, r.has("invoice-total"))
			require.Contains(t, r.body, `<td class="n" id="invoice-total">3,000</td>`)
			require.Contains(t, r.body, `data-shipment="SHP-1"`)

			r = c.get("/recalls")
			require.Equal(t, http.StatusOK, r.status)
			require.Contains(t, r.body, `data-recall="RC-1"`)

			r = c.get("/recalls/RC-1")
			require.Equal(t, http.StatusOK, r.status)
			require.Contains(t, r.body, "Wholesale &lt;Ltd&gt; (GLN "+cust+")")
			require.Contains(t, r.body, "put on hold at the recall: 3")

			r = c.get("/recalls/RC-1/units.csv")
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, "text/csv; charset=utf-8", r.header.Get("Content-Type"))
			require.Equal(t, 6, strings.Count(r.body, "\n"))

			require.Equal(t, http.StatusNotFound, c.get("/recalls/NOPE").status)
			require.Equal(t, http.StatusNotFound, c.get("/sales/NOPE").status)
		})
	}
	require.NotEqual(t, http.StatusOK, e.anon().get("/recalls").status)

	c := e.signedIn("alice", auth.RoleAdmin)
	for _, p := range []string{"/sales", "/sales/SO-1", "/recalls", "/recalls/RC-1"} {
		r := c.get(p)
		require.Len(t, findAll(r.doc, func(n *htmlNode) bool { return n.Data == "h1" }), 1, p)
		require.True(t, r.has("main"), p)
		require.Contains(t, r.body, `aria-current="page"`, p)
	}
}
