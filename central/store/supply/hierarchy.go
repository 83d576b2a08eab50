package supply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// ContainerTree is a container with everything inside it, at any depth.
type ContainerTree struct {
	SSCC     string          `json:"sscc"`
	Parent   string          `json:"parent,omitempty"`
	Order    string          `json:"order,omitempty"`
	Units    []string        `json:"units"`    // units directly inside, "(01)…(21)…"
	Children []ContainerTree `json:"children"` // containers directly inside
	// Total is every unit beneath, at any depth; ByGTINLot the same by
	// "GTIN/lot".
	Total     uint64            `json:"total"`
	ByGTINLot map[string]uint64 `json:"by_gtin_lot"`
}

// ContainerContents answers "what is inside this SSCC": the container with
// every container and unit beneath it, in one snapshot.
func (s *Chain) ContainerContents(ctx context.Context, sscc string) (ContainerTree, error) {
	var root ContainerTree
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		type crow struct{ sscc, parent, order string }
		r, err := q.Query(ctx, `WITH RECURSIVE tree(sscc, parent, order_id, depth) AS (
				SELECT sscc, parent, order_id, 0 FROM containers WHERE sscc = $1
				UNION ALL SELECT c.sscc, c.parent, c.order_id, t.depth + 1 FROM containers c JOIN tree t ON c.parent = t.sscc WHERE t.depth < 64)
			SELECT sscc, parent, order_id FROM tree ORDER BY depth, sscc`, sscc)
		if err != nil {
			return err
		}
		var cs []crow
		for r.Next() {
			var c crow
			if err := r.Scan(&c.sscc, &c.parent, &c.order); err != nil {
				r.Close()
				return err
			}
			cs = append(cs, c)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		if len(cs) == 0 {
			return fmt.Errorf("container %s: %w", sscc, sqldb.ErrNotFound)
		}
		nodes := map[string]*ContainerTree{}
		for _, c := range cs {
			nodes[c.sscc] = &ContainerTree{SSCC: c.sscc, Parent: c.parent, Order: c.order, Units: []string{}, Children: []ContainerTree{}, ByGTINLot: map[string]uint64{}}
		}
		r, err = q.Query(ctx, `WITH RECURSIVE tree(sscc, depth) AS (
				SELECT sscc, 0 FROM containers WHERE sscc = $1
				UNION ALL SELECT c.sscc, t.depth + 1 FROM containers c JOIN tree t ON c.parent = t.sscc WHERE t.depth < 64)
			SELECT gtin, serial, lot, parent FROM units WHERE parent IN (SELECT sscc FROM tree) ORDER BY gtin, serial`, sscc)
		if err != nil {
			return err
		}
		for r.Next() {
			var g, sn, lot, parent string
			if err := r.Scan(&g, &sn, &lot, &parent); err != nil {
				r.Close()
				return err
			}
			n := nodes[parent]
			n.Units = append(n.Units, wire.UnitRef(g, sn))
			// Count up the chain to the root.
			for p := n; p != nil; p = nodes[p.Parent] {
				p.Total++
				p.ByGTINLot[g+"/"+lot]++
				if p.SSCC == sscc {
					break
				}
			}
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		// Assemble bottom-up (deepest first), so children are complete
		// before they are copied into their parent.
		bySSCC := func(a, b ContainerTree) int { return strings.Compare(a.SSCC, b.SSCC) }
		for i := len(cs) - 1; i > 0; i-- {
			c := nodes[cs[i].sscc]
			slices.SortFunc(c.Children, bySSCC)
			p := nodes[c.Parent]
			p.Children = append(p.Children, *c)
		}
		root = *nodes[sscc]
		slices.SortFunc(root.Children, bySSCC)
		return nil
	})
	if err != nil && !errors.Is(err, sqldb.ErrNotFound) {
		err = fmt.Errorf("container %s: %w", sscc, err)
	}
	return root, err
}

// UnitWhereabouts answers "where is this unit": its state, the containers
// it is in (innermost first), whether a recall holds it, and the shipment
// that took it out (customer, date).
type UnitWhereabouts struct {
	GTIN       string   `json:"gtin"`
	Serial     string   `json:"serial"`
	Lot        string   `json:"lot"`
	Expiry     string   `json:"expiry"`
	State      string   `json:"state"`
	Containers []string `json:"containers"` // innermost (its case) first, outermost (its pallet) last
	Case       string   `json:"case,omitempty"`
	Pallet     string   `json:"pallet,omitempty"`
	Location   string   `json:"location,omitempty"` // GLN, as in the stock report
	OnHold     bool     `json:"on_hold"`
	Recalls    []string `json:"recalls"`
	// The last confirmed shipment that holds the unit.
	Shipment     string     `json:"shipment,omitempty"`
	SalesOrder   string     `json:"sales_order,omitempty"`
	CustomerGLN  string     `json:"customer_gln,omitempty"`
	CustomerName string     `json:"customer_name,omitempty"`
	ShippedAt    *time.Time `json:"shipped_at,omitempty"`
}

