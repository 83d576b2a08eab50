package storetest_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

// TestPostgresDSN: the test gets a database of its own, on the admin's
// server with the admin's parameters, and it is gone after the test. The
// admin URL may come without a query string.
func TestPostgresDSN(t *testing.T) {
	admin := storetest.DefaultPostgres
	if a := os.Getenv(storetest.EnvPostgres); a != "" {
		admin = a
	}
	for _, tc := range []struct{ name, admin string }{
		{"as configured", admin},
		{"without query", strings.SplitN(admin, "?", 2)[0]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(storetest.EnvPostgres, tc.admin)
			var name string
			t.Run("inner", func(t *testing.T) {
				dsn := storetest.PostgresDSN(t)
				require.True(t, strings.HasPrefix(dsn, "postgres"), dsn)
				conn := connect(t, dsn)
				require.NoError(t, conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&name))
				require.True(t, strings.HasPrefix(name, "serialine_test_"), name)
				s := storetest.Open(t, dsn, testkit.Discard())
				v, err := s.SchemaVersion(context.Background())
				require.NoError(t, err)
				require.Positive(t, v)
			})
			if t.Failed() || name == "" {
				return // skipped (SERIALINE_SKIP_POSTGRES=1) or failed already
			}
			var n int
			require.NoError(t, connect(t, tc.admin).QueryRow(context.Background(),
				"SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n))
			require.Zero(t, n, "database %s not dropped at cleanup", name)
		})
	}
}

func TestOpenSQLiteIsFresh(t *testing.T) {
	a, b := storetest.SQLiteDSN(t), storetest.SQLiteDSN(t)
	require.NotEqual(t, a, b)
	s := storetest.OpenSQLite(t, testkit.Discard())
	lines, err := s.Lines(context.Background())
	require.NoError(t, err)
	require.Empty(t, lines)
}

func TestBackends(t *testing.T) {
	var names []string
	for _, b := range storetest.Backends() {
		names = append(names, b.Name)
		require.NotNil(t, b.DSN, b.Name)
	}
	require.Equal(t, []string{"sqlite", "postgres"}, names)
}

func connect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}
