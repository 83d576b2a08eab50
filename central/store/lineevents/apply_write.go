package lineevents

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// historyDetails is the JSON kept with each history entry.
type historyDetails struct {
	Order    string      `json:"order,omitempty"`
	Lot      string      `json:"lot,omitempty"`
	Expiry   string      `json:"expiry,omitempty"`
	Counter  *uint64     `json:"counter,omitempty"`
	Reason   wire.Reason `json:"reason,omitempty"`
	Parent   string      `json:"parent,omitempty"`
	Children []string    `json:"children,omitempty"`
	Operator string      `json:"operator,omitempty"`
}

func (a *applier) addHistory(e wire.Event, gtin, serial string, d historyDetails) {
	b, _ := json.Marshal(d) // plain strings and numbers always marshal
	a.history = append(a.history, []any{gtin, serial, e.ID, e.Seq, string(e.Type), sqldb.TS(e.At), a.line, a.inc, string(b)})
}

// flush writes the view back: bulk inserts (COPY on PostgreSQL) for new
// rows, pipelined updates for changed ones.
func (a *applier) flush(ctx context.Context, held [][]any) error {
	var newUnits, changedUnits, newConts, changedConts [][]any
	for _, u := range a.units {
		switch {
		case u.isNew:
			var counter any
			if u.counter != nil {
				counter = int64(*u.counter)
			}
			newUnits = append(newUnits, []any{u.gtin, u.serial, counter, u.order, u.lot, u.expiry, u.state, u.reason, u.line, u.parent, u.last, u.updated})
		case u.dirty:
			changedUnits = append(changedUnits, []any{u.gtin, u.serial, u.state, u.reason, u.parent, u.last, u.updated})
		}
	}
	for _, c := range a.containers {
		switch {
		case c.isNew:
			newConts = append(newConts, []any{c.sscc, c.parent, c.line, c.order, c.created, c.updated})
		case c.dirty:
			changedConts = append(changedConts, []any{c.sscc, c.parent, c.updated})
		}
	}
	steps := []struct {
		what string
		fn   func() error
	}{
		{"units", func() error {
			return a.tx.CopyRows(ctx, "units", []string{"gtin", "serial", "counter", "order_id", "lot", "expiry", "state", "reason", "line_id", "parent", "last_event", "updated_at"}, newUnits)
		}},
		{"units", func() error {
			return a.tx.ExecMany(ctx, "UPDATE units SET state = $3, reason = $4, parent = $5, last_event = $6, updated_at = $7 WHERE gtin = $1 AND serial = $2", changedUnits)
		}},
		{"unit history", func() error {
			return a.tx.CopyRows(ctx, "unit_history", []string{"gtin", "serial", "event_id", "seq", "type", "at", "line_id", "incarnation", "details"}, a.history)
		}},
		{"containers", func() error {
			return a.tx.CopyRows(ctx, "containers", []string{"sscc", "parent", "line_id", "order_id", "created_at", "updated_at"}, newConts)
		}},
		{"containers", func() error {
			return a.tx.ExecMany(ctx, "UPDATE containers SET parent = $2, updated_at = $3 WHERE sscc = $1", changedConts)
		}},
		{"returned ranges", func() error {
			return a.tx.CopyRows(ctx, "returned_ranges", []string{"gtin", "start_counter", "end_counter", "order_id", "line_id", "event_id"}, a.newReturns)
		}},
		{"work orders", func() error { return a.flushOrders(ctx) }},
		{"applied events", func() error {
			return a.tx.CopyRows(ctx, "applied_events", []string{"event_id", "line_id", "incarnation", "seq", "digest", "outcome", "applied_at"}, a.applied)
		}},
		{"dead letters", func() error {
			return a.tx.CopyRows(ctx, "dead_letters", deadLetterCols, a.deadLetter)
		}},
		{"event flags", func() error { return a.flushFlags(ctx) }},
		{"pending events", func() error {
			return a.tx.CopyRows(ctx, "pending_events", []string{"line_id", "incarnation", "seq", "event_id", "digest", "reason", "payload", "received_at"}, held)
		}},
		{"audit", func() error {
			for _, f := range a.audits {
				if err := f(); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			if a.fast && sqldb.IsUniqueViolation(err) {
				return fmt.Errorf("line %s: write %s: %w: %v", a.line, st.what, errNotNew, err)
			}
			return fmt.Errorf("line %s: write %s: %w", a.line, st.what, err)
		}
	}
	return nil
}

// flushOrders writes only what the line's events changed, so that a
// planner's concurrent change of the same order is not overwritten.
func (a *applier) flushOrders(ctx context.Context) error {
	var started, closed [][]any
	for _, o := range a.orders {
		if !o.dirty {
			continue
		}
		if o.startedAt != nil {
			started = append(started, []any{o.id, o.startedAt, a.now})
		}
		if o.counts != nil {
			b, _ := json.Marshal(o.counts)
			closed = append(closed, []any{o.id, o.closedAt, string(b), a.now})
		}
	}
	if err := a.tx.ExecMany(ctx, "UPDATE work_orders SET started_at = $2, updated_at = $3 WHERE id = $1 AND started_at IS NULL", started); err != nil {
		return err
	}
	if err := a.flushOrderCounts(ctx); err != nil {
		return err
	}
	return a.tx.ExecMany(ctx, `UPDATE work_orders SET state = 'closed', closed_at = COALESCE(closed_at, $2), reported_counts = $3, updated_at = $4
		WHERE id = $1`, closed)
}
