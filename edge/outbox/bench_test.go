package outbox

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkOutboxCommit measures durable events per second: events handed
// over as fast as they come, committed in groups (one fsync'd bbolt
// transaction per group), no broker.
func BenchmarkOutboxCommit(b *testing.B) {
	db := openDB(b, filepath.Join(b.TempDir(), "edge.db"))
	defer db.Close()
	o := openOutbox(b, db, Config{Line: "t-bench"})
	ev := unitEvent(1)
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if err := o.Append(ev); err != nil {
			b.Fatal(err)
		}
	}
	require.NoError(b, o.Flush(testCtx(b)))
	elapsed := time.Since(start)
	st := o.Stats()
	b.ReportMetric(float64(st.Events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(st.Events)/float64(max(st.Commits, 1)), "events/commit")
}

// BenchmarkOutboxCommitSync is the worst case: one event per transaction
// (each caller waits for its commit).
func BenchmarkOutboxCommitSync(b *testing.B) {
	db := openDB(b, filepath.Join(b.TempDir(), "edge.db"))
	defer db.Close()
	o := openOutbox(b, db, Config{Line: "t-bench"})
	ev := unitEvent(1)
	ctx := testCtx(b)
	for b.Loop() {
		if _, err := o.AppendSync(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
