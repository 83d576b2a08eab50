package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/fmd"
	"github.com/serialine/serialine/central/lmvs"
	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/outbound/outboundtest"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
)

// fmdMaster is complete EU master data for the randomized product: our
// site makes it, the fixture's partner is the MAH in Austria.
func fmdMaster(f *fixture) map[string]any {
	return map[string]any{"common_name": "paracetamol", "pack_type": "carton", "manufacturer": f.siteGLN,
		"markets": []map[string]any{{"country": "AT", "mah": f.partnerGLN}}}
}

// fmdReady gives the site and the partner addresses, the product its EU
// master data, and the partner an fmd endpoint (the gateway).
func (e *env) fmdReady(tb testing.TB, f *fixture) {
	tb.Helper()
	a := master.Address{Street: "Rua 1", City: "Lisboa", PostalCode: "1100-001", Country: "PT"}
	require.NoError(tb, e.s.PutSite(e.ctx, master.Site{GLN: f.siteGLN, Name: "Plant Lisbon", Address: a}))
	require.NoError(tb, e.s.PutPartner(e.ctx, master.Partner{GLN: f.partnerGLN, Name: "Wholesale Ltd", Address: a}))
	_, err := e.s.PutFMDProduct(e.ctx, eufmd.FMDProduct{GTIN: gtinRand, CommonName: "paracetamol", PackType: "carton", Manufacturer: f.siteGLN,
		Markets: []eufmd.FMDMarket{{Country: "AT", MAH: f.partnerGLN}}}, false)
	require.NoError(tb, err)
	_, err = e.s.PutPartnerEndpoint(e.ctx, master.PartnerEndpoint{GLN: f.partnerGLN, Kind: master.EndpointFMD, URL: "https://gateway.example/emvs",
		Auth: master.EndpointAuthBearer, Secret: "obp"})
	require.NoError(tb, err)
}

// theft records a theft of one fresh pack and returns the update's id.
func (e *env) theft(tb testing.TB, f *fixture) int64 {
	tb.Helper()
	u, err := e.s.CreateFMDStatus(e.ctx, eufmd.FMDStatusRequest{Kind: eufmd.FMDTheft, GTIN: gtinRand, Serials: e.freshUnits(tb, f, 1), Reason: "stolen from the truck"})
	require.NoError(tb, err)
	return u.ID
}

// fmdSamples are the samples of the EU FMD and verification routes.
func fmdSamples() map[string]sample {
	const v = "/api/v1"
	ready := func(method, path, body string) sample {
		return func(t *testing.T, e *env, f *fixture) req {
			e.fmdReady(t, f)
			return req{method: method, path: path, body: body}
		}
	}
	return map[string]sample{
		"GET " + v + "/orders/{id}/fmd":                ready("GET", v+"/orders/WO-1/fmd", ""),
		"POST " + v + "/orders/{id}/fmd/send":          ready("POST", v+"/orders/WO-1/fmd/send", ""),
		"GET " + v + "/products/{gtin}/eu-fmd":         ready("GET", v+"/products/"+gtinRand+"/eu-fmd", ""),
		"GET " + v + "/products/{gtin}/eu-fmd/dataset": ready("GET", v+"/products/"+gtinRand+"/eu-fmd/dataset", ""),
		"POST " + v + "/products/{gtin}/eu-fmd/send":   ready("POST", v+"/products/"+gtinRand+"/eu-fmd/send", ""),
		"GET " + v + "/fmd/status-updates":             ready("GET", v+"/fmd/status-updates?gtin="+gtinRand, ""),
		"GET " + v + "/verifications":                  ready("GET", v+"/verifications?direction=in&limit=10", ""),
		"PUT " + v + "/products/{gtin}/eu-fmd": func(t *testing.T, e *env, f *fixture) req {
			e.fmdReady(t, f)
			return req{method: "PUT", path: v + "/products/" + gtinRand + "/eu-fmd", body: testkit.MustJSON(t, fmdMaster(f))}
		},
		"POST " + v + "/fmd/status-updates": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "POST", path: v + "/fmd/status-updates", body: testkit.MustJSON(t, map[string]any{"kind": "destruction", "gtin": gtinRand,
				"serials": e.freshUnits(t, f, 1), "reason": "damaged in the warehouse"})}
		},
		"GET " + v + "/fmd/status-updates/{id}": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "GET", path: fmt.Sprintf("%s/fmd/status-updates/%d", v, e.theft(t, f))}
		},
		"POST " + v + "/fmd/status-updates/{id}/reverse": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "POST", path: fmt.Sprintf("%s/fmd/status-updates/%d/reverse", v, e.theft(t, f)), body: `{"reason": "found again"}`}
		},
		"GET " + v + "/recalls/{id}/fmd": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "GET", path: v + "/recalls/" + e.recall(t, f) + "/fmd"}
		},
		"POST " + v + "/verification-requests": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "POST", path: v + "/verification-requests", body: testkit.MustJSON(t, lmvs.Pack{GTIN: gtinRand, Serial: f.units[0], Lot: lot, Expiry: expiry})}
		},
	}
}

