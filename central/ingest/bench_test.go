package ingest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const (
	benchBatch  = 500              // events per MQTT message, as the edge sends them
	benchLines  = 2                // lines publishing at once
	benchWindow = 8                // batches a line keeps unacked (its outbox in flight)
	benchWarm   = 4                // batches per line applied before the clock starts
	benchGTIN   = "00312345678913" // embeds NDC 12345-678-91
)

var benchSpec = serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetNumeric, Key: "8f1e3c5a7b9d0e2f4a6c8e0b2d4f6a8c"}

// BenchmarkIngestPostgres: unit events per second from MQTT into
// PostgreSQL, through the embedded broker, acks awaited.
func BenchmarkIngestPostgres(b *testing.B) { benchIngest(b, storetest.PostgresDSN(b)) }

// BenchmarkIngestSQLite: the same into the embedded SQLite file.
func BenchmarkIngestSQLite(b *testing.B) { benchIngest(b, storetest.SQLiteDSN(b)) }

// benchIngest has benchLines edges publish b.N batches of benchBatch
// commissioning events (randomized serials, each checked by the store
// against its grant and scheme), each line keeping up to benchWindow
// batches unacked, and waits until every event is acked.
func benchIngest(b *testing.B, dsn string) {
	log, _ := captureLogger(b)
	br := startEmbedded(b, log)
	c := newCentral(b, dsn, br, nil)
	require.NoError(b, c.st.PutProduct(c.ctx, master.Product{
		GTIN: benchGTIN, Name: "Bench tablets", CompanyPrefixLen: 7, NDC: "12345-678-91",
		Markets: []master.Market{master.MarketUSDSCSA}, Scheme: benchSpec,
	}))

	lines := make([]*benchLine, benchLines)
	for i := range lines {
		id := fmt.Sprintf("B%d%s", i, testkit.RandHex(3))
		order := "WO-" + id
		require.NoError(b, c.st.PutLine(c.ctx, master.Line{ID: id, Name: id, PasswordHash: "unused"}))
		perLine := benchWarm + (b.N+benchLines-1-i)/benchLines
		n := uint64(perLine) * benchBatch
		_, err := c.st.CreateOrder(c.ctx, orders.WorkOrder{ID: order, GTIN: benchGTIN, Lot: lot, Expiry: expiry, Quantity: n})
		require.NoError(b, err)
		_, err = c.st.ReleaseOrder(c.ctx, order, id)
		require.NoError(b, err)
		g, err := c.st.Grant(c.ctx, wire.SerialRequest{V: 1, RequestID: "bench-" + id, Line: id, Order: order, GTIN: benchGTIN, Count: n}, n)
		require.NoError(b, err)
		sc, err := serials.New(*g.Scheme)
		require.NoError(b, err)
		lines[i] = &benchLine{id: id, e: mustEdge(b, br, id)}
		// The edge's work (making serials, encoding JSON) is done before the clock starts.
		counter, seq := g.Ranges[0].Start, uint64(0)
		for range perLine {
			evs := make([]wire.Event, benchBatch)
			for j := range evs {
				seq++
				s, err := sc.Serial(nil, counter)
				require.NoError(b, err)
				cn := counter
				evs[j] = wire.Event{ID: fmt.Sprintf("%s:%d", id, seq), Seq: seq, Type: wire.Commissioned, At: t0.Add(time.Duration(seq) * time.Millisecond),
					Order: order, GTIN: benchGTIN, Serial: string(s), Lot: lot, Expiry: expiry, Counter: &cn, Operator: "ana"}
				counter++
			}
			lines[i].payloads = append(lines[i].payloads, batch(b, id, evs))
		}
	}

	// Warm up, then let PostgreSQL gather statistics as autovacuum does
	// on a running system. (On a never-analyzed units table the planner may
	// probe units by the (gtin, counter) index and filter on serial, which
	// scans every unit of the GTIN per event: reported to central/store.)
	for _, l := range lines {
		require.NoError(b, l.run(0, benchWarm))
	}
	if strings.HasPrefix(dsn, "postgres") {
		db, err := pgx.Connect(c.ctx, dsn)
		require.NoError(b, err)
		_, err = db.Exec(c.ctx, "ANALYZE")
		require.NoError(b, err)
		require.NoError(b, db.Close(c.ctx))
	}
	b.ResetTimer()
	errs := make(chan error, benchLines)
	for _, l := range lines {
		go func() { errs <- l.run(benchWarm, len(l.payloads)) }()
	}
	for range lines {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	require.Zero(b, metric(b, c.reg, `serialine_ingest_events_total{outcome="dead_letter"}`))
}

// benchLine is one line's edge with its payloads, ready to publish.
type benchLine struct {
	id       string
	e        *edge
	payloads [][]byte
}

// run publishes payloads [from, to) (payload k holds seqs k*benchBatch+1
// to (k+1)*benchBatch) keeping at most benchWindow of them unacked, as an
// edge's outbox does, and returns once the last one is acked.
func (l *benchLine) run(from, to int) error {
	topic, err := wire.Topic(l.id, wire.KindEvents)
	if err != nil {
		return err
	}
	acked := uint64(from * benchBatch)
	for k := from; k < to; k++ {
		for k >= benchWindow && acked < uint64(k-benchWindow+1)*benchBatch {
			a, err := l.nextAck()
			if err != nil {
				return err
			}
			acked = max(acked, a.Seq)
		}
		if tok := l.e.Publish(topic, 1, false, l.payloads[k]); tok.Error() != nil {
			return tok.Error()
		}
	}
	for acked < uint64(to*benchBatch) {
		a, err := l.nextAck()
		if err != nil {
			return err
		}
		acked = max(acked, a.Seq)
	}
	return nil
}

func (l *benchLine) nextAck() (wire.Ack, error) {
	select {
	case a := <-l.e.acks:
		return a, nil
	case <-time.After(waitFor):
		return wire.Ack{}, fmt.Errorf("line %s: no ack within %v", l.id, waitFor)
	}
}

// BenchmarkCopyCeilingPostgres is the ceiling for BenchmarkIngestPostgres:
// a raw pgx CopyFrom of exactly the rows an applied commissioning event
// writes (its units row, its unit_history row with the same details JSON,
// its applied_events row; same columns, values like apply's), 500 events
// per transaction, into plain tables without keys, indexes or checks, on
// one connection. Everything else apply does (the line's seq lock, the
// apply-once and unit probes, the checks, index upkeep) is what ingest
// pays above it.
func BenchmarkCopyCeilingPostgres(b *testing.B) {
	storetest.CopyCeiling(b, benchGTIN, benchSpec, storetest.AppliedRows)
}

// BenchmarkCopyCeilingUnitsOnlyPostgres is the old, narrower ceiling: the
// units rows alone (one per event), 500 per transaction, into a plain
// table. It is not what ingest writes; it is kept so the two can be
// compared.
func BenchmarkCopyCeilingUnitsOnlyPostgres(b *testing.B) {
	storetest.CopyCeiling(b, benchGTIN, benchSpec, storetest.UnitRowsOnly)
}
