package lmvs_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/lmvs"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// dl is a verification request in GS1 Digital Link's full form.
func dl(g, lotNo, serial, exp, reqGLN, corr string, extra ...string) string {
	p := "/01/" + g
	if lotNo != "" {
		p += "/10/" + url.PathEscape(lotNo)
	}
	if serial != "" {
		p += "/21/" + url.PathEscape(serial)
	}
	q := url.Values{"linkType": {"verificationService"}, "context": {"dscsaSaleableReturn"}, "reqGLN": {reqGLN}}
	if exp != "" {
		q.Set("17", exp)
	}
	if corr != "" {
		q.Set("corrUUID", corr)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return p + "?" + q.Encode()
}

const corr = "08dd5e1b-78e7-4dee-9f55-e69f5edf099b"

// TestConformance: every verificationFailureReason and additionalInfo the
// responder gives, from the units table, recalls, EPCIS, EU FMD status
// updates and QA's investigations; every answer valid against the
// LMVS schema (an independent JSON Schema implementation), corrUUID
// echoed, responderGLN ours. On SQLite and on PostgreSQL.
func TestConformance(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		srv := e.server(t, lmvs.Config{})
		u := e.units
		// u[0], u[1] plain; u[2] decommissioned by the line; u[3] recalled
		// by serial; u[4] recalled by an EPCIS event; u[5] withdrawn (EU
		// FMD); u[6] stolen; u[7] for destruction; u[8] suspect; u[9]
		// illegitimate.
		e.event(t, wire.Decommissioned, u[2])
		_, err := e.s.CreateRecall(e.ctx, supply.RecallRequest{GTIN: gtin, Serials: []string{u[3]}, Reason: "label mix-up"})
		require.NoError(t, err)
		epc, err := gs1.SGTINURI(gtin, u[4], 7)
		require.NoError(t, err)
		_, err = e.s.CaptureEPCIS(e.ctx, []epcis.Event{{Type: epcis.ObjectEvent, Action: epcis.ActionObserve, EventTime: t0.Add(time.Hour),
			EPCList: []string{epc}, BizStep: "holding", Disposition: "recalled"}}, nil)
		require.NoError(t, err)
		for kind, sn := range map[string]string{eufmd.FMDWithdrawal: u[5], eufmd.FMDTheft: u[6], eufmd.FMDDestruction: u[7]} {
			_, err := e.s.CreateFMDStatus(e.ctx, eufmd.FMDStatusRequest{Kind: kind, GTIN: gtin, Serials: []string{sn}, Reason: "test " + kind})
			require.NoError(t, err)
		}
		// QA's investigations: u[8] under an open one, u[9] in one
		// closed finding the product illegitimate.
		_, err = e.s.OpenInvestigation(e.ctx, supply.InvestigationRequest{Scope: supply.ScopeUnits, GTIN: gtin, Serials: []string{u[8]}, Reason: "returned with a torn seal"})
		require.NoError(t, err)
		iv, err := e.s.OpenInvestigation(e.ctx, supply.InvestigationRequest{Scope: supply.ScopeUnits, GTIN: gtin, Serials: []string{u[9]}, Reason: "reported by a pharmacy"})
		require.NoError(t, err)
		_, err = e.s.CloseInvestigation(e.ctx, iv.ID, supply.InvestigationIllegitimate, "counterfeit confirmed", &supply.Form3911{Classification: "illegitimate",
			Type: "counterfeit", Description: "wrong tablets", HowDiscovered: "verification of a return", ContactName: "Quinn", ContactPhone: "+1 555 0100", ContactEmail: "qa@example.com"})
		require.NoError(t, err)
		voided := e.voidNext(t)

		// An expired lot: made in 2023 with an expiry in January 2024
		// (DD 00: the month's end), on a store whose clock is then.
		then := storetest.Open(t, dsn, testkit.Logger(t), store.WithClock(func() time.Time { return time.Date(2023, 11, 2, 9, 0, 0, 0, time.UTC) }))
		_, err = then.CreateOrder(e.ctx, orders.WorkOrder{ID: "WO-OLD", GTIN: gtin, Lot: "OLD1", Expiry: "240100", Quantity: 10})
		require.NoError(t, err)
		_, err = then.ReleaseOrder(e.ctx, "WO-OLD", line1)
		require.NoError(t, err)
		g, err := e.s.Grant(e.ctx, wire.SerialRequest{V: 1, RequestID: "old-1", Line: line1, Order: "WO-OLD", GTIN: gtin, Count: 2}, 0)
		require.NoError(t, err)
		e.next = g.Ranges[0].Start
		old := e.commission(t, "WO-OLD", "OLD1", "240100", 2)
		_, err = e.s.CreateRecall(e.ctx, supply.RecallRequest{GTIN: gtin, Serials: []string{old[1]}, Reason: "recalled and expired"})
		require.NoError(t, err)

		P := e.partnerGLN
		cases := []struct {
			name     string
			path     string
			verified bool
			reason   string
			info     string
		}{
			{"verified", dl(gtin, lot, u[0], expiry, P, corr), true, "", ""},
			{"verified without lot and expiry", dl(gtin, "", u[1], "", P, corr), true, "", ""},
			{"GTIN-13 in the path", dl(gtin[1:], lot, u[0], expiry, P, corr), true, "", ""},
			{"short form of Digital Link 1.0", "/gtin/" + gtin + "/lot/" + lot + "/ser/" + u[0] + "?exp=" + expiry +
				"&linkType=verificationService&context=dscsaSaleableReturn&reqGLN=" + P + "&corrUUID=" + corr, true, "", ""},
			{"GS1 US 1.3 parameters taken", dl(gtin, lot, u[0], expiry, P, corr, "ctrlPossessAtt", "true", "email", "qa@wholesale.example"), true, "", ""},
			{"unknown serial", dl(gtin, lot, "999999999999", expiry, P, corr), false, lmvs.ReasonGTINSerial, ""},
			{"voided serial, never printed", dl(gtin, lot, voided, expiry, P, corr), false, lmvs.ReasonGTINSerial, ""},
			{"lot mismatch", dl(gtin, "LOT43", u[0], expiry, P, corr), false, lmvs.ReasonGTINSerialLot, ""},
			{"expiry mismatch", dl(gtin, lot, u[0], "281130", P, corr), false, lmvs.ReasonGTINSerialExpiry, ""},
			{"lot and expiry mismatch, both named", dl(gtin, "LOT43", u[0], "281130", P, corr), false, lmvs.ReasonGTINSerialLotExpiry, ""},
			{"decommissioned", dl(gtin, lot, u[2], expiry, P, corr), false, lmvs.ReasonManufacturerPolicy, ""},
			{"recalled by serial", dl(gtin, lot, u[3], expiry, P, corr), true, "", lmvs.InfoRecalled},
			{"recalled by an EPCIS event", dl(gtin, lot, u[4], expiry, P, corr), true, "", lmvs.InfoRecalled},
			{"withdrawn (EU FMD art. 40)", dl(gtin, lot, u[5], expiry, P, corr), true, "", lmvs.InfoRecalled},
			{"stolen (EU FMD art. 40)", dl(gtin, lot, u[6], expiry, P, corr), false, lmvs.ReasonNotForRedistribution, lmvs.InfoIllegitimate},
			{"for destruction (EU FMD art. 40)", dl(gtin, lot, u[7], expiry, P, corr), false, lmvs.ReasonManufacturerPolicy, ""},
			{"suspect", dl(gtin, lot, u[8], expiry, P, corr), true, "", lmvs.InfoSuspect},
			{"illegitimate", dl(gtin, lot, u[9], expiry, P, corr), false, lmvs.ReasonNotForRedistribution, lmvs.InfoIllegitimate},
			{"expired", dl(gtin, "OLD1", old[0], "240100", P, corr), true, "", lmvs.InfoExpired},
			{"recalled and expired: recalled", dl(gtin, "OLD1", old[1], "240100", P, corr), true, "", lmvs.InfoRecalled},
			{"recalled with a lot mismatch: both", dl(gtin, "LOT43", u[3], expiry, P, corr), false, lmvs.ReasonGTINSerialLot, lmvs.InfoRecalled},
			{"no corrUUID: none echoed", dl(gtin, lot, u[0], expiry, P, ""), true, "", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				a := get(t, srv, e.partnerTok, tc.path)
				require.Equal(t, http.StatusOK, a.status, "%s", a.body)
				require.Equal(t, "application/json", a.header.Get("Content-Type"))
				testkit.RequireSchemaValid(t, "docs/schemas/lmvs-response.schema.json", a.body)
				var r lmvs.Response
				require.NoError(t, json.Unmarshal(a.body, &r))
				require.Equal(t, e.siteGLN, r.ResponderGLN)
				if strings.Contains(tc.path, "corrUUID=") {
					require.Equal(t, corr, r.CorrUUID)
				} else {
					require.Empty(t, r.CorrUUID)
				}
				ts, err := time.Parse(time.RFC3339, r.VerificationTimestamp)
				require.NoError(t, err)
				require.WithinDuration(t, time.Now(), ts, time.Minute)
				require.NotNil(t, r.Data)
				require.Equal(t, lmvs.Data{Verified: tc.verified, VerificationFailureReason: tc.reason, AdditionalInfo: tc.info}, *r.Data)
			})
		}

		// Every request and answer is in the log: who, what, the answer.
		log, err := e.s.Verifications(e.ctx, supply.VerificationFilter{Direction: supply.VerificationIn, Limit: 100})
		require.NoError(t, err)
		require.Len(t, log, len(cases))
		last := log[0] // newest first: "no corrUUID"
		require.Equal(t, P, last.PartnerGLN)
		require.Equal(t, P, last.ReqGLN)
		require.Contains(t, last.Actor, "wholesale-vrs")
		require.Equal(t, gtin, last.GTIN)
		require.Equal(t, u[0], last.Serial)
		require.Equal(t, http.StatusOK, last.Status)
		require.NotNil(t, last.Verified)
		require.True(t, *last.Verified)
		require.Equal(t, e.siteGLN, last.ResponderGLN)
		require.Contains(t, last.Answer, `"verified":true`)
		byPath := map[string]supply.VerificationRecord{}
		for _, r := range log {
			byPath[r.Request] = r
		}
		lx := byPath["GET "+dl(gtin, "LOT43", u[0], "281130", P, corr)]
		require.Equal(t, lmvs.ReasonGTINSerialLotExpiry, lx.FailureReason)
		require.Equal(t, "LOT43", lx.Lot)
		require.Equal(t, "281130", lx.Expiry)
		require.Equal(t, corr, lx.CorrUUID)
	})
}

