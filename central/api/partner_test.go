package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

// TestPartnerTokens: an admin issues a token bound to a trading partner's
// GLN; the principal carries the GLN; the role, the GLN and the pairing
// are checked, each refusal naming its field.
func TestPartnerTokens(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	stranger := testkit.WithCheckDigit(t, "950600000099")

	cases := []struct {
		name  string
		body  string
		field string
	}{
		{"partner role without a GLN", `{"name": "acme", "role": "partner"}`, "partner"},
		{"a GLN with a bad check digit", `{"name": "acme", "role": "partner", "partner": "9506000000021"}`, "partner"},
		{"an unknown partner", `{"name": "acme", "role": "partner", "partner": "` + stranger + `"}`, "partner"},
		{"a GLN on another role", `{"name": "acme", "role": "planner", "partner": "` + f.partnerGLN + `"}`, "partner"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.auditCount(t)
			resp := e.as(t, auth.RoleAdmin, req{method: "POST", path: "/api/v1/tokens", body: tc.body})
			require.Equal(t, http.StatusUnprocessableEntity, resp.status, "%s", resp.body)
			require.Equal(t, tc.field, resp.apiErr(t).Field)
			require.Equal(t, before, e.auditCount(t), "nothing written")
		})
	}

	resp := e.as(t, auth.RoleAdmin, req{method: "POST", path: "/api/v1/tokens",
		body: `{"name": "acme-edi", "role": "partner", "partner": "` + f.partnerGLN + `"}`})
	require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
	var issued struct {
		ID      string `json:"id"`
		Role    string `json:"role"`
		Partner string `json:"partner"`
		Token   string `json:"token"`
	}
	resp.json(t, &issued)
	require.Equal(t, "partner", issued.Role)
	require.Equal(t, f.partnerGLN, issued.Partner)

	me := e.call(t, issued.Token, req{method: "GET", path: "/api/v1/me"})
	require.Equal(t, http.StatusOK, me.status, "%s", me.body)
	var who struct {
		Role        string            `json:"role"`
		Partner     string            `json:"partner"`
		Permissions []auth.Permission `json:"permissions"`
	}
	me.json(t, &who)
	require.Equal(t, "partner", who.Role)
	require.Equal(t, f.partnerGLN, who.Partner)
	require.Equal(t, auth.PermissionsOf(auth.RolePartner), who.Permissions)

	// Every route that is not a partner route refuses the token.
	for _, rt := range api.Routes() {
		if auth.Can(auth.RolePartner, rt.Permission) {
			continue
		}
		require.NotContains(t, rt.Roles, auth.RolePartner, "%s %s", rt.Method, rt.Pattern)
	}
	r := e.call(t, issued.Token, req{method: "GET", path: "/api/v1/products"})
	require.Equal(t, http.StatusForbidden, r.status)
	require.Contains(t, r.apiErr(t).Message, "role partner lacks permission master:read")
}
