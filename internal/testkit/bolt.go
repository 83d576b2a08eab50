package testkit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// OpenBolt opens (creating it) the bbolt file at path. The timeout turns a
// file still locked by an edge that was not closed into a failure instead of
// a hang. The caller closes it.
func OpenBolt(tb testing.TB, path string) *bolt.DB {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	require.NoError(tb, err)
	return db
}
