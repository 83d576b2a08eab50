package supply_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// packed is a store with 40 units of WO-1 (gtinRand, lot LOT42): units
// 0-9 in caseA, 10-19 in caseB, both cases on pallet, 20-39 loose; a
// site with a dispatch location, and a customer.
type packed struct {
	storetest.Fixture
	u                           *storetest.UnitSrc
	caseA, caseB, pallet        string
	site, dock, customer, other string
	seq                         uint64
}

func newPacked(t *testing.T, dsn string) *packed {
	t.Helper()
	f := storetest.NewFixture(t, dsn)
	p := &packed{Fixture: f, caseA: testkit.SSCC(t, 0, "0614141", 101), caseB: testkit.SSCC(t, 0, "0614141", 102), pallet: testkit.SSCC(t, 0, "0614141", 201),
		site: testkit.GLN(t, "950600000001"), dock: testkit.GLN(t, "950600000003"), customer: testkit.GLN(t, "950600000002"), other: testkit.GLN(t, "950600000004")}
	require.NoError(t, f.S.PutSite(f.Ctx, master.Site{GLN: p.site, Name: "Plant Lisbon", Address: master.Address{Street: "Rua 1", City: "Lisboa", Country: "PT"}}))
	require.NoError(t, f.S.PutLocation(f.Ctx, master.Location{GLN: p.dock, Extension: "DOCK1", SiteGLN: p.site, Name: "Dispatch dock"}))
	require.NoError(t, f.S.PutPartner(f.Ctx, master.Partner{GLN: p.customer, Name: "Wholesale Ltd", Address: master.Address{Street: "1 Main St", City: "Newark", State: "NJ", Country: "US"}}))
	require.NoError(t, f.S.PutPartner(f.Ctx, master.Partner{GLN: p.other, Name: "Other Pharma"}))
	require.NoError(t, f.S.PutLine(f.Ctx, master.Line{ID: storetest.Line1, SiteGLN: p.site, Name: "Line 1", PasswordHash: "pbkdf2$x"}))
	f.Order(t, "WO-1", storetest.GTINRand, storetest.Line1)
	p.u = storetest.NewUnitSrc(t, f.Grant(t, "r1", storetest.Line1, "WO-1", storetest.GTINRand, 40))
	events := p.u.Commission(storetest.Line1, 1, 0, 40)
	p.seq = 40
	agg := func(parent string, children ...string) {
		p.seq++
		e := storetest.Ev(storetest.Line1, p.seq, wire.Aggregated)
		e.Order, e.Parent, e.Children = "WO-1", parent, children
		events = append(events, e)
	}
	var a, b []string
	for i := 0; i < 10; i++ {
		a = append(a, wire.UnitRef(storetest.GTINRand, p.u.Serial[i]))
		b = append(b, wire.UnitRef(storetest.GTINRand, p.u.Serial[10+i]))
	}
	agg(p.caseA, a...)
	agg(p.caseB, b...)
	agg(p.pallet, wire.SSCCRef(p.caseA), wire.SSCCRef(p.caseB))
	res := storetest.Apply(t, f, storetest.Line1, events...)
	require.Equal(t, len(events), res.Applied, "%+v", res)
	return p
}

func (p *packed) salesOrder(t *testing.T, id string, qty uint64) {
	t.Helper()
	_, err := p.S.CreateSalesOrder(p.Ctx, supply.SalesOrder{ID: id, CustomerGLN: p.customer, PONumber: "PO-" + id, Currency: "USD",
		Lines: []supply.SalesLine{{GTIN: storetest.GTINRand, Quantity: qty, UnitPrice: 1250}}})
	require.NoError(t, err)
}

func (p *packed) unit(i int) supply.PickItem {
	return supply.PickItem{GTIN: storetest.GTINRand, Serial: p.u.Serial[i]}
}

