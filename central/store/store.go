package store

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

	"github.com/jackc/pgx/v5"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotFound is wrapped when a record does not exist; the message names it.
var ErrNotFound = errors.New("not found")

// ErrConflict is wrapped when a write clashes with what is stored: a
// duplicate key, a request id reused with other parameters, a serial scheme
// that can no longer change.
var ErrConflict = errors.New("conflict")

// ErrState is wrapped when a record is not in a state that allows the
// operation, e.g. a grant for a work order that is not released.
var ErrState = errors.New("not allowed in this state")

// ErrExhausted is wrapped when a product's serial space (or imported list)
// has fewer unused serials left than asked for.
var ErrExhausted = errors.New("serial space exhausted")

// ErrInvalid is matched (errors.Is) by every *ValidationError.
var ErrInvalid = errors.New("invalid")

// ValidationError is input that breaks a rule. Record names the record
// ("product 09506000134352"), Field the field by its JSON name.
type ValidationError struct {
	Record string
	Field  string
	Rule   string
}

func (e *ValidationError) Error() string {
	return e.Record + ": " + e.Field + ": " + e.Rule
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(record, field, format string, args ...any) error {
	return &ValidationError{Record: record, Field: field, Rule: fmt.Sprintf(format, args...)}
}

// DefaultGrantCap is the largest number of serials one request may get
// when Grant is called with cap 0.
const DefaultGrantCap = 100_000

// Store is central's database: PostgreSQL in production, an embedded
// SQLite file by default. It is safe for concurrent use; several Stores
// (several central replicas) may share one PostgreSQL database.
type Store struct {
	d   dialect
	log *slog.Logger

	// PostgreSQL
	pg *pgPool

	// SQLite: one writer connection (SQLite has one writer at a time; a
	// single connection turns waiting on the file lock into waiting in Go)
	// and a pool of read-only connections (WAL lets them read while it writes).
	writer *sql.DB
	reader *sql.DB

	// skew: events stamped further ahead of the clock are flagged
	// FlagFutureTime (WithFutureSkew).
	skew time.Duration
	// secrets seal the scheme keys at rest (WithSecretKeys); nil: plaintext.
	secrets *SecretKeys

	// Units applied since Open and the count at which PostgreSQL's
	// statistics are refreshed next (see refreshStats).
	applied     atomic.Int64
	nextAnalyze atomic.Int64

	// clock is central's clock for the rules about dates (an order's
	// shelf life); WithClock sets it for tests.
	clock func() time.Time

	// fmdWindow is how long an EU FMD status update may be reversed
	// (WithFMDReversalWindow).
	fmdWindow time.Duration
}

// Option adjusts Open.
type Option func(*options)

type options struct {
	pgConns int
	clock   func() time.Time
	skew    time.Duration
	// fmdWindow: WithFMDReversalWindow.
	fmdWindow time.Duration
	// upTo stops the migrations at that version (tests of a migration);
	// 0 applies all.
	upTo int
	// secrets: WithSecretKeys.
	secrets *SecretKeys
}

// WithClock sets the clock the store judges dates by (an order's expiry
// against today and the product's shelf life); default time.Now. Record
// timestamps always come from the system clock.
func WithClock(clock func() time.Time) Option {
	return func(o *options) {
		if clock != nil {
			o.clock = clock
		}
	}
}

// DefaultFutureSkew is how far ahead of central's clock an event may be
// stamped before it is flagged FlagFutureTime.
const DefaultFutureSkew = 10 * time.Minute

// WithFutureSkew sets how far ahead of central's clock an event may be
// stamped before it is applied flagged FlagFutureTime (default
// DefaultFutureSkew; 0 keeps the default).
func WithFutureSkew(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.skew = d
		}
	}
}

// WithFMDReversalWindow sets how long after an EU FMD status update its
// reversal is accepted (default DefaultFMDReversalWindow; 0 keeps it).
func WithFMDReversalWindow(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.fmdWindow = d
		}
	}
}

// WithPostgresConns sets the size of the PostgreSQL connection pool
// (default 8).
func WithPostgresConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.pgConns = n
		}
	}
}

// Open connects to the database named by dsn and brings its schema up to
// date. dsn is "sqlite:PATH" (a file, created if missing) or a PostgreSQL
// URL "postgres://user@host:port/db?sslmode=disable". Migrations run at
// Open inside one transaction; two processes opening the same database at
// once wait for each other (an advisory lock on PostgreSQL, BEGIN IMMEDIATE
// on SQLite), so the schema is migrated exactly once.
func Open(ctx context.Context, dsn string, log *slog.Logger, opts ...Option) (*Store, error) {
	if log == nil {
		return nil, errors.New("store: a logger is required")
	}
	o := options{pgConns: 8, clock: time.Now, skew: DefaultFutureSkew, fmdWindow: DefaultFMDReversalWindow}
	for _, opt := range opts {
		opt(&o)
	}
	var s *Store
	var err error
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		s, err = openSQLite(strings.TrimPrefix(dsn, "sqlite:"), log)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err = openPostgres(ctx, dsn, log, o)
	default:
		return nil, fmt.Errorf("store: dsn %q: want sqlite:PATH or a postgres:// URL", RedactDSN(dsn))
	}
	if err != nil {
		return nil, err
	}
	s.clock, s.skew, s.fmdWindow, s.secrets = o.clock, o.skew, o.fmdWindow, o.secrets
	if err := s.migrate(ctx, o.upTo); err != nil {
		s.Close()
		return nil, err
	}
	if n, err := s.resealSecrets(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: seal the scheme keys: %w", err)
	} else if n > 0 {
		log.Info("scheme keys sealed with the current secrets key", "products", n, "key_id", s.secrets.CurrentID())
	}
	return s, nil
}

