package epcisapi

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/httpjson"
)

// anonymousQuery names the results of queries given by URL parameters.
const anonymousQuery = "SimpleEventQuery"

// answerFormat is the binding an answer is written in, from Accept:
// JSON-LD unless XML is preferred; ok is false when neither is acceptable.
func answerFormat(accept string) (epcis.Format, bool) {
	if strings.TrimSpace(accept) == "" {
		return epcis.FormatJSONLD, true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/xml", "text/xml":
			return epcis.FormatXML, true
		case "application/ld+json", "application/json", "*/*", "application/*":
			return epcis.FormatJSONLD, true
		}
	}
	return epcis.FormatUnknown, false
}

// writeEvents writes events as an EPCISQueryDocument in the binding asked.
func (h *Handler) writeEvents(w http.ResponseWriter, format epcis.Format, evs []epcis.Event, queryName string) {
	var b []byte
	var err error
	ctype := "application/ld+json; charset=utf-8"
	if format == epcis.FormatXML {
		b, err = epcis.MarshalQueryDocumentXML(evs, queryName, "", time.Now().UTC())
		ctype = "application/xml; charset=utf-8"
	} else {
		b, err = epcis.MarshalQueryDocumentJSONLD(evs, queryName, "")
	}
	if err != nil {
		h.internal(w, "writing the query document", err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// queryProblem answers a bad query parameter.
func queryProblem(w http.ResponseWriter, err error) {
	var qe *QueryError
	if errors.As(err, &qe) {
		writeProblem(w, Problem{Type: "epcisException:QueryParameterException", Status: http.StatusBadRequest, Detail: qe.Param, Title: qe.Error()})
		return
	}
	writeProblem(w, Problem{Type: "epcisException:QueryParameterException", Status: http.StatusBadRequest, Title: err.Error()})
}

// pageOfEvents answers one page of q, with the Link to the next; extra
// names what defines the query besides the URL (see paging).
func (h *Handler) pageOfEvents(w http.ResponseWriter, r *http.Request, q Query, queryName string, extra ...string) {
	format, ok := answerFormat(r.Header.Get("Accept"))
	if !ok {
		problem(w, http.StatusNotAcceptable, "epcisException:ImplementationException",
			fmt.Sprintf("Accept: %q; this repository answers application/ld+json, application/json or application/xml", r.Header.Get("Accept")))
		return
	}
	pg, ok := h.paging(w, r, extra)
	if !ok {
		return
	}
	pr := epcisdb.EPCISPageRequest{Order: q.Order, Desc: q.Desc, Size: pg.perPage}
	if pg.after != nil {
		pr.After = &epcisdb.EPCISCursor{ID: pg.after.ID, EventTime: pg.after.At}
	}
	p, err := h.Events.QueryEPCISPage(r.Context(), q.EPCISQuery, pr)
	if errors.Is(err, sqldb.ErrInvalid) {
		queryProblem(w, err)
		return
	}
	if err != nil {
		h.internal(w, "EPCIS query", err)
		return
	}
	if p.More {
		pg.link(w, r, pageToken{ID: p.Last.ID, At: p.Last.EventTime})
	}
	h.writeEvents(w, format, p.Events, queryName)
}

// events answers GET /epcis/events.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		queryProblem(w, err)
		return
	}
	h.pageOfEvents(w, r, q, anonymousQuery)
}

// event answers GET /epcis/events/{eventID}: the one event (eventID
// percent-encoded in the path), with its error declaration if any.
func (h *Handler) event(w http.ResponseWriter, r *http.Request) {
	format, ok := answerFormat(r.Header.Get("Accept"))
	if !ok {
		problem(w, http.StatusNotAcceptable, "epcisException:ImplementationException", "Accept: this repository answers JSON-LD or XML")
		return
	}
	id := r.PathValue("eventID")
	ev, err := h.Events.EPCISEvent(r.Context(), id)
	if errors.Is(err, sqldb.ErrNotFound) {
		problem(w, http.StatusNotFound, "epcisException:NoSuchNameException", fmt.Sprintf("no event with eventID %q", id))
		return
	}
	if err != nil {
		h.internal(w, "EPCIS event", err)
		return
	}
	h.writeEvents(w, format, []epcis.Event{ev}, anonymousQuery)
}

// topKind is one top-level resource besides events: its path, the
// store's vocabulary, the item list it answers and the query parameter
// its {value}/events adds.
type topKind struct {
	path, vocab, listType, field, param string
	valid                               func(string) bool
}

var topKinds = []topKind{
	{"eventTypes", "eventType", "EventTypeItemList", "eventType", "eventType", func(s string) bool {
		switch epcis.EventType(s) {
		case epcis.ObjectEvent, epcis.AggregationEvent, epcis.TransactionEvent, epcis.TransformationEvent, epcis.AssociationEvent:
			return true
		}
		return false
	}},
	{"epcs", "epc", "", "", "MATCH_anyEPC", nil},
	{"bizSteps", "bizStep", "BizStepItemList", "bizStep", "EQ_bizStep", nil},
	{"bizLocations", "bizLocation", "BizLocationItemList", "bizLocation", "EQ_bizLocation", nil},
	{"readPoints", "readPoint", "ReadPointItemList", "readPoint", "EQ_readPoint", nil},
	{"dispositions", "disposition", "DispositionItemList", "disposition", "EQ_disposition", nil},
}

// listKind answers GET /epcis/{kind}: the values in the repository, paged.
func (h *Handler) listKind(w http.ResponseWriter, r *http.Request, k topKind) {
	pg, ok := h.paging(w, r, nil)
	if !ok {
		return
	}
	vals, more, err := h.Events.EPCISVocabulary(r.Context(), k.vocab, pg.afterValue(), pg.perPage)
	if err != nil {
		h.internal(w, "EPCIS "+k.path, err)
		return
	}
	if more {
		pg.link(w, r, pageToken{Value: vals[len(vals)-1]})
	}
	if vals == nil {
		vals = []string{}
	}
	if k.listType == "" { // /epcs: a plain list of URIs
		httpjson.Write(w, http.StatusOK, vals)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"@context": epcis.ContextURL, "type": k.listType, k.field: vals})
}

