package supply

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// StateReceived is a unit new to us that a partner's document brought
// (a contract manufacturer's production of our product): in our stock
// like a commissioned one.
const StateReceived = "received"

// ReceiptRetention is how long a partner's TI and TS are kept (FDCA
// §582(b)(1)(A)(ii): 6 years after the transaction).
const ReceiptRetention = 6 * 365 * 24 * time.Hour

// Exception kinds of a receipt.
const (
	ExceptionOverage          = "overage"           // shipped to us, but we hold it already (or it is elsewhere)
	ExceptionShortage         = "shortage"          // described (commissioned) in the document, not in its shipment
	ExceptionUnknownSerial    = "unknown_serial"    // shipped, but nobody commissioned it: no data to receive it with
	ExceptionStatementMissing = "statement_missing" // no affirmed transaction statement
)

// Exception states.
const (
	ExceptionOpen     = "open"
	ExceptionResolved = "resolved"
)

// InboundUnit is a unit a partner's shipping event sends us. Lot and
// Expiry (YYMMDD) are set when the document commissions it.
type InboundUnit struct {
	GTIN, Serial string
	Lot, Expiry  string
	// Parent is the innermost container the document packs it in.
	Parent       string
	Commissioned time.Time
}

// InboundContainer is a container the shipment brings, inside Parent
// ("" at the top).
type InboundContainer struct {
	SSCC, Parent string
}

