package api_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/storetest"
)

// TestSSRFPartnerEndpoint is issue 17's attack 2: a planner points a
// partner's DSCSA endpoint at central's own API on loopback and sends a
// shipment. Before, central called itself and the 502 reflected the
// answer's body ("answered 401: {"error":…}"), a port scanner too. Now
// plain http and loopback addresses are refused when the endpoint is
// set, a name resolving to loopback is refused when it is dialled, no
// request reaches central, and nothing of an answer is reflected.
func TestSSRFPartnerEndpoint(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	u, err := url.Parse(e.srv.URL)
	require.NoError(t, err)
	port := u.Port()
	path := "/api/v1/partners/" + f.partnerGLN + "/endpoints/dscsa"
	set := func(target string) response {
		return e.as(t, auth.RolePlanner, req{method: "PUT", path: path, body: fmt.Sprintf(`{"url": %q}`, target)})
	}

	for _, target := range []string{
		"http://127.0.0.1:" + port + "/api/v1/tokens",  // plain HTTP to central itself
		"https://127.0.0.1:" + port + "/api/v1/tokens", // loopback
		"https://[::1]:" + port + "/api/v1/tokens",
		"https://169.254.169.254/latest/meta-data/", // a cloud's metadata service
		"https://10.0.0.5:22/",                      // a port scan of the plant's network
	} {
		resp := set(target)
		require.Equal(t, http.StatusUnprocessableEntity, resp.status, "%s: %s", target, resp.body)
		require.Equal(t, "url", resp.apiErr(t).Field, target)
	}

	// A name is only resolved when dialled: it is accepted here, and
	// refused at connect time, wherever it resolves then.
	resp := set("https://localhost:" + port + "/api/v1/tokens")
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	id, _ := e.shipment(t, f, nil, true)
	resp = e.as(t, auth.RolePlanner, req{method: "POST", path: "/api/v1/shipments/" + id + "/dscsa/send"})
	require.Equal(t, http.StatusAccepted, resp.status, "%s", resp.body)
	var m messages.OutboundMessage
	resp.json(t, &m)

	sender, err := outbound.New(e.s, map[string]outbound.Builder{master.EndpointDSCSA: dscsa.Builder{Store: e.s}}, outbound.Policy{}, outbound.Config{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	_, err = sender.SendDue(e.ctx)
	require.NoError(t, err)

	require.Zero(t, e.hitCount("/api/v1/tokens"), "central did not call itself")
	resp = e.as(t, auth.RolePlanner, req{method: "GET", path: "/api/v1/shipments/" + id + "/outbound"})
	require.Equal(t, http.StatusOK, resp.status)
	var out struct {
		Messages []messages.OutboundMessage `json:"messages"`
	}
	resp.json(t, &out)
	require.Len(t, out.Messages, 1)
	got := out.Messages[0]
	require.Equal(t, m.ID, got.ID)
	require.Zero(t, got.LastStatus, "no answer was received")
	require.Contains(t, got.LastSummary, "refused by central's outbound policy")
	require.Contains(t, got.LastSummary, "is loopback")
	for _, leak := range []string{`"error"`, "unauthorized", "invalid token", "authentication required"} {
		require.False(t, strings.Contains(strings.ToLower(string(resp.body)), strings.ToLower(leak)), "the answer reflects %q: %s", leak, resp.body)
	}
}
