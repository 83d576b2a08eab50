package epcisapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/epcisapi"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
)

func parseAny(tb testing.TB, path string, b []byte) epcis.Document {
	tb.Helper()
	var d epcis.Document
	var err error
	if strings.HasSuffix(path, ".xml") {
		d, err = epcis.ParseXML(b)
	} else {
		d, err = epcis.ParseJSONLD(b)
	}
	require.NoError(tb, err)
	return d
}

func ctypeOf(path string) string {
	if strings.HasSuffix(path, ".xml") {
		return "application/xml"
	}
	return "application/ld+json"
}

// queryIDs runs GET /epcis/events and returns the eventIDs of the events
// in the EPCISQueryDocument.
func (e *env) queryIDs(tb testing.TB, params url.Values) map[string]bool {
	tb.Helper()
	r := e.do(tb, auth.RoleAuditor, "GET", "/epcis/events?"+params.Encode(), nil)
	require.Equal(tb, http.StatusOK, r.status, "%s", r.body)
	require.Equal(tb, "application/ld+json; charset=utf-8", r.header.Get("Content-Type"))
	d, err := epcis.ParseJSONLD(r.body)
	require.NoError(tb, err)
	out := map[string]bool{}
	for _, ev := range d.Events {
		require.NotEmpty(tb, ev.EventID)
		out[ev.EventID] = true
	}
	return out
}

// rehash fetches the event with eventID (the answer in the capture's
// binding) and returns the hash ID of the event in that answer.
func (e *env) rehash(tb testing.TB, eventID string, xml bool) string {
	tb.Helper()
	var hdr []string
	if xml {
		hdr = []string{"Accept", "application/xml"}
	}
	r := e.do(tb, auth.RoleAuditor, "GET", "/epcis/events/"+url.PathEscape(eventID), nil, hdr...)
	require.Equal(tb, http.StatusOK, r.status, "%s", r.body)
	hs, err := epcis.HashDocument(r.body, epcis.FormatUnknown)
	require.NoError(tb, err)
	require.Len(tb, hs, 1, "%s\n%s", eventID, r.body)
	return hs[0].ID
}

// TestCaptureGS1Examples captures GS1's own EPCIS 2.0 examples (JSON-LD and
// XML) through capture jobs and finds every event again by eventID, EPC,
// bizStep and its event time window; each event's ID is its capturer's or
// the hash ID of the captured document, and the answer in the capture's
// binding hashes to the same ID (capture, query, hash again); a second
// capture stores nothing new. On SQLite and PostgreSQL.
func TestCaptureGS1Examples(t *testing.T) {
	files := append(examples(t, "json", "*.jsonld"), examples(t, "xml", "*.xml")...)
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, f := range files {
				// A repository per document: GS1's examples reuse eventIDs
				// for different events. A fresh PostgreSQL database costs a
				// second: there, the documents richest in fields only.
				if b.Name == "postgres" && !strings.Contains(f, "all_possible_fields") && !strings.Contains(f, "ErrorDeclaration") && !strings.Contains(f, "SensorData") {
					continue
				}
				src, err := os.ReadFile(f)
				require.NoError(t, err)
				doc := parseAny(t, f, src)
				if len(doc.Events) == 0 {
					continue
				}
				e := newEnv(t, b.DSN(t))
				t.Run(filepath.Base(f), func(t *testing.T) {
					for i, ev := range doc.Events {
						require.Empty(t, epcisdb.ValidateEPCISEvent(i, ev), "GS1's example event %d is refused", i)
					}
					hdr := []string{"Content-Type", ctypeOf(f)}
					first := e.capture(t, auth.RolePlanner, src, hdr...)
					require.True(t, first.Success, "%+v", first.Errors)
					require.Equal(t, len(doc.Events), first.Events)
					require.Equal(t, len(doc.Events), first.Stored+first.Duplicates+first.Declared)
					again := e.capture(t, auth.RoleQA, src, hdr...)
					require.Zero(t, again.Stored, "a repeated capture stored something")
					require.Equal(t, len(doc.Events), again.Duplicates+again.Declared)

					hs, err := epcis.HashDocument(src, epcis.FormatUnknown)
					require.NoError(t, err)
					for i, ev := range doc.Events {
						id := ev.EventID
						if id == "" {
							id = hs[i].ID // an event without eventID gets its hash ID
						}
						require.Equal(t, map[string]bool{id: true}, e.queryIDs(t, url.Values{"EQ_eventID": {id}}), "event %d", i)
						require.Equal(t, hs[i].ID, e.rehash(t, id, strings.HasSuffix(f, ".xml")), "event %d: capture, query, hash again", i)
						window := url.Values{"GE_eventTime": {ev.EventTime.UTC().Format(time.RFC3339Nano)},
							"LT_eventTime": {ev.EventTime.UTC().Add(time.Millisecond).Format(time.RFC3339Nano)}, "perPage": {"10000"}}
						require.True(t, e.queryIDs(t, window)[id], "event %d not found by its time window", i)
						if ev.BizStep != "" {
							q := url.Values{"EQ_bizStep": {ev.BizStep}, "eventType": {string(ev.Type)}, "perPage": {"10000"}}
							require.True(t, e.queryIDs(t, q)[id], "event %d not found by bizStep %s", i, ev.BizStep)
						}
						if epcs := append(append([]string{}, ev.EPCList...), ev.ChildEPCs...); len(epcs) > 0 {
							require.True(t, e.queryIDs(t, url.Values{"MATCH_epc": {epcs[0]}})[id], "event %d not found by MATCH_epc %s", i, epcs[0])
						}
						if ev.ParentID != "" {
							require.True(t, e.queryIDs(t, url.Values{"MATCH_parentID": {ev.ParentID}})[id], "event %d not found by parentID", i)
						}
					}
				})
			}
		})
	}
}

