package orders

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
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
	// RejectAllowance is how many units the line may spend on rejects
	// beyond Quantity: the allowance fixed at creation (the product's rule,
	// Product.RejectAllowance, or with AllowanceSet the order's own, given
	// to CreateOrder in RejectAllowance) plus AllowanceExtended, the units
	// supervisors at the line added (allowance-extended events).
	RejectAllowance   uint64 `json:"reject_allowance"`
	AllowanceSet      bool   `json:"reject_allowance_set"`
	AllowanceExtended uint64 `json:"reject_allowance_extended"`
	// Produced, Rejected and Voided count the order's units by fate as the
	// line's events report them: commissioned (shipped and returned ones
	// too), decommissioned, voided.
	Produced uint64 `json:"produced"`
	Rejected uint64 `json:"rejected"`
	Voided   uint64 `json:"voided"`
	// Progress is Produced in % of Quantity, rounded down to 0.1.
	Progress float64 `json:"progress_percent"`
	// ReportedCounts is the line's own reconciliation, from its
	// order-closed event; compare it with Store.Reconciliation.
	ReportedCounts *wire.Reconciliation `json:"reported_counts,omitempty"`
	CreatedAt      time.Time            `json:"created_at,omitzero"`
	ReleasedAt     *time.Time           `json:"released_at,omitempty"`
	StartedAt      *time.Time           `json:"started_at,omitempty"`
	ClosedAt       *time.Time           `json:"closed_at,omitempty"`
	UpdatedAt      time.Time            `json:"updated_at,omitzero"`
}

const OrderCols = `id, gtin, lot, expiry, quantity, line_id, state, reported_counts, created_at, released_at, started_at, closed_at, updated_at,
	reject_allowance, reject_allowance_set, allowance_extended, units_commissioned, units_decommissioned, units_voided`

func ScanOrder(r interface{ Scan(...any) error }) (WorkOrder, error) {
	var o WorkOrder
	var line, counts sql.NullString
	var released, started, closed sql.NullTime
	var state string
	var base uint64
	err := r.Scan(&o.ID, &o.GTIN, &o.Lot, &o.Expiry, &o.Quantity, &line, &state, &counts, &o.CreatedAt, &released, &started, &closed, &o.UpdatedAt,
		&base, &o.AllowanceSet, &o.AllowanceExtended, &o.Produced, &o.Rejected, &o.Voided)
	if err != nil {
		return o, err
	}
	o.RejectAllowance = base + o.AllowanceExtended
	if o.Quantity > 0 {
		o.Progress = math.Floor(float64(o.Produced)*1000/float64(o.Quantity)) / 10
	}
	o.Line, o.State = line.String, wire.OrderState(state)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	o.ReleasedAt, o.StartedAt, o.ClosedAt = sqldb.NullTime(released), sqldb.NullTime(started), sqldb.NullTime(closed)
	if counts.Valid {
		o.ReportedCounts = new(wire.Reconciliation)
		if err := json.Unmarshal([]byte(counts.String), o.ReportedCounts); err != nil {
			return o, fmt.Errorf("work order %s: reported_counts: %w", o.ID, err)
		}
	}
	return o, nil
}

