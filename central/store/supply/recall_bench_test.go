package supply_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
)

// BenchmarkRecallLot1M recalls a lot of 1,000,000 units on PostgreSQL: in
// cases of 100 on pallets of 20 cases, a fifth of them shipped to two
// customers in 10 shipments. One op is CreateRecall: the recall marked,
// what is in stock held, and the summary (by state, shipments with
// customer and pallets), in one transaction. The fixture is written with
// COPY and not timed. It also reports how fast the CSV export streams the
// lot once.
func BenchmarkRecallLot1M(b *testing.B) {
	const (
		units     = 1_000_000
		perCase   = 100
		perPallet = 20 // cases
		shipped   = units / 5
		shipments = 10
	)
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "bench"), 30*time.Minute)
	defer cancel()
	dsn := storetest.PostgresDSN(b)
	s := storetest.Open(b, dsn, testkit.LoggerAt(b, slog.LevelInfo))
	site, cust1, cust2 := testkit.GLN(b, "950600000001"), testkit.GLN(b, "950600000002"), testkit.GLN(b, "950600000004")
	require.NoError(b, s.PutProduct(ctx, storetest.Product(storetest.GTINSeq, storetest.SeqSpec)))
	require.NoError(b, s.PutSite(ctx, master.Site{GLN: site, Name: "Plant"}))
	require.NoError(b, s.PutLine(ctx, master.Line{ID: storetest.Line1, SiteGLN: site, Name: "Line 1"}))
	for _, c := range []string{cust1, cust2} {
		require.NoError(b, s.PutPartner(ctx, master.Partner{GLN: c, Name: "Customer " + c}))
	}
	_, err := s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-BIG", GTIN: storetest.GTINSeq, Lot: "BIG1", Expiry: storetest.Expiry, Quantity: units})
	require.NoError(b, err)
	_, err = s.ReleaseOrder(ctx, "WO-BIG", storetest.Line1)
	require.NoError(b, err)
	for i, c := range []string{cust1, cust2} {
		_, err := s.CreateSalesOrder(ctx, supply.SalesOrder{ID: "SO-" + strconv.Itoa(i), CustomerGLN: c, Currency: "USD",
			Lines: []supply.SalesLine{{GTIN: storetest.GTINSeq, Quantity: units, UnitPrice: 100}}})
		require.NoError(b, err)
	}

	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(b, err)
	defer conn.Close(context.Background())
	at := storetest.T0
	caseOf := func(i int) string { return ssccOf(b, 1_000_000+uint64(i/perCase)) }
	palletOf := func(c int) string { return ssccOf(b, 2_000_000+uint64(c/perPallet)) }
	var cases, pallets [][]any
	for c := 0; c < units/perCase; c++ {
		cases = append(cases, []any{caseOf(c * perCase), palletOf(c), storetest.Line1, "WO-BIG", at, at})
		if c%perPallet == 0 {
			pallets = append(pallets, []any{palletOf(c), "", storetest.Line1, "WO-BIG", at, at})
		}
	}
	copyRows(ctx, b, conn, "containers", []string{"sscc", "parent", "line_id", "order_id", "created_at", "updated_at"}, pallets)
	copyRows(ctx, b, conn, "containers", []string{"sscc", "parent", "line_id", "order_id", "created_at", "updated_at"}, cases)
	var ships [][]any
	for k := 0; k < shipments; k++ {
		so, dest := "SO-0", cust1
		if k%2 == 1 {
			so, dest = "SO-1", cust2
		}
		ships = append(ships, []any{"SHP-" + strconv.Itoa(k), so, site, "0", dest, supply.ShipmentShipped, at, at.Add(time.Duration(k) * time.Hour), at})
	}
	copyRows(ctx, b, conn, "shipments", []string{"id", "sales_order_id", "source_gln", "source_ext", "dest_gln", "state", "created_at", "shipped_at", "updated_at"}, ships)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"units"}, []string{"gtin", "serial", "counter", "order_id", "lot", "expiry", "state", "line_id", "parent", "last_event", "updated_at"},
		&unitRows{n: units, shipped: shipped, caseOf: caseOf, at: at})
	require.NoError(b, err)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"shipment_units"}, []string{"shipment_id", "gtin", "serial"},
		&shipRows{n: shipped, per: shipped / shipments})
	require.NoError(b, err)
	// What ConfirmShipment keeps per shipment and lot.
	var lots, lotPallets [][]any
	per := shipped / shipments
	for k := 0; k < shipments; k++ {
		lots = append(lots, []any{"SHP-" + strconv.Itoa(k), storetest.GTINSeq, "BIG1", int64(per)})
		for c := k * per / perCase; c < (k+1)*per/perCase; c += perPallet {
			lotPallets = append(lotPallets, []any{"SHP-" + strconv.Itoa(k), storetest.GTINSeq, "BIG1", palletOf(c)})
		}
	}
	copyRows(ctx, b, conn, "shipment_lots", []string{"shipment_id", "gtin", "lot", "units"}, lots)
	copyRows(ctx, b, conn, "shipment_lot_pallets", []string{"shipment_id", "gtin", "lot", "pallet"}, lotPallets)
	// A settled database: autovacuum has run since the lot was made.
	_, err = conn.Exec(ctx, "VACUUM ANALYZE")
	require.NoError(b, err)

	var rc supply.Recall
	n := 0
	for b.Loop() {
		n++
		rc, err = s.CreateRecall(ctx, supply.RecallRequest{ID: fmt.Sprintf("RC-B%d", n), GTIN: storetest.GTINSeq, Lot: "BIG1", Reason: "benchmark"})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	require.Equal(b, uint64(units), rc.Summary.Affected)
	require.Equal(b, uint64(shipped), rc.Summary.Shipped)
	require.Equal(b, uint64(units-shipped), rc.Summary.OnHold)
	require.Len(b, rc.Summary.Shipments, shipments)
	require.Len(b, rc.Summary.Shipments[0].Pallets, shipped/shipments/perCase/perPallet)
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(n), "ms/recall")
	b.ReportMetric(units, "units")

	start := time.Now()
	require.NoError(b, s.WriteRecallReport(ctx, rc.ID, io.Discard))
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "report-ms")

	start = time.Now()
	var cw countWriter
	require.NoError(b, s.WriteRecallCSV(ctx, rc.ID, &cw))
	b.ReportMetric(float64(units)/time.Since(start).Seconds(), "csv-rows/s")
	require.Greater(b, cw.n, int64(units*40))
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

