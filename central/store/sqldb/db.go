// Package sqldb is the database core of central's store: it opens SQLite
// or PostgreSQL (a pgxpool), migrates the schema, runs transactions and
// gives the domain packages one seam, Tx, to write their SQL against on
// either database. It knows nothing of products, orders or units.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is central's database: PostgreSQL in production, an embedded SQLite
// file by default. It is safe for concurrent use; several DBs (several
// central replicas) may share one PostgreSQL database.
type DB struct {
	d   Dialect
	log *slog.Logger

	// PostgreSQL
	pool   *pgxpool.Pool
	closed atomic.Bool

	// SQLite: one writer connection (SQLite has one writer at a time; a
	// single connection turns waiting on the file lock into waiting in Go)
	// and a pool of read-only connections (WAL lets them read while it writes).
	writer *sql.DB
	reader *sql.DB

	// secrets seal secrets at rest (WithSecretKeys); nil: plaintext.
	secrets *SecretKeys
}

// Option adjusts Open.
type Option func(*options)

type options struct {
	pgConns int
	secrets *SecretKeys
	// upTo stops the migrations at that version (tests of a migration);
	// 0 applies all.
	upTo  int
	hooks map[string]Hook
}

// Hook is Go code that runs right after a migration's SQL, in its
// transaction, for what SQL cannot do in both dialects.
type Hook func(ctx context.Context, tx Tx) error

// WithPostgresConns sets the size of the PostgreSQL connection pool
// (default 8).
func WithPostgresConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.pgConns = n
		}
	}
}

// WithSecretKeys has the database seal the secrets the domains write (the
// keys of randomized serial schemes) with keys; without it they are
// written in plaintext, and sealed ones cannot be read.
func WithSecretKeys(keys *SecretKeys) Option {
	return func(o *options) { o.secrets = keys }
}

// WithMigrationsUpTo stops Open's migrations at version v, so that a test
// can fill a database as an older build left it and then migrate it.
func WithMigrationsUpTo(v int) Option { return func(o *options) { o.upTo = v } }

// WithMigrationHook runs fn right after the migration named name (its
// number may change when branches merge; its name does not).
func WithMigrationHook(name string, fn Hook) Option {
	return func(o *options) {
		if o.hooks == nil {
			o.hooks = map[string]Hook{}
		}
		o.hooks[name] = fn
	}
}

// Open connects to the database named by dsn and brings its schema up to
// date. dsn is "sqlite:PATH" (a file, created if missing) or a PostgreSQL
// URL "postgres://user@host:port/db?sslmode=disable". Migrations run at
// Open inside one transaction; two processes opening the same database at
// once wait for each other (an advisory lock on PostgreSQL, BEGIN IMMEDIATE
// on SQLite), so the schema is migrated exactly once.
func Open(ctx context.Context, dsn string, log *slog.Logger, opts ...Option) (*DB, error) {
	if log == nil {
		return nil, errors.New("store: a logger is required")
	}
	o := options{pgConns: 8}
	for _, opt := range opts {
		opt(&o)
	}
	var db *DB
	var err error
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		db, err = openSQLite(strings.TrimPrefix(dsn, "sqlite:"), log)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err = openPostgres(ctx, dsn, log, o.pgConns)
	default:
		return nil, fmt.Errorf("store: dsn %q: want sqlite:PATH or a postgres:// URL", RedactDSN(dsn))
	}
	if err != nil {
		return nil, err
	}
	db.secrets = o.secrets
	if err := db.migrate(ctx, o.upTo, o.hooks); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// RedactDSN hides a password in a URL-style dsn (for messages and logs).
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Close releases the database connections.
func (db *DB) Close() {
	if db.pool != nil {
		db.closed.Store(true)
		// pgxpool's Close waits for every borrowed connection; those still
		// busy after closeWait are closed when they come back.
		done := make(chan struct{})
		go func() { db.pool.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(closeWait):
			db.log.Warn("closing with connections still in use; they close when their statements end", "waited", closeWait)
		}
	}
	if db.writer != nil {
		_ = db.writer.Close()
		_ = db.reader.Close()
	}
}

// Dialect is the database behind db.
func (db *DB) Dialect() Dialect { return db.d }

// Log is the database's logger.
func (db *DB) Log() *slog.Logger { return db.log }

// Secrets are the keys that seal secrets at rest (nil: none configured).
func (db *DB) Secrets() *SecretKeys { return db.secrets }

// Write runs fn in a read-write transaction and commits when it returns
// nil. On SQLite the transaction starts with BEGIN IMMEDIATE, so it holds
// the write lock from the start and never fails to upgrade later.
func (db *DB) Write(ctx context.Context, fn func(tx Tx) error) error {
	if db.d == Postgres {
		return db.pgWrite(ctx, fn)
	}
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(sqliteTx{x: tx, secrets: db.secrets}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Read runs fn on a connection without a transaction: for single
// statements, each of which sees a consistent snapshot.
func (db *DB) Read(ctx context.Context, fn func(q Tx) error) error {
	if db.d == Postgres {
		return db.pgRead(ctx, false, fn)
	}
	return fn(sqliteTx{x: db.reader, secrets: db.secrets})
}

// ReadTx runs fn in a read-only transaction, for reads of several
// statements that must see one snapshot.
func (db *DB) ReadTx(ctx context.Context, fn func(q Tx) error) error {
	if db.d == Postgres {
		return db.pgRead(ctx, true, fn)
	}
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(sqliteTx{x: tx, secrets: db.secrets})
}

// Now is the store's clock: UTC, to the microsecond PostgreSQL keeps.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// TS normalises a time for storage the same way.
func TS(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// NullTime turns a NULL-able column into a *time.Time.
func NullTime(n sql.NullTime) *time.Time {
	if !n.Valid {
		return nil
	}
	t := n.Time.UTC()
	return &t
}