// ReceiptException is an exception found on a receipt.
type ReceiptException struct {
	ID         int64      `json:"id"`
	Receipt    int64      `json:"receipt,omitempty"`
	Kind       string     `json:"kind"`
	GTIN       string     `json:"gtin,omitempty"`
	Serial     string     `json:"serial,omitempty"`
	SSCC       string     `json:"sscc,omitempty"`
	Detail     string     `json:"detail"`
	State      string     `json:"state"`
	CreatedAt  time.Time  `json:"created_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	ResolvedBy string     `json:"resolved_by,omitempty"`
	Resolution string     `json:"resolution,omitempty"`
}

// ReceiptInput is a partner's document as central receives it.
type ReceiptInput struct {
	Partner    string // the sender: a trading partner's GLN
	Receiver   string // our site's GLN, where the goods arrive
	DocumentID string // its SBDH instance identifier
	Version    string // EPCIS version
	Affirmed   bool
	Statement  string
	// Summary is the partner's TI as read (products, lots, shipping).
	Summary any
	// Document is the document as received.
	Document []byte
	// Units and Containers are what its shipping events send us.
	Units      []InboundUnit
	Containers []InboundContainer
	// Exceptions are those found in the document itself (shortages).
	Exceptions []ReceiptException
}

// Receipt is a received document and what it did.
type Receipt struct {
	ID          int64              `json:"id"`
	Partner     string             `json:"partner"`
	Receiver    string             `json:"receiver"`
	DocumentID  string             `json:"document_id"`
	Version     string             `json:"epcis_version"`
	Affirmed    bool               `json:"transaction_statement_affirmed"`
	Statement   string             `json:"transaction_statement,omitempty"`
	Summary     json.RawMessage    `json:"summary"`
	Units       int                `json:"units_received"`
	Returned    int                `json:"units_returned"`
	Containers  int                `json:"containers"`
	ReceivedAt  time.Time          `json:"received_at"`
	RetainUntil time.Time          `json:"retain_until"`
	ReceivedBy  string             `json:"received_by"`
	Exceptions  []ReceiptException `json:"exceptions"`
	// Duplicate is set when the partner sent a document it had sent
	// before: the first receipt is returned, nothing is applied again.
	Duplicate bool `json:"duplicate,omitempty"`
}

// receiptEventID is the history event id of a receipt.
func receiptEventID(id int64) string { return "receipt:" + strconv.FormatInt(id, 10) }

// RecordReceipt applies a partner's document in one transaction: every
// unit it ships us that is new and that the document commissions becomes
// received (with its lot, expiry and container); a unit of ours shipped
// to that partner comes back as returned; a unit we hold already is an
// overage and one nobody commissioned an unknown serial, both exceptions
// with the document's own (shortages, a missing statement). The document
// is kept for ReceiptRetention. A document the partner sent before (same
// instance identifier) returns the first receipt with Duplicate set.
//
// It is long because a partner's document is applied unit by unit, with its exceptions,
// in one transaction.
func (s *Chain) RecordReceipt(ctx context.Context, in ReceiptInput) (Receipt, error) {
	rec := "receipt of " + in.Partner + " " + in.DocumentID
	if in.DocumentID == "" || len(in.DocumentID) > 256 {
		return Receipt{}, sqldb.Invalid(rec, "document_id", "the SBDH InstanceIdentifier must be 1 to 256 characters")
	}
	summary, err := json.Marshal(in.Summary)
	if err != nil {
		return Receipt{}, fmt.Errorf("%s: summary: %w", rec, err)
	}
	var out Receipt
	err = s.db.Write(ctx, func(tx sqldb.Tx) error {
		if _, err := master.GetPartner(ctx, tx, in.Partner); err != nil {
			return err
		}
		var prior int64
		err := tx.QueryRow(ctx, "SELECT id FROM receipts WHERE partner_gln = $1 AND document_id = $2", in.Partner, in.DocumentID).Scan(&prior)
		if err == nil {
			out, err = getReceipt(ctx, tx, prior)
			out.Duplicate = true
			return err
		}
		if !sqldb.IsNoRows(err) {
			return fmt.Errorf("%s: %w", rec, err)
		}
		t := sqldb.Now()
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO receipts (partner_gln, receiver_gln, document_id, epcis_version, affirmed, statement, summary,
			document, received_at, retain_until, received_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			in.Partner, in.Receiver, in.DocumentID, in.Version, in.Affirmed, in.Statement, string(summary), in.Document,
			t, t.Add(ReceiptRetention), sqldb.ActorFrom(ctx)).Scan(&id); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		exc := in.Exceptions
		if !in.Affirmed {
			exc = append(exc, ReceiptException{Kind: ExceptionStatementMissing,
				Detail: "the document carries no affirmed DSCSA transaction statement (gs1ushc:dscsaTransactionStatement)"})
		}
		var received, returned int
		event := receiptEventID(id)
		details, _ := json.Marshal(map[string]any{"receipt": id, "partner": in.Partner, "document_id": in.DocumentID})
		for _, c := range in.Containers {
			if _, err := tx.Exec(ctx, `INSERT INTO containers (sscc, parent, line_id, order_id, created_at, updated_at) VALUES ($1, $2, '', '', $3, $3)
				ON CONFLICT (sscc) DO UPDATE SET parent = excluded.parent, updated_at = excluded.updated_at`, c.SSCC, c.Parent, t); err != nil {
				return fmt.Errorf("%s: container %s: %w", rec, c.SSCC, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO unit_history (gtin, serial, event_id, seq, type, at, line_id, details)
				VALUES ('', $1, $2, 0, 'received', $3, '', $4) ON CONFLICT DO NOTHING`, c.SSCC, event, t, string(details)); err != nil {
				return fmt.Errorf("%s: container %s: %w", rec, c.SSCC, err)
			}
		}
		for _, u := range in.Units {
			ref := wire.UnitRef(u.GTIN, u.Serial)
			outcome, e, err := s.receiveUnit(ctx, tx, in, u, event, string(details), t)
			if err != nil {
				return fmt.Errorf("%s: unit %s: %w", rec, ref, err)
			}
			if e != nil {
				exc = append(exc, *e)
				continue
			}
			if outcome == StateReceived {
				received++
			} else {
				returned++
			}
			if _, err := tx.Exec(ctx, "INSERT INTO receipt_units (receipt_id, gtin, serial, outcome) VALUES ($1, $2, $3, $4)",
				id, u.GTIN, u.Serial, outcome); err != nil {
				return fmt.Errorf("%s: unit %s: %w", rec, ref, err)
			}
		}
		for _, e := range exc {
			if _, err := tx.Exec(ctx, `INSERT INTO dscsa_exceptions (receipt_id, kind, gtin, serial, sscc, detail, state, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, 'open', $7)`, id, e.Kind, e.GTIN, e.Serial, e.SSCC, e.Detail, t); err != nil {
				return fmt.Errorf("%s: exception: %w", rec, err)
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE receipts SET units = $2, returned = $3, containers = $4 WHERE id = $1",
			id, received, returned, len(in.Containers)); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if out, err = getReceipt(ctx, tx, id); err != nil {
			return err
		}
		after := out
		after.Summary = nil
		return audit.Record(ctx, tx, "receive", "receipt", strconv.FormatInt(id, 10), nil, after)
	})
	return out, err
}