func ssccOf(tb testing.TB, ref uint64) string {
	tb.Helper()
	s, err := gs1.NewSSCC(0, "0614141", ref)
	require.NoError(tb, err)
	return string(s)
}

func copyRows(ctx context.Context, tb testing.TB, conn *pgx.Conn, table string, cols []string, rows [][]any) {
	tb.Helper()
	n, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
	require.NoError(tb, err)
	require.Equal(tb, int64(len(rows)), n)
}

// benchSerial is unit i's serial: 10 digits, as the sequential scheme.
func benchSerial(i int) string { return fmt.Sprintf("%010d", i+1) }

// unitRows streams the units to COPY; the first `shipped` are shipped.
type unitRows struct {
	i, n, shipped int
	caseOf        func(int) string
	at            time.Time
	row           []any
}

func (r *unitRows) Next() bool { r.i++; return r.i <= r.n }

func (r *unitRows) Values() ([]any, error) {
	i := r.i - 1
	state := orders.StateCommissioned
	if i < r.shipped {
		state = supply.StateShipped
	}
	r.row = append(r.row[:0], storetest.GTINSeq, benchSerial(i), int64(i), "WO-BIG", "BIG1", storetest.Expiry, state, storetest.Line1, r.caseOf(i), "e"+strconv.Itoa(i), r.at)
	return r.row, nil
}

func (r *unitRows) Err() error { return nil }

// shipRows puts the first n units into shipments of per units each.
type shipRows struct{ i, n, per int }

func (r *shipRows) Next() bool { r.i++; return r.i <= r.n }

func (r *shipRows) Values() ([]any, error) {
	i := r.i - 1
	return []any{"SHP-" + strconv.Itoa(i/r.per), storetest.GTINSeq, benchSerial(i)}, nil
}

func (r *shipRows) Err() error { return nil }
