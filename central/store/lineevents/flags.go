package lineevents

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// The flags an applied event may carry for QA.
const (
	// FlagAfterClose: the event was made after central closed its order.
	FlagAfterClose = "after-close"
	// FlagFutureTime: the event is stamped further ahead of central's
	// clock than the configured skew allows.
	FlagFutureTime = "future-time"
	// FlagVoidedUnclean: a serial voided by the line because a crash left
	// its fate unknown (the event's note says so): the serial may be on a
	// printed pack, which QA decides about.
	FlagVoidedUnclean = "voided-unclean"
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

const flagCols = "id, event_id, line_id, order_id, flag, detail, event_at, flagged_at, disposition, disposed_by, disposed_at, note"

func scanFlag(r interface{ Scan(...any) error }) (EventFlag, error) {
	var fl EventFlag
	var disposed sql.NullTime
	err := r.Scan(&fl.ID, &fl.EventID, &fl.Line, &fl.Order, &fl.Flag, &fl.Detail, &fl.EventAt, &fl.FlaggedAt, &fl.Disposition, &fl.DisposedBy, &disposed, &fl.Note)
	fl.EventAt, fl.FlaggedAt = fl.EventAt.UTC(), fl.FlaggedAt.UTC()
	fl.DisposedAt = sqldb.NullTime(disposed)
	return fl, err
}

// flag records that e, applied in this batch, carries flag (written with
// the batch; a replayed event is flagged once).
func (a *applier) flag(e wire.Event, flag, detail string) {
	a.flags = append(a.flags, []any{e.ID, a.line, e.Order, flag, detail, sqldb.TS(e.At), a.now})
}

// flushFlags writes the batch's flags, and one audit entry per order (or
// line, for events of no order) and flag, so that the audit trail shows QA
// what was flagged.
func (a *applier) flushFlags(ctx context.Context) error {
	if len(a.flags) == 0 {
		return nil
	}
	if err := a.tx.ExecMany(ctx, `INSERT INTO event_flags (event_id, line_id, order_id, flag, detail, event_at, flagged_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id, flag) DO NOTHING`, a.flags); err != nil {
		return err
	}
	type key struct{ order, flag string }
	type flagged struct {
		Flag       string    `json:"flag"`
		Line       string    `json:"line"`
		Events     int       `json:"events"`
		FirstEvent string    `json:"first_event"`
		LastEvent  string    `json:"last_event,omitempty"`
		FirstAt    time.Time `json:"first_at"`
		LastAt     time.Time `json:"last_at,omitzero"`
		Detail     string    `json:"detail"`
	}
	groups := map[key]*flagged{}
	var order []key
	for _, row := range a.flags {
		k := key{row[2].(string), row[3].(string)}
		id, at := row[0].(string), row[5].(time.Time)
		g := groups[k]
		if g == nil {
			g = &flagged{Flag: k.flag, Line: a.line, FirstEvent: id, FirstAt: at, Detail: row[4].(string)}
			groups[k] = g
			order = append(order, k)
		} else {
			g.LastEvent, g.LastAt = id, at
		}
		g.Events++
	}
	ctx = sqldb.WithActor(ctx, "line:"+a.line)
	for _, k := range order {
		entity, id := "work_order", k.order
		if id == "" {
			entity, id = "line", a.line
		}
		if err := audit.Record(ctx, a.tx, "flag", entity, id, nil, groups[k]); err != nil {
			return err
		}
	}
	return nil
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
func (s *Records) EventFlags(ctx context.Context, f FlagFilter) ([]EventFlag, error) {
	var where sqldb.Where
	where.Eq("order_id", f.Order)
	where.Eq("line_id", f.Line)
	where.Eq("flag", f.Flag)
	if f.Open {
		where.Cond("disposition = ''")
	}
	q := "SELECT " + flagCols + " FROM event_flags" + where.SQL()
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q += " ORDER BY id LIMIT " + strconv.Itoa(limit)
	var out []EventFlag
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		var err error
		out, err = sqldb.QueryAll(ctx, db, q, where.Args(), func(r sqldb.Rows) (EventFlag, error) { return scanFlag(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("event flags: %w", err)
	}
	return out, nil
}

// The dispositions QA records for a flagged event.
const (
	// DispositionAccepted: what the event records stands (e.g. the packs
	// made after the close belong to the batch).
	DispositionAccepted = "accepted"
	// DispositionRejected: what the event records is rejected (e.g. the
	// packs are to be pulled and destroyed).
	DispositionRejected = "rejected"
)

// Dispositions lists the dispositions a flag may get.
func Dispositions() []string { return []string{DispositionAccepted, DispositionRejected} }

// maxFlagsPerDisposition bounds one DisposeFlags call.
const maxFlagsPerDisposition = 10_000

// DisposeFlags records QA's disposition and note on the flags ids, all or
// nothing: each must exist (sqldb.ErrNotFound) and have no disposition yet
// (sqldb.ErrState; a disposition is recorded once). When order is not empty,
// each flag must be of that order (sqldb.ErrNotFound otherwise). Each is audited
// under the context's actor.
func (s *Records) DisposeFlags(ctx context.Context, order string, ids []int64, disposition, note string) ([]EventFlag, error) {
	rec := "event flags"
	if len(ids) == 0 {
		return nil, sqldb.Invalid(rec, "flags", "missing; name at least one flag")
	}
	if len(ids) > maxFlagsPerDisposition {
		return nil, sqldb.Invalid(rec, "flags", "%d flags at once, at most %d", len(ids), maxFlagsPerDisposition)
	}
	if !slices.Contains(Dispositions(), disposition) {
		return nil, sqldb.Invalid(rec, "disposition", "%q is not a disposition; use %s", disposition, strings.Join(Dispositions(), " or "))
	}
	if err := check.LongText(rec, "note", note); err != nil {
		return nil, err
	}
	if strings.TrimSpace(note) == "" {
		return nil, sqldb.Invalid(rec, "note", "missing; say why (it goes into the audit trail)")
	}
	seen := make(map[int64]bool, len(ids))
	for i, id := range ids {
		if seen[id] {
			return nil, sqldb.Invalid(rec, fmt.Sprintf("flags[%d]", i), "flag %d is named twice", id)
		}
		seen[id] = true
	}
	actor := sqldb.ActorFrom(ctx)
	var out []EventFlag
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		t := sqldb.Now()
		out = out[:0]
		for _, id := range ids {
			fl, err := scanFlag(tx.QueryRow(ctx, "SELECT "+flagCols+" FROM event_flags WHERE id = $1", id))
			if sqldb.IsNoRows(err) || (err == nil && order != "" && fl.Order != order) {
				where := ""
				if order != "" {
					where = " of work order " + order
				}
				return fmt.Errorf("event flag %d%s: %w", id, where, sqldb.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("event flag %d: %w", id, err)
			}
			if fl.Disposition != "" {
				return fmt.Errorf("event flag %d: %w: it was dispositioned %s by %s at %s", id, sqldb.ErrState, fl.Disposition, fl.DisposedBy, fl.DisposedAt.Format(time.RFC3339))
			}
			n, err := tx.Exec(ctx, "UPDATE event_flags SET disposition = $2, disposed_by = $3, disposed_at = $4, note = $5 WHERE id = $1 AND disposition = ''",
				id, disposition, actor, t, note)
			if err != nil {
				return fmt.Errorf("event flag %d: %w", id, err)
			}
			if n == 0 {
				return fmt.Errorf("event flag %d: %w: it was dispositioned meanwhile", id, sqldb.ErrState)
			}
			before := fl
			fl.Disposition, fl.DisposedBy, fl.DisposedAt, fl.Note = disposition, actor, &t, note
			if err := audit.Record(ctx, tx, "disposition", "event_flag", strconv.FormatInt(id, 10), before, fl); err != nil {
				return err
			}
			out = append(out, fl)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FlagCount is how many events of an order are flagged, and how many of
// those wait for QA's disposition.
type FlagCount struct {
	Total int `json:"total"`
	Open  int `json:"open"`
}

// OrderFlagCount counts the flagged events of order.
func (s *Records) OrderFlagCount(ctx context.Context, order string) (FlagCount, error) {
	var c FlagCount
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		return q.QueryRow(ctx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN disposition = '' THEN 1 ELSE 0 END), 0) FROM event_flags WHERE order_id = $1", order).
			Scan(&c.Total, &c.Open)
	})
	if err != nil {
		return c, fmt.Errorf("event flags of work order %s: %w", order, err)
	}
	return c, nil
}
