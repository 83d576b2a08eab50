package store_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

func TestOpenRejectsBadDSN(t *testing.T) {
	ctx := storetest.Context(t)
	for _, dsn := range []string{"", "mysql://x", "sqlite:", "sqlite:/tmp/a?b"} {
		_, err := store.Open(ctx, dsn, testkit.Logger(t))
		require.Error(t, err, dsn)
	}
	_, err := store.Open(ctx, "postgres://u:secret@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", testkit.Logger(t))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret", "the password never shows in errors")
}

func TestMigrationsIdempotentAndConcurrent(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		ctx := storetest.Context(t)
		// Several processes starting at once: each Open migrates or waits.
		const n = 4
		stores := make([]*store.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stores[i], errs[i] = store.Open(ctx, dsn, testkit.Logger(t))
			}()
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i], "open %d", i)
			t.Cleanup(stores[i].Close)
		}
		v, err := stores[0].SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, latestMigration(t), v)

		// Opening again changes nothing and keeps the data.
		require.NoError(t, stores[1].PutLine(ctx, master.Line{ID: storetest.Line1, Name: "one"}))
		again := storetest.Open(t, dsn, testkit.Logger(t))
		v2, err := again.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, v, v2)
		l, err := again.Line(ctx, storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, "one", l.Name)
	})
}

// latestMigration is the highest NNNN of migrations/NNNN_*.sql.
func latestMigration(tb testing.TB) int {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("sqldb", "migrations", "*.sql"))
	require.NoError(tb, err)
	latest := 0
	for _, f := range files {
		num, _, ok := strings.Cut(filepath.Base(f), "_")
		require.True(tb, ok, f)
		v, err := strconv.Atoi(num)
		require.NoError(tb, err, f)
		latest = max(latest, v)
	}
	require.NotZero(tb, latest)
	return latest
}

// TestPostgresTextIsBytewise: on PostgreSQL every TEXT column of the
// schema compares bytewise (COLLATE "C"), also one that a later migration
// adds without saying so, and making it so keeps the data.
func TestPostgresTextIsBytewise(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := storetest.Context(t)
	s := storetest.Open(t, dsn, testkit.Logger(t))
	require.NoError(t, s.PutLine(ctx, master.Line{ID: storetest.Line1, Name: "one"}))

	db, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close(context.Background()) })
	notBytewise := func() []string {
		rows, err := db.Query(ctx, `SELECT c.relname || '.' || a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
			AND a.atttypid = 'text'::regtype AND a.attcollation <> (SELECT oid FROM pg_collation WHERE collname = 'C' AND collnamespace = 'pg_catalog'::regnamespace)
			ORDER BY 1`)
		require.NoError(t, err)
		cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return cols
	}
	require.Empty(t, notBytewise())

	// A column added in the database's default collation (as a future
	// migration might) is converted at the next Open, data and all.
	_, err = db.Exec(ctx, `ALTER TABLE lines ADD COLUMN note TEXT NOT NULL DEFAULT 'kept'`)
	require.NoError(t, err)
	require.Equal(t, []string{"lines.note"}, notBytewise())
	again := storetest.Open(t, dsn, testkit.Logger(t))
	require.Empty(t, notBytewise())
	l, err := again.Line(ctx, storetest.Line1)
	require.NoError(t, err)
	require.Equal(t, "one", l.Name)
	var note string
	require.NoError(t, db.QueryRow(ctx, "SELECT note FROM lines WHERE id = $1", storetest.Line1).Scan(&note))
	require.Equal(t, "kept", note)
}

// TestSQLiteConcurrentFirstOpen: several processes opening a new SQLite
// file at once all succeed (TestSetWALConcurrent tests the WAL switch
// behind it more sharply).
func TestSQLiteConcurrentFirstOpen(t *testing.T) {
	ctx := storetest.Context(t)
	for round := range 20 {
		dsn := "sqlite:" + filepath.Join(t.TempDir(), "central.db")
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				s, err := store.Open(ctx, dsn, testkit.Logger(t))
				if err == nil {
					s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d, open %d", round, i)
		}
	}
}
