// Package storetest gives the tests of central's packages a real store to
// run against: a SQLite file in the test's temporary directory, or a
// PostgreSQL database of the test's own, created for it and dropped when it
// ends, so that tests never touch other data; and CopyCeiling, the raw
// PostgreSQL COPY ceiling the store's and the ingest's benchmarks are
// measured against; and the fixture the tests of the store's domain
// packages share (NewFixture: products, lines, orders, grants and the line
// events made of them). It is for tests only; no production code imports
// it.
//
// PostgreSQL is the server at $SERIALINE_TEST_POSTGRES (a postgres:// URL
// of a database the tests may create databases from), by default
// DefaultPostgres. When it is unreachable the test fails, saying so,
// unless SERIALINE_SKIP_POSTGRES=1, which skips the PostgreSQL half.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/internal/testkit"
)

// The environment that points the tests at a PostgreSQL server.
const (
	// EnvPostgres names the variable holding the PostgreSQL server's URL.
	EnvPostgres = "SERIALINE_TEST_POSTGRES"
	// EnvSkipPostgres=1 skips the PostgreSQL half when the server is
	// unreachable, instead of failing.
	EnvSkipPostgres = "SERIALINE_SKIP_POSTGRES"
	// DefaultPostgres is the server `make test` provisions.
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// SQLiteDSN returns the DSN of a new SQLite file in tb's temporary
// directory.
func SQLiteDSN(tb testing.TB) string {
	return "sqlite:" + filepath.Join(tb.TempDir(), "central.db")
}

// PostgresDSN creates a database of tb's own on the test server, drops it
// when tb ends and returns its DSN.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		admin = DefaultPostgres
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("%s: want a postgres:// URL, got %q", EnvPostgres, admin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if os.Getenv(EnvSkipPostgres) == "1" {
			tb.Skipf("SKIPPED PostgreSQL half: %s=1 and %s is unreachable: %v", EnvSkipPostgres, u.Redacted(), err)
		}
		tb.Fatalf("PostgreSQL is not reachable at %s (set %s to another server, or %s=1 to skip these tests; `make test` starts it): %v",
			u.Redacted(), EnvPostgres, EnvSkipPostgres, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "serialine_test_" + hex.EncodeToString(b[:])
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(tb, err, "create test database %s", name)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	// Only the database changes: user, host and parameters stay the admin's.
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

// Backend is a kind of database the store runs on.
type Backend struct {
	Name string                  // "sqlite" or "postgres", for t.Run
	DSN  func(testing.TB) string // a fresh, empty database for the test
}

// Backends lists SQLite and PostgreSQL, for tests and benchmarks that run
// on both. Each DSN is made inside the subtest, so that skipping
// PostgreSQL skips only its half.
func Backends() []Backend {
	return []Backend{{"sqlite", SQLiteDSN}, {"postgres", PostgresDSN}}
}

// ForEachBackend runs fn as a subtest on each of Backends, with the DSN of
// a fresh database.
func ForEachBackend(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.DSN(t)) })
	}
}

// Open opens (and migrates) the store at dsn and closes it when tb ends.
func Open(tb testing.TB, dsn string, log *slog.Logger, opts ...store.Option) *store.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, dsn, log, opts...)
	require.NoError(tb, err, "open store")
	tb.Cleanup(s.Close)
	return s
}

// OpenSQLite opens a store on a new SQLite file in tb's temporary
// directory and closes it when tb ends.
func OpenSQLite(tb testing.TB, log *slog.Logger) *store.Store {
	tb.Helper()
	return Open(tb, SQLiteDSN(tb), log)
}

// Context returns testkit.Context attributing the store's writes to
// "user:test" in the audit trail.
func Context(tb testing.TB) context.Context {
	return sqldb.WithActor(testkit.Context(tb), "user:test")
}
