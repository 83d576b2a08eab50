package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/httpjson"
)

// TestPermissionMatrix pins the documented matrix (README.md): a change
// to who may do what must change this table too.
func TestPermissionMatrix(t *testing.T) {
	const (
		A = auth.RoleAdmin
		P = auth.RolePlanner
		Q = auth.RoleQA
		O = auth.RoleOperator
		U = auth.RoleAuditor
		X = auth.RolePartner
	)
	want := map[auth.Permission][]auth.Role{
		auth.PermMasterRead:       {A, P, Q, O, U},
		auth.PermMasterWrite:      {A, P},
		auth.PermLinesWrite:       {A},
		auth.PermOrdersRead:       {A, P, Q, O, U},
		auth.PermOrdersCreate:     {A, P},
		auth.PermOrdersRelease:    {A, P},
		auth.PermOrdersClose:      {A, P, Q},
		auth.PermSerialsRead:      {A, P, Q, O, U},
		auth.PermSerialsImport:    {A, P},
		auth.PermUnitsRead:        {A, P, Q, O, U},
		auth.PermDeadLettersRead:  {A, Q, U},
		auth.PermAuditRead:        {A, U},
		auth.PermTokensManage:     {A},
		auth.PermSalesWrite:       {A, P},
		auth.PermQualityWrite:     {A, Q},
		auth.PermFlagsDisposition: {Q},
		auth.PermSelf:             {A, P, Q, O, U, X},
		auth.PermDSCSAInbound:     {A, X},
		auth.PermReceiptsRead:     {A, P, Q, U, X},
		auth.PermTraceRead:        {A, P, Q, U},
		auth.PermVerification:     {X},
	}
	require.Len(t, auth.Permissions(), len(want), "a permission is missing from this table")
	for _, perm := range auth.Permissions() {
		t.Run(string(perm), func(t *testing.T) {
			roles, ok := want[perm]
			require.True(t, ok, "permission %s is not in the pinned matrix", perm)
			require.Equal(t, roles, perm.Roles())
			for _, r := range auth.AllRoles() {
				require.Equal(t, contains(roles, r), auth.Can(r, perm), "role %s, permission %s", r, perm)
			}
		})
	}
	require.Empty(t, auth.Permission("nope").Roles())
	var exceptQA []auth.Permission
	for _, p := range auth.Permissions() {
		if p != auth.PermFlagsDisposition && p != auth.PermVerification {
			exceptQA = append(exceptQA, p)
		}
	}
	require.Equal(t, exceptQA, auth.PermissionsOf(auth.RoleAdmin), "admin holds every permission but QA's dispositions and a partner's verification requests")
	require.Equal(t, []auth.Permission{auth.PermMasterRead, auth.PermOrdersRead, auth.PermSerialsRead, auth.PermUnitsRead,
		auth.PermDeadLettersRead, auth.PermAuditRead, auth.PermSelf, auth.PermReceiptsRead, auth.PermTraceRead}, auth.PermissionsOf(auth.RoleAuditor), "the auditor only reads")
	require.Equal(t, []auth.Permission{auth.PermSelf, auth.PermDSCSAInbound, auth.PermReceiptsRead, auth.PermVerification}, auth.PermissionsOf(auth.RolePartner),
		"a partner holds only the partner routes' permissions")
	require.NotContains(t, auth.Roles(), auth.RolePartner, "routes open to our own roles stay closed to partners")
}

