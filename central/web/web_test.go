package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/web"
	"github.com/serialine/serialine/internal/testkit"
)

func TestNewValidatesDeps(t *testing.T) {
	e := newEnv(t)
	sess, err := auth.NewSessions(e.s, auth.SessionConfig{}, testkit.Logger(t))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		deps web.Deps
		want string
	}{
		{"no store", web.Deps{Sessions: sess}, "Store"},
		{"no sessions", web.Deps{Store: e.s}, "Sessions"},
		{"negative refresh", web.Deps{Store: e.s, Sessions: sess, Refresh: -1}, "Refresh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := web.New(tc.deps, testkit.Logger(t))
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err = web.New(web.Deps{Store: e.s, Sessions: sess}, nil)
	require.ErrorContains(t, err, "logger")
}

func TestSignInAndOut(t *testing.T) {
	e := newEnv(t)
	c := e.anon()

	r := c.get("/orders?state=created")
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, "/signin?next="+url.QueryEscape("/orders?state=created"), r.header.Get("Location"))

	r = c.get("/signin?next=" + url.QueryEscape("/orders?state=created"))
	require.Equal(t, http.StatusOK, r.status)
	require.True(t, r.has("f-token"))
	require.False(t, r.has("user-name"), "nobody is signed in")

	t.Run("empty token", func(t *testing.T) {
		r := c.post("/signin", url.Values{"token": {""}}, false)
		require.Equal(t, http.StatusUnprocessableEntity, r.status)
		require.Equal(t, "Paste your API token.", r.fieldError("token"))
	})
	t.Run("wrong token", func(t *testing.T) {
		bad := "slt_" + strings.Repeat("A", 43)
		r := c.post("/signin", url.Values{"token": {bad}}, false)
		require.Equal(t, http.StatusUnauthorized, r.status)
		require.Contains(t, r.fieldError("token"), "not valid")
		require.NotContains(t, r.body, bad, "a token is never echoed into the page")
		require.Equal(t, http.StatusSeeOther, c.get("/lines").status, "still signed out")
	})
	t.Run("revoked token", func(t *testing.T) {
		tok, rec, err := auth.IssueToken(e.ctx, e.s, "mallory", auth.RolePlanner)
		require.NoError(t, err)
		require.NoError(t, e.s.RevokeAPIToken(e.ctx, rec.ID))
		r := c.post("/signin", url.Values{"token": {tok}}, false)
		require.Equal(t, http.StatusUnauthorized, r.status)
	})

	tok := e.token("alice", auth.RolePlanner)
	r = c.post("/signin", url.Values{"token": {tok}, "next": {"/orders?state=created"}}, false)
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, "/orders?state=created", r.header.Get("Location"))
	cookie := r.header.Get("Set-Cookie")
	require.Contains(t, cookie, "HttpOnly")
	require.Contains(t, cookie, "SameSite=Strict")

	r = c.get("/orders?state=created")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "alice", r.idText("user-name"))
	require.Equal(t, "planner", r.idText("user-role"), "the role is shown")

	// The sign-in page of a signed-in user goes on to the next page.
	require.Equal(t, http.StatusSeeOther, c.get("/signin").status)

	t.Run("sign out needs the CSRF token", func(t *testing.T) {
		r := c.post("/signout", url.Values{}, false)
		require.Equal(t, http.StatusForbidden, r.status)
		require.Equal(t, http.StatusOK, c.get("/lines").status, "still signed in")
	})
	r = c.post("/signout", url.Values{}, true)
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, "/signin", r.header.Get("Location"))
	require.Equal(t, http.StatusSeeOther, c.get("/lines").status, "signed out")
}

func TestSafeRedirectAfterSignIn(t *testing.T) {
	e := newEnv(t)
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "lines"} {
		t.Run(next, func(t *testing.T) {
			c := e.anon()
			r := c.post("/signin", url.Values{"token": {e.token("bob", auth.RoleQA)}, "next": {next}}, false)
			require.Equal(t, http.StatusSeeOther, r.status)
			require.Equal(t, "/lines", r.header.Get("Location"))
		})
	}
}

