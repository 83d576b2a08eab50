package sqldb

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
)

// Dialect is the database behind a DB. The SQL is shared; only a few bulk
// operations and list parameters differ.
type Dialect int

// The two databases central runs on.
const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// InList returns the condition "is one of the values bound to $n", with
// the values passed through ListArg: an array of sqlType on PostgreSQL, a
// JSON array on SQLite (which has no array type). On PostgreSQL it is a
// subquery rather than "= ANY($n)", which the planner tends to turn into a
// sequential scan testing every row against the whole array. Run it with
// QueryFresh.
func (d Dialect) InList(n int, sqlType string) string {
	if d == Postgres {
		return "IN (SELECT unnest($" + strconv.Itoa(n) + "::" + sqlType + "[]))"
	}
	return "IN (SELECT value FROM json_each($" + strconv.Itoa(n) + "))"
}

// ListArg is the argument InList's placeholder takes.
func (d Dialect) ListArg(vals any) any {
	if d == Postgres {
		return vals // []string or []int64: text[] or bigint[]
	}
	b, _ := json.Marshal(vals) // slices of strings and integers always marshal
	return string(b)
}

// ForUpdate locks the selected rows on PostgreSQL; SQLite has one writer.
func (d Dialect) ForUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// Cast is placeholder $n cast to pgType on PostgreSQL, where a parameter
// in a SELECT list has no type to infer; SQLite needs no cast.
func (d Dialect) Cast(n int, pgType string) string {
	if d == Postgres {
		return "$" + strconv.Itoa(n) + "::" + pgType
	}
	return "$" + strconv.Itoa(n)
}

// Rows is the result of a query, as both drivers give it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is one row of QueryRow; Scan returns sql.ErrNoRows (errors.Is) when
// there is none.
type Row interface{ Scan(dest ...any) error }

// Tx runs statements on a transaction or a connection of either dialect.
// Placeholders are $1, $2, ... on both. It is the seam between the domain
// packages and the two drivers: the domains write SQL, never driver calls.
type Tx interface {
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
	// QueryFresh is Query planned afresh for its arguments, for the set
	// lookups of a batch: a cached generic plan made while a table was
	// small (a new database filling up) would scan it for ever after.
	QueryFresh(ctx context.Context, sql string, args ...any) (Rows, error)
	// ExecMany runs one statement once per argument row: pipelined in one
	// round trip on PostgreSQL, a prepared statement on SQLite.
	ExecMany(ctx context.Context, sql string, args [][]any) error
	// CopyRows inserts rows into table: COPY on PostgreSQL, a prepared
	// INSERT on SQLite. Rows must not conflict with existing keys.
	CopyRows(ctx context.Context, table string, cols []string, rows [][]any) error
	// Dialect is the database the statements run on.
	Dialect() Dialect
	// Secrets seal and open secrets at rest (nil: none configured).
	Secrets() *SecretKeys
}

// QueryAll runs q and returns every row as scan makes it.
func QueryAll[T any](ctx context.Context, db Tx, q string, args []any, scan func(r Rows) (T, error)) ([]T, error) {
	r, err := db.Query(ctx, q, args...)
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

// LockGTINs serialises, per GTIN, the transactions that must not
// interleave: a recall and a shipment confirmation of the same product. On
// PostgreSQL (read committed) a confirmation could otherwise check its
// units against recalls before a concurrent recall commits and ship
// recalled units; the transaction-scoped advisory locks, taken in sorted
// order, make the later one see the earlier one's commit. SQLite runs one
// writer at a time already.
func LockGTINs(ctx context.Context, tx Tx, gtins []string) error {
	if tx.Dialect() != Postgres {
		return nil
	}
	sorted := slices.Clone(gtins)
	slices.Sort(sorted)
	for _, g := range slices.Compact(sorted) {
		h := fnv.New64a()
		h.Write([]byte("serialine/recall-ship/" + g))
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(h.Sum64())); err != nil {
			return fmt.Errorf("lock gtin %s: %w", g, err)
		}
	}
	return nil
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
