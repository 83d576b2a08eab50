package lineevents_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const benchBatch = 500

// benchLine is a line with one released order of the randomized GTIN and a
// large grant, producing batches of commissioning events as the edge would.
type benchLine struct {
	f      storetest.Fixture
	scheme serials.Scheme
	next   uint64
	seq    uint64
}

func newBenchLine(b *testing.B, dsn string) *benchLine {
	b.Helper()
	f := storetest.NewFixture(b, dsn)
	f.OrderOf(b, "WO-B", storetest.GTINRand, storetest.Line1, 50_000_000) // grants are bounded by the order
	g, err := f.S.Grant(f.Ctx, storetest.Req("bench", storetest.Line1, "WO-B", storetest.GTINRand, 50_000_000), 50_000_000)
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
		out[i] = wire.Event{ID: fmt.Sprintf("L1:%d", l.seq), Seq: l.seq, Type: wire.Commissioned, At: storetest.T0.Add(time.Duration(l.seq) * time.Millisecond),
			Order: "WO-B", GTIN: storetest.GTINRand, Serial: string(buf), Lot: storetest.Lot, Expiry: storetest.Expiry, Counter: new(c), Operator: "ana"}
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
				res, err := l.f.S.ApplyEvents(l.f.Ctx, storetest.Line1, batch)
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
func BenchmarkCopyCeiling(b *testing.B) {
	storetest.CopyCeiling(b, storetest.GTINRand, storetest.RandSpec, storetest.AppliedRows)
}

// BenchmarkCopyCeilingUnitsOnly copies only the units rows (one per
// event), the narrower ceiling measured before; kept for comparison.
func BenchmarkCopyCeilingUnitsOnly(b *testing.B) {
	storetest.CopyCeiling(b, storetest.GTINRand, storetest.RandSpec, storetest.UnitRowsOnly)
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
				_, err := l.f.S.ApplyEvents(l.f.Ctx, storetest.Line1, batch)
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
				u, err := l.f.S.Unit(l.f.Ctx, storetest.GTINRand, sn)
				lat = append(lat, time.Since(start))
				if err != nil || u.State != orders.StateCommissioned || len(u.History) != 1 {
					b.Fatal(err)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