func TestSalesOrderInput(t *testing.T) {
	f := storetest.NewFixture(t, storetest.SQLiteDSN(t))
	cust := testkit.GLN(t, "950600000002")
	require.NoError(t, f.S.PutPartner(f.Ctx, master.Partner{GLN: cust, Name: "Wholesale Ltd"}))
	ok := supply.SalesOrder{ID: "SO-1", CustomerGLN: cust, Currency: "EUR", Lines: []supply.SalesLine{{GTIN: storetest.GTINRand, Quantity: 5, UnitPrice: 100}}}
	cases := []struct {
		name, field string
		edit        func(o *supply.SalesOrder)
		notFound    bool
	}{
		{"no id", "id", func(o *supply.SalesOrder) { o.ID = "" }, false},
		{"bad customer gln", "customer_gln", func(o *supply.SalesOrder) { o.CustomerGLN = "123" }, false},
		{"bad currency", "currency", func(o *supply.SalesOrder) { o.Currency = "eur" }, false},
		{"no lines", "lines", func(o *supply.SalesOrder) { o.Lines = nil }, false},
		{"zero quantity", "lines[0].quantity", func(o *supply.SalesOrder) { o.Lines = []supply.SalesLine{{GTIN: storetest.GTINRand}} }, false},
		{"negative price", "lines[0].unit_price", func(o *supply.SalesOrder) {
			o.Lines = []supply.SalesLine{{GTIN: storetest.GTINRand, Quantity: 1, UnitPrice: -1}}
		}, false},
		{"GTIN twice", "lines[1].gtin", func(o *supply.SalesOrder) { o.Lines = append(o.Lines, o.Lines[0]) }, false},
		{"PO with a space", "po_number", func(o *supply.SalesOrder) { o.PONumber = "PO 1" }, false},
		{"unknown customer", "", func(o *supply.SalesOrder) { o.CustomerGLN = testkit.GLN(t, "950600000009") }, true},
		{"unknown product", "", func(o *supply.SalesOrder) { o.Lines = []supply.SalesLine{{GTIN: "00312345678937", Quantity: 1}} }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			o.Lines = append([]supply.SalesLine(nil), ok.Lines...)
			tc.edit(&o)
			_, err := f.S.CreateSalesOrder(f.Ctx, o)
			require.Error(t, err)
			if tc.notFound {
				require.ErrorIs(t, err, sqldb.ErrNotFound)
			} else {
				var ve *sqldb.ValidationError
				require.True(t, errors.As(err, &ve), "%v", err)
				require.Equal(t, tc.field, ve.Field, "%v", err)
			}
			_, err = f.S.SalesOrder(f.Ctx, o.ID)
			require.Error(t, err, "nothing written")
		})
	}
	_, err := f.S.CreateSalesOrder(f.Ctx, ok)
	require.NoError(t, err)
	_, err = f.S.CreateSalesOrder(f.Ctx, ok)
	require.ErrorIs(t, err, sqldb.ErrConflict)
}

