package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
)

type lookupData struct {
	Form *form
	// Bracketed and DigitalLink are the code read, written out.
	Bracketed, DigitalLink string
	Unit                   *lineevents.Unit
	Container              *lineevents.Container
	History                []historyRow
	// Mismatches are data on the code that differ from central's record.
	Mismatches []string
	NotFound   string
}

type historyRow struct {
	lineevents.HistoryEntry
	DetailsText string
}

func historyRows(hs []lineevents.HistoryEntry) []historyRow {
	out := make([]historyRow, len(hs))
	for i, h := range hs {
		out[i] = historyRow{HistoryEntry: h, DetailsText: compactJSON(h.Details)}
	}
	return out
}

func compactJSON(b []byte) string {
	if len(b) == 0 || string(b) == "null" || string(b) == "{}" {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

// lookupPage finds a unit (or a container) by a code in any GS1 form:
// bracketed, transmitted (as a scanner sends it, with GS separators and an
// optional ]d2) or a GS1 Digital Link URI. A handheld scanner types into
// the focused field and presses Enter, which submits the form.
func (h *handler) lookupPage(w http.ResponseWriter, r *http.Request) {
	f := newForm(r.URL.Query())
	d := lookupData{Form: f}
	// Keep GS (0x1D) inside the code; scanners may add CR/LF or spaces.
	code := strings.Trim(f.Values.Get("code"), " \t\r\n")
	f.Values.Set("code", code)
	status := http.StatusOK
	if code != "" {
		status = h.lookup(r, code, &d)
	}
	h.render(w, r, status, "lookup", "Unit lookup", "lookup", d)
}

func (h *handler) lookup(r *http.Request, code string, d *lookupData) int {
	f := d.Form
	es, err := gs1.Parse(code)
	if err != nil {
		f.SetError("code", "Not a GS1 code: "+plain(err))
		return http.StatusUnprocessableEntity
	}
	d.Bracketed = es.Bracketed()
	d.DigitalLink, _ = es.DigitalLink("")
	ctx := r.Context()
	gtin, hasGTIN := es.Get("01")
	serial, hasSerial := es.Get("21")
	sscc, hasSSCC := es.Get("00")
	switch {
	case hasGTIN && hasSerial:
		u, err := h.deps.Store.Unit(ctx, gtin, serial)
		if errors.Is(err, sqldb.ErrNotFound) {
			d.NotFound = "Central knows no unit with GTIN " + gtin + " and serial " + serial + ". It was never printed on a line that reported it, or the code is not genuine."
			return http.StatusNotFound
		}
		if err != nil {
			h.log.Error("unit lookup", "gtin", gtin, "serial", serial, "err", err)
			f.Problem = "Central could not read the unit; see central's log."
			return http.StatusInternalServerError
		}
		d.Unit, d.History = &u, historyRows(u.History)
		if lot, ok := es.Get("10"); ok && lot != u.Lot {
			d.Mismatches = append(d.Mismatches, "The code says lot "+lot+"; central has lot "+u.Lot+".")
		}
		if exp, ok := es.Get("17"); ok && exp != u.Expiry {
			d.Mismatches = append(d.Mismatches, "The code says expiry "+exp+"; central has expiry "+u.Expiry+".")
		}
	case hasSSCC:
		c, err := h.deps.Store.Container(ctx, sscc)
		if errors.Is(err, sqldb.ErrNotFound) {
			d.NotFound = "Central knows no container with SSCC " + sscc + "."
			return http.StatusNotFound
		}
		if err != nil {
			h.log.Error("container lookup", "sscc", sscc, "err", err)
			f.Problem = "Central could not read the container; see central's log."
			return http.StatusInternalServerError
		}
		d.Container, d.History = &c, historyRows(c.History)
	case hasGTIN:
		f.SetError("code", "This code has a GTIN ("+gtin+") but no serial (AI 21): it names a product, not a unit.")
		return http.StatusUnprocessableEntity
	default:
		f.SetError("code", "This code has neither a GTIN with a serial (AI 01 + 21) nor an SSCC (AI 00).")
		return http.StatusUnprocessableEntity
	}
	return http.StatusOK
}
