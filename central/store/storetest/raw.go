package storetest

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// OpenRawSQLite opens the store's file directly, as someone with file
// access would.
func OpenRawSQLite(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(dsn, "sqlite:"))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// RawExec runs statements (the SQL, then its arguments) on the database at
// dsn directly, as an older build would have written it.
func RawExec(tb testing.TB, dsn string, stmts ...[]any) {
	tb.Helper()
	ctx := Context(tb)
	if strings.HasPrefix(dsn, "sqlite:") {
		db := OpenRawSQLite(tb, dsn)
		for _, s := range stmts {
			_, err := db.ExecContext(ctx, s[0].(string), s[1:]...)
			require.NoError(tb, err, s[0])
		}
		return
	}
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(tb, err)
	defer conn.Close(context.Background())
	for _, s := range stmts {
		_, err := conn.Exec(ctx, s[0].(string), s[1:]...)
		require.NoError(tb, err, s[0])
	}
}
