package supply

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
)

// Unit states beyond the line's (apply.go): a commissioned unit that left
// with a shipment is shipped; a shipped unit that came back is returned
// until a verified return restocks it (commissioned again).
const (
	StateShipped  = "shipped"
	StateReturned = "returned"
)

// Sales order states.
const (
	SalesOrderOpen    = "open"    // lines not yet fully shipped
	SalesOrderShipped = "shipped" // every line shipped in full
)

// SalesOrder is a customer's order: lines of GTIN, quantity and unit price.
type SalesOrder struct {
	ID          string `json:"id"`
	CustomerGLN string `json:"customer_gln"` // a trading partner
	// PONumber is the customer's purchase order (EPCIS bizTransaction po).
	PONumber string `json:"po_number,omitempty"`
	// Currency is the ISO 4217 code of every price of the order.
	Currency  string      `json:"currency"`
	State     string      `json:"state"`
	Lines     []SalesLine `json:"lines"`
	CreatedAt time.Time   `json:"created_at,omitzero"`
	UpdatedAt time.Time   `json:"updated_at,omitzero"`
}

// SalesLine is one line of a sales order.
type SalesLine struct {
	LineNo   int    `json:"line_no"` // 1, 2, ... (set by CreateSalesOrder)
	GTIN     string `json:"gtin"`
	Quantity uint64 `json:"quantity"`
	// UnitPrice is in minor units (cents) of the order's currency.
	UnitPrice int64 `json:"unit_price"`
}

// maxSalesQuantity bounds a line's quantity (and so the invoice sums).
const maxSalesQuantity = 1 << 32

// CreateSalesOrder stores a new sales order in state open. The customer
// and every line's product must exist; a GTIN may appear on one line only.
func (s *Chain) CreateSalesOrder(ctx context.Context, o SalesOrder) (SalesOrder, error) {
	rec := "sales order " + o.ID
	if err := check.Text(rec, "id", o.ID, true); err != nil {
		return o, err
	}
	if _, err := gs1.ParseGLN(o.CustomerGLN); err != nil {
		return o, sqldb.Invalid(rec, "customer_gln", "%v", err)
	}
	if err := check.Text(rec, "po_number", o.PONumber, false); err != nil {
		return o, err
	}
	if o.PONumber != "" && !gs1.IsCSET82(o.PONumber) {
		return o, sqldb.Invalid(rec, "po_number", "must be characters of GS1 CSET 82 (it becomes an EPCIS bizTransaction URI), got %q", o.PONumber)
	}
	if len(o.Currency) != 3 || !check.IsUpper(o.Currency) {
		return o, sqldb.Invalid(rec, "currency", "must be an ISO 4217 code of 3 capital letters, got %q", o.Currency)
	}
	if o.State != "" && o.State != SalesOrderOpen {
		return o, sqldb.Invalid(rec, "state", "a new sales order is %s", SalesOrderOpen)
	}
	if len(o.Lines) == 0 {
		return o, sqldb.Invalid(rec, "lines", "missing; an order has at least one line")
	}
	seen := map[string]int{}
	for i := range o.Lines {
		l := &o.Lines[i]
		f := "lines[" + strconv.Itoa(i) + "]"
		if err := check.GTIN(rec, f+".gtin", l.GTIN); err != nil {
			return o, err
		}
		if j, dup := seen[l.GTIN]; dup {
			return o, sqldb.Invalid(rec, f+".gtin", "%s is on line %d already; one line per GTIN", l.GTIN, j+1)
		}
		seen[l.GTIN] = i
		if l.Quantity == 0 || l.Quantity > maxSalesQuantity {
			return o, sqldb.Invalid(rec, f+".quantity", "must be 1 to %d, got %d", uint64(maxSalesQuantity), l.Quantity)
		}
		if l.UnitPrice < 0 || l.UnitPrice > 1<<40 {
			return o, sqldb.Invalid(rec, f+".unit_price", "must be 0 to %d minor units, got %d", int64(1<<40), l.UnitPrice)
		}
		l.LineNo = i + 1
	}
	t := sqldb.Now()
	o.State, o.CreatedAt, o.UpdatedAt = SalesOrderOpen, t, t
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		if _, err := master.GetPartner(ctx, tx, o.CustomerGLN); err != nil {
			return fmt.Errorf("%s: customer_gln: %w", rec, err)
		}
		for i, l := range o.Lines {
			if _, err := master.GetProduct(ctx, tx, l.GTIN); err != nil {
				return fmt.Errorf("%s: lines[%d].gtin: %w", rec, i, err)
			}
		}
		n, err := tx.Exec(ctx, `INSERT INTO sales_orders (id, customer_gln, po_number, currency, state, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (id) DO NOTHING`, o.ID, o.CustomerGLN, o.PONumber, o.Currency, o.State, t)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: %w: the id exists already", rec, sqldb.ErrConflict)
		}
		rows := make([][]any, len(o.Lines))
		for i, l := range o.Lines {
			rows[i] = []any{o.ID, l.LineNo, l.GTIN, int64(l.Quantity), l.UnitPrice}
		}
		if err := tx.ExecMany(ctx, "INSERT INTO sales_order_lines (order_id, line_no, gtin, quantity, unit_price) VALUES ($1, $2, $3, $4, $5)", rows); err != nil {
			return fmt.Errorf("%s: lines: %w", rec, err)
		}
		return audit.Record(ctx, tx, "create", "sales_order", o.ID, nil, o)
	})
	return o, err
}

