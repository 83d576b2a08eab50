package api_test

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

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const benchUnits = 100_000

// BenchmarkUnitLookup looks random units up through the API handler
// (authentication, routing, store query with history, JSON) among 100,000
// commissioned units in SQLite, and reports the latency percentiles.
func BenchmarkUnitLookup(b *testing.B) {
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "bench"), 10*time.Minute)
	defer cancel()
	s := storetest.OpenSQLite(b, testkit.LoggerAt(b, slog.LevelInfo))
	require.NoError(b, s.PutProduct(ctx, product(gtinRand, randSpec)))
	require.NoError(b, s.PutLine(ctx, master.Line{ID: line1, Name: "Line 1"}))
	_, err := s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-B", GTIN: gtinRand, Lot: lot, Expiry: expiry, Quantity: benchUnits})
	require.NoError(b, err)
	_, err = s.ReleaseOrder(ctx, "WO-B", line1)
	require.NoError(b, err)
	g, err := s.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "bench", Line: line1, Order: "WO-B", GTIN: gtinRand, Count: benchUnits}, benchUnits)
	require.NoError(b, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(b, err)

	paths := make([]string, 0, benchUnits)
	const batch = 5000
	for start := uint64(0); start < benchUnits; start += batch {
		events := make([]wire.Event, 0, batch)
		for c := start; c < start+batch; c++ {
			sn, err := sc.Serial(nil, c)
			require.NoError(b, err)
			events = append(events, unitEvent(c+1, wire.Commissioned, "WO-B", gtinRand, string(sn), c))
			paths = append(paths, "/api/v1/units/"+gtinRand+"/"+string(sn))
		}
		res, err := s.ApplyEvents(ctx, line1, events)
		require.NoError(b, err)
		require.Equal(b, batch, res.Applied)
	}
	tok, _, err := auth.IssueToken(ctx, s, "bench", auth.RoleOperator)
	require.NoError(b, err)
	h, err := api.New(api.Deps{Store: s}, testkit.LoggerAt(b, slog.LevelInfo))
	require.NoError(b, err)

	measureLatency(b, h, tok, paths)
	b.ReportMetric(float64(benchUnits), "units")
}

// measureLatency requests random paths through h, as the token's bearer,
// back to back, and reports the latency p50 and p99 of the handler.
func measureLatency(b *testing.B, h http.Handler, tok string, paths []string) {
	measureLatencyAt(b, h, tok, paths, 0)
}

// measureLatencyAt is measureLatency at a fixed rate of requests per
// second (0: back to back). A request that could not be sent at its slot
// because the one before it was still being served is timed from its
// slot, so a slow request also counts against the ones it delayed (no
// coordinated omission); the pacing's own timer slack is not counted. It
// reports the rate reached.
func measureLatencyAt(b *testing.B, h http.Handler, tok string, paths []string, rate float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, 1<<16)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	var start, prevDone time.Time
	for b.Loop() {
		if start.IsZero() {
			start = time.Now()
		}
		from := time.Now()
		if interval > 0 {
			slot := start.Add(time.Duration(len(lat)) * interval)
			if d := time.Until(slot); d > 0 {
				time.Sleep(d) // pacing to the schedule, not synchronisation
			}
			from = time.Now()
			if prevDone.After(slot) {
				from = slot // late because the server was busy: that counts
			}
		}
		r := httptest.NewRequest(http.MethodGet, paths[rng.IntN(len(paths))], nil)
		r.Header.Set("Authorization", "Bearer "+tok)
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
	if rate > 0 {
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	}
}
