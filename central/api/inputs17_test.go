package api_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

// TestInputAttacks is issue 17's finding 9 on the API's inputs, each
// written as the attack: a whitespace-only (or invisible) name, the
// all-zero GTIN and other reserved GS1 keys, and invalid UTF-8 (which
// encoding/json used to turn silently into U+FFFD) were accepted and
// stored. Now each is refused naming the field, and nothing is stored.
func TestInputAttacks(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	const v = "/api/v1"
	euProduct := func(name string) string {
		return testkit.MustJSON(t, map[string]any{"name": name, "company_prefix_len": 7, "markets": []string{"eu-fmd"}, "planned_volume": 1000,
			"scheme": map[string]any{"kind": "randomized", "length": 12}})
	}
	newGTIN := testkit.WithCheckDigit(t, "0031234567895")
	// rawUTF8 puts an invalid byte where the placeholder ¤ is.
	rawUTF8 := func(body string) string { return strings.ReplaceAll(body, "¤", "\xff") }

	cases := []struct {
		name   string
		r      req
		status int
		field  string
		msg    string
	}{
		{"product: all-zero GTIN", req{method: "PUT", path: v + "/products/00000000000000", body: euProduct("Zero")}, 422, "gtin", "all-zero GTIN"},
		{"product: RCN GTIN", req{method: "PUT", path: v + "/products/" + testkit.WithCheckDigit(t, "0212345678901"), body: euProduct("In-store")}, 422, "gtin", "restricted circulation"},
		{"product: RCN-8 GTIN", req{method: "PUT", path: v + "/products/" + testkit.WithCheckDigit(t, "0000000012345"), body: euProduct("Short")}, 422, "gtin", "RCN-8"},
		{"product: blank name", req{method: "PUT", path: v + "/products/" + newGTIN, body: euProduct(" \t ")}, 422, "name", "visible character"},
		{"product: no-break spaces", req{method: "PUT", path: v + "/products/" + newGTIN, body: euProduct("\u00a0\u3000")}, 422, "name", "visible character"},
		{"product: zero-width and filler", req{method: "PUT", path: v + "/products/" + newGTIN, body: euProduct("\u200b\u3164\u2060")}, 422, "name", "visible character"},
		{"product: invalid UTF-8 name", req{method: "PUT", path: v + "/products/" + newGTIN, body: rawUTF8(euProduct("Ibu¤profen"))}, 400, "name", "not valid UTF-8"},
		{"product: invalid UTF-8 nested", req{method: "PUT", path: v + "/products/" + newGTIN,
			body: rawUTF8(strings.Replace(euProduct("Ibuprofen"), `"randomized"`, `"random¤"`, 1))}, 400, "scheme.kind", "not valid UTF-8"},
		{"partner: blank name", req{method: "PUT", path: v + "/partners/" + f.partnerGLN, body: `{"name": "   "}`}, 422, "name", "visible character"},
		{"partner: invalid UTF-8 name", req{method: "PUT", path: v + "/partners/" + f.partnerGLN, body: "{\"name\": \"Wholesale \xe9t\xe9\"}"}, 400, "name", "not valid UTF-8"},
		{"partner: all-zero GLN", req{method: "PUT", path: v + "/partners/0000000000000", body: `{"name": "Nobody"}`}, 422, "gln", "all-zero GLN"},
		{"site: all-zero GLN", req{method: "PUT", path: v + "/sites/0000000000000", body: `{"name": "Nowhere"}`}, 422, "gln", "all-zero GLN"},
		{"order: invalid UTF-8 lot", req{method: "POST", path: v + "/orders",
			body: "{\"id\": \"WO-U\", \"gtin\": \"" + gtinRand + "\", \"lot\": \"L\xc3\", \"expiry\": \"281231\", \"quantity\": 10}"}, 400, "lot", "not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.auditCount(t)
			resp := e.as(t, auth.RoleAdmin, c.r)
			require.Equal(t, c.status, resp.status, "%s", resp.body)
			ae := resp.apiErr(t)
			require.Equal(t, c.field, ae.Field, "%s", resp.body)
			require.Contains(t, ae.Message, c.msg)
			require.Equal(t, before, e.auditCount(t), "nothing was stored")
		})
	}
	// The partner kept its name; no product was made.
	p, err := e.s.Partner(e.ctx, f.partnerGLN)
	require.NoError(t, err)
	require.Equal(t, "Wholesale Ltd", p.Name)
	for _, g := range []string{"00000000000000", newGTIN} {
		_, err := e.s.Product(e.ctx, g)
		require.ErrorIs(t, err, sqldb.ErrNotFound, g)
	}
}