// receiveUnit applies one shipped unit: received, returned, or an
// exception (with nothing written for it).
func (s *Chain) receiveUnit(ctx context.Context, tx sqldb.Tx, in ReceiptInput, u InboundUnit, event, details string, t time.Time) (string, *ReceiptException, error) {
	exc := func(kind, format string, args ...any) (string, *ReceiptException, error) {
		return "", &ReceiptException{Kind: kind, GTIN: u.GTIN, Serial: u.Serial, SSCC: u.Parent, Detail: fmt.Sprintf(format, args...)}, nil
	}
	ref := wire.UnitRef(u.GTIN, u.Serial)
	if _, err := master.GetProduct(ctx, tx, u.GTIN); errors.Is(err, sqldb.ErrNotFound) {
		return exc(ExceptionUnknownSerial, "unit %s: GTIN %s is not a product of ours", ref, u.GTIN)
	} else if err != nil {
		return "", nil, err
	}
	var state, lot string
	err := tx.QueryRow(ctx, "SELECT state, lot FROM units WHERE gtin = $1 AND serial = $2"+s.db.Dialect().ForUpdate(), u.GTIN, u.Serial).Scan(&state, &lot)
	switch {
	case sqldb.IsNoRows(err):
		if u.Lot == "" {
			return exc(ExceptionUnknownSerial, "unit %s is shipped but nobody commissioned it: not in this document, not known to us", ref)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO units (gtin, serial, counter, order_id, lot, expiry, state, reason, line_id, parent, last_event, updated_at)
			VALUES ($1, $2, NULL, '', $3, $4, 'received', '', '', $5, $6, $7)`, u.GTIN, u.Serial, u.Lot, u.Expiry, u.Parent, event, t); err != nil {
			return "", nil, err
		}
		if err := s.unitHistory(ctx, tx, u.GTIN, u.Serial, event, "received", t, json.RawMessage(details)); err != nil {
			return "", nil, err
		}
		return StateReceived, nil, nil
	case err != nil:
		return "", nil, err
	}
	if state == StateShipped {
		var dest string
		err := tx.QueryRow(ctx, `SELECT s.dest_gln FROM shipment_units su JOIN shipments s ON s.id = su.shipment_id
			WHERE su.gtin = $1 AND su.serial = $2 AND s.state = 'shipped' ORDER BY s.shipped_at DESC LIMIT 1`, u.GTIN, u.Serial).Scan(&dest)
		if err != nil && !sqldb.IsNoRows(err) {
			return "", nil, err
		}
		if dest == in.Partner {
			if _, err := tx.Exec(ctx, "UPDATE units SET state = 'returned', parent = $3, last_event = $4, updated_at = $5 WHERE gtin = $1 AND serial = $2",
				u.GTIN, u.Serial, u.Parent, event, t); err != nil {
				return "", nil, err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO unit_returns (gtin, serial, shipment_id, from_gln, site_gln, received_at)
				VALUES ($1, $2, '', $3, $4, $5)`, u.GTIN, u.Serial, in.Partner, in.Receiver, t); err != nil {
				return "", nil, err
			}
			if err := s.unitHistory(ctx, tx, u.GTIN, u.Serial, event, "returned", t, json.RawMessage(details)); err != nil {
				return "", nil, err
			}
			return StateReturned, nil, nil
		}
		return exc(ExceptionOverage, "unit %s was shipped to %s, not to %s: it cannot come back from %s", ref, orNone(dest), in.Partner, in.Partner)
	}
	if u.Lot != "" && lot != u.Lot {
		return exc(ExceptionOverage, "unit %s is ours already (state %s, lot %s); the document commissions it again with lot %s", ref, state, lot, u.Lot)
	}
	return exc(ExceptionOverage, "unit %s is in our records already (state %s): receiving it again would count it twice", ref, state)
}

