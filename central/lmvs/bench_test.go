package lmvs_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/lmvs"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// BenchmarkLMVS verifies random packs through the LMVS responder (partner
// token check, Digital Link parsing, one read of the unit with its
// recalls and EU FMD statuses, the answer, and the verification log entry
// written before the answer goes) among 20,000 commissioned units, 1,000
// of them recalled, at a fixed 1,000 requests per second, and reports the
// latency percentiles; on PostgreSQL (the target) and SQLite. The same
// pacing as BenchmarkVerify in central/api: a request that could not
// start at its slot counts from its slot.
func BenchmarkLMVS(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) { benchLMVS(b, be.DSN(b)) })
	}
}

func benchLMVS(b *testing.B, dsn string) {
	const n = 20_000
	e := newEnv(b, dsn)
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "bench"), 10*time.Minute)
	defer cancel()
	_, err := e.s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-B", GTIN: gtin, Lot: "LOTB", Expiry: expiry, Quantity: n})
	require.NoError(b, err)
	_, err = e.s.ReleaseOrder(ctx, "WO-B", line1)
	require.NoError(b, err)
	g, err := e.s.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "bench", Line: line1, Order: "WO-B", GTIN: gtin, Count: n}, n)
	require.NoError(b, err)
	e.next = g.Ranges[0].Start
	var units []string
	for range n / 5000 {
		units = append(units, e.commission(b, "WO-B", "LOTB", expiry, 5000)...)
	}
	var recalled []string
	for i := 0; i < n; i += 20 {
		recalled = append(recalled, units[i])
	}
	_, err = e.s.CreateRecall(ctx, supply.RecallRequest{GTIN: gtin, Serials: recalled, Reason: "benchmark"})
	require.NoError(b, err)
	paths := make([]string, n)
	for i, sn := range units {
		paths[i] = dl(gtin, "LOTB", sn, expiry, e.partnerGLN, corr)
	}
	rs, err := lmvs.NewResponder(e.s, lmvs.Config{}, testkit.LoggerAt(b, slog.LevelInfo))
	require.NoError(b, err)
	h := lmvs.Route(rs, http.NotFoundHandler())

	rng := rand.New(rand.NewPCG(1, 2))
	interval := time.Second / 1000
	lat := make([]time.Duration, 0, 1<<16)
	var start, prevDone time.Time
	for b.Loop() {
		if start.IsZero() {
			start = time.Now()
		}
		slot := start.Add(time.Duration(len(lat)) * interval)
		if d := time.Until(slot); d > 0 {
			time.Sleep(d) // pacing to the schedule, not synchronisation
		}
		from := time.Now()
		if prevDone.After(slot) {
			from = slot // late because the responder was busy: that counts
		}
		r := httptest.NewRequest(http.MethodGet, paths[rng.IntN(len(paths))], nil)
		r.Header.Set("Authorization", "Bearer "+e.partnerTok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		prevDone = time.Now()
		lat = append(lat, prevDone.Sub(from))
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
}
