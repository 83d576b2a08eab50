package supply

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/sqldb"
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
