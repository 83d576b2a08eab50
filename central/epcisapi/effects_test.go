package epcisapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/epcisapi"
	"github.com/serialine/serialine/central/lmvs"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// Our product (company prefix 0312345, 7 digits) and a pack of it.
const (
	ourGTIN   = "00312345678913"
	ourLot    = "LOT42"
	ourExpiry = "281231"
)

// ours is a store with our product, site and partner, and n units the line
// commissioned; the API and the LMVS responder on a loopback server beside
// the binding's, on the same store.
type ours struct {
	*env
	units      []string
	apiSrv     *httptest.Server
	partnerTok string
	siteGLN    string
	partnerGLN string
}

func newOurs(tb testing.TB, dsn string, n int) *ours {
	tb.Helper()
	e := newEnv(tb, dsn)
	o := &ours{env: e, siteGLN: checkDigit(tb, "031234500000"), partnerGLN: checkDigit(tb, "950600000002")}
	ctx, s := e.ctx, e.s
	spec := serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetNumeric, Key: "8f1e3c5a7b9d0e2f4a6c8e0b2d4f6a8c"}
	require.NoError(tb, s.PutProduct(ctx, master.Product{GTIN: ourGTIN, Name: "Paracetamol 500 mg tablets", Form: "tablet", Strength: "500 mg",
		PackSize: 20, CompanyPrefixLen: 7, NDC: ourGTIN[3:8] + "-" + ourGTIN[8:11] + "-" + ourGTIN[11:13],
		Markets: []master.Market{master.MarketUSDSCSA}, Scheme: spec, PlannedVolume: 1_000_000}))
	require.NoError(tb, s.PutSite(ctx, master.Site{GLN: o.siteGLN, Name: "Plant Durham"}))
	require.NoError(tb, s.PutPartner(ctx, master.Partner{GLN: o.partnerGLN, Name: "Wholesale Ltd"}))
	var err error
	o.partnerTok, _, err = auth.IssuePartnerToken(ctx, s, "wholesale-vrs", o.partnerGLN)
	require.NoError(tb, err)
	require.NoError(tb, s.PutLine(ctx, master.Line{ID: "L1", SiteGLN: o.siteGLN, Name: "Line 1", PasswordHash: "unused"}))
	_, err = s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-1", GTIN: ourGTIN, Lot: ourLot, Expiry: ourExpiry, Quantity: 100})
	require.NoError(tb, err)
	_, err = s.ReleaseOrder(ctx, "WO-1", "L1")
	require.NoError(tb, err)
	g, err := s.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "fixture-1", Line: "L1", Order: "WO-1", GTIN: ourGTIN, Count: uint64(n)}, 0)
	require.NoError(tb, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(tb, err)
	var evs []wire.Event
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	for c := range uint64(n) {
		sn, err := sc.Serial(nil, c)
		require.NoError(tb, err)
		o.units = append(o.units, string(sn))
		evs = append(evs, wire.Event{ID: fmt.Sprintf("L1:%d", c+1), Seq: c + 1, Type: wire.Commissioned, At: t0.Add(time.Duration(c) * time.Second),
			Order: "WO-1", GTIN: ourGTIN, Serial: string(sn), Counter: &c, Lot: ourLot, Expiry: ourExpiry, Operator: "ana"})
	}
	res, err := s.ApplyEvents(ctx, "L1", evs)
	require.NoError(tb, err)
	require.Equal(tb, n, res.Applied, "%+v", res)

	rs, err := lmvs.NewResponder(s, lmvs.Config{ResponderGLN: o.siteGLN}, testkit.Logger(tb))
	require.NoError(tb, err)
	h, err := api.New(api.Deps{Store: s}, testkit.Logger(tb))
	require.NoError(tb, err)
	mux := http.NewServeMux()
	mux.Handle(api.Prefix, h)
	o.apiSrv = httptest.NewServer(lmvs.Route(rs, mux))
	tb.Cleanup(o.apiSrv.Close)
	return o
}

func checkDigit(tb testing.TB, digits string) string {
	tb.Helper()
	c, err := gs1.CheckDigit(digits)
	require.NoError(tb, err)
	return digits + string(c)
}

func (o *ours) sgtin(tb testing.TB, serial string) string {
	tb.Helper()
	u, err := gs1.SGTINURI(ourGTIN, serial, 7)
	require.NoError(tb, err)
	return u
}

// get sends a GET to the API/LMVS server with a bearer token.
func (o *ours) get(tb testing.TB, tok, path string) (int, []byte) {
	tb.Helper()
	r, err := http.NewRequestWithContext(o.ctx, "GET", o.apiSrv.URL+path, nil)
	require.NoError(tb, err)
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := o.apiSrv.Client().Do(r)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, b
}

