package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
)

// TestBadInput sends bad input to every route that takes input and
// checks the status, the code and the field the error names.
func TestBadInput(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	const v = "/api/v1"
	prod := func(mut func(m map[string]any)) string {
		m := map[string]any{"name": "Ibuprofen", "company_prefix_len": 7, "markets": []string{"us-dscsa"}, "ndc": "12345-678-95",
			"scheme": map[string]any{"kind": "sequential", "length": 10, "start": 1}}
		mut(m)
		return testkit.MustJSON(t, m)
	}
	fmdProd := func(scheme map[string]any, planned int) string {
		return prod(func(m map[string]any) {
			m["markets"], m["scheme"], m["planned_volume"] = []string{"eu-fmd"}, scheme, planned
			delete(m, "ndc")
		})
	}
	newGTIN := testkit.WithCheckDigit(t, "0031234567895")
	order := func(mut func(m map[string]any)) string {
		m := map[string]any{"id": "WO-X", "gtin": gtinRand, "lot": lot, "expiry": expiry, "quantity": 10}
		mut(m)
		return testkit.MustJSON(t, m)
	}
	created := e.createdOrder(t)
	_, revoked, err := auth.IssueToken(e.ctx, e.s, "gone", auth.RoleOperator)
	require.NoError(t, err)
	require.NoError(t, e.s.RevokeAPIToken(e.ctx, revoked.ID))

	cases := []struct {
		name   string
		r      req
		status int
		code   string
		field  string
		msg    string // a part of the message
	}{
		// products
		{"product: bad GTIN in path", req{method: "PUT", path: v + "/products/09506000134353", body: prod(func(map[string]any) {})}, 400, "bad_request", "gtin", "check digit"},
		{"product: short GTIN in path", req{method: "GET", path: v + "/products/9506000134352"}, 400, "bad_request", "gtin", "14 digits"},
		{"product: unknown field", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) { m["colour"] = "red" })}, 400, "bad_request", "colour", "unknown field"},
		{"product: unknown nested field", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) { m["scheme"].(map[string]any)["seed"] = 1 })}, 400, "bad_request", "seed", "unknown field"},
		{"product: wrong type", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) { m["pack_size"] = "twenty" })}, 400, "bad_request", "pack_size", "must be an integer"},
		{"product: wrong nested type", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) { m["scheme"].(map[string]any)["length"] = "ten" })}, 400, "bad_request", "scheme.length", "must be an integer, got string"},
		{"product: name missing", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) { delete(m, "name") })}, 422, "invalid", "name", "missing"},
		{"product: GTIN differs from path", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) { m["gtin"] = gtinSeq })}, 422, "invalid", "gtin", "differs"},
		{"product: scheme kind", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) { m["scheme"] = map[string]any{"kind": "magic", "length": 5} })}, 422, "invalid", "scheme.kind", "not a scheme"},
		{"product: scheme length", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) { m["scheme"] = map[string]any{"kind": "randomized", "length": 21} })}, 422, "invalid", "scheme.length", "1 to 20"},
		{"product: scheme key", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) {
			m["scheme"] = map[string]any{"kind": "randomized", "length": 12, "key": "abc"}
		})}, 422, "invalid", "scheme.key", "hex"},
		{"product: EU FMD sequential", req{method: "PUT", path: v + "/products/" + newGTIN, body: fmdProd(map[string]any{"kind": "sequential", "length": 10, "start": 1}, 1000)}, 422, "invalid", "scheme.kind", "guessable"},
		{"product: EU FMD short serials", req{method: "PUT", path: v + "/products/" + newGTIN, body: fmdProd(map[string]any{"kind": "randomized", "length": 8}, 1_000_000)}, 422, "invalid", "scheme.length", "guess probability of 0.01"},
		{"product: EU FMD without volume", req{method: "PUT", path: v + "/products/" + newGTIN, body: fmdProd(map[string]any{"kind": "randomized", "length": 12}, 0)}, 422, "invalid", "planned_volume", "missing"},
		{"product: US without NDC", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) { delete(m, "ndc") })}, 422, "invalid", "ndc", "missing"},
		{"product: not JSON", req{method: "PUT", path: v + "/products/" + newGTIN, body: "name=x", ctype: "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", "Content-Type", "application/json"},
		{"product: broken JSON", req{method: "PUT", path: v + "/products/" + newGTIN, body: `{"name": "x",`}, 400, "bad_request", "", "ends too early"},
		{"product: two values", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(map[string]any) {}) + "{}"}, 400, "bad_request", "", "more than one JSON value"},
		{"product: empty body", req{method: "PUT", path: v + "/products/" + newGTIN, ctype: "application/json"}, 400, "bad_request", "", "empty"},
		{"product: array body", req{method: "PUT", path: v + "/products/" + newGTIN, body: `[1]`}, 400, "bad_request", "", "JSON object"},
		{"product: unknown", req{method: "GET", path: v + "/products/" + newGTIN}, 404, "not_found", "", "not found"},
		{"pool: unknown product", req{method: "GET", path: v + "/products/" + newGTIN + "/serials"}, 404, "not_found", "", "not found"},

		// serial import
		{"import: not CSV", req{method: "POST", path: v + "/products/" + gtinList + "/serials/import", body: `["A1"]`}, 415, "unsupported_media_type", "Content-Type", "text/csv"},
		{"import: not a list product", req{method: "POST", path: v + "/products/" + gtinRand + "/serials/import", body: "S1\n", ctype: "text/csv"}, 409, "state", "scheme.kind", "only for a list scheme"},
		{"import: unknown product", req{method: "POST", path: v + "/products/" + newGTIN + "/serials/import", body: "S1\n", ctype: "text/csv"}, 404, "not_found", "", "not found"},
		{"import: empty file", req{method: "POST", path: v + "/products/" + gtinList + "/serials/import", body: "\n", ctype: "text/csv"}, 422, "invalid_list", "serials", "holds no serials"},

		// sites, locations, partners
		{"site: bad GLN", req{method: "PUT", path: v + "/sites/1234567890123", body: `{"name": "x"}`}, 400, "bad_request", "gln", "check digit"},
		{"site: name missing", req{method: "PUT", path: v + "/sites/" + f.siteGLN, body: `{"address": {"street": "x"}}`}, 422, "invalid", "name", "missing"},
		{"site: GLN differs", req{method: "PUT", path: v + "/sites/" + f.siteGLN, body: testkit.MustJSON(t, map[string]string{"gln": f.partnerGLN, "name": "x"})}, 422, "invalid", "gln", "differs"},
		{"site: unknown", req{method: "GET", path: v + "/sites/" + f.partnerGLN}, 404, "not_found", "", "not found"},
		{"locations: unknown site", req{method: "GET", path: v + "/sites/" + f.partnerGLN + "/locations"}, 404, "not_found", "", "not found"},
		{"location: site missing", req{method: "PUT", path: v + "/locations/" + f.locGLN + "/0", body: `{"name": "x"}`}, 422, "invalid", "site_gln", "missing"},
		{"location: unknown site", req{method: "PUT", path: v + "/locations/" + f.locGLN + "/0", body: testkit.MustJSON(t, map[string]string{"site_gln": f.partnerGLN, "name": "x"})}, 422, "invalid", "site_gln", "no site"},
		{"location: bad extension", req{method: "PUT", path: v + "/locations/" + f.locGLN + "/a%20b", body: testkit.MustJSON(t, map[string]string{"site_gln": f.siteGLN, "name": "x"})}, 422, "invalid", "extension", "CSET 82"},
		{"partner: bad GLN", req{method: "GET", path: v + "/partners/12"}, 400, "bad_request", "gln", ""},
		{"partner: licence value missing", req{method: "PUT", path: v + "/partners/" + f.partnerGLN, body: `{"name": "x", "licences": {"nj": ""}}`}, 422, "invalid", "licences[nj]", "missing"},

		// lines
		{"line: bad id", req{method: "PUT", path: v + "/lines/L+1", body: `{"name": "x"}`}, 400, "bad_request", "id", ""},
		{"line: short password", req{method: "PUT", path: v + "/lines/L7", body: `{"name": "x", "mqtt_password": "secret"}`}, 422, "invalid", "mqtt_password", "at least 16"},
		{"line: unknown site", req{method: "PUT", path: v + "/lines/L7", body: testkit.MustJSON(t, map[string]string{"name": "x", "site_gln": f.partnerGLN})}, 422, "invalid", "site_gln", "no site"},
		{"line: read point not an SGLN", req{method: "PUT", path: v + "/lines/L7", body: `{"name": "x", "read_point": "urn:epc:id:sgtin:0614141.107346.1"}`}, 422, "invalid", "read_point", "GS1 Digital Link"},
		{"line: name missing", req{method: "PUT", path: v + "/lines/L7", body: `{"mqtt_password": "a-long-line-password"}`}, 422, "invalid", "name", "missing"},
		{"line: unknown", req{method: "GET", path: v + "/lines/L7"}, 404, "not_found", "", "not found"},

		// orders
		{"orders: bad state filter", req{method: "GET", path: v + "/orders?state=open"}, 400, "bad_request", "state", "created, released or closed"},
		{"orders: repeated filter", req{method: "GET", path: v + "/orders?line=L1&line=L2"}, 400, "bad_request", "line", "2 times"},
		{"order: negative quantity", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { m["quantity"] = -5 })}, 400, "bad_request", "quantity", "0 or more"},
		{"order: zero quantity", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { m["quantity"] = 0 })}, 422, "invalid", "quantity", "must be 1"},
		{"order: lot too long", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { m["lot"] = strings.Repeat("L", 21) })}, 422, "invalid", "lot", "1 to 20"},
		{"order: bad expiry", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { m["expiry"] = "281340" })}, 422, "invalid", "expiry", "date"},
		{"order: expiry past", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { m["expiry"] = "240101" })}, 422, "invalid", "expiry", "240101 (2024-01-01) is in the past"},
		{"order: lot not CSET 82", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { m["lot"] = "LOT 42" })}, 422, "invalid", "lot", "AI (10)"},
		{"order: own allowance 0", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { m["reject_allowance"] = 0 })}, 422, "invalid", "reject_allowance", "1 to 1099511627776"},
		{"order: negative allowance", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { m["reject_allowance"] = -1 })}, 400, "bad_request", "reject_allowance", "0 or more"},
		{"product: allowance percent", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) { m["reject_allowance_percent"] = 150 })}, 422, "invalid", "reject_allowance_percent", "0 to 100"},
		{"product: no allowance", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) {
			m["reject_allowance_percent"], m["reject_allowance_min"] = 0, 0
		})}, 422, "invalid", "reject_allowance_min", "at least 1 unit"},
		{"product: shelf life", req{method: "PUT", path: v + "/products/" + newGTIN, body: prod(func(m map[string]any) { m["min_shelf_life_days"] = 4000 })}, 422, "invalid", "min_shelf_life_days", "0 to 3660"},
		{"flags: unknown order", req{method: "GET", path: v + "/orders/WO-404/flags"}, 404, "not_found", "", "not found"},
		{"flags: bad open", req{method: "GET", path: v + "/orders/WO-1/flags?open=yes"}, 400, "bad_request", "open", "true or false"},
		{"order: unknown product", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { m["gtin"] = newGTIN })}, 422, "invalid", "gtin", "no product"},
		{"order: bad GTIN", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { m["gtin"] = "123" })}, 422, "invalid", "gtin", ""},
		{"order: id missing", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { delete(m, "id") })}, 422, "invalid", "id", "missing"},
		{"order: duplicate id", req{method: "POST", path: v + "/orders", body: order(func(m map[string]any) { m["id"] = "WO-1" })}, 409, "conflict", "", "exists"},
		{"order: unknown", req{method: "GET", path: v + "/orders/WO-404"}, 404, "not_found", "", "not found"},
		{"release: line missing", req{method: "POST", path: v + "/orders/" + created + "/release", body: `{}`}, 422, "invalid", "line", "missing"},
		{"release: unknown line", req{method: "POST", path: v + "/orders/" + created + "/release", body: `{"line": "L9"}`}, 422, "invalid", "line", "no line"},
		{"release: bad line id", req{method: "POST", path: v + "/orders/" + created + "/release", body: `{"line": "L/9"}`}, 422, "invalid", "line", ""},
		{"release: unknown order", req{method: "POST", path: v + "/orders/WO-404/release", body: `{"line": "L1"}`}, 404, "not_found", "", "not found"},
		{"release: already released", req{method: "POST", path: v + "/orders/WO-1/release", body: `{"line": "L1"}`}, 409, "state", "", "only a created order"},
		{"close: not released", req{method: "POST", path: v + "/orders/" + created + "/close"}, 409, "state", "", "only a released order"},
		{"close: not JSON", req{method: "POST", path: v + "/orders/WO-1/close", body: "now", ctype: "text/plain"}, 415, "unsupported_media_type", "Content-Type", "application/json"},
		{"close: unknown field", req{method: "POST", path: v + "/orders/WO-1/close", body: `{"reason": "x"}`}, 400, "bad_request", "reason", "unknown field"},

		// units and lookup
		{"unit: bad GTIN", req{method: "GET", path: v + "/units/12345/ABC"}, 400, "bad_request", "gtin", ""},
		{"unit: bad serial", req{method: "GET", path: v + "/units/" + gtinRand + "/A%20B"}, 400, "bad_request", "serial", "CSET 82"},
		{"unit: serial too long", req{method: "GET", path: v + "/units/" + gtinRand + "/" + strings.Repeat("9", 21)}, 400, "bad_request", "serial", "1 to 20"},
		{"unit: unknown", req{method: "GET", path: v + "/units/" + gtinRand + "/999"}, 404, "not_found", "", "not found"},
		{"lookup: no code", req{method: "GET", path: v + "/lookup"}, 400, "bad_request", "code", "missing"},
		{"lookup: garbage", req{method: "GET", path: v + "/lookup?code=hello"}, 422, "invalid", "code", ""},
		{"lookup: bad check digit", req{method: "GET", path: v + "/lookup?code=(01)09506000134353(21)1"}, 422, "invalid", "code", "check digit"},
		{"lookup: product only", req{method: "GET", path: v + "/lookup?code=(01)" + gtinRand}, 422, "invalid", "code", "no serial"},
		{"lookup: unknown unit", req{method: "GET", path: v + "/lookup?code=(01)" + gtinRand + "(21)424242"}, 404, "not_found", "code", "never saw"},
		{"lookup: unknown container", req{method: "GET", path: v + "/lookup?code=(00)" + testkit.WithCheckDigit(t, "09506000000000001")}, 404, "not_found", "code", "no container"},

		// dead letters, audit
		{"dead letters: bad since", req{method: "GET", path: v + "/dead-letters?since=yesterday"}, 400, "bad_request", "since", "RFC 3339"},
		{"dead letters: bad limit", req{method: "GET", path: v + "/dead-letters?limit=0"}, 400, "bad_request", "limit", "1 to 10000"},
		{"dead letters: bad line", req{method: "GET", path: v + "/dead-letters?line=a/b"}, 400, "bad_request", "line", ""},
		{"audit: unknown entity", req{method: "GET", path: v + "/audit?entity=products"}, 400, "bad_request", "entity", "work_order"},
		{"audit: bad limit", req{method: "GET", path: v + "/audit?limit=x"}, 400, "bad_request", "limit", ""},

		// tokens
		{"token: bad role", req{method: "POST", path: v + "/tokens", body: `{"name": "x", "role": "root"}`}, 422, "invalid", "role", "not a role"},
		{"token: name missing", req{method: "POST", path: v + "/tokens", body: `{"role": "qa"}`}, 422, "invalid", "name", "missing"},
		{"token: unknown field", req{method: "POST", path: v + "/tokens", body: `{"name": "x", "role": "qa", "token": "mine"}`}, 400, "bad_request", "token", "unknown field"},
		{"token: revoke unknown", req{method: "DELETE", path: v + "/tokens/nope"}, 404, "not_found", "", "not found"},
		{"token: revoke twice", req{method: "DELETE", path: v + "/tokens/" + revoked.ID}, 409, "state", "", "already"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.auditCount(t)
			resp := e.as(t, auth.RoleAdmin, tc.r)
			require.Equal(t, tc.status, resp.status, "%s", resp.body)
			ae := resp.apiErr(t)
			require.Equal(t, tc.code, ae.Code, "%s", resp.body)
			require.Equal(t, tc.field, ae.Field, "%s", resp.body)
			require.Contains(t, ae.Message, tc.msg)
			require.Equal(t, before, e.auditCount(t), "a rejected request wrote something")
		})
	}
}

