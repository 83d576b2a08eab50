package dscsa_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// TestSampleDocuments builds the small shipment docs/dscsa.md shows (two
// units in a case and one loose, from a line) in both versions, checks
// both against GS1's XSDs, and writes them to $DSCSA_SAMPLES when set.
func TestSampleDocuments(t *testing.T) {
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "user:docs"), time.Minute)
	defer cancel()
	s := storetest.Open(t, storetest.SQLiteDSN(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	site, customer := testkit.GLN(t, prefix+"00001"), testkit.GLN(t, "061414100002")
	require.NoError(t, s.PutProduct(ctx, master.Product{GTIN: gtin, Name: "Paracetamol 500 mg tablets", Form: "TABLET", Strength: "500 mg",
		PackSize: 20, PackUnit: "TABLET", CompanyPrefixLen: 7, NDC: "12345-678-90", Markets: []master.Market{master.MarketUSDSCSA},
		Scheme: serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}}))
	require.NoError(t, s.PutSite(ctx, master.Site{GLN: site, Name: "Serialine Pharma Plant", Address: plantAddr}))
	require.NoError(t, s.PutPartner(ctx, master.Partner{GLN: customer, Name: "Wholesale Ltd", Address: depotAddr, CompanyPrefixLen: 7}))
	require.NoError(t, s.PutLine(ctx, master.Line{ID: line1, SiteGLN: site, Name: "Line 1"}))
	_, err := s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-1", GTIN: gtin, Lot: lot, Expiry: exp, Quantity: 100})
	require.NoError(t, err)
	_, err = s.ReleaseOrder(ctx, "WO-1", line1)
	require.NoError(t, err)
	g, err := s.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "r1", Line: line1, Order: "WO-1", GTIN: gtin, Count: 3}, 0)
	require.NoError(t, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(t, err)
	var events []wire.Event
	var sns []string
	for c := uint64(0); c < 3; c++ {
		sn, err := sc.Serial(nil, g.Ranges[0].Start+c)
		require.NoError(t, err)
		sns = append(sns, string(sn))
		events = append(events, wire.Event{ID: "L1:" + string(rune('1'+c)), Seq: c + 1, Type: wire.Commissioned, At: t0.Add(time.Duration(c) * time.Second),
			Order: "WO-1", GTIN: gtin, Serial: string(sn), Lot: lot, Expiry: exp, Counter: &c, Operator: "ana"})
	}
	box := testkit.SSCC(t, 0, prefix, 7)
	events = append(events, wire.Event{ID: "L1:4", Seq: 4, Type: wire.Aggregated, At: t0.Add(10 * time.Second), Order: "WO-1",
		Parent: box, Children: []string{wire.UnitRef(gtin, sns[0]), wire.UnitRef(gtin, sns[1])}})
	res, err := s.ApplyEvents(ctx, line1, events)
	require.NoError(t, err)
	require.Equal(t, 4, res.Applied)
	_, err = s.CreateSalesOrder(ctx, supply.SalesOrder{ID: "SO-1", CustomerGLN: customer, PONumber: "PO-77", Currency: "USD",
		Lines: []supply.SalesLine{{GTIN: gtin, Quantity: 3, UnitPrice: 1999}}})
	require.NoError(t, err)
	_, err = s.CreateShipment(ctx, supply.Shipment{ID: "SHP-1", SalesOrder: "SO-1", SourceGLN: site, SourceExt: "0"})
	require.NoError(t, err)
	_, err = s.Pick(ctx, "SHP-1", []supply.PickItem{{SSCC: box}, {GTIN: gtin, Serial: sns[2]}})
	require.NoError(t, err)
	_, err = s.ConfirmShipment(ctx, "SHP-1", t0.Add(24*time.Hour))
	require.NoError(t, err)

	dir := t.TempDir()
	for _, v := range []string{master.EPCIS12, master.EPCIS20} {
		doc, err := dscsa.XML(ctx, s, "SHP-1", v)
		require.NoError(t, err)
		path := filepath.Join(dir, "dscsa-"+v+".xml")
		require.NoError(t, os.WriteFile(path, doc.Body, 0o600))
		msg, code := testkit.RunValidator(t, "validate-epcis-xml", "--version", v, path)
		require.Equal(t, 0, code, "%s: %s", v, msg)
		if out := os.Getenv("DSCSA_SAMPLES"); out != "" {
			require.NoError(t, os.WriteFile(filepath.Join(out, "dscsa-"+v+".xml"), doc.Body, 0o600))
		}
	}
}
