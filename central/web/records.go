package web

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/lineevents"
)

// recordLimit caps the rows a dead-letter or audit page shows.
const recordLimit = 1000

// defaultSince is how far back the record pages look unless told.
const defaultSince = 30 * 24 * time.Hour

// payloadShown caps the payload bytes shown inline.
const payloadShown = 4096

type deadLetterRow struct {
	lineevents.DeadLetter
	Text      string
	Hidden    int
	Binary    bool
	PayloadSz int
}

type deadLettersData struct {
	Filter    *form
	Lines     []option
	Since     time.Time
	Rows      []deadLetterRow
	Truncated bool
}

// sinceFilter reads the "since" date (YYYY-MM-DD) of a filter form.
func (h *handler) sinceFilter(f *form) time.Time {
	v := f.Get("since")
	if v == "" {
		since := h.deps.Now().Add(-defaultSince).UTC().Truncate(24 * time.Hour)
		f.Values.Set("since", since.Format(time.DateOnly))
		return since
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		f.SetError("since", "Write the date as YYYY-MM-DD, got "+strconv.Quote(v)+".")
		return time.Time{}
	}
	return t
}

func (h *handler) deadLettersPage(w http.ResponseWriter, r *http.Request) {
	f := newForm(r.URL.Query())
	since := h.sinceFilter(f)
	lines, err := h.lineOptions(r.Context(), "all lines")
	if err != nil {
		h.serverError(w, r, "list the lines", err)
		return
	}
	d := deadLettersData{Filter: f, Lines: lines, Since: since}
	if !f.Valid() {
		h.render(w, r, http.StatusUnprocessableEntity, "dead-letters", "Dead letters", "dead-letters", d)
		return
	}
	dls, err := h.deps.Store.DeadLetters(r.Context(), lineevents.DeadLetterFilter{Line: f.Get("line"), Since: since, Limit: recordLimit})
	if err != nil {
		h.serverError(w, r, "list the dead letters", err)
		return
	}
	d.Truncated = len(dls) >= recordLimit
	for _, dl := range slices.Backward(dls) { // newest first
		d.Rows = append(d.Rows, payloadRow(dl))
	}
	h.render(w, r, http.StatusOK, "dead-letters", "Dead letters", "dead-letters", d)
}

func payloadRow(dl lineevents.DeadLetter) deadLetterRow {
	row := deadLetterRow{DeadLetter: dl, PayloadSz: len(dl.Payload)}
	p := dl.Payload
	if len(p) > payloadShown {
		row.Hidden, p = len(p)-payloadShown, p[:payloadShown]
	}
	if utf8.Valid(dl.Payload) {
		var buf bytes.Buffer
		if row.Hidden == 0 && json.Indent(&buf, p, "", "  ") == nil {
			row.Text = buf.String()
		} else {
			// The cut may split a character; show it as U+FFFD.
			row.Text = string(bytes.ToValidUTF8(p, []byte("\uFFFD")))
		}
		return row
	}
	row.Binary = true
	row.Text = fmt.Sprintf("% x", p[:min(len(p), 256)])
	return row
}

type auditRow struct {
	audit.Entry
	Changes []change
}

// change is one field of a record that an audit entry changed.
type change struct {
	Field, Before, After string
}

type auditData struct {
	Filter    *form
	Entities  []option
	Rows      []auditRow
	Truncated bool
}

func auditEntities() []option {
	opts := []option{{"", "everything"}}
	for _, e := range []string{"product", "work_order", "line", "site", "location", "partner", "serial_grant", "serial_list", "api_token", "line_seq", "event_flag"} {
		opts = append(opts, option{e, e})
	}
	return opts
}

func (h *handler) auditPage(w http.ResponseWriter, r *http.Request) {
	f := newForm(r.URL.Query())
	since := h.sinceFilter(f)
	d := auditData{Filter: f, Entities: auditEntities()}
	if !f.Valid() {
		h.render(w, r, http.StatusUnprocessableEntity, "audit", "Audit trail", "audit", d)
		return
	}
	es, err := h.deps.Store.Audit(r.Context(), audit.Filter{Entity: f.Get("entity"), EntityID: f.Get("entity_id"), Since: since, Limit: recordLimit})
	if err != nil {
		h.serverError(w, r, "read the audit trail", err)
		return
	}
	d.Truncated = len(es) >= recordLimit
	for _, e := range slices.Backward(es) {
		d.Rows = append(d.Rows, auditRow{Entry: e, Changes: diff(e.Before, e.After)})
	}
	h.render(w, r, http.StatusOK, "audit", "Audit trail", "audit", d)
}

// diff lists the fields that differ between two JSON records, nested
// objects flattened to dotted paths ("scheme.length"). A create (no
// before) lists every field of after.
func diff(before, after json.RawMessage) []change {
	b, a := flatten(before), flatten(after)
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, cmp.Compare)
	var out []change
	for _, k := range keys {
		bv, bok := b[k]
		av, aok := a[k]
		if bok && aok && bv == av {
			continue
		}
		if !bok {
			bv = "—"
		}
		if !aok {
			av = "—"
		}
		out = append(out, change{Field: k, Before: bv, After: av})
	}
	return out
}

func flatten(raw json.RawMessage) map[string]string {
	out := map[string]string{}
	if len(raw) == 0 || string(raw) == "null" {
		return out
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		out["(record)"] = string(raw)
		return out
	}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok && (len(m) > 0 || prefix == "") {
			for k, x := range m {
				if prefix != "" {
					k = prefix + "." + k
				}
				walk(k, x)
			}
			return
		}
		if prefix == "" {
			prefix = "(record)"
		}
		switch x := v.(type) {
		case string:
			out[prefix] = x
		default:
			b, _ := json.Marshal(x)
			out[prefix] = string(b)
		}
	}
	walk("", v)
	return out
}
