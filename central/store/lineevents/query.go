package lineevents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/wire"
)

// Unit is a serial that was used, as central knows it.
type Unit struct {
	GTIN    string  `json:"gtin"`
	Serial  string  `json:"serial"`
	Counter *uint64 `json:"counter,omitempty"`
	Order   string  `json:"order"`
	Lot     string  `json:"lot"`
	Expiry  string  `json:"expiry"`
	State   string  `json:"state"` // orders.StateCommissioned, orders.StateDecommissioned, orders.StateVoided
	// Reason is why it was decommissioned.
	Reason    wire.Reason `json:"reason,omitempty"`
	Line      string      `json:"line"`
	Parent    string      `json:"parent,omitempty"` // SSCC of its container
	LastEvent string      `json:"last_event"`
	UpdatedAt time.Time   `json:"updated_at"`
	// History is every event of the unit, oldest first.
	History []HistoryEntry `json:"history,omitempty"`
}

// HistoryEntry is one event in the life of a unit or container.
type HistoryEntry struct {
	EventID string          `json:"event_id"`
	Seq     uint64          `json:"seq"`
	Type    wire.EventType  `json:"type"`
	At      time.Time       `json:"at"`
	Line    string          `json:"line"`
	Details json.RawMessage `json:"details"`
}

// Unit returns the unit (gtin, serial) with its full history, oldest
// first. One statement: one snapshot, one round trip.
func (s *Records) Unit(ctx context.Context, gtin, serial string) (Unit, error) {
	var u Unit
	found := false
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.Query(ctx, `SELECT u.`+strings.ReplaceAll(unitCols, ", ", ", u.")+`,
			h.event_id, h.seq, h.type, h.at, h.line_id, h.details
			FROM units u LEFT JOIN unit_history h ON h.gtin = u.gtin AND h.serial = u.serial
			WHERE u.gtin = $1 AND u.serial = $2 ORDER BY h.at, h.seq`, gtin, serial)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var row unitRow
			var counter *int64
			var id, typ, line, details sql.NullString
			var seq sql.NullInt64
			var at sql.NullTime
			if err := r.Scan(&row.gtin, &row.serial, &counter, &row.order, &row.lot, &row.expiry, &row.state, &row.reason, &row.line,
				&row.parent, &row.last, &row.updated, &id, &seq, &typ, &at, &line, &details); err != nil {
				return err
			}
			if !found {
				found = true
				u = Unit{GTIN: row.gtin, Serial: row.serial, Order: row.order, Lot: row.lot, Expiry: row.expiry, State: row.state,
					Reason: wire.Reason(row.reason), Line: row.line, Parent: row.parent, LastEvent: row.last, UpdatedAt: row.updated.UTC()}
				if counter != nil {
					c := uint64(*counter)
					u.Counter = &c
				}
			}
			if id.Valid {
				u.History = append(u.History, HistoryEntry{EventID: id.String, Seq: uint64(seq.Int64), Type: wire.EventType(typ.String),
					At: at.Time.UTC(), Line: line.String, Details: json.RawMessage(details.String)})
			}
		}
		return r.Err()
	})
	if err == nil && !found {
		err = sqldb.ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("unit %s: %w", wire.UnitRef(gtin, serial), err)
	}
	return u, nil
}

func history(ctx context.Context, q sqldb.Tx, gtin, serial string) ([]HistoryEntry, error) {
	r, err := q.Query(ctx, "SELECT event_id, seq, type, at, line_id, details FROM unit_history WHERE gtin = $1 AND serial = $2 ORDER BY at, seq", gtin, serial)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []HistoryEntry
	for r.Next() {
		var h HistoryEntry
		var typ, details string
		if err := r.Scan(&h.EventID, &h.Seq, &typ, &h.At, &h.Line, &details); err != nil {
			return nil, err
		}
		h.Type, h.At, h.Details = wire.EventType(typ), h.At.UTC(), json.RawMessage(details)
		out = append(out, h)
	}
	return out, r.Err()
}

// Container is an SSCC-labelled case or pallet with its contents.
type Container struct {
	SSCC      string
	Parent    string // SSCC of the container it is in, "" when none
	Line      string
	Order     string
	Units     []string // children units as "(01)GTIN(21)SERIAL"
	Children  []string // children containers (SSCC)
	CreatedAt time.Time
	UpdatedAt time.Time
	History   []HistoryEntry
}

