package epcisapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/epcisapi"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
)

func (e *env) createQuery(tb testing.TB, name, query string) {
	tb.Helper()
	r := e.do(tb, auth.RolePlanner, "POST", "/epcis/queries", []byte(`{"name": "`+name+`", "query": `+query+`}`), "Content-Type", "application/json")
	require.Equal(tb, http.StatusCreated, r.status, "%s", r.body)
	require.Equal(tb, "/epcis/queries/"+url.PathEscape(name), r.header.Get("Location"))
}

// TestNamedQueries: a query definition is checked by GS1's query schema
// (the independent validator agrees), kept under its name, listed, and
// answered by its events resource; deleting it removes it.
func TestNamedQueries(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	e.capture(t, auth.RolePlanner, shipDoc(t, 0, 12, "shipping"), "Content-Type", "application/ld+json")
	e.capture(t, auth.RolePlanner, shipDoc(t, 12, 4, "receiving"), "Content-Type", "application/ld+json")

	good := `{"eventType": ["ObjectEvent"], "EQ_bizStep": ["shipping", "departing"], "GE_eventTime": "2026-05-01T08:00:05Z"}`
	e.createQuery(t, "late shipping", good)
	ids, pages := e.pages(t, "/epcis/queries/"+url.PathEscape("late shipping")+"/events?perPage=3")
	require.Len(t, ids, 7, "shipping events from the 6th second on")
	require.Equal(t, 3, pages)

	r := e.do(t, auth.RoleAuditor, "GET", "/epcis/queries/"+url.PathEscape("late shipping"), nil)
	require.Equal(t, http.StatusOK, r.status)
	var def epcisapi.QueryDefinition
	require.NoError(t, json.Unmarshal(r.body, &def))
	require.JSONEq(t, good, string(def.Query))
	r = e.do(t, auth.RolePlanner, "POST", "/epcis/queries", []byte(`{"name": "late shipping", "query": {}}`))
	require.Equal(t, http.StatusConflict, r.status)

	bad := []struct{ name, query, typ, says string }{
		{"string instead of list", `{"EQ_bizStep": "shipping"}`, "epcisException:QueryValidationException", "/EQ_bizStep"},
		{"unknown parameter", `{"colour": ["red"]}`, "epcisException:QueryValidationException", "colour"},
		{"not a date-time", `{"GE_eventTime": "yesterday"}`, "epcisException:QueryValidationException", "/GE_eventTime"},
		{"a URN where the JSON binding wants a web form", `{"EQ_bizStep": ["urn:epcglobal:cbv:bizstep:shipping"]}`, "epcisException:QueryValidationException", "/EQ_bizStep/0"},
		{"valid but not implemented", `{"WD_readPoint": ["urn:epc:id:sgln:0614141.07346.0"]}`, "epcisException:QueryParameterException", "not supported"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, auth.RolePlanner, "POST", "/epcis/queries", []byte(`{"name": "x", "query": `+tc.query+`}`))
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			var p epcisapi.Problem
			require.NoError(t, json.Unmarshal(r.body, &p))
			require.Equal(t, tc.typ, p.Type)
			require.Contains(t, p.Title, tc.says)
		})
	}
	// The independent validator reads GS1's query schema alike.
	if bin, err := conformanceBin(t); err == nil && bin != "" {
		for _, q := range []struct {
			query string
			valid bool
		}{{good, true}, {bad[0].query, false}, {bad[1].query, false}, {bad[2].query, false}, {bad[3].query, false}, {bad[4].query, true}} {
			out, code := testkit.RunValidator(t, "validate-epcis-json", "--schema", "query", testkit.WriteTemp(t, "q.json", []byte(q.query)))
			require.Equal(t, q.valid, code == 0, "%s: %s", q.query, out)
		}
	}
	r = e.do(t, auth.RoleAuditor, "POST", "/epcis/queries", []byte(`{"name": "y", "query": {}}`))
	require.Equal(t, http.StatusForbidden, r.status, "an auditor only reads")

	e.createQuery(t, "all", `{}`)
	r = e.do(t, auth.RoleAuditor, "GET", "/epcis/queries?perPage=1", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.NotEmpty(t, r.header.Get("Link"))
	r = e.do(t, auth.RoleAuditor, "GET", "/epcis/queries/all/events?EQ_bizStep=shipping", nil)
	require.Equal(t, http.StatusBadRequest, r.status, "a named query's filter is its definition")
	r = e.do(t, auth.RolePlanner, "DELETE", "/epcis/queries/all", nil)
	require.Equal(t, http.StatusNoContent, r.status)
	r = e.do(t, auth.RoleAuditor, "GET", "/epcis/queries/all/events", nil)
	require.Equal(t, http.StatusNotFound, r.status)
}

