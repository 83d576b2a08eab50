package pool

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// BenchmarkTake is the hot path: the next serial, with Run keeping the
// reservation ahead. No I/O; no allocation with a sequential scheme (the
// randomized scheme's cipher allocates a 32-byte scratch block per serial,
// in shared/serials). Stalls count the Takes that waited for a reservation
// write: a tight loop takes serials a thousand times faster than a line.
func BenchmarkTake(b *testing.B) {
	for _, spec := range []serials.Spec{
		*seqSpec(),
		{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetNumeric, Key: "000102030405060708090a0b0c0d0e0f"},
	} {
		b.Run(string(spec.Kind), func(b *testing.B) {
			db := testkit.OpenBolt(b, dbPath(b))
			defer db.Close()
			p, _ := openPool(b, db, Config{ReserveBlock: MaxReserveBlock})
			require.NoError(b, p.AddOrder(testOrder("WO-1")))
			require.NoError(b, p.Activate("WO-1"))
			r, err := p.RequestNow(context.Background(), "WO-1", newRecorder())
			require.NoError(b, err)
			require.NoError(b, p.ApplyGrant(grant(r.RequestID, "WO-1", &spec, wire.CounterRange{Start: 0, Count: 1 << 33})))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go p.Run(ctx, newRecorder())
			buf := make([]byte, 0, 32)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				var err error
				_, buf, err = p.Take(buf[:0])
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(p.Stalls()), "stalls")
		})
	}
}

// BenchmarkPoolMemory measures the memory a pool of 1,000,000 serials
// holds: as counter ranges (sequential or randomized schemes: a few bytes)
// and as an imported list (the serials themselves, back to back). The heap
// is measured once, around the grant; the timed loop takes serials from the
// full pool.
func BenchmarkPoolMemory(b *testing.B) {
	for _, kind := range []string{"ranges", "list"} {
		b.Run(kind, func(b *testing.B) {
			const n = 1_000_000
			var list []string
			spec := seqSpec()
			ranges := []wire.CounterRange{{Start: 0, Count: n / 4}, {Start: n, Count: n / 4}, {Start: 3 * n, Count: n / 2}}
			if kind == "list" {
				spec = &serials.Spec{Kind: serials.KindList}
				ranges = []wire.CounterRange{{Start: 0, Count: n}}
				list = make([]string, n)
				for i := range list {
					list[i] = "L" + strconv.Itoa(100_000_000+i)
				}
			}
			db := testkit.OpenBolt(b, dbPath(b))
			defer db.Close()
			p, _ := openPool(b, db, Config{ReserveBlock: MaxReserveBlock})
			require.NoError(b, p.AddOrder(testOrder("WO-1")))
			require.NoError(b, p.Activate("WO-1"))
			r, err := p.RequestNow(context.Background(), "WO-1", newRecorder())
			require.NoError(b, err)
			g := grant(r.RequestID, "WO-1", spec, ranges...)
			g.Serials = list
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			require.NoError(b, p.ApplyGrant(g))
			runtime.GC()
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(g.Serials) // the input is not the pool's: keep it out of the difference
			g.Serials, list = nil, nil
			l, err := p.Level("WO-1")
			require.NoError(b, err)
			require.Equal(b, uint64(n), l.Available)
			heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
			rss := float64(rssBytes()) / (1 << 20)
			buf := make([]byte, 0, 32)
			taken := 0
			b.ResetTimer()
			for b.Loop() {
				if taken == n { // start over on the same pool (test-only rewind)
					b.StopTimer()
					p.mu.Lock()
					p.active.next = 0
					p.mu.Unlock()
					taken = 0
					b.StartTimer()
				}
				if _, buf, err = p.Take(buf[:0]); err != nil {
					b.Fatal(err)
				}
				taken++
			}
			b.ReportMetric(heap, "pool-heap-MB")
			b.ReportMetric(rss, "process-rss-MB")
		})
	}
}

// rssBytes reads the process's resident set size (Linux), 0 elsewhere.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
