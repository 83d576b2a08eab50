package supply

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// quarantinedSQL is true for the unit u while a QA investigation holds
// it: open, or closed finding the product illegitimate (it then stays out
// of distribution until it is destroyed or returned).
const quarantinedSQL = `(EXISTS (SELECT 1 FROM investigations iv WHERE iv.scope = 'lot' AND iv.gtin = u.gtin AND iv.lot = u.lot
		AND iv.state IN ('open', 'illegitimate'))
	OR EXISTS (SELECT 1 FROM investigation_units iu JOIN investigations iv ON iv.id = iu.investigation_id
		WHERE iu.gtin = u.gtin AND iu.serial = u.serial AND iv.state IN ('open', 'illegitimate')))`

// Investigation scopes and states.
const (
	ScopeUnits     = "units"
	ScopeLot       = "lot"
	ScopeContainer = "container"

	InvestigationOpen         = "open"
	InvestigationCleared      = "cleared"
	InvestigationIllegitimate = "illegitimate"
)

// MaxInvestigationSerials bounds the units one investigation lists.
const MaxInvestigationSerials = 100_000

// InvestigationRequest opens an investigation of suspect product: listed
// units of a GTIN, a lot (every unit of it, now and later), or the units
// inside a container (at any depth, as they are now).
type InvestigationRequest struct {
	Scope   string   `json:"scope"`
	GTIN    string   `json:"gtin,omitempty"`
	Serials []string `json:"serials,omitempty"`
	Lot     string   `json:"lot,omitempty"`
	SSCC    string   `json:"sscc,omitempty"`
	// Reason is why the product is suspect (FDCA §581(21)).
	Reason string `json:"reason"`
}

// Form3911 is what an FDA Form 3911 notification of illegitimate product
// needs beyond the product data central fills in (name, NDC, dosage form,
// strength, lots, expiry, serials, quantity).
type Form3911 struct {
	// Classification: "illegitimate" or "high_risk" (a product with a high
	// risk of being illegitimate, notified by agreement with FDA).
	Classification string `json:"classification"`
	// Type: counterfeit, diverted, stolen, intentional_adulteration,
	// unfit_for_distribution, fraudulent_transaction, or other.
	Type          string `json:"type"`
	Description   string `json:"description"`    // what happened
	HowDiscovered string `json:"how_discovered"` // e.g. at receiving, verification of a return
	ContactName   string `json:"contact_name"`
	ContactPhone  string `json:"contact_phone"`
	ContactEmail  string `json:"contact_email"`
}

// Check names the first missing or wrong field (form_3911.<field>).
func (f Form3911) Check(rec string) error {
	switch f.Classification {
	case "illegitimate", "high_risk":
	default:
		return sqldb.Invalid(rec, "form_3911.classification", "%q: use illegitimate or high_risk", f.Classification)
	}
	switch f.Type {
	case "counterfeit", "diverted", "stolen", "intentional_adulteration", "unfit_for_distribution", "fraudulent_transaction", "other":
	default:
		return sqldb.Invalid(rec, "form_3911.type", "%q: use counterfeit, diverted, stolen, intentional_adulteration, unfit_for_distribution, fraudulent_transaction or other", f.Type)
	}
	for _, x := range []struct{ name, v string }{
		{"description", f.Description}, {"how_discovered", f.HowDiscovered}, {"contact_name", f.ContactName},
		{"contact_phone", f.ContactPhone}, {"contact_email", f.ContactEmail},
	} {
		if err := check.Text(rec, "form_3911."+x.name, strings.TrimSpace(x.v), true); err != nil {
			return err
		}
	}
	if !strings.Contains(f.ContactEmail, "@") {
		return sqldb.Invalid(rec, "form_3911.contact_email", "%q is not an e-mail address", f.ContactEmail)
	}
	return nil
}

// Investigation is a QA investigation of suspect product.
type Investigation struct {
	ID       int64      `json:"id"`
	Scope    string     `json:"scope"`
	GTIN     string     `json:"gtin"`
	Lot      string     `json:"lot,omitempty"`
	SSCC     string     `json:"sscc,omitempty"`
	Reason   string     `json:"reason"`
	State    string     `json:"state"`
	OpenedAt time.Time  `json:"opened_at"`
	OpenedBy string     `json:"opened_by"`
	ClosedAt *time.Time `json:"closed_at,omitempty"`
	ClosedBy string     `json:"closed_by,omitempty"`
	Note     string     `json:"note,omitempty"`
	Form3911 *Form3911  `json:"form_3911,omitempty"`
	// Units is how many units it holds now (a lot's at the time of reading).
	Units int `json:"units"`
}