// lateVerifier is the API's Verifier, bound once the fixture exists.
type lateVerifier struct {
	mu sync.Mutex
	v  api.Verifier
}

func (l *lateVerifier) Verify(ctx context.Context, p lmvs.Pack) (lmvs.Result, error) {
	l.mu.Lock()
	v := l.v
	l.mu.Unlock()
	return v.Verify(ctx, p)
}

// withVerifier sets the API's Verifier to lv.
func withVerifier(lv *lateVerifier) func(*api.Deps) { return func(d *api.Deps) { d.Verifier = lv } }

// bindVerifier points lv at a real LMVS requester whose router is the
// fixture's partner, with a verification endpoint at a loopback HTTPS
// server running central's own responder on the same store: we ask as
// that partner (its token is the endpoint's bearer secret).
func (e *env) bindVerifier(tb testing.TB, f *fixture, lv *lateVerifier) {
	tb.Helper()
	rs, err := lmvs.NewResponder(e.s, lmvs.Config{}, testkit.Logger(tb))
	require.NoError(tb, err)
	ca := outboundtest.NewCA(tb, "responder CA")
	srv := outboundtest.Server(tb, lmvs.Route(rs, http.NotFoundHandler()), ca, nil)
	_, err = e.s.PutPartnerEndpoint(e.ctx, master.PartnerEndpoint{GLN: f.partnerGLN, Kind: master.EndpointVerification,
		URL: "https://localhost" + srv.URL[strings.LastIndex(srv.URL, ":"):], Auth: master.EndpointAuthBearer, Secret: e.tokens[auth.RolePartner], CACert: ca.PEM})
	require.NoError(tb, err)
	loopback, err := outbound.NewPolicy([]string{"127.0.0.0/8", "::1/128"})
	require.NoError(tb, err)
	r, err := lmvs.NewRequester(e.s, loopback, lmvs.RequesterConfig{RequesterGLN: f.partnerGLN, RouterGLN: f.partnerGLN}, testkit.Logger(tb))
	require.NoError(tb, err)
	lv.mu.Lock()
	lv.v = r
	lv.mu.Unlock()
}