// TestShipping picks a pallet (two cases) and loose units against a sales
// order, refuses what breaks a rule, confirms the shipment, and checks the
// units, history, invoice, stock, inventory value, hierarchy and the
// EPCIS shipping event, on both backends.
func TestShipping(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		p := newPacked(t, dsn)
		p.salesOrder(t, "SO-1", 25)
		// Decommission loose unit 39 so that picking it is refused.
		p.seq++
		res := storetest.Apply(t, p.Fixture, storetest.Line1, p.u.Ev(storetest.Line1, p.seq, wire.Decommissioned, 39))
		require.Equal(t, 1, res.Applied, "%+v", res)

		_, err := p.S.CreateShipment(p.Ctx, supply.Shipment{ID: "SHP-1", SalesOrder: "SO-1", SourceGLN: p.dock, SourceExt: "NOPE"})
		var ve *sqldb.ValidationError
		require.True(t, errors.As(err, &ve), "%v", err)
		require.Equal(t, "source_gln", ve.Field)
		sh, err := p.S.CreateShipment(p.Ctx, supply.Shipment{ID: "SHP-1", SalesOrder: "SO-1", SourceGLN: p.dock, SourceExt: "DOCK1"})
		require.NoError(t, err)
		require.Equal(t, p.customer, sh.DestGLN)
		require.Equal(t, supply.ShipmentPicking, sh.State)

		refused := []struct {
			name, field, msg string
			items            []supply.PickItem
		}{
			{"case on a pallet", "picks[0].sscc", "inside " + p.pallet, []supply.PickItem{{SSCC: p.caseA}}},
			{"unit in a case", "picks[0]", "inside " + p.caseA, []supply.PickItem{p.unit(0)}},
			{"unknown SSCC", "picks[0].sscc", "unknown", []supply.PickItem{{SSCC: testkit.SSCC(t, 0, "0614141", 999)}}},
			{"bad SSCC", "picks[0].sscc", "", []supply.PickItem{{SSCC: "123"}}},
			{"decommissioned unit", "picks[0]", "is decommissioned", []supply.PickItem{p.unit(39)}},
			{"scanned twice", "picks[1]", "scanned twice", []supply.PickItem{p.unit(20), p.unit(20)}},
			{"more than ordered", "picks[6]", "exceed the 25 ordered", []supply.PickItem{{SSCC: p.pallet}, p.unit(20), p.unit(21), p.unit(22), p.unit(23), p.unit(24), p.unit(25)}},
			{"unknown unit", "picks[0]", "unknown", []supply.PickItem{{GTIN: storetest.GTINRand, Serial: "NOPE1"}}},
		}
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				_, err := p.S.Pick(p.Ctx, "SHP-1", tc.items)
				var ve *sqldb.ValidationError
				require.True(t, errors.As(err, &ve), "%v", err)
				require.Equal(t, tc.field, ve.Field, "%v", err)
				require.Contains(t, err.Error(), tc.msg)
				sh, err := p.S.Shipment(p.Ctx, "SHP-1")
				require.NoError(t, err)
				require.Zero(t, sh.Units, "a refused pick wrote nothing")
			})
		}

		sh, err = p.S.Pick(p.Ctx, "SHP-1", []supply.PickItem{{SSCC: p.pallet}, p.unit(20), p.unit(21)})
		require.NoError(t, err)
		require.Equal(t, uint64(22), sh.Units)
		require.Len(t, sh.Picks, 3)
		for _, pk := range sh.Picks {
			if pk.SSCC == p.pallet {
				require.Equal(t, uint64(20), pk.Units)
			} else {
				require.Equal(t, uint64(1), pk.Units)
			}
		}
		// A GTIN not on the order: a second product's unit.
		_, err = p.S.CreateSalesOrder(p.Ctx, supply.SalesOrder{ID: "SO-2", CustomerGLN: p.other, Currency: "USD",
			Lines: []supply.SalesLine{{GTIN: storetest.GTINSeq, Quantity: 5, UnitPrice: 10}}})
		require.NoError(t, err)
		_, err = p.S.CreateShipment(p.Ctx, supply.Shipment{ID: "SHP-2", SalesOrder: "SO-2", SourceGLN: p.site})
		require.NoError(t, err)
		_, err = p.S.Pick(p.Ctx, "SHP-2", []supply.PickItem{p.unit(22)})
		require.ErrorContains(t, err, "is not on sales order SO-2")
		_, err = p.S.Pick(p.Ctx, "SHP-2", []supply.PickItem{{SSCC: p.pallet}})
		require.ErrorContains(t, err, "picked for shipment SHP-1")

		// A line event can no longer touch a picked unit once it is shipped;
		// confirm.
		shipAt := storetest.T0.Add(48 * time.Hour)
		sh, err = p.S.ConfirmShipment(p.Ctx, "SHP-1", shipAt)
		require.NoError(t, err)
		require.Equal(t, supply.ShipmentShipped, sh.State)
		require.Equal(t, shipAt, *sh.ShippedAt)
		_, err = p.S.ConfirmShipment(p.Ctx, "SHP-1", shipAt)
		require.ErrorIs(t, err, sqldb.ErrState)
		_, err = p.S.Pick(p.Ctx, "SHP-1", []supply.PickItem{p.unit(22)})
		require.ErrorIs(t, err, sqldb.ErrState)

		un, err := p.S.Unit(p.Ctx, storetest.GTINRand, p.u.Serial[0])
		require.NoError(t, err)
		require.Equal(t, supply.StateShipped, un.State)
		require.Equal(t, p.caseA, un.Parent, "a unit ships in its case")
		last := un.History[len(un.History)-1]
		require.Equal(t, wire.EventType("shipped"), last.Type)
		require.Contains(t, string(last.Details), p.customer)
		un, err = p.S.Unit(p.Ctx, storetest.GTINRand, p.u.Serial[22])
		require.NoError(t, err)
		require.Equal(t, orders.StateCommissioned, un.State, "not picked, not shipped")

		// The line's reconciliation still balances: shipped units were commissioned.
		rec, err := p.S.Reconciliation(p.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, uint64(39), rec.Commissioned)

		inv, err := p.S.Invoice(p.Ctx, "SO-1")
		require.NoError(t, err)
		require.Equal(t, supply.Invoice{Order: "SO-1", Customer: p.customer, Currency: "USD", Total: 22 * 1250, OrderedTotal: 25 * 1250,
			Lines: []supply.InvoiceLine{{LineNo: 1, GTIN: storetest.GTINRand, Ordered: 25, Shipped: 22, UnitPrice: 1250, Amount: 22 * 1250}}}, inv)
		so, err := p.S.SalesOrder(p.Ctx, "SO-1")
		require.NoError(t, err)
		require.Equal(t, supply.SalesOrderOpen, so.State, "3 units still to ship")

		stock, err := p.S.StockReport(p.Ctx, supply.StockFilter{GTIN: storetest.GTINRand, Lot: storetest.Lot})
		require.NoError(t, err)
		require.ElementsMatch(t, []supply.StockRow{
			{GTIN: storetest.GTINRand, Lot: storetest.Lot, State: orders.StateCommissioned, Location: p.site, Units: 17},
			{GTIN: storetest.GTINRand, Lot: storetest.Lot, State: orders.StateDecommissioned, Location: p.site, Units: 1},
			{GTIN: storetest.GTINRand, Lot: storetest.Lot, State: supply.StateShipped, Location: p.customer, Units: 22},
		}, stock)
		val, err := p.S.InventoryValue(p.Ctx)
		require.NoError(t, err)
		require.Equal(t, []supply.ProductValue{{GTIN: storetest.GTINRand, Name: "Paracetamol 500 mg tablets", Units: 17, StandardCost: 125, Currency: "EUR", Value: 17 * 125}}, val.Products)
		require.Equal(t, map[string]int64{"EUR": 17 * 125}, val.Totals)

		w, err := p.S.WhereIs(p.Ctx, storetest.GTINRand, p.u.Serial[15])
		require.NoError(t, err)
		require.Equal(t, []string{p.caseB, p.pallet}, w.Containers)
		require.Equal(t, p.caseB, w.Case)
		require.Equal(t, p.pallet, w.Pallet)
		require.Equal(t, "SHP-1", w.Shipment)
		require.Equal(t, "Wholesale Ltd", w.CustomerName)
		require.Equal(t, shipAt, *w.ShippedAt)
		require.Equal(t, p.customer, w.Location)

		tree, err := p.S.ContainerContents(p.Ctx, p.pallet)
		require.NoError(t, err)
		require.Equal(t, uint64(20), tree.Total)
		require.Equal(t, map[string]uint64{storetest.GTINRand + "/" + storetest.Lot: 20}, tree.ByGTINLot)
		require.Len(t, tree.Children, 2)
		require.Equal(t, p.caseA, tree.Children[0].SSCC)
		require.Len(t, tree.Children[0].Units, 10)
		require.Equal(t, uint64(10), tree.Children[1].Total)
		_, err = p.S.ContainerContents(p.Ctx, testkit.SSCC(t, 0, "0614141", 999))
		require.ErrorIs(t, err, sqldb.ErrNotFound)

		// The EPCIS shipping event: stored, found by the EPCIS query, and
		// valid against GS1's schemas.
		e, err := p.S.ShipmentEPCISEvent(p.Ctx, "SHP-1")
		require.NoError(t, err)
		require.Equal(t, "shipping", e.BizStep)
		require.Equal(t, "in_transit", e.Disposition)
		palletURI, err := gs1.SSCCURI(gs1.SSCC(p.pallet), 7)
		require.NoError(t, err)
		require.Contains(t, e.EPCList, palletURI)
		require.Len(t, e.EPCList, 3)
		require.Equal(t, []epcis.BizTransaction{{Type: "po", Value: "urn:epcglobal:cbv:bt:" + p.customer + ":PO-SO-1"},
			{Type: "desadv", Value: "urn:epcglobal:cbv:bt:" + p.dock + ":SHP-1"}}, e.BizTransactionList)
		require.Equal(t, "https://id.gs1.org/417/"+p.site, e.SourceList[0].Value)
		require.Equal(t, "https://id.gs1.org/417/"+p.customer, e.DestinationList[0].Value)
		found, err := p.S.QueryEPCIS(p.Ctx, epcisdb.EPCISQuery{BizSteps: []string{"shipping"}, MatchEPC: []string{palletURI}})
		require.NoError(t, err)
		require.Len(t, found, 1)
		validateEPCIS(t, epcis.Document{CreationDate: shipAt, Events: []epcis.Event{e}})

		// Shipping the rest ships the order.
		sh2, err := p.S.CreateShipment(p.Ctx, supply.Shipment{ID: "SHP-3", SalesOrder: "SO-1", SourceGLN: p.site})
		require.NoError(t, err)
		_, err = p.S.ConfirmShipment(p.Ctx, sh2.ID, time.Time{})
		require.ErrorIs(t, err, sqldb.ErrState, "nothing picked")
		_, err = p.S.Pick(p.Ctx, sh2.ID, []supply.PickItem{p.unit(22), p.unit(23), p.unit(24)})
		require.NoError(t, err)
		_, err = p.S.ConfirmShipment(p.Ctx, sh2.ID, time.Time{})
		require.NoError(t, err)
		so, err = p.S.SalesOrder(p.Ctx, "SO-1")
		require.NoError(t, err)
		require.Equal(t, supply.SalesOrderShipped, so.State)
		_, err = p.S.CreateShipment(p.Ctx, supply.Shipment{ID: "SHP-4", SalesOrder: "SO-1", SourceGLN: p.site})
		require.ErrorIs(t, err, sqldb.ErrState)
	})
}