func GetOrder(ctx context.Context, q sqldb.Tx, id string, lock string) (WorkOrder, error) {
	o, err := ScanOrder(q.QueryRow(ctx, "SELECT "+OrderCols+" FROM work_orders WHERE id = $1"+lock, id))
	if sqldb.IsNoRows(err) {
		return o, fmt.Errorf("work order %s: %w", id, sqldb.ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("work order %s: %w", id, err)
	}
	return o, nil
}

// CreateOrder stores a new work order in state created. Its product must
// exist, and its expiry be far enough ahead (see CheckShelfLife). Its reject
// allowance is the product's rule (Product.RejectAllowance) unless
// o.AllowanceSet: then o.RejectAllowance is the order's own.
func (s *Book) CreateOrder(ctx context.Context, o WorkOrder) (WorkOrder, error) {
	rec := "work order " + o.ID
	if err := check.Text(rec, "id", o.ID, true); err != nil {
		return o, err
	}
	if err := check.GTIN(rec, "gtin", o.GTIN); err != nil {
		return o, err
	}
	if err := CheckLot(rec, o.Lot); err != nil {
		return o, err
	}
	if err := gs1.ValidateDate("17", o.Expiry, true); err != nil {
		return o, sqldb.Invalid(rec, "expiry", "%v", err)
	}
	if o.Quantity == 0 || o.Quantity > 1<<40 {
		return o, sqldb.Invalid(rec, "quantity", "must be 1 to %d, got %d", uint64(1<<40), o.Quantity)
	}
	if o.AllowanceSet && (o.RejectAllowance == 0 || o.RejectAllowance > master.MaxAllowance) {
		// At least 1: the orders topic reads an allowance of 0 as "not sent".
		return o, sqldb.Invalid(rec, "reject_allowance", "must be 1 to %d units, got %d", uint64(master.MaxAllowance), o.RejectAllowance)
	}
	if o.Line != "" || (o.State != "" && o.State != wire.OrderStateCreated) {
		return o, sqldb.Invalid(rec, "state", "a new order is created without a line; release it with ReleaseOrder")
	}
	t := sqldb.Now()
	o.State, o.CreatedAt, o.UpdatedAt = wire.OrderStateCreated, t, t
	o.ReleasedAt, o.StartedAt, o.ClosedAt, o.ReportedCounts = nil, nil, nil, nil
	o.AllowanceExtended, o.Produced, o.Rejected, o.Voided, o.Progress = 0, 0, 0, 0, 0
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		p, err := master.GetProduct(ctx, tx, o.GTIN)
		if err != nil {
			return fmt.Errorf("%s: gtin: %w", rec, err)
		}
		if err := CheckShelfLife(rec, o.Expiry, p, s.clock()); err != nil {
			return err
		}
		if !o.AllowanceSet {
			o.RejectAllowance = p.RejectAllowance(o.Quantity)
		}
		n, err := tx.Exec(ctx, `INSERT INTO work_orders (id, gtin, lot, expiry, quantity, state, created_at, updated_at, reject_allowance, reject_allowance_set)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
			o.ID, o.GTIN, o.Lot, o.Expiry, o.Quantity, string(o.State), t, o.RejectAllowance, o.AllowanceSet)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: %w: the id exists already", rec, sqldb.ErrConflict)
		}
		return audit.Record(ctx, tx, "create", "work_order", o.ID, nil, o)
	})
	return o, err
}

// CheckLot checks a lot (batch) number as AI 10 carries it: 1 to 20
// characters of GS1's CSET 82.
func CheckLot(rec, lot string) error {
	if lot == "" || len(lot) > 20 {
		return sqldb.Invalid(rec, "lot", "must be 1 to 20 characters (AI 10), got %d", len(lot))
	}
	if err := gs1.ValidateCSET82("10", lot); err != nil {
		return sqldb.Invalid(rec, "lot", "%v", err)
	}
	return nil
}

// CheckShelfLife refuses an expiry (YYMMDD; DD 00 is the month's last day)
// that is before today, or fewer than the product's MinShelfLifeDays days
// ahead, on central's clock (UTC dates).
func CheckShelfLife(rec, expiry string, p master.Product, now time.Time) error {
	exp, err := gs1.ExpiryTime(expiry)
	if err != nil {
		return sqldb.Invalid(rec, "expiry", "%v", err)
	}
	y, m, d := now.UTC().Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	days := int(exp.Sub(today).Hours() / 24)
	switch {
	case exp.Before(today):
		return sqldb.Invalid(rec, "expiry", "%s (%s) is in the past (today is %s)", expiry, exp.Format(time.DateOnly), today.Format(time.DateOnly))
	case days < p.MinShelfLifeDays:
		return sqldb.Invalid(rec, "expiry", "%s (%s) is %d days ahead; product %s needs at least %d days of shelf life (min_shelf_life_days)",
			expiry, exp.Format(time.DateOnly), days, p.GTIN, p.MinShelfLifeDays)
	}
	return nil
}

// ReleaseOrder releases a created order to a line: from then on the line
// may request serials for it and produce it. Its expiry is checked again
// (time has passed since it was created, and the product's shelf-life rule
// may have changed).
func (s *Book) ReleaseOrder(ctx context.Context, id, line string) (WorkOrder, error) {
	var o WorkOrder
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		before, err := GetOrder(ctx, tx, id, s.db.Dialect().ForUpdate())
		if err != nil {
			return err
		}
		if before.State != wire.OrderStateCreated {
			return fmt.Errorf("work order %s: %w: it is %s (to line %s); only a created order can be released", id, sqldb.ErrState, before.State, before.Line)
		}
		if _, err := master.GetLine(ctx, tx, line); err != nil {
			return fmt.Errorf("work order %s: line: %w", id, err)
		}
		p, err := master.GetProduct(ctx, tx, before.GTIN)
		if err != nil {
			return fmt.Errorf("work order %s: %w", id, err)
		}
		if err := CheckShelfLife("work order "+id, before.Expiry, p, s.clock()); err != nil {
			return err
		}
		t := sqldb.Now()
		o = before
		o.Line, o.State, o.ReleasedAt, o.UpdatedAt = line, wire.OrderStateReleased, &t, t
		if _, err := tx.Exec(ctx, "UPDATE work_orders SET line_id = $2, state = $3, released_at = $4, updated_at = $4 WHERE id = $1",
			id, line, string(o.State), t); err != nil {
			return fmt.Errorf("work order %s: %w", id, err)
		}
		return audit.Record(ctx, tx, "release", "work_order", id, before, o)
	})
	return o, err
}

// CloseOrder closes a released order from central (a planner's decision);
// the line may still deliver its events for it, but gets no more serials.
func (s *Book) CloseOrder(ctx context.Context, id string) (WorkOrder, error) {
	var o WorkOrder
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		before, err := GetOrder(ctx, tx, id, s.db.Dialect().ForUpdate())
		if err != nil {
			return err
		}
		if before.State != wire.OrderStateReleased {
			return fmt.Errorf("work order %s: %w: it is %s; only a released order can be closed", id, sqldb.ErrState, before.State)
		}
		t := sqldb.Now()
		o = before
		o.State, o.ClosedAt, o.UpdatedAt = wire.OrderStateClosed, &t, t
		if _, err := tx.Exec(ctx, "UPDATE work_orders SET state = $2, closed_at = $3, updated_at = $3 WHERE id = $1", id, string(o.State), t); err != nil {
			return fmt.Errorf("work order %s: %w", id, err)
		}
		return audit.Record(ctx, tx, "close", "work_order", id, before, o)
	})
	return o, err
}

// Order returns the work order with id.
func (s *Book) Order(ctx context.Context, id string) (WorkOrder, error) {
	var o WorkOrder
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		o, err = GetOrder(ctx, q, id, "")
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
func (s *Book) Orders(ctx context.Context, f OrderFilter) ([]WorkOrder, error) {
	var where sqldb.Where
	where.Eq("line_id", f.Line)
	where.Eq("gtin", f.GTIN)
	where.Eq("lot", f.Lot)
	where.Eq("state", string(f.State))
	q := "SELECT " + OrderCols + " FROM work_orders" + where.SQL() + " ORDER BY created_at DESC, id"
	var out []WorkOrder
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		r, err := db.Query(ctx, q, where.Args()...)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			o, err := ScanOrder(r)
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
// orders with what the line needs to print them, and the orders central
// closed that the line has not yet reported closed (State closed, with
// ClosedAt): a line working on one stops it and closes it. Each carries its
// reject allowance (extensions included) and the product's shelf-life rule.
func (s *Book) LineOrders(ctx context.Context, line string) (wire.Orders, error) {
	out := wire.Orders{V: wire.Version, Line: line, Orders: []wire.Order{}}
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		if _, err := master.GetLine(ctx, q, line); err != nil {
			return err
		}
		// A line's order-closed event stores its counts: until then a
		// closed order is still the line's to stop.
		r, err := q.Query(ctx, "SELECT "+OrderCols+` FROM work_orders
			WHERE line_id = $1 AND (state = $2 OR (state = $3 AND reported_counts IS NULL)) ORDER BY released_at, id`,
			line, string(wire.OrderStateReleased), string(wire.OrderStateClosed))
		if err != nil {
			return err
		}
		var orders []WorkOrder
		for r.Next() {
			o, err := ScanOrder(r)
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
		products := map[string]master.Product{}
		for _, o := range orders {
			p, ok := products[o.GTIN]
			if !ok {
				if p, err = master.GetProduct(ctx, q, o.GTIN); err != nil {
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
			wo := wire.Order{
				ID: o.ID, GTIN: o.GTIN, Lot: o.Lot, Expiry: o.Expiry, Quantity: o.Quantity, State: o.State,
				MinGrade: p.MinGrade, Product: p.Name, National: national,
				RejectAllowance: o.RejectAllowance, MinShelfLifeDays: p.MinShelfLifeDays,
			}
			if o.State == wire.OrderStateClosed && o.ClosedAt != nil {
				wo.ClosedAt = *o.ClosedAt
			}
			out.Orders = append(out.Orders, wo)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, sqldb.ErrNotFound) {
			return out, err
		}
		return out, fmt.Errorf("orders of line %s: %w", line, err)
	}
	return out, nil
}