// TestUnknownQueryParameter: every GET route refuses a query parameter
// it does not know, naming it, so that a misspelt filter never silently
// returns everything.
func TestUnknownQueryParameter(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	smp := samples()
	for _, rt := range api.Routes() {
		key := rt.Method + " " + rt.Pattern
		t.Run(key, func(t *testing.T) {
			r := smp[key](t, e, f)
			sep := "?"
			if strings.Contains(r.path, "?") {
				sep = "&"
			}
			r.path += sep + "colour=red"
			resp := e.as(t, rt.Roles[0], r) // a role that may
			require.Equal(t, http.StatusBadRequest, resp.status, "%s", resp.body)
			ae := resp.apiErr(t)
			require.Equal(t, "colour", ae.Field)
			require.Contains(t, ae.Message, `unknown query parameter "colour"`)
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t), func(d *api.Deps) { d.MaxBodyBytes, d.MaxImportBytes = 512, 1024 })
	e.fixture(t)
	big := `{"name": "` + strings.Repeat("x", 600) + `"}`
	resp := e.as(t, auth.RoleAdmin, req{method: "PUT", path: "/api/v1/lines/L5", body: big})
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.status, "%s", resp.body)
	require.Equal(t, "too_large", resp.apiErr(t).Code)

	var csv strings.Builder
	for i := range 400 {
		fmt.Fprintf(&csv, "S%d\n", i)
	}
	resp = e.as(t, auth.RoleAdmin, req{method: "POST", path: "/api/v1/products/" + gtinList + "/serials/import", body: csv.String(), ctype: "text/csv"})
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.status, "%s", resp.body)
	require.Contains(t, resp.apiErr(t).Message, "1024 bytes")
	u, err := e.s.SerialUsage(e.ctx, gtinList)
	require.NoError(t, err)
	require.Zero(t, u.Space, "nothing imported")
}

