package epcisdb

import (
	"context"
	"fmt"
	"strconv"

	"github.com/serialine/serialine/central/store/sqldb"
)

// listPage reads one keyset page of q, whose rows are ordered by position
// and which takes after as $1 (then args): at most n rows (0: all), the
// position of the last one (after when there is none) and whether more
// follow (one row past n is read to tell).
func listPage[T any](ctx context.Context, db *sqldb.DB, what, q string, args []any, after int64, n int,
	scan func(sqldb.Row) (T, error), pos func(T) int64) ([]T, int64, bool, error) {
	if n > 0 {
		q += " LIMIT " + strconv.Itoa(n+1)
	}
	var out []T
	err := db.Read(ctx, func(tx sqldb.Tx) error {
		var err error
		out, err = sqldb.QueryAll(ctx, tx, q, append([]any{after}, args...), func(r sqldb.Rows) (T, error) { return scan(r) })
		return err
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("%s: %w", what, err)
	}
	more := n > 0 && len(out) > n
	if more {
		out = out[:n]
	}
	last := after
	if len(out) > 0 {
		last = pos(out[len(out)-1])
	}
	return out, last, more, nil
}
