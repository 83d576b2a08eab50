package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/httpjson"
)

// unitOut is a unit with its codes: the element string printed on the
// pack and its GS1 Digital Link URI.
type unitOut struct {
	lineevents.Unit
	ElementString string `json:"element_string,omitempty"`
	DigitalLink   string `json:"digital_link,omitempty"`
}

func newUnitOut(u lineevents.Unit) unitOut {
	o := unitOut{Unit: u}
	es := gs1.ElementString{{AI: "01", Value: u.GTIN}}
	if u.Expiry != "" {
		es = append(es, gs1.Element{AI: "17", Value: u.Expiry})
	}
	if u.Lot != "" {
		es = append(es, gs1.Element{AI: "10", Value: u.Lot})
	}
	es = append(es, gs1.Element{AI: "21", Value: u.Serial})
	if es.Validate() == nil {
		o.ElementString = es.Bracketed()
		o.DigitalLink, _ = es.DigitalLink("")
	}
	return o
}

// checkSerial applies the AI 21 rules to a serial parameter.
func checkSerial(field, s string) error {
	if s == "" || len(s) > 20 {
		return badParam(field, "a serial (AI 21) has 1 to 20 characters, got %d", len(s))
	}
	if err := gs1.ValidateCSET82("21", s); err != nil {
		return badParam(field, "%v", err)
	}
	return nil
}

func (a *api) getUnit(w http.ResponseWriter, r *http.Request) error {
	gtin, err := gtinParam(r)
	if err != nil {
		return err
	}
	serial := r.PathValue("serial")
	if err := checkSerial("serial", serial); err != nil {
		return err
	}
	u, err := a.Store.Unit(r.Context(), gtin, serial)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, newUnitOut(u))
	return nil
}

// containerOut is a case or pallet with its contents.
type containerOut struct {
	SSCC      string                    `json:"sscc"`
	Parent    string                    `json:"parent,omitempty"`
	Line      string                    `json:"line"`
	Order     string                    `json:"order"`
	Units     []string                  `json:"units"`
	Children  []string                  `json:"children"`
	CreatedAt time.Time                 `json:"created_at"`
	UpdatedAt time.Time                 `json:"updated_at"`
	History   []lineevents.HistoryEntry `json:"history"`
}

// lookupOut is what a scanned code identifies.
type lookupOut struct {
	// Kind is "unit" or "container".
	Kind string `json:"kind"`
	// Parsed is the code's element string, AI → value.
	Parsed    map[string]string `json:"parsed"`
	Bracketed string            `json:"bracketed"`
	Unit      *unitOut          `json:"unit,omitempty"`
	Container *containerOut     `json:"container,omitempty"`
	// Mismatches lists where the code disagrees with the record (another
	// lot or expiry under a real serial: a sign of a counterfeit).
	Mismatches []string `json:"mismatches"`
}

// lookup finds the unit or container a GS1 code names, in any of its
// forms: bracketed "(01)…(21)…", transmitted "01…21…" as a scanner sends
// it (GS separators, optional ]d2), or a GS1 Digital Link URI.
func (a *api) lookup(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	code := q.Get("code")
	if code == "" {
		return badParam("code", "missing; pass the scanned code as ?code=, URL-encoded")
	}
	es, err := gs1.Parse(code)
	if err != nil {
		return invalid("code", "%v", err)
	}
	m := es.Map()
	out := lookupOut{Parsed: m, Bracketed: es.Bracketed(), Mismatches: []string{}}
	gtin, hasGTIN := m["01"]
	serial, hasSerial := m["21"]
	sscc, hasSSCC := m["00"]
	switch {
	case hasGTIN && hasSerial:
		u, err := a.Store.Unit(r.Context(), gtin, serial)
		if errors.Is(err, sqldb.ErrNotFound) {
			return errorf(http.StatusNotFound, codeNotFound, "code", "no unit (01)%s(21)%s: central never saw this serial used", gtin, serial)
		}
		if err != nil {
			return err
		}
		uo := newUnitOut(u)
		out.Kind, out.Unit = "unit", &uo
		for _, c := range []struct{ ai, what, want string }{{"10", "lot", u.Lot}, {"17", "expiry", u.Expiry}} {
			if got, ok := m[c.ai]; ok && got != c.want {
				out.Mismatches = append(out.Mismatches, fmt.Sprintf("%s: the code says %q, the unit's is %q", c.what, got, c.want))
			}
		}
	case hasSSCC:
		c, err := a.Store.Container(r.Context(), sscc)
		if errors.Is(err, sqldb.ErrNotFound) {
			return errorf(http.StatusNotFound, codeNotFound, "code", "no container (00)%s", sscc)
		}
		if err != nil {
			return err
		}
		out.Kind = "container"
		out.Container = &containerOut{SSCC: c.SSCC, Parent: c.Parent, Line: c.Line, Order: c.Order, Units: orEmpty(c.Units),
			Children: orEmpty(c.Children), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, History: orEmpty(c.History)}
	case hasGTIN:
		return invalid("code", "the code names GTIN %s but no serial (AI 21): it identifies a product, not a unit", gtin)
	default:
		return invalid("code", "the code names neither a unit (AI 01 with 21) nor a container (AI 00)")
	}
	httpjson.Write(w, http.StatusOK, out)
	return nil
}
