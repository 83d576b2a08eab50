package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
)

// TestCookieReplayAfterSignOut is finding 6 as the attack: someone who
// copied the session cookie (a shared PC, a proxy log) replays it after
// the user signed out. The copy must sign nobody in, and must not be the
// API token either.
func TestCookieReplayAfterSignOut(t *testing.T) {
	e := newEnv(t)
	tok := e.token("alice", auth.RolePlanner)
	c := e.anon()
	r := c.post("/signin", url.Values{"token": {tok}}, false)
	require.Equal(t, http.StatusSeeOther, r.status)
	base, err := url.Parse(e.srv.URL)
	require.NoError(t, err)
	var copied *http.Cookie
	for _, ck := range c.http.Jar.Cookies(base) {
		if ck.Name == auth.DefaultCookieName {
			copied = ck
		}
	}
	require.NotNil(t, copied)
	require.NotEqual(t, tok, copied.Value, "the cookie must not be the API token")

	thief := e.anon()
	thief.http.Jar.SetCookies(base, []*http.Cookie{{Name: copied.Name, Value: copied.Value, Path: "/"}})
	require.Equal(t, http.StatusOK, thief.get("/lines").status, "the copy works while the session lives")

	require.Equal(t, http.StatusSeeOther, c.post("/signout", url.Values{}, true).status)
	thief.http.Jar.SetCookies(base, []*http.Cookie{{Name: copied.Name, Value: copied.Value, Path: "/"}})
	r = thief.get("/lines")
	require.Equal(t, http.StatusSeeOther, r.status, "signed out means signed out everywhere")
	require.Contains(t, r.header.Get("Location"), "/signin")
}