// setWAL puts the database file into WAL mode. The mode belongs to the
// file, so it is set once here rather than by every connection. Switching
// a new file needs it to itself for a moment, and SQLite answers
// SQLITE_BUSY at once, without waiting on busy_timeout, while another
// process or Open switches it too: so a busy answer is retried, for up to
// ten seconds (busy_timeout's wait).
func setWAL(db *sql.DB) error {
	wait := 5 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		var mode string
		err := db.QueryRow("PRAGMA journal_mode=WAL").Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("the file stays in %s mode", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return err
		}
		time.Sleep(wait) // backoff on another opener's lock: nothing to await
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

func openSQLite(path string, log *slog.Logger) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: sqlite: empty path in dsn")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: sqlite: path %q: '?' and '#' are not allowed", path)
	}
	// busy_timeout comes first so that the WAL switch of a concurrent Open
	// waits instead of failing. synchronous=FULL: an acked event must
	// survive a power cut, not just a crash. _time_format=sqlite writes
	// times so that text order is time order. The writer's page cache is
	// 64 MiB (SQLite's default is 2 MiB): the keys of units and
	// unit_history are random inserts, and with the default cache ingest
	// fell from 27,000 to 17,500 events/s within 5 s of growth; with 64 MiB
	// it holds about 20,000 (BenchmarkIngestSQLite, -benchtime 5s).
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_time_format=sqlite"
	u := (&url.URL{Scheme: "file", Opaque: path}).String()
	writer, err := sql.Open("sqlite", u+"?"+common+"&_pragma=synchronous(FULL)&_pragma=cache_size(-65536)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxIdleTime(0)
	if err := setWAL(writer); err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("store: sqlite %s: journal_mode WAL: %w", path, err)
	}
	reader, err := sql.Open("sqlite", u+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	reader.SetMaxOpenConns(4)
	return &Store{d: dialectSQLite, log: log.With("store", "sqlite"), writer: writer, reader: reader}, nil
}

func openPostgres(ctx context.Context, dsn string, log *slog.Logger, o options) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres dsn %q: %w", RedactDSN(dsn), err)
	}
	s := &Store{d: dialectPostgres, log: log.With("store", "postgres", "db", cfg.Database), pg: newPGPool(cfg, o.pgConns)}
	// Fail at Open, not at the first request, when the server is unreachable.
	c, err := s.pg.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: postgres %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	s.pg.release(c)
	return s, nil
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
func (s *Store) Close() {
	if s.pg != nil {
		s.pg.close()
	}
	if s.writer != nil {
		_ = s.writer.Close()
		_ = s.reader.Close()
	}
}

// Dialect returns "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.d.String() }

// write runs fn in a read-write transaction and commits when it returns
// nil. On SQLite the transaction starts with BEGIN IMMEDIATE, so it holds
// the write lock from the start and never fails to upgrade later.
func (s *Store) write(ctx context.Context, fn func(tx dbtx) error) error {
	if s.d == dialectPostgres {
		c, err := s.pg.acquire(ctx)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		defer s.pg.release(c)
		tx, err := c.Begin(ctx)
		if err != nil {
			return fmt.Errorf("store: begin: %w", err)
		}
		if err := fn(pgTx{c: tx, secrets: s.secrets}); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("store: commit: %w", err)
		}
		return nil
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(sqliteTx{x: tx, secrets: s.secrets}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// read runs fn on a connection without a transaction: for single
// statements, each of which sees a consistent snapshot.
func (s *Store) read(ctx context.Context, fn func(q dbtx) error) error {
	if s.d == dialectPostgres {
		c, err := s.pg.acquire(ctx)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		defer s.pg.release(c)
		return fn(pgTx{c: c, secrets: s.secrets})
	}
	return fn(sqliteTx{x: s.reader, secrets: s.secrets})
}

// readTx runs fn in a read-only transaction, for reads of several
// statements that must see one snapshot.
func (s *Store) readTx(ctx context.Context, fn func(q dbtx) error) error {
	if s.d == dialectPostgres {
		c, err := s.pg.acquire(ctx)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		defer s.pg.release(c)
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return fmt.Errorf("store: begin: %w", err)
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		return fn(pgTx{c: tx, secrets: s.secrets})
	}
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(sqliteTx{x: tx, secrets: s.secrets})
}

// now is the store's clock: UTC, to the microsecond PostgreSQL keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// ts normalises a time for storage the same way.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullTime turns a NULL-able column into a *time.Time.
func nullTime(n sql.NullTime) *time.Time {
	if !n.Valid {
		return nil
	}
	t := n.Time.UTC()
	return &t
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

type actorKey struct{}

// WithActor returns a context that attributes the store's writes to actor
// in the audit trail ("user:alice", "line:L1", "token:ERP"). Writes without
// an actor are attributed to "system".
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor set by WithActor, or "system".
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}
