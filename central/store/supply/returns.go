package supply

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

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