// kindValue is the {value} of a kind's resource, checked; ok is false
// when it was answered (404).
func kindValue(w http.ResponseWriter, r *http.Request, k topKind) (string, bool) {
	v := r.PathValue("value")
	if v == "" || (k.valid != nil && !k.valid(v)) {
		problem(w, http.StatusNotFound, "epcisException:NoSuchNameException", fmt.Sprintf("no %s %q", strings.TrimSuffix(k.path, "s"), v))
		return "", false
	}
	return v, true
}

// kindResource answers GET /epcis/{kind}/{value}: its sub-resources.
func (h *Handler) kindResource(w http.ResponseWriter, r *http.Request, k topKind) {
	if _, ok := kindValue(w, r, k); ok {
		httpjson.Write(w, http.StatusOK, []string{"events"})
	}
}

// kindEvents answers GET /epcis/{kind}/{value}/events: the events with
// that value, filtered further by the URL's query parameters.
func (h *Handler) kindEvents(w http.ResponseWriter, r *http.Request, k topKind) {
	val, ok := kindValue(w, r, k)
	if !ok {
		return
	}
	params := r.URL.Query()
	if params.Has(k.param) {
		queryProblem(w, qerr(k.param, "is given by the path already"))
		return
	}
	withValue := url.Values{}
	for key, l := range params {
		withValue[key] = l
	}
	withValue[k.param] = []string{val}
	q, err := ParseQuery(withValue)
	if err != nil {
		queryProblem(w, err)
		return
	}
	h.pageOfEvents(w, r, q, anonymousQuery)
}
