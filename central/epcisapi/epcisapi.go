// Package epcisapi is central's EPCIS 2.0 REST binding under /epcis/:
// capture (POST /epcis/capture, JSON-LD or XML documents) and query
// (GET /epcis/events, answered as an EPCISQueryDocument in JSON-LD, or an
// EPCIS XML document for DSCSA partners). Callers authenticate with a
// bearer token (central/auth); capture needs the admin, planner or qa
// role, query any role.
//
// Capture is synchronous: the answer (201) says how many events were
// stored, were duplicates (same event hash ID) or were rejected, with the
// capture id. The standard's asynchronous form (202 and a capture job to
// poll) is not offered; the store commits before the answer.
package epcisapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/shared/epcis"
)

// Prefix is where the binding lives; mount the handler there without
// stripping it.
const Prefix = "/epcis/"

// DefaultMaxBodyBytes caps a captured document (Deps overrides it).
const DefaultMaxBodyBytes = 16 << 20

// MaxPerPage is the largest perPage a query may ask for.
const MaxPerPage = 10_000

// Capture error behaviours (header GS1-Capture-Error-Behaviour).
const (
	BehaviourRollback = "rollback"
	BehaviourProceed  = "proceed"
)

// Deps is what the binding needs.
type Deps struct {
	// Store is required.
	Store *store.Store
	// MaxBodyBytes caps capture bodies (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
}

// CaptureRoles may capture; every role may query.
var captureRoles = []auth.Role{auth.RoleAdmin, auth.RolePlanner, auth.RoleQA}

type handler struct {
	Deps
	log *slog.Logger
}

// New returns the handler for Prefix. It panics without a store or a
// logger (a programming error).
func New(deps Deps, log *slog.Logger) http.Handler {
	if deps.Store == nil || log == nil {
		panic("epcisapi.New: Deps.Store and a logger are required")
	}
	if deps.MaxBodyBytes <= 0 {
		deps.MaxBodyBytes = DefaultMaxBodyBytes
	}
	h := &handler{Deps: deps, log: log.With("component", "epcisapi")}
	mux := http.NewServeMux()
	mux.Handle("POST /epcis/capture", auth.Require(captureRoles...)(http.HandlerFunc(h.capture)))
	mux.Handle("GET /epcis/events", auth.Require(auth.Roles()...)(http.HandlerFunc(h.events)))
	mux.Handle("GET /epcis/events/{eventID...}", auth.Require(auth.Roles()...)(http.HandlerFunc(h.event)))
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "epcisException:NoSuchResourceException", "no such EPCIS resource: "+r.URL.Path, nil)
	})
	return auth.Middleware(deps.Store, h.log)(versionHeaders(mux))
}

// versionHeaders sets the version headers the REST binding answers with.
func versionHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("GS1-EPCIS-Version", "2.0.0")
		w.Header().Set("GS1-CBV-Version", "2.0.0")
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// Problem is the RFC 7807 error body of the binding.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	// Errors lists each problem as "eventList[i].field: reason" (capture)
	// or names the query parameter.
	Errors []string `json:"errors,omitempty"`
}

