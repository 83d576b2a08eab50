package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// WorkOrder is a production order: Quantity packs of a product's lot,
// released to one line.
type WorkOrder struct {
	ID       string          `json:"id"`
	GTIN     string          `json:"gtin"`
	Lot      string          `json:"lot"`
	Expiry   string          `json:"expiry"` // YYMMDD
	Quantity uint64          `json:"quantity"`
	Line     string          `json:"line,omitempty"` // set by ReleaseOrder
	State    wire.OrderState `json:"state"`
	// ReportedCounts is the line's own reconciliation, from its
	// order-closed event; compare it with Store.Reconciliation.
	ReportedCounts *wire.Reconciliation `json:"reported_counts,omitempty"`
	CreatedAt      time.Time            `json:"created_at,omitzero"`
	ReleasedAt     *time.Time           `json:"released_at,omitempty"`
	StartedAt      *time.Time           `json:"started_at,omitempty"`
	ClosedAt       *time.Time           `json:"closed_at,omitempty"`
	UpdatedAt      time.Time            `json:"updated_at,omitzero"`
}

const orderCols = "id, gtin, lot, expiry, quantity, line_id, state, reported_counts, created_at, released_at, started_at, closed_at, updated_at"

func scanOrder(r interface{ Scan(...any) error }) (WorkOrder, error) {
	var o WorkOrder
	var line, counts sql.NullString
	var released, started, closed sql.NullTime
	var state string
	err := r.Scan(&o.ID, &o.GTIN, &o.Lot, &o.Expiry, &o.Quantity, &line, &state, &counts, &o.CreatedAt, &released, &started, &closed, &o.UpdatedAt)
	if err != nil {
		return o, err
	}
	o.Line, o.State = line.String, wire.OrderState(state)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	o.ReleasedAt, o.StartedAt, o.ClosedAt = nullTime(released), nullTime(started), nullTime(closed)
	if counts.Valid {
		o.ReportedCounts = new(wire.Reconciliation)
		if err := json.Unmarshal([]byte(counts.String), o.ReportedCounts); err != nil {
			return o, fmt.Errorf("work order %s: reported_counts: %w", o.ID, err)
		}
	}
	return o, nil
}

func getOrder(ctx context.Context, q dbtx, id string, lock string) (WorkOrder, error) {
	o, err := scanOrder(q.queryRow(ctx, "SELECT "+orderCols+" FROM work_orders WHERE id = $1"+lock, id))
	if isNoRows(err) {
		return o, fmt.Errorf("work order %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("work order %s: %w", id, err)
	}
	return o, nil
}

// CreateOrder stores a new work order in state created. Its product must
// exist.
func (s *Store) CreateOrder(ctx context.Context, o WorkOrder) (WorkOrder, error) {
	rec := "work order " + o.ID
	if err := checkText(rec, "id", o.ID, true); err != nil {
		return o, err
	}
	if err := checkGTIN(rec, "gtin", o.GTIN); err != nil {
		return o, err
	}
	if o.Lot == "" || len(o.Lot) > 20 {
		return o, invalid(rec, "lot", "must be 1 to 20 characters (AI 10), got %d", len(o.Lot))
	}
	if err := gs1.ValidateCSET82("10", o.Lot); err != nil {
		return o, invalid(rec, "lot", "%v", err)
	}
	if err := gs1.ValidateDate("17", o.Expiry, true); err != nil {
		return o, invalid(rec, "expiry", "%v", err)
	}
	if o.Quantity == 0 || o.Quantity > 1<<40 {
		return o, invalid(rec, "quantity", "must be 1 to %d, got %d", uint64(1<<40), o.Quantity)
	}
	if o.Line != "" || (o.State != "" && o.State != wire.OrderStateCreated) {
		return o, invalid(rec, "state", "a new order is created without a line; release it with ReleaseOrder")
	}
	t := now()
	o.State, o.CreatedAt, o.UpdatedAt = wire.OrderStateCreated, t, t
	o.ReleasedAt, o.StartedAt, o.ClosedAt, o.ReportedCounts = nil, nil, nil, nil
	err := s.write(ctx, func(tx dbtx) error {
		if _, err := getProduct(ctx, tx, o.GTIN); err != nil {
			return fmt.Errorf("%s: gtin: %w", rec, err)
		}
		n, err := tx.exec(ctx, `INSERT INTO work_orders (id, gtin, lot, expiry, quantity, state, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING`,
			o.ID, o.GTIN, o.Lot, o.Expiry, o.Quantity, string(o.State), t)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: %w: the id exists already", rec, ErrConflict)
		}
		return audit(ctx, tx, "create", "work_order", o.ID, nil, o)
	})
	return o, err
}

