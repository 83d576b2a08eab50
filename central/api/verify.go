package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/httpjson"
)

// Verification reasons (GET /api/v1/verify), the answers a VRS-style
// verification gives for a product identifier that does not verify.
const (
	ReasonUnknownSerial  = "unknown serial"
	ReasonLotMismatch    = "lot mismatch"
	ReasonExpiryMismatch = "expiry mismatch"
	ReasonDecommissioned = "decommissioned"
	ReasonRecalled       = "recalled"
	ReasonExpired        = "expired"
	// ReasonReturned: the unit came back from a customer and has not
	// passed its return verification yet; it is not for resale.
	ReasonReturned = "returned"
)

// verifyOut is the answer of a verification.
type verifyOut struct {
	Verified bool   `json:"verified"`
	Reason   string `json:"reason,omitempty"`
}

// verify answers whether a product identifier (GTIN + serial, and the lot
// and expiry printed beside them) is one central commissioned and that may
// still be sold. The first failing check gives the reason: a serial never
// commissioned (or voided, never printed) is unknown; then lot, expiry,
// decommissioned, recalled (a recall made with POST /recalls covers it, or
// an EPCIS event with disposition recalled names the unit), returned (back
// from a customer, not yet verified for resale: POST /returns/verify then
// /returns/restock) and expired (expiry before today, UTC; DD=00 is the
// month's last day). A shipped unit verifies: it is genuine and in trade.
func (a *api) verify(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	g, err := gs1.ParseGTIN(q.Get("gtin"))
	if err != nil {
		return badParam("gtin", "%v", err)
	}
	gtin := string(g)
	serial := q.Get("serial")
	if err := checkSerial("serial", serial); err != nil {
		return err
	}
	lot, hasLot := q.Get("lot"), q.Has("lot")
	if hasLot {
		if lot == "" || len(lot) > 20 || gs1.ValidateCSET82("10", lot) != nil {
			return badParam("lot", "a lot (AI 10) has 1 to 20 characters of GS1 character set 82, got %q", lot)
		}
	}
	expiry, hasExpiry := q.Get("expiry"), q.Has("expiry")
	if hasExpiry {
		if err := gs1.ValidateDate("17", expiry, true); err != nil {
			return badParam("expiry", "%v", err)
		}
	}
	u, err := a.Store.CheckUnit(r.Context(), gtin, serial)
	if errors.Is(err, sqldb.ErrNotFound) {
		httpjson.Write(w, http.StatusOK, verifyOut{Reason: ReasonUnknownSerial})
		return nil
	}
	if err != nil {
		return err
	}
	// One statement read the unit and its recalls (a recall made here by
	// lot or serial, or one captured as EPCIS).
	out := verifyOut{}
	switch {
	case u.State == orders.StateVoided:
		out.Reason = ReasonUnknownSerial
	case hasLot && lot != u.Lot:
		out.Reason = ReasonLotMismatch
	case hasExpiry && expiry != u.Expiry:
		out.Reason = ReasonExpiryMismatch
	case u.State == orders.StateDecommissioned:
		out.Reason = ReasonDecommissioned
	case u.Recalled:
		out.Reason = ReasonRecalled
	case u.State == supply.StateReturned:
		out.Reason = ReasonReturned
	}
	if out.Reason == "" {
		exp, err := gs1.ExpiryTime(u.Expiry)
		if err != nil {
			return err
		}
		today := time.Now().UTC().Truncate(24 * time.Hour)
		if exp.Before(today) {
			out.Reason = ReasonExpired
		}
	}
	out.Verified = out.Reason == ""
	httpjson.Write(w, http.StatusOK, out)
	return nil
}
