package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/jackc/pgx/v5/pgconn"
)

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

func (t sqliteTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.x.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t sqliteTx) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	r, err := t.x.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqliteRows{r}, nil
}

func (t sqliteTx) QueryFresh(ctx context.Context, q string, args ...any) (Rows, error) {
	return t.Query(ctx, q, args...)
}

func (t sqliteTx) QueryRow(ctx context.Context, q string, args ...any) Row {
	return t.x.QueryRowContext(ctx, q, args...)
}

func (t sqliteTx) ExecMany(ctx context.Context, q string, args [][]any) error {
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

func (t sqliteTx) CopyRows(ctx context.Context, table string, cols []string, rows [][]any) error {
	return t.ExecMany(ctx, insertSQL(table, cols), rows)
}

func (t sqliteTx) Dialect() Dialect { return SQLite }

func (t sqliteTx) Secrets() *SecretKeys { return t.secrets }

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

func openSQLite(path string, log *slog.Logger) (*DB, error) {
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
	return &DB{d: SQLite, log: log.With("store", "sqlite"), writer: writer, reader: reader}, nil
}

// IsUniqueViolation reports whether err is a duplicate key on either
// database.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	return false
}