// TestConnectivity: checkConnectivity answers 200 with the responder's
// GLN and no data, for a partner asking for itself and a GTIN of ours;
// in the query form and in the /checkConnectivity path form.
func TestConnectivity(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	responder := testkit.WithCheckDigit(t, "031234599999")
	srv := e.server(t, lmvs.Config{ResponderGLN: responder})
	for _, path := range []string{
		dl(gtin, "", "", "", e.partnerGLN, corr, "checkConnectivity", "true"),
		dl(gtin, lot, e.units[0], expiry, e.partnerGLN, corr, "checkConnectivity", "true"),
		"/gtin/" + gtin + "?linkType=verificationService&checkConnectivity=true&reqGLN=" + e.partnerGLN + "&corrUUID=" + corr,
		"/checkConnectivity?gtin=" + gtin + "&reqGLN=" + e.partnerGLN + "&context=dscsaSaleableReturn&corrUUID=" + corr,
	} {
		t.Run(path, func(t *testing.T) {
			a := get(t, srv, e.partnerTok, path)
			require.Equal(t, http.StatusOK, a.status, "%s", a.body)
			testkit.RequireSchemaValid(t, "docs/schemas/lmvs-response.schema.json", a.body)
			var m map[string]any
			require.NoError(t, json.Unmarshal(a.body, &m))
			require.Equal(t, responder, m["responderGLN"])
			require.Equal(t, corr, m["corrUUID"])
			require.NotContains(t, m, "data")
		})
	}
	t.Run("a GTIN not ours", func(t *testing.T) {
		a := get(t, srv, e.partnerTok, "/checkConnectivity?gtin="+testkit.WithCheckDigit(t, "0095060001343")+"&reqGLN="+e.partnerGLN)
		require.Equal(t, http.StatusNotFound, a.status, "%s", a.body)
	})
	t.Run("without credentials", func(t *testing.T) {
		a := get(t, srv, "", "/checkConnectivity?gtin="+gtin+"&reqGLN="+e.partnerGLN)
		require.Equal(t, http.StatusUnauthorized, a.status, "%s", a.body)
	})
	log, err := e.s.Verifications(e.ctx, supply.VerificationFilter{})
	require.NoError(t, err)
	require.Len(t, log, 6)
	require.True(t, log[2].CheckConnectivity)
	require.Nil(t, log[2].Verified, "a connectivity check is no verification")
}

