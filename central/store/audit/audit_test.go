package audit_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

// TestAuditAppendOnly: the database refuses to change or remove an audit
// entry, even to someone with SQL access.
func TestAuditAppendOnly(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		require.NoError(t, s.PutLine(ctx, master.Line{ID: storetest.Line1, Name: "x"}))
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		for _, stmt := range []string{"UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", "TRUNCATE audit_log"} {
			_, err := conn.Exec(ctx, stmt)
			require.ErrorContains(t, err, "append-only", stmt)
		}
		entries, err := s.Audit(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Len(t, entries, 1)
		require.Equal(t, "user:test", entries[0].Actor)
	})
	t.Run("sqlite", func(t *testing.T) {
		dsn := storetest.SQLiteDSN(t)
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		require.NoError(t, s.PutLine(ctx, master.Line{ID: storetest.Line1, Name: "x"}))
		s.Close()
		db := storetest.OpenRawSQLite(t, dsn)
		for _, stmt := range []string{"UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"} {
			_, err := db.ExecContext(ctx, stmt)
			require.ErrorContains(t, err, "append-only", stmt)
		}
	})
}