const badDoc = `{
  "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
  "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-05-01T08:00:00Z",
  "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-05-01T08:00:00Z", "eventTimeZoneOffset": "+00:00", "action": "OBSERVE",
     "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"], "bizStep": "shipping", "disposition": "in_transit"},
    {"type": "ObjectEvent", "eventTime": "2026-05-01T08:01:00Z", "eventTimeZoneOffset": "+00:00", "action": "OBSERVE",
     "epcList": ["urn:epc:id:sgtin:0614141.107346.2018"], "bizStep": "shiping"},
    {"type": "ObjectEvent", "eventTime": "2026-05-01T08:02:00Z", "eventTimeZoneOffset": "+00:00", "action": "OBSERVE",
     "epcList": ["urn:epc:id:sgtin:not-an-epc"], "bizStep": "receiving"}
  ]}}`

// TestCaptureErrorBehaviour: with rollback the job fails naming each
// problem and stores nothing; with proceed it stores the valid event.
func TestCaptureErrorBehaviour(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	for _, hdr := range [][]string{{"Content-Type", "application/ld+json"}, {"Content-Type", "application/json", "GS1-Capture-Error-Behaviour", "rollback"}} {
		j := e.capture(t, auth.RoleAdmin, []byte(badDoc), hdr...)
		require.False(t, j.Success)
		require.Equal(t, "rollback", j.Behaviour)
		require.Len(t, j.Errors, 2, "%+v", j.Errors)
		require.Contains(t, j.Errors[0].Title, `eventList[1].bizStep: "shiping" is not a CBV 2.0 business step`)
		require.Contains(t, j.Errors[1].Title, "eventList[2].epcList[0]")
		require.Equal(t, "epcisException:ValidationException", j.Errors[0].Type)
		require.Zero(t, j.Stored)
		require.Empty(t, e.queryIDs(t, url.Values{}), "a refused capture left events behind")
	}

	j := e.capture(t, auth.RoleAdmin, []byte(badDoc), "Content-Type", "application/ld+json", "GS1-Capture-Error-Behaviour", "proceed")
	require.False(t, j.Success, "errors occurred")
	require.Equal(t, 1, j.Stored)
	require.Equal(t, 2, j.Rejected)
	require.Len(t, j.Errors, 2)
	got := e.queryIDs(t, url.Values{"MATCH_epc": {"urn:epc:id:sgtin:0614141.107346.2017"}})
	require.Len(t, got, 1)

	// The same EPC written as a Digital Link matches too; CBV URN forms are normalised.
	require.Equal(t, got, e.queryIDs(t, url.Values{"MATCH_anyEPC": {"https://id.gs1.org/01/10614141073464/21/2017"},
		"EQ_bizStep": {"urn:epcglobal:cbv:bizstep:shipping"}, "EQ_disposition": {"in_transit|urn:epcglobal:cbv:disp:recalled"}}))

	// Every job is listed; the one asked has the behaviour header.
	r := e.do(t, auth.RoleAuditor, "GET", "/epcis/capture", nil)
	require.Equal(t, http.StatusOK, r.status)
	var jobs []epcisapi.CaptureJob
	require.NoError(t, json.Unmarshal(r.body, &jobs))
	require.Len(t, jobs, 3)
	r = e.do(t, auth.RoleAuditor, "GET", "/epcis/capture/"+jobs[2].CaptureID, nil)
	require.Equal(t, "proceed", r.header.Get("GS1-Capture-Error-Behaviour"))
	r = e.do(t, auth.RoleAuditor, "GET", "/epcis/capture/nope", nil)
	require.Equal(t, http.StatusNotFound, r.status)
}

