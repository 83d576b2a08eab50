package dbcheck

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// store is a real bbolt file shaped like the agent's (an outbox of JSON
// events keyed by seq, a pool with a bucket per order, small inline
// buckets, an overflow value, free pages), and where its pages are.
type store struct {
	path     string
	ps       int
	pages    uint64    // high-water mark
	txid     [2]uint64 // per meta page
	newer    int       // the meta page with the higher transaction
	freelist uint64
	outbox   uint64   // the outbox bucket's root page
	leaves   []uint64 // leaf pages in use
	branches []uint64 // branch pages in use
}

func makeStore(tb testing.TB) store {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), FileName)
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(tb, err)
	seq := uint64(0)
	for range 6 {
		require.NoError(tb, db.Update(func(tx *bolt.Tx) error {
			ob, err := tx.CreateBucketIfNotExists([]byte("outbox"))
			if err != nil {
				return err
			}
			for range 500 {
				seq++
				k := binary.BigEndian.AppendUint64(nil, seq)
				v := fmt.Appendf(nil, `{"v":1,"seq":%d,"type":"commissioned","line":"L1","serial":"SN%010d","order":"WO-7"}`, seq, seq)
				if err := ob.Put(k, v); err != nil {
					return err
				}
			}
			pool, err := tx.CreateBucketIfNotExists([]byte("pool"))
			if err != nil {
				return err
			}
			o, err := pool.CreateBucketIfNotExists(fmt.Appendf(nil, "WO-%d", seq))
			if err != nil {
				return err
			}
			return o.Put([]byte("reserved"), binary.BigEndian.AppendUint64(nil, seq))
		}))
	}
	require.NoError(tb, db.Update(func(tx *bolt.Tx) error {
		// Acked events are deleted (free pages); one big value overflows.
		ob := tx.Bucket([]byte("outbox"))
		for s := uint64(1); s <= 700; s++ {
			if err := ob.Delete(binary.BigEndian.AppendUint64(nil, s)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("pool")).Put([]byte("list"), bytes.Repeat([]byte("0123456789"), 1200))
	}))
	require.NoError(tb, db.Close())

	s := store{path: path}
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	require.NoError(tb, err)
	require.NoError(tb, db.View(func(tx *bolt.Tx) error {
		s.ps = db.Info().PageSize
		s.outbox = uint64(tx.Bucket([]byte("outbox")).Root())
		for id := 2; ; id++ {
			pi, err := tx.Page(id)
			if err != nil {
				return err
			}
			if pi == nil {
				s.pages = uint64(id)
				return nil
			}
			switch pi.Type {
			case "leaf":
				s.leaves = append(s.leaves, uint64(id))
			case "branch":
				s.branches = append(s.branches, uint64(id))
			case "freelist":
				s.freelist = uint64(id)
			}
			id += pi.OverflowCount
		}
	}))
	require.NoError(tb, db.Close())
	for i := range 2 {
		b := readRange(tb, path, int64(i*s.ps)+pageHeaderSize+48, 8)
		s.txid[i] = ord.Uint64(b)
	}
	if s.txid[1] > s.txid[0] {
		s.newer = 1
	}
	require.Contains(tb, s.branches, s.outbox, "the outbox spans several leaf pages")
	require.Greater(tb, s.freelist, uint64(3), "the freelist moved up the file")
	return s
}

func readRange(tb testing.TB, path string, off int64, n int) []byte {
	tb.Helper()
	f, err := os.Open(path)
	require.NoError(tb, err)
	defer f.Close()
	b := make([]byte, n)
	_, err = f.ReadAt(b, off)
	require.NoError(tb, err)
	return b
}

func writeAt(tb testing.TB, path string, off int64, b []byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(tb, err)
	_, err = f.WriteAt(b, off)
	require.NoError(tb, err)
	require.NoError(tb, f.Close())
}

func (s store) zeroPage(tb testing.TB, id uint64) {
	writeAt(tb, s.path, int64(id)*int64(s.ps), make([]byte, s.ps))
}

func fileSum(tb testing.TB, path string) [32]byte {
	tb.Helper()
	f, err := os.Open(path)
	require.NoError(tb, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(tb, err)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// logTo is a logger writing into buf.
func logTo(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