// validateEPCIS runs GS1's JSON Schema and XSD over the document.
func validateEPCIS(t *testing.T, d epcis.Document) {
	t.Helper()
	dir := t.TempDir()
	js, err := epcis.MarshalJSONLD(d)
	require.NoError(t, err)
	x, err := epcis.MarshalXML(d)
	require.NoError(t, err)
	jf, xf := filepath.Join(dir, "doc.jsonld"), filepath.Join(dir, "doc.xml")
	require.NoError(t, os.WriteFile(jf, js, 0o600))
	require.NoError(t, os.WriteFile(xf, x, 0o600))
	msg, code := testkit.RunValidator(t, "validate-epcis-json", "--schema", "modular", jf)
	require.Equal(t, 0, code, "JSON Schema: %s\n%s", msg, js)
	msg, code = testkit.RunValidator(t, "validate-epcis-xml", xf)
	require.Equal(t, 0, code, "XSD: %s\n%s", msg, x)
}

// TestReturns: a shipped unit comes back, is refused resale until it is
// verified, and a failed verification keeps it out of stock.
func TestReturns(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		p := newPacked(t, dsn)
		p.salesOrder(t, "SO-1", 5)
		_, err := p.S.CreateShipment(p.Ctx, supply.Shipment{ID: "SHP-1", SalesOrder: "SO-1", SourceGLN: p.site})
		require.NoError(t, err)
		_, err = p.S.Pick(p.Ctx, "SHP-1", []supply.PickItem{p.unit(20), p.unit(21), p.unit(22)})
		require.NoError(t, err)
		_, err = p.S.ConfirmShipment(p.Ctx, "SHP-1", storetest.T0.Add(time.Hour))
		require.NoError(t, err)

		_, err = p.S.ReceiveReturn(p.Ctx, storetest.GTINRand, p.u.Serial[23], p.site)
		require.ErrorIs(t, err, sqldb.ErrState, "never shipped")
		ret, err := p.S.ReceiveReturn(p.Ctx, storetest.GTINRand, p.u.Serial[20], p.site)
		require.NoError(t, err)
		require.Equal(t, "SHP-1", ret.Shipment)
		require.Equal(t, p.customer, ret.FromGLN)
		un, err := p.S.Unit(p.Ctx, storetest.GTINRand, p.u.Serial[20])
		require.NoError(t, err)
		require.Equal(t, supply.StateReturned, un.State)

		_, err = p.S.RestockReturn(p.Ctx, storetest.GTINRand, p.u.Serial[20])
		require.ErrorIs(t, err, sqldb.ErrState)
		require.ErrorContains(t, err, "not verified")

		ret, err = p.S.VerifyReturn(p.Ctx, storetest.GTINRand, p.u.Serial[20], storetest.Lot, storetest.Expiry)
		require.NoError(t, err)
		require.Equal(t, supply.ReturnVerified, ret.Outcome)
		_, err = p.S.VerifyReturn(p.Ctx, storetest.GTINRand, p.u.Serial[20], storetest.Lot, storetest.Expiry)
		require.ErrorIs(t, err, sqldb.ErrState, "verified once")
		_, err = p.S.RestockReturn(p.Ctx, storetest.GTINRand, p.u.Serial[20])
		require.NoError(t, err)
		un, err = p.S.Unit(p.Ctx, storetest.GTINRand, p.u.Serial[20])
		require.NoError(t, err)
		require.Equal(t, orders.StateCommissioned, un.State)
		require.Equal(t, "restocked", string(un.History[len(un.History)-1].Type))

		// A pack whose printed lot is not the unit's: refused, never restocked.
		_, err = p.S.ReceiveReturn(p.Ctx, storetest.GTINRand, p.u.Serial[21], p.site)
		require.NoError(t, err)
		ret, err = p.S.VerifyReturn(p.Ctx, storetest.GTINRand, p.u.Serial[21], "LOT99", storetest.Expiry)
		require.NoError(t, err)
		require.Equal(t, supply.ReturnRefused, ret.Outcome)
		require.Equal(t, supply.ReturnLotMismatch, ret.Reason)
		_, err = p.S.RestockReturn(p.Ctx, storetest.GTINRand, p.u.Serial[21])
		require.ErrorContains(t, err, "lot mismatch")

		// Verified, then recalled before restocking: refused.
		_, err = p.S.ReceiveReturn(p.Ctx, storetest.GTINRand, p.u.Serial[22], p.site)
		require.NoError(t, err)
		_, err = p.S.VerifyReturn(p.Ctx, storetest.GTINRand, p.u.Serial[22], storetest.Lot, storetest.Expiry)
		require.NoError(t, err)
		_, err = p.S.CreateRecall(p.Ctx, supply.RecallRequest{GTIN: storetest.GTINRand, Serials: []string{p.u.Serial[22]}, Reason: "customer complaint"})
		require.NoError(t, err)
		_, err = p.S.RestockReturn(p.Ctx, storetest.GTINRand, p.u.Serial[22])
		require.ErrorContains(t, err, "a recall covers it")

		// Each return is an EPCIS receiving event, valid against GS1's schemas.
		recv, err := p.S.QueryEPCIS(p.Ctx, epcisdb.EPCISQuery{BizSteps: []string{"receiving"}})
		require.NoError(t, err)
		require.Len(t, recv, 3)
		require.Equal(t, "https://id.gs1.org/417/"+p.customer, recv[0].SourceList[0].Value)
		validateEPCIS(t, epcis.Document{CreationDate: storetest.T0, Events: recv})

		val, err := p.S.InventoryValue(p.Ctx)
		require.NoError(t, err)
		require.Equal(t, uint64(2), val.Products[0].Returned)
		require.Equal(t, uint64(1), val.Products[0].OnHold)
	})
}

