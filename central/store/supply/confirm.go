package supply

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// shipmentEventID is the history event id of a shipment's confirmation.
func shipmentEventID(id string) string { return "shipment:" + id }

// ConfirmShipment records that a shipment left at time at (now when
// zero): every unit in it becomes shipped (history: shipment, source,
// destination), the shipment shipped, the sales order shipped once every
// line is shipped in full, and the EPCIS shipping event is stored (see
// ShipmentEPCISEvent), all in one transaction. A unit that changed since
// picking (decommissioned, put on hold by a recall) refuses the whole
// confirmation, naming it.
//
// It is long because everything a confirmation changes (units, shipment, sales order,
// EPCIS event, outbound documents, audit) commits in one transaction, under the GTIN
// locks.
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
