package api

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/httpjson"
)

// notFoundField finds the body field a store error names before the
// record that was not found ("sales order S: customer_gln: partner …").
var notFoundField = regexp.MustCompile(`: ([a-z_]+(?:\[\d+\]\.[a-z_]+)?): `)

// bodyNotFound turns a record the body refers to and that does not exist
// into a 422 naming the field: the route's own resource exists, so 404
// would mislead.
func bodyNotFound(err error, fallback string) error {
	if !errors.Is(err, sqldb.ErrNotFound) {
		return err
	}
	field := fallback
	if m := notFoundField.FindStringSubmatch(err.Error()); m != nil {
		field = m[1]
	}
	return invalid(field, "%v", err)
}

// shipmentIn is the body of POST /shipments.
type shipmentIn struct {
	ID         string `json:"id"`
	SalesOrder string `json:"sales_order"`
	SourceGLN  string `json:"source_gln"`
	SourceExt  string `json:"source_extension"`
}

func (a *api) createShipment(w http.ResponseWriter, r *http.Request) error {
	var in shipmentIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	sh, err := a.Store.CreateShipment(r.Context(), supply.Shipment{ID: in.ID, SalesOrder: in.SalesOrder, SourceGLN: in.SourceGLN, SourceExt: in.SourceExt})
	if err != nil {
		return bodyNotFound(err, "sales_order")
	}
	a.log.Info("shipment created", "shipment", sh.ID, "sales_order", sh.SalesOrder)
	httpjson.Write(w, http.StatusCreated, sh)
	return nil
}

func (a *api) getShipment(w http.ResponseWriter, r *http.Request) error {
	sh, err := a.Store.Shipment(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, sh)
	return nil
}

// pickIn is one scan: a code in any GS1 form ((00) SSCC, or (01)+(21) a
// unit), or the SSCC, or the GTIN and serial.
type pickIn struct {
	Code   string `json:"code"`
	SSCC   string `json:"sscc"`
	GTIN   string `json:"gtin"`
	Serial string `json:"serial"`
}

type picksIn struct {
	Picks []pickIn `json:"picks"`
}

func (a *api) pick(w http.ResponseWriter, r *http.Request) error {
	var in picksIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if len(in.Picks) == 0 {
		return invalid("picks", "missing; scan at least one SSCC or unit")
	}
	items := make([]supply.PickItem, len(in.Picks))
	for i, p := range in.Picks {
		f := "picks[" + strconv.Itoa(i) + "]"
		if p.Code == "" {
			items[i] = supply.PickItem{SSCC: p.SSCC, GTIN: p.GTIN, Serial: p.Serial}
			continue
		}
		if p.SSCC != "" || p.GTIN != "" || p.Serial != "" {
			return invalid(f+".code", "a code or its parts (sscc, or gtin and serial), not both")
		}
		es, err := gs1.Parse(p.Code)
		if err != nil {
			return invalid(f+".code", "%v", err)
		}
		m := es.Map()
		switch {
		case m["00"] != "":
			items[i] = supply.PickItem{SSCC: m["00"]}
		case m["01"] != "" && m["21"] != "":
			items[i] = supply.PickItem{GTIN: m["01"], Serial: m["21"]}
		default:
			return invalid(f+".code", "the code names neither a container (AI 00) nor a unit (AI 01 with 21)")
		}
	}
	sh, err := a.Store.Pick(r.Context(), r.PathValue("id"), items)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, sh)
	return nil
}

// confirmIn is the optional body of POST /shipments/{id}/confirm.
type confirmIn struct {
	ShippedAt time.Time `json:"shipped_at"`
}

func (a *api) confirmShipment(w http.ResponseWriter, r *http.Request) error {
	var in confirmIn
	if err := decodeOptionalJSON(r, &in); err != nil {
		return err
	}
	sh, err := a.Store.ConfirmShipment(r.Context(), r.PathValue("id"), in.ShippedAt)
	if err != nil {
		return err
	}
	a.log.Info("shipment confirmed", "shipment", sh.ID, "units", sh.Units, "to", sh.DestGLN)
	httpjson.Write(w, http.StatusOK, sh)
	return nil
}

// writeDoc writes a document that is not the API's own JSON.
func writeDoc(w http.ResponseWriter, ctype, filename string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if filename != "" {
		h.Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (a *api) shipmentEPCIS(w http.ResponseWriter, r *http.Request) error {
	d, err := dscsa.Document(r.Context(), a.Store, r.PathValue("id"))
	if err != nil {
		return shipmentDocErr(err)
	}
	b, err := epcis.MarshalJSONLD(d)
	if err != nil {
		return err
	}
	writeDoc(w, "application/ld+json", "", b)
	return nil
}

func (a *api) shipmentEPCISXML(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	d, err := dscsa.Document(r.Context(), a.Store, id)
	if err != nil {
		return shipmentDocErr(err)
	}
	b, err := epcis.MarshalXML(d)
	if err != nil {
		return err
	}
	writeDoc(w, "application/xml", "epcis-"+id+".xml", b)
	return nil
}

// shipmentDSCSAXML serves the DSCSA document as the customer takes it:
// EPCIS 1.2 or 2.0 by the partner's epcis_version, or ?version=.
func (a *api) shipmentDSCSAXML(w http.ResponseWriter, r *http.Request) error {
	id, version := r.PathValue("id"), r.URL.Query().Get("version")
	if version != "" && version != master.EPCIS12 && version != master.EPCIS20 {
		return badParam("version", "%q: use %s or %s", version, master.EPCIS12, master.EPCIS20)
	}
	doc, err := dscsa.XML(r.Context(), a.Store, id, version)
	if err != nil {
		return shipmentDocErr(err)
	}
	writeDoc(w, "application/xml", "dscsa-"+id+".xml", doc.Body)
	return nil
}

func shipmentDocErr(err error) error {
	if errors.Is(err, dscsa.ErrNotShipped) {
		return errorf(http.StatusConflict, codeState, "", "%v", err)
	}
	return err
}

func (a *api) shipmentDSCSA(w http.ResponseWriter, r *http.Request) error {
	p, err := dscsa.Build(r.Context(), a.Store, r.PathValue("id"))
	if err != nil {
		return shipmentDocErr(err)
	}
	httpjson.Write(w, http.StatusOK, p)
	return nil
}