func TestCaptureRefusals(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t), func(d *epcisapi.Deps) { d.MaxBodyBytes, d.CaptureLimit = 2000, 2 })
	cases := []struct {
		name   string
		role   auth.Role
		hdr    []string
		body   string
		status int
		typ    string
	}{
		{"no token", "", []string{"Content-Type", "application/ld+json"}, badDoc, http.StatusUnauthorized, ""},
		{"operator may not capture", auth.RoleOperator, []string{"Content-Type", "application/ld+json"}, badDoc, http.StatusForbidden, ""},
		{"auditor may not capture", auth.RoleAuditor, []string{"Content-Type", "application/ld+json"}, badDoc, http.StatusForbidden, ""},
		{"wrong media type", auth.RoleAdmin, []string{"Content-Type", "text/plain"}, badDoc, http.StatusUnsupportedMediaType, "epcisException:ImplementationException"},
		{"bad behaviour header", auth.RoleAdmin, []string{"Content-Type", "application/ld+json", "GS1-Capture-Error-Behaviour", "maybe"}, badDoc, http.StatusBadRequest, "epcisException:ValidationException"},
		{"not EPCIS", auth.RoleAdmin, []string{"Content-Type", "application/ld+json"}, `{"hello": 1}`, http.StatusBadRequest, "epcisException:ValidationException"},
		{"more events than the limit", auth.RoleAdmin, []string{"Content-Type", "application/ld+json"}, badDoc, http.StatusRequestEntityTooLarge, "epcisException:CaptureLimitExceededException"},
		{"larger than the limit", auth.RoleAdmin, []string{"Content-Type", "application/ld+json"}, badDoc + strings.Repeat(" ", 2000), http.StatusRequestEntityTooLarge, "epcisException:CaptureLimitExceededException"},
		{"EPCIS 1.2 asked", auth.RoleAdmin, []string{"Content-Type", "application/ld+json", "GS1-EPCIS-Version", "1.2"}, badDoc, http.StatusNotAcceptable, "epcisException:ImplementationException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.role, "POST", "/epcis/capture", []byte(tc.body), tc.hdr...)
			require.Equal(t, tc.status, r.status, "%s", r.body)
			if tc.typ != "" {
				var p epcisapi.Problem
				require.NoError(t, json.Unmarshal(r.body, &p))
				require.Equal(t, tc.typ, p.Type)
				require.Equal(t, tc.status, p.Status)
			}
			if tc.status == http.StatusRequestEntityTooLarge {
				require.Equal(t, "2", r.header.Get("GS1-EPCIS-Capture-Limit"))
				require.Equal(t, "2000", r.header.Get("GS1-EPCIS-Capture-File-Size-Limit"))
			}
		})
	}
	require.Empty(t, e.queryIDs(t, url.Values{}))
	r := e.do(t, "", "GET", "/epcis/events", nil)
	require.Equal(t, http.StatusUnauthorized, r.status)
	r = e.do(t, auth.RoleAdmin, "PUT", "/epcis/events", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
}

func TestQueryBadParameter(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	cases := []struct{ query, field, says string }{
		{"EQ_bizStep=shiping", "EQ_bizStep", "business step"},
		{"EQ_disposition=urn:epcglobal:cbv:disp:lost", "EQ_disposition", "disposition"},
		{"eventType=ThingEvent", "eventType", "event type"},
		{"MATCH_epc=urn:epc:id:sgtin:nope", "MATCH_epc", "EPC"},
		{"GE_eventTime=yesterday", "GE_eventTime", "RFC 3339"},
		{"EQ_action=MOVE", "EQ_action", "ADD, OBSERVE or DELETE"},
		{"orderBy=colour", "orderBy", "eventTime or recordTime"},
		{"perPage=0", "perPage", "1 to 10000"},
		{"perPage=10001", "perPage", "1 to 10000"},
		{"nextPageToken=garbage", "nextPageToken", "Link header"},
		{"colour=red", "colour", "unknown query parameter"},
		{"EQ_ILMD_lotNumber=L1", "EQ_ILMD_lotNumber", "not supported by this repository"},
		{"WD_readPoint=urn:epc:id:sgln:0614141.07346.0", "WD_readPoint", "not supported by this repository"},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			r := e.do(t, auth.RoleOperator, "GET", "/epcis/events?"+tc.query, nil)
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			var p epcisapi.Problem
			require.NoError(t, json.Unmarshal(r.body, &p))
			require.Equal(t, "epcisException:QueryParameterException", p.Type)
			require.Equal(t, tc.field, p.Detail)
			require.True(t, strings.HasPrefix(p.Title, tc.field+": "), p.Title)
			require.Contains(t, p.Title, tc.says)
		})
	}
	r := e.do(t, auth.RoleOperator, "GET", "/epcis/events", nil, "Accept", "text/html")
	require.Equal(t, http.StatusNotAcceptable, r.status)
}