func getSalesOrder(ctx context.Context, q sqldb.Tx, id, lock string) (SalesOrder, error) {
	var o SalesOrder
	err := q.QueryRow(ctx, "SELECT id, customer_gln, po_number, currency, state, created_at, updated_at FROM sales_orders WHERE id = $1"+lock, id).
		Scan(&o.ID, &o.CustomerGLN, &o.PONumber, &o.Currency, &o.State, &o.CreatedAt, &o.UpdatedAt)
	if sqldb.IsNoRows(err) {
		return o, fmt.Errorf("sales order %s: %w", id, sqldb.ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("sales order %s: %w", id, err)
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	r, err := q.Query(ctx, "SELECT line_no, gtin, quantity, unit_price FROM sales_order_lines WHERE order_id = $1 ORDER BY line_no", id)
	if err != nil {
		return o, fmt.Errorf("sales order %s: lines: %w", id, err)
	}
	defer r.Close()
	for r.Next() {
		var l SalesLine
		if err := r.Scan(&l.LineNo, &l.GTIN, &l.Quantity, &l.UnitPrice); err != nil {
			return o, fmt.Errorf("sales order %s: lines: %w", id, err)
		}
		o.Lines = append(o.Lines, l)
	}
	return o, r.Err()
}

// SalesOrder returns the sales order with its lines.
func (s *Chain) SalesOrder(ctx context.Context, id string) (SalesOrder, error) {
	var o SalesOrder
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		var err error
		o, err = getSalesOrder(ctx, q, id, "")
		return err
	})
	return o, err
}