func TestRevokedTokenEndsSession(t *testing.T) {
	e := newEnv(t)
	c := e.anon()
	tok, rec, err := auth.IssueToken(e.ctx, e.s, "carol", auth.RoleQA)
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, c.post("/signin", url.Values{"token": {tok}}, false).status)
	require.Equal(t, http.StatusOK, c.get("/lines").status)
	require.NoError(t, e.s.RevokeAPIToken(e.ctx, rec.ID))
	require.Equal(t, http.StatusSeeOther, c.get("/lines").status, "a revoked token signs out at once")
}

// TestRolesHideAndRefuse: an action a role may not take is neither offered
// on the page nor accepted when posted anyway.
func TestRolesHideAndRefuse(t *testing.T) {
	type check struct {
		name    string
		page    string // a page that offers the action ...
		element string // ... as the element with this id
		post    string
		form    url.Values
		allowed []auth.Role
	}
	checks := []check{
		{"create order", "/orders", "new-order", "/orders",
			url.Values{"id": {"WO-X"}, "gtin": {gtinSeq}, "lot": {"L1"}, "expiry": {"281231"}, "quantity": {"5"}},
			[]auth.Role{auth.RoleAdmin, auth.RolePlanner}},
		{"release order", "/orders/WO-C", "release-form", "/orders/WO-C/release", url.Values{"line": {line2}},
			[]auth.Role{auth.RoleAdmin, auth.RolePlanner}},
		{"close order", "/orders/WO-R", "close-form", "/orders/WO-R/close", url.Values{"confirm": {"yes"}},
			[]auth.Role{auth.RoleAdmin, auth.RolePlanner, auth.RoleQA}},
		{"create product", "/products", "new-product", "/products",
			url.Values{"gtin": {gtinRand}, "name": {"X"}, "company_prefix_len": {"7"}, "markets": {"us-dscsa"}, "ndc": {"12345-678-91"}, "scheme.kind": {"sequential"}, "scheme.length": {"8"}, "scheme.start": {"1"}},
			[]auth.Role{auth.RoleAdmin, auth.RolePlanner}},
		{"import serials", "/products/" + gtinList, "import-form", "/products/" + gtinList + "/serials", url.Values{"serials": {"12345678\n"}},
			[]auth.Role{auth.RoleAdmin, auth.RolePlanner}},
	}
	// Each role runs the whole table on its own store state, so that an
	// allowed action of one role does not change what the next one sees.
	for _, role := range auth.Roles() {
		t.Run(string(role), func(t *testing.T) {
			e := newEnv(t)
			e.seed()
			e.order("WO-C", gtinSeq, "")    // created: can be released
			e.order("WO-R", gtinSeq, line1) // released: can be closed
			c := e.signedIn("u-"+string(role), role)
			for _, ck := range checks {
				ok := false
				for _, a := range ck.allowed {
					ok = ok || a == role
				}
				r := c.get(ck.page)
				require.Equal(t, http.StatusOK, r.status, ck.page)
				require.Equal(t, ok, r.has(ck.element), "%s: %s offered to %s", ck.name, ck.element, role)
				before := auditCount(t, e)
				r = c.post(ck.post, ck.form, true)
				if ok {
					require.Equal(t, http.StatusSeeOther, r.status, "%s by %s: %s", ck.name, role, r.body)
					require.Greater(t, auditCount(t, e), before, "%s wrote", ck.name)
				} else {
					require.Equal(t, http.StatusForbidden, r.status, "%s by %s", ck.name, role)
					require.Contains(t, r.idText("problem-text"), "Your role ("+string(role)+") may not")
					require.Equal(t, before, auditCount(t, e), "%s by %s wrote nothing", ck.name, role)
				}
			}
			// Reading pages: dead letters and the audit trail.
			for _, rd := range []struct {
				path, nav string
				perm      auth.Permission
			}{{"/dead-letters", "Dead letters", auth.PermDeadLettersRead}, {"/audit", "Audit trail", auth.PermAuditRead}} {
				want := http.StatusForbidden
				if auth.Can(role, rd.perm) {
					want = http.StatusOK
				}
				r := c.get(rd.path)
				require.Equal(t, want, r.status, "%s for %s", rd.path, role)
				nav := c.get("/lookup")
				require.Equal(t, want == http.StatusOK, strings.Contains(nav.body, ">"+rd.nav+"</a>"), "%s in the menu of %s", rd.nav, role)
			}
		})
	}
}

