package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/shared/wire"
)

// The flags an applied event may carry for QA.
const (
	// FlagAfterClose: the event was made after central closed its order.
	FlagAfterClose = "after-close"
	// FlagFutureTime: the event is stamped further ahead of central's
	// clock than the configured skew allows.
	FlagFutureTime = "future-time"
)

// EventFlag is an applied event flagged for QA: recorded like every event,
// listed until QA records a disposition.
type EventFlag struct {
	ID          int64      `json:"id"`
	EventID     string     `json:"event_id"`
	Line        string     `json:"line"`
	Order       string     `json:"order,omitempty"`
	Flag        string     `json:"flag"`
	Detail      string     `json:"detail,omitempty"`
	EventAt     time.Time  `json:"event_at"`
	FlaggedAt   time.Time  `json:"flagged_at"`
	Disposition string     `json:"disposition,omitempty"`
	DisposedBy  string     `json:"disposed_by,omitempty"`
	DisposedAt  *time.Time `json:"disposed_at,omitempty"`
	Note        string     `json:"note,omitempty"`
}

// flag records that e, applied in this batch, carries flag (written with
// the batch; a replayed event is flagged once).
func (a *applier) flag(e wire.Event, flag, detail string) {
	a.flags = append(a.flags, []any{e.ID, a.line, e.Order, flag, detail, ts(e.At), a.now})
}

// flushFlags writes the batch's flags.
func (a *applier) flushFlags(ctx context.Context) error {
	return a.tx.execMany(ctx, `INSERT INTO event_flags (event_id, line_id, order_id, flag, detail, event_at, flagged_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id, flag) DO NOTHING`, a.flags)
}

// FlagFilter selects event flags; zero fields select everything.
type FlagFilter struct {
	Order string
	Line  string
	Flag  string
	// Open selects only the flags without a disposition.
	Open  bool
	Limit int // 0: 1,000
}

// EventFlags lists flagged events, oldest first.
func (s *Store) EventFlags(ctx context.Context, f FlagFilter) ([]EventFlag, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"order_id", f.Order}, {"line_id", f.Line}, {"flag", f.Flag}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	if f.Open {
		where = append(where, "disposition = ''")
	}
	q := `SELECT id, event_id, line_id, order_id, flag, detail, event_at, flagged_at, disposition, disposed_by, disposed_at, note FROM event_flags`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q += " ORDER BY id LIMIT " + strconv.Itoa(limit)
	var out []EventFlag
	err := s.read(ctx, func(db dbtx) error {
		var err error
		out, err = queryAll(ctx, db, q, args, func(r rows) (EventFlag, error) {
			var fl EventFlag
			var disposed sql.NullTime
			err := r.Scan(&fl.ID, &fl.EventID, &fl.Line, &fl.Order, &fl.Flag, &fl.Detail, &fl.EventAt, &fl.FlaggedAt, &fl.Disposition, &fl.DisposedBy, &disposed, &fl.Note)
			fl.EventAt, fl.FlaggedAt = fl.EventAt.UTC(), fl.FlaggedAt.UTC()
			fl.DisposedAt = nullTime(disposed)
			return fl, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("event flags: %w", err)
	}
	return out, nil
}