// SalesOrders lists sales orders, newest first, of one customer when
// customer is set (without their lines).
func (s *Chain) SalesOrders(ctx context.Context, customer string) ([]SalesOrder, error) {
	q := "SELECT id, customer_gln, po_number, currency, state, created_at, updated_at FROM sales_orders"
	var args []any
	if customer != "" {
		q += " WHERE customer_gln = $1"
		args = append(args, customer)
	}
	q += " ORDER BY created_at DESC, id"
	var out []SalesOrder
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		var err error
		out, err = sqldb.QueryAll(ctx, db, q, args, func(r sqldb.Rows) (SalesOrder, error) {
			var o SalesOrder
			err := r.Scan(&o.ID, &o.CustomerGLN, &o.PONumber, &o.Currency, &o.State, &o.CreatedAt, &o.UpdatedAt)
			o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
			return o, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sales orders: %w", err)
	}
	return out, nil
}

// Invoice is what a sales order bills: each line's shipped quantity ×
// unit price, in minor units of Currency.
type Invoice struct {
	Order    string        `json:"order"`
	Customer string        `json:"customer_gln"`
	Currency string        `json:"currency"`
	Lines    []InvoiceLine `json:"lines"`
	// Total is the sum of the lines' amounts; OrderedTotal what the whole
	// order comes to once shipped in full.
	Total        int64 `json:"total"`
	OrderedTotal int64 `json:"ordered_total"`
}

// InvoiceLine is one sales order line with what has shipped of it.
type InvoiceLine struct {
	LineNo    int    `json:"line_no"`
	GTIN      string `json:"gtin"`
	Ordered   uint64 `json:"ordered"`
	Shipped   uint64 `json:"shipped"` // units in confirmed shipments of the order
	UnitPrice int64  `json:"unit_price"`
	Amount    int64  `json:"amount"` // Shipped × UnitPrice
}

// Invoice returns the invoice figures of a sales order.
func (s *Chain) Invoice(ctx context.Context, id string) (Invoice, error) {
	var inv Invoice
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		o, err := getSalesOrder(ctx, q, id, "")
		if err != nil {
			return err
		}
		shipped, err := shippedByGTIN(ctx, q, id, ShipmentShipped)
		if err != nil {
			return err
		}
		inv = Invoice{Order: o.ID, Customer: o.CustomerGLN, Currency: o.Currency, Lines: make([]InvoiceLine, 0, len(o.Lines))}
		for _, l := range o.Lines {
			il := InvoiceLine{LineNo: l.LineNo, GTIN: l.GTIN, Ordered: l.Quantity, Shipped: shipped[l.GTIN], UnitPrice: l.UnitPrice}
			il.Amount = int64(il.Shipped) * l.UnitPrice
			inv.Total += il.Amount
			inv.OrderedTotal += int64(l.Quantity) * l.UnitPrice
			inv.Lines = append(inv.Lines, il)
		}
		return nil
	})
	if err != nil && !errors.Is(err, sqldb.ErrNotFound) {
		err = fmt.Errorf("invoice of sales order %s: %w", id, err)
	}
	return inv, err
}

// shippedByGTIN counts the units of a sales order's shipments by GTIN:
// confirmed ones (state ShipmentShipped) or all of them (state "").
func shippedByGTIN(ctx context.Context, q sqldb.Tx, order, state string) (map[string]uint64, error) {
	sqlq := `SELECT su.gtin, COUNT(*) FROM shipment_units su JOIN shipments s ON s.id = su.shipment_id
		WHERE s.sales_order_id = $1`
	args := []any{order}
	if state != "" {
		sqlq += " AND s.state = $2"
		args = append(args, state)
	}
	r, err := q.Query(ctx, sqlq+" GROUP BY su.gtin", args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := map[string]uint64{}
	for r.Next() {
		var g string
		var n uint64
		if err := r.Scan(&g, &n); err != nil {
			return nil, err
		}
		out[g] = n
	}
	return out, r.Err()
}

// recalledSQL is true for the unit u (an alias of units) while a recall
// covers it: by its GTIN and lot, or by its serial.
const recalledSQL = `(EXISTS (SELECT 1 FROM recalls rc WHERE rc.kind = 'lot' AND rc.gtin = u.gtin AND rc.lot = u.lot AND rc.state = 'open')
	OR EXISTS (SELECT 1 FROM recall_units ru JOIN recalls rc ON rc.id = ru.recall_id WHERE ru.gtin = u.gtin AND ru.serial = u.serial AND rc.state = 'open'))`

// heldSQL is true for the unit u while it may not leave our stock: a
// recall covers it, or a QA investigation quarantines it (open, or closed
// finding the product illegitimate).
const heldSQL = `(` + recalledSQL + ` OR ` + quarantinedSQL + `)`

// locationSQL is where the unit u is: a shipped unit at its last
// shipment's destination, a returned one where it was received, a
// received one at the site its receipt came to, anything else at the
// site of the line that made it.
const locationSQL = `CASE WHEN u.state = 'shipped' THEN COALESCE((SELECT s.dest_gln FROM shipment_units su JOIN shipments s ON s.id = su.shipment_id
		WHERE su.gtin = u.gtin AND su.serial = u.serial AND s.state = 'shipped' ORDER BY s.shipped_at DESC LIMIT 1), '')
	ELSE COALESCE((SELECT r.site_gln FROM unit_returns r WHERE r.gtin = u.gtin AND r.serial = u.serial ORDER BY r.id DESC LIMIT 1),
		(SELECT rc.receiver_gln FROM receipt_units ru JOIN receipts rc ON rc.id = ru.receipt_id
			WHERE ru.gtin = u.gtin AND ru.serial = u.serial ORDER BY rc.id DESC LIMIT 1),
		(SELECT l.site_gln FROM lines l WHERE l.id = u.line_id), '') END`

// StockFilter narrows the stock report; zero fields select everything.
type StockFilter struct {
	GTIN string
	Lot  string
}

// StockRow is one line of the stock report: how many units of a product's
// lot are in a state at a location, and how many of them a recall holds.
type StockRow struct {
	GTIN     string `json:"gtin"`
	Lot      string `json:"lot"`
	State    string `json:"state"`
	Location string `json:"location"` // GLN: our site, or the customer for shipped units
	Units    uint64 `json:"units"`
	OnHold   uint64 `json:"on_hold"`
}

// StockReport counts units per product, lot, state and location (voided
// serials, never printed, are left out).
func (s *Chain) StockReport(ctx context.Context, f StockFilter) ([]StockRow, error) {
	if f.Lot != "" && f.GTIN == "" {
		return nil, sqldb.Invalid("stock report", "lot", "a lot needs its gtin")
	}
	where := []string{"u.state <> 'voided'"}
	var args []any
	if f.GTIN != "" {
		args = append(args, f.GTIN)
		orders := "gtin = $1"
		if f.Lot != "" {
			args = append(args, f.Lot)
			orders += " AND lot = $2"
		}
		where = append(where, "u.order_id IN (SELECT id FROM work_orders WHERE "+orders+")")
	}
	q := `SELECT gtin, lot, state, location, COUNT(*), SUM(held) FROM (
		SELECT u.gtin, u.lot, u.state, ` + locationSQL + ` AS location, CASE WHEN u.state IN ('commissioned', 'received', 'returned') AND ` + heldSQL + ` THEN 1 ELSE 0 END AS held
		FROM units u WHERE ` + strings.Join(where, " AND ") + `) x GROUP BY gtin, lot, state, location ORDER BY gtin, lot, state, location`
	var out []StockRow
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		r, err := db.QueryFresh(ctx, q, args...)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var row StockRow
			if err := r.Scan(&row.GTIN, &row.Lot, &row.State, &row.Location, &row.Units, &row.OnHold); err != nil {
				return err
			}
			out = append(out, row)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("stock report: %w", err)
	}
	return out, nil
}

