package supply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// Shipment states.
const (
	ShipmentPicking = "picking" // units are being picked against the order
	ShipmentShipped = "shipped" // confirmed: every unit left
)

// EPCISSourceShipment marks the EPCIS shipping event central writes when
// a shipment is confirmed (source_ref: the shipment id).
const EPCISSourceShipment = "shipment"

// Shipment sends units of a sales order from one of our locations to the
// customer.
type Shipment struct {
	ID         string `json:"id"`
	SalesOrder string `json:"sales_order"`
	// SourceGLN and SourceExt are the ship-from SGLN: a location of ours
	// (or a site, extension "0").
	SourceGLN string `json:"source_gln"`
	SourceExt string `json:"source_extension"`
	// DestGLN is the ship-to: the sales order's customer.
	DestGLN   string     `json:"dest_gln"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at,omitzero"`
	ShippedAt *time.Time `json:"shipped_at,omitempty"`
	// Picks is what was scanned; Units how many units they hold; ByGTIN
	// the units per GTIN.
	Picks  []Pick            `json:"picks"`
	Units  uint64            `json:"units"`
	ByGTIN map[string]uint64 `json:"by_gtin"`
}

// Pick is one scan at picking: an SSCC (everything beneath it) or a loose
// unit. Units is how many units it brought into the shipment.
type Pick struct {
	SSCC     string    `json:"sscc,omitempty"`
	GTIN     string    `json:"gtin,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	Units    uint64    `json:"units,omitempty"`
	PickedAt time.Time `json:"picked_at,omitzero"`
}

// validID checks an id that ends up inside an EPCIS URI.
func validID(rec, field, v string) error {
	if v == "" || len(v) > 50 || !gs1.IsCSET82(v) {
		return sqldb.Invalid(rec, field, "must be 1 to 50 characters of GS1 CSET 82 (it becomes part of an EPCIS URI), got %q", v)
	}
	return nil
}

// CreateShipment opens a shipment (state picking) of an open sales order
// from one of our locations to the order's customer.
func (s *Chain) CreateShipment(ctx context.Context, sh Shipment) (Shipment, error) {
	rec := "shipment " + sh.ID
	if err := validID(rec, "id", sh.ID); err != nil {
		return sh, err
	}
	if sh.SourceExt == "" {
		sh.SourceExt = "0"
	}
	if _, err := gs1.ParseGLN(sh.SourceGLN); err != nil {
		return sh, sqldb.Invalid(rec, "source_gln", "%v", err)
	}
	t := sqldb.Now()
	sh.State, sh.CreatedAt, sh.ShippedAt, sh.Picks, sh.ByGTIN, sh.Units = ShipmentPicking, t, nil, []Pick{}, map[string]uint64{}, 0
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		o, err := getSalesOrder(ctx, tx, sh.SalesOrder, "")
		if err != nil {
			return fmt.Errorf("%s: sales_order: %w", rec, err)
		}
		if o.State != SalesOrderOpen {
			return fmt.Errorf("%s: %w: sales order %s is %s", rec, sqldb.ErrState, o.ID, o.State)
		}
		if err := checkSource(ctx, tx, rec, sh.SourceGLN, sh.SourceExt); err != nil {
			return err
		}
		sh.DestGLN = o.CustomerGLN
		n, err := tx.Exec(ctx, `INSERT INTO shipments (id, sales_order_id, source_gln, source_ext, dest_gln, state, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING`,
			sh.ID, sh.SalesOrder, sh.SourceGLN, sh.SourceExt, sh.DestGLN, sh.State, t)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: %w: the id exists already", rec, sqldb.ErrConflict)
		}
		return audit.Record(ctx, tx, "create", "shipment", sh.ID, nil, sh)
	})
	return sh, err
}

// checkSource accepts a location of ours, or one of our sites with
// extension "0".
func checkSource(ctx context.Context, q sqldb.Tx, rec, gln, ext string) error {
	var n int
	if err := q.QueryRow(ctx, "SELECT COUNT(*) FROM locations WHERE gln = $1 AND extension = $2", gln, ext).Scan(&n); err != nil {
		return fmt.Errorf("%s: source: %w", rec, err)
	}
	if n > 0 {
		return nil
	}
	if ext == "0" {
		if _, err := master.GetSite(ctx, q, gln); err == nil {
			return nil
		} else if !errors.Is(err, sqldb.ErrNotFound) {
			return err
		}
	}
	return sqldb.Invalid(rec, "source_gln", "%s (extension %s) is neither a location nor a site of ours", gln, ext)
}

func getShipment(ctx context.Context, q sqldb.Tx, id, lock string) (Shipment, error) {
	var sh Shipment
	var shipped *time.Time
	err := q.QueryRow(ctx, `SELECT id, sales_order_id, source_gln, source_ext, dest_gln, state, created_at, shipped_at
		FROM shipments WHERE id = $1`+lock, id).
		Scan(&sh.ID, &sh.SalesOrder, &sh.SourceGLN, &sh.SourceExt, &sh.DestGLN, &sh.State, &sh.CreatedAt, &shipped)
	if sqldb.IsNoRows(err) {
		return sh, fmt.Errorf("shipment %s: %w", id, sqldb.ErrNotFound)
	}
	if err != nil {
		return sh, fmt.Errorf("shipment %s: %w", id, err)
	}
	sh.CreatedAt = sh.CreatedAt.UTC()
	if shipped != nil {
		t := shipped.UTC()
		sh.ShippedAt = &t
	}
	sh.Picks, sh.ByGTIN = []Pick{}, map[string]uint64{}
	r, err := q.Query(ctx, "SELECT sscc, gtin, serial, picked_at FROM shipment_picks WHERE shipment_id = $1 ORDER BY picked_at, sscc, gtin, serial", id)
	if err != nil {
		return sh, fmt.Errorf("shipment %s: picks: %w", id, err)
	}
	for r.Next() {
		var p Pick
		if err := r.Scan(&p.SSCC, &p.GTIN, &p.Serial, &p.PickedAt); err != nil {
			r.Close()
			return sh, err
		}
		p.PickedAt = p.PickedAt.UTC()
		if p.SSCC == "" {
			p.Units = 1
		}
		sh.Picks = append(sh.Picks, p)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return sh, err
	}
	r, err = q.Query(ctx, "SELECT gtin, COUNT(*) FROM shipment_units WHERE shipment_id = $1 GROUP BY gtin", id)
	if err != nil {
		return sh, fmt.Errorf("shipment %s: units: %w", id, err)
	}
	for r.Next() {
		var g string
		var n uint64
		if err := r.Scan(&g, &n); err != nil {
			r.Close()
			return sh, err
		}
		sh.ByGTIN[g] = n
		sh.Units += n
	}
	r.Close()
	if err := r.Err(); err != nil {
		return sh, err
	}
	// Units per SSCC pick.
	for i, p := range sh.Picks {
		if p.SSCC == "" {
			continue
		}
		units, err := unitsBeneath(ctx, q, p.SSCC)
		if err != nil {
			return sh, err
		}
		sh.Picks[i].Units = uint64(len(units))
	}
	return sh, nil
}

// Shipment returns a shipment with its picks and unit counts.
func (s *Chain) Shipment(ctx context.Context, id string) (Shipment, error) {
	var sh Shipment
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		var err error
		sh, err = getShipment(ctx, q, id, "")
		return err
	})
	return sh, err
}

// Shipments lists the shipments of a sales order (all when order is ""),
// oldest first, without picks.
func (s *Chain) Shipments(ctx context.Context, order string) ([]Shipment, error) {
	q := "SELECT id, sales_order_id, source_gln, source_ext, dest_gln, state, created_at, shipped_at FROM shipments"
	var args []any
	if order != "" {
		q += " WHERE sales_order_id = $1"
		args = append(args, order)
	}
	q += " ORDER BY created_at, id"
	var out []Shipment
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		var err error
		out, err = sqldb.QueryAll(ctx, db, q, args, func(r sqldb.Rows) (Shipment, error) {
			var sh Shipment
			var shipped *time.Time
			err := r.Scan(&sh.ID, &sh.SalesOrder, &sh.SourceGLN, &sh.SourceExt, &sh.DestGLN, &sh.State, &sh.CreatedAt, &shipped)
			sh.CreatedAt = sh.CreatedAt.UTC()
			if shipped != nil {
				t := shipped.UTC()
				sh.ShippedAt = &t
			}
			return sh, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("shipments: %w", err)
	}
	return out, nil
}

// ShipmentUnit is one unit of a shipment with what DSCSA and EU FMD
// documents say about it.
type ShipmentUnit struct {
	GTIN   string `json:"gtin"`
	Serial string `json:"serial"`
	Lot    string `json:"lot"`
	Expiry string `json:"expiry"` // YYMMDD
	Parent string `json:"parent,omitempty"`
	// Commissioned is when the line commissioned it.
	Commissioned time.Time `json:"commissioned"`
}

// ShipmentUnits lists every unit of a shipment, by GTIN, lot and serial.
func (s *Chain) ShipmentUnits(ctx context.Context, id string) ([]ShipmentUnit, error) {
	var out []ShipmentUnit
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		if _, err := getShipment(ctx, q, id, ""); err != nil {
			return err
		}
		var err error
		out, err = shipmentUnits(ctx, q, id)
		return err
	})
	if err != nil && !errors.Is(err, sqldb.ErrNotFound) {
		err = fmt.Errorf("units of shipment %s: %w", id, err)
	}
	return out, err
}

func shipmentUnits(ctx context.Context, q sqldb.Tx, id string) ([]ShipmentUnit, error) {
	return packUnits(ctx, q, "(u.gtin, u.serial) IN (SELECT gtin, serial FROM shipment_units WHERE shipment_id = $1)", id)
}

// packUnits lists the units u that match where, with their commissioning
// time, by GTIN, lot and serial.
func packUnits(ctx context.Context, q sqldb.Tx, where string, args ...any) ([]ShipmentUnit, error) {
	r, err := q.Query(ctx, `SELECT u.gtin, u.serial, u.lot, u.expiry, u.parent,
		COALESCE((SELECT MIN(h.at) FROM unit_history h WHERE h.gtin = u.gtin AND h.serial = u.serial AND h.type = 'commissioned'), u.updated_at)
		FROM units u WHERE `+where+` ORDER BY u.gtin, u.lot, u.serial`, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []ShipmentUnit
	for r.Next() {
		var u ShipmentUnit
		var at any
		if err := r.Scan(&u.GTIN, &u.Serial, &u.Lot, &u.Expiry, &u.Parent, &at); err != nil {
			return nil, err
		}
		t, err := anyTime(at)
		if err != nil {
			return nil, fmt.Errorf("unit %s: commissioned at: %w", wire.UnitRef(u.GTIN, u.Serial), err)
		}
		u.Commissioned = t
		out = append(out, u)
	}
	return out, r.Err()
}

// anyTime reads a time that an expression (MIN, COALESCE) returns: a
// time.Time on PostgreSQL, text on SQLite, which loses the column type.
func anyTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("time %q: unknown layout", x)
	case []byte:
		return anyTime(string(x))
	}
	return time.Time{}, fmt.Errorf("time of type %T", v)
}

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

// shipmentEventID is the history event id of a shipment's confirmation.
func shipmentEventID(id string) string { return "shipment:" + id }

// ConfirmShipment records that a shipment left at time at (now when
// zero): every unit in it becomes shipped (history: shipment, source,
// destination), the shipment shipped, the sales order shipped once every
// line is shipped in full, and the EPCIS shipping event is stored (see
// ShipmentEPCISEvent), all in one transaction. A unit that changed since
// picking (decommissioned, put on hold by a recall) refuses the whole
// confirmation, naming it.
func (s *Chain) ConfirmShipment(ctx context.Context, id string, at time.Time) (Shipment, error) {
	rec := "shipment " + id
	if at.IsZero() {
		at = sqldb.Now()
	}
	at = sqldb.TS(at)
	var sh Shipment
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		before, err := getShipment(ctx, tx, id, s.db.Dialect().ForUpdate())
		if err != nil {
			return err
		}
		if before.State != ShipmentPicking {
			return fmt.Errorf("%s: %w: it is %s already", rec, sqldb.ErrState, before.State)
		}
		if before.Units == 0 {
			return fmt.Errorf("%s: %w: nothing is picked", rec, sqldb.ErrState)
		}
		// No recall of these products may commit between the check below
		// and this commit (see lockGTINs).
		gtins, err := sqldb.QueryAll(ctx, tx, "SELECT DISTINCT gtin FROM shipment_units WHERE shipment_id = $1", []any{id},
			func(r sqldb.Rows) (string, error) { var g string; return g, r.Scan(&g) })
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if err := sqldb.LockGTINs(ctx, tx, gtins); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		// The units must still be what picking found.
		bad, err := scanPicked(tx.Query(ctx, "SELECT "+pickCols+` FROM units u
			WHERE (u.gtin, u.serial) IN (SELECT gtin, serial FROM shipment_units WHERE shipment_id = $1)
			AND (u.state NOT IN ('commissioned', 'received') OR `+heldSQL+`) ORDER BY u.gtin, u.serial LIMIT 10`, id))
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if len(bad) > 0 {
			u := bad[0]
			why := u.state
			if u.state == orders.StateCommissioned || u.state == StateReceived {
				why = "on hold (recalled, or quarantined by a QA investigation)"
			}
			return fmt.Errorf("%s: %w: unit %s is %s since it was picked (%d such units shown at most 10); remove it and pick again",
				rec, sqldb.ErrState, wire.UnitRef(u.gtin, u.serial), why, len(bad))
		}
		n, err := tx.Exec(ctx, `UPDATE units SET state = 'shipped', last_event = $2, updated_at = $3
			WHERE (gtin, serial) IN (SELECT gtin, serial FROM shipment_units WHERE shipment_id = $1) AND state IN ('commissioned', 'received')`,
			id, shipmentEventID(id), at)
		if err != nil {
			return fmt.Errorf("%s: units: %w", rec, err)
		}
		if uint64(n) != before.Units {
			return fmt.Errorf("%s: %w: %d of %d units could be shipped", rec, sqldb.ErrState, n, before.Units)
		}
		details, _ := json.Marshal(map[string]string{"shipment": id, "sales_order": before.SalesOrder,
			"source": before.SourceGLN + "." + before.SourceExt, "destination": before.DestGLN})
		if _, err := tx.Exec(ctx, `INSERT INTO unit_history (gtin, serial, event_id, seq, type, at, line_id, details)
			SELECT gtin, serial, `+s.db.Dialect().Cast(2, "text")+`, 0, 'shipped', `+s.db.Dialect().Cast(3, "timestamptz")+`, '', `+s.db.Dialect().Cast(4, "jsonb")+`
			FROM shipment_units WHERE shipment_id = $1`, id, shipmentEventID(id), at, string(details)); err != nil {
			return fmt.Errorf("%s: history: %w", rec, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO shipment_lots (shipment_id, gtin, lot, units)
			SELECT su.shipment_id, u.gtin, u.lot, COUNT(*) FROM shipment_units su JOIN units u ON u.gtin = su.gtin AND u.serial = su.serial
			WHERE su.shipment_id = $1 GROUP BY su.shipment_id, u.gtin, u.lot`, id); err != nil {
			return fmt.Errorf("%s: lots: %w", rec, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO shipment_lot_pallets (shipment_id, gtin, lot, pallet)
			SELECT DISTINCT su.shipment_id, u.gtin, u.lot, CASE WHEN c.parent <> '' THEN c.parent ELSE u.parent END
			FROM shipment_units su JOIN units u ON u.gtin = su.gtin AND u.serial = su.serial JOIN containers c ON c.sscc = u.parent
			WHERE su.shipment_id = $1`, id); err != nil {
			return fmt.Errorf("%s: pallets: %w", rec, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE shipments SET state = $2, shipped_at = $3, updated_at = $4 WHERE id = $1", id, ShipmentShipped, at, sqldb.Now()); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		o, err := getSalesOrder(ctx, tx, before.SalesOrder, s.db.Dialect().ForUpdate())
		if err != nil {
			return err
		}
		shipped, err := shippedByGTIN(ctx, tx, o.ID, ShipmentShipped)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		full := true
		for _, l := range o.Lines {
			full = full && shipped[l.GTIN] >= l.Quantity
		}
		if full && o.State == SalesOrderOpen {
			if _, err := tx.Exec(ctx, "UPDATE sales_orders SET state = $2, updated_at = $3 WHERE id = $1", o.ID, SalesOrderShipped, sqldb.Now()); err != nil {
				return fmt.Errorf("%s: sales order %s: %w", rec, o.ID, err)
			}
			after := o
			after.State = SalesOrderShipped
			if err := audit.Record(ctx, tx, "ship", "sales_order", o.ID, o, after); err != nil {
				return err
			}
		}
		if sh, err = getShipment(ctx, tx, id, ""); err != nil {
			return err
		}
		e, err := shippingEvent(ctx, tx, sh, o)
		if err != nil {
			return fmt.Errorf("%s: EPCIS shipping event: %w", rec, err)
		}
		row, err := epcisdb.NewRow(e, "", sqldb.Now(), EPCISSourceShipment, id)
		if err != nil {
			return fmt.Errorf("%s: EPCIS shipping event: %w", rec, err)
		}
		if err := epcisdb.LockInsert(ctx, tx); err != nil {
			return err
		}
		if _, err := epcisdb.Insert(ctx, tx, []*epcisdb.Row{&row}); err != nil {
			return fmt.Errorf("%s: EPCIS shipping event: %w", rec, err)
		}
		// The customer's DSCSA document is queued with the confirmation:
		// it leaves even if central stops right after the commit.
		if err := enqueueShipmentDocuments(ctx, tx, sh); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		return audit.Record(ctx, tx, "confirm", "shipment", id, before, sh)
	})
	return sh, err
}

// gcpLens returns the company prefix length of every product.
func gcpLens(ctx context.Context, q sqldb.Tx) (map[string]int, error) {
	r, err := q.Query(ctx, "SELECT gtin, company_prefix_len FROM products")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := map[string]int{}
	for r.Next() {
		var g string
		var n int
		if err := r.Scan(&g, &n); err != nil {
			return nil, err
		}
		out[g] = n
	}
	return out, r.Err()
}

// containerGCP is the company prefix length for an SSCC's EPC URI: that
// of its order's product, else of the first unit beneath it, else 7.
func containerGCP(ctx context.Context, q sqldb.Tx, gcp map[string]int, sscc string) (int, error) {
	var g string
	err := q.QueryRow(ctx, `SELECT w.gtin FROM containers c JOIN work_orders w ON w.id = c.order_id WHERE c.sscc = $1`, sscc).Scan(&g)
	if err != nil && !sqldb.IsNoRows(err) {
		return 0, err
	}
	if n, ok := gcp[g]; ok {
		return n, nil
	}
	units, err := unitsBeneath(ctx, q, sscc)
	if err != nil {
		return 0, err
	}
	if len(units) > 0 {
		if n, ok := gcp[units[0].gtin]; ok {
			return n, nil
		}
	}
	return 7, nil
}

// partyURI and placeURI name a GLN whose company prefix length we may not
// know (a partner's) as a GS1 Digital Link: party (AI 417), location (414).
func partyURI(gln string) string { return "https://id.gs1.org/417/" + gln }
func placeURI(gln string) string { return "https://id.gs1.org/414/" + gln }

// bizTxURI is a business transaction reference as CBV writes it:
// urn:epcglobal:cbv:bt:{GLN of the party that issued it}:{its number}.
func bizTxURI(gln, ref string) string {
	return "urn:epcglobal:cbv:bt:" + gln + ":" + url.PathEscape(ref)
}

// shippingEvent builds the EPCIS 2.0 shipping event of a confirmed
// shipment: ObjectEvent OBSERVE, bizStep shipping, disposition in_transit,
// the picked SSCCs and loose units, read point the ship-from SGLN, the
// customer's PO and our despatch advice (the shipment id), source and
// destination as owning party and location.
func shippingEvent(ctx context.Context, q sqldb.Tx, sh Shipment, o SalesOrder) (epcis.Event, error) {
	gcp, err := gcpLens(ctx, q)
	if err != nil {
		return epcis.Event{}, err
	}
	e := epcis.Event{Type: epcis.ObjectEvent, Action: epcis.ActionObserve, EventTimeZoneOffset: "+00:00",
		BizStep: "shipping", Disposition: "in_transit"}
	if sh.ShippedAt != nil {
		e.EventTime = *sh.ShippedAt
	}
	anyGCP := 0
	for _, p := range sh.Picks {
		if p.SSCC != "" {
			n, err := containerGCP(ctx, q, gcp, p.SSCC)
			if err != nil {
				return e, err
			}
			u, err := gs1.SSCCURI(gs1.SSCC(p.SSCC), n)
			if err != nil {
				return e, fmt.Errorf("SSCC %s: %w", p.SSCC, err)
			}
			e.EPCList = append(e.EPCList, u)
			if anyGCP == 0 {
				anyGCP = n
			}
			continue
		}
		n, ok := gcp[p.GTIN]
		if !ok {
			return e, fmt.Errorf("GTIN %s: no product", p.GTIN)
		}
		u, err := gs1.SGTINURI(gs1.GTIN(p.GTIN), p.Serial, n)
		if err != nil {
			return e, fmt.Errorf("unit %s: %w", wire.UnitRef(p.GTIN, p.Serial), err)
		}
		e.EPCList = append(e.EPCList, u)
		if anyGCP == 0 {
			anyGCP = n
		}
	}
	if anyGCP == 0 {
		anyGCP = 7
	}
	from, err := gs1.SGLNURI(gs1.GLN(sh.SourceGLN), sh.SourceExt, anyGCP)
	if err != nil {
		return e, fmt.Errorf("source %s.%s: %w", sh.SourceGLN, sh.SourceExt, err)
	}
	e.ReadPoint = from
	if o.PONumber != "" {
		e.BizTransactionList = append(e.BizTransactionList, epcis.BizTransaction{Type: "po", Value: bizTxURI(o.CustomerGLN, o.PONumber)})
	}
	e.BizTransactionList = append(e.BizTransactionList, epcis.BizTransaction{Type: "desadv", Value: bizTxURI(sh.SourceGLN, sh.ID)})
	owner, err := siteOf(ctx, q, sh.SourceGLN, sh.SourceExt)
	if err != nil {
		return e, err
	}
	e.SourceList = []epcis.SourceDest{{Type: "owning_party", Value: partyURI(owner)}, {Type: "location", Value: from}}
	e.DestinationList = []epcis.SourceDest{{Type: "owning_party", Value: partyURI(sh.DestGLN)}, {Type: "location", Value: placeURI(sh.DestGLN)}}
	return e, nil
}

// siteOf returns the site GLN of a source: the location's site, or the
// site itself.
func siteOf(ctx context.Context, q sqldb.Tx, gln, ext string) (string, error) {
	var site string
	err := q.QueryRow(ctx, "SELECT site_gln FROM locations WHERE gln = $1 AND extension = $2", gln, ext).Scan(&site)
	if sqldb.IsNoRows(err) {
		return gln, nil
	}
	if err != nil {
		return "", fmt.Errorf("location %s.%s: %w", gln, ext, err)
	}
	return site, nil
}

// ShipmentEPCISEvent returns the EPCIS shipping event stored when the
// shipment was confirmed.
func (s *Chain) ShipmentEPCISEvent(ctx context.Context, id string) (epcis.Event, error) {
	var doc string
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		return q.QueryRow(ctx, "SELECT event FROM epcis_events WHERE source = $1 AND source_ref = $2", EPCISSourceShipment, id).Scan(&doc)
	})
	if sqldb.IsNoRows(err) {
		return epcis.Event{}, fmt.Errorf("shipment %s: EPCIS shipping event: %w (confirmed shipments have one)", id, sqldb.ErrNotFound)
	}
	if err != nil {
		return epcis.Event{}, fmt.Errorf("shipment %s: EPCIS shipping event: %w", id, err)
	}
	e, err := epcisdb.ParseStoredEvent(doc)
	if err != nil {
		return epcis.Event{}, fmt.Errorf("shipment %s: %w", id, err)
	}
	return e, nil
}

// --- returns ---

// Return outcomes.
const (
	ReturnPending  = ""
	ReturnVerified = "verified"
	ReturnRefused  = "refused"
)

// Return is a shipped unit that came back.
type Return struct {
	ID          int64      `json:"id"`
	GTIN        string     `json:"gtin"`
	Serial      string     `json:"serial"`
	Shipment    string     `json:"shipment,omitempty"`
	FromGLN     string     `json:"from_gln,omitempty"`
	SiteGLN     string     `json:"site_gln"`
	ReceivedAt  time.Time  `json:"received_at"`
	VerifiedAt  *time.Time `json:"verified_at,omitempty"`
	Outcome     string     `json:"outcome,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	RestockedAt *time.Time `json:"restocked_at,omitempty"`
}

func latestReturn(ctx context.Context, q sqldb.Tx, gtin, serial string) (Return, error) {
	var r Return
	var verified, restocked *time.Time
	err := q.QueryRow(ctx, `SELECT id, gtin, serial, shipment_id, from_gln, site_gln, received_at, verified_at, outcome, reason, restocked_at
		FROM unit_returns WHERE gtin = $1 AND serial = $2 ORDER BY id DESC LIMIT 1`, gtin, serial).
		Scan(&r.ID, &r.GTIN, &r.Serial, &r.Shipment, &r.FromGLN, &r.SiteGLN, &r.ReceivedAt, &verified, &r.Outcome, &r.Reason, &restocked)
	if sqldb.IsNoRows(err) {
		return r, fmt.Errorf("return of unit %s: %w", wire.UnitRef(gtin, serial), sqldb.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("return of unit %s: %w", wire.UnitRef(gtin, serial), err)
	}
	r.ReceivedAt = r.ReceivedAt.UTC()
	if verified != nil {
		t := verified.UTC()
		r.VerifiedAt = &t
	}
	if restocked != nil {
		t := restocked.UTC()
		r.RestockedAt = &t
	}
	return r, nil
}

// unitForUpdate reads a unit's state, lot and expiry, locking it.
func (s *Chain) unitForUpdate(ctx context.Context, q sqldb.Tx, gtin, serial string) (state, lot, expiry string, err error) {
	err = q.QueryRow(ctx, "SELECT state, lot, expiry FROM units WHERE gtin = $1 AND serial = $2"+s.db.Dialect().ForUpdate(), gtin, serial).Scan(&state, &lot, &expiry)
	if sqldb.IsNoRows(err) {
		return "", "", "", fmt.Errorf("unit %s: %w", wire.UnitRef(gtin, serial), sqldb.ErrNotFound)
	}
	if err != nil {
		return "", "", "", fmt.Errorf("unit %s: %w", wire.UnitRef(gtin, serial), err)
	}
	return state, lot, expiry, nil
}

func (s *Chain) unitHistory(ctx context.Context, tx sqldb.Tx, gtin, serial, eventID, typ string, at time.Time, details any) error {
	b, _ := json.Marshal(details) // maps of strings always marshal
	_, err := tx.Exec(ctx, `INSERT INTO unit_history (gtin, serial, event_id, seq, type, at, line_id, details) VALUES ($1, $2, $3, 0, $4, $5, '', $6)`,
		gtin, serial, eventID, typ, at, string(b))
	return err
}

// ReceiveReturn takes a shipped unit back at one of our sites: it becomes
// returned (out of any container) and waits for VerifyReturn before it
// may be restocked.
func (s *Chain) ReceiveReturn(ctx context.Context, gtin, serial, siteGLN string) (Return, error) {
	ref := wire.UnitRef(gtin, serial)
	rec := "return of unit " + ref
	if err := check.GTIN(rec, "gtin", gtin); err != nil {
		return Return{}, err
	}
	var ret Return
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		if _, err := master.GetSite(ctx, tx, siteGLN); err != nil {
			return fmt.Errorf("%s: site_gln: %w", rec, err)
		}
		state, _, _, err := s.unitForUpdate(ctx, tx, gtin, serial)
		if err != nil {
			return err
		}
		if state != StateShipped {
			return fmt.Errorf("%s: %w: the unit is %s; only a shipped unit can come back", rec, sqldb.ErrState, state)
		}
		var shipment, from string
		err = tx.QueryRow(ctx, `SELECT s.id, s.dest_gln FROM shipment_units su JOIN shipments s ON s.id = su.shipment_id
			WHERE su.gtin = $1 AND su.serial = $2 AND s.state = 'shipped' ORDER BY s.shipped_at DESC LIMIT 1`, gtin, serial).Scan(&shipment, &from)
		if err != nil && !sqldb.IsNoRows(err) {
			return fmt.Errorf("%s: %w", rec, err)
		}
		t := sqldb.Now()
		if err := tx.QueryRow(ctx, `INSERT INTO unit_returns (gtin, serial, shipment_id, from_gln, site_gln, received_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, gtin, serial, shipment, from, siteGLN, t).Scan(&ret.ID); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		ev := "return:" + strconv.FormatInt(ret.ID, 10)
		if _, err := tx.Exec(ctx, "UPDATE units SET state = 'returned', parent = '', last_event = $3, updated_at = $4 WHERE gtin = $1 AND serial = $2",
			gtin, serial, ev, t); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if err := s.unitHistory(ctx, tx, gtin, serial, ev, "returned", t, map[string]string{"shipment": shipment, "from": from, "site": siteGLN}); err != nil {
			return fmt.Errorf("%s: history: %w", rec, err)
		}
		ret = Return{ID: ret.ID, GTIN: gtin, Serial: serial, Shipment: shipment, FromGLN: from, SiteGLN: siteGLN, ReceivedAt: t}
		e, err := receivingEvent(ctx, tx, ret)
		if err != nil {
			return fmt.Errorf("%s: EPCIS receiving event: %w", rec, err)
		}
		row, err := epcisdb.NewRow(e, "", t, EPCISSourceReturn, strconv.FormatInt(ret.ID, 10))
		if err != nil {
			return fmt.Errorf("%s: EPCIS receiving event: %w", rec, err)
		}
		if err := epcisdb.LockInsert(ctx, tx); err != nil {
			return err
		}
		if _, err := epcisdb.Insert(ctx, tx, []*epcisdb.Row{&row}); err != nil {
			return fmt.Errorf("%s: EPCIS receiving event: %w", rec, err)
		}
		return audit.Record(ctx, tx, "receive", "unit_return", strconv.FormatInt(ret.ID, 10), nil, ret)
	})
	return ret, err
}

// EPCISSourceReturn marks the EPCIS receiving event of a return
// (source_ref: the return id).
const EPCISSourceReturn = "return"

// receivingEvent is the EPCIS 2.0 event of a unit received back:
// ObjectEvent OBSERVE, bizStep receiving, disposition in_progress, at the
// receiving site, from the customer (source owning party) to us
// (destination owning party and location), under a return authorisation
// (bizTransaction rma: the return id).
func receivingEvent(ctx context.Context, q sqldb.Tx, ret Return) (epcis.Event, error) {
	var gcp int
	if err := q.QueryRow(ctx, "SELECT company_prefix_len FROM products WHERE gtin = $1", ret.GTIN).Scan(&gcp); err != nil {
		return epcis.Event{}, fmt.Errorf("product %s: %w", ret.GTIN, err)
	}
	epc, err := gs1.SGTINURI(gs1.GTIN(ret.GTIN), ret.Serial, gcp)
	if err != nil {
		return epcis.Event{}, err
	}
	site, err := gs1.SGLNURI(gs1.GLN(ret.SiteGLN), "0", gcp)
	if err != nil {
		return epcis.Event{}, err
	}
	e := epcis.Event{Type: epcis.ObjectEvent, Action: epcis.ActionObserve, EventTime: ret.ReceivedAt, EventTimeZoneOffset: "+00:00",
		EPCList: []string{epc}, BizStep: "receiving", Disposition: "in_progress", ReadPoint: site, BizLocation: site,
		BizTransactionList: []epcis.BizTransaction{{Type: "rma", Value: bizTxURI(ret.SiteGLN, "return-"+strconv.FormatInt(ret.ID, 10))}},
		DestinationList:    []epcis.SourceDest{{Type: "owning_party", Value: partyURI(ret.SiteGLN)}, {Type: "location", Value: site}}}
	if ret.FromGLN != "" {
		e.SourceList = []epcis.SourceDest{{Type: "owning_party", Value: partyURI(ret.FromGLN)}, {Type: "location", Value: placeURI(ret.FromGLN)}}
	}
	return e, nil
}

// Reasons a returned unit is refused at verification.
const (
	ReturnLotMismatch    = "lot mismatch"
	ReturnExpiryMismatch = "expiry mismatch"
	ReturnRecalled       = "recalled"
	ReturnExpired        = "expired"
)

// VerifyReturn verifies a returned unit before resale (DSCSA saleable
// returns): the lot and expiry read from the pack must be the unit's, no
// recall may cover it and it must not be expired. The outcome (verified,
// or refused with the reason) is recorded on the return; only a verified
// return can be restocked.
func (s *Chain) VerifyReturn(ctx context.Context, gtin, serial, lot, expiry string) (Return, error) {
	ref := wire.UnitRef(gtin, serial)
	rec := "return of unit " + ref
	if lot == "" {
		return Return{}, sqldb.Invalid(rec, "lot", "missing; read it from the pack")
	}
	if err := gs1.ValidateDate("17", expiry, true); err != nil {
		return Return{}, sqldb.Invalid(rec, "expiry", "%v", err)
	}
	var ret Return
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		state, uLot, uExpiry, err := s.unitForUpdate(ctx, tx, gtin, serial)
		if err != nil {
			return err
		}
		if state != StateReturned {
			return fmt.Errorf("%s: %w: the unit is %s; only a returned unit is verified for resale", rec, sqldb.ErrState, state)
		}
		before, err := latestReturn(ctx, tx, gtin, serial)
		if err != nil {
			return err
		}
		if before.Outcome != ReturnPending {
			return fmt.Errorf("%s: %w: verified already (%s)", rec, sqldb.ErrState, before.Outcome)
		}
		recalled, err := unitRecalled(ctx, tx, gtin, serial)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		reason := ""
		switch {
		case lot != uLot:
			reason = ReturnLotMismatch
		case expiry != uExpiry:
			reason = ReturnExpiryMismatch
		case recalled:
			reason = ReturnRecalled
		default:
			exp, err := gs1.ExpiryTime(uExpiry)
			if err != nil {
				return fmt.Errorf("%s: expiry: %w", rec, err)
			}
			if exp.Before(time.Now().UTC().Truncate(24 * time.Hour)) {
				reason = ReturnExpired
			}
		}
		t := sqldb.Now()
		ret = before
		ret.VerifiedAt, ret.Outcome, ret.Reason = &t, ReturnVerified, reason
		if reason != "" {
			ret.Outcome = ReturnRefused
		}
		if _, err := tx.Exec(ctx, "UPDATE unit_returns SET verified_at = $2, outcome = $3, reason = $4 WHERE id = $1", ret.ID, t, ret.Outcome, reason); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		return audit.Record(ctx, tx, "verify", "unit_return", strconv.FormatInt(ret.ID, 10), before, ret)
	})
	return ret, err
}

// RestockReturn puts a returned unit whose return was verified back into
// sellable stock (state commissioned). An unverified or refused return is
// sqldb.ErrState.
func (s *Chain) RestockReturn(ctx context.Context, gtin, serial string) (Return, error) {
	ref := wire.UnitRef(gtin, serial)
	rec := "return of unit " + ref
	var ret Return
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		state, _, _, err := s.unitForUpdate(ctx, tx, gtin, serial)
		if err != nil {
			return err
		}
		if state != StateReturned {
			return fmt.Errorf("%s: %w: the unit is %s; only a returned unit is restocked", rec, sqldb.ErrState, state)
		}
		before, err := latestReturn(ctx, tx, gtin, serial)
		if err != nil {
			return err
		}
		switch before.Outcome {
		case ReturnPending:
			return fmt.Errorf("%s: %w: not verified; verify it before resale", rec, sqldb.ErrState)
		case ReturnRefused:
			return fmt.Errorf("%s: %w: its verification failed (%s); it cannot be resold", rec, sqldb.ErrState, before.Reason)
		}
		// A recall may have come after the verification.
		recalled, err := unitRecalled(ctx, tx, gtin, serial)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if recalled {
			return fmt.Errorf("%s: %w: a recall covers it", rec, sqldb.ErrState)
		}
		if q, err := unitQuarantined(ctx, tx, gtin, serial); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		} else if q {
			return fmt.Errorf("%s: %w: a QA investigation quarantines it", rec, sqldb.ErrState)
		}
		t := sqldb.Now()
		ev := "restock:" + strconv.FormatInt(before.ID, 10)
		if _, err := tx.Exec(ctx, "UPDATE units SET state = 'commissioned', last_event = $3, updated_at = $4 WHERE gtin = $1 AND serial = $2",
			gtin, serial, ev, t); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE unit_returns SET restocked_at = $2 WHERE id = $1", before.ID, t); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if err := s.unitHistory(ctx, tx, gtin, serial, ev, "restocked", t, map[string]string{"site": before.SiteGLN}); err != nil {
			return fmt.Errorf("%s: history: %w", rec, err)
		}
		ret = before
		ret.RestockedAt = &t
		return audit.Record(ctx, tx, "restock", "unit_return", strconv.FormatInt(ret.ID, 10), before, ret)
	})
	return ret, err
}

// LatestReturn returns the unit's most recent return.
func (s *Chain) LatestReturn(ctx context.Context, gtin, serial string) (Return, error) {
	var r Return
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		r, err = latestReturn(ctx, q, gtin, serial)
		return err
	})
	return r, err
}

// --- hierarchy ---

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

// enqueueShipmentDocuments queues the shipment's DSCSA document when its
// customer has a DSCSA endpoint (inside the confirmation).
func enqueueShipmentDocuments(ctx context.Context, tx sqldb.Tx, sh Shipment) error {
	_, err := master.GetEndpoint(ctx, tx, sh.DestGLN, master.EndpointDSCSA)
	if errors.Is(err, sqldb.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = messages.EnqueueOutbound(ctx, tx, master.EndpointDSCSA, sh.ID, sh.DestGLN)
	return err
}
