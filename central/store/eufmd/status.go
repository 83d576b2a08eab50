package eufmd

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
)

// EU FMD status update kinds (Delegated Regulation 2016/161 art. 40): the
// packs of a recall, a withdrawal, a theft or a destruction are
// decommissioned in the repositories system; a reversal reactivates the
// packs of an earlier update within its window.
const (
	FMDRecall      = "recall"
	FMDWithdrawal  = "withdrawal"
	FMDTheft       = "theft"
	FMDDestruction = "destruction"
	FMDReversal    = "reversal"
)

// DefaultFMDReversalWindow is how long after a status update its reversal
// is accepted: 10 days, the window art. 13 gives for reverting a
// decommissioned unique identifier.
const DefaultFMDReversalWindow = 10 * 24 * time.Hour

// FMDStatusUpdate is one art. 40 status update and the packs it covers
// (fixed when it is made: the packs of the batch or the listed serials
// that were in circulation then).
type FMDStatusUpdate struct {
	ID       int64  `json:"id"`
	Kind     string `json:"kind"`
	GTIN     string `json:"gtin"`
	Lot      string `json:"lot,omitempty"`
	RecallID string `json:"recall_id,omitempty"`
	Reason   string `json:"reason"`
	// Markets are the Member States concerned (empty: every target market
	// of the product).
	Markets []string `json:"markets,omitempty"`
	Packs   int      `json:"packs"`
	// Reverses is the update a reversal undoes; ReversedBy the reversal
	// of this one; ReversibleUntil the end of its reversal window.
	Reverses        *int64     `json:"reverses,omitempty"`
	ReversibleUntil *time.Time `json:"reversible_until,omitempty"`
	ReversedBy      *int64     `json:"reversed_by,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	Actor           string     `json:"actor"`
	// Queued are the outbound messages that carry it to the hub.
	Queued []messages.OutboundMessage `json:"queued,omitempty"`
}

// FMDStatusRequest asks for a status update of a lot's packs or of listed
// serials of one product.
type FMDStatusRequest struct {
	Kind    string   `json:"kind"`
	GTIN    string   `json:"gtin"`
	Lot     string   `json:"lot,omitempty"`
	Serials []string `json:"serials,omitempty"`
	Reason  string   `json:"reason"`
	Markets []string `json:"markets,omitempty"`
}

// PackStates are the states of a pack in circulation: the packs a
// batch upload lists and a status update decommissions.
const PackStates = "('commissioned', 'shipped', 'returned')"

// CreateFMDStatus records an art. 40 status update of the packs of a lot
// or of listed serials (each must be a pack in circulation) of an EU FMD
// product and queues it for every EU FMD gateway. A recall made with
// CreateRecall makes its own (kind recall). Refusals are
// *sqldb.ValidationError naming the field. Audited.
func (s *Register) CreateFMDStatus(ctx context.Context, req FMDStatusRequest) (FMDStatusUpdate, error) {
	rec := "EU FMD status update"
	switch req.Kind {
	case FMDWithdrawal, FMDTheft, FMDDestruction:
	case FMDRecall:
		return FMDStatusUpdate{}, sqldb.Invalid(rec, "kind", "a recall's status update comes with the recall (POST /api/v1/recalls)")
	default:
		return FMDStatusUpdate{}, sqldb.Invalid(rec, "kind", "%q is not a status update; use %s, %s or %s", req.Kind, FMDWithdrawal, FMDTheft, FMDDestruction)
	}
	if err := check.GTIN(rec, "gtin", req.GTIN); err != nil {
		return FMDStatusUpdate{}, err
	}
	if err := check.Text(rec, "reason", req.Reason, true); err != nil {
		return FMDStatusUpdate{}, err
	}
	switch {
	case req.Lot != "" && len(req.Serials) > 0:
		return FMDStatusUpdate{}, sqldb.Invalid(rec, "serials", "a lot or a list of serials, not both")
	case req.Lot == "" && len(req.Serials) == 0:
		return FMDStatusUpdate{}, sqldb.Invalid(rec, "lot", "missing; name a lot, or list serials")
	case req.Lot != "" && (len(req.Lot) > 20 || !gs1.IsCSET82(req.Lot)):
		return FMDStatusUpdate{}, sqldb.Invalid(rec, "lot", "a lot (AI 10) has 1 to 20 characters of GS1 CSET 82, got %q", req.Lot)
	case len(req.Serials) > MaxSerials:
		return FMDStatusUpdate{}, sqldb.Invalid(rec, "serials", "at most %d per update, got %d", MaxSerials, len(req.Serials))
	}
	var u FMDStatusUpdate
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		var err error
		u, err = s.CreateInTx(ctx, tx, req, "")
		return err
	})
	return u, err
}

// CreateInTx makes a status update inside tx: the product must be an
// EU FMD one; the packs are selected by lot or serials.
func (s *Register) CreateInTx(ctx context.Context, tx sqldb.Tx, req FMDStatusRequest, recallID string) (FMDStatusUpdate, error) {
	rec := "EU FMD status update"
	prod, err := master.GetProduct(ctx, tx, req.GTIN)
	if err != nil {
		return FMDStatusUpdate{}, fmt.Errorf("%s: gtin: %w", rec, err)
	}
	if !slices.Contains(prod.Markets, master.MarketEUFMD) {
		return FMDStatusUpdate{}, sqldb.Invalid(rec, "gtin", "product %s is not sold under %s", req.GTIN, master.MarketEUFMD)
	}
	for i, m := range req.Markets {
		if !slices.Contains(fmdMemberStates, m) {
			return FMDStatusUpdate{}, sqldb.Invalid(rec, "markets["+strconv.Itoa(i)+"]", "%q is not an EU or EEA Member State's ISO 3166-1 code", m)
		}
	}
	markets, _ := json.Marshal(req.Markets)
	t := sqldb.Now()
	until := sqldb.TS(s.clock().Add(s.window))
	u := FMDStatusUpdate{Kind: req.Kind, GTIN: req.GTIN, Lot: req.Lot, RecallID: recallID, Reason: req.Reason, Markets: req.Markets,
		ReversibleUntil: &until, CreatedAt: t, Actor: sqldb.ActorFrom(ctx)}
	if err := tx.QueryRow(ctx, `INSERT INTO fmd_status_updates (kind, gtin, lot, recall_id, reason, markets, packs, reversible_until, created_at, actor)
		VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9) RETURNING id`, u.Kind, u.GTIN, u.Lot, recallID, u.Reason, string(markets), until, t, u.Actor).Scan(&u.ID); err != nil {
		return u, fmt.Errorf("%s: %w", rec, err)
	}
	if req.Lot != "" {
		n, err := tx.Exec(ctx, `INSERT INTO fmd_status_packs (update_id, gtin, serial, lot, expiry)
			SELECT $1, u.gtin, u.serial, u.lot, u.expiry FROM units u WHERE u.gtin = $2 AND u.lot = $3 AND u.state IN `+PackStates,
			u.ID, u.GTIN, u.Lot)
		if err != nil {
			return u, fmt.Errorf("%s: packs: %w", rec, err)
		}
		u.Packs = int(n)
	} else {
		for i, sn := range req.Serials {
			n, err := tx.Exec(ctx, `INSERT INTO fmd_status_packs (update_id, gtin, serial, lot, expiry)
				SELECT $1, u.gtin, u.serial, u.lot, u.expiry FROM units u WHERE u.gtin = $2 AND u.serial = $3 AND u.state IN `+PackStates+`
				ON CONFLICT DO NOTHING`, u.ID, u.GTIN, sn)
			if err != nil {
				return u, fmt.Errorf("%s: packs: %w", rec, err)
			}
			if n == 0 {
				if slices.Contains(req.Serials[:i], sn) {
					return u, sqldb.Invalid(rec, "serials["+strconv.Itoa(i)+"]", "%q is listed twice", sn)
				}
				return u, sqldb.Invalid(rec, "serials["+strconv.Itoa(i)+"]", "%q is not a pack of %s in circulation (commissioned, shipped or returned)", sn, u.GTIN)
			}
			u.Packs++
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE fmd_status_updates SET packs = $2 WHERE id = $1", u.ID, u.Packs); err != nil {
		return u, fmt.Errorf("%s: %w", rec, err)
	}
	if u.Queued, err = enqueueFMD(ctx, tx, FMDStatusRef(u.ID), false); err != nil {
		return u, err
	}
	return u, audit.Record(ctx, tx, "create", "fmd_status", strconv.FormatInt(u.ID, 10), nil, u)
}

// ReverseFMDStatus reverses a status update within its window: a
// reversal update reactivating exactly its packs, queued for the hub.
// A reversal, an update reversed already, or one past its window is
// sqldb.ErrConflict. Audited.
func (s *Register) ReverseFMDStatus(ctx context.Context, id int64, reason string) (FMDStatusUpdate, error) {
	rec := "EU FMD status update " + strconv.FormatInt(id, 10)
	if err := check.Text(rec, "reason", reason, true); err != nil {
		return FMDStatusUpdate{}, err
	}
	var u FMDStatusUpdate
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		orig, err := getFMDStatus(ctx, tx, id, s.db.Dialect().ForUpdate())
		if err != nil {
			return err
		}
		t := sqldb.Now()
		switch {
		case orig.Kind == FMDReversal:
			return fmt.Errorf("%s: %w: it is a reversal itself", rec, sqldb.ErrConflict)
		case orig.ReversedBy != nil:
			return fmt.Errorf("%s: %w: reversed already by update %d", rec, sqldb.ErrConflict, *orig.ReversedBy)
		case orig.ReversibleUntil == nil || s.clock().After(*orig.ReversibleUntil):
			return fmt.Errorf("%s: %w: its reversal window ended at %s", rec, sqldb.ErrConflict, orig.ReversibleUntil.Format(time.RFC3339))
		}
		markets, _ := json.Marshal(orig.Markets)
		u = FMDStatusUpdate{Kind: FMDReversal, GTIN: orig.GTIN, Lot: orig.Lot, RecallID: orig.RecallID, Reason: reason, Markets: orig.Markets,
			Packs: orig.Packs, Reverses: &orig.ID, CreatedAt: t, Actor: sqldb.ActorFrom(ctx)}
		if err := tx.QueryRow(ctx, `INSERT INTO fmd_status_updates (kind, gtin, lot, recall_id, reason, markets, packs, reverses, created_at, actor)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`, u.Kind, u.GTIN, u.Lot, u.RecallID, u.Reason, string(markets),
			u.Packs, orig.ID, t, u.Actor).Scan(&u.ID); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO fmd_status_packs (update_id, gtin, serial, lot, expiry)
			SELECT $1, gtin, serial, lot, expiry FROM fmd_status_packs WHERE update_id = $2`, u.ID, orig.ID); err != nil {
			return fmt.Errorf("%s: packs: %w", rec, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE fmd_status_updates SET reversed_by = $2 WHERE id = $1", orig.ID, u.ID); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if u.Queued, err = enqueueFMD(ctx, tx, FMDStatusRef(u.ID), false); err != nil {
			return err
		}
		return audit.Record(ctx, tx, "reverse", "fmd_status", strconv.FormatInt(orig.ID, 10), orig, u)
	})
	return u, err
}

