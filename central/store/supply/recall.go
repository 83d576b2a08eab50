package supply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// Recall kinds.
const (
	RecallLot     = "lot"     // every unit of a GTIN's lot
	RecallSerials = "serials" // a list of units
)

// RecallOpen is the state of a recall in force: it holds the units it
// covers that are in our stock, and verification answers "recalled".
const RecallOpen = "open"

// MaxRecallSerials bounds the serial list of one recall: the EU hub is
// told of the same serials in one status update.
const MaxRecallSerials = eufmd.MaxSerials

// RecallRequest asks for a recall of a lot (GTIN and Lot) or of units
// (GTIN and Serials).
type RecallRequest struct {
	// ID names the recall; generated ("RC-…") when empty.
	ID      string   `json:"id,omitempty"`
	GTIN    string   `json:"gtin"`
	Lot     string   `json:"lot,omitempty"`
	Serials []string `json:"serials,omitempty"`
	Reason  string   `json:"reason"`
}

// Recall is a recall with what it found when it was made.
type Recall struct {
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`
	GTIN      string        `json:"gtin"`
	Lot       string        `json:"lot,omitempty"`
	Reason    string        `json:"reason"`
	State     string        `json:"state"`
	CreatedAt time.Time     `json:"created_at"`
	Summary   RecallSummary `json:"summary"`
}

// RecallSummary counts the units a recall covers, as they were at the
// recall: by state, those in our stock (now on hold), and where the
// shipped ones went.
type RecallSummary struct {
	Affected  uint64            `json:"affected"`
	ByState   map[string]uint64 `json:"by_state"`
	OnHold    uint64            `json:"on_hold"` // in our stock (commissioned or returned): held from now on
	Shipped   uint64            `json:"shipped"`
	Shipments []RecallShipment  `json:"shipments"`
}

// RecallShipment is a confirmed shipment that took units of a recall.
type RecallShipment struct {
	Shipment     string    `json:"shipment"`
	SalesOrder   string    `json:"sales_order"`
	CustomerGLN  string    `json:"customer_gln"`
	CustomerName string    `json:"customer_name"`
	ShippedAt    time.Time `json:"shipped_at"`
	Units        uint64    `json:"units"`
	// Pallets are the outermost containers of the recalled units in it.
	Pallets []string `json:"pallets"`
}

// recallScope is the condition selecting a recall's units u, with its
// arguments from $1.
func recallScope(kind, id, gtin, lot string) (string, []any) {
	if kind == RecallLot {
		return "u.order_id IN (SELECT id FROM work_orders WHERE gtin = $1 AND lot = $2)", []any{gtin, lot}
	}
	return "(u.gtin, u.serial) IN (SELECT gtin, serial FROM recall_units WHERE recall_id = $1)", []any{id}
}

// CreateRecall recalls a lot or a list of units, in one transaction: the
// recall is marked on every unit it covers (a lot recall through the
// unit's GTIN and lot, which every unit of the lot carries; a serial
// recall by a row per unit), which from the commit on holds the units in
// our stock (picking and shipment confirmation refuse them, restocking a
// return too) and makes verification answer "recalled". The summary (by
// state, on hold, shipments with customer and pallets) is computed in
// the same transaction and kept with the recall. Set-based: the cost of
// a lot recall does not grow with writes per unit.
//
// It is long because the recall's scope, its units, the EU hub's status update and the
// audit row commit together.
func (s *Chain) CreateRecall(ctx context.Context, req RecallRequest) (Recall, error) {
	if req.ID == "" {
		var b [5]byte
		_, _ = rand.Read(b[:])
		req.ID = "RC-" + strings.ToUpper(hex.EncodeToString(b[:]))
	}
	rec := "recall " + req.ID
	if err := validID(rec, "id", req.ID); err != nil {
		return Recall{}, err
	}
	if err := check.GTIN(rec, "gtin", req.GTIN); err != nil {
		return Recall{}, err
	}
	if err := check.Text(rec, "reason", req.Reason, true); err != nil {
		return Recall{}, err
	}
	rc := Recall{ID: req.ID, GTIN: req.GTIN, Lot: req.Lot, Reason: req.Reason, State: RecallOpen, CreatedAt: sqldb.Now()}
	switch {
	case req.Lot != "" && len(req.Serials) > 0:
		return Recall{}, sqldb.Invalid(rec, "serials", "recall a lot or a list of serials, not both")
	case req.Lot != "":
		rc.Kind = RecallLot
		if len(req.Lot) > 20 || !gs1.IsCSET82(req.Lot) {
			return Recall{}, sqldb.Invalid(rec, "lot", "a lot (AI 10) has 1 to 20 characters of GS1 CSET 82, got %q", req.Lot)
		}
	case len(req.Serials) > 0:
		rc.Kind = RecallSerials
		if len(req.Serials) > MaxRecallSerials {
			return Recall{}, sqldb.Invalid(rec, "serials", "at most %d per recall, got %d", MaxRecallSerials, len(req.Serials))
		}
		seen := make(map[string]int, len(req.Serials))
		for i, sn := range req.Serials {
			if sn == "" || len(sn) > 20 || !gs1.IsCSET82(sn) {
				return Recall{}, sqldb.Invalid(rec, "serials["+strconv.Itoa(i)+"]", "a serial (AI 21) has 1 to 20 characters of GS1 CSET 82, got %q", sn)
			}
			if j, dup := seen[sn]; dup {
				return Recall{}, sqldb.Invalid(rec, "serials["+strconv.Itoa(i)+"]", "%q is listed twice (serials[%d])", sn, j)
			}
			seen[sn] = i
		}
	default:
		return Recall{}, sqldb.Invalid(rec, "lot", "missing; recall a lot, or list serials")
	}
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		if err := sqldb.LockGTINs(ctx, tx, []string{rc.GTIN}); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if _, err := master.GetProduct(ctx, tx, rc.GTIN); err != nil {
			return fmt.Errorf("%s: gtin: %w", rec, err)
		}
		if rc.Kind == RecallLot {
			var n int
			if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM work_orders WHERE gtin = $1 AND lot = $2", rc.GTIN, rc.Lot).Scan(&n); err != nil {
				return fmt.Errorf("%s: %w", rec, err)
			}
			if n == 0 {
				return fmt.Errorf("%s: lot: %w: no work order made lot %s of %s", rec, sqldb.ErrNotFound, rc.Lot, rc.GTIN)
			}
		}
		n, err := tx.Exec(ctx, `INSERT INTO recalls (id, kind, gtin, lot, reason, state, summary, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, '{}', $7) ON CONFLICT (id) DO NOTHING`, rc.ID, rc.Kind, rc.GTIN, rc.Lot, rc.Reason, rc.State, rc.CreatedAt)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: %w: the id exists already", rec, sqldb.ErrConflict)
		}
		if rc.Kind == RecallSerials {
			if err := s.markRecallUnits(ctx, tx, rec, rc, req.Serials); err != nil {
				return err
			}
		}
		// An EU FMD product's recall decommissions its packs at the hub
		// (art. 40): the status update commits with the recall.
		if err := s.recallFMDStatus(ctx, tx, rc, req.Serials); err != nil {
			return err
		}
		if rc.Summary, err = s.recallSummary(ctx, tx, rc); err != nil {
			return fmt.Errorf("%s: summary: %w", rec, err)
		}
		sum, _ := json.Marshal(rc.Summary) // plain values always marshal
		if _, err := tx.Exec(ctx, "UPDATE recalls SET summary = $2 WHERE id = $1", rc.ID, string(sum)); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		type audited struct {
			Recall
			Serials int `json:"serials,omitempty"`
		}
		return audit.Record(ctx, tx, "create", "recall", rc.ID, nil, audited{rc, len(req.Serials)})
	})
	if err != nil {
		return Recall{}, err
	}
	s.log.Warn("recall created", "recall", rc.ID, "kind", rc.Kind, "gtin", rc.GTIN, "lot", rc.Lot,
		"affected", rc.Summary.Affected, "on_hold", rc.Summary.OnHold, "shipped", rc.Summary.Shipped)
	return rc, nil
}

// markRecallUnits writes a row per listed unit; every one must be a unit
// central knows (voided serials were never printed).
func (s *Chain) markRecallUnits(ctx context.Context, tx sqldb.Tx, rec string, rc Recall, serials []string) error {
	rows := make([][]any, len(serials))
	for i, sn := range serials {
		rows[i] = []any{rc.ID, rc.GTIN, sn}
	}
	if err := tx.CopyRows(ctx, "recall_units", []string{"recall_id", "gtin", "serial"}, rows); err != nil {
		return fmt.Errorf("%s: units: %w", rec, err)
	}
	r, err := tx.QueryFresh(ctx, `SELECT ru.serial FROM recall_units ru
		WHERE ru.recall_id = $1 AND NOT EXISTS (SELECT 1 FROM units u WHERE u.gtin = ru.gtin AND u.serial = ru.serial AND u.state <> 'voided')
		LIMIT 1`, rc.ID)
	if err != nil {
		return fmt.Errorf("%s: units: %w", rec, err)
	}
	defer r.Close()
	if r.Next() {
		var sn string
		if err := r.Scan(&sn); err != nil {
			return err
		}
		i := 0
		for j, x := range serials {
			if x == sn {
				i = j
				break
			}
		}
		return sqldb.Invalid(rec, "serials["+strconv.Itoa(i)+"]", "unit %s is unknown (never commissioned)", wire.UnitRef(rc.GTIN, sn))
	}
	return r.Err()
}

// It is long because it is one summary of several counts over the recall's units, read in
// one snapshot.
func (s *Chain) recallSummary(ctx context.Context, q sqldb.Tx, rc Recall) (RecallSummary, error) {
	sum := RecallSummary{ByState: map[string]uint64{}, Shipments: []RecallShipment{}}
	scope, args := recallScope(rc.Kind, rc.ID, rc.GTIN, rc.Lot)

	r, err := q.QueryFresh(ctx, "SELECT u.state, COUNT(*) FROM units u WHERE "+scope+" AND u.state <> 'voided' GROUP BY u.state", args...)
	if err != nil {
		return sum, err
	}
	for r.Next() {
		var st string
		var n uint64
		if err := r.Scan(&st, &n); err != nil {
			r.Close()
			return sum, err
		}
		sum.ByState[st] = n
		sum.Affected += n
	}
	r.Close()
	if err := r.Err(); err != nil {
		return sum, err
	}
	sum.OnHold = sum.ByState[orders.StateCommissioned] + sum.ByState[StateReturned]

	// Where the shipped units went: confirmed shipments that took units of
	// the recall (also those that came back since), with their pallets.
	// A lot's are kept per shipment at confirmation (shipment_lots), so
	// this does not read the lot's units again.
	shipQ := `SELECT s.id, s.sales_order_id, s.dest_gln, COALESCE(p.name, ''), s.shipped_at, sl.units
		FROM shipment_lots sl JOIN shipments s ON s.id = sl.shipment_id LEFT JOIN trading_partners p ON p.gln = s.dest_gln
		WHERE sl.gtin = $1 AND sl.lot = $2 ORDER BY s.shipped_at, s.id`
	palletQ := "SELECT shipment_id, pallet FROM shipment_lot_pallets WHERE gtin = $1 AND lot = $2"
	if rc.Kind != RecallLot {
		shipQ = `SELECT s.id, s.sales_order_id, s.dest_gln, COALESCE(p.name, ''), s.shipped_at, COUNT(*)
			FROM units u JOIN shipment_units su ON su.gtin = u.gtin AND su.serial = u.serial
			JOIN shipments s ON s.id = su.shipment_id AND s.state = 'shipped'
			LEFT JOIN trading_partners p ON p.gln = s.dest_gln
			WHERE ` + scope + ` GROUP BY s.id, s.sales_order_id, s.dest_gln, p.name, s.shipped_at ORDER BY s.shipped_at, s.id`
		// The outermost container of each shipped unit: its case's
		// container, else its case.
		palletQ = `SELECT DISTINCT su.shipment_id, CASE WHEN c.parent <> '' THEN c.parent ELSE u.parent END
			FROM units u JOIN shipment_units su ON su.gtin = u.gtin AND su.serial = u.serial
			JOIN shipments s ON s.id = su.shipment_id AND s.state = 'shipped'
			JOIN containers c ON c.sscc = u.parent
			WHERE ` + scope
	}
	r, err = q.QueryFresh(ctx, shipQ, args...)
	if err != nil {
		return sum, err
	}
	idx := map[string]int{}
	for r.Next() {
		var sh RecallShipment
		if err := r.Scan(&sh.Shipment, &sh.SalesOrder, &sh.CustomerGLN, &sh.CustomerName, &sh.ShippedAt, &sh.Units); err != nil {
			r.Close()
			return sum, err
		}
		sh.ShippedAt, sh.Pallets = sh.ShippedAt.UTC(), []string{}
		idx[sh.Shipment] = len(sum.Shipments)
		sum.Shipments = append(sum.Shipments, sh)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return sum, err
	}
	sum.Shipped = sum.ByState[StateShipped]
	if len(sum.Shipments) == 0 {
		return sum, nil
	}
	r, err = q.QueryFresh(ctx, palletQ, args...)
	if err != nil {
		return sum, err
	}
	defer r.Close()
	for r.Next() {
		var id, pallet string
		if err := r.Scan(&id, &pallet); err != nil {
			return sum, err
		}
		if i, ok := idx[id]; ok {
			sum.Shipments[i].Pallets = append(sum.Shipments[i].Pallets, pallet)
		}
	}
	for i := range sum.Shipments {
		sort.Strings(sum.Shipments[i].Pallets)
	}
	return sum, r.Err()
}

func scanRecall(r interface{ Scan(...any) error }) (Recall, error) {
	var rc Recall
	var sum string
	if err := r.Scan(&rc.ID, &rc.Kind, &rc.GTIN, &rc.Lot, &rc.Reason, &rc.State, &sum, &rc.CreatedAt); err != nil {
		return rc, err
	}
	rc.CreatedAt = rc.CreatedAt.UTC()
	if err := json.Unmarshal([]byte(sum), &rc.Summary); err != nil {
		return rc, fmt.Errorf("recall %s: summary: %w", rc.ID, err)
	}
	return rc, nil
}

const recallCols = "id, kind, gtin, lot, reason, state, summary, created_at"

// Recall returns a recall with the summary made when it was created.
func (s *Chain) Recall(ctx context.Context, id string) (Recall, error) {
	var rc Recall
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		rc, err = scanRecall(q.QueryRow(ctx, "SELECT "+recallCols+" FROM recalls WHERE id = $1", id))
		return err
	})
	if sqldb.IsNoRows(err) {
		return rc, fmt.Errorf("recall %s: %w", id, sqldb.ErrNotFound)
	}
	if err != nil {
		return rc, fmt.Errorf("recall %s: %w", id, err)
	}
	return rc, nil
}

// Recalls lists every recall, newest first.
func (s *Chain) Recalls(ctx context.Context) ([]Recall, error) {
	var out []Recall
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.Query(ctx, "SELECT "+recallCols+" FROM recalls ORDER BY created_at DESC, id")
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			rc, err := scanRecall(r)
			if err != nil {
				return err
			}
			out = append(out, rc)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("recalls: %w", err)
	}
	return out, nil
}

// unitRecalled reports whether a recall covers the unit.
func unitRecalled(ctx context.Context, q sqldb.Tx, gtin, serial string) (bool, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM units u WHERE u.gtin = $1 AND u.serial = $2 AND `+recalledSQL, gtin, serial).Scan(&n)
	return n > 0, err
}

