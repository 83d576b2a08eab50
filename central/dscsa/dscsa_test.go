package dscsa_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/conformance"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const (
	gtin  = "09506000134352"
	line1 = "L1"
	lot   = "LOT7"
	exp   = "281231"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

func gln(tb testing.TB, digits string) string {
	tb.Helper()
	c, err := gs1.CheckDigit(digits)
	require.NoError(tb, err)
	return digits + string(c)
}

func sscc(tb testing.TB, ref uint64) string {
	tb.Helper()
	s, err := gs1.NewSSCC(0, "9506000", ref)
	require.NoError(tb, err)
	return string(s)
}

// world is a store where line L1 made 24 units of lot LOT7, packed 2
// cases of 10 on a pallet, and shipment SHP-1 took the pallet and two
// loose units to Wholesale Ltd.
type world struct {
	s                    *store.Store
	ctx                  context.Context
	site, dock, customer string
	caseA, caseB, pallet string
	serials              []string // all 24
	shipped              []string // the 22 shipped
}

func newWorld(t *testing.T, dsn string) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(store.WithActor(context.Background(), "user:test"), 2*time.Minute)
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &world{s: storetest.Open(t, dsn, log), ctx: ctx, site: gln(t, "950600000001"), dock: gln(t, "950600000003"), customer: gln(t, "950600000002"),
		caseA: sscc(t, 11), caseB: sscc(t, 12), pallet: sscc(t, 21)}
	s := w.s
	require.NoError(t, s.PutProduct(ctx, store.Product{GTIN: gtin, Name: "Paracetamol 500 mg tablets", Form: "tablet", Strength: "500 mg", PackSize: 20,
		CompanyPrefixLen: 7, NDC: "12345-678-90", Markets: []store.Market{store.MarketUSDSCSA},
		Scheme: serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}, StandardCost: 100, Currency: "USD"}))
	require.NoError(t, s.PutSite(ctx, store.Site{GLN: w.site, Name: "Serialine Pharma Plant", Address: "1 Factory Rd, Durham NC 27701"}))
	require.NoError(t, s.PutLocation(ctx, store.Location{GLN: w.dock, Extension: "D1", SiteGLN: w.site, Name: "Dispatch"}))
	require.NoError(t, s.PutPartner(ctx, store.Partner{GLN: w.customer, Name: "Wholesale Ltd", Address: "9 Depot Ave, Newark NJ 07102",
		Licences: map[string]string{"us-nj-wholesale": "NJ-1234"}}))
	require.NoError(t, s.PutLine(ctx, store.Line{ID: line1, SiteGLN: w.site, Name: "Line 1"}))
	_, err := s.CreateOrder(ctx, store.WorkOrder{ID: "WO-1", GTIN: gtin, Lot: lot, Expiry: exp, Quantity: 100})
	require.NoError(t, err)
	_, err = s.ReleaseOrder(ctx, "WO-1", line1)
	require.NoError(t, err)
	g, err := s.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "r1", Line: line1, Order: "WO-1", GTIN: gtin, Count: 24}, 0)
	require.NoError(t, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(t, err)
	var events []wire.Event
	seq := uint64(0)
	next := func(typ wire.EventType) wire.Event {
		seq++
		return wire.Event{ID: fmt.Sprintf("L1:%d", seq), Seq: seq, Type: typ, At: t0.Add(time.Duration(seq) * time.Second), Order: "WO-1", Operator: "ana"}
	}
	for c := uint64(0); c < 24; c++ {
		sn, err := sc.Serial(nil, g.Ranges[0].Start+c)
		require.NoError(t, err)
		w.serials = append(w.serials, string(sn))
		e := next(wire.Commissioned)
		e.GTIN, e.Serial, e.Lot, e.Expiry, e.Counter = gtin, string(sn), lot, exp, &c
		events = append(events, e)
	}
	for i, parent := range []string{w.caseA, w.caseB} {
		e := next(wire.Aggregated)
		e.Parent = parent
		for _, sn := range w.serials[i*10 : i*10+10] {
			e.Children = append(e.Children, wire.UnitRef(gtin, sn))
		}
		events = append(events, e)
	}
	e := next(wire.Aggregated)
	e.Parent, e.Children = w.pallet, []string{wire.SSCCRef(w.caseA), wire.SSCCRef(w.caseB)}
	events = append(events, e)
	res, err := s.ApplyEvents(ctx, line1, events)
	require.NoError(t, err)
	require.Equal(t, len(events), res.Applied, "%+v", res)

	_, err = s.CreateSalesOrder(ctx, store.SalesOrder{ID: "SO-1", CustomerGLN: w.customer, PONumber: "PO-77", Currency: "USD",
		Lines: []store.SalesLine{{GTIN: gtin, Quantity: 22, UnitPrice: 1999}}})
	require.NoError(t, err)
	_, err = s.CreateShipment(ctx, store.Shipment{ID: "SHP-1", SalesOrder: "SO-1", SourceGLN: w.dock, SourceExt: "D1"})
	require.NoError(t, err)
	w.shipped = append(slices.Clone(w.serials[:20]), w.serials[20], w.serials[21])
	_, err = s.Pick(ctx, "SHP-1", []store.PickItem{{SSCC: w.pallet}, {GTIN: gtin, Serial: w.serials[20]}, {GTIN: gtin, Serial: w.serials[21]}})
	require.NoError(t, err)
	return w
}