// verdict is what GET /api/v1/verify and the LMVS responder say about
// one of our packs: the API's reason ("" when verified) and LMVS's
// additionalInfo.
func (o *ours) verdict(tb testing.TB, serial string) (apiReason, lmvsInfo string) {
	tb.Helper()
	v := url.Values{"gtin": {ourGTIN}, "serial": {serial}, "lot": {ourLot}, "expiry": {ourExpiry}}
	code, b := o.get(tb, o.tokens[auth.RoleAuditor], "/api/v1/verify?"+v.Encode())
	require.Equal(tb, http.StatusOK, code, "%s", b)
	var a struct {
		Verified bool   `json:"verified"`
		Reason   string `json:"reason"`
	}
	require.NoError(tb, json.Unmarshal(b, &a), "%s", b)
	require.Equal(tb, a.Reason == "", a.Verified, "%s", b)
	q := url.Values{"linkType": {"verificationService"}, "context": {"dscsaSaleableReturn"}, "reqGLN": {o.partnerGLN}, "17": {ourExpiry},
		"corrUUID": {"8e3ec8c2-2fa7-4bb1-9c6e-5e3a3b1f4d11"}}
	code, b = o.get(tb, o.partnerTok, "/01/"+ourGTIN+"/10/"+ourLot+"/21/"+url.PathEscape(serial)+"?"+q.Encode())
	require.Equal(tb, http.StatusOK, code, "%s", b)
	var l lmvs.Response
	require.NoError(tb, json.Unmarshal(b, &l), "%s", b)
	require.NotNil(tb, l.Data, "%s", b)
	return a.Reason, l.Data.AdditionalInfo
}

// objectEvent is a one-event capture document about epcs.
func objectEvent(eventID, action, bizStep, disposition string, epcs ...string) []byte {
	ev := map[string]any{"type": "ObjectEvent", "eventTime": "2026-05-02T08:00:00Z", "eventTimeZoneOffset": "+00:00",
		"action": action, "epcList": epcs}
	if eventID != "" {
		ev["eventID"] = eventID
	}
	if bizStep != "" {
		ev["bizStep"] = bizStep
	}
	if disposition != "" {
		ev["disposition"] = disposition
	}
	return captureDoc(ev)
}

func captureDoc(events ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"@context": []string{"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"},
		"type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-05-02T08:00:00Z",
		"epcisBody": map[string]any{"eventList": events}})
	return b
}

// TestCaptureEffectNeedsThePermission is issue 17's attack 1: a planner
// captured an ObjectEvent with disposition recalled for one of our packs
// and the pack then verified as recalled, with no recall and no audit
// entry. Now the capture is refused (403 naming the event and the
// permission), nothing is stored and verification is unchanged; QA's
// same capture is accepted and audited.
func TestCaptureEffectNeedsThePermission(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		o := newOurs(t, dsn, 3)
		pack := o.units[0]
		reason, info := o.verdict(t, pack)
		require.Empty(t, reason, "the pack verifies before the attack")
		require.Empty(t, info)
		audits := func() []audit.Entry {
			a, err := o.s.Audit(o.ctx, audit.Filter{Entity: "epcis_event"})
			require.NoError(t, err)
			return a
		}

		const evID = "urn:uuid:6b1b3c1a-1f0e-4a35-9d7c-2f7d0a4b9e01"
		attack := objectEvent(evID, "OBSERVE", "holding", "recalled", o.sgtin(t, pack))
		for _, role := range []auth.Role{auth.RolePlanner} {
			r := o.do(t, role, "POST", "/epcis/capture", attack, "Content-Type", "application/ld+json")
			require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
			var p epcisapi.Problem
			require.NoError(t, json.Unmarshal(r.body, &p))
			require.Equal(t, "epcisException:SecurityException", p.Type)
			for _, want := range []string{"eventList[0]", evID, "recall", "disposition recalled", string(auth.PermQualityWrite), "planner"} {
				require.Contains(t, p.Title, want)
			}
			require.Len(t, p.Errors, 1)
		}
		// Also with the proceed behaviour, in XML-free JSON: nothing stored.
		r := o.do(t, auth.RolePlanner, "POST", "/epcis/capture", attack, "Content-Type", "application/json", "GS1-Capture-Error-Behaviour", "proceed")
		require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
		r = o.do(t, auth.RoleAuditor, "GET", "/epcis/events/"+url.PathEscape(evID), nil)
		require.Equal(t, http.StatusNotFound, r.status, "the refused event was not stored: %s", r.body)
		reason, info = o.verdict(t, pack)
		require.Empty(t, reason, "a planner's capture does not recall the pack")
		require.Empty(t, info)
		require.Empty(t, audits())

		// A mixed document: a neutral event about our pack and a decommission
		// of another is refused whole, naming the second event.
		mixed := captureDoc(
			map[string]any{"type": "ObjectEvent", "eventTime": "2026-05-02T08:00:00Z", "eventTimeZoneOffset": "+00:00", "action": "OBSERVE",
				"epcList": []string{o.sgtin(t, o.units[1])}, "bizStep": "shipping", "disposition": "in_transit"},
			map[string]any{"type": "ObjectEvent", "eventTime": "2026-05-02T08:01:00Z", "eventTimeZoneOffset": "+00:00", "action": "DELETE",
				"epcList": []string{o.sgtin(t, o.units[2])}, "bizStep": "decommissioning"})
		r = o.do(t, auth.RolePlanner, "POST", "/epcis/capture", mixed, "Content-Type", "application/ld+json")
		require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
		require.Contains(t, string(r.body), "eventList[1]")
		require.NotContains(t, string(r.body), "eventList[0]")

		// QA may: the same capture is stored, the pack is recalled, audited.
		j := o.capture(t, auth.RoleQA, attack, "Content-Type", "application/ld+json")
		require.True(t, j.Success, "%+v", j)
		require.Equal(t, 1, j.Stored)
		reason, info = o.verdict(t, pack)
		require.Equal(t, api.ReasonRecalled, reason)
		require.Equal(t, lmvs.InfoRecalled, info)
		a := audits()
		require.Len(t, a, 1)
		require.Equal(t, "recall", a[0].Action)
		require.Equal(t, evID, a[0].EntityID)
		require.Contains(t, a[0].Actor, "user-qa")
		require.Contains(t, string(a[0].After), j.CaptureID)
		require.Contains(t, string(a[0].After), "disposition recalled")
	})
}