// TestSerialImport: a list with problems is refused whole, naming every
// problem with its line; a clean one is imported.
func TestSerialImport(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	e.fixture(t)
	path := "/api/v1/products/" + gtinList + "/serials/import"

	bad := "gtin,serial\n" + gtinList + ",A1\n" + gtinList + ",A 2\n" + gtinList + ",A1\n" + gtinSeq + ",A4\n" + gtinList + "," + strings.Repeat("Z", 21) + "\n"
	resp := e.as(t, auth.RolePlanner, req{method: "POST", path: path, body: bad, ctype: "text/csv"})
	require.Equal(t, http.StatusUnprocessableEntity, resp.status, "%s", resp.body)
	var body struct {
		Error struct {
			Code, Message, Field string
			Details              struct {
				Problems []struct {
					Line        int
					Field       string
					Value       string
					Reason      string
					DuplicateOf int `json:"duplicate_of"`
				}
			}
		}
	}
	resp.json(t, &body)
	require.Equal(t, "invalid_list", body.Error.Code)
	require.Equal(t, "serials", body.Error.Field)
	require.Contains(t, body.Error.Message, "nothing imported: 4 problem(s); first: line 3: serial")
	p := body.Error.Details.Problems
	require.Len(t, p, 4)
	require.Equal(t, 3, p[0].Line)
	require.Equal(t, "A 2", p[0].Value)
	require.Equal(t, 4, p[1].Line)
	require.Equal(t, 2, p[1].DuplicateOf)
	require.Equal(t, 5, p[2].Line)
	require.Equal(t, "gtin", p[2].Field)
	require.Equal(t, 6, p[3].Line)
	u, err := e.s.SerialUsage(e.ctx, gtinList)
	require.NoError(t, err)
	require.Zero(t, u.Space, "nothing imported")

	resp = e.as(t, auth.RolePlanner, req{method: "POST", path: path, body: "\ufeffB1\nB2\nB3\n", ctype: "text/csv; charset=utf-8"})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	got := resp.obj(t)
	require.EqualValues(t, 3, got["imported"])
	require.EqualValues(t, 3, got["list_size"])

	// A serial listed before fails the whole second import.
	resp = e.as(t, auth.RolePlanner, req{method: "POST", path: path, body: "B4\nB2\n", ctype: "text/csv"})
	require.Equal(t, http.StatusConflict, resp.status, "%s", resp.body)
	require.Contains(t, resp.apiErr(t).Message, `serial "B2" is already listed`)
	u, err = e.s.SerialUsage(e.ctx, gtinList)
	require.NoError(t, err)
	require.Equal(t, uint64(3), u.Space)

	var pools struct{ Pools []map[string]any }
	e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/serial-pools"}).json(t, &pools)
	require.Len(t, pools.Pools, 3)
	for _, pl := range pools.Pools {
		if pl["gtin"] == gtinList {
			require.EqualValues(t, 3, pl["capacity"])
			require.Nil(t, pl["guess_probability"], "a list of any length has no bounded space")
		}
	}
}

