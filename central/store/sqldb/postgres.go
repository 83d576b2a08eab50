package sqldb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgConn is what a pooled connection and a pgx.Tx both offer.
type pgConn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
}

type pgTx struct {
	c       pgConn
	secrets *SecretKeys // WithSecretKeys: seals and opens secrets at rest
}

func (t pgTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.c.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (t pgTx) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	return t.c.Query(ctx, q, args...)
}

func (t pgTx) QueryFresh(ctx context.Context, q string, args ...any) (Rows, error) {
	// CacheDescribe sends an unnamed statement: planned with these values,
	// still one round trip once the description is cached.
	return t.c.Query(ctx, q, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
}

func (t pgTx) QueryRow(ctx context.Context, q string, args ...any) Row {
	return t.c.QueryRow(ctx, q, args...)
}

func (t pgTx) ExecMany(ctx context.Context, q string, args [][]any) error {
	if len(args) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, a := range args {
		b.Queue(q, a...)
	}
	return t.c.SendBatch(ctx, &b).Close()
}

func (t pgTx) CopyRows(ctx context.Context, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	n, err := t.c.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
	if err != nil {
		return err
	}
	if n != int64(len(rows)) {
		return fmt.Errorf("copy into %s: %d of %d rows written", table, n, len(rows))
	}
	return nil
}

func (t pgTx) Dialect() Dialect { return Postgres }

func (t pgTx) Secrets() *SecretKeys { return t.secrets }

// openPostgres opens a pgxpool of conns connections and dials one, so that
// an unreachable server fails Open rather than the first request.
func openPostgres(ctx context.Context, dsn string, log *slog.Logger, conns int) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres dsn %q: %w", RedactDSN(dsn), err)
	}
	cfg.MaxConns = int32(conns)
	// A connection is pinged before use only after a long idle spell: the
	// verification answers are built to take one round trip, and a
	// connection broken meanwhile fails its query as it always did.
	cfg.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool { return p.IdleDuration > idleBeforePing }
	if cfg.MaxConnLifetimeJitter == 0 {
		// Connections opened together (at start) are not all re-dialled,
		// losing their prepared statements, in the same moment.
		cfg.MaxConnLifetimeJitter = cfg.MaxConnLifetime / 4
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres %s: %w", where, err)
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres %s: %w", where, err)
	}
	c.Release()
	return &DB{d: Postgres, log: log.With("store", "postgres", "db", cfg.ConnConfig.Database), pool: pool}, nil
}

// idleBeforePing is how long a pooled connection may sit unused before it
// is pinged on its next use.
const idleBeforePing = time.Minute

// closeWait bounds how long Close waits for connections still in use (a
// statement waiting for a lock): shutdown must not hang on them.
const closeWait = 5 * time.Second

// errClosed is returned once Close has been called.
var errClosed = errors.New("store is closed")

// acquire takes a pooled connection.
func (db *DB) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		if db.closed.Load() {
			return nil, errClosed
		}
		return nil, fmt.Errorf("store: %w", err)
	}
	return c, nil
}

// pgWrite is DB.Write on PostgreSQL.
func (db *DB) pgWrite(ctx context.Context, fn func(tx Tx) error) error {
	c, err := db.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	tx, err := c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(pgTx{c: tx, secrets: db.secrets}); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// pgRead is DB.Read and DB.ReadTx on PostgreSQL.
func (db *DB) pgRead(ctx context.Context, inTx bool, fn func(q Tx) error) error {
	c, err := db.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	if !inTx {
		return fn(pgTx{c: c, secrets: db.secrets})
	}
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	return fn(pgTx{c: tx, secrets: db.secrets})
}

// Conn lends fn a PostgreSQL connection of the pool for what Tx cannot
// say: a pipeline of BEGIN … COMMIT, or a batch of unrelated queries in one
// round trip. It returns ErrNotPostgres on SQLite.
func (db *DB) Conn(ctx context.Context, fn func(c *pgxpool.Conn) error) error {
	if db.d != Postgres {
		return ErrNotPostgres
	}
	c, err := db.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return fn(c)
}

// ErrNotPostgres is returned by Conn on SQLite.
var ErrNotPostgres = errors.New("store: not a PostgreSQL database")