func auditCount(t *testing.T, e *env) int {
	t.Helper()
	es, err := e.s.Audit(context.Background(), audit.Filter{})
	require.NoError(t, err)
	return len(es)
}

// TestCSRF: a form post without the session's CSRF token, with a wrong
// one, or from another site is refused and writes nothing.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	e.seed()
	c := e.signedIn("alice", auth.RolePlanner)
	form := func() url.Values {
		return url.Values{"id": {"WO-9"}, "gtin": {gtinSeq}, "lot": {"L"}, "expiry": {"281231"}, "quantity": {"5"}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(f url.Values, h http.Header)
	}{
		{"no token", func(url.Values, http.Header) {}},
		{"wrong token", func(f url.Values, _ http.Header) { f.Set(auth.CSRFField, "AAAA") }},
		{"cross-site", func(f url.Values, h http.Header) {
			f.Set(auth.CSRFField, c.csrf()) // the right token, from the wrong site
			h.Set("Sec-Fetch-Site", "cross-site")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, h := form(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			tc.mutate(f, h)
			req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/orders", strings.NewReader(f.Encode()))
			require.NoError(t, err)
			req.Header = h
			r := c.do(req)
			require.Equal(t, http.StatusForbidden, r.status, r.body)
			_, err = e.s.Order(e.ctx, "WO-9")
			require.ErrorIs(t, err, sqldb.ErrNotFound, "nothing written")
		})
	}
	r := c.post("/orders", form(), true)
	require.Equal(t, http.StatusSeeOther, r.status, "the same form with the token is accepted")
}

func TestSecurityHeadersStaticAndNotFound(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn("alice", auth.RoleOperator)
	r := c.get("/lines")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.header.Get("Content-Security-Policy"), "default-src 'self'")
	require.Contains(t, r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))

	css := c.get("/static/style.css")
	require.Equal(t, http.StatusOK, css.status)
	require.Contains(t, css.header.Get("Content-Type"), "text/css")
	require.Contains(t, css.body, "min-height: 44px", "touch targets")
	js := c.get("/static/live.js")
	require.Equal(t, http.StatusOK, js.status)
	require.Contains(t, js.body, "lines-live")

	r = c.get("/no/such/page")
	require.Equal(t, http.StatusNotFound, r.status)
	require.Contains(t, r.idText("problem-text"), "/no/such/page")
	r = c.get("/orders/NOPE")
	require.Equal(t, http.StatusNotFound, r.status)
	r = c.get("/products/00312345678906")
	require.Equal(t, http.StatusNotFound, r.status)
}

// TestAccessibleMarkup: every page has one h1, a lang, labelled inputs and
// a main landmark.
func TestAccessibleMarkup(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.order("WO-1", gtinSeq, line1)
	c := e.signedIn("alice", auth.RoleAdmin)
	for _, p := range []string{"/lines", "/orders", "/orders/new", "/orders/WO-1", "/products", "/products/new",
		"/products/" + gtinList, "/lookup", "/dead-letters", "/audit"} {
		t.Run(p, func(t *testing.T) {
			r := c.get(p)
			require.Equal(t, http.StatusOK, r.status)
			require.Contains(t, r.body, `<html lang="en">`)
			require.Len(t, findAll(r.doc, func(n *htmlNode) bool { return n.Data == "h1" }), 1)
			require.True(t, r.has("main"))
			labels := map[string]bool{}
			for _, l := range findAll(r.doc, func(n *htmlNode) bool { return n.Data == "label" }) {
				labels[attr(l, "for")] = true
			}
			for _, in := range findAll(r.doc, func(n *htmlNode) bool {
				return (n.Data == "input" || n.Data == "select" || n.Data == "textarea") && attr(n, "type") != "hidden"
			}) {
				require.True(t, labels[attr(in, "id")], "%s: input %q has no label", p, attr(in, "name"))
			}
			for _, n := range findAll(r.doc, func(n *htmlNode) bool { return attr(n, "aria-describedby") != "" }) {
				for _, id := range strings.Fields(attr(n, "aria-describedby")) {
					require.True(t, r.has(id), "%s: aria-describedby %q points nowhere", p, id)
				}
			}
		})
	}
}