// ReleaseOrder releases a created order to a line: from then on the line
// may request serials for it and produce it.
func (s *Store) ReleaseOrder(ctx context.Context, id, line string) (WorkOrder, error) {
	var o WorkOrder
	err := s.write(ctx, func(tx dbtx) error {
		before, err := getOrder(ctx, tx, id, s.d.forUpdate())
		if err != nil {
			return err
		}
		if before.State != wire.OrderStateCreated {
			return fmt.Errorf("work order %s: %w: it is %s (to line %s); only a created order can be released", id, ErrState, before.State, before.Line)
		}
		if _, err := getLine(ctx, tx, line); err != nil {
			return fmt.Errorf("work order %s: line: %w", id, err)
		}
		t := now()
		o = before
		o.Line, o.State, o.ReleasedAt, o.UpdatedAt = line, wire.OrderStateReleased, &t, t
		if _, err := tx.exec(ctx, "UPDATE work_orders SET line_id = $2, state = $3, released_at = $4, updated_at = $4 WHERE id = $1",
			id, line, string(o.State), t); err != nil {
			return fmt.Errorf("work order %s: %w", id, err)
		}
		return audit(ctx, tx, "release", "work_order", id, before, o)
	})
	return o, err
}

// CloseOrder closes a released order from central (a planner's decision);
// the line may still deliver its events for it, but gets no more serials.
func (s *Store) CloseOrder(ctx context.Context, id string) (WorkOrder, error) {
	var o WorkOrder
	err := s.write(ctx, func(tx dbtx) error {
		before, err := getOrder(ctx, tx, id, s.d.forUpdate())
		if err != nil {
			return err
		}
		if before.State != wire.OrderStateReleased {
			return fmt.Errorf("work order %s: %w: it is %s; only a released order can be closed", id, ErrState, before.State)
		}
		t := now()
		o = before
		o.State, o.ClosedAt, o.UpdatedAt = wire.OrderStateClosed, &t, t
		if _, err := tx.exec(ctx, "UPDATE work_orders SET state = $2, closed_at = $3, updated_at = $3 WHERE id = $1", id, string(o.State), t); err != nil {
			return fmt.Errorf("work order %s: %w", id, err)
		}
		return audit(ctx, tx, "close", "work_order", id, before, o)
	})
	return o, err
}

// Order returns the work order with id.
func (s *Store) Order(ctx context.Context, id string) (WorkOrder, error) {
	var o WorkOrder
	err := s.read(ctx, func(q dbtx) error {
		var err error
		o, err = getOrder(ctx, q, id, "")
		return err
	})
	return o, err
}

// OrderFilter selects work orders; zero fields select everything.
type OrderFilter struct {
	Line  string
	GTIN  string
	Lot   string
	State wire.OrderState
}

// Orders lists work orders, newest first.
func (s *Store) Orders(ctx context.Context, f OrderFilter) ([]WorkOrder, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"line_id", f.Line}, {"gtin", f.GTIN}, {"lot", f.Lot}, {"state", string(f.State)}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	q := "SELECT " + orderCols + " FROM work_orders"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id"
	var out []WorkOrder
	err := s.read(ctx, func(db dbtx) error {
		r, err := db.query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			o, err := scanOrder(r)
			if err != nil {
				return err
			}
			out = append(out, o)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("work orders: %w", err)
	}
	return out, nil
}

// LineOrders returns the retained orders payload for a line: its released
// orders with what the line needs to print them.
func (s *Store) LineOrders(ctx context.Context, line string) (wire.Orders, error) {
	out := wire.Orders{V: wire.Version, Line: line, Orders: []wire.Order{}}
	err := s.readTx(ctx, func(q dbtx) error {
		if _, err := getLine(ctx, q, line); err != nil {
			return err
		}
		r, err := q.query(ctx, "SELECT "+orderCols+" FROM work_orders WHERE line_id = $1 AND state = $2 ORDER BY released_at, id",
			line, string(wire.OrderStateReleased))
		if err != nil {
			return err
		}
		var orders []WorkOrder
		for r.Next() {
			o, err := scanOrder(r)
			if err != nil {
				r.Close()
				return err
			}
			orders = append(orders, o)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		products := map[string]Product{}
		for _, o := range orders {
			p, ok := products[o.GTIN]
			if !ok {
				if p, err = getProduct(ctx, q, o.GTIN); err != nil {
					return err
				}
				products[o.GTIN] = p
			}
			national := map[string]string{}
			for ai, v := range p.National {
				national[ai] = v
			}
			if p.NDC != "" {
				national["715"] = p.NDC
			}
			if len(national) == 0 {
				national = nil
			}
			out.Orders = append(out.Orders, wire.Order{
				ID: o.ID, GTIN: o.GTIN, Lot: o.Lot, Expiry: o.Expiry, Quantity: o.Quantity, State: o.State,
				MinGrade: p.MinGrade, Product: p.Name, National: national,
			})
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return out, err
		}
		return out, fmt.Errorf("orders of line %s: %w", line, err)
	}
	return out, nil
}
