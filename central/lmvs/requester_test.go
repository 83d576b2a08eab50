package lmvs_test

import (
	"errors"
	"net/http"
	"net/url"
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

// TestRequester: our returns desk verifies another manufacturer's packs
// over HTTPS: routed by the GTIN's company prefix to that manufacturer's
// responder, or through the router; the answer parsed and kept in our
// log as theirs keeps the request. Their responder is central's own, on
// another store, behind TLS from a private CA.
func TestRequester(t *testing.T) {
	them := newEnv(t, storetest.SQLiteDSN(t))
	_, err := them.s.CreateRecall(them.ctx, supply.RecallRequest{GTIN: gtin, Serials: []string{them.units[1]}, Reason: "recall"})
	require.NoError(t, err)
	rs, err := lmvs.NewResponder(them.s, lmvs.Config{}, testkit.Logger(t))
	require.NoError(t, err)
	ca := outboundtest.NewCA(t, "their CA")
	// Their responder lives under /vrs (a base path in the endpoint URL).
	srv := outboundtest.Server(t, http.StripPrefix("/vrs", lmvs.Route(rs, http.NotFoundHandler())), ca, nil)
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]

	// Us: their plant is our trading partner (its company prefix known)
	// with a verification endpoint; we are their partner (them.partnerGLN)
	// and hold the token they issued us.
	us := storetest.OpenSQLite(t, testkit.Logger(t))
	ctx := sqldb.WithActor(them.ctx, "returns-desk (qa)")
	manufacturer := master.Partner{GLN: them.siteGLN, Name: "Their Pharma", CompanyPrefixLen: 7}
	require.NoError(t, us.PutPartner(ctx, manufacturer))
	_, err = us.PutPartnerEndpoint(ctx, master.PartnerEndpoint{GLN: them.siteGLN, Kind: master.EndpointVerification, URL: "https://localhost" + port + "/vrs",
		Auth: master.EndpointAuthBearer, Secret: them.partnerTok, CACert: ca.PEM})
	require.NoError(t, err)
	loopback, err := outbound.NewPolicy([]string{"127.0.0.0/8", "::1/128"})
	require.NoError(t, err)
	req, err := lmvs.NewRequester(us, loopback, lmvs.RequesterConfig{RequesterGLN: them.partnerGLN}, testkit.Logger(t))
	require.NoError(t, err)

	t.Run("by company prefix", func(t *testing.T) {
		res, err := req.Verify(ctx, lmvs.Pack{GTIN: gtin, Serial: them.units[0], Lot: lot, Expiry: expiry})
		require.NoError(t, err)
		require.Empty(t, res.Error)
		require.Equal(t, "company-prefix", res.Route)
		require.Equal(t, them.siteGLN, res.Partner)
		require.Equal(t, http.StatusOK, res.Status)
		require.Equal(t, lmvs.Data{Verified: true}, *res.Response.Data)
		require.Equal(t, them.siteGLN, res.Response.ResponderGLN)
		u, err := url.Parse(res.Request)
		require.NoError(t, err)
		require.Equal(t, "/vrs/01/"+gtin+"/10/"+lot+"/21/"+them.units[0], u.Path)
		require.Equal(t, expiry, u.Query().Get("17"))
		require.Equal(t, them.partnerGLN, u.Query().Get("reqGLN"))
		require.Equal(t, res.Response.CorrUUID, u.Query().Get("corrUUID"), "echoed")
		// Both logs: ours (out) and theirs (in), with the same corrUUID.
		ours, err := us.Verifications(ctx, supply.VerificationFilter{Direction: supply.VerificationOut})
		require.NoError(t, err)
		require.Len(t, ours, 1)
		require.Equal(t, res.RecordID, ours[0].ID)
		require.Equal(t, "returns-desk (qa)", ours[0].Actor)
		require.Equal(t, them.siteGLN, ours[0].ResponderGLN)
		require.NotNil(t, ours[0].Verified)
		require.True(t, *ours[0].Verified)
		theirs, err := them.s.Verifications(ctx, supply.VerificationFilter{Direction: supply.VerificationIn})
		require.NoError(t, err)
		require.Len(t, theirs, 1)
		require.Equal(t, ours[0].CorrUUID, theirs[0].CorrUUID)
		require.Equal(t, them.partnerGLN, theirs[0].PartnerGLN)
	})
	t.Run("a recalled pack", func(t *testing.T) {
		res, err := req.Verify(ctx, lmvs.Pack{GTIN: gtin, Serial: them.units[1], Lot: lot, Expiry: expiry})
		require.NoError(t, err)
		require.Equal(t, lmvs.Data{Verified: true, AdditionalInfo: lmvs.InfoRecalled}, *res.Response.Data)
	})
	t.Run("not verified, lot and expiry", func(t *testing.T) {
		res, err := req.Verify(ctx, lmvs.Pack{GTIN: gtin, Serial: them.units[0], Lot: "LOT9", Expiry: "290101"})
		require.NoError(t, err)
		require.Equal(t, lmvs.Data{Verified: false, VerificationFailureReason: lmvs.ReasonGTINSerialLotExpiry}, *res.Response.Data)
	})
	t.Run("bad input names the field", func(t *testing.T) {
		_, err := req.Verify(ctx, lmvs.Pack{GTIN: gtin, Serial: them.units[0], Lot: lot, Expiry: "281332"})
		var re *lmvs.RequestError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "expiry", re.Param)
	})

	// Through the router: the partner's prefix is unknown, but it is our
	// configured router.
	manufacturer.CompanyPrefixLen = 0
	require.NoError(t, us.PutPartner(ctx, manufacturer))
	t.Run("no route", func(t *testing.T) {
		_, err := req.Verify(ctx, lmvs.Pack{GTIN: gtin, Serial: them.units[0], Lot: lot, Expiry: expiry})
		require.ErrorIs(t, err, lmvs.ErrNoRoute)
	})
	viaRouter, err := lmvs.NewRequester(us, loopback, lmvs.RequesterConfig{RequesterGLN: them.partnerGLN, RouterGLN: them.siteGLN}, testkit.Logger(t))
	require.NoError(t, err)
	t.Run("through the router", func(t *testing.T) {
		res, err := viaRouter.Verify(ctx, lmvs.Pack{GTIN: gtin, Serial: them.units[0], Lot: lot, Expiry: expiry})
		require.NoError(t, err)
		require.Equal(t, "router", res.Route)
		require.Equal(t, lmvs.Data{Verified: true}, *res.Response.Data)
	})
	t.Run("the responder refuses: kept with its status", func(t *testing.T) {
		wrong, err := lmvs.NewRequester(us, loopback, lmvs.RequesterConfig{RequesterGLN: them.otherGLN, RouterGLN: them.siteGLN}, testkit.Logger(t))
		require.NoError(t, err)
		res, err := wrong.Verify(ctx, lmvs.Pack{GTIN: gtin, Serial: them.units[0], Lot: lot, Expiry: expiry})
		require.NoError(t, err)
		require.Equal(t, http.StatusForbidden, res.Status)
		require.Nil(t, res.Response)
		require.Contains(t, res.Error, "HTTP 403")
		log, err := us.Verifications(ctx, supply.VerificationFilter{Direction: supply.VerificationOut, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, http.StatusForbidden, log[0].Status)
		require.Nil(t, log[0].Verified)
	})
	t.Run("loopback refused by the default policy", func(t *testing.T) {
		strict, err := lmvs.NewRequester(us, outbound.Policy{}, lmvs.RequesterConfig{RequesterGLN: them.partnerGLN, RouterGLN: them.siteGLN}, testkit.Logger(t))
		require.NoError(t, err)
		before, err := them.s.Verifications(ctx, supply.VerificationFilter{})
		require.NoError(t, err)
		res, err := strict.Verify(ctx, lmvs.Pack{GTIN: gtin, Serial: them.units[0], Lot: lot, Expiry: expiry})
		require.NoError(t, err)
		require.Equal(t, 0, res.Status)
		require.Contains(t, res.Error, "outbound policy")
		after, err := them.s.Verifications(ctx, supply.VerificationFilter{})
		require.NoError(t, err)
		require.Len(t, after, len(before), "no request reached the responder")
	})
}

// TestParseResponse: the requester checks what it relies on.
func TestParseResponse(t *testing.T) {
	const ts = `"verificationTimestamp": "2026-05-01T08:00:00.000Z"`
	for _, tc := range []struct {
		name, body, err string
	}{
		{"good", `{` + ts + `, "responderGLN": "0312345000004", "corrUUID": "` + corr + `", "data": {"verified": true}}`, ""},
		{"not JSON", `<html>`, "not LMVS JSON"},
		{"no data", `{` + ts + `, "responderGLN": "0312345000004"}`, "no data"},
		{"no reason", `{` + ts + `, "responderGLN": "0312345000004", "data": {"verified": false}}`, "verificationFailureReason"},
		{"another corrUUID", `{` + ts + `, "responderGLN": "0312345000004", "corrUUID": "11111111-2222-4333-8444-555555555555", "data": {"verified": true}}`, "corrUUID"},
		{"a bad GLN", `{` + ts + `, "responderGLN": "0312345000002", "data": {"verified": true}}`, "responderGLN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lmvs.ParseResponse([]byte(tc.body), corr)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.err)
			require.False(t, errors.Is(err, lmvs.ErrNoRoute))
		})
	}
}