func problem(w http.ResponseWriter, status int, typ, title string, errs []string) {
	b, _ := json.Marshal(Problem{Type: typ, Title: title, Status: status, Errors: errs}) // strings only
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// CaptureResponse is the 201 body of a capture.
type CaptureResponse struct {
	CaptureID  string `json:"captureID"`
	Behaviour  string `json:"errorBehaviour"`
	Stored     int    `json:"stored"`
	Duplicates int    `json:"duplicates"`
	Rejected   int    `json:"rejected"`
	// Declared counts error declarations that marked a stored event.
	Declared int      `json:"declared"`
	Errors   []string `json:"errors,omitempty"`
	// EventIDs are the eventIDs of the accepted events (the capturer's, or
	// the hash ID), in document order.
	EventIDs []string `json:"eventIDs"`
	// EventHashIDs are the hash IDs of the accepted events, in document order.
	EventHashIDs []string `json:"eventHashIDs"`
}

func (h *handler) capture(w http.ResponseWriter, r *http.Request) {
	behaviour := strings.ToLower(strings.TrimSpace(r.Header.Get("GS1-Capture-Error-Behaviour")))
	switch behaviour {
	case "":
		behaviour = BehaviourRollback
	case BehaviourRollback, BehaviourProceed:
	default:
		problem(w, http.StatusBadRequest, "epcisException:ValidationException",
			fmt.Sprintf("GS1-Capture-Error-Behaviour: %q is not rollback or proceed", behaviour), nil)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	var parse func([]byte) (epcis.Document, error)
	switch mt {
	case "application/ld+json", "application/json":
		parse = epcis.ParseJSONLD
	case "application/xml", "text/xml":
		parse = epcis.ParseXML
	default:
		problem(w, http.StatusUnsupportedMediaType, "epcisException:UnsupportedMediaTypeException",
			fmt.Sprintf("Content-Type: %q is not application/ld+json, application/json or application/xml", r.Header.Get("Content-Type")), nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem(w, http.StatusRequestEntityTooLarge, "epcisException:CaptureLimitExceededException",
				fmt.Sprintf("the document is larger than %d bytes", h.MaxBodyBytes), nil)
			return
		}
		problem(w, http.StatusBadRequest, "epcisException:ValidationException", "reading the body: "+err.Error(), nil)
		return
	}
	doc, err := parse(body)
	if err != nil {
		problem(w, http.StatusBadRequest, "epcisException:ValidationException", "the body is not an EPCIS 2.0 document: "+err.Error(), nil)
		return
	}
	if len(doc.Events) == 0 {
		problem(w, http.StatusBadRequest, "epcisException:ValidationException", "eventList: the document has no events", nil)
		return
	}
	hashes, err := epcis.HashDocument(body, formatOf(mt))
	if err != nil || len(hashes) != len(doc.Events) {
		problem(w, http.StatusBadRequest, "epcisException:ValidationException", fmt.Sprintf("the event hash IDs cannot be computed: %v", err), nil)
		return
	}
	var valid []epcis.Event
	var validHashes []string
	var errs []string
	for i, e := range doc.Events {
		ps := store.ValidateEPCISEvent(i, e)
		for _, p := range ps {
			errs = append(errs, p.Error())
		}
		if len(ps) == 0 {
			valid = append(valid, e)
			validHashes = append(validHashes, hashes[i].ID)
		}
	}
	rejected := len(doc.Events) - len(valid)
	if rejected > 0 && behaviour == BehaviourRollback {
		problem(w, http.StatusBadRequest, "epcisException:ValidationException",
			fmt.Sprintf("%d of %d events are invalid; nothing was captured (GS1-Capture-Error-Behaviour: rollback)", rejected, len(doc.Events)), errs)
		return
	}
	out := CaptureResponse{Behaviour: behaviour, Rejected: rejected, Errors: errs, EventHashIDs: []string{}, EventIDs: []string{}}
	if len(valid) > 0 {
		res, err := h.Store.CaptureEPCIS(r.Context(), valid, validHashes)
		if err != nil {
			var ce *store.EPCISCaptureError
			if errors.As(err, &ce) {
				problem(w, http.StatusBadRequest, "epcisException:ValidationException", err.Error(), nil)
				return
			}
			h.log.Error("EPCIS capture failed", "err", err)
			problem(w, http.StatusInternalServerError, "epcisException:ImplementationException", "the capture could not be stored", nil)
			return
		}
		out.CaptureID, out.Stored, out.Duplicates, out.Declared, out.EventHashIDs, out.EventIDs = res.CaptureID, res.Stored, res.Duplicates, res.Declared, res.HashIDs, res.EventIDs
	}
	p, _ := auth.PrincipalFrom(r.Context())
	h.log.Info("EPCIS capture", "capture", out.CaptureID, "who", p.Name, "stored", out.Stored, "duplicates", out.Duplicates, "rejected", rejected)
	auth.WriteJSON(w, http.StatusCreated, out)
}

// queryParams are the query parameters GET /epcis/events takes.
var queryParams = []string{"EQ_eventID", "EQ_bizStep", "EQ_disposition", "MATCH_epc", "MATCH_anyEPC", "EQ_bizLocation",
	"GE_eventTime", "LT_eventTime", "EQ_eventType", "perPage"}

func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	q, field, err := ParseQuery(r.URL.Query())
	if err != nil {
		problem(w, http.StatusBadRequest, "epcisException:QueryParameterException", field+": "+err.Error(), []string{field})
		return
	}
	evs, err := h.Store.QueryEPCIS(r.Context(), q)
	if err != nil {
		h.log.Error("EPCIS query failed", "err", err)
		problem(w, http.StatusInternalServerError, "epcisException:ImplementationException", "the query failed", nil)
		return
	}
	if wantsXML(r.Header.Get("Accept")) {
		b, err := epcis.MarshalXML(epcis.Document{CreationDate: time.Now().UTC(), Events: evs})
		if err != nil {
			h.log.Error("EPCIS XML", "err", err)
			problem(w, http.StatusInternalServerError, "epcisException:ImplementationException", "the result could not be written as XML", nil)
			return
		}
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		return
	}
	b, err := epcis.MarshalQueryDocumentJSONLD(evs, "SimpleEventQuery", "")
	if err != nil {
		h.log.Error("EPCIS JSON-LD", "err", err)
		problem(w, http.StatusInternalServerError, "epcisException:ImplementationException", "the result could not be written", nil)
		return
	}
	w.Header().Set("Content-Type", "application/ld+json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func formatOf(mediaType string) epcis.Format {
	if strings.HasSuffix(mediaType, "xml") {
		return epcis.FormatXML
	}
	return epcis.FormatJSONLD
}

// event answers GET /epcis/events/{eventID}: the one event, as a query
// document (the eventID percent-encoded in the path).
func (h *handler) event(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("eventID")
	ev, err := h.Store.EPCISEvent(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		problem(w, http.StatusNotFound, "epcisException:NoSuchResourceException", fmt.Sprintf("no event with eventID %q", id), nil)
		return
	}
	if err != nil {
		h.log.Error("EPCIS event", "err", err)
		problem(w, http.StatusInternalServerError, "epcisException:ImplementationException", "the query failed", nil)
		return
	}
	b, err := epcis.MarshalQueryDocumentJSONLD([]epcis.Event{ev}, "SimpleEventQuery", "")
	if err != nil {
		problem(w, http.StatusInternalServerError, "epcisException:ImplementationException", "the result could not be written", nil)
		return
	}
	w.Header().Set("Content-Type", "application/ld+json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// wantsXML reports whether Accept prefers XML to JSON.
func wantsXML(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/xml", "text/xml":
			return true
		case "application/ld+json", "application/json", "*/*":
			return false
		}
	}
	return false
}

// ParseQuery reads the query parameters of GET /epcis/events into a store
// query. A value may be a list, comma- or '|'-separated or the parameter
// repeated. On error, field names the parameter.
func ParseQuery(v url.Values) (q store.EPCISQuery, field string, err error) {
	for k := range v {
		if !slices.Contains(queryParams, k) {
			return q, k, fmt.Errorf("unknown query parameter %q; use one of %s", k, strings.Join(queryParams, ", "))
		}
	}
	list := func(k string) []string {
		var out []string
		for _, x := range v[k] {
			for _, p := range strings.FieldsFunc(x, func(r rune) bool { return r == ',' || r == '|' }) {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
		}
		return out
	}
	probe := func(mod func(*epcis.Event)) error {
		e := epcis.Event{Type: epcis.ObjectEvent, Action: epcis.ActionObserve, EventTime: time.Unix(0, 0), EPCList: []string{"urn:epc:id:sgtin:0614141.107346.2017"}}
		mod(&e)
		return e.Validate()
	}
	q.EventTypes = list("EQ_eventType")
	for _, t := range q.EventTypes {
		switch epcis.EventType(t) {
		case epcis.ObjectEvent, epcis.AggregationEvent, epcis.TransactionEvent, epcis.TransformationEvent, epcis.AssociationEvent:
		default:
			return q, "EQ_eventType", fmt.Errorf("%q is not an EPCIS 2.0 event type", t)
		}
	}
	q.EventIDs = list("EQ_eventID")
	q.BizSteps = list("EQ_bizStep")
	for _, s := range q.BizSteps {
		if err := probe(func(e *epcis.Event) { e.BizStep = s }); err != nil {
			return q, "EQ_bizStep", fmt.Errorf("%q is not a CBV 2.0 business step or a URI", s)
		}
	}
	q.Dispositions = list("EQ_disposition")
	for _, s := range q.Dispositions {
		if err := probe(func(e *epcis.Event) { e.Disposition = s }); err != nil {
			return q, "EQ_disposition", fmt.Errorf("%q is not a CBV 2.0 disposition or a URI", s)
		}
	}
	q.BizLocations = list("EQ_bizLocation")
	for _, s := range q.BizLocations {
		if err := probe(func(e *epcis.Event) { e.BizLocation = s }); err != nil {
			return q, "EQ_bizLocation", fmt.Errorf("%q is not an SGLN, GS1 Digital Link or other absolute URI", s)
		}
	}
	for _, k := range []string{"MATCH_epc", "MATCH_anyEPC"} {
		l := list(k)
		for _, s := range l {
			if err := probe(func(e *epcis.Event) { e.EPCList = []string{s} }); err != nil {
				return q, k, fmt.Errorf("%q is not an EPC URI or GS1 Digital Link URI", s)
			}
		}
		if k == "MATCH_epc" {
			q.MatchEPC = l
		} else {
			q.MatchAnyEPC = l
		}
	}
	for _, k := range []string{"GE_eventTime", "LT_eventTime"} {
		s := v.Get(k)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, k, fmt.Errorf("%q is not an RFC 3339 time such as 2026-05-01T08:00:00Z (URL-encode '+' as %%2B)", s)
		}
		if k == "GE_eventTime" {
			q.GEEventTime = t
		} else {
			q.LTEventTime = t
		}
	}
	if s := v.Get("perPage"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPerPage {
			return q, "perPage", fmt.Errorf("%q is not a whole number from 1 to %d", s, MaxPerPage)
		}
		q.Limit = n
	}
	return q, "", nil
}
