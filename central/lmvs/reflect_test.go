package lmvs_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/lmvs"
	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/outbound/outboundtest"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
)

// TestRequesterNeverReflectsTheAnswer is issue 17's attack 2 on the LMVS
// requester: whatever the endpoint answers that is not an LMVS answer
// (an internal service's 401 with its error document, a page) used to
// come back in the result's error and the verification log whole (the
// first line of a body, or all of it). Now the result says the status and
// the partner's short reason, and the log keeps that summary; an LMVS
// answer is still kept as received.
func TestRequesterNeverReflectsTheAnswer(t *testing.T) {
	const secret = "SECRET-internal-7f3a"
	answers := []struct {
		name, ctype, body string
		status            int
		want              string // in the summary
	}{
		{"JSON error document", "application/json", `{"error": "authentication required", "detail_token": "` + secret + `"}`, http.StatusUnauthorized,
			"HTTP 401 Unauthorized: authentication required"},
		{"a page", "text/html", "<html><body>" + secret + "</body></html>", http.StatusForbidden, "HTTP 403 Forbidden"},
		{"text with control characters", "text/plain", "no\x1b[31m entry " + strings.Repeat("x", 300) + "\n" + secret, http.StatusBadGateway,
			"HTTP 502 Bad Gateway: no [31m entry xxx"},
		{"a 200 that is not LMVS", "text/html", "<html>" + secret + "</html>", http.StatusOK, "not LMVS JSON"},
	}
	var current int
	ca := outboundtest.NewCA(t, "partner CA")
	srv := outboundtest.Server(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		a := answers[current]
		w.Header().Set("Content-Type", a.ctype)
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}), ca, nil)
	us := storetest.OpenSQLite(t, testkit.Logger(t))
	ctx := sqldb.WithActor(t.Context(), "returns-desk (qa)")
	gln := testkit.WithCheckDigit(t, "031234500000")
	require.NoError(t, us.PutPartner(ctx, master.Partner{GLN: gln, Name: "Their Pharma", CompanyPrefixLen: 7}))
	_, err := us.PutPartnerEndpoint(ctx, master.PartnerEndpoint{GLN: gln, Kind: master.EndpointVerification, URL: srv.URL,
		Auth: master.EndpointAuthBearer, Secret: "their-token", CACert: ca.PEM})
	require.NoError(t, err)
	loopback, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
	require.NoError(t, err)
	req, err := lmvs.NewRequester(us, loopback, lmvs.RequesterConfig{RequesterGLN: testkit.WithCheckDigit(t, "950600000002")}, testkit.Logger(t))
	require.NoError(t, err)
	for i, a := range answers {
		current = i
		t.Run(a.name, func(t *testing.T) {
			res, err := req.Verify(ctx, lmvs.Pack{GTIN: gtin, Serial: "123456789012", Lot: lot, Expiry: expiry})
			require.NoError(t, err)
			require.Equal(t, a.status, res.Status)
			require.Contains(t, res.Error, a.want)
			require.NotContains(t, res.Error, secret)
			require.NotContains(t, res.Error, "\x1b")
			require.LessOrEqual(t, len(res.Error), 300, "a summary, not the body")
			log, err := us.Verifications(ctx, supply.VerificationFilter{Direction: supply.VerificationOut, Limit: 1})
			require.NoError(t, err)
			require.Equal(t, res.RecordID, log[0].ID)
			require.NotContains(t, log[0].Answer, secret)
			require.Equal(t, res.Error, log[0].Answer)
		})
	}
}
