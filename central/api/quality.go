package api

import (
	"net/http"
	"strconv"

	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/httpjson"
)

// Suspect and illegitimate product (FDCA §582(b)(4)): QA quarantines it
// with an investigation and records the outcome; tracing requests get the
// TI, TH and TS of every transaction of a product.

func (a *api) openInvestigation(w http.ResponseWriter, r *http.Request) error {
	var in supply.InvestigationRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	v, err := a.Store.OpenInvestigation(r.Context(), in)
	if err != nil {
		return err
	}
	a.log.Info("investigation opened: product quarantined", "investigation", v.ID, "scope", v.Scope, "gtin", v.GTIN, "units", v.Units)
	httpjson.Write(w, http.StatusCreated, v)
	return nil
}

func (a *api) listInvestigations(w http.ResponseWriter, r *http.Request) error {
	state := r.URL.Query().Get("state")
	switch state {
	case "", supply.InvestigationOpen, supply.InvestigationCleared, supply.InvestigationIllegitimate:
	default:
		return badParam("state", "%q: use open, cleared or illegitimate", state)
	}
	vs, err := a.Store.Investigations(r.Context(), state)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"investigations": vs})
	return nil
}

func investigationID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badParam("id", "%q is not an investigation id", r.PathValue("id"))
	}
	return id, nil
}

// product3911 is the product part of an FDA Form 3911 notification, from
// central's records.
type product3911 struct {
	Name       string   `json:"name"`
	NDC        string   `json:"ndc"`
	DosageForm string   `json:"dosage_form"`
	Strength   string   `json:"strength"`
	Lots       []string `json:"lots"`
	Expiries   []string `json:"expiries"`
	Quantity   int      `json:"quantity"`
	Serials    []string `json:"serials"`
}

func (a *api) getInvestigation(w http.ResponseWriter, r *http.Request) error {
	id, err := investigationID(r)
	if err != nil {
		return err
	}
	v, err := a.Store.Investigation(r.Context(), id)
	if err != nil {
		return err
	}
	units, err := a.Store.InvestigationUnits(r.Context(), id, maxRows)
	if err != nil {
		return err
	}
	p, err := a.Store.Product(r.Context(), v.GTIN)
	if err != nil {
		return err
	}
	prod := product3911{Name: p.Name, NDC: p.NDC, DosageForm: p.Form, Strength: p.Strength, Quantity: v.Units, Lots: []string{}, Expiries: []string{}, Serials: []string{}}
	lots, exps := map[string]bool{}, map[string]bool{}
	for _, u := range units {
		if !lots[u.Lot] {
			lots[u.Lot] = true
			prod.Lots = append(prod.Lots, u.Lot)
		}
		if t, err := gs1.ExpiryTime(u.Expiry); err == nil && !exps[u.Expiry] {
			exps[u.Expiry] = true
			prod.Expiries = append(prod.Expiries, t.Format("2006-01-02"))
		}
		prod.Serials = append(prod.Serials, u.Serial)
	}
	httpjson.Write(w, http.StatusOK, struct {
		supply.Investigation
		Product product3911 `json:"product"`
	}{v, prod})
	return nil
}

type outcomeIn struct {
	Outcome  string           `json:"outcome"`
	Note     string           `json:"note"`
	Form3911 *supply.Form3911 `json:"form_3911"`
}

func (a *api) closeInvestigation(w http.ResponseWriter, r *http.Request) error {
	id, err := investigationID(r)
	if err != nil {
		return err
	}
	var in outcomeIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	v, err := a.Store.CloseInvestigation(r.Context(), id, in.Outcome, in.Note, in.Form3911)
	if err != nil {
		return err
	}
	a.log.Info("investigation closed", "investigation", id, "outcome", v.State)
	httpjson.Write(w, http.StatusOK, v)
	return nil
}

// trace answers a tracing request: ?gtin&serial or ?sscc; format json
// (default: TI, TH and TS of every transaction) or epcis (every EPCIS
// event naming the product, EPCIS 2.0 XML).
func (a *api) trace(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	gtin, serial, sscc, format := q.Get("gtin"), q.Get("serial"), q.Get("sscc"), q.Get("format")
	switch {
	case sscc != "" && (gtin != "" || serial != ""):
		return badParam("sscc", "a unit (gtin and serial) or a container (sscc), not both")
	case sscc != "":
		if _, err := gs1.ParseSSCC(sscc); err != nil {
			return badParam("sscc", "%v", err)
		}
	case gtin == "" || serial == "":
		return badParam("gtin", "name a unit (gtin and serial) or a container (sscc)")
	default:
		if _, err := gs1.ParseGTIN(gtin); err != nil {
			return badParam("gtin", "%v", err)
		}
	}
	switch format {
	case "", "json":
		if sscc != "" {
			t, err := dscsa.TraceContainer(r.Context(), a.Store, sscc)
			if err != nil {
				return err
			}
			httpjson.Write(w, http.StatusOK, t)
			return nil
		}
		t, err := dscsa.Trace(r.Context(), a.Store, gtin, serial)
		if err != nil {
			return err
		}
		httpjson.Write(w, http.StatusOK, t)
		return nil
	case "epcis":
		d, err := dscsa.TraceEvents(r.Context(), a.Store, gtin, serial, sscc)
		if err != nil {
			return err
		}
		b, err := epcis.MarshalXML(d)
		if err != nil {
			return err
		}
		writeDoc(w, "application/xml", "trace.xml", b)
		return nil
	}
	return badParam("format", "%q: use json or epcis", format)
}
