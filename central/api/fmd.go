package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/serialine/serialine/central/fmd"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/shared/httpjson"
)

// The EU FMD data set: master data per product (art. 33(2)), batch data
// per work order, art. 40 status updates; see central/fmd and
// docs/eu-fmd.md.

// fmdIn is the body of PUT /products/{gtin}/eu-fmd.
type fmdIn struct {
	CommonName    string            `json:"common_name"`
	PackType      string            `json:"pack_type"`
	CodingScheme  string            `json:"coding_scheme"`
	ATCCodes      []string          `json:"atc_codes"`
	Article57Code string            `json:"article57_code"`
	Manufacturer  string            `json:"manufacturer"`
	Markets       []eufmd.FMDMarket `json:"markets"`
	// NewVersion asks for a new product code version (the target markets
	// of an uploaded version changed).
	NewVersion bool `json:"new_version"`
}

// fmdMasterOut is a product's EU master data with what still stops an upload.
type fmdMasterOut struct {
	eufmd.FMDProduct
	// Problems lists every rule the hub would refuse (the parties'
	// addresses may have changed since it was saved).
	Problems []fieldProblem `json:"problems"`
}

type fieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (a *api) getFMDProduct(w http.ResponseWriter, r *http.Request) error {
	v := 0
	if s := r.URL.Query().Get("version"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return badParam("version", "a product code version (1, 2, ...), got %q", s)
		}
		v = n
	}
	p, err := a.Store.FMDProduct(r.Context(), r.PathValue("gtin"), v)
	if err != nil {
		return err
	}
	ps, err := a.Store.FMDProblems(r.Context(), p)
	if err != nil {
		return err
	}
	out := fmdMasterOut{FMDProduct: p, Problems: []fieldProblem{}}
	for _, pr := range ps {
		out.Problems = append(out.Problems, fieldProblem{Field: pr.Field, Message: pr.Error()})
	}
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

func (a *api) putFMDProduct(w http.ResponseWriter, r *http.Request) error {
	var in fmdIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p, err := a.Store.PutFMDProduct(r.Context(), eufmd.FMDProduct{GTIN: r.PathValue("gtin"), CommonName: in.CommonName, PackType: in.PackType,
		CodingScheme: in.CodingScheme, ATCCodes: in.ATCCodes, Article57Code: in.Article57Code, Manufacturer: in.Manufacturer, Markets: in.Markets}, in.NewVersion)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, p)
	return nil
}

// gatewayMissing turns "no gateway" into a 409 that says what to do.
func gatewayMissing(err error) error {
	if errors.Is(err, eufmd.ErrNoFMDGateway) {
		return errorf(http.StatusConflict, codeConflict, "", "%v", err)
	}
	return err
}

func (a *api) fmdProductDataset(w http.ResponseWriter, r *http.Request) error {
	v := 0
	if s := r.URL.Query().Get("version"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return badParam("version", "a product code version (1, 2, ...), got %q", s)
		}
		v = n
	}
	d, err := fmd.ProductDocument(r.Context(), a.Store, r.PathValue("gtin"), v)
	if err != nil {
		return err
	}
	return writeDataset(w, d)
}

func writeDataset(w http.ResponseWriter, d fmd.Document) error {
	b, err := fmd.Marshal(d)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
	return nil
}

func (a *api) sendFMDProduct(w http.ResponseWriter, r *http.Request) error {
	p, ms, err := a.Store.SendFMDProduct(r.Context(), r.PathValue("gtin"))
	if err != nil {
		return gatewayMissing(err)
	}
	a.wake()
	httpjson.Write(w, http.StatusAccepted, map[string]any{"product": p, "queued": ms})
	return nil
}

func (a *api) workOrderFMD(w http.ResponseWriter, r *http.Request) error {
	d, err := fmd.BatchDocument(r.Context(), a.Store, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeDataset(w, d)
}

func (a *api) sendFMDBatch(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	// The data set is built (and so checked) before anything is queued.
	if _, err := fmd.BatchDocument(r.Context(), a.Store, id); err != nil {
		return err
	}
	b, ms, err := a.Store.SendFMDBatch(r.Context(), id)
	if err != nil {
		return gatewayMissing(err)
	}
	a.wake()
	httpjson.Write(w, http.StatusAccepted, map[string]any{"batch": b, "queued": ms})
	return nil
}

func (a *api) salesOrderFMD(w http.ResponseWriter, r *http.Request) error {
	d, err := fmd.ShippedDocument(r.Context(), a.Store, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeDataset(w, d)
}

func (a *api) createFMDStatus(w http.ResponseWriter, r *http.Request) error {
	var in eufmd.FMDStatusRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	u, err := a.Store.CreateFMDStatus(r.Context(), in)
	if err != nil {
		return err
	}
	a.wake()
	httpjson.Write(w, http.StatusCreated, u)
	return nil
}

func (a *api) listFMDStatus(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	us, err := a.Store.FMDStatuses(r.Context(), eufmd.FMDStatusFilter{GTIN: q.Get("gtin"), Lot: q.Get("lot"), RecallID: q.Get("recall")})
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"status_updates": us})
	return nil
}

func statusID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, badParam("id", "a status update id (1, 2, ...), got %q", r.PathValue("id"))
	}
	return id, nil
}

func (a *api) fmdStatusDataset(w http.ResponseWriter, r *http.Request) error {
	id, err := statusID(r)
	if err != nil {
		return err
	}
	d, err := fmd.StatusDocument(r.Context(), a.Store, id)
	if err != nil {
		return err
	}
	return writeDataset(w, d)
}

func (a *api) reverseFMDStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := statusID(r)
	if err != nil {
		return err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	u, err := a.Store.ReverseFMDStatus(r.Context(), id, in.Reason)
	if err != nil {
		return err
	}
	a.wake()
	httpjson.Write(w, http.StatusCreated, u)
	return nil
}

// recallFMD is the data set of a recall's status updates (the recall and
// any reversal of it).
func (a *api) recallFMD(w http.ResponseWriter, r *http.Request) error {
	rc, err := a.Store.Recall(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	us, err := a.Store.FMDStatuses(r.Context(), eufmd.FMDStatusFilter{RecallID: rc.ID})
	if err != nil {
		return err
	}
	docs := []fmd.Document{}
	for _, u := range us {
		d, err := fmd.StatusDocument(r.Context(), a.Store, u.ID)
		if err != nil {
			return err
		}
		docs = append(docs, d)
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"recall": rc.ID, "documents": docs})
	return nil
}