// InventoryValue is the value of the units in our stock at standard cost.
type InventoryValue struct {
	Products []ProductValue `json:"products"`
	// Totals is the value by currency (products may be costed in several).
	Totals map[string]int64 `json:"totals"`
}

// ProductValue is one product's stock at its standard cost.
type ProductValue struct {
	GTIN         string `json:"gtin"`
	Name         string `json:"name"`
	Units        uint64 `json:"units"`    // commissioned (sellable or on hold) and returned
	OnHold       uint64 `json:"on_hold"`  // of Units, held by a recall
	Returned     uint64 `json:"returned"` // of Units, returned and not yet restocked
	StandardCost int64  `json:"standard_cost"`
	Currency     string `json:"currency"`
	Value        int64  `json:"value"` // Units × StandardCost, minor units
}

// InventoryValue values the units in stock (commissioned or returned) at
// each product's standard cost.
func (s *Chain) InventoryValue(ctx context.Context) (InventoryValue, error) {
	out := InventoryValue{Products: []ProductValue{}, Totals: map[string]int64{}}
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		r, err := db.Query(ctx, `SELECT p.gtin, p.name, p.standard_cost, p.currency, COUNT(*),
			COALESCE(SUM(CASE WHEN `+heldSQL+` THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN u.state = 'returned' THEN 1 ELSE 0 END), 0)
			FROM units u JOIN products p ON p.gtin = u.gtin
			WHERE u.state IN ('commissioned', 'received', 'returned')
			GROUP BY p.gtin, p.name, p.standard_cost, p.currency ORDER BY p.gtin`)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var v ProductValue
			if err := r.Scan(&v.GTIN, &v.Name, &v.StandardCost, &v.Currency, &v.Units, &v.OnHold, &v.Returned); err != nil {
				return err
			}
			v.Value = int64(v.Units) * v.StandardCost
			out.Totals[v.Currency] += v.Value
			out.Products = append(out.Products, v)
		}
		return r.Err()
	})
	if err != nil {
		return out, fmt.Errorf("inventory value: %w", err)
	}
	return out, nil
}
