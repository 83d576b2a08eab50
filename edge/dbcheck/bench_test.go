package dbcheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkOpen measures the check at start (every page, then bbolt's
// own check) on a store of 200,000 outbox events (about 30 MB), far more
// than an agent keeps unacknowledged.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	require.NoError(b, err)
	for n := range 20 {
		require.NoError(b, db.Update(func(tx *bolt.Tx) error {
			ob, err := tx.CreateBucketIfNotExists([]byte("outbox"))
			if err != nil {
				return err
			}
			for i := range 10_000 {
				seq := uint64(n*10_000 + i + 1)
				v := fmt.Appendf(nil, `{"v":1,"seq":%d,"type":"commissioned","line":"L1","serial":"SN%010d","order":"WO-7","at":"2026-01-01T00:00:00Z"}`, seq, seq)
				if err := ob.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.NoError(b, db.Close())
	rep, err := Check(path, 0)
	require.NoError(b, err)
	b.Run("pages", func(b *testing.B) { // the page walk alone
		for b.Loop() {
			_, err := Check(path, 0)
			require.NoError(b, err)
		}
		b.ReportMetric(float64(rep.Pages), "pages")
	})
	b.Run("open", func(b *testing.B) { // the walk, bbolt's open and check
		for b.Loop() {
			db, err := Open(path, Options{}, logTo(new(bytes.Buffer)))
			require.NoError(b, err)
			require.NoError(b, db.Close())
		}
		b.ReportMetric(float64(rep.Pages), "pages")
	})
}
