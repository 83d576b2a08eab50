package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

// sample returns a valid request for a route; called once per allowed
// role, so a route that creates something creates a new one each time.
type sample func(t *testing.T, e *env, f *fixture) req

// samples has a valid request for every route of api.Routes(), by
// "METHOD PATTERN". TestRouteSecurity fails for a route without one, so a
// route cannot be added without being tested for its roles.
func samples() map[string]sample {
	const v = "/api/v1"
	get := func(path string) sample {
		return func(*testing.T, *env, *fixture) req { return req{method: "GET", path: path} }
	}
	m := map[string]sample{
		"GET " + v + "/me":                      get(v + "/me"),
		"GET " + v + "/products":                get(v + "/products"),
		"GET " + v + "/products/{gtin}":         get(v + "/products/" + gtinRand),
		"GET " + v + "/products/{gtin}/serials": get(v + "/products/" + gtinRand + "/serials"),
		"GET " + v + "/serial-pools":            get(v + "/serial-pools"),
		"GET " + v + "/lines":                   get(v + "/lines"),
		"GET " + v + "/lines/{id}":              get(v + "/lines/" + line1),
		"GET " + v + "/orders":                  get(v + "/orders?line=L1&state=released"),
		"GET " + v + "/orders/{id}":             get(v + "/orders/WO-1"),
		"GET " + v + "/dead-letters":            get(v + "/dead-letters?line=L1"),
		"GET " + v + "/audit":                   get(v + "/audit?entity=product"),
		"GET " + v + "/tokens":                  get(v + "/tokens"),
		"GET " + v + "/sites/{gln}":             func(_ *testing.T, _ *env, f *fixture) req { return req{method: "GET", path: v + "/sites/" + f.siteGLN} },
		"GET " + v + "/sites/{gln}/locations": func(_ *testing.T, _ *env, f *fixture) req {
			return req{method: "GET", path: v + "/sites/" + f.siteGLN + "/locations"}
		},
		"GET " + v + "/partners/{gln}": func(_ *testing.T, _ *env, f *fixture) req {
			return req{method: "GET", path: v + "/partners/" + f.partnerGLN}
		},
		"GET " + v + "/units/{gtin}/{serial...}": func(_ *testing.T, _ *env, f *fixture) req {
			return req{method: "GET", path: v + "/units/" + gtinRand + "/" + f.units[0]}
		},
		"GET " + v + "/lookup": func(_ *testing.T, _ *env, f *fixture) req {
			return req{method: "GET", path: v + "/lookup?code=" + url.QueryEscape("(01)"+gtinRand+"(21)"+f.units[1])}
		},
		"GET " + v + "/verify": func(_ *testing.T, _ *env, f *fixture) req {
			return req{method: "GET", path: v + "/verify?gtin=" + gtinRand + "&serial=" + url.QueryEscape(f.units[2]) + "&lot=" + lot + "&expiry=" + expiry}
		},
		"PUT " + v + "/products/{gtin}": func(t *testing.T, _ *env, _ *fixture) req {
			return req{method: "PUT", path: v + "/products/" + gtinSeq, body: testkit.MustJSON(t, product(gtinSeq, seqSpec))}
		},
		"POST " + v + "/products/{gtin}/serials/import": func(_ *testing.T, e *env, _ *fixture) req {
			n := e.next()
			return req{method: "POST", path: v + "/products/" + gtinList + "/serials/import", ctype: "text/csv",
				body: fmt.Sprintf("serial\nA%dX1\nA%dX2\n", n, n)}
		},
		"PUT " + v + "/sites/{gln}": func(t *testing.T, _ *env, f *fixture) req {
			return req{method: "PUT", path: v + "/sites/" + f.siteGLN, body: `{"name": "Plant Lisbon", "address": {"street": "Rua 1", "city": "Lisboa", "postal_code": "1100-001", "country": "PT"}}`}
		},
		"PUT " + v + "/locations/{gln}/{extension}": func(t *testing.T, e *env, f *fixture) req {
			return req{method: "PUT", path: fmt.Sprintf("%s/locations/%s/DOCK%d", v, f.locGLN, e.next()), body: testkit.MustJSON(t, map[string]string{"site_gln": f.siteGLN, "name": "Dock"})}
		},
		"GET " + v + "/lines/{id}/seq": get(v + "/lines/" + line1 + "/seq"),
		"POST " + v + "/lines/{id}/skip-gap": func(t *testing.T, e *env, f *fixture) req {
			through := holdBehindGap(t, e, f)
			return req{method: "POST", path: v + "/lines/" + gapLine + "/skip-gap", body: testkit.MustJSON(t, map[string]any{"through": through, "reason": "line PC replaced"})}
		},
		"POST " + v + "/lines/{id}/incarnations/{incarnation}/resolve": func(t *testing.T, e *env, _ *fixture) req {
			id, inc := replacedLine(t, e)
			return req{method: "POST", path: v + "/lines/" + id + "/incarnations/" + inc + "/resolve", body: `{"note": "old PC's packs pulled"}`}
		},
		"PUT " + v + "/lines/{id}": func(t *testing.T, e *env, _ *fixture) req {
			return req{method: "PUT", path: fmt.Sprintf("%s/lines/L%d", v, 100+e.next()), body: `{"name": "Line X", "mqtt_password": "a-long-line-password"}`}
		},
		"PUT " + v + "/partners/{gln}": func(t *testing.T, _ *env, f *fixture) req {
			return req{method: "PUT", path: v + "/partners/" + f.partnerGLN, body: `{"name": "Wholesale Ltd", "licences": {"us-nj-wholesale": "1234"}}`}
		},
		"POST " + v + "/orders": func(t *testing.T, e *env, _ *fixture) req {
			return req{method: "POST", path: v + "/orders", body: testkit.MustJSON(t, map[string]any{
				"id": fmt.Sprintf("WO-N%d", e.next()), "gtin": gtinRand, "lot": lot, "expiry": expiry, "quantity": 500})}
		},
		"POST " + v + "/orders/{id}/release": func(t *testing.T, e *env, _ *fixture) req {
			id := e.createdOrder(t)
			return req{method: "POST", path: v + "/orders/" + id + "/release", body: `{"line": "L1"}`}
		},
		"POST " + v + "/orders/{id}/close": func(t *testing.T, e *env, _ *fixture) req {
			id := e.createdOrder(t)
			_, err := e.s.ReleaseOrder(e.ctx, id, line1)
			require.NoError(t, err)
			return req{method: "POST", path: v + "/orders/" + id + "/close"}
		},
		"GET " + v + "/orders/{id}/flags": func(t *testing.T, e *env, _ *fixture) req {
			id, _ := e.flaggedOrder(t)
			return req{method: "GET", path: v + "/orders/" + id + "/flags?open=true&flag=after-close"}
		},
		"POST " + v + "/orders/{id}/flags/{flag}/disposition": func(t *testing.T, e *env, _ *fixture) req {
			id, flags := e.flaggedOrder(t)
			return req{method: "POST", path: fmt.Sprintf("%s/orders/%s/flags/%d/disposition", v, id, flags[0].ID),
				body: `{"disposition": "rejected", "note": "made after the close: pulled"}`}
		},
		"POST " + v + "/orders/{id}/void-unaccounted": func(t *testing.T, e *env, _ *fixture) req {
			id, _ := e.lostOrder(t)
			_, err := e.s.CloseOrder(e.ctx, id)
			require.NoError(t, err)
			return req{method: "POST", path: v + "/orders/" + id + "/void-unaccounted", body: `{"reason": "line store lost"}`}
		},
		"POST " + v + "/orders/{id}/flags/disposition": func(t *testing.T, e *env, _ *fixture) req {
			id, flags := e.flaggedOrder(t)
			return req{method: "POST", path: v + "/orders/" + id + "/flags/disposition",
				body: testkit.MustJSON(t, map[string]any{"flags": []int64{flags[0].ID, flags[2].ID}, "disposition": "accepted", "note": "belong to the batch"})}
		},
		"POST " + v + "/tokens": func(t *testing.T, e *env, _ *fixture) req {
			return req{method: "POST", path: v + "/tokens", body: fmt.Sprintf(`{"name": "erp-%d", "role": "operator"}`, e.next())}
		},
		"DELETE " + v + "/tokens/{id}": func(t *testing.T, e *env, _ *fixture) req {
			_, rec, err := auth.IssueToken(e.ctx, e.s, fmt.Sprintf("temp-%d", e.next()), auth.RoleOperator)
			require.NoError(t, err)
			return req{method: "DELETE", path: v + "/tokens/" + rec.ID}
		},
	}
	for k, smp := range supplySamples() {
		m[k] = smp
	}
	for k, smp := range fmdSamples() {
		m[k] = smp
	}
	return m
}