const fmdStatusCols = `id, kind, gtin, lot, recall_id, reason, markets, packs, reverses, reversible_until, reversed_by, created_at, actor`

func scanFMDStatus(r interface{ Scan(...any) error }) (FMDStatusUpdate, error) {
	var u FMDStatusUpdate
	var markets string
	var until *time.Time
	err := r.Scan(&u.ID, &u.Kind, &u.GTIN, &u.Lot, &u.RecallID, &u.Reason, &markets, &u.Packs, &u.Reverses, &until, &u.ReversedBy, &u.CreatedAt, &u.Actor)
	if err != nil {
		return u, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	if until != nil {
		t := until.UTC()
		u.ReversibleUntil = &t
	}
	if markets != "" && markets != "null" {
		if err := json.Unmarshal([]byte(markets), &u.Markets); err != nil {
			return u, fmt.Errorf("EU FMD status update %d: markets: %w", u.ID, err)
		}
	}
	return u, nil
}

func getFMDStatus(ctx context.Context, q sqldb.Tx, id int64, lock string) (FMDStatusUpdate, error) {
	u, err := scanFMDStatus(q.QueryRow(ctx, "SELECT "+fmdStatusCols+" FROM fmd_status_updates WHERE id = $1"+lock, id))
	if sqldb.IsNoRows(err) {
		return u, fmt.Errorf("EU FMD status update %d: %w", id, sqldb.ErrNotFound)
	}
	return u, err
}

// FMDStatus returns a status update.
func (s *Register) FMDStatus(ctx context.Context, id int64) (FMDStatusUpdate, error) {
	var u FMDStatusUpdate
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		u, err = getFMDStatus(ctx, q, id, "")
		return err
	})
	return u, err
}

