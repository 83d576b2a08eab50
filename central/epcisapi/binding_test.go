package epcisapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/epcisapi"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// shipDoc is a JSON-LD document of n shipping events, the first numbered from.
func shipDoc(tb testing.TB, from, n int, bizStep string) []byte {
	tb.Helper()
	var evs []epcis.Event
	for i := from; i < from+n; i++ {
		evs = append(evs, epcis.Event{Type: epcis.ObjectEvent, Action: epcis.ActionObserve, EventTime: t0.Add(time.Duration(i) * time.Second),
			EventTimeZoneOffset: "+00:00", EPCList: []string{fmt.Sprintf("urn:epc:id:sgtin:0614141.107346.%d", 100000+i)},
			BizStep: bizStep, Disposition: "in_transit", ReadPoint: "urn:epc:id:sgln:0614141.07346.1234",
			BizLocation: "urn:epc:id:sgln:0614141.07346.0"})
	}
	b, err := epcis.MarshalJSONLD(epcis.Document{CreationDate: t0, Events: evs})
	require.NoError(tb, err)
	return b
}

var reNext = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// pages follows the Link headers from path and returns every eventID in
// order, and the number of pages.
func (e *env) pages(tb testing.TB, path string) ([]string, int) {
	tb.Helper()
	var ids []string
	n := 0
	for path != "" {
		r := e.do(tb, auth.RoleAuditor, "GET", path, nil)
		require.Equal(tb, http.StatusOK, r.status, "%s", r.body)
		d, err := epcis.ParseJSONLD(r.body)
		require.NoError(tb, err)
		for _, ev := range d.Events {
			ids = append(ids, ev.EventID)
		}
		n++
		path = ""
		if l := r.header.Get("Link"); l != "" {
			m := reNext.FindStringSubmatch(l)
			require.NotNil(tb, m, "Link %q", l)
			path = m[1]
		}
	}
	return ids, n
}

// TestPaging: perPage and the Link header's nextPageToken go through the
// events once each, in record order or event time, ascending or not; a
// token only serves the query it came from.
func TestPaging(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		e.capture(t, auth.RolePlanner, shipDoc(t, 0, 40, "shipping"), "Content-Type", "application/ld+json")
		e.capture(t, auth.RolePlanner, shipDoc(t, 40, 10, "receiving"), "Content-Type", "application/ld+json")

		all, n := e.pages(t, "/epcis/events?perPage=7")
		require.Len(t, all, 50)
		require.Equal(t, 8, n)
		seen := map[string]bool{}
		for _, id := range all {
			require.False(t, seen[id], "event %s twice", id)
			seen[id] = true
		}
		// The default page is the binding's 30.
		_, n = e.pages(t, "/epcis/events")
		require.Equal(t, 2, n)
		// Filters stay on every page; event time descending.
		ship, _ := e.pages(t, "/epcis/events?EQ_bizStep=shipping&perPage=9&orderBy=eventTime&orderDirection=DESC")
		require.Len(t, ship, 40)
		require.Equal(t, all[39], ship[0], "the latest shipping event first")
		require.Equal(t, all[0], ship[39])

		// A token of one query does not serve another.
		r := e.do(t, auth.RoleAuditor, "GET", "/epcis/events?EQ_bizStep=shipping&perPage=5", nil)
		link := reNext.FindStringSubmatch(r.header.Get("Link"))
		require.NotNil(t, link)
		u, err := url.Parse(link[1])
		require.NoError(t, err)
		v := u.Query()
		v.Set("EQ_bizStep", "receiving")
		r = e.do(t, auth.RoleAuditor, "GET", "/epcis/events?"+v.Encode(), nil)
		require.Equal(t, http.StatusBadRequest, r.status)
		require.Contains(t, string(r.body), "belongs to another query")
		// A changed page size keeps the position.
		v = u.Query()
		v.Set("perPage", "100")
		r = e.do(t, auth.RoleAuditor, "GET", "/epcis/events?"+v.Encode(), nil)
		require.Equal(t, http.StatusOK, r.status)
		d, err := epcis.ParseJSONLD(r.body)
		require.NoError(t, err)
		require.Len(t, d.Events, 35)
		require.Empty(t, r.header.Get("Link"), "the last page has no next")
	})
}