// TestCaptureNeutralOrOthersStaysOpen: events about other parties' units
// (whatever their disposition) and neutral events about ours need only
// the capture permission.
func TestCaptureNeutralOrOthersStaysOpen(t *testing.T) {
	o := newOurs(t, storetest.SQLiteDSN(t), 2)
	other := "urn:epc:id:sgtin:0614141.107346.2017" // another company's pack
	for i, doc := range [][]byte{
		objectEvent("", "OBSERVE", "holding", "recalled", other),
		objectEvent("", "DELETE", "decommissioning", "inactive", other),
		objectEvent("", "OBSERVE", "shipping", "in_transit", o.sgtin(t, o.units[0])),
		objectEvent("", "OBSERVE", "receiving", "sellable_accessible", o.sgtin(t, o.units[1])),
		objectEvent("", "OBSERVE", "shipping", "in_transit", "https://id.gs1.org/01/"+ourGTIN+"/21/"+o.units[1]),
	} {
		j := o.capture(t, auth.RolePlanner, doc, "Content-Type", "application/ld+json")
		require.True(t, j.Success, "document %d: %+v", i, j)
	}
	reason, _ := o.verdict(t, o.units[0])
	require.Empty(t, reason)
}

// TestCaptureEffectForms: every spelling and role of one of our
// identifiers, and each kind of effect, needs the permission.
func TestCaptureEffectForms(t *testing.T) {
	o := newOurs(t, storetest.SQLiteDSN(t), 1)
	sn := o.units[0]
	ev := func(kv ...any) map[string]any {
		m := map[string]any{"type": "ObjectEvent", "eventTime": "2026-05-02T08:00:00Z", "eventTimeZoneOffset": "+00:00", "action": "OBSERVE"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	dl := "https://id.gs1.org/01/" + ourGTIN + "/21/" + sn
	for _, c := range []struct {
		name string
		ev   map[string]any
		want string
	}{
		{"digital link", ev("epcList", []string{dl}, "disposition", "recalled"), "recall"},
		{"CBV URI disposition", ev("epcList", []string{o.sgtin(t, sn)}, "disposition", "https://ref.gs1.org/cbv/Disp-stolen"), "theft"},
		{"destroyed", ev("epcList", []string{o.sgtin(t, sn)}, "disposition", "destroyed"), "destruction"},
		{"expired", ev("epcList", []string{o.sgtin(t, sn)}, "disposition", "expired"), "withdrawal"},
		{"non_sellable_other", ev("epcList", []string{o.sgtin(t, sn)}, "disposition", "non_sellable_other"), "withdrawal"},
		{"destroying", ev("epcList", []string{o.sgtin(t, sn)}, "bizStep", "destroying"), "destruction"},
		{"DELETE", ev("action", "DELETE", "epcList", []string{o.sgtin(t, sn)}), "decommission"},
		{"lot by class", ev("quantityList", []map[string]any{{"epcClass": "urn:epc:class:lgtin:0312345.0067891." + ourLot, "quantity": 10}},
			"disposition", "recalled"), "recall"},
		{"aggregated child", map[string]any{"type": "AggregationEvent", "eventTime": "2026-05-02T08:00:00Z", "eventTimeZoneOffset": "+00:00",
			"action": "OBSERVE", "parentID": "urn:epc:id:sscc:0614141.1234567890", "childEPCs": []string{o.sgtin(t, sn)}, "disposition": "stolen"}, "theft"},
		{"persistent disposition", ev("epcList", []string{o.sgtin(t, sn)}, "persistentDisposition", map[string]any{"set": []string{"recalled"}}), "recall"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := o.do(t, auth.RolePlanner, "POST", "/epcis/capture", captureDoc(c.ev), "Content-Type", "application/ld+json")
			require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
			require.True(t, strings.Contains(string(r.body), "eventList[0]: "+c.want+" ("), "%s", r.body)
		})
	}
	reason, _ := o.verdict(t, sn)
	require.Empty(t, reason)
}