// UnitRecalled reports whether a recall made with CreateRecall covers
// the unit (by its lot or its serial).
func (s *Chain) UnitRecalled(ctx context.Context, gtin, serial string) (bool, error) {
	var ok bool
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		ok, err = unitRecalled(ctx, q, gtin, serial)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("recall of unit %s: %w", wire.UnitRef(gtin, serial), err)
	}
	return ok, nil
}

// UnitCheck is what a verification needs to know about a unit.
type UnitCheck struct {
	State  string
	Lot    string
	Expiry string
	// Recalled: a recall made with CreateRecall covers the unit, or an
	// EPCIS event with disposition recalled names its SGTIN.
	Recalled bool
}

// CheckUnit reads a unit for a verification in one statement (no
// history): state, lot, expiry and whether a recall covers it.
func (s *Chain) CheckUnit(ctx context.Context, gtin, serial string) (UnitCheck, error) {
	var c UnitCheck
	var recalled int
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		return q.QueryRow(ctx, `SELECT u.state, u.lot, u.expiry, CASE WHEN `+recalledSQL+` OR EXISTS (SELECT 1 FROM epcis_event_epcs x
			JOIN epcis_events e ON e.id = x.event_id WHERE x.epc = $3 AND x.role IN ('epc', 'child') AND e.disposition = 'recalled') THEN 1 ELSE 0 END
			FROM units u WHERE u.gtin = $1 AND u.serial = $2`, gtin, serial, "https://id.gs1.org/01/"+gtin+"/21/"+url.PathEscape(serial)).
			Scan(&c.State, &c.Lot, &c.Expiry, &recalled)
	})
	if sqldb.IsNoRows(err) {
		return c, fmt.Errorf("unit %s: %w", wire.UnitRef(gtin, serial), sqldb.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("unit %s: %w", wire.UnitRef(gtin, serial), err)
	}
	c.Recalled = recalled != 0
	return c, nil
}

