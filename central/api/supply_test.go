package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/fmd"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// documentTypes are the routes that answer with a document rather than
// the API's JSON, and its content type.
func documentTypes() map[string]string {
	const v = "/api/v1"
	return map[string]string{
		"GET " + v + "/shipments/{id}/epcis":           "application/ld+json",
		"GET " + v + "/shipments/{id}/epcis.xml":       "application/xml",
		"GET " + v + "/recalls/{id}/units.csv":         "text/csv; charset=utf-8",
		"GET " + v + "/recalls/{id}/report":            "text/plain; charset=utf-8",
		"GET " + v + "/outbound/{id}/document":         "application/xml",
		"GET " + v + "/shipments/{id}/dscsa.xml":       "application/xml",
		"GET " + v + "/receipts/{id}/document":         "application/xml",
		"GET " + v + "/orders/{id}/fmd":                "application/json",
		"GET " + v + "/sales-orders/{id}/fmd":          "application/json",
		"GET " + v + "/products/{gtin}/eu-fmd/dataset": "application/json",
		"GET " + v + "/fmd/status-updates/{id}":        "application/json",
	}
}

// investigation opens one on a fresh unit and returns its id.
func (e *env) investigation(tb testing.TB, f *fixture) int64 {
	tb.Helper()
	v, err := e.s.OpenInvestigation(e.ctx, supply.InvestigationRequest{Scope: supply.ScopeUnits, GTIN: gtinRand, Serials: e.freshUnits(tb, f, 1), Reason: "suspect"})
	require.NoError(tb, err)
	return v.ID
}

// endpoint gives the fixture's partner a DSCSA endpoint.
func (e *env) endpoint(tb testing.TB, f *fixture) {
	tb.Helper()
	_, err := e.s.PutPartnerEndpoint(e.ctx, master.PartnerEndpoint{GLN: f.partnerGLN, Kind: master.EndpointDSCSA,
		URL: "https://partner.example/dscsa", Auth: master.EndpointAuthBearer, Secret: "their-token"})
	require.NoError(tb, err)
}

// delivered is an outbound message to the fixture's partner that a
// sender delivered (recorded through the store as a sender does).
func (e *env) delivered(tb testing.TB, f *fixture) int64 {
	tb.Helper()
	m, err := e.s.EnqueueOutbound(e.ctx, master.EndpointDSCSA, fmt.Sprintf("SHP-D%d", e.next()), f.partnerGLN)
	require.NoError(tb, err)
	at := time.Now()
	_, err = e.s.ClaimOutbound(e.ctx, m.ID, "test-sender", at.Add(time.Second), at.Add(time.Minute))
	require.NoError(tb, err)
	_, err = e.s.RecordOutbound(e.ctx, m.ID, "test-sender", messages.OutboundResult{At: at, Endpoint: "https://partner.example/dscsa",
		Status: 202, Summary: "HTTP 202 Accepted", Outcome: messages.AttemptDelivered, Document: []byte("<doc/>"), DocumentID: "D1", ContentType: "application/xml"})
	require.NoError(tb, err)
	return m.ID
}