// TestRefusals: the standard's error answers: 401 without or with a bad
// credential (never a redirect to the sign-in page), 403 for a partner
// asking for another GLN and for our own people's tokens, 400 naming the
// parameter of a malformed request, 404 for a GTIN that is not ours, 405
// for another method. None carries a JSON payload; each is logged.
func TestRefusals(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	srv := e.server(t, lmvs.Config{})
	P, sn := e.partnerGLN, e.units[0]
	ok := dl(gtin, lot, sn, expiry, P, corr)
	cases := []struct {
		name   string
		method string
		tok    string
		path   string
		status int
		says   string // the parameter the answer names
	}{
		{"no credentials", "GET", "", ok, 401, "Authorization"},
		{"no credentials, short form", "GET", "", "/gtin/" + gtin + "/lot/" + lot + "/ser/" + sn + "?exp=" + expiry + "&linkType=verificationService&reqGLN=" + P, 401, "Authorization"},
		{"no credentials, connectivity", "GET", "", dl(gtin, "", "", "", P, "", "checkConnectivity", "true"), 401, "Authorization"},
		{"unknown token", "GET", "slt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ok, 401, "invalid token"},
		{"our admin's token", "GET", e.adminTok, ok, 403, "role admin"},
		{"a partner asking for another GLN", "GET", e.otherTok, ok, 403, "reqGLN " + P},
		{"bad GTIN check digit", "GET", e.partnerTok, dl("00312345678914", lot, sn, expiry, P, corr), 400, "01:"},
		{"lot with a space", "GET", e.partnerTok, dl(gtin, "LOT 42", sn, expiry, P, corr), 400, "10:"},
		{"serial of 21 characters", "GET", e.partnerTok, dl(gtin, lot, strings.Repeat("1", 21), expiry, P, corr), 400, "21:"},
		{"no serial", "GET", e.partnerTok, dl(gtin, lot, "", expiry, P, corr), 400, "21:"},
		{"expiry month 13", "GET", e.partnerTok, dl(gtin, lot, sn, "281332", P, corr), 400, "17:"},
		{"expiry not a date (short form)", "GET", e.partnerTok, "/gtin/" + gtin + "/ser/" + sn + "?exp=2812&linkType=verificationService&reqGLN=" + P, 400, "exp:"},
		{"no reqGLN", "GET", e.partnerTok, strings.Replace(ok, "reqGLN="+P, "", 1), 400, "reqGLN:"},
		{"reqGLN with a bad check digit", "GET", e.partnerTok, dl(gtin, lot, sn, expiry, P[:12]+string('0'+(P[12]-'0'+1)%10), corr), 400, "reqGLN:"},
		{"corrUUID not a UUID", "GET", e.partnerTok, dl(gtin, lot, sn, expiry, P, "12345"), 400, "corrUUID:"},
		{"no linkType", "GET", e.partnerTok, strings.Replace(ok, "linkType=verificationService", "", 1), 400, "linkType:"},
		{"another linkType", "GET", e.partnerTok, strings.Replace(ok, "linkType=verificationService", "linkType=pip", 1), 400, "linkType:"},
		{"context not a name", "GET", e.partnerTok, strings.Replace(ok, "context=dscsaSaleableReturn", "context=%3Cscript%3E", 1), 400, "context:"},
		{"serial before lot", "GET", e.partnerTok, "/01/" + gtin + "/21/" + sn + "/10/" + lot + "?linkType=verificationService&reqGLN=" + P, 400, "path:"},
		{"full and short names mixed", "GET", e.partnerTok, "/01/" + gtin + "/ser/" + sn + "?linkType=verificationService&reqGLN=" + P, 400, "path:"},
		{"another key qualifier", "GET", e.partnerTok, "/01/" + gtin + "/22/A1/21/" + sn + "?linkType=verificationService&reqGLN=" + P, 400, "path:"},
		{"a parameter twice", "GET", e.partnerTok, ok + "&reqGLN=" + P, 400, "reqGLN:"},
		{"checkConnectivity neither true nor false", "GET", e.partnerTok, ok + "&checkConnectivity=maybe", 400, "checkConnectivity:"},
		{"expiry as 17 and exp", "GET", e.partnerTok, ok + "&exp=" + expiry, 400, "exp:"},
		{"a GTIN not ours", "GET", e.partnerTok, dl(testkit.WithCheckDigit(t, "0095060001343"), lot, sn, expiry, P, corr), 404, "not a product"},
		{"POST", "POST", e.partnerTok, ok, 405, "POST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, srv, tc.method, tc.tok, tc.path)
			require.Equal(t, tc.status, a.status, "%s", a.body)
			require.Empty(t, a.header.Get("Location"), "never a redirect")
			require.Equal(t, "text/plain; charset=utf-8", a.header.Get("Content-Type"), "the standard's error answers carry no JSON payload")
			require.Contains(t, string(a.body), tc.says)
			if tc.status == http.StatusUnauthorized {
				require.True(t, strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer"), a.header.Get("WWW-Authenticate"))
			}
			if tc.status == http.StatusMethodNotAllowed {
				require.Equal(t, "GET, HEAD", a.header.Get("Allow"))
			}
		})
	}
	log, err := e.s.Verifications(e.ctx, supply.VerificationFilter{Limit: 100})
	require.NoError(t, err)
	require.Len(t, log, len(cases), "every refused request is kept too")
	for _, r := range log {
		require.NotEqual(t, http.StatusOK, r.Status)
		require.Nil(t, r.Verified)
		require.NotEmpty(t, r.Answer)
	}
	anon := log[len(log)-1] // the first: no credentials
	require.Equal(t, "anonymous", anon.Actor)
	require.Equal(t, http.StatusUnauthorized, anon.Status)
	other := log[len(log)-6]
	require.Equal(t, e.otherGLN, other.PartnerGLN, "the credential's GLN")
	require.Equal(t, P, other.ReqGLN, "the GLN it asked for")
	require.Equal(t, http.StatusForbidden, other.Status)
}

// TestSchema: the LMVS schema takes the answers the standard allows and
// refuses what it does not, so a pass in the tests above means something.
func TestSchema(t *testing.T) {
	sc := testkit.Schema(t, "docs/schemas/lmvs-response.schema.json")
	const ts = `"verificationTimestamp": "2026-05-01T08:00:00.000Z", "responderGLN": "0312345000004"`
	for _, tc := range []struct {
		name string
		doc  string
		ok   bool
	}{
		{"verified", `{` + ts + `, "corrUUID": "` + corr + `", "data": {"verified": true}}`, true},
		{"recalled", `{` + ts + `, "data": {"verified": true, "additionalInfo": "Recalled"}}`, true},
		{"not verified with its reason", `{` + ts + `, "data": {"verified": false, "verificationFailureReason": "No_match_GTIN_Serial_Lot_Expiry"}}`, true},
		{"connectivity", `{` + ts + `}`, true},
		{"not verified without a reason", `{` + ts + `, "data": {"verified": false}}`, false},
		{"verified with a failure reason", `{` + ts + `, "data": {"verified": true, "verificationFailureReason": "No_match_GTIN_Serial"}}`, false},
		{"a reason not in the code list", `{` + ts + `, "data": {"verified": false, "verificationFailureReason": "lot mismatch"}}`, false},
		{"additionalInfo in another case", `{` + ts + `, "data": {"verified": true, "additionalInfo": "recalled"}}`, false},
		{"no responderGLN", `{"verificationTimestamp": "2026-05-01T08:00:00.000Z", "data": {"verified": true}}`, false},
		{"a GLN of 12 digits", `{"verificationTimestamp": "2026-05-01T08:00:00.000Z", "responderGLN": "031234500000", "data": {"verified": true}}`, false},
		{"timestamp without milliseconds", `{"verificationTimestamp": "2026-05-01T08:00:00Z", "responderGLN": "0312345000004", "data": {"verified": true}}`, false},
		{"corrUUID not a UUID", `{` + ts + `, "corrUUID": "abc", "data": {"verified": true}}`, false},
		{"an unknown member", `{` + ts + `, "data": {"verified": true}, "reason": "x"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := jsonschemaDoc(tc.doc)
			require.NoError(t, err)
			if tc.ok {
				require.NoError(t, sc.Validate(doc))
			} else {
				require.Error(t, sc.Validate(doc))
			}
		})
	}
}