// recallsOf lists the recalls covering a unit.
func recallsOf(ctx context.Context, q sqldb.Tx, gtin, serial, lot string) ([]string, error) {
	r, err := q.Query(ctx, `SELECT id FROM recalls WHERE kind = 'lot' AND gtin = $1 AND lot = $2
		UNION SELECT recall_id FROM recall_units WHERE gtin = $1 AND serial = $3 ORDER BY 1`, gtin, lot, serial)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := []string{}
	for r.Next() {
		var id string
		if err := r.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, r.Err()
}

// RecallUnit is one unit a recall covers, with where it is now.
type RecallUnit struct {
	GTIN   string `json:"gtin"`
	Serial string `json:"serial"`
	Lot    string `json:"lot"`
	Expiry string `json:"expiry"`
	State  string `json:"state"`
	OnHold bool   `json:"on_hold"` // in our stock, so held
	// Case is the unit's container, Pallet the container of that.
	Case   string `json:"case,omitempty"`
	Pallet string `json:"pallet,omitempty"`
	// The confirmed shipment that took it (a unit shipped twice, after a
	// return, is listed once per shipment).
	Shipment     string     `json:"shipment,omitempty"`
	CustomerGLN  string     `json:"customer_gln,omitempty"`
	CustomerName string     `json:"customer_name,omitempty"`
	ShippedAt    *time.Time `json:"shipped_at,omitempty"`
}

// RecallUnits calls fn for every unit the recall covers, as it is now,
// ordered by GTIN and serial, streaming (a lot of a million units is
// never held in memory). An error from fn stops it and is returned.
func (s *Chain) RecallUnits(ctx context.Context, id string, fn func(RecallUnit) error) error {
	rc, err := s.Recall(ctx, id)
	if err != nil {
		return err
	}
	scope, args := recallScope(rc.Kind, rc.ID, rc.GTIN, rc.Lot)
	err = s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.QueryFresh(ctx, `SELECT u.gtin, u.serial, u.lot, u.expiry, u.state, u.parent, COALESCE(c.parent, ''),
			COALESCE(x.id, ''), COALESCE(x.dest_gln, ''), COALESCE(p.name, ''), x.shipped_at
			FROM units u LEFT JOIN containers c ON c.sscc = u.parent
			LEFT JOIN (SELECT su.gtin, su.serial, s.id, s.dest_gln, s.shipped_at FROM shipment_units su
				JOIN shipments s ON s.id = su.shipment_id WHERE s.state = 'shipped') x ON x.gtin = u.gtin AND x.serial = u.serial
			LEFT JOIN trading_partners p ON p.gln = x.dest_gln
			WHERE `+scope+` AND u.state <> 'voided' ORDER BY u.gtin, u.serial, x.shipped_at`, args...)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var u RecallUnit
			var shipped *time.Time
			if err := r.Scan(&u.GTIN, &u.Serial, &u.Lot, &u.Expiry, &u.State, &u.Case, &u.Pallet, &u.Shipment, &u.CustomerGLN, &u.CustomerName, &shipped); err != nil {
				return err
			}
			if shipped != nil {
				t := shipped.UTC()
				u.ShippedAt = &t
			}
			u.OnHold = u.State == orders.StateCommissioned || u.State == StateReturned
			if err := fn(u); err != nil {
				return &stopped{err}
			}
		}
		return r.Err()
	})
	var st *stopped
	if errors.As(err, &st) {
		return st.err
	}
	if err != nil {
		return fmt.Errorf("units of recall %s: %w", id, err)
	}
	return nil
}

