package supply

import (
	"context"
	"fmt"
	"strconv"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// PickItem is one scan: an SSCC, or a unit's GTIN and serial.
type PickItem struct {
	SSCC   string `json:"sscc,omitempty"`
	GTIN   string `json:"gtin,omitempty"`
	Serial string `json:"serial,omitempty"`
}

// pickedUnit is a unit a pick would add, with what the checks need.
type pickedUnit struct {
	gtin, serial, state, parent, otherShipment string
	held                                       bool
}

// unitsBeneath returns every unit inside sscc, at any depth.
func unitsBeneath(ctx context.Context, q sqldb.Tx, sscc string) ([]pickedUnit, error) {
	return scanPicked(q.Query(ctx, `WITH RECURSIVE tree(sscc) AS (
			SELECT sscc FROM containers WHERE sscc = $1
			UNION ALL SELECT c.sscc FROM containers c JOIN tree t ON c.parent = t.sscc)
		SELECT `+pickCols+` FROM units u WHERE u.parent IN (SELECT sscc FROM tree) ORDER BY u.gtin, u.serial`, sscc))
}

const pickCols = `u.gtin, u.serial, u.state, u.parent, CASE WHEN ` + heldSQL + ` THEN 1 ELSE 0 END,
	COALESCE((SELECT su.shipment_id FROM shipment_units su JOIN shipments s ON s.id = su.shipment_id
		WHERE su.gtin = u.gtin AND su.serial = u.serial AND s.state = 'picking' LIMIT 1), '')`

func scanPicked(r sqldb.Rows, err error) ([]pickedUnit, error) {
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []pickedUnit
	for r.Next() {
		var p pickedUnit
		var held int
		if err := r.Scan(&p.gtin, &p.serial, &p.state, &p.parent, &held, &p.otherShipment); err != nil {
			return nil, err
		}
		p.held = held != 0
		out = append(out, p)
	}
	return out, r.Err()
}

// Pick adds scanned SSCCs (with every unit beneath them) and loose units to
// a shipment in picking, all or nothing. Each is checked against the sales
// order: an SSCC must be known, not inside another container and not
// empty; a unit must not be inside a container (pick the container); every
// unit must be commissioned (not shipped, returned or decommissioned), not
// held by a recall, not in another shipment being picked, and of a GTIN
// on the order, without exceeding the ordered quantity. A refusal names
// picks[i].
//
// It is long because each scan is checked against the order, the other shipments and the
// units' states inside the one transaction that records it.
func (s *Chain) Pick(ctx context.Context, id string, items []PickItem) (Shipment, error) {
	rec := "shipment " + id
	if len(items) == 0 {
		return Shipment{}, sqldb.Invalid(rec, "picks", "missing; scan at least one SSCC or unit")
	}
	for i, it := range items {
		f := "picks[" + strconv.Itoa(i) + "]"
		switch {
		case it.SSCC != "" && (it.GTIN != "" || it.Serial != ""):
			return Shipment{}, sqldb.Invalid(rec, f, "an SSCC or a unit (gtin, serial), not both")
		case it.SSCC != "":
			if _, err := gs1.ParseSSCC(it.SSCC); err != nil {
				return Shipment{}, sqldb.Invalid(rec, f+".sscc", "%v", err)
			}
		default:
			if err := check.GTIN(rec, f+".gtin", it.GTIN); err != nil {
				return Shipment{}, err
			}
			if it.Serial == "" || len(it.Serial) > 20 || !gs1.IsCSET82(it.Serial) {
				return Shipment{}, sqldb.Invalid(rec, f+".serial", "a serial (AI 21) has 1 to 20 characters of GS1 CSET 82, got %q", it.Serial)
			}
		}
	}
	var sh Shipment
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		cur, err := getShipment(ctx, tx, id, s.db.Dialect().ForUpdate())
		if err != nil {
			return err
		}
		if cur.State != ShipmentPicking {
			return fmt.Errorf("%s: %w: it is %s; only a shipment being picked takes picks", rec, sqldb.ErrState, cur.State)
		}
		o, err := getSalesOrder(ctx, tx, cur.SalesOrder, "")
		if err != nil {
			return err
		}
		ordered := map[string]uint64{}
		for _, l := range o.Lines {
			ordered[l.GTIN] += l.Quantity
		}
		taken, err := shippedByGTIN(ctx, tx, o.ID, "")
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		t := sqldb.Now()
		type unitKey struct{ gtin, serial string }
		inBatch := map[unitKey]int{}
		var picks, units [][]any
		for i, it := range items {
			f := "picks[" + strconv.Itoa(i) + "]"
			var found []pickedUnit
			if it.SSCC != "" {
				var parent string
				err := tx.QueryRow(ctx, "SELECT parent FROM containers WHERE sscc = $1", it.SSCC).Scan(&parent)
				if sqldb.IsNoRows(err) {
					return sqldb.Invalid(rec, f+".sscc", "container %s is unknown", it.SSCC)
				}
				if err != nil {
					return fmt.Errorf("%s: %s: %w", rec, f, err)
				}
				if parent != "" {
					return sqldb.Invalid(rec, f+".sscc", "container %s is inside %s; pick %s, or unpack it first", it.SSCC, parent, parent)
				}
				var other string
				err = tx.QueryRow(ctx, `SELECT p.shipment_id FROM shipment_picks p JOIN shipments s ON s.id = p.shipment_id
					WHERE p.sscc = $1 AND s.state = 'picking' LIMIT 1`, it.SSCC).Scan(&other)
				if err == nil {
					return sqldb.Invalid(rec, f+".sscc", "container %s is picked for shipment %s already", it.SSCC, other)
				}
				if !sqldb.IsNoRows(err) {
					return fmt.Errorf("%s: %s: %w", rec, f, err)
				}
				// Two shipments picking the same units (on PostgreSQL, where
				// writers run at once) wait for each other here, so the
				// second sees the first one's picks.
				if lock := s.db.Dialect().ForUpdate(); lock != "" {
					if _, err := tx.Exec(ctx, `WITH RECURSIVE tree(sscc) AS (
							SELECT sscc FROM containers WHERE sscc = $1
							UNION ALL SELECT c.sscc FROM containers c JOIN tree t ON c.parent = t.sscc)
						SELECT 1 FROM units u WHERE u.parent IN (SELECT sscc FROM tree)`+lock, it.SSCC); err != nil {
						return fmt.Errorf("%s: %s: %w", rec, f, err)
					}
				}
				if found, err = unitsBeneath(ctx, tx, it.SSCC); err != nil {
					return fmt.Errorf("%s: %s: %w", rec, f, err)
				}
				if len(found) == 0 {
					return sqldb.Invalid(rec, f+".sscc", "container %s holds no units", it.SSCC)
				}
			} else {
				if lock := s.db.Dialect().ForUpdate(); lock != "" {
					if _, err := tx.Exec(ctx, "SELECT 1 FROM units WHERE gtin = $1 AND serial = $2"+lock, it.GTIN, it.Serial); err != nil {
						return fmt.Errorf("%s: %s: %w", rec, f, err)
					}
				}
				found, err = scanPicked(tx.Query(ctx, "SELECT "+pickCols+" FROM units u WHERE u.gtin = $1 AND u.serial = $2", it.GTIN, it.Serial))
				if err != nil {
					return fmt.Errorf("%s: %s: %w", rec, f, err)
				}
				ref := wire.UnitRef(it.GTIN, it.Serial)
				if len(found) == 0 {
					return sqldb.Invalid(rec, f, "unit %s is unknown", ref)
				}
				if p := found[0].parent; p != "" {
					return sqldb.Invalid(rec, f, "unit %s is inside %s; pick the container, or unpack it first", ref, p)
				}
			}
			for _, u := range found {
				ref := wire.UnitRef(u.gtin, u.serial)
				k := unitKey{u.gtin, u.serial}
				switch {
				case u.otherShipment == id:
					return sqldb.Invalid(rec, f, "unit %s is in this shipment already", ref)
				case u.otherShipment != "":
					return sqldb.Invalid(rec, f, "unit %s is picked for shipment %s already", ref, u.otherShipment)
				case u.state != orders.StateCommissioned && u.state != StateReceived:
					return sqldb.Invalid(rec, f, "unit %s is %s; only a unit in stock (commissioned or received) is shipped", ref, u.state)
				case u.held:
					return sqldb.Invalid(rec, f, "unit %s is on hold: a recall or an open QA investigation (quarantine) covers it", ref)
				case ordered[u.gtin] == 0:
					return sqldb.Invalid(rec, f, "unit %s: GTIN %s is not on sales order %s", ref, u.gtin, o.ID)
				}
				if j, dup := inBatch[k]; dup {
					return sqldb.Invalid(rec, f, "unit %s is scanned twice (picks[%d])", ref, j)
				}
				inBatch[k] = i
				taken[u.gtin]++
				if taken[u.gtin] > ordered[u.gtin] {
					return sqldb.Invalid(rec, f, "GTIN %s: %d units would exceed the %d ordered on sales order %s", u.gtin, taken[u.gtin], ordered[u.gtin], o.ID)
				}
				units = append(units, []any{id, u.gtin, u.serial})
			}
			picks = append(picks, []any{id, it.SSCC, it.GTIN, it.Serial, t})
		}
		if err := tx.CopyRows(ctx, "shipment_picks", []string{"shipment_id", "sscc", "gtin", "serial", "picked_at"}, picks); err != nil {
			return fmt.Errorf("%s: picks: %w", rec, err)
		}
		if err := tx.CopyRows(ctx, "shipment_units", []string{"shipment_id", "gtin", "serial"}, units); err != nil {
			return fmt.Errorf("%s: units: %w", rec, err)
		}
		if sh, err = getShipment(ctx, tx, id, ""); err != nil {
			return err
		}
		return audit.Record(ctx, tx, "pick", "shipment", id, nil, map[string]any{"picks": items, "units": len(units)})
	})
	return sh, err
}