// TestQueryDocumentConforms: what GET /epcis/events answers validates
// against GS1's JSON Schema (query document) and, as XML, the query XSD
// (an EPCISQueryDocument); the JSON-LD names the versioned context.
func TestQueryDocumentConforms(t *testing.T) {
	testkit.ValidatorsBin(t)
	e := newEnv(t, storetest.SQLiteDSN(t))
	for _, f := range append(examples(t, "json", "*.jsonld"), examples(t, "xml", "*all_possible_fields.xml")...) {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		if len(parseAny(t, f, src).Events) == 0 {
			continue
		}
		e.capture(t, auth.RoleAdmin, src, "Content-Type", ctypeOf(f), "GS1-Capture-Error-Behaviour", "proceed")
	}
	r := e.do(t, auth.RoleOperator, "GET", "/epcis/events?perPage=10000", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "2.0", r.header.Get("GS1-EPCIS-Version"))
	require.Equal(t, "2.0", r.header.Get("GS1-CBV-Version"))
	var root map[string]any
	require.NoError(t, json.Unmarshal(r.body, &root))
	require.Equal(t, epcis.ContextURL, root["@context"].([]any)[0])
	require.Equal(t, "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", epcis.ContextURL)
	require.Equal(t, "EPCISQueryDocument", root["type"])
	out, code := testkit.RunValidator(t, "validate-epcis-json", "--schema", "modular", testkit.WriteTemp(t, "q.jsonld", r.body))
	require.Equal(t, 0, code, "%s\n%s", out, r.body)

	r = e.do(t, auth.RoleOperator, "GET", "/epcis/events?perPage=10000", nil, "Accept", "application/xml")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "application/xml; charset=utf-8", r.header.Get("Content-Type"))
	require.Contains(t, string(r.body[:300]), "<epcisq:EPCISQueryDocument")
	d, err := epcis.ParseXML(r.body)
	require.NoError(t, err)
	require.NotEmpty(t, d.Events)
	out, code = testkit.RunValidator(t, "validate-epcis-xml", "--version", "2.0", testkit.WriteTemp(t, "q.xml", r.body))
	require.Equal(t, 0, code, "%s\n%s", out, r.body)
	require.Contains(t, out, "root=EPCISQueryDocument")
}

// TestEventByID: GET /epcis/events/{eventID} with the ID percent-encoded
// answers the one event; an unknown ID is 404; EQ_eventID selects too.
func TestEventByID(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	j := e.capture(t, auth.RolePlanner, []byte(badDoc), "Content-Type", "application/ld+json", "GS1-Capture-Error-Behaviour", "proceed")
	require.Equal(t, 1, j.Stored)
	hs, err := epcis.HashDocument([]byte(badDoc), epcis.FormatJSONLD)
	require.NoError(t, err)
	id := hs[0].ID
	require.True(t, strings.HasPrefix(id, "ni:///sha-256;"), id)

	r := e.do(t, auth.RoleAuditor, "GET", "/epcis/events/"+url.PathEscape(id), nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	d, err := epcis.ParseJSONLD(r.body)
	require.NoError(t, err)
	require.Len(t, d.Events, 1)
	require.Equal(t, id, d.Events[0].EventID)
	again, err := epcis.HashDocument(r.body, epcis.FormatJSONLD)
	require.NoError(t, err)
	require.Equal(t, id, again[0].ID)

	r = e.do(t, auth.RoleAuditor, "GET", "/epcis/events/"+url.PathEscape("urn:uuid:00000000-0000-0000-0000-000000000000"), nil)
	require.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
	r = e.do(t, "", "GET", "/epcis/events/"+url.PathEscape(id), nil)
	require.Equal(t, http.StatusUnauthorized, r.status)

	require.Equal(t, map[string]bool{id: true}, e.queryIDs(t, url.Values{"EQ_eventID": {id}}))
	require.Empty(t, e.queryIDs(t, url.Values{"EQ_eventID": {"urn:uuid:00000000-0000-0000-0000-000000000000"}}))
}
