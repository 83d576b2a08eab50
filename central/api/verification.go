package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/serialine/serialine/central/lmvs"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/httpjson"
)

// Verifier asks another manufacturer's responder to verify a pack over
// LMVS (central/lmvs's Requester does).
type Verifier interface {
	Verify(ctx context.Context, p lmvs.Pack) (lmvs.Result, error)
}

// requestVerification sends an LMVS verification request for a pack of
// another manufacturer (our returns desk) and answers what came back.
func (a *api) requestVerification(w http.ResponseWriter, r *http.Request) error {
	var in lmvs.Pack
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if a.Verifier == nil {
		return errorf(http.StatusConflict, codeConflict, "", "no verification requester: set verification.requester_gln (and a router or partners' verification endpoints)")
	}
	res, err := a.Verifier.Verify(r.Context(), in)
	var re *lmvs.RequestError
	switch {
	case errors.As(err, &re):
		return invalid(re.Param, "%s", re.Rule)
	case errors.Is(err, lmvs.ErrNoRoute):
		return errorf(http.StatusConflict, codeConflict, "gtin", "%v", err)
	case err != nil:
		return err
	}
	httpjson.Write(w, http.StatusOK, res)
	return nil
}

// listVerifications is the verification log, newest first.
func (a *api) listVerifications(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := supply.VerificationFilter{Direction: q.Get("direction"), GTIN: q.Get("gtin"), Serial: q.Get("serial"), Partner: q.Get("partner")}
	if f.Direction != "" && f.Direction != supply.VerificationIn && f.Direction != supply.VerificationOut {
		return badParam("direction", "in or out, got %q", f.Direction)
	}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return badParam("since", "an RFC 3339 time, got %q", s)
		}
		f.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10_000 {
			return badParam("limit", "1 to 10000, got %q", s)
		}
		f.Limit = n
	}
	log, err := a.Store.Verifications(r.Context(), f)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"verifications": orEmpty(log)})
	return nil
}
