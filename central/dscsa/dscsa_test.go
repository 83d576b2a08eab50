package dscsa_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const (
	gtin   = "00312345678906" // 003 + NDC 12345-678-90 + check digit
	prefix = "0312345"        // our GS1 Company Prefix
	line1  = "L1"
	lot    = "LOT7"
	exp    = "281231"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

var (
	plantAddr = master.Address{Street: "1 Factory Rd", City: "Durham", State: "NC", PostalCode: "27701", Country: "US"}
	depotAddr = master.Address{Street: "9 Depot Ave", City: "Newark", State: "NJ", PostalCode: "07102", Country: "US"}
)

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
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "user:test"), 2*time.Minute)
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &world{s: storetest.Open(t, dsn, log), ctx: ctx, site: testkit.GLN(t, prefix+"00001"), dock: testkit.GLN(t, prefix+"00003"), customer: testkit.GLN(t, "061414100002"),
		caseA: testkit.SSCC(t, 0, prefix, 11), caseB: testkit.SSCC(t, 0, prefix, 12), pallet: testkit.SSCC(t, 0, prefix, 21)}
	s := w.s
	require.NoError(t, s.PutProduct(ctx, master.Product{GTIN: gtin, Name: "Paracetamol 500 mg tablets", Form: "TABLET", Strength: "500 mg", PackSize: 20,
		PackUnit: "TABLET", CompanyPrefixLen: 7, NDC: "12345-678-90", Markets: []master.Market{master.MarketUSDSCSA},
		Scheme: serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}, StandardCost: 100, Currency: "USD"}))
	require.NoError(t, s.PutSite(ctx, master.Site{GLN: w.site, Name: "Serialine Pharma Plant", Address: plantAddr}))
	require.NoError(t, s.PutLocation(ctx, master.Location{GLN: w.dock, Extension: "D1", SiteGLN: w.site, Name: "Dispatch"}))
	require.NoError(t, s.PutPartner(ctx, master.Partner{GLN: w.customer, Name: "Wholesale Ltd", Address: depotAddr, CompanyPrefixLen: 7,
		Licences: map[string]string{"us-nj-wholesale": "NJ-1234"}}))
	require.NoError(t, s.PutLine(ctx, master.Line{ID: line1, SiteGLN: w.site, Name: "Line 1"}))
	_, err := s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-1", GTIN: gtin, Lot: lot, Expiry: exp, Quantity: 100})
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

	_, err = s.CreateSalesOrder(ctx, supply.SalesOrder{ID: "SO-1", CustomerGLN: w.customer, PONumber: "PO-77", Currency: "USD",
		Lines: []supply.SalesLine{{GTIN: gtin, Quantity: 22, UnitPrice: 1999}}})
	require.NoError(t, err)
	_, err = s.CreateShipment(ctx, supply.Shipment{ID: "SHP-1", SalesOrder: "SO-1", SourceGLN: w.dock, SourceExt: "D1"})
	require.NoError(t, err)
	w.shipped = append(slices.Clone(w.serials[:20]), w.serials[20], w.serials[21])
	_, err = s.Pick(ctx, "SHP-1", []supply.PickItem{{SSCC: w.pallet}, {GTIN: gtin, Serial: w.serials[20]}, {GTIN: gtin, Serial: w.serials[21]}})
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
		require.ErrorIs(t, err, sqldb.ErrNotFound)
		w.confirm(t)

		p, err := dscsa.Build(w.ctx, w.s, "SHP-1")
		require.NoError(t, err)
		ti := p.TI
		require.Equal(t, "SHP-1", ti.Shipment)
		require.Equal(t, "PO-77", ti.PONumber)
		require.Equal(t, t0.Add(24*time.Hour), ti.ShipmentDate)
		require.Equal(t, dscsa.Party{GLN: w.site, Name: "Serialine Pharma Plant", Address: plantAddr}, ti.Seller)
		require.Equal(t, depotAddr, ti.Buyer.Address)
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