func getReceipt(ctx context.Context, q sqldb.Tx, id int64) (Receipt, error) {
	var r Receipt
	var summary string
	err := q.QueryRow(ctx, `SELECT id, partner_gln, receiver_gln, document_id, epcis_version, affirmed, statement, summary, units, returned,
		containers, received_at, retain_until, received_by FROM receipts WHERE id = $1`, id).
		Scan(&r.ID, &r.Partner, &r.Receiver, &r.DocumentID, &r.Version, &r.Affirmed, &r.Statement, &summary, &r.Units, &r.Returned,
			&r.Containers, &r.ReceivedAt, &r.RetainUntil, &r.ReceivedBy)
	if sqldb.IsNoRows(err) {
		return r, fmt.Errorf("receipt %d: %w", id, sqldb.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("receipt %d: %w", id, err)
	}
	r.Summary = json.RawMessage(summary)
	r.ReceivedAt, r.RetainUntil = r.ReceivedAt.UTC(), r.RetainUntil.UTC()
	r.Exceptions, err = exceptions(ctx, q, "WHERE receipt_id = $1", []any{id}, 0)
	return r, err
}

// Receipt returns a receipt with its exceptions.
func (s *Chain) Receipt(ctx context.Context, id int64) (Receipt, error) {
	var r Receipt
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		var err error
		r, err = getReceipt(ctx, q, id)
		return err
	})
	return r, err
}

// ReceiptDocument returns a receipt's document as the partner sent it.
func (s *Chain) ReceiptDocument(ctx context.Context, id int64) ([]byte, error) {
	var b []byte
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		return q.QueryRow(ctx, "SELECT document FROM receipts WHERE id = $1", id).Scan(&b)
	})
	if sqldb.IsNoRows(err) {
		return nil, fmt.Errorf("receipt %d: %w", id, sqldb.ErrNotFound)
	}
	return b, err
}

func exceptions(ctx context.Context, q sqldb.Tx, where string, args []any, limit int) ([]ReceiptException, error) {
	sqlq := `SELECT id, COALESCE(receipt_id, 0), kind, gtin, serial, sscc, detail, state, created_at, resolved_at, resolved_by, resolution
		FROM dscsa_exceptions ` + where + " ORDER BY id"
	if limit > 0 {
		sqlq += " LIMIT " + strconv.Itoa(limit)
	}
	out, err := sqldb.QueryAll(ctx, q, sqlq, args, func(r sqldb.Rows) (ReceiptException, error) {
		var e ReceiptException
		var resolved sql.NullTime
		err := r.Scan(&e.ID, &e.Receipt, &e.Kind, &e.GTIN, &e.Serial, &e.SSCC, &e.Detail, &e.State, &e.CreatedAt, &resolved, &e.ResolvedBy, &e.Resolution)
		e.CreatedAt, e.ResolvedAt = e.CreatedAt.UTC(), sqldb.NullTime(resolved)
		return e, err
	})
	if out == nil {
		out = []ReceiptException{}
	}
	return out, err
}

// ExceptionFilter selects exceptions; zero fields select every one.
type ExceptionFilter struct {
	State, Kind string
	Limit       int // 0: 1000
}

// Exceptions lists receipt exceptions, oldest first.
func (s *Chain) Exceptions(ctx context.Context, f ExceptionFilter) ([]ReceiptException, error) {
	var where sqldb.Where
	where.Eq("state", f.State)
	where.Eq("kind", f.Kind)
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	var out []ReceiptException
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		out, err = exceptions(ctx, q, where.SQL(), where.Args(), limit)
		return err
	})
	return out, err
}

// ResolveException records QA's resolution of an open exception (what was
// done: the product returned, the partner's corrected data received…);
// audited. A resolved one is sqldb.ErrState.
func (s *Chain) ResolveException(ctx context.Context, id int64, resolution string) (ReceiptException, error) {
	rec := fmt.Sprintf("exception %d", id)
	if err := check.Text(rec, "resolution", strings.TrimSpace(resolution), true); err != nil {
		return ReceiptException{}, err
	}
	var out ReceiptException
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		got, err := exceptions(ctx, tx, "WHERE id = $1", []any{id}, 0)
		if err != nil {
			return err
		}
		if len(got) == 0 {
			return fmt.Errorf("%s: %w", rec, sqldb.ErrNotFound)
		}
		before := got[0]
		if before.State != ExceptionOpen {
			return fmt.Errorf("%s: %w: resolved already", rec, sqldb.ErrState)
		}
		t := sqldb.Now()
		if _, err := tx.Exec(ctx, "UPDATE dscsa_exceptions SET state = 'resolved', resolved_at = $2, resolved_by = $3, resolution = $4 WHERE id = $1",
			id, t, sqldb.ActorFrom(ctx), resolution); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		got, err = exceptions(ctx, tx, "WHERE id = $1", []any{id}, 0)
		if err != nil {
			return err
		}
		out = got[0]
		return audit.Record(ctx, tx, "resolve", "dscsa_exception", strconv.FormatInt(id, 10), before, out)
	})
	return out, err
}