// WhereIs returns where the unit is, in one snapshot.
func (s *Chain) WhereIs(ctx context.Context, gtin, serial string) (UnitWhereabouts, error) {
	w := UnitWhereabouts{GTIN: gtin, Serial: serial, Containers: []string{}, Recalls: []string{}}
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		var held int
		var parent string
		err := q.QueryRow(ctx, `SELECT u.lot, u.expiry, u.state, u.parent, `+locationSQL+`, CASE WHEN u.state IN ('commissioned', 'returned') AND `+heldSQL+` THEN 1 ELSE 0 END
			FROM units u WHERE u.gtin = $1 AND u.serial = $2`, gtin, serial).Scan(&w.Lot, &w.Expiry, &w.State, &parent, &w.Location, &held)
		if sqldb.IsNoRows(err) {
			return fmt.Errorf("unit %s: %w", wire.UnitRef(gtin, serial), sqldb.ErrNotFound)
		}
		if err != nil {
			return err
		}
		w.OnHold = held != 0
		for depth := 0; parent != "" && depth < 64; depth++ {
			w.Containers = append(w.Containers, parent)
			err := q.QueryRow(ctx, "SELECT parent FROM containers WHERE sscc = $1", parent).Scan(&parent)
			if sqldb.IsNoRows(err) {
				break
			}
			if err != nil {
				return err
			}
		}
		if len(w.Containers) > 0 {
			w.Case = w.Containers[0]
		}
		if len(w.Containers) > 1 {
			w.Pallet = w.Containers[len(w.Containers)-1]
		}
		if w.Recalls, err = recallsOf(ctx, q, gtin, serial, w.Lot); err != nil {
			return err
		}
		var shippedAt *time.Time
		err = q.QueryRow(ctx, `SELECT s.id, s.sales_order_id, s.dest_gln, COALESCE(p.name, ''), s.shipped_at
			FROM shipment_units su JOIN shipments s ON s.id = su.shipment_id LEFT JOIN trading_partners p ON p.gln = s.dest_gln
			WHERE su.gtin = $1 AND su.serial = $2 AND s.state = 'shipped' ORDER BY s.shipped_at DESC LIMIT 1`, gtin, serial).
			Scan(&w.Shipment, &w.SalesOrder, &w.CustomerGLN, &w.CustomerName, &shippedAt)
		if err != nil && !sqldb.IsNoRows(err) {
			return err
		}
		if shippedAt != nil {
			t := shippedAt.UTC()
			w.ShippedAt = &t
		}
		return nil
	})
	if err != nil && !errors.Is(err, sqldb.ErrNotFound) {
		err = fmt.Errorf("whereabouts of unit %s: %w", wire.UnitRef(gtin, serial), err)
	}
	return w, err
}

// WorkOrderPacks lists the packs a work order released: its units that
// were commissioned (in stock, shipped or returned; not decommissioned or
// voided), by GTIN, lot and serial.
func (s *Chain) WorkOrderPacks(ctx context.Context, order string) ([]ShipmentUnit, error) {
	var out []ShipmentUnit
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		if _, err := orders.GetOrder(ctx, q, order, ""); err != nil {
			return err
		}
		var err error
		out, err = packUnits(ctx, q, "u.order_id = $1 AND u.state IN ('commissioned', 'shipped', 'returned')", order)
		return err
	})
	if err != nil && !errors.Is(err, sqldb.ErrNotFound) {
		err = fmt.Errorf("packs of work order %s: %w", order, err)
	}
	return out, err
}

// SalesOrderPacks lists the units of a sales order's confirmed shipments.
func (s *Chain) SalesOrderPacks(ctx context.Context, order string) ([]ShipmentUnit, error) {
	var out []ShipmentUnit
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		if _, err := getSalesOrder(ctx, q, order, ""); err != nil {
			return err
		}
		var err error
		out, err = packUnits(ctx, q, `(u.gtin, u.serial) IN (SELECT su.gtin, su.serial FROM shipment_units su
			JOIN shipments s ON s.id = su.shipment_id WHERE s.sales_order_id = $1 AND s.state = 'shipped')`, order)
		return err
	})
	if err != nil && !errors.Is(err, sqldb.ErrNotFound) {
		err = fmt.Errorf("packs of sales order %s: %w", order, err)
	}
	return out, err
}