// receiver is a subscriber's HTTPS endpoint: it checks each delivery's
// signature and hands over the eventIDs.
type receiver struct {
	srv    *httptest.Server
	secret string
	ids    chan string
	empty  chan struct{}
	mu     sync.Mutex
	fail   int // answer 500 to this many deliveries first
	bad    []string
}

func newReceiver(tb testing.TB, secret string) *receiver {
	tb.Helper()
	rc := &receiver{secret: secret, ids: make(chan string, 10_000), empty: make(chan struct{}, 100)}
	rc.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		if rc.fail > 0 {
			rc.fail--
			rc.mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if r.Header.Get("GS1-Signature") != epcisapi.Sign(rc.secret, body) {
			rc.bad = append(rc.bad, "signature")
		}
		d, err := epcis.ParseJSONLD(body)
		if err != nil {
			rc.bad = append(rc.bad, err.Error())
		}
		rc.mu.Unlock()
		if len(d.Events) == 0 {
			rc.empty <- struct{}{}
		}
		for _, ev := range d.Events {
			rc.ids <- ev.EventID
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(rc.srv.Close)
	return rc
}

// await takes eventIDs until want of them arrived (a minute at most).
func (rc *receiver) await(tb testing.TB, got map[string]int, want int) {
	tb.Helper()
	deadline := time.After(time.Minute)
	for len(got) < want {
		select {
		case id := <-rc.ids:
			got[id]++
		case <-deadline:
			tb.Fatalf("%d of %d events delivered after a minute", len(got), want)
		}
	}
}

// TestWebhookSubscription: a stream subscription receives every new
// matching event once, signed, across a failing destination (retried) and
// a restart of the binding (events captured while it was down come after
// it); scheduled with reportIfEmpty, an empty document arrives.
func TestWebhookSubscription(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		rc := newReceiver(t, "0435ojtojt02")
		client := trust(t, rc.srv)
		e := newEnv(t, dsn, client)
		e.capture(t, auth.RolePlanner, shipDoc(t, 0, 5, "shipping"), "Content-Type", "application/ld+json") // before: not sent
		e.createQuery(t, "shipping", `{"EQ_bizStep": ["shipping"]}`)

		sub := func(body string) *http.Response {
			r := e.do(t, auth.RoleQA, "POST", "/epcis/queries/shipping/subscriptions", []byte(body))
			return &http.Response{StatusCode: r.status, Header: r.header, Body: io.NopCloser(strings.NewReader(string(r.body)))}
		}
		resp := sub(`{"dest": "http://example.com/hook", "secret": "s", "stream": true}`)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "a dest in clear")
		resp = sub(`{"dest": "` + rc.srv.URL + `/hook", "secret": "s"}`)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "neither stream nor schedule")
		resp = sub(`{"dest": "` + rc.srv.URL + `/hook", "secret": "0435ojtojt02", "stream": true}`)
		require.Equal(t, http.StatusCreated, resp.StatusCode)
		var out epcisapi.SubscriptionOut
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.Equal(t, "/epcis/queries/shipping/subscriptions/"+out.SubscriptionID, resp.Header.Get("Location"))
		b, _ := json.Marshal(out)
		require.NotContains(t, string(b), "0435ojtojt02", "the secret never leaves")

		got := map[string]int{}
		e.capture(t, auth.RolePlanner, shipDoc(t, 5, 20, "shipping"), "Content-Type", "application/ld+json")
		e.capture(t, auth.RolePlanner, shipDoc(t, 25, 5, "receiving"), "Content-Type", "application/ld+json") // not matching
		rc.await(t, got, 20)

		// The destination fails twice: retried with backoff.
		rc.mu.Lock()
		rc.fail = 2
		rc.mu.Unlock()
		e.capture(t, auth.RolePlanner, shipDoc(t, 30, 10, "shipping"), "Content-Type", "application/ld+json")
		rc.await(t, got, 30)

		// Central stops; events come meanwhile (a line, another partner);
		// after the restart they are delivered, and nothing twice.
		e.stop(t)
		for _, n := range [][2]int{{40, 7}, {47, 8}} {
			d, err := epcis.ParseJSONLD(shipDoc(t, n[0], n[1], "shipping"))
			require.NoError(t, err)
			_, err = e.s.CaptureEPCIS(e.ctx, d.Events, nil)
			require.NoError(t, err)
		}
		e2 := serve(t, e.ctx, e.s, client)
		rc.await(t, got, 45)
		// A last event: whatever would come twice came before it.
		e2.capture(t, auth.RolePlanner, shipDoc(t, 55, 1, "shipping"), "Content-Type", "application/ld+json")
		rc.await(t, got, 46)
		for id, n := range got {
			require.Equal(t, 1, n, "event %s delivered %d times", id, n)
		}
		rc.mu.Lock()
		require.Empty(t, rc.bad)
		rc.mu.Unlock()

		// The count is recorded after the subscriber's answer: poll it.
		var r response
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			r = e2.do(t, auth.RoleAuditor, "GET", "/epcis/queries/shipping/subscriptions/"+out.SubscriptionID, nil)
			require.Equal(t, http.StatusOK, r.status)
			require.NoError(t, json.Unmarshal(r.body, &out))
			if out.Delivered == 46 || time.Now().After(deadline) {
				break
			}
		}
		require.EqualValues(t, 46, out.Delivered)

		// Every second, reportIfEmpty: an empty document arrives.
		r = e2.do(t, auth.RoleQA, "POST", "/epcis/queries/shipping/subscriptions",
			[]byte(`{"dest": "`+rc.srv.URL+`/sched", "secret": "0435ojtojt02", "reportIfEmpty": true, "schedule": {"second": "*"}}`))
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		select {
		case <-rc.empty:
		case <-time.After(time.Minute):
			t.Fatal("no empty report within a minute")
		}
		r = e2.do(t, auth.RoleQA, "DELETE", "/epcis/queries/shipping/subscriptions/"+out.SubscriptionID, nil)
		require.Equal(t, http.StatusNoContent, r.status)
		r = e2.do(t, auth.RoleAuditor, "GET", "/epcis/queries/shipping/subscriptions/"+out.SubscriptionID, nil)
		require.Equal(t, http.StatusNotFound, r.status)
	})
}