// freshUnits commissions n more units of WO-1 (a grant of their own) and
// returns their serials.
func (e *env) freshUnits(tb testing.TB, f *fixture, n uint64) []string {
	tb.Helper()
	g, err := e.s.Grant(e.ctx, wire.SerialRequest{V: 1, RequestID: fmt.Sprintf("fresh-%d", e.next()), Line: line1, Order: "WO-1", GTIN: gtinRand, Count: n}, 0)
	require.NoError(tb, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(tb, err)
	var out []string
	var events []wire.Event
	for _, r := range g.Ranges {
		for c := r.Start; c < r.End(); c++ {
			sn, err := sc.Serial(nil, c)
			require.NoError(tb, err)
			f.seq++
			events = append(events, unitEvent(f.seq, wire.Commissioned, "WO-1", gtinRand, string(sn), c))
			out = append(out, string(sn))
		}
	}
	res, err := e.s.ApplyEvents(e.ctx, line1, events)
	require.NoError(tb, err)
	require.Equal(tb, len(events), res.Applied, "%+v", res)
	return out
}

// packCase aggregates units into a new case and returns its SSCC.
func (e *env) packCase(tb testing.TB, f *fixture, units []string) string {
	tb.Helper()
	s, err := gs1.NewSSCC(0, "9506000", uint64(e.next()))
	require.NoError(tb, err)
	f.seq++
	ev := wire.Event{ID: fmt.Sprintf("%s:%d", line1, f.seq), Seq: f.seq, Type: wire.Aggregated, At: t0.Add(time.Duration(f.seq) * time.Second),
		Order: "WO-1", Parent: string(s), Operator: "ana"}
	for _, sn := range units {
		ev.Children = append(ev.Children, wire.UnitRef(gtinRand, sn))
	}
	res, err := e.s.ApplyEvents(e.ctx, line1, []wire.Event{ev})
	require.NoError(tb, err)
	require.Equal(tb, 1, res.Applied, "%+v", res)
	return string(s)
}

// salesOrder creates a sales order of n units of gtinRand for the
// fixture's partner.
func (e *env) salesOrder(tb testing.TB, f *fixture, n uint64) string {
	tb.Helper()
	id := fmt.Sprintf("SO-%d", e.next())
	_, err := e.s.CreateSalesOrder(e.ctx, supply.SalesOrder{ID: id, CustomerGLN: f.partnerGLN, PONumber: "PO-" + id, Currency: "USD",
		Lines: []supply.SalesLine{{GTIN: gtinRand, Quantity: n, UnitPrice: 250}}})
	require.NoError(tb, err)
	return id
}

// shipment opens a shipment of a new sales order, picks units (fresh ones
// when none are given) and confirms it when confirm is set.
func (e *env) shipment(tb testing.TB, f *fixture, units []string, confirm bool) (id string, picked []string) {
	tb.Helper()
	if units == nil {
		units = e.freshUnits(tb, f, 2)
	}
	so := e.salesOrder(tb, f, uint64(len(units)))
	id = fmt.Sprintf("SHP-%d", e.next())
	_, err := e.s.CreateShipment(e.ctx, supply.Shipment{ID: id, SalesOrder: so, SourceGLN: f.siteGLN})
	require.NoError(tb, err)
	var items []supply.PickItem
	for _, sn := range units {
		items = append(items, supply.PickItem{GTIN: gtinRand, Serial: sn})
	}
	_, err = e.s.Pick(e.ctx, id, items)
	require.NoError(tb, err)
	if confirm {
		_, err = e.s.ConfirmShipment(e.ctx, id, t0.Add(24*time.Hour))
		require.NoError(tb, err)
	}
	return id, units
}

// returned ships a fresh unit and takes it back; verified also passes
// its verification.
func (e *env) returned(tb testing.TB, f *fixture, verified bool) string {
	tb.Helper()
	_, units := e.shipment(tb, f, nil, true)
	_, err := e.s.ReceiveReturn(e.ctx, gtinRand, units[0], f.siteGLN)
	require.NoError(tb, err)
	if verified {
		ret, err := e.s.VerifyReturn(e.ctx, gtinRand, units[0], lot, expiry)
		require.NoError(tb, err)
		require.Equal(tb, supply.ReturnVerified, ret.Outcome)
	}
	return units[0]
}

// recall recalls one fresh unit and returns the recall id.
func (e *env) recall(tb testing.TB, f *fixture) string {
	tb.Helper()
	rc, err := e.s.CreateRecall(e.ctx, supply.RecallRequest{GTIN: gtinRand, Serials: e.freshUnits(tb, f, 1), Reason: "complaint"})
	require.NoError(tb, err)
	return rc.ID
}

// supplySamples are the samples of the supply-chain routes (see samples).
func supplySamples() map[string]sample {
	const v = "/api/v1"
	get := func(path string) sample {
		return func(*testing.T, *env, *fixture) req { return req{method: "GET", path: path} }
	}
	shipped := func(suffix string) sample {
		return func(t *testing.T, e *env, f *fixture) req {
			id, _ := e.shipment(t, f, nil, true)
			return req{method: "GET", path: v + "/shipments/" + id + suffix}
		}
	}
	recalled := func(suffix string) sample {
		return func(t *testing.T, e *env, f *fixture) req {
			return req{method: "GET", path: v + "/recalls/" + e.recall(t, f) + suffix}
		}
	}
	return map[string]sample{
		"POST " + v + "/sales-orders": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "POST", path: v + "/sales-orders", body: testkit.MustJSON(t, map[string]any{"id": fmt.Sprintf("SO-N%d", e.next()),
				"customer_gln": f.partnerGLN, "currency": "USD", "lines": []map[string]any{{"gtin": gtinRand, "quantity": 5, "unit_price": 100}}})}
		},
		"GET " + v + "/sales-orders": func(_ *testing.T, _ *env, f *fixture) req {
			return req{method: "GET", path: v + "/sales-orders?customer=" + f.partnerGLN}
		},
		"GET " + v + "/sales-orders/{id}": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "GET", path: v + "/sales-orders/" + e.salesOrder(t, f, 3)}
		},
		"GET " + v + "/sales-orders/{id}/fmd": func(t *testing.T, e *env, f *fixture) req {
			id, _ := e.shipment(t, f, nil, true)
			sh, err := e.s.Shipment(e.ctx, id)
			require.NoError(t, err)
			return req{method: "GET", path: v + "/sales-orders/" + sh.SalesOrder + "/fmd"}
		},
		"GET " + v + "/stock":                  get(v + "/stock?gtin=" + gtinRand + "&lot=" + lot),
		"GET " + v + "/inventory-value":        get(v + "/inventory-value"),
		"GET " + v + "/recalls":                get(v + "/recalls"),
		"GET " + v + "/recalls/{id}":           recalled(""),
		"GET " + v + "/recalls/{id}/units.csv": recalled("/units.csv"),
		"GET " + v + "/recalls/{id}/report":    recalled("/report"),
		"PUT " + v + "/partners/{gln}/endpoints/{kind}": func(_ *testing.T, _ *env, f *fixture) req {
			return req{method: "PUT", path: v + "/partners/" + f.partnerGLN + "/endpoints/dscsa", body: `{"url": "https://partner.example/dscsa"}`}
		},
		"POST " + v + "/shipments": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "POST", path: v + "/shipments", body: testkit.MustJSON(t, map[string]string{"id": fmt.Sprintf("SHP-N%d", e.next()),
				"sales_order": e.salesOrder(t, f, 2), "source_gln": f.locGLN, "source_extension": "0"})}
		},
		"GET " + v + "/shipments/{id}": func(t *testing.T, e *env, f *fixture) req {
			id, _ := e.shipment(t, f, nil, false)
			return req{method: "GET", path: v + "/shipments/" + id}
		},
		"POST " + v + "/shipments/{id}/picks": func(t *testing.T, e *env, f *fixture) req {
			units := e.freshUnits(t, f, 1)
			id := fmt.Sprintf("SHP-P%d", e.next())
			_, err := e.s.CreateShipment(e.ctx, supply.Shipment{ID: id, SalesOrder: e.salesOrder(t, f, 1), SourceGLN: f.siteGLN})
			require.NoError(t, err)
			return req{method: "POST", path: v + "/shipments/" + id + "/picks",
				body: testkit.MustJSON(t, map[string]any{"picks": []map[string]string{{"code": "(01)" + gtinRand + "(21)" + units[0]}}})}
		},
		"POST " + v + "/shipments/{id}/confirm": func(t *testing.T, e *env, f *fixture) req {
			id, _ := e.shipment(t, f, nil, false)
			return req{method: "POST", path: v + "/shipments/" + id + "/confirm"}
		},
		"GET " + v + "/shipments/{id}/epcis":     shipped("/epcis"),
		"GET " + v + "/shipments/{id}/epcis.xml": shipped("/epcis.xml"),
		"GET " + v + "/shipments/{id}/dscsa":     shipped("/dscsa"),
		"GET " + v + "/shipments/{id}/dscsa.xml": shipped("/dscsa.xml?version=1.2"),
		"POST " + v + "/dscsa/inbound": func(t *testing.T, e *env, f *fixture) req {
			n := e.next()
			return req{method: "POST", path: v + "/dscsa/inbound", ctype: "application/xml",
				body: inboundDoc(t, f.partnerGLN, f.siteGLN, fmt.Sprintf("ASN-S%d", n), []string{fmt.Sprintf("S%d", n)}, nil)}
		},
		"GET " + v + "/receipts/{id}": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "GET", path: fmt.Sprintf("%s/receipts/%d", v, e.received(t, f, false))}
		},
		"GET " + v + "/receipts/{id}/document": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "GET", path: fmt.Sprintf("%s/receipts/%d/document", v, e.received(t, f, false))}
		},
		"GET " + v + "/exceptions": get(v + "/exceptions?state=open"),
		"POST " + v + "/exceptions/{id}/resolve": func(t *testing.T, e *env, f *fixture) req {
			rc, err := e.s.Receipt(e.ctx, e.received(t, f, true))
			require.NoError(t, err)
			return req{method: "POST", path: fmt.Sprintf("%s/exceptions/%d/resolve", v, rc.Exceptions[0].ID), body: `{"resolution": "returned to the partner"}`}
		},
		"POST " + v + "/investigations": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "POST", path: v + "/investigations", body: testkit.MustJSON(t, map[string]any{"scope": "units", "gtin": gtinRand,
				"serials": e.freshUnits(t, f, 1), "reason": "damaged seal"})}
		},
		"GET " + v + "/investigations": get(v + "/investigations?state=open"),
		"GET " + v + "/investigations/{id}": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "GET", path: fmt.Sprintf("%s/investigations/%d", v, e.investigation(t, f))}
		},
		"POST " + v + "/investigations/{id}/outcome": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "POST", path: fmt.Sprintf("%s/investigations/%d/outcome", v, e.investigation(t, f)),
				body: `{"outcome": "cleared", "note": "seal intact on inspection"}`}
		},
		"GET " + v + "/trace": func(t *testing.T, e *env, f *fixture) req {
			_, units := e.shipment(t, f, nil, true)
			return req{method: "GET", path: v + "/trace?format=json&gtin=" + gtinRand + "&serial=" + units[0]}
		},
		"POST " + v + "/shipments/{id}/dscsa/send": func(t *testing.T, e *env, f *fixture) req {
			e.endpoint(t, f)
			id, _ := e.shipment(t, f, nil, true)
			return req{method: "POST", path: v + "/shipments/" + id + "/dscsa/send"}
		},
		"GET " + v + "/shipments/{id}/outbound": shipped("/outbound"),
		"GET " + v + "/partners/{gln}/endpoints/{kind}": func(t *testing.T, e *env, f *fixture) req {
			e.endpoint(t, f)
			return req{method: "GET", path: v + "/partners/" + f.partnerGLN + "/endpoints/dscsa"}
		},
		"GET " + v + "/outbound": get(v + "/outbound?kind=dscsa&state=delivered"),
		"GET " + v + "/outbound/{id}": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "GET", path: fmt.Sprintf("%s/outbound/%d", v, e.delivered(t, f))}
		},
		"GET " + v + "/outbound/{id}/document": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "GET", path: fmt.Sprintf("%s/outbound/%d/document", v, e.delivered(t, f))}
		},
		"POST " + v + "/outbound/{id}/resend": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "POST", path: fmt.Sprintf("%s/outbound/%d/resend", v, e.delivered(t, f))}
		},
		"POST " + v + "/returns": func(t *testing.T, e *env, f *fixture) req {
			_, units := e.shipment(t, f, nil, true)
			return req{method: "POST", path: v + "/returns", body: testkit.MustJSON(t, map[string]string{"gtin": gtinRand, "serial": units[0], "site_gln": f.siteGLN})}
		},
		"POST " + v + "/returns/verify": func(t *testing.T, e *env, f *fixture) req {
			sn := e.returned(t, f, false)
			return req{method: "POST", path: v + "/returns/verify", body: testkit.MustJSON(t, map[string]string{"code": "(01)" + gtinRand + "(17)" + expiry + "(10)" + lot + "(21)" + sn})}
		},
		"POST " + v + "/returns/restock": func(t *testing.T, e *env, f *fixture) req {
			sn := e.returned(t, f, true)
			return req{method: "POST", path: v + "/returns/restock", body: testkit.MustJSON(t, map[string]string{"gtin": gtinRand, "serial": sn})}
		},
		"POST " + v + "/recalls": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "POST", path: v + "/recalls", body: testkit.MustJSON(t, map[string]any{"gtin": gtinRand, "serials": e.freshUnits(t, f, 1), "reason": "complaint"})}
		},
		"GET " + v + "/containers/{sscc}": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "GET", path: v + "/containers/" + e.packCase(t, f, e.freshUnits(t, f, 2))}
		},
		"GET " + v + "/whereis/{gtin}/{serial...}": func(_ *testing.T, _ *env, f *fixture) req {
			return req{method: "GET", path: v + "/whereis/" + gtinRand + "/" + f.units[5]}
		},
	}
}

