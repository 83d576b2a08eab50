package lineevents

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// QA's disposition of the serials of a closed order whose fate central
// never learnt: granted to a line, neither used (a unit) nor returned. That
// happens when a line lost its event store (a disk failure): the old
// store's unused serials and the events it never sent are gone with it.
// They must never be used again, and the order must reconcile, so QA
// records them voided, with the reason, in one audited transaction.

// maxVoidUnaccounted bounds one VoidUnaccounted.
const maxVoidUnaccounted = 2_000_000

// VoidedUnaccounted is what VoidUnaccounted recorded.
type VoidedUnaccounted struct {
	Order  string              `json:"order"`
	GTIN   string              `json:"gtin"`
	Count  uint64              `json:"count"`
	Ranges []wire.CounterRange `json:"ranges"`
	Reason string              `json:"reason"`
}

// VoidUnaccounted records every serial granted to the closed order that is
// neither a unit nor returned as voided (a unit row with its history,
// counted in the order's reconciliation), for reason. Central's units of
// them are then "voided": a pack found with one fails verification, and
// the serial is never granted again (it never was: counters only go up).
//
// It is long because finding the unaccounted counters (granted, not used, not returned)
// and voiding them is one transaction over the order's ranges.
func (s *Records) VoidUnaccounted(ctx context.Context, orderID, reason string) (VoidedUnaccounted, error) {
	rec := "work order " + orderID
	if err := check.Text(rec, "reason", reason, true); err != nil {
		return VoidedUnaccounted{}, err
	}
	out := VoidedUnaccounted{Order: orderID, Reason: reason, Ranges: []wire.CounterRange{}}
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		o, err := orders.GetOrder(ctx, tx, orderID, s.db.Dialect().ForUpdate())
		if err != nil {
			return err
		}
		if o.State != wire.OrderStateClosed {
			return fmt.Errorf("%s: %w: it is %s; close it first (a line's pool may still hold its serials)", rec, sqldb.ErrState, o.State)
		}
		out.GTIN = o.GTIN
		type grantRange struct {
			start, end uint64
			line       string
		}
		grants, err := sqldb.QueryAll(ctx, tx, "SELECT start_counter, end_counter, line_id FROM grant_ranges WHERE order_id = $1 ORDER BY start_counter", []any{orderID},
			func(r sqldb.Rows) (grantRange, error) {
				var g grantRange
				return g, r.Scan(&g.start, &g.end, &g.line)
			})
		if err != nil {
			return fmt.Errorf("%s: grants: %w", rec, err)
		}
		returned, err := sqldb.QueryAll(ctx, tx, "SELECT start_counter, end_counter FROM returned_ranges WHERE order_id = $1", []any{orderID},
			func(r sqldb.Rows) (counterRange, error) {
				var c counterRange
				return c, r.Scan(&c.start, &c.end)
			})
		if err != nil {
			return fmt.Errorf("%s: returned serials: %w", rec, err)
		}
		used := map[uint64]bool{}
		counters, err := sqldb.QueryAll(ctx, tx, "SELECT counter FROM units WHERE order_id = $1 AND counter IS NOT NULL", []any{orderID},
			func(r sqldb.Rows) (uint64, error) {
				var c uint64
				return c, r.Scan(&c)
			})
		if err != nil {
			return fmt.Errorf("%s: units: %w", rec, err)
		}
		for _, c := range counters {
			used[c] = true
		}
		type lost struct {
			counter uint64
			line    string
		}
		var missing []lost
		for _, g := range grants {
			for c := g.start; c < g.end; c++ {
				if used[c] || inRanges(returned, c) {
					continue
				}
				if len(missing) == maxVoidUnaccounted {
					return sqldb.Invalid(rec, "order", "more than %d serials are unaccounted: ask support, one call voids at most that many", maxVoidUnaccounted)
				}
				missing = append(missing, lost{c, g.line})
			}
		}
		if len(missing) == 0 {
			return nil
		}
		p, err := master.GetProduct(ctx, tx, o.GTIN)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		serialOf, err := counterSerials(ctx, tx, p, missing[0].counter, missing[len(missing)-1].counter+1)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		t := sqldb.Now()
		event := fmt.Sprintf("qa:void-unaccounted:%s:%d", orderID, t.UnixNano())
		details, _ := json.Marshal(struct {
			Order string `json:"order"`
			Note  string `json:"note"`
		}{orderID, reason})
		unitRows := make([][]any, 0, len(missing))
		history := make([][]any, 0, len(missing))
		for _, m := range missing {
			sn, err := serialOf(m.counter)
			if err != nil {
				return fmt.Errorf("%s: %w", rec, err)
			}
			unitRows = append(unitRows, []any{o.GTIN, sn, int64(m.counter), orderID, o.Lot, o.Expiry, orders.StateVoided, "", m.line, "", event, t})
			history = append(history, []any{o.GTIN, sn, event, int64(0), string(wire.Voided), t, m.line, string(details)})
			if n := len(out.Ranges); n > 0 && out.Ranges[n-1].End() == m.counter {
				out.Ranges[n-1].Count++
			} else {
				out.Ranges = append(out.Ranges, wire.CounterRange{Start: m.counter, Count: 1})
			}
		}
		out.Count = uint64(len(missing))
		if err := tx.CopyRows(ctx, "units", []string{"gtin", "serial", "counter", "order_id", "lot", "expiry", "state", "reason", "line_id", "parent", "last_event", "updated_at"}, unitRows); err != nil {
			return fmt.Errorf("%s: voided units: %w", rec, err)
		}
		if err := tx.CopyRows(ctx, "unit_history", []string{"gtin", "serial", "event_id", "seq", "type", "at", "line_id", "details"}, history); err != nil {
			return fmt.Errorf("%s: unit history: %w", rec, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE work_orders SET units_voided = units_voided + $2, updated_at = $3 WHERE id = $1", orderID, int64(out.Count), t); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		return audit.Record(ctx, tx, "void-unaccounted", "work_order", orderID, nil, out)
	})
	if err != nil {
		return VoidedUnaccounted{}, err
	}
	return out, nil
}

// counterSerials returns a function turning a counter of p in [from, to)
// into its serial: the product's scheme, or its imported list.
func counterSerials(ctx context.Context, q sqldb.Tx, p master.Product, from, to uint64) (func(uint64) (string, error), error) {
	if p.Scheme.Kind == serials.KindList {
		list, err := orders.ListSerials(ctx, q, p.GTIN, from, to)
		if err != nil {
			return nil, err
		}
		return func(c uint64) (string, error) { return list[c-from], nil }, nil
	}
	sch, err := serials.New(p.Scheme)
	if err != nil {
		return nil, fmt.Errorf("product %s: serial scheme: %w", p.GTIN, err)
	}
	var buf []byte
	return func(c uint64) (string, error) {
		b, err := sch.Serial(buf[:0], c)
		if err != nil {
			return "", fmt.Errorf("counter %d: %w", c, err)
		}
		buf = b
		return string(b), nil
	}, nil
}
