package epcisapi

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/shared/epcis"
)

// The query language of the binding (REST Bindings/query-schema.json) as
// far as this repository implements it; ParseQuery refuses the rest by
// name rather than ignore it.

// listParams are the parameters whose value is a list of alternatives.
var listParams = []string{"eventType", "EQ_eventType", "EQ_eventID", "EQ_action", "EQ_bizStep", "EQ_disposition", "EQ_readPoint",
	"EQ_bizLocation", "EQ_errorReason", "MATCH_epc", "MATCH_anyEPC", "MATCH_parentID", "MATCH_inputEPC", "MATCH_outputEPC", "MATCH_epcClass"}

// timeParams bound record and event time.
var timeParams = []string{"GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime"}

// otherParams are the rest this repository reads (paging and order; the
// subscription parameters of a named query's events).
var otherParams = []string{"EXISTS_errorDeclaration", "orderBy", "orderDirection", "perPage", "nextPageToken"}

// subscriptionParams open a WebSocket subscription on a named query's events.
var subscriptionParams = []string{"stream", "reportIfEmpty", "initialRecordTime", "second", "minute", "hour", "dayOfMonth", "month", "dayOfWeek"}

// reQueryLanguage matches the parameter names of GS1's query language that
// this repository does not implement (answered as such, not as unknown).
var reQueryLanguage = regexp.MustCompile(`^(EQ|GT|GE|LT|LE|EXISTS|WD|MATCH|HASATTR|EQATTR)_\w+$|^eventCountLimit$|^maxEventCount$`)

// Query is a parsed query: the store's filter and the order asked.
type Query struct {
	epcisdb.EPCISQuery
	Order epcisdb.EPCISOrder
	Desc  bool
}

// QueryError names the parameter at fault.
type QueryError struct {
	Param string
	Rule  string
	// Unsupported is set for parameters of the query language this
	// repository does not implement.
	Unsupported bool
}

func (e *QueryError) Error() string { return e.Param + ": " + e.Rule }

func qerr(param, format string, args ...any) *QueryError {
	return &QueryError{Param: param, Rule: fmt.Sprintf(format, args...)}
}

// ParseQuery reads query parameters (URL parameters, or a named query's
// definition, each value a list). A list value may also be '|'-separated
// (as the binding writes it; a comma may be part of an EPC). allowed adds
// parameter names the caller handles itself.
//
// It is long because it reads the parameter groups in turn (event types, actions,
// vocabulary, EPC matches, times, order), each checked as it is read so that the error
// names its parameter.
func ParseQuery(v map[string][]string, allowed ...string) (Query, error) {
	var q Query
	for k := range v {
		switch {
		case slices.Contains(listParams, k), slices.Contains(timeParams, k), slices.Contains(otherParams, k), slices.Contains(allowed, k):
		case reQueryLanguage.MatchString(k):
			return q, &QueryError{Param: k, Rule: "this query parameter of GS1's query language is not supported by this repository (see docs/epcis.md)", Unsupported: true}
		default:
			return q, qerr(k, "unknown query parameter; this repository reads %s", strings.Join(slices.Concat(listParams, timeParams, otherParams), ", "))
		}
	}
	list := func(k string) []string {
		var out []string
		for _, x := range v[k] {
			for _, p := range strings.Split(x, "|") {
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
	q.EventTypes = append(list("eventType"), list("EQ_eventType")...)
	for _, t := range q.EventTypes {
		switch epcis.EventType(t) {
		case epcis.ObjectEvent, epcis.AggregationEvent, epcis.TransactionEvent, epcis.TransformationEvent, epcis.AssociationEvent:
		default:
			return q, qerr("eventType", "%q is not an EPCIS 2.0 event type", t)
		}
	}
	q.EventIDs = list("EQ_eventID")
	q.Actions = list("EQ_action")
	for _, a := range q.Actions {
		if a != epcis.ActionAdd && a != epcis.ActionObserve && a != epcis.ActionDelete {
			return q, qerr("EQ_action", "%q is not ADD, OBSERVE or DELETE", a)
		}
	}
	vocab := []struct {
		param string
		dst   *[]string
		mod   func(*epcis.Event, string)
		what  string
	}{
		{"EQ_bizStep", &q.BizSteps, func(e *epcis.Event, s string) { e.BizStep = s }, "a CBV 2.0 business step or a URI"},
		{"EQ_disposition", &q.Dispositions, func(e *epcis.Event, s string) { e.Disposition = s }, "a CBV 2.0 disposition or a URI"},
		{"EQ_bizLocation", &q.BizLocations, func(e *epcis.Event, s string) { e.BizLocation = s }, "an SGLN, GS1 Digital Link or other absolute URI"},
		{"EQ_readPoint", &q.ReadPoints, func(e *epcis.Event, s string) { e.ReadPoint = s }, "an SGLN, GS1 Digital Link or other absolute URI"},
		{"EQ_errorReason", &q.ErrorReasons, func(e *epcis.Event, s string) {
			e.ErrorDeclaration = &epcis.ErrorDeclaration{DeclarationTime: e.EventTime, Reason: s}
		}, "a CBV 2.0 error reason or a URI"},
	}
	for _, f := range vocab {
		*f.dst = list(f.param)
		for _, s := range *f.dst {
			if err := probe(func(e *epcis.Event) { f.mod(e, s) }); err != nil {
				return q, qerr(f.param, "%q is not %s", s, f.what)
			}
		}
	}
	epcs := []struct {
		param string
		dst   *[]string
	}{{"MATCH_epc", &q.MatchEPC}, {"MATCH_anyEPC", &q.MatchAnyEPC}, {"MATCH_parentID", &q.MatchParentID},
		{"MATCH_inputEPC", &q.MatchInput}, {"MATCH_outputEPC", &q.MatchOutput}, {"MATCH_epcClass", &q.MatchEPCClass}}
	for _, f := range epcs {
		*f.dst = list(f.param)
		for _, s := range *f.dst {
			if err := probe(func(e *epcis.Event) { e.EPCList = []string{s} }); err != nil && f.param != "MATCH_epcClass" {
				return q, qerr(f.param, "%q is not an EPC URI or GS1 Digital Link URI", s)
			}
		}
	}
	if _, ok := v["EXISTS_errorDeclaration"]; ok {
		q.ErrorDeclared = true
	}
	for _, k := range timeParams {
		s := first(v[k])
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, qerr(k, "%q is not an RFC 3339 time such as 2026-05-01T08:00:00Z (URL-encode '+' as %%2B)", s)
		}
		switch k {
		case "GE_eventTime":
			q.GEEventTime = t
		case "LT_eventTime":
			q.LTEventTime = t
		case "GE_recordTime":
			q.GERecordTime = t
		case "LT_recordTime":
			q.LTRecordTime = t
		}
	}
	switch s := first(v["orderBy"]); s {
	case "", "recordTime":
		q.Order = epcisdb.ByRecordTime
	case "eventTime":
		q.Order = epcisdb.ByEventTime
	default:
		return q, qerr("orderBy", "%q is not eventTime or recordTime", s)
	}
	switch s := strings.ToUpper(first(v["orderDirection"])); s {
	case "", "ASC":
	case "DESC":
		q.Desc = true
	default:
		return q, qerr("orderDirection", "%q is not ASC or DESC", first(v["orderDirection"]))
	}
	return q, nil
}

func first(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}