// TestProductScheme: the key is write-only and kept across updates; a
// scheme under which serials were granted cannot change.
func TestProductScheme(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	path := "/api/v1/products/" + gtinRand

	resp := e.as(t, auth.RolePlanner, req{method: "GET", path: path})
	require.Equal(t, http.StatusOK, resp.status)
	require.NotContains(t, string(resp.body), randSpec.Key, "the key never leaves central by the API")
	require.Regexp(t, regexp.MustCompile(`"key_fingerprint":"sha256:[0-9a-f]{12}"`), string(resp.body))
	before := resp.obj(t)

	// A rename without the key keeps the key (the serials stay the same).
	p := product(gtinRand, randSpec)
	p.Name, p.Scheme.Key = "Paracetamol 500 mg (new name)", ""
	resp = e.as(t, auth.RolePlanner, req{method: "PUT", path: path, body: testkit.MustJSON(t, p)})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	after := resp.obj(t)
	require.Equal(t, before["scheme"], after["scheme"])
	stored, err := e.s.Product(e.ctx, gtinRand)
	require.NoError(t, err)
	require.Equal(t, randSpec.Key, stored.Scheme.Key)
	require.Equal(t, p.Name, stored.Name)

	// Changing the scheme after grants is a conflict.
	p.Scheme = serials.Spec{Kind: serials.KindRandomized, Length: 14}
	resp = e.as(t, auth.RolePlanner, req{method: "PUT", path: path, body: testkit.MustJSON(t, p)})
	require.Equal(t, http.StatusConflict, resp.status, "%s", resp.body)
	require.Contains(t, resp.apiErr(t).Message, "could issue a serial twice")

	// The FMD refusal shows the probability in its details.
	gtin := testkit.WithCheckDigit(t, "0031234567896")
	p = product(gtin, serials.Spec{Kind: serials.KindRandomized, Length: 9})
	p.PlannedVolume = 500_000
	resp = e.as(t, auth.RolePlanner, req{method: "PUT", path: "/api/v1/products/" + gtin, body: testkit.MustJSON(t, p)})
	require.Equal(t, http.StatusUnprocessableEntity, resp.status, "%s", resp.body)
	var body struct {
		Error struct {
			Field   string
			Details struct {
				GuessProbability float64 `json:"guess_probability"`
				SerialSpace      float64 `json:"serial_space"`
				Compliant        bool
			}
		}
	}
	resp.json(t, &body)
	require.Equal(t, "scheme.length", body.Error.Field)
	require.InDelta(t, 5e5/1e9, body.Error.Details.GuessProbability, 1e-12)
	require.Equal(t, 1e9, body.Error.Details.SerialSpace)
	require.False(t, body.Error.Details.Compliant)
	_, err = e.s.Product(e.ctx, gtin)
	require.ErrorContains(t, err, "not found", "nothing stored")
	_ = f
}