// TestScriptedDay is a day at a plant: a line makes an order and packs
// cases and a pallet (events applied as the line sends them), a clerk
// picks and ships the pallet and two loose units against a sales order,
// the shipment's EPCIS validates against GS1's schemas, its DSCSA
// documents list exactly the shipped units, and QA recalls the lot: the
// recall names the customer and the pallet, holds what is still in stock
// and verification answers "recalled".
func TestScriptedDay(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx, s := e.ctx, e.s
		site, dock, cust := testkit.WithCheckDigit(t, "950600000001"), testkit.WithCheckDigit(t, "950600000003"), testkit.WithCheckDigit(t, "950600000002")
		require.NoError(t, s.PutProduct(ctx, product(gtinSeq, seqSpec)))
		require.NoError(t, s.PutSite(ctx, master.Site{GLN: site, Name: "Serialine Pharma, Durham plant", Address: master.Address{Street: "1 Factory Rd", City: "Durham", State: "NC", PostalCode: "27701", Country: "US"}}))
		require.NoError(t, s.PutLocation(ctx, master.Location{GLN: dock, Extension: "D1", SiteGLN: site, Name: "Dispatch dock"}))
		require.NoError(t, s.PutPartner(ctx, master.Partner{GLN: cust, Name: "Garden State Wholesale", Address: master.Address{Street: "9 Depot Ave", City: "Newark", State: "NJ", PostalCode: "07102", Country: "US"}}))
		require.NoError(t, s.PutLine(ctx, master.Line{ID: line1, SiteGLN: site, Name: "Line 1"}))

		// The line: order WO-DAY, 30 units, cases of 10, a pallet of two cases.
		_, err := s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-DAY", GTIN: gtinSeq, Lot: "DAY1", Expiry: expiry, Quantity: 30})
		require.NoError(t, err)
		_, err = s.ReleaseOrder(ctx, "WO-DAY", line1)
		require.NoError(t, err)
		g, err := s.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "day-1", Line: line1, Order: "WO-DAY", GTIN: gtinSeq, Count: 30}, 0)
		require.NoError(t, err)
		sc, err := serials.New(*g.Scheme)
		require.NoError(t, err)
		var sns []string
		var events []wire.Event
		seq := uint64(0)
		for c := g.Ranges[0].Start; c < g.Ranges[0].End(); c++ {
			sn, err := sc.Serial(nil, c)
			require.NoError(t, err)
			seq++
			ev := unitEvent(seq, wire.Commissioned, "WO-DAY", gtinSeq, string(sn), c)
			ev.Lot = "DAY1"
			events = append(events, ev)
			sns = append(sns, string(sn))
		}
		mk := func(ref uint64) string {
			c, err := gs1.NewSSCC(0, "9506000", ref)
			require.NoError(t, err)
			return string(c)
		}
		caseA, caseB, pallet := mk(1), mk(2), mk(3)
		agg := func(parent string, children []string) {
			seq++
			events = append(events, wire.Event{ID: fmt.Sprintf("L1:%d", seq), Seq: seq, Type: wire.Aggregated, At: t0.Add(time.Duration(seq) * time.Second),
				Order: "WO-DAY", Parent: parent, Children: children, Operator: "ana"})
		}
		refs := func(from, to int) []string {
			var out []string
			for _, sn := range sns[from:to] {
				out = append(out, wire.UnitRef(gtinSeq, sn))
			}
			return out
		}
		agg(caseA, refs(0, 10))
		agg(caseB, refs(10, 20))
		agg(pallet, []string{wire.SSCCRef(caseA), wire.SSCCRef(caseB)})
		res, err := s.ApplyEvents(ctx, line1, events)
		require.NoError(t, err)
		require.Equal(t, len(events), res.Applied, "%+v", res)

		// The shipping clerk (planner role): sales order, shipment, picks, confirm.
		const v = "/api/v1"
		call := func(role auth.Role, method, path string, body any, want int) response {
			t.Helper()
			r := req{method: method, path: path}
			if body != nil {
				r.body = testkit.MustJSON(t, body)
			}
			resp := e.as(t, role, r)
			require.Equal(t, want, resp.status, "%s %s: %s", method, path, resp.body)
			return resp
		}
		call(auth.RolePlanner, "POST", v+"/sales-orders", map[string]any{"id": "SO-DAY", "customer_gln": cust, "po_number": "PO-4711", "currency": "USD",
			"lines": []map[string]any{{"gtin": gtinSeq, "quantity": 22, "unit_price": 1999}}}, http.StatusCreated)
		call(auth.RolePlanner, "POST", v+"/shipments", map[string]any{"id": "SHP-DAY", "sales_order": "SO-DAY", "source_gln": dock, "source_extension": "D1"}, http.StatusCreated)
		resp := call(auth.RolePlanner, "POST", v+"/shipments/SHP-DAY/picks", map[string]any{"picks": []map[string]string{
			{"code": "(00)" + caseA}}}, http.StatusUnprocessableEntity)
		require.Equal(t, "picks[0].sscc", resp.apiErr(t).Field, "a case on a pallet is not picked alone")
		call(auth.RolePlanner, "POST", v+"/shipments/SHP-DAY/picks", map[string]any{"picks": []map[string]string{
			{"code": "]C100" + pallet}, {"code": "(01)" + gtinSeq + "(21)" + sns[20]}, {"gtin": gtinSeq, "serial": sns[21]}}}, http.StatusOK)
		resp = call(auth.RolePlanner, "POST", v+"/shipments/SHP-DAY/confirm", map[string]any{"shipped_at": t0.Add(26 * time.Hour)}, http.StatusOK)
		var sh supply.Shipment
		resp.json(t, &sh)
		require.Equal(t, uint64(22), sh.Units)
		shippedSNs := sns[:22]

		// The shipment's EPCIS: JSON-LD and XML, valid against GS1's schemas.
		dir := t.TempDir()
		resp = call(auth.RoleAuditor, "GET", v+"/shipments/SHP-DAY/epcis", nil, http.StatusOK)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "day.jsonld"), resp.body, 0o600))
		msg, code := testkit.RunValidator(t, "validate-epcis-json", "--schema", "modular", filepath.Join(dir, "day.jsonld"))
		require.Equal(t, 0, code, "JSON Schema: %s", msg)
		resp = call(auth.RoleAuditor, "GET", v+"/shipments/SHP-DAY/epcis.xml", nil, http.StatusOK)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "day.xml"), resp.body, 0o600))
		msg, code = testkit.RunValidator(t, "validate-epcis-xml", filepath.Join(dir, "day.xml"))
		require.Equal(t, 0, code, "XSD: %s", msg)
		doc, err := epcis.ParseXML(resp.body)
		require.NoError(t, err)
		var commissioned []string
		for _, ev := range doc.Events {
			if ev.BizStep == "commissioning" || ev.BizStep == "urn:epcglobal:cbv:bizstep:commissioning" {
				commissioned = append(commissioned, ev.EPCList...)
			}
		}
		var wantEPCs []string
		for _, sn := range shippedSNs {
			u, err := gs1.SGTINURI(gtinSeq, sn, 7)
			require.NoError(t, err)
			wantEPCs = append(wantEPCs, u)
		}
		require.ElementsMatch(t, wantEPCs, commissioned)
		// The shipping event is in the repository: GET /epcis/events finds it.
		found, err := s.QueryEPCIS(ctx, epcisdb.EPCISQuery{BizSteps: []string{"shipping"}})
		require.NoError(t, err)
		require.Len(t, found, 1)

		// DSCSA: TI lists exactly the shipped units.
		resp = call(auth.RoleAuditor, "GET", v+"/shipments/SHP-DAY/dscsa", nil, http.StatusOK)
		var pkg dscsa.Package
		resp.json(t, &pkg)
		require.Len(t, pkg.TI.Products, 1)
		require.ElementsMatch(t, shippedSNs, pkg.TI.Products[0].Serials)
		require.Equal(t, "Garden State Wholesale", pkg.TI.Buyer.Name)
		require.Equal(t, "PO-4711", pkg.TI.PONumber)
		require.Equal(t, dscsa.Statement, pkg.TS.Statement)

		// Invoice and EU FMD upload of the order's packs.
		resp = call(auth.RoleOperator, "GET", v+"/sales-orders/SO-DAY", nil, http.StatusOK)
		var so struct {
			State   string         `json:"state"`
			Invoice supply.Invoice `json:"invoice"`
		}
		resp.json(t, &so)
		require.Equal(t, supply.SalesOrderShipped, so.State)
		require.Equal(t, int64(22*1999), so.Invoice.Total)
		resp = call(auth.RoleOperator, "GET", v+"/sales-orders/SO-DAY/fmd", nil, http.StatusOK)
		var up fmd.Document
		resp.json(t, &up)
		require.Equal(t, fmd.Format, up.Format)
		require.Equal(t, fmd.TypeShipped, up.Type)
		require.Len(t, up.Batches, 1)
		require.Equal(t, 22, up.Batches[0].Packs)
		require.ElementsMatch(t, shippedSNs, up.Batches[0].Serials)
		// A US-only product has no EU FMD batch data set: the field says why.
		resp = call(auth.RoleOperator, "GET", v+"/orders/WO-DAY/fmd", nil, http.StatusUnprocessableEntity)
		require.Equal(t, "eu_fmd", resp.apiErr(t).Field)

		// QA recalls the lot.
		resp = call(auth.RoleQA, "POST", v+"/recalls", map[string]any{"id": "RC-DAY", "gtin": gtinSeq, "lot": "DAY1", "reason": "label mix-up"}, http.StatusCreated)
		var rc supply.Recall
		resp.json(t, &rc)
		require.Equal(t, uint64(30), rc.Summary.Affected)
		require.Equal(t, uint64(8), rc.Summary.OnHold)
		require.Len(t, rc.Summary.Shipments, 1)
		require.Equal(t, "Garden State Wholesale", rc.Summary.Shipments[0].CustomerName)
		require.Equal(t, []string{pallet}, rc.Summary.Shipments[0].Pallets)
		resp = call(auth.RoleAuditor, "GET", v+"/recalls/RC-DAY/report", nil, http.StatusOK)
		require.Contains(t, string(resp.body), "Garden State Wholesale")
		require.Contains(t, string(resp.body), pallet)
		resp = call(auth.RoleAuditor, "GET", v+"/recalls/RC-DAY/units.csv", nil, http.StatusOK)
		require.Equal(t, 31, strings.Count(string(resp.body), "\n"))
		require.Contains(t, string(resp.body), ","+caseA+","+pallet+",SHP-DAY,"+cust+",Garden State Wholesale,")

		// Verification says recalled; what is in stock is held.
		resp = call(auth.RoleAuditor, "GET", "/api/v1/verify?"+url.Values{"gtin": {gtinSeq}, "serial": {sns[3]}}.Encode(), nil, http.StatusOK)
		require.JSONEq(t, `{"verified": false, "reason": "recalled"}`, string(resp.body))
		call(auth.RolePlanner, "POST", v+"/sales-orders", map[string]any{"id": "SO-2", "customer_gln": cust, "currency": "USD",
			"lines": []map[string]any{{"gtin": gtinSeq, "quantity": 1, "unit_price": 1}}}, http.StatusCreated)
		call(auth.RolePlanner, "POST", v+"/shipments", map[string]any{"id": "SHP-2", "sales_order": "SO-2", "source_gln": site}, http.StatusCreated)
		resp = call(auth.RolePlanner, "POST", v+"/shipments/SHP-2/picks", map[string]any{"picks": []map[string]string{{"gtin": gtinSeq, "serial": sns[25]}}},
			http.StatusUnprocessableEntity)
		require.Contains(t, resp.apiErr(t).Message, "on hold")

		// Where is a shipped unit?
		resp = call(auth.RoleOperator, "GET", v+"/whereis/"+gtinSeq+"/"+sns[15], nil, http.StatusOK)
		var w supply.UnitWhereabouts
		resp.json(t, &w)
		require.Equal(t, caseB, w.Case)
		require.Equal(t, pallet, w.Pallet)
		require.Equal(t, "SHP-DAY", w.Shipment)
		require.Equal(t, cust, w.CustomerGLN)
		require.Equal(t, []string{"RC-DAY"}, w.Recalls)
		resp = call(auth.RoleOperator, "GET", v+"/containers/"+pallet, nil, http.StatusOK)
		var tree supply.ContainerTree
		resp.json(t, &tree)
		require.Equal(t, uint64(20), tree.Total)
	})
}

// TestVerifyReturned: a returned unit does not verify until its return
// verification passed and it was restocked.
func TestVerifyReturned(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	sn := e.returned(t, f, false)
	verify := func() string {
		resp := e.as(t, auth.RoleAuditor, req{method: "GET", path: verifyPath(gtinRand, sn, lot, expiry)})
		require.Equal(t, http.StatusOK, resp.status)
		return string(resp.body)
	}
	require.JSONEq(t, `{"verified": false, "reason": "returned"}`, verify())
	resp := e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/returns/restock", body: testkit.MustJSON(t, map[string]string{"gtin": gtinRand, "serial": sn})})
	require.Equal(t, http.StatusConflict, resp.status, "%s", resp.body)
	require.Contains(t, resp.apiErr(t).Message, "not verified")
	resp = e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/returns/verify", body: testkit.MustJSON(t, map[string]string{"gtin": gtinRand, "serial": sn, "lot": lot, "expiry": expiry})})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	resp = e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/returns/restock", body: testkit.MustJSON(t, map[string]string{"gtin": gtinRand, "serial": sn})})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.JSONEq(t, `{"verified": true}`, verify())
}