// TestRecall recalls the lot after part of it shipped: the summary names
// the customer, the shipment and the pallet; what is in stock is held
// (picking refuses it); the CSV lists every unit; the report reads.
func TestRecall(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		p := newPacked(t, dsn)
		p.salesOrder(t, "SO-1", 30)
		_, err := p.S.CreateShipment(p.Ctx, supply.Shipment{ID: "SHP-1", SalesOrder: "SO-1", SourceGLN: p.site})
		require.NoError(t, err)
		_, err = p.S.Pick(p.Ctx, "SHP-1", []supply.PickItem{{SSCC: p.pallet}, p.unit(20)})
		require.NoError(t, err)
		shipAt := storetest.T0.Add(24 * time.Hour)
		_, err = p.S.ConfirmShipment(p.Ctx, "SHP-1", shipAt)
		require.NoError(t, err)
		_, err = p.S.CreateShipment(p.Ctx, supply.Shipment{ID: "SHP-2", SalesOrder: "SO-1", SourceGLN: p.site})
		require.NoError(t, err)
		_, err = p.S.Pick(p.Ctx, "SHP-2", []supply.PickItem{p.unit(21)})
		require.NoError(t, err)

		bad := []struct {
			name, field string
			req         supply.RecallRequest
		}{
			{"no reason", "reason", supply.RecallRequest{GTIN: storetest.GTINRand, Lot: storetest.Lot}},
			{"no scope", "lot", supply.RecallRequest{GTIN: storetest.GTINRand, Reason: "x"}},
			{"both", "serials", supply.RecallRequest{GTIN: storetest.GTINRand, Lot: storetest.Lot, Serials: []string{"1"}, Reason: "x"}},
			{"unknown serial", "serials[1]", supply.RecallRequest{GTIN: storetest.GTINRand, Serials: []string{p.u.Serial[0], "NOPE"}, Reason: "x"}},
			{"serial twice", "serials[1]", supply.RecallRequest{GTIN: storetest.GTINRand, Serials: []string{p.u.Serial[0], p.u.Serial[0]}, Reason: "x"}},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				_, err := p.S.CreateRecall(p.Ctx, tc.req)
				var ve *sqldb.ValidationError
				require.True(t, errors.As(err, &ve), "%v", err)
				require.Equal(t, tc.field, ve.Field)
				rs, err := p.S.Recalls(p.Ctx)
				require.NoError(t, err)
				require.Empty(t, rs, "nothing written")
				held, err := p.S.UnitRecalled(p.Ctx, storetest.GTINRand, p.u.Serial[0])
				require.NoError(t, err)
				require.False(t, held)
			})
		}
		_, err = p.S.CreateRecall(p.Ctx, supply.RecallRequest{GTIN: storetest.GTINRand, Lot: "LOT99", Reason: "x"})
		require.ErrorIs(t, err, sqldb.ErrNotFound)

		rc, err := p.S.CreateRecall(p.Ctx, supply.RecallRequest{ID: "RC-1", GTIN: storetest.GTINRand, Lot: storetest.Lot, Reason: "out-of-specification dissolution"})
		require.NoError(t, err)
		require.Equal(t, uint64(40), rc.Summary.Affected)
		require.Equal(t, map[string]uint64{supply.StateShipped: 21, orders.StateCommissioned: 19}, rc.Summary.ByState)
		require.Equal(t, uint64(19), rc.Summary.OnHold)
		require.Equal(t, []supply.RecallShipment{{Shipment: "SHP-1", SalesOrder: "SO-1", CustomerGLN: p.customer, CustomerName: "Wholesale Ltd",
			ShippedAt: shipAt, Units: 21, Pallets: []string{p.pallet}}}, rc.Summary.Shipments)
		again, err := p.S.Recall(p.Ctx, "RC-1")
		require.NoError(t, err)
		require.Equal(t, rc, again)

		// Held at once: picking and confirming refuse units of the lot.
		_, err = p.S.Pick(p.Ctx, "SHP-2", []supply.PickItem{p.unit(22)})
		require.ErrorContains(t, err, "on hold")
		_, err = p.S.ConfirmShipment(p.Ctx, "SHP-2", time.Time{})
		require.ErrorIs(t, err, sqldb.ErrState)
		require.ErrorContains(t, err, "recalled")
		w, err := p.S.WhereIs(p.Ctx, storetest.GTINRand, p.u.Serial[25])
		require.NoError(t, err)
		require.True(t, w.OnHold)
		require.Equal(t, []string{"RC-1"}, w.Recalls)
		for _, i := range []int{0, 25} {
			r, err := p.S.UnitRecalled(p.Ctx, storetest.GTINRand, p.u.Serial[i])
			require.NoError(t, err)
			require.True(t, r)
		}
		stock, err := p.S.StockReport(p.Ctx, supply.StockFilter{GTIN: storetest.GTINRand})
		require.NoError(t, err)
		for _, row := range stock {
			if row.State == orders.StateCommissioned {
				require.Equal(t, row.Units, row.OnHold)
			}
		}

		var buf bytes.Buffer
		require.NoError(t, p.S.WriteRecallCSV(p.Ctx, "RC-1", &buf))
		recs, err := csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		require.Equal(t, supply.RecallCSVHeader, recs[0])
		require.Len(t, recs, 41)
		var shipped int
		for _, r := range recs[1:] {
			if r[0] == "RC-1" && r[2] == p.u.Serial[3] {
				require.Equal(t, []string{"RC-1", storetest.GTINRand, p.u.Serial[3], storetest.Lot, storetest.Expiry, "shipped", "false", p.caseA, p.pallet, "SHP-1", p.customer, "Wholesale Ltd", shipAt.Format(time.RFC3339)}, r)
			}
			if r[9] != "" {
				shipped++
			}
		}
		require.Equal(t, 21, shipped)

		buf.Reset()
		require.NoError(t, p.S.WriteRecallReport(p.Ctx, "RC-1", &buf))
		report := buf.String()
		for _, want := range []string{"RECALL RC-1", "lot " + storetest.Lot, "out-of-specification dissolution", "Units affected: 40",
			"put on hold at the recall: 19", "at " + p.site + ": 19 commissioned", "Wholesale Ltd (GLN " + p.customer + ")", "shipment SHP-1", p.pallet} {
			require.Contains(t, report, want)
		}
		require.Equal(t, 1, strings.Count(report, "shipment SHP-"))

		entries, err := p.S.Audit(p.Ctx, audit.Filter{Entity: "recall", EntityID: "RC-1"})
		require.NoError(t, err)
		require.Len(t, entries, 1)
		require.Equal(t, "user:test", entries[0].Actor)
	})
}