func (w *world) confirm(t *testing.T) {
	t.Helper()
	_, err := w.s.ConfirmShipment(w.ctx, "SHP-1", t0.Add(24*time.Hour))
	require.NoError(t, err)
}

func TestBuild(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		w := newWorld(t, dsn)
		_, err := dscsa.Build(w.ctx, w.s, "SHP-1")
		require.ErrorIs(t, err, dscsa.ErrNotShipped)
		_, err = dscsa.Build(w.ctx, w.s, "NOPE")
		require.ErrorIs(t, err, store.ErrNotFound)
		w.confirm(t)

		p, err := dscsa.Build(w.ctx, w.s, "SHP-1")
		require.NoError(t, err)
		ti := p.TI
		require.Equal(t, "SHP-1", ti.Shipment)
		require.Equal(t, "PO-77", ti.PONumber)
		require.Equal(t, t0.Add(24*time.Hour), ti.ShipmentDate)
		require.Equal(t, dscsa.Party{GLN: w.site, Name: "Serialine Pharma Plant", Address: "1 Factory Rd, Durham NC 27701"}, ti.Seller)
		require.Equal(t, "Wholesale Ltd", ti.Buyer.Name)
		require.Equal(t, "NJ-1234", ti.Buyer.Licences["us-nj-wholesale"])
		require.Equal(t, w.dock, ti.ShipFrom.GLN)
		require.Len(t, ti.Products, 1)
		pl := ti.Products[0]
		require.Equal(t, "12345-678-90", pl.NDC)
		require.Equal(t, lot, pl.Lot)
		require.Equal(t, "2028-12-31", pl.Expiry)
		require.Equal(t, 22, pl.Quantity)
		require.Equal(t, 20, pl.ContainerSize)
		require.ElementsMatch(t, w.shipped, pl.Serials, "exactly the shipped units")
		require.Equal(t, dscsa.Statement, p.TS.Statement)
		require.Len(t, p.TS.Clauses, 7)
		require.Len(t, p.TH.Transactions, 1)
		require.Equal(t, 22, p.TH.Transactions[0].Quantity)
		require.Contains(t, p.TH.Note, "582(k)(1)")
	})
}

