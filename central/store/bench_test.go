package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const benchBatch = 500

// benchLine is a line with one released order of the randomized GTIN and a
// large grant, producing batches of commissioning events as the edge would.
type benchLine struct {
	f      fixture
	scheme serials.Scheme
	next   uint64
	seq    uint64
}

func newBenchLine(b *testing.B, dsn string) *benchLine {
	b.Helper()
	f := newFixture(b, dsn)
	f.order(b, "WO-B", gtinRand, line1)
	g, err := f.s.Grant(f.ctx, req("bench", line1, "WO-B", gtinRand, 50_000_000), 50_000_000)
	require.NoError(b, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(b, err)
	return &benchLine{f: f, scheme: sc}
}

func (l *benchLine) batch(b *testing.B, n int) []wire.Event {
	out := make([]wire.Event, n)
	var buf []byte
	for i := range out {
		l.seq++
		c := l.next
		l.next++
		var err error
		buf, err = l.scheme.Serial(buf[:0], c)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = wire.Event{ID: fmt.Sprintf("L1:%d", l.seq), Seq: l.seq, Type: wire.Commissioned, At: t0.Add(time.Duration(l.seq) * time.Millisecond),
			Order: "WO-B", GTIN: gtinRand, Serial: string(buf), Lot: lot, Expiry: expiry, Counter: ptr(c), Operator: "ana"}
	}
	return out
}

// BenchmarkApplyEvents applies batches of 500 commissioning events
// (randomized serials, each checked against its grant and scheme) and
// reports unit events per second.
func BenchmarkApplyEvents(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			l := newBenchLine(b, be.DSN(b))
			events := 0
			for b.Loop() {
				b.StopTimer()
				batch := l.batch(b, benchBatch)
				b.StartTimer()
				res, err := l.f.s.ApplyEvents(l.f.ctx, line1, batch)
				if err != nil || res.Applied != benchBatch {
					b.Fatalf("%v %+v", err, res)
				}
				events += benchBatch
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkCopyCeiling is the ceiling for BenchmarkApplyEvents on
// PostgreSQL: a raw pgx CopyFrom of exactly the rows an applied
// commissioning event writes (units, unit_history with its details JSON,
// applied_events; same columns, values like apply's), 500 events per
// transaction, into plain tables without keys, indexes or checks. It
// reports events (three rows each) per second.
func BenchmarkCopyCeiling(b *testing.B) { benchCopy(b, ceilingTables) }

// BenchmarkCopyCeilingUnitsOnly copies only the units rows (one per
// event), the narrower ceiling measured before; kept for comparison.
func BenchmarkCopyCeilingUnitsOnly(b *testing.B) { benchCopy(b, ceilingTables[:1]) }

// ceilingTable is a plain copy of a table apply writes, and the row one
// applied commissioning event (with counter c) puts into it.
type ceilingTable struct {
	name, ddl string
	cols      []string
	row       func(c uint64, serial string, at time.Time) []any
}

var ceilingTables = []ceilingTable{
	{
		name: "plain_units",
		ddl: `CREATE TABLE plain_units (gtin TEXT, serial TEXT, counter BIGINT, order_id TEXT, lot TEXT, expiry TEXT,
			state TEXT, reason TEXT, line_id TEXT, parent TEXT, last_event TEXT, updated_at TIMESTAMPTZ)`,
		cols: []string{"gtin", "serial", "counter", "order_id", "lot", "expiry", "state", "reason", "line_id", "parent", "last_event", "updated_at"},
		row: func(c uint64, serial string, _ time.Time) []any {
			return []any{gtinRand, serial, int64(c), "WO-B", lot, expiry, "commissioned", "", line1, "", fmt.Sprintf("L1:%d", c+1), t0}
		},
	},
	{
		name: "plain_unit_history",
		ddl: `CREATE TABLE plain_unit_history (gtin TEXT, serial TEXT, event_id TEXT, seq BIGINT, type TEXT, at TIMESTAMPTZ,
			line_id TEXT, details JSONB)`,
		cols: []string{"gtin", "serial", "event_id", "seq", "type", "at", "line_id", "details"},
		row: func(c uint64, serial string, _ time.Time) []any {
			details := fmt.Sprintf(`{"order":"WO-B","lot":%q,"expiry":%q,"counter":%d,"operator":"ana"}`, lot, expiry, c)
			return []any{gtinRand, serial, fmt.Sprintf("L1:%d", c+1), int64(c + 1), string(wire.Commissioned), t0, line1, details}
		},
	},
	{
		name: "plain_applied_events",
		ddl:  `CREATE TABLE plain_applied_events (event_id TEXT, line_id TEXT, seq BIGINT, outcome TEXT, applied_at TIMESTAMPTZ)`,
		cols: []string{"event_id", "line_id", "seq", "outcome", "applied_at"},
		row: func(c uint64, _ string, at time.Time) []any {
			return []any{fmt.Sprintf("L1:%d", c+1), line1, int64(c + 1), "applied", at}
		},
	},
}

func benchCopy(b *testing.B, tables []ceilingTable) {
	dsn := storetest.PostgresDSN(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(b, err)
	b.Cleanup(func() { conn.Close(context.Background()) })
	for _, t := range tables {
		_, err = conn.Exec(ctx, t.ddl)
		require.NoError(b, err)
	}
	sc, err := serials.New(randSpec)
	require.NoError(b, err)
	var next uint64
	events := 0
	for b.Loop() {
		b.StopTimer()
		batch := make([][][]any, len(tables))
		at := time.Now().UTC().Truncate(time.Microsecond)
		for range benchBatch {
			s, err := sc.Serial(nil, next)
			require.NoError(b, err)
			for i, t := range tables {
				batch[i] = append(batch[i], t.row(next, string(s), at))
			}
			next++
		}
		b.StartTimer()
		tx, err := conn.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for i, t := range tables {
			n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromRows(batch[i]))
			if err != nil || n != benchBatch {
				b.Fatal(t.name, n, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		events += benchBatch
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkGrant500k grants 500,000 serials per request.
func BenchmarkGrant500k(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			f := newFixture(b, be.DSN(b))
			f.order(b, "WO-1", gtinRand, line1)
			i := 0
			for b.Loop() {
				i++
				g, err := f.s.Grant(f.ctx, req(fmt.Sprintf("r%d", i), line1, "WO-1", gtinRand, 500_000), 500_000)
				if err != nil || g.Count() != 500_000 {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(i), "ms/500k")
		})
	}
}

// BenchmarkUnitLookup looks units up with their history among 20,000 and
// reports the latency percentiles.
func BenchmarkUnitLookup(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			l := newBenchLine(b, be.DSN(b))
			var serialsUsed []string
			for range 40 {
				batch := l.batch(b, benchBatch)
				_, err := l.f.s.ApplyEvents(l.f.ctx, line1, batch)
				require.NoError(b, err)
				for _, e := range batch {
					serialsUsed = append(serialsUsed, e.Serial)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var lat []time.Duration
			for b.Loop() {
				sn := serialsUsed[rng.IntN(len(serialsUsed))]
				start := time.Now()
				u, err := l.f.s.Unit(l.f.ctx, gtinRand, sn)
				lat = append(lat, time.Since(start))
				if err != nil || u.State != store.StateCommissioned || len(u.History) != 1 {
					b.Fatal(err)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