// TestDiscovery: OPTIONS on every resource answers 204 with Allow and the
// binding's headers (the capture limits on /capture); answers carry the
// version headers; an EPCIS version other than 2.0 is 406.
func TestDiscovery(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	for path, allow := range map[string]string{
		"/epcis/":                               "OPTIONS, GET",
		"/epcis/capture":                        "OPTIONS, GET, POST",
		"/epcis/capture/x":                      "OPTIONS, GET",
		"/epcis/events":                         "OPTIONS, GET",
		"/epcis/events/urn:uuid:1":              "OPTIONS, GET",
		"/epcis/eventTypes":                     "OPTIONS, GET",
		"/epcis/eventTypes/ObjectEvent/events":  "OPTIONS, GET",
		"/epcis/epcs":                           "OPTIONS, GET",
		"/epcis/bizSteps/shipping":              "OPTIONS, GET",
		"/epcis/bizLocations":                   "OPTIONS, GET",
		"/epcis/readPoints":                     "OPTIONS, GET",
		"/epcis/dispositions/in_transit/events": "OPTIONS, GET",
		"/epcis/queries":                        "OPTIONS, GET, POST",
		"/epcis/queries/q":                      "OPTIONS, GET, DELETE",
		"/epcis/queries/q/events":               "OPTIONS, GET",
		"/epcis/queries/q/subscriptions":        "OPTIONS, GET, POST",
		"/epcis/queries/q/subscriptions/s":      "OPTIONS, GET, DELETE",
	} {
		r := e.do(t, auth.RoleAuditor, "OPTIONS", path, nil)
		require.Equal(t, http.StatusNoContent, r.status, path)
		require.Equal(t, allow, r.header.Get("Allow"), path)
		require.Equal(t, "2.0", r.header.Get("GS1-EPCIS-Min"), path)
		require.Equal(t, "2.0", r.header.Get("GS1-CBV-Max"), path)
		require.NotEmpty(t, r.header.Get("GS1-Extensions"), path)
	}
	r := e.do(t, auth.RoleAuditor, "OPTIONS", "/epcis/capture", nil)
	require.Equal(t, "25000", r.header.Get("GS1-EPCIS-Capture-Limit"))
	require.Equal(t, fmt.Sprint(epcisapi.DefaultMaxBodyBytes), r.header.Get("GS1-EPCIS-Capture-File-Size-Limit"))
	require.Equal(t, "rollback, proceed", r.header.Get("GS1-Capture-Error-Behaviour"))
	r = e.do(t, "", "OPTIONS", "/epcis/events", nil)
	require.Equal(t, http.StatusUnauthorized, r.status, "discovery is behind the token too")

	r = e.do(t, auth.RoleAuditor, "GET", "/epcis/events", nil, "GS1-EPCIS-Version", "2.0.1")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "2.0", r.header.Get("GS1-EPCIS-Version"))
	require.Equal(t, "Never_Translates", r.header.Get("GS1-EPC-Format"))
	for _, h := range [][]string{{"GS1-EPCIS-Version", "1.2"}, {"GS1-CBV-Version", "1.2"}, {"GS1-EPCIS-Min", "2.1"}, {"GS1-EPCIS-Max", "1.2"}} {
		r = e.do(t, auth.RoleAuditor, "GET", "/epcis/events", nil, h...)
		require.Equal(t, http.StatusNotAcceptable, r.status, "%v", h)
		require.Contains(t, string(r.body), h[0])
	}
}