// TestPickRace: shipments of two sales orders pick the same pallet at
// once; exactly one gets it.
func TestPickRace(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		p := newPacked(t, dsn)
		const n = 4
		for i := range n {
			so := fmt.Sprintf("SO-%d", i)
			p.salesOrder(t, so, 20)
			_, err := p.S.CreateShipment(p.Ctx, supply.Shipment{ID: fmt.Sprintf("SHP-%d", i), SalesOrder: so, SourceGLN: p.site})
			require.NoError(t, err)
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = p.S.Pick(p.Ctx, fmt.Sprintf("SHP-%d", i), []supply.PickItem{{SSCC: p.pallet}})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				require.ErrorContains(t, err, "picked for shipment")
			}
		}
		require.Equal(t, 1, won)
	})
}

// TestRecallShipRace: a lot recall and the confirmation of a shipment of
// that lot run at once, several times over. Whichever commits first, the
// records agree: either the confirmation is refused (the units are on
// hold), or the recall's summary counts them shipped with the shipment.
// Never both "on hold" at the recall and shipped (lockGTINs).
func TestRecallShipRace(t *testing.T) {
	for round := range 4 {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) { raceRecallShip(t, round) })
	}
}

func raceRecallShip(t *testing.T, round int) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		p := newPacked(t, dsn)
		p.salesOrder(t, "SO-R", 20)
		_, err := p.S.CreateShipment(p.Ctx, supply.Shipment{ID: "SHP-R", SalesOrder: "SO-R", SourceGLN: p.site})
		require.NoError(t, err)
		_, err = p.S.Pick(p.Ctx, "SHP-R", []supply.PickItem{{SSCC: p.pallet}})
		require.NoError(t, err)

		var wg sync.WaitGroup
		var shipErr, recallErr error
		var rc supply.Recall
		wg.Add(2)
		go func() { defer wg.Done(); _, shipErr = p.S.ConfirmShipment(p.Ctx, "SHP-R", time.Time{}) }()
		go func() {
			defer wg.Done()
			rc, recallErr = p.S.CreateRecall(p.Ctx, supply.RecallRequest{GTIN: storetest.GTINRand, Lot: storetest.Lot, Reason: "race"})
		}()
		wg.Wait()
		require.NoError(t, recallErr)
		u, err := p.S.Unit(p.Ctx, storetest.GTINRand, p.u.Serial[0])
		require.NoError(t, err)
		if shipErr == nil {
			require.Equal(t, "shipped", u.State, "round %d", round)
			require.EqualValues(t, 20, rc.Summary.Shipped, "round %d: the recall came after the shipment and names it", round)
			require.Len(t, rc.Summary.Shipments, 1)
		} else {
			require.ErrorIs(t, shipErr, sqldb.ErrState, "round %d", round)
			require.Equal(t, orders.StateCommissioned, u.State, "round %d", round)
			require.Zero(t, rc.Summary.Shipped, "round %d", round)
		}
	})
}
