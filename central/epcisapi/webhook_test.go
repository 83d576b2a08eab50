package epcisapi_test

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/epcisapi"
	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/store/storetest"
)

// trust has deliveries reach srv, a TLS server on loopback: its
// certificate trusted, 127.0.0.0/8 allowed as an operator would allow a
// network in outbound.allow_networks.
func trust(tb testing.TB, srv *httptest.Server) func(*epcisapi.Deps) {
	tb.Helper()
	p, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
	require.NoError(tb, err)
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	return func(d *epcisapi.Deps) { d.Outbound, d.WebhookCACert = p, ca }
}

// TestWebhookSSRF is issue 17's attack 2 on subscriptions: a planner
// subscribes a webhook at central's own loopback services or a cloud's
// metadata address. Before, deliveries went anywhere. Now an address
// central may not reach is refused when the subscription is made, a name
// resolving to one is refused at connect time, and nothing reaches the
// internal server.
func TestWebhookSSRF(t *testing.T) {
	var hits atomic.Int64
	internal := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, `{"error": "secret internal answer"}`, http.StatusUnauthorized)
	}))
	t.Cleanup(internal.Close)
	port := internal.URL[strings.LastIndex(internal.URL, ":")+1:]
	// The default policy (no network allowed), trusting the internal
	// server's certificate so that only the address check stands.
	e := newEnv(t, storetest.SQLiteDSN(t), func(d *epcisapi.Deps) {
		trust(t, internal)(d)
		d.Outbound = outbound.Policy{}
	})
	e.createQuery(t, "shipping", `{"EQ_bizStep": ["shipping"]}`)
	sub := func(dest string) response {
		return e.do(t, auth.RolePlanner, "POST", "/epcis/queries/shipping/subscriptions",
			[]byte(`{"dest": "`+dest+`", "secret": "0435ojtojt02", "stream": true}`))
	}
	for _, dest := range []string{
		"http://127.0.0.1:" + port + "/api/v1/tokens",
		"https://127.0.0.1:" + port + "/api/v1/tokens",
		"https://[::1]:" + port + "/hook",
		"https://169.254.169.254/latest/meta-data/",
		"https://10.1.2.3/hook",
	} {
		r := sub(dest)
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", dest, r.body)
		require.Contains(t, string(r.body), "dest", dest)
	}

	// A name is checked when dialled: localhost resolves to loopback.
	r := sub("https://localhost:" + port + "/hook")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var out epcisapi.SubscriptionOut
	require.NoError(t, json.Unmarshal(r.body, &out))
	e.capture(t, auth.RolePlanner, shipDoc(t, 0, 1, "shipping"), "Content-Type", "application/ld+json")
	deadline := time.Now().Add(time.Minute)
	for {
		r = e.do(t, auth.RoleAuditor, "GET", "/epcis/queries/shipping/subscriptions/"+url.PathEscape(out.SubscriptionID), nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.NoError(t, json.Unmarshal(r.body, &out))
		if out.Attempts > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "no delivery attempt within a minute")
		time.Sleep(10 * time.Millisecond)
	}
	require.Zero(t, out.Delivered)
	require.Contains(t, out.LastError, "is loopback")
	require.NotContains(t, out.LastError, "secret internal answer")
	require.Zero(t, hits.Load(), "the internal server was never called")
}