// FMDStatusFilter selects status updates; zero fields select all.
type FMDStatusFilter struct {
	GTIN     string
	Lot      string
	RecallID string
}

// FMDStatuses lists status updates, oldest first.
func (s *Register) FMDStatuses(ctx context.Context, f FMDStatusFilter) ([]FMDStatusUpdate, error) {
	q := "SELECT " + fmdStatusCols + " FROM fmd_status_updates WHERE ($1 = '' OR gtin = $1) AND ($2 = '' OR lot = $2) AND ($3 = '' OR recall_id = $3) ORDER BY id"
	out := []FMDStatusUpdate{}
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		r, err := db.Query(ctx, q, f.GTIN, f.Lot, f.RecallID)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			u, err := scanFMDStatus(r)
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return r.Err()
	})
	return out, err
}

// FMDPack is a pack a status update covers.
type FMDPack struct {
	Serial string `json:"serial"`
	Lot    string `json:"lot"`
	Expiry string `json:"expiry"`
}

// FMDStatusPacks calls fn with every pack of a status update, by lot and
// serial.
func (s *Register) FMDStatusPacks(ctx context.Context, id int64, fn func(FMDPack) error) error {
	return s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.Query(ctx, "SELECT serial, lot, expiry FROM fmd_status_packs WHERE update_id = $1 ORDER BY lot, serial", id)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var p FMDPack
			if err := r.Scan(&p.Serial, &p.Lot, &p.Expiry); err != nil {
				return err
			}
			if err := fn(p); err != nil {
				return err // the callback's own error, as it is
			}
		}
		return r.Err()
	})
}
