package api

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/httpjson"
)

// DefaultMaxInboundBytes caps a partner's DSCSA document (64 MiB: about
// 300,000 units with their events).
const DefaultMaxInboundBytes = 64 << 20

// inboundDSCSA takes a partner's DSCSA EPCIS document (1.2 or 2.0 XML),
// read as a stream under the size cap (set before anything is read), and
// answers 202 with the receipt: what was received, returned, and the
// exceptions found.
func (a *api) inboundDSCSA(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/xml" && mt != "text/xml" {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupported, "Content-Type",
			"send the EPCIS document as application/xml (EPCIS 1.2 or 2.0 XML), not %q", r.Header.Get("Content-Type"))
	}
	var raw bytes.Buffer
	in, err := dscsa.ParseInbound(io.TeeReader(r.Body, &raw), dscsa.Limits{})
	if err != nil {
		return inboundErr(err)
	}
	// Whatever follows the document is read too (the size cap holds), so
	// that the kept document is the body as sent.
	if _, err := io.Copy(&raw, r.Body); err != nil {
		return inboundErr(err)
	}
	p, _ := auth.PrincipalFrom(r.Context())
	if err := a.authorizeEffects(r, p, in.Events); err != nil {
		return err
	}
	rc, err := dscsa.Receive(r.Context(), a.Store, in, raw.Bytes(), p.ActsFor, a.log)
	if err != nil {
		return inboundErr(err)
	}
	a.log.Info("DSCSA document received", "receipt", rc.ID, "partner", rc.Partner, "document_id", rc.DocumentID,
		"received", rc.Units, "returned", rc.Returned, "exceptions", len(rc.Exceptions), "duplicate", rc.Duplicate)
	httpjson.Write(w, http.StatusAccepted, rc)
	return nil
}

func inboundErr(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return mbe
	case errors.Is(err, dscsa.ErrNotYourGLN):
		return errorf(http.StatusForbidden, auth.CodeForbidden, "sender", "%v", err)
	case errors.Is(err, dscsa.ErrDocument):
		return invalid("document", "%v", err)
	}
	return err
}

// receiptID reads {id}; a partner may only read its own receipts (any
// other is not found, so that receipt ids tell it nothing).
func (a *api) receipt(r *http.Request) (supply.Receipt, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return supply.Receipt{}, badParam("id", "%q is not a receipt id (a positive number)", r.PathValue("id"))
	}
	rc, err := a.Store.Receipt(r.Context(), id)
	if err != nil {
		return rc, err
	}
	if p, _ := auth.PrincipalFrom(r.Context()); !p.ActsFor(rc.Partner) {
		return supply.Receipt{}, errorf(http.StatusNotFound, codeNotFound, "id", "receipt %d: not found", id)
	}
	return rc, nil
}

func (a *api) getReceipt(w http.ResponseWriter, r *http.Request) error {
	rc, err := a.receipt(r)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, rc)
	return nil
}

func (a *api) receiptDocument(w http.ResponseWriter, r *http.Request) error {
	rc, err := a.receipt(r)
	if err != nil {
		return err
	}
	b, err := a.Store.ReceiptDocument(r.Context(), rc.ID)
	if err != nil {
		return err
	}
	writeDoc(w, "application/xml", "receipt-"+strconv.FormatInt(rc.ID, 10)+".xml", b)
	return nil
}

func (a *api) listExceptions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := supply.ExceptionFilter{State: q.Get("state"), Kind: q.Get("kind")}
	if f.State != "" && f.State != supply.ExceptionOpen && f.State != supply.ExceptionResolved {
		return badParam("state", "%q: use open or resolved", f.State)
	}
	kinds := []string{supply.ExceptionOverage, supply.ExceptionShortage, supply.ExceptionUnknownSerial, supply.ExceptionStatementMissing}
	if f.Kind != "" && !strings.Contains(","+strings.Join(kinds, ",")+",", ","+f.Kind+",") {
		return badParam("kind", "%q: use one of %s", f.Kind, strings.Join(kinds, ", "))
	}
	var err error
	if f.Limit, err = limitParam(q, 1000, maxRows); err != nil {
		return err
	}
	ex, err := a.Store.Exceptions(r.Context(), f)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"exceptions": ex})
	return nil
}

type resolveIn struct {
	Resolution string `json:"resolution"`
}

func (a *api) resolveException(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return badParam("id", "%q is not an exception id", r.PathValue("id"))
	}
	var in resolveIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	e, err := a.Store.ResolveException(r.Context(), id, in.Resolution)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, e)
	return nil
}
