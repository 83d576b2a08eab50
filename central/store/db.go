package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// dialect is the database behind a Store. The SQL is shared; only a few
// bulk operations and list parameters differ.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// inList returns the condition "is one of the values bound to $n", with
// the values passed through listArg: an array of sqlType on PostgreSQL, a
// JSON array on SQLite (which has no array type). On PostgreSQL it is a
// subquery rather than "= ANY($n)", which the planner tends to turn into a
// sequential scan testing every row against the whole array. Run it with
// queryFresh.
func (d dialect) inList(n int, sqlType string) string {
	if d == dialectPostgres {
		return "IN (SELECT unnest($" + strconv.Itoa(n) + "::" + sqlType + "[]))"
	}
	return "IN (SELECT value FROM json_each($" + strconv.Itoa(n) + "))"
}

func (d dialect) listArg(vals any) any {
	if d == dialectPostgres {
		return vals // []string or []int64: text[] or bigint[]
	}
	b, _ := json.Marshal(vals) // slices of strings and integers always marshal
	return string(b)
}

// forUpdate locks the selected rows on PostgreSQL; SQLite has one writer.
func (d dialect) forUpdate() string {
	if d == dialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// rows is the result of a query, as both drivers give it.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// dbtx runs statements on a transaction or a connection of either
// dialect. Placeholders are $1, $2, ... on both.
type dbtx interface {
	exec(ctx context.Context, sql string, args ...any) (int64, error)
	query(ctx context.Context, sql string, args ...any) (rows, error)
	// queryRow returns sql.ErrNoRows (errors.Is) when there is no row.
	queryRow(ctx context.Context, sql string, args ...any) interface{ Scan(...any) error }
	// queryFresh is query planned afresh for its arguments, for the set
	// lookups of a batch: a cached generic plan made while a table was
	// small (a new database filling up) would scan it for ever after.
	queryFresh(ctx context.Context, sql string, args ...any) (rows, error)
	// execMany runs one statement once per argument row: pipelined in one
	// round trip on PostgreSQL, a prepared statement on SQLite.
	execMany(ctx context.Context, sql string, args [][]any) error
	// copyRows inserts rows into table: COPY on PostgreSQL, a prepared
	// INSERT on SQLite. Rows must not conflict with existing keys.
	copyRows(ctx context.Context, table string, cols []string, rows [][]any) error
}

// --- SQLite (database/sql with modernc.org/sqlite) ---

type sqlExecer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

type sqliteTx struct {
	x       sqlExecer
	secrets *SecretKeys // WithSecretKeys: seals and opens secrets at rest
}

type sqliteRows struct{ *sql.Rows }

func (r sqliteRows) Close() { _ = r.Rows.Close() }

func (t sqliteTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.x.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t sqliteTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := t.x.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqliteRows{r}, nil
}

func (t sqliteTx) queryFresh(ctx context.Context, q string, args ...any) (rows, error) {
	return t.query(ctx, q, args...)
}

func (t sqliteTx) queryRow(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
	return t.x.QueryRowContext(ctx, q, args...)
}

func (t sqliteTx) execMany(ctx context.Context, q string, args [][]any) error {
	if len(args) == 0 {
		return nil
	}
	stmt, err := t.x.PrepareContext(ctx, q)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, a := range args {
		if _, err := stmt.ExecContext(ctx, a...); err != nil {
			return err
		}
	}
	return nil
}

func (t sqliteTx) copyRows(ctx context.Context, table string, cols []string, rows [][]any) error {
	return t.execMany(ctx, insertSQL(table, cols), rows)
}

func insertSQL(table string, cols []string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (")
	for i := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1))
	}
	b.WriteString(")")
	return b.String()
}

// --- PostgreSQL (jackc/pgx) ---

// pgConn is what a *pgx.Conn and a pgx.Tx both offer.
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

func (t pgTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.c.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (t pgTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	return t.c.Query(ctx, q, args...)
}

func (t pgTx) queryFresh(ctx context.Context, q string, args ...any) (rows, error) {
	// CacheDescribe sends an unnamed statement: planned with these values,
	// still one round trip once the description is cached.
	return t.c.Query(ctx, q, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
}

func (t pgTx) queryRow(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
	return t.c.QueryRow(ctx, q, args...)
}

func (t pgTx) execMany(ctx context.Context, q string, args [][]any) error {
	if len(args) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, a := range args {
		b.Queue(q, a...)
	}
	return t.c.SendBatch(ctx, &b).Close()
}

func (t pgTx) copyRows(ctx context.Context, table string, cols []string, rows [][]any) error {
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

// pgPool is a small pool of pgx connections. (pgxpool needs a module that
// is not among the project's dependencies; this is all the store needs.)
type pgPool struct {
	cfg  *pgx.ConnConfig
	slot chan struct{} // one token per open-or-opening connection

	mu     sync.Mutex
	idle   []*pgx.Conn
	closed bool
}

func newPGPool(cfg *pgx.ConnConfig, size int) *pgPool {
	return &pgPool{cfg: cfg, slot: make(chan struct{}, size)}
}

var errPoolClosed = errors.New("store is closed")

// acquire returns an idle connection or dials a new one, waiting while all
// size connections are in use.
func (p *pgPool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case p.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slot
		return nil, errPoolClosed
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosed() {
			p.mu.Unlock()
			return c, nil
		}
	}
	p.mu.Unlock()
	c, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		<-p.slot
		return nil, err
	}
	return c, nil
}

// release returns c to the pool, or closes it when it is broken or still
// inside a transaction (an error path that could not roll back).
func (p *pgPool) release(c *pgx.Conn) {
	p.mu.Lock()
	keep := !p.closed && !c.IsClosed() && c.PgConn().TxStatus() == 'I'
	if keep {
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
	if !keep {
		_ = c.Close(context.Background())
	}
	<-p.slot
}

func (p *pgPool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.Close(context.Background())
	}
}

// queryAll runs q and returns every row as scan makes it.
func queryAll[T any](ctx context.Context, db dbtx, q string, args []any, scan func(r rows) (T, error)) ([]T, error) {
	r, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []T
	for r.Next() {
		v, err := scan(r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, r.Err()
}

// lockGTINs serialises, per GTIN, the transactions that must not
// interleave: a recall and a shipment confirmation of the same product. On
// PostgreSQL (read committed) a confirmation could otherwise check its
// units against recalls before a concurrent recall commits and ship
// recalled units; the transaction-scoped advisory locks, taken in sorted
// order, make the later one see the earlier one's commit. SQLite runs one
// writer at a time already.
func lockGTINs(ctx context.Context, tx dbtx, d dialect, gtins []string) error {
	if d != dialectPostgres {
		return nil
	}
	sorted := slices.Clone(gtins)
	slices.Sort(sorted)
	for _, g := range slices.Compact(sorted) {
		h := fnv.New64a()
		h.Write([]byte("serialine/recall-ship/" + g))
		if _, err := tx.exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(h.Sum64())); err != nil {
			return fmt.Errorf("lock gtin %s: %w", g, err)
		}
	}
	return nil
}