// TestTopLevelResources: the top-level lists hold what the repository
// has, paged, and each value's events are found under it.
func TestTopLevelResources(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	e.capture(t, auth.RolePlanner, shipDoc(t, 0, 5, "shipping"), "Content-Type", "application/ld+json")
	e.capture(t, auth.RolePlanner, shipDoc(t, 5, 3, "receiving"), "Content-Type", "application/ld+json")

	r := e.do(t, auth.RoleAuditor, "GET", "/epcis/", nil)
	require.Equal(t, http.StatusOK, r.status)
	var top []string
	require.NoError(t, json.Unmarshal(r.body, &top))
	require.Equal(t, []string{"events", "eventTypes", "epcs", "bizSteps", "bizLocations", "readPoints", "dispositions", "capture", "queries"}, top)

	list := func(path string) map[string]any {
		r := e.do(t, auth.RoleAuditor, "GET", path, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var m map[string]any
		require.NoError(t, json.Unmarshal(r.body, &m))
		require.Equal(t, epcis.ContextURL, m["@context"])
		return m
	}
	require.Equal(t, map[string]any{"@context": epcis.ContextURL, "type": "EventTypeItemList", "eventType": []any{"ObjectEvent"}}, list("/epcis/eventTypes"))
	require.Equal(t, []any{"receiving", "shipping"}, list("/epcis/bizSteps")["bizStep"])
	require.Equal(t, []any{"in_transit"}, list("/epcis/dispositions")["disposition"])
	require.Equal(t, []any{"https://id.gs1.org/414/0614141073467"}, list("/epcis/bizLocations")["bizLocation"])
	require.Equal(t, []any{"https://id.gs1.org/414/0614141073467/254/1234"}, list("/epcis/readPoints")["readPoint"])

	// /epcs is a plain list of URIs, paged.
	var epcs []string
	path := "/epcis/epcs?perPage=3"
	for path != "" {
		r := e.do(t, auth.RoleAuditor, "GET", path, nil)
		require.Equal(t, http.StatusOK, r.status)
		var page []string
		require.NoError(t, json.Unmarshal(r.body, &page))
		require.LessOrEqual(t, len(page), 3)
		epcs = append(epcs, page...)
		path = ""
		if m := reNext.FindStringSubmatch(r.header.Get("Link")); m != nil {
			path = m[1]
		}
	}
	require.Len(t, epcs, 8)

	ids, _ := e.pages(t, "/epcis/bizSteps/receiving/events")
	require.Len(t, ids, 3)
	ids, _ = e.pages(t, "/epcis/epcs/"+url.PathEscape(epcs[0])+"/events")
	require.Len(t, ids, 1)
	ids, _ = e.pages(t, "/epcis/eventTypes/ObjectEvent/events?EQ_bizStep=shipping")
	require.Len(t, ids, 5)
	ids, _ = e.pages(t, "/epcis/readPoints/"+url.PathEscape("urn:epc:id:sgln:0614141.07346.1234")+"/events")
	require.Len(t, ids, 8, "either spelling of the read point")
	r = e.do(t, auth.RoleAuditor, "GET", "/epcis/eventTypes/ThingEvent/events", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	r = e.do(t, auth.RoleAuditor, "GET", "/epcis/bizSteps/shipping", nil)
	require.Equal(t, `["events"]`, strings.TrimSpace(string(r.body)))
	r = e.do(t, auth.RoleAuditor, "GET", "/epcis/bizSteps/shipping/events?EQ_bizStep=receiving", nil)
	require.Equal(t, http.StatusBadRequest, r.status, "the path gives the business step")
}

// TestErrorDeclaration: an event captured again with an errorDeclaration
// (GS1's example) marks the stored event, found by EQ_errorReason and
// EXISTS_errorDeclaration with its corrective event IDs, still under its
// ID; the answer conforms.
func TestErrorDeclaration(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	orig := shipDoc(t, 0, 2, "shipping")
	e.capture(t, auth.RolePlanner, orig, "Content-Type", "application/ld+json")
	d, err := epcis.ParseJSONLD(orig)
	require.NoError(t, err)
	hs, err := epcis.HashDocument(orig, epcis.FormatJSONLD)
	require.NoError(t, err)
	require.Empty(t, e.queryIDs(t, url.Values{"EXISTS_errorDeclaration": {""}}))

	fix := d.Events[0]
	fix.EventTime, fix.EventID = fix.EventTime.Add(time.Minute), "urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"
	decl := d.Events[0]
	decl.ErrorDeclaration = &epcis.ErrorDeclaration{DeclarationTime: t0.Add(time.Hour), Reason: "incorrect_data", CorrectiveEventIDs: []string{fix.EventID}}
	b, err := epcis.MarshalJSONLD(epcis.Document{CreationDate: t0, Events: []epcis.Event{decl, fix}})
	require.NoError(t, err)
	j := e.capture(t, auth.RoleQA, b, "Content-Type", "application/ld+json")
	require.True(t, j.Success, "%+v", j.Errors)
	require.Equal(t, 1, j.Declared)
	require.Equal(t, 1, j.Stored)

	require.Equal(t, map[string]bool{hs[0].ID: true}, e.queryIDs(t, url.Values{"EXISTS_errorDeclaration": {""}}))
	require.Equal(t, map[string]bool{hs[0].ID: true}, e.queryIDs(t, url.Values{"EQ_errorReason": {"urn:epcglobal:cbv:er:incorrect_data"}}))
	require.Empty(t, e.queryIDs(t, url.Values{"EQ_errorReason": {"did_not_occur"}}))
	r := e.do(t, auth.RoleAuditor, "GET", "/epcis/events/"+url.PathEscape(hs[0].ID), nil)
	require.Equal(t, http.StatusOK, r.status)
	got, err := epcis.ParseJSONLD(r.body)
	require.NoError(t, err)
	require.NotNil(t, got.Events[0].ErrorDeclaration)
	require.Equal(t, []string{fix.EventID}, got.Events[0].ErrorDeclaration.CorrectiveEventIDs)
	again, err := epcis.HashDocument(r.body, epcis.FormatJSONLD)
	require.NoError(t, err)
	require.Equal(t, hs[0].ID, again[0].ID, "the declaration is not part of the hash")
	if _, err := conformanceBin(t); err == nil {
		out, code := testkit.RunValidator(t, "validate-epcis-json", "--schema", "modular", testkit.WriteTemp(t, "decl.jsonld", r.body))
		require.Equal(t, 0, code, "%s", out)
	}
}

// conformanceBin reports whether the validators are there without
// skipping the test.
func conformanceBin(t *testing.T) (string, error) {
	t.Helper()
	var bin string
	ok := t.Run("validators", func(t *testing.T) { bin = testkit.ValidatorsBin(t) })
	if !ok || bin == "" {
		return "", fmt.Errorf("no validators")
	}
	return bin, nil
}