// createdOrder creates a new work order (state created) of the randomized
// product and returns its id.
func (e *env) createdOrder(tb testing.TB) string {
	tb.Helper()
	id := fmt.Sprintf("WO-C%d", e.next())
	_, err := e.s.CreateOrder(e.ctx, orders.WorkOrder{ID: id, GTIN: gtinRand, Lot: lot, Expiry: expiry, Quantity: 100})
	require.NoError(tb, err)
	return id
}

// TestRouteSecurity is the security check of every route: without a
// token 401, with a wrong token 401, with a role that may not 403 (and
// nothing written), with a role that may 2xx. The route table is the one
// the handler serves (api.Routes), so a new route is covered or this
// test fails.
func TestRouteSecurity(t *testing.T) {
	lv := &lateVerifier{}
	e := newEnv(t, storetest.SQLiteDSN(t), withVerifier(lv))
	f := e.fixture(t)
	e.bindVerifier(t, f, lv)
	smp := samples()
	routes := api.Routes()
	seen := map[string]bool{}
	wrongToken, _ := auth.NewToken()

	for _, rt := range routes {
		key := rt.Method + " " + rt.Pattern
		seen[key] = true
		t.Run(key, func(t *testing.T) {
			require.True(t, strings.HasPrefix(rt.Pattern, api.Prefix), "route outside %s", api.Prefix)
			require.NotEmpty(t, rt.Roles, "a route without roles")
			require.Equal(t, rt.Permission.Roles(), rt.Roles)
			mk, ok := smp[key]
			require.True(t, ok, "route %s has no sample request in samples(): add one", key)

			r := mk(t, e, f)
			before := e.auditCount(t) // after the sample's own setup

			for name, tok := range map[string]string{"no token": "", "wrong token": wrongToken} {
				resp := e.call(t, tok, r)
				require.Equal(t, http.StatusUnauthorized, resp.status, "%s: %s", name, resp.body)
				require.True(t, strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer"), name)
				require.Equal(t, auth.CodeUnauthorized, resp.apiErr(t).Code)
			}
			for _, role := range auth.AllRoles() {
				if auth.Can(role, rt.Permission) {
					continue
				}
				resp := e.as(t, role, r)
				require.Equal(t, http.StatusForbidden, resp.status, "role %s: %s", role, resp.body)
				ae := resp.apiErr(t)
				require.Equal(t, auth.CodeForbidden, ae.Code)
				require.Contains(t, ae.Message, string(rt.Permission))
			}
			require.Equal(t, before, e.auditCount(t), "a refused request wrote something")

			for _, role := range rt.Roles {
				r := mk(t, e, f) // fresh, for routes that create
				resp := e.as(t, role, r)
				require.True(t, resp.status >= 200 && resp.status < 300, "role %s: %d %s", role, resp.status, resp.body)
				wantType := "application/json; charset=utf-8"
				if ct, ok := documentTypes()[key]; ok {
					wantType = ct
				}
				require.Equal(t, wantType, resp.header.Get("Content-Type"))
				require.Equal(t, "no-store", resp.header.Get("Cache-Control"))
			}
		})
	}
	for key := range smp {
		require.True(t, seen[key], "samples() has %s, which is not a route", key)
	}
}

// TestRouteTableCoversMatrix checks that the roles of each route follow
// the documented permission matrix for the operations named in the task.
func TestRouteTableCoversMatrix(t *testing.T) {
	perm := map[string]auth.Permission{}
	for _, rt := range api.Routes() {
		perm[rt.Method+" "+rt.Pattern] = rt.Permission
	}
	cases := []struct {
		route string
		want  []auth.Role
	}{
		{"PUT /api/v1/products/{gtin}", []auth.Role{auth.RoleAdmin, auth.RolePlanner}},
		{"POST /api/v1/orders/{id}/release", []auth.Role{auth.RoleAdmin, auth.RolePlanner}},
		{"POST /api/v1/products/{gtin}/serials/import", []auth.Role{auth.RoleAdmin, auth.RolePlanner}},
		{"GET /api/v1/audit", []auth.Role{auth.RoleAdmin, auth.RoleAuditor}},
		{"POST /api/v1/tokens", []auth.Role{auth.RoleAdmin}},
		{"PUT /api/v1/lines/{id}", []auth.Role{auth.RoleAdmin}},
		{"GET /api/v1/units/{gtin}/{serial...}", auth.Roles()},
		{"POST /api/v1/orders/{id}/flags/{flag}/disposition", []auth.Role{auth.RoleQA}},
		{"POST /api/v1/orders/{id}/flags/disposition", []auth.Role{auth.RoleQA}},
		{"POST /api/v1/orders/{id}/void-unaccounted", []auth.Role{auth.RoleQA}},
	}
	for _, tc := range cases {
		t.Run(tc.route, func(t *testing.T) {
			p, ok := perm[tc.route]
			require.True(t, ok, "no route %s", tc.route)
			require.Equal(t, tc.want, p.Roles())
		})
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	cases := []struct {
		name   string
		tok    string
		r      req
		status int
		code   string
		allow  string
	}{
		{"unknown route needs a token first", "", req{method: "GET", path: "/api/v1/nope"}, 401, auth.CodeUnauthorized, ""},
		{"unknown route", e.tokens[auth.RoleAdmin], req{method: "GET", path: "/api/v1/nope"}, 404, "not_found", ""},
		{"wrong method", e.tokens[auth.RoleAdmin], req{method: "DELETE", path: "/api/v1/orders/WO-1"}, 405, "method_not_allowed", "GET, HEAD"},
		{"wrong method on a PUT route", e.tokens[auth.RoleAdmin], req{method: "POST", path: "/api/v1/products/" + gtinSeq}, 405, "method_not_allowed", "GET, PUT, HEAD"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.call(t, tc.tok, tc.r)
			require.Equal(t, tc.status, resp.status, "%s", resp.body)
			require.Equal(t, tc.code, resp.apiErr(t).Code)
			require.Equal(t, tc.allow, resp.header.Get("Allow"))
		})
	}
}

// TestWhoAmI shows the principal and its permissions.
func TestWhoAmI(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	var me struct {
		Name        string
		Role        auth.Role
		TokenID     string `json:"token_id"`
		Permissions []auth.Permission
	}
	resp := e.as(t, auth.RoleQA, req{method: "GET", path: "/api/v1/me"})
	require.Equal(t, 200, resp.status)
	resp.json(t, &me)
	require.Equal(t, "user-qa", me.Name)
	require.Equal(t, auth.RoleQA, me.Role)
	require.NotEmpty(t, me.TokenID)
	require.Equal(t, auth.PermissionsOf(auth.RoleQA), me.Permissions)
}