// Container returns a container with its current contents and history.
func (s *Records) Container(ctx context.Context, sscc string) (Container, error) {
	c := Container{SSCC: sscc}
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		err := q.QueryRow(ctx, "SELECT parent, line_id, order_id, created_at, updated_at FROM containers WHERE sscc = $1", sscc).
			Scan(&c.Parent, &c.Line, &c.Order, &c.CreatedAt, &c.UpdatedAt)
		if err != nil {
			return err
		}
		c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
		r, err := q.Query(ctx, "SELECT gtin, serial FROM units WHERE parent = $1 ORDER BY gtin, serial", sscc)
		if err != nil {
			return err
		}
		for r.Next() {
			var g, sn string
			if err := r.Scan(&g, &sn); err != nil {
				r.Close()
				return err
			}
			c.Units = append(c.Units, wire.UnitRef(g, sn))
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		r, err = q.Query(ctx, "SELECT sscc FROM containers WHERE parent = $1 ORDER BY sscc", sscc)
		if err != nil {
			return err
		}
		for r.Next() {
			var child string
			if err := r.Scan(&child); err != nil {
				r.Close()
				return err
			}
			c.Children = append(c.Children, child)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		c.History, err = history(ctx, q, "", sscc)
		return err
	})
	if sqldb.IsNoRows(err) {
		return c, fmt.Errorf("container %s: %w", sscc, sqldb.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("container %s: %w", sscc, err)
	}
	return c, nil
}

// UnitFilter selects units; set any combination (e.g. Order alone, or GTIN
// and Lot, or GTIN alone for a product).
type UnitFilter struct {
	Order string
	GTIN  string
	Lot   string
}

// Counts are unit counts by state.
type Counts struct {
	Commissioned   uint64
	Decommissioned map[wire.Reason]uint64
	Voided         uint64
}

// Total is the number of units counted.
func (c Counts) Total() uint64 {
	n := c.Commissioned + c.Voided
	for _, v := range c.Decommissioned {
		n += v
	}
	return n
}

// UnitCounts counts the units that match f by state (and reason).
func (s *Records) UnitCounts(ctx context.Context, f UnitFilter) (Counts, error) {
	var where []string
	var args []any
	if f.Order != "" {
		args = append(args, f.Order)
		where = append(where, "order_id = $1")
	}
	// A unit's GTIN and lot are its order's: select the orders, so that the
	// units_order index serves every filter.
	var orders []string
	for _, c := range []struct{ col, v string }{{"gtin", f.GTIN}, {"lot", f.Lot}} {
		if c.v != "" {
			args = append(args, c.v)
			orders = append(orders, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	if len(orders) > 0 {
		where = append(where, "order_id IN (SELECT id FROM work_orders WHERE "+strings.Join(orders, " AND ")+")")
	}
	if len(where) == 0 || (f.Lot != "" && f.GTIN == "") {
		return Counts{}, sqldb.Invalid("unit counts", "filter", "set an order, a GTIN, or a GTIN and lot")
	}
	var c Counts
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		c, err = countUnits(ctx, q, strings.Join(where, " AND "), args...)
		return err
	})
	if err != nil {
		return c, fmt.Errorf("unit counts: %w", err)
	}
	return c, nil
}

func countUnits(ctx context.Context, q sqldb.Tx, where string, args ...any) (Counts, error) {
	c := Counts{Decommissioned: map[wire.Reason]uint64{}}
	r, err := q.Query(ctx, "SELECT state, reason, COUNT(*) FROM units WHERE "+where+" GROUP BY state, reason", args...)
	if err != nil {
		return c, err
	}
	defer r.Close()
	for r.Next() {
		var state, reason string
		var n uint64
		if err := r.Scan(&state, &reason, &n); err != nil {
			return c, err
		}
		switch state {
		case orders.StateCommissioned, supply.StateShipped, supply.StateReturned:
			// Shipped and returned units were commissioned: the serial's fate.
			c.Commissioned += n
		case orders.StateVoided:
			c.Voided += n
		case orders.StateDecommissioned:
			c.Decommissioned[wire.Reason(reason)] += n
		}
	}
	return c, r.Err()
}

// Reconciliation accounts for every serial granted to a work order, from
// the store: Granted is the sum of its grants, and each granted serial is
// either commissioned, decommissioned (by reason), voided or returned
// unused. Difference() is what is not (yet) accounted for: serials still
// in the line's pool, or events not yet received.
func (s *Records) Reconciliation(ctx context.Context, order string) (wire.Reconciliation, error) {
	var rec wire.Reconciliation
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		if _, err := orders.GetOrder(ctx, q, order, ""); err != nil {
			return err
		}
		if err := q.QueryRow(ctx, "SELECT COALESCE(SUM(count), 0) FROM grants WHERE order_id = $1", order).Scan(&rec.Granted); err != nil {
			return err
		}
		if err := q.QueryRow(ctx, "SELECT COALESCE(SUM(end_counter - start_counter), 0) FROM returned_ranges WHERE order_id = $1", order).Scan(&rec.ReturnedUnused); err != nil {
			return err
		}
		c, err := countUnits(ctx, q, "order_id = $1", order)
		if err != nil {
			return err
		}
		rec.Commissioned, rec.Voided = c.Commissioned, c.Voided
		if len(c.Decommissioned) > 0 {
			rec.Decommissioned = c.Decommissioned
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, sqldb.ErrNotFound) {
			return rec, err
		}
		return rec, fmt.Errorf("reconciliation of work order %s: %w", order, err)
	}
	return rec, nil
}