func contains(rs []auth.Role, r auth.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func TestParseRole(t *testing.T) {
	for _, r := range auth.AllRoles() {
		got, err := auth.ParseRole(string(r))
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
	_, err := auth.ParseRole("Admin")
	require.ErrorContains(t, err, `"Admin" is not a role; use one of admin, planner, qa, operator, auditor, partner`)
}

// TestPartnerToken: a partner token is bound to a known partner's GLN,
// the principal carries it (and the audit actor names it), and it acts
// for that GLN only; the partner role cannot be issued without a GLN.
func TestPartnerToken(t *testing.T) {
	s := openStore(t)
	const gln, other = "9506000000022", "9506000000039"
	_, _, err := auth.IssuePartnerToken(storetest.Context(t), s, "acme-edi", gln)
	var ve *sqldb.ValidationError
	require.ErrorAs(t, err, &ve, "an unknown partner")
	require.Equal(t, "partner", ve.Field)
	_, _, err = auth.IssueToken(storetest.Context(t), s, "acme-edi", auth.RolePartner)
	require.ErrorAs(t, err, &ve, "the partner role without a GLN")
	require.Equal(t, "partner", ve.Field)
	toks, err := s.APITokens(storetest.Context(t))
	require.NoError(t, err)
	require.Empty(t, toks, "nothing stored")

	require.NoError(t, s.PutPartner(storetest.Context(t), master.Partner{GLN: gln, Name: "Acme Wholesale"}))
	tok, rec, err := auth.IssuePartnerToken(storetest.Context(t), s, "acme-edi", gln)
	require.NoError(t, err)
	require.Equal(t, gln, rec.Partner)
	p, err := auth.Authenticate(storetest.Context(t), s, tok)
	require.NoError(t, err)
	require.Equal(t, auth.Principal{Name: "acme-edi", Role: auth.RolePartner, TokenID: rec.ID, Partner: gln}, p)
	require.Equal(t, "acme-edi (partner "+gln+", token "+rec.ID+")", p.Actor())
	require.True(t, p.ActsFor(gln))
	require.False(t, p.ActsFor(other), "a partner acts for its own GLN only")
	planner, _ := issue(t, s, "alice", auth.RolePlanner)
	pp, err := auth.Authenticate(storetest.Context(t), s, planner)
	require.NoError(t, err)
	require.True(t, pp.ActsFor(other), "our own people act for any partner")
}

func TestNewToken(t *testing.T) {
	a, ha := auth.NewToken()
	b, hb := auth.NewToken()
	require.NotEqual(t, a, b)
	require.NotEqual(t, ha, hb)
	require.True(t, strings.HasPrefix(a, auth.TokenPrefix))
	require.Len(t, a, len(auth.TokenPrefix)+43, "256 bits in unpadded base64url")
	require.Len(t, ha, 64)
	require.Equal(t, ha, auth.HashToken(a))
	require.NotContains(t, ha, a[len(auth.TokenPrefix):])
}

func TestIssueTokenRejectsUnknownRole(t *testing.T) {
	s := openStore(t)
	_, _, err := auth.IssueToken(storetest.Context(t), s, "bob", "root")
	var ve *sqldb.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "role", ve.Field)
	toks, err := s.APITokens(storetest.Context(t))
	require.NoError(t, err)
	require.Empty(t, toks, "nothing stored")
}

// echo answers with the request's principal and the store actor.
func echo(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.PrincipalFrom(r.Context())
		if !ok {
			t.Error("no principal behind the middleware")
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"principal": p, "actor": sqldb.ActorFrom(r.Context())})
	})
}

