package outbox

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkOutboxCommit measures durable events per second: events handed
// over as fast as they come, committed in groups (one fsync'd bbolt
// transaction per group), no broker.
func BenchmarkOutboxCommit(b *testing.B) {
	db := testkit.OpenBolt(b, filepath.Join(b.TempDir(), "edge.db"))
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
	require.NoError(b, o.Flush(testkit.Context(b)))
	elapsed := time.Since(start)
	st := o.Stats()
	b.ReportMetric(float64(st.Events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(st.Events)/float64(max(st.Commits, 1)), "events/commit")
}

// BenchmarkOutboxCommitSync is the worst case: one event per transaction
// (each caller waits for its commit).
func BenchmarkOutboxCommitSync(b *testing.B) {
	db := testkit.OpenBolt(b, filepath.Join(b.TempDir(), "edge.db"))
	defer db.Close()
	o := openOutbox(b, db, Config{Line: "t-bench"})
	ev := unitEvent(1)
	ctx := testkit.Context(b)
	for b.Loop() {
		if _, err := o.AppendSync(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkBboltCommitCeiling is the ceiling for BenchmarkOutboxCommit:
// raw bbolt puts of an event's encoded size under sequence keys, with no
// outbox around them, one fsync'd Update per group of 1 and of 100 puts.
func BenchmarkBboltCommitCeiling(b *testing.B) {
	val, err := json.Marshal(unitEvent(1))
	require.NoError(b, err)
	for _, group := range []int{1, 100} {
		b.Run(fmt.Sprintf("group-%d", group), func(b *testing.B) {
			db := testkit.OpenBolt(b, filepath.Join(b.TempDir(), "raw.db"))
			defer db.Close()
			bucket := []byte("events")
			var seq uint64
			writes := 0
			for b.Loop() {
				err := db.Update(func(tx *bolt.Tx) error {
					bk, err := tx.CreateBucketIfNotExists(bucket)
					if err != nil {
						return err
					}
					for range group {
						seq++
						if err := bk.Put(binary.BigEndian.AppendUint64(nil, seq), val); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				writes += group
			}
			b.ReportMetric(float64(writes)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}