// TestWebSocketSubscription: the WebSocket form streams new matching
// events as query documents and is closed when its query is deleted.
func TestWebSocketSubscription(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	e.createQuery(t, "receiving", `{"EQ_bizStep": ["receiving"]}`)
	wsURL := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/epcis/queries/receiving/events?stream=true"
	hdr := http.Header{"Authorization": {"Bearer " + e.tokens[auth.RoleAuditor]}}
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	require.Error(t, err, "no token, no subscription")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, hdr)
	require.NoError(t, err)
	defer conn.Close()

	e.capture(t, auth.RolePlanner, shipDoc(t, 0, 6, "receiving"), "Content-Type", "application/ld+json")
	e.capture(t, auth.RolePlanner, shipDoc(t, 6, 3, "shipping"), "Content-Type", "application/ld+json")
	got := map[string]int{}
	for len(got) < 6 {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Minute)))
		_, msg, err := conn.ReadMessage()
		require.NoError(t, err)
		d, err := epcis.ParseJSONLD(msg)
		require.NoError(t, err)
		for _, ev := range d.Events {
			require.Equal(t, "receiving", ev.BizStep)
			got[ev.EventID]++
		}
	}
	for id, n := range got {
		require.Equal(t, 1, n, "event %s twice", id)
	}
	r := e.do(t, auth.RolePlanner, "DELETE", "/epcis/queries/receiving", nil)
	require.Equal(t, http.StatusNoContent, r.status)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Minute)))
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce, "the server closes the subscription of a deleted query")
	require.Equal(t, websocket.CloseNormalClosure, ce.Code)
}