// TestDocument: the EPCIS document lists exactly the shipped units,
// packs them as they were packed, ships the pallet and the loose units,
// and validates against GS1's XSD and JSON Schema.
func TestDocument(t *testing.T) {
	w := newWorld(t, storetest.SQLiteDSN(t))
	w.confirm(t)
	d, err := dscsa.Document(w.ctx, w.s, "SHP-1")
	require.NoError(t, err)
	require.Equal(t, w.site, d.Header.Sender)
	require.Equal(t, w.customer, d.Header.Receiver)
	require.Len(t, d.MasterData, 2)
	require.Equal(t, "urn:epc:idpat:sgtin:9506000.013435.*", d.MasterData[0].Elements[0].ID)
	require.Contains(t, d.MasterData[0].Elements[0].Attributes, epcis.Attribute{ID: "urn:epcglobal:cbv:mda#additionalTradeItemIdentification", Value: "12345-0678-90"})
	// Every party and place the shipping event names has its master data.
	ids := map[string]bool{}
	for _, el := range d.MasterData[1].Elements {
		ids[el.ID] = true
	}
	ship := d.Events[len(d.Events)-1]
	for _, sd := range append(append([]epcis.SourceDest(nil), ship.SourceList...), ship.DestinationList...) {
		require.True(t, ids[sd.Value], "no master data for %s", sd.Value)
	}

	var steps []string
	var commissioned []string
	for _, e := range d.Events {
		steps = append(steps, e.BizStep)
		if e.BizStep == "commissioning" {
			commissioned = append(commissioned, e.EPCList...)
			require.Equal(t, lot, e.ILMD["cbvmda:lotNumber"])
		}
	}
	require.Equal(t, []string{"commissioning", "packing", "packing", "packing", "shipping"}, steps)
	var want []string
	for _, sn := range w.shipped {
		u, err := gs1.SGTINURI(gtin, sn, 7)
		require.NoError(t, err)
		want = append(want, u)
	}
	require.ElementsMatch(t, want, commissioned)
	palletURI, err := gs1.SSCCURI(gs1.SSCC(w.pallet), 7)
	require.NoError(t, err)
	require.Equal(t, palletURI, d.Events[3].ParentID, "the pallet is packed after its cases")
	require.Len(t, d.Events[3].ChildEPCs, 2)
	require.Len(t, d.Events[4].EPCList, 3)

	dir := t.TempDir()
	x, err := epcis.MarshalXML(d)
	require.NoError(t, err)
	js, err := epcis.MarshalJSONLD(d)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "shp.xml"), x, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "shp.jsonld"), js, 0o600))
	msg, code := conformance.Run(t, "validate-epcis-xml", filepath.Join(dir, "shp.xml"))
	require.Equal(t, 0, code, "XSD: %s", msg)
	msg, code = conformance.Run(t, "validate-epcis-json", "--schema", "modular", filepath.Join(dir, "shp.jsonld"))
	require.Equal(t, 0, code, "JSON Schema: %s", msg)
	back, err := epcis.ParseXML(x)
	require.NoError(t, err)
	require.Len(t, back.Events, 5)
}

// TestBuilder: the outbound queue's builder makes the shipment's XML
// document for its customer, and refuses another partner.
func TestBuilder(t *testing.T) {
	w := newWorld(t, storetest.SQLiteDSN(t))
	b := dscsa.Builder{Store: w.s}
	_, err := b.Build(w.ctx, "SHP-1", w.customer)
	require.ErrorIs(t, err, dscsa.ErrNotShipped)
	w.confirm(t)
	_, err = b.Build(w.ctx, "SHP-1", w.site)
	require.ErrorContains(t, err, "goes to "+w.customer)
	doc, err := b.Build(w.ctx, "SHP-1", w.customer)
	require.NoError(t, err)
	require.Equal(t, "application/xml", doc.ContentType)
	back, err := epcis.ParseXML(doc.Body)
	require.NoError(t, err)
	require.Equal(t, doc.ID, back.Header.InstanceIdentifier)
	require.Len(t, back.Events, 5)
}
