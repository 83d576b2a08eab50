package api

import (
	"bytes"
	"net/http"

	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/httpjson"
)

func (a *api) createRecall(w http.ResponseWriter, r *http.Request) error {
	var in supply.RecallRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	rc, err := a.Store.CreateRecall(r.Context(), in)
	if err != nil {
		return bodyNotFound(err, "lot")
	}
	httpjson.Write(w, http.StatusCreated, rc)
	return nil
}

func (a *api) listRecalls(w http.ResponseWriter, r *http.Request) error {
	out, err := a.Store.Recalls(r.Context())
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"recalls": orEmpty(out)})
	return nil
}

func (a *api) getRecall(w http.ResponseWriter, r *http.Request) error {
	rc, err := a.Store.Recall(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, rc)
	return nil
}

// recallCSV streams every unit of the recall as CSV. The recall is looked
// up first, so that an unknown one is a JSON 404 and not a broken CSV.
func (a *api) recallCSV(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := a.Store.Recall(r.Context(), id); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="recall-`+id+`.csv"`)
	if err := a.Store.WriteRecallCSV(r.Context(), id, w); err != nil {
		// The status is out: all that is left is to log it.
		a.log.Error("recall CSV export broke off", "recall", id, "err", err)
	}
	return nil
}

func (a *api) recallReport(w http.ResponseWriter, r *http.Request) error {
	var b bytes.Buffer
	if err := a.Store.WriteRecallReport(r.Context(), r.PathValue("id"), &b); err != nil {
		return err
	}
	writeDoc(w, "text/plain; charset=utf-8", "", b.Bytes())
	return nil
}

// unitIn names a unit by its parts or by a code in any GS1 form; a code
// also carries the lot (AI 10) and expiry (AI 17) printed on the pack.
type unitIn struct {
	Code    string `json:"code"`
	GTIN    string `json:"gtin"`
	Serial  string `json:"serial"`
	Lot     string `json:"lot"`
	Expiry  string `json:"expiry"`
	SiteGLN string `json:"site_gln"`
}

func (u *unitIn) resolve() error {
	if u.Code == "" {
		if g, err := gs1.ParseGTIN(u.GTIN); err == nil {
			u.GTIN = string(g)
		} else {
			return invalid("gtin", "%v", err)
		}
		return checkSerialField("serial", u.Serial)
	}
	if u.GTIN != "" || u.Serial != "" {
		return invalid("code", "a code or gtin and serial, not both")
	}
	es, err := gs1.Parse(u.Code)
	if err != nil {
		return invalid("code", "%v", err)
	}
	m := es.Map()
	if m["01"] == "" || m["21"] == "" {
		return invalid("code", "the code names no unit (AI 01 with 21)")
	}
	u.GTIN, u.Serial = m["01"], m["21"]
	if v, ok := m["10"]; ok && u.Lot == "" {
		u.Lot = v
	}
	if v, ok := m["17"]; ok && u.Expiry == "" {
		u.Expiry = v
	}
	return nil
}

func checkSerialField(field, s string) error {
	if s == "" || len(s) > 20 || gs1.ValidateCSET82("21", s) != nil {
		return invalid(field, "a serial (AI 21) has 1 to 20 characters of GS1 CSET 82, got %q", s)
	}
	return nil
}

func (a *api) receiveReturn(w http.ResponseWriter, r *http.Request) error {
	var in unitIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.resolve(); err != nil {
		return err
	}
	ret, err := a.Store.ReceiveReturn(r.Context(), in.GTIN, in.Serial, in.SiteGLN)
	if err != nil {
		return bodyNotFound(err, "site_gln")
	}
	httpjson.Write(w, http.StatusCreated, ret)
	return nil
}

func (a *api) verifyReturn(w http.ResponseWriter, r *http.Request) error {
	var in unitIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.resolve(); err != nil {
		return err
	}
	ret, err := a.Store.VerifyReturn(r.Context(), in.GTIN, in.Serial, in.Lot, in.Expiry)
	if err != nil {
		return bodyNotFound(err, "serial")
	}
	httpjson.Write(w, http.StatusOK, ret)
	return nil
}

func (a *api) restockReturn(w http.ResponseWriter, r *http.Request) error {
	var in unitIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.resolve(); err != nil {
		return err
	}
	ret, err := a.Store.RestockReturn(r.Context(), in.GTIN, in.Serial)
	if err != nil {
		return bodyNotFound(err, "serial")
	}
	httpjson.Write(w, http.StatusOK, ret)
	return nil
}

func (a *api) containerContents(w http.ResponseWriter, r *http.Request) error {
	v := r.PathValue("sscc")
	if _, err := gs1.ParseSSCC(v); err != nil {
		return badParam("sscc", "%v", err)
	}
	t, err := a.Store.ContainerContents(r.Context(), v)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, t)
	return nil
}

func (a *api) whereIs(w http.ResponseWriter, r *http.Request) error {
	gtin, err := gtinParam(r)
	if err != nil {
		return err
	}
	serial := r.PathValue("serial")
	if err := checkSerial("serial", serial); err != nil {
		return err
	}
	out, err := a.Store.WhereIs(r.Context(), gtin, serial)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, out)
	return nil
}
