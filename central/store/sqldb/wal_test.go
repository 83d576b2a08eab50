package sqldb

import (
	"database/sql"
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSetWALConcurrent: eight connections to a new SQLite file each put it
// into WAL mode (setWAL) and begin a write at once, a hundred times over;
// none fails. Switching to WAL needs the file alone for a moment and
// SQLite answers SQLITE_BUSY at once instead of waiting on busy_timeout:
// with journal_mode(WAL) among every connection's DSN pragmas instead,
// this failed about once in 25 rounds (CI saw it as "store: begin:
// database is locked" from concurrent Opens).
func TestSetWALConcurrent(t *testing.T) {
	for round := range 100 {
		u := (&url.URL{Scheme: "file", Opaque: filepath.Join(t.TempDir(), "wal.db")}).String()
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				db, err := sql.Open("sqlite", u+"?_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_txlock=immediate")
				if err != nil {
					errs[i] = err
					return
				}
				defer db.Close()
				if errs[i] = setWAL(db); errs[i] != nil {
					return
				}
				tx, err := db.Begin()
				if err != nil {
					errs[i] = err
					return
				}
				if _, errs[i] = tx.Exec("CREATE TABLE IF NOT EXISTS t (x)"); errs[i] == nil {
					errs[i] = tx.Commit()
				} else {
					_ = tx.Rollback()
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d, connection %d", round, i)
		}
	}
}