// stopped carries the callback's own error out of RecallUnits unwrapped.
type stopped struct{ err error }

func (s *stopped) Error() string { return s.err.Error() }

// or the listed ones that are packs in circulation.
func (s *Chain) recallFMDStatus(ctx context.Context, tx sqldb.Tx, rc Recall, serials []string) error {
	prod, err := master.GetProduct(ctx, tx, rc.GTIN)
	if err != nil {
		return err
	}
	if !slices.Contains(prod.Markets, master.MarketEUFMD) {
		return nil
	}
	req := eufmd.FMDStatusRequest{Kind: eufmd.FMDRecall, GTIN: rc.GTIN, Lot: rc.Lot, Reason: rc.Reason}
	if rc.Kind == RecallSerials {
		// Listed serials that are not packs (decommissioned) are not the
		// hub's concern: keep the packs only.
		r, err := tx.QueryFresh(ctx, `SELECT ru.serial FROM recall_units ru JOIN units u ON u.gtin = ru.gtin AND u.serial = ru.serial
			WHERE ru.recall_id = $1 AND u.state IN `+eufmd.PackStates+` ORDER BY ru.serial`, rc.ID)
		if err != nil {
			return err
		}
		for r.Next() {
			var sn string
			if err := r.Scan(&sn); err != nil {
				r.Close()
				return err
			}
			req.Serials = append(req.Serials, sn)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		if len(req.Serials) == 0 {
			return nil
		}
	}
	if _, err := s.fmd.CreateInTx(ctx, tx, req, rc.ID); err != nil {
		return fmt.Errorf("EU FMD status update of recall %s: %w", rc.ID, err)
	}
	return nil
}
