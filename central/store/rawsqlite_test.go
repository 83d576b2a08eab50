package store_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// openRawSQLite opens the store's file directly, as someone with file
// access would.
func openRawSQLite(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(dsn, "sqlite:"))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}