func TestMiddleware(t *testing.T) {
	s := openStore(t)
	good, rec := issue(t, s, "alice", auth.RolePlanner)
	revoked, rrec := issue(t, s, "mallory", auth.RoleAdmin)
	require.NoError(t, s.RevokeAPIToken(storetest.Context(t), rrec.ID))
	unknown, _ := auth.NewToken()

	srv := httptest.NewServer(auth.Middleware(s, testkit.Logger(t))(echo(t)))
	t.Cleanup(srv.Close)

	cases := []struct {
		name      string
		header    string
		status    int
		challenge string
	}{
		{"no token", "", 401, `Bearer realm="serialine"`},
		{"basic auth", "Basic YWxpY2U6c2VjcmV0", 401, `Bearer realm="serialine", error="invalid_token"`},
		{"bearer without token", "Bearer", 401, `Bearer realm="serialine", error="invalid_token"`},
		{"garbage token", "Bearer hunter2", 401, `Bearer realm="serialine", error="invalid_token"`},
		{"unknown token", "Bearer " + unknown, 401, `Bearer realm="serialine", error="invalid_token"`},
		{"token of another system", "Bearer " + strings.Repeat("x", 47), 401, `Bearer realm="serialine", error="invalid_token"`},
		{"revoked token", "Bearer " + revoked, 401, `Bearer realm="serialine", error="invalid_token"`},
		{"valid token", "Bearer " + good, 200, ""},
		{"scheme is case-insensitive", "bearer " + good, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(t, http.MethodGet, srv.URL+"/x", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp := do(t, req)
			require.Equal(t, tc.status, resp.StatusCode)
			require.Equal(t, tc.challenge, resp.Header.Get("WWW-Authenticate"))
			if tc.status != 200 {
				e := decodeError(t, resp)
				require.Equal(t, auth.CodeUnauthorized, e.Code)
				require.Equal(t, "Authorization", e.Field)
				return
			}
			var got struct {
				Principal auth.Principal
				Actor     string
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			want := auth.Principal{Name: "alice", Role: auth.RolePlanner, TokenID: rec.ID}
			require.Equal(t, want, got.Principal)
			require.Equal(t, "alice (planner, token "+rec.ID+")", got.Actor)
		})
	}
}

// failingTokens is a token store whose database is down: the one part
// that cannot fail on demand for real.
type failingTokens struct{}

func (failingTokens) APITokenByHash(context.Context, string) (access.APIToken, error) {
	return access.APIToken{}, errors.New("connection refused")
}

func TestMiddlewareStoreDown(t *testing.T) {
	srv := httptest.NewServer(auth.Middleware(failingTokens{}, testkit.Logger(t))(echo(t)))
	t.Cleanup(srv.Close)
	tok, _ := auth.NewToken()
	req := newRequest(t, http.MethodGet, srv.URL, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp := do(t, req)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, auth.CodeUnavailable, decodeError(t, resp).Code)
}

func TestAllowAndRequire(t *testing.T) {
	s := openStore(t)
	tokens := map[auth.Role]string{}
	for _, r := range auth.Roles() {
		tokens[r], _ = issue(t, s, "user-"+string(r), r)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux := http.NewServeMux()
	mux.Handle("/audit", auth.Allow(auth.PermAuditRead)(ok))
	mux.Handle("/qa", auth.Require(auth.RoleQA)(ok))
	srv := httptest.NewServer(auth.Middleware(s, testkit.Logger(t))(mux))
	t.Cleanup(srv.Close)

	for _, path := range []string{"/audit", "/qa"} {
		for _, r := range auth.Roles() {
			t.Run(path+"/"+string(r), func(t *testing.T) {
				req := newRequest(t, http.MethodGet, srv.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+tokens[r])
				resp := do(t, req)
				allowed := (path == "/audit" && auth.Can(r, auth.PermAuditRead)) || (path == "/qa" && r == auth.RoleQA)
				if allowed {
					require.Equal(t, http.StatusNoContent, resp.StatusCode)
					return
				}
				require.Equal(t, http.StatusForbidden, resp.StatusCode)
				require.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
				e := decodeError(t, resp)
				require.Equal(t, auth.CodeForbidden, e.Code)
				require.Contains(t, e.Message, "role "+string(r))
				if path == "/audit" {
					require.Contains(t, e.Message, "lacks permission audit:read; it needs admin, auditor")
				}
			})
		}
	}

	t.Run("guard without middleware is 401", func(t *testing.T) {
		rec := httptest.NewRecorder()
		auth.Allow(auth.PermSelf)(ok).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		require.Equal(t, http.StatusUnauthorized, rec.Code)
	})
}

// TestWritesAttributed checks that a store write made behind the
// middleware is audited under the principal.
func TestWritesAttributed(t *testing.T) {
	s := openStore(t)
	tok, rec := issue(t, s, "alice", auth.RolePlanner)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.PutSite(r.Context(), master.Site{GLN: "9506000000008", Name: "Plant"}); err != nil {
			t.Error(err) // a handler goroutine must not FailNow
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(auth.Middleware(s, testkit.Logger(t))(h))
	t.Cleanup(srv.Close)
	req := newRequest(t, http.MethodPost, srv.URL, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	require.Equal(t, http.StatusNoContent, do(t, req).StatusCode)

	entries, err := s.Audit(storetest.Context(t), audit.Filter{Entity: "site"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "alice (planner, token "+rec.ID+")", entries[0].Actor)
}
