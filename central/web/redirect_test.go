package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/serialine/serialine/central/auth"
)

// TestOpenRedirectAfterSignIn is the attack of finding 3: a link to the
// sign-in page whose next parameter points elsewhere. After signing in,
// the Location, resolved as a browser does, must stay on this host.
func TestOpenRedirectAfterSignIn(t *testing.T) {
	e := newEnv(t)
	base, err := url.Parse(e.srv.URL)
	require.NoError(t, err)
	for _, next := range []string{
		"//evil.example", "/\\evil.example", "/\t/evil.example", "/\r\n/evil.example", "https://evil.example/",
		"/%5cevil.example", "/%09/evil.example", "/%2F/evil.example", "/%0d%0a/evil.example", "\\\\evil.example",
		"javascript:alert(1)", " /lines", "/\x7f/evil.example",
	} {
		t.Run(url.PathEscape(next), func(t *testing.T) {
			c := e.anon()
			// The link as an attacker sends it: the sign-in page carries
			// next into its form.
			r := c.get("/signin?next=" + url.QueryEscape(next))
			require.Equal(t, http.StatusOK, r.status)
			in := findAll(r.doc, func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == "next" })
			require.Len(t, in, 1)
			formNext := attr(in[0], "value")
			form := url.Values{"token": {e.token("bob", auth.RoleQA)}, "next": {formNext}}
			req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.srv.URL+"/signin", strings.NewReader(form.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp := roundTrip(t, req)
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			requireSameHost(t, base, resp.Header.Get("Location"))
			require.Equal(t, "/lines", resp.Header.Get("Location"))

			// A signed-in user following the link goes straight on.
			req, err = http.NewRequestWithContext(e.ctx, http.MethodGet, e.srv.URL+"/signin?next="+url.QueryEscape(next), nil)
			require.NoError(t, err)
			for _, ck := range resp.Cookies() {
				req.AddCookie(ck)
			}
			resp = roundTrip(t, req)
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			requireSameHost(t, base, resp.Header.Get("Location"))
		})
	}
	t.Run("a same-site path is kept", func(t *testing.T) {
		c := e.anon()
		next := "/orders?state=created&q=a%2Fb"
		r := c.post("/signin", url.Values{"token": {e.token("bob", auth.RoleQA)}, "next": {next}}, false)
		require.Equal(t, http.StatusSeeOther, r.status)
		require.Equal(t, next, r.header.Get("Location"))
	})
}

// roundTrip sends req without a client: Go's client refuses to parse a
// Location with control characters, a browser does not.
func roundTrip(tb testing.TB, req *http.Request) *http.Response {
	tb.Helper()
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(tb, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(tb, resp.Body.Close())
	return resp
}

// requireSameHost resolves loc the way a browser does (it drops tab, CR
// and LF and reads a backslash as a slash) and requires base's host.
func requireSameHost(tb testing.TB, base *url.URL, loc string) {
	tb.Helper()
	browser := make([]rune, 0, len(loc))
	for _, r := range loc {
		switch r {
		case '\t', '\r', '\n':
			continue
		case '\\':
			r = '/'
		}
		browser = append(browser, r)
	}
	u, err := base.Parse(string(browser))
	if err != nil {
		return // no browser follows an unparsable Location
	}
	require.Equal(tb, base.Host, u.Host, "Location %q leads to another host", loc)
	require.Equal(tb, base.Scheme, u.Scheme, "Location %q", loc)
}
