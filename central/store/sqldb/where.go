package sqldb

import (
	"strconv"
	"strings"
)

// Where builds the WHERE clause of a list query from optional filters: each
// condition is added with its one argument, written with ? and numbered $n
// in order, which both PostgreSQL and SQLite read.
type Where struct {
	conds []string
	args  []any
}

// Add appends cond (one ?) with its argument v.
func (w *Where) Add(cond string, v any) {
	w.args = append(w.args, v)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(w.args))))
}

// Eq appends "col = ?" with v, when v is not empty (a filter left out).
func (w *Where) Eq(col, v string) {
	if v != "" {
		w.Add(col+" = ?", v)
	}
}

// Cond appends a condition without an argument.
func (w *Where) Cond(cond string) { w.conds = append(w.conds, cond) }

// SQL is " WHERE c1 AND c2 …", or "" when nothing was added.
func (w *Where) SQL() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Args are the arguments of the conditions, in order.
func (w *Where) Args() []any { return w.args }