// OpenInvestigation quarantines suspect product: from the commit on,
// its units cannot be picked, shipped or restocked. Audited.
//
// It is long because the scope (units, a lot or a container's units) is resolved and
// quarantined in the transaction that opens it.
func (s *Chain) OpenInvestigation(ctx context.Context, r InvestigationRequest) (Investigation, error) {
	rec := "investigation"
	if err := check.Text(rec, "reason", strings.TrimSpace(r.Reason), true); err != nil {
		return Investigation{}, err
	}
	switch r.Scope {
	case ScopeUnits:
		if err := check.GTIN(rec, "gtin", r.GTIN); err != nil {
			return Investigation{}, err
		}
		if len(r.Serials) == 0 || len(r.Serials) > MaxInvestigationSerials {
			return Investigation{}, sqldb.Invalid(rec, "serials", "list 1 to %d serials of the GTIN", MaxInvestigationSerials)
		}
	case ScopeLot:
		if err := check.GTIN(rec, "gtin", r.GTIN); err != nil {
			return Investigation{}, err
		}
		if err := orders.CheckLot(rec, r.Lot); err != nil {
			return Investigation{}, err
		}
	case ScopeContainer:
		if r.SSCC == "" {
			return Investigation{}, sqldb.Invalid(rec, "sscc", "missing; name the container")
		}
	default:
		return Investigation{}, sqldb.Invalid(rec, "scope", "%q: use units, lot or container", r.Scope)
	}
	var out Investigation
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		var units [][2]string
		switch r.Scope {
		case ScopeUnits:
			for i, sn := range r.Serials {
				var n int
				if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM units WHERE gtin = $1 AND serial = $2", r.GTIN, sn).Scan(&n); err != nil {
					return err
				}
				if n == 0 {
					return sqldb.Invalid(rec, "serials["+strconv.Itoa(i)+"]", "unit %s is unknown", wire.UnitRef(r.GTIN, sn))
				}
				units = append(units, [2]string{r.GTIN, sn})
			}
		case ScopeLot:
			if _, err := master.GetProduct(ctx, tx, r.GTIN); err != nil {
				return sqldb.Invalid(rec, "gtin", "%v", err)
			}
		case ScopeContainer:
			var n int
			if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM containers WHERE sscc = $1", r.SSCC).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return sqldb.Invalid(rec, "sscc", "container %s is unknown", r.SSCC)
			}
			found, err := unitsBeneath(ctx, tx, r.SSCC)
			if err != nil {
				return err
			}
			if len(found) == 0 {
				return sqldb.Invalid(rec, "sscc", "container %s holds no unit", r.SSCC)
			}
			for _, u := range found {
				units = append(units, [2]string{u.gtin, u.serial})
			}
			r.GTIN = found[0].gtin
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO investigations (scope, gtin, lot, sscc, reason, state, opened_at, opened_by)
			VALUES ($1, $2, $3, $4, $5, 'open', $6, $7) RETURNING id`, r.Scope, r.GTIN, r.Lot, r.SSCC, r.Reason, sqldb.Now(), sqldb.ActorFrom(ctx)).Scan(&id); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		rows := make([][]any, 0, len(units))
		seen := map[[2]string]bool{}
		for _, u := range units {
			if !seen[u] {
				seen[u] = true
				rows = append(rows, []any{id, u[0], u[1]})
			}
		}
		if err := tx.CopyRows(ctx, "investigation_units", []string{"investigation_id", "gtin", "serial"}, rows); err != nil {
			return fmt.Errorf("%s: units: %w", rec, err)
		}
		var err error
		if out, err = getInvestigation(ctx, tx, id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, "open", "investigation", strconv.FormatInt(id, 10), nil, map[string]any{
			"investigation": out, "serials": r.Serials})
	})
	return out, err
}

// CloseInvestigation records the outcome: cleared (the quarantine ends)
// or illegitimate (the units stay held; form carries what an FDA Form
// 3911 notification needs). Audited.
func (s *Chain) CloseInvestigation(ctx context.Context, id int64, outcome, note string, form *Form3911) (Investigation, error) {
	rec := fmt.Sprintf("investigation %d", id)
	switch outcome {
	case InvestigationCleared:
		if form != nil {
			return Investigation{}, sqldb.Invalid(rec, "form_3911", "only an illegitimate outcome is notified to FDA")
		}
	case InvestigationIllegitimate:
		if form == nil {
			return Investigation{}, sqldb.Invalid(rec, "form_3911", "missing; illegitimate product is notified to FDA (Form 3911) within 24 hours")
		}
		if err := form.Check(rec); err != nil {
			return Investigation{}, err
		}
	default:
		return Investigation{}, sqldb.Invalid(rec, "outcome", "%q: use cleared or illegitimate", outcome)
	}
	if err := check.Text(rec, "note", strings.TrimSpace(note), true); err != nil {
		return Investigation{}, err
	}
	var out Investigation
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		before, err := getInvestigation(ctx, tx, id)
		if err != nil {
			return err
		}
		if before.State != InvestigationOpen {
			return fmt.Errorf("%s: %w: closed already (%s)", rec, sqldb.ErrState, before.State)
		}
		var f any
		if form != nil {
			b, _ := json.Marshal(form)
			f = string(b)
		}
		if _, err := tx.Exec(ctx, "UPDATE investigations SET state = $2, closed_at = $3, closed_by = $4, note = $5, form_3911 = $6 WHERE id = $1",
			id, outcome, sqldb.Now(), sqldb.ActorFrom(ctx), note, f); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if out, err = getInvestigation(ctx, tx, id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, "close", "investigation", strconv.FormatInt(id, 10), before, out)
	})
	return out, err
}

const investigationCols = "id, scope, gtin, lot, sscc, reason, state, opened_at, opened_by, closed_at, closed_by, note, form_3911"

func getInvestigation(ctx context.Context, q sqldb.Tx, id int64) (Investigation, error) {
	var v Investigation
	var closed sql.NullTime
	var form sql.NullString
	err := q.QueryRow(ctx, "SELECT "+investigationCols+" FROM investigations WHERE id = $1", id).
		Scan(&v.ID, &v.Scope, &v.GTIN, &v.Lot, &v.SSCC, &v.Reason, &v.State, &v.OpenedAt, &v.OpenedBy, &closed, &v.ClosedBy, &v.Note, &form)
	if sqldb.IsNoRows(err) {
		return v, fmt.Errorf("investigation %d: %w", id, sqldb.ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("investigation %d: %w", id, err)
	}
	v.OpenedAt, v.ClosedAt = v.OpenedAt.UTC(), sqldb.NullTime(closed)
	if form.Valid && form.String != "" {
		v.Form3911 = &Form3911{}
		if err := json.Unmarshal([]byte(form.String), v.Form3911); err != nil {
			return v, fmt.Errorf("investigation %d: form_3911: %w", id, err)
		}
	}
	if v.Scope == ScopeLot {
		err = q.QueryRow(ctx, "SELECT COUNT(*) FROM units WHERE gtin = $1 AND lot = $2", v.GTIN, v.Lot).Scan(&v.Units)
	} else {
		err = q.QueryRow(ctx, "SELECT COUNT(*) FROM investigation_units WHERE investigation_id = $1", id).Scan(&v.Units)
	}
	return v, err
}

// Investigation returns one investigation.
func (s *Chain) Investigation(ctx context.Context, id int64) (Investigation, error) {
	var v Investigation
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		v, err = getInvestigation(ctx, q, id)
		return err
	})
	return v, err
}

// InvestigationUnits lists the units an investigation holds (a lot's:
// every unit of the lot), as (01)…(21)… references, at most limit.
func (s *Chain) InvestigationUnits(ctx context.Context, id int64, limit int) ([]ShipmentUnit, error) {
	v, err := s.Investigation(ctx, id)
	if err != nil {
		return nil, err
	}
	where, args := "(u.gtin, u.serial) IN (SELECT gtin, serial FROM investigation_units WHERE investigation_id = $1)", []any{id}
	if v.Scope == ScopeLot {
		where, args = "u.gtin = $1 AND u.lot = $2", []any{v.GTIN, v.Lot}
	}
	var out []ShipmentUnit
	err = s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		out, err = packUnits(ctx, q, where, args...)
		return err
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// Investigations lists investigations, newest first (state "" for all).
func (s *Chain) Investigations(ctx context.Context, state string) ([]Investigation, error) {
	var out []Investigation
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		where, args := "", []any{}
		if state != "" {
			where, args = " WHERE state = $1", []any{state}
		}
		ids, err := sqldb.QueryAll(ctx, q, "SELECT id FROM investigations"+where+" ORDER BY id DESC LIMIT 1000", args, func(r sqldb.Rows) (int64, error) {
			var id int64
			return id, r.Scan(&id)
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			v, err := getInvestigation(ctx, q, id)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if out == nil {
		out = []Investigation{}
	}
	return out, err
}

// unitQuarantined reports whether an investigation holds the unit.
func unitQuarantined(ctx context.Context, q sqldb.Tx, gtin, serial string) (bool, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM units u WHERE u.gtin = $1 AND u.serial = $2 AND `+quarantinedSQL, gtin, serial).Scan(&n)
	return n > 0, err
}