// TestFMDAPI: the EU FMD routes end to end: a refused product names the
// field; master data saved; markets fixed once sent; the batch data set
// downloadable; a recall's status update listed with its packs.
func TestFMDAPI(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	const v = "/api/v1"
	body := fmdMaster(f)
	body["common_name"] = ""
	resp := e.as(t, auth.RolePlanner, req{method: "PUT", path: v + "/products/" + gtinRand + "/eu-fmd", body: testkit.MustJSON(t, body)})
	require.Equal(t, http.StatusUnprocessableEntity, resp.status, "%s", resp.body)
	require.Equal(t, "common_name", resp.apiErr(t).Field)
	resp = e.as(t, auth.RolePlanner, req{method: "PUT", path: v + "/products/" + gtinRand + "/eu-fmd", body: testkit.MustJSON(t, fmdMaster(f))})
	require.Equal(t, http.StatusUnprocessableEntity, resp.status, "%s", resp.body)
	require.Equal(t, "manufacturer", resp.apiErr(t).Field, "our site has no address yet")

	e.fmdReady(t, f)
	require.NoError(t, e.s.DeletePartnerEndpoint(e.ctx, f.partnerGLN, master.EndpointFMD))
	resp = e.as(t, auth.RolePlanner, req{method: "POST", path: v + "/products/" + gtinRand + "/eu-fmd/send"})
	require.Equal(t, http.StatusConflict, resp.status, "%s", resp.body)
	require.Contains(t, resp.apiErr(t).Message, "endpoints/fmd")
	e.fmdReady(t, f)
	resp = e.as(t, auth.RolePlanner, req{method: "POST", path: v + "/orders/WO-1/fmd/send"})
	require.Equal(t, http.StatusAccepted, resp.status, "%s", resp.body)

	changed := fmdMaster(f)
	changed["markets"] = []map[string]any{{"country": "AT", "mah": f.partnerGLN}, {"country": "BE", "mah": f.partnerGLN}}
	resp = e.as(t, auth.RolePlanner, req{method: "PUT", path: v + "/products/" + gtinRand + "/eu-fmd", body: testkit.MustJSON(t, changed)})
	require.Equal(t, http.StatusConflict, resp.status, "%s", resp.body)
	changed["new_version"] = true
	resp = e.as(t, auth.RolePlanner, req{method: "PUT", path: v + "/products/" + gtinRand + "/eu-fmd", body: testkit.MustJSON(t, changed)})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.EqualValues(t, 2, resp.obj(t)["version"])

	resp = e.as(t, auth.RoleOperator, req{method: "GET", path: v + "/orders/WO-1/fmd"})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var batch fmd.Document
	resp.json(t, &batch)
	require.Equal(t, 1, batch.Batch.ProductVersion)
	require.ElementsMatch(t, f.units, batch.Batch.Serials)

	rc := e.recall(t, f)
	resp = e.as(t, auth.RoleAuditor, req{method: "GET", path: v + "/recalls/" + rc + "/fmd"})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var sets struct {
		Documents []fmd.Document `json:"documents"`
	}
	resp.json(t, &sets)
	require.Len(t, sets.Documents, 1)
	require.Equal(t, "recalled", sets.Documents[0].Status.Reason)
	require.Equal(t, 1, sets.Documents[0].Status.Count)
}

// TestVerificationRequestsAPI: the returns desk's verification request
// through the API, its answer, and the log both ways; refusals name the
// field; without a requester the route says what to configure.
func TestVerificationRequestsAPI(t *testing.T) {
	lv := &lateVerifier{}
	e := newEnv(t, storetest.SQLiteDSN(t), withVerifier(lv))
	f := e.fixture(t)
	e.bindVerifier(t, f, lv)
	const v = "/api/v1"
	resp := e.as(t, auth.RoleQA, req{method: "POST", path: v + "/verification-requests",
		body: testkit.MustJSON(t, lmvs.Pack{GTIN: gtinRand, Serial: f.units[0], Lot: "LOT9", Expiry: expiry})})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var res lmvs.Result
	resp.json(t, &res)
	require.Equal(t, "router", res.Route)
	require.Equal(t, lmvs.Data{Verified: false, VerificationFailureReason: lmvs.ReasonGTINSerialLot}, *res.Response.Data)

	resp = e.as(t, auth.RoleQA, req{method: "POST", path: v + "/verification-requests",
		body: testkit.MustJSON(t, lmvs.Pack{GTIN: gtinRand, Serial: f.units[0], Lot: lot, Expiry: "28123"})})
	require.Equal(t, http.StatusUnprocessableEntity, resp.status, "%s", resp.body)
	require.Equal(t, "expiry", resp.apiErr(t).Field)

	resp = e.as(t, auth.RoleAuditor, req{method: "GET", path: v + "/verifications"})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var log struct {
		Verifications []supply.VerificationRecord `json:"verifications"`
	}
	resp.json(t, &log)
	require.Len(t, log.Verifications, 2, "our request (out) and our responder's answer to it (in)")
	require.Equal(t, supply.VerificationOut, log.Verifications[0].Direction)
	require.Contains(t, log.Verifications[0].Actor, "user-qa")
	require.Equal(t, supply.VerificationIn, log.Verifications[1].Direction)
	require.Equal(t, log.Verifications[0].CorrUUID, log.Verifications[1].CorrUUID)

	plain := newEnv(t, storetest.SQLiteDSN(t))
	resp = plain.as(t, auth.RoleQA, req{method: "POST", path: v + "/verification-requests",
		body: testkit.MustJSON(t, lmvs.Pack{GTIN: gtinRand, Serial: "1", Lot: lot, Expiry: expiry})})
	require.Equal(t, http.StatusConflict, resp.status, "%s", resp.body)
	require.Contains(t, resp.apiErr(t).Message, "verification.requester_gln")
}
