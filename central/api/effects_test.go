package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/gs1"
)

// TestInboundDocumentCannotRecallOurPacks is issue 17's attack 1 through
// the DSCSA inbound route: a partner's document whose shipping event says
// one of our packs is recalled was captured into the EPCIS repository, and
// the pack then verified as recalled. Now the document is refused (403
// naming the event and the permission) and verification is unchanged.
func TestInboundDocumentCannotRecallOurPacks(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	pack := f.units[0]
	check := func() string { // the verification's reason, "" when verified
		t.Helper()
		resp := e.as(t, auth.RoleAuditor, req{method: "GET", path: verifyPath(gtinRand, pack, lot, expiry)})
		require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
		var v struct {
			Verified bool   `json:"verified"`
			Reason   string `json:"reason"`
		}
		resp.json(t, &v)
		require.Equal(t, v.Reason == "", v.Verified)
		return v.Reason
	}
	require.Empty(t, check())
	epc, err := gs1.SGTINURI(gtinRand, pack, 7)
	require.NoError(t, err)
	doc := inboundDoc(t, f.partnerGLN, f.siteGLN, "ASN-EVIL", []string{"P1"}, nil)
	doc = strings.Replace(doc, "urn:epcglobal:cbv:disp:in_transit", "urn:epcglobal:cbv:disp:recalled", 1)
	doc = strings.Replace(doc, "</epcList>\n<action>OBSERVE", "<epc>"+epc+"</epc></epcList>\n<action>OBSERVE", 1)
	require.Contains(t, doc, epc)

	resp := e.call(t, e.tokens[auth.RolePartner], req{method: "POST", path: "/api/v1/dscsa/inbound", body: doc, ctype: "application/xml"})
	require.Equal(t, http.StatusForbidden, resp.status, "%s", resp.body)
	ae := resp.apiErr(t)
	for _, want := range []string{"eventList[1]", "recall", "disposition recalled", string(auth.PermQualityWrite), "partner"} {
		require.Contains(t, ae.Message, want)
	}
	require.Empty(t, check(), "the partner's document did not recall our pack")

	// The same document without our pack is a plain receipt.
	ok := inboundDoc(t, f.partnerGLN, f.siteGLN, "ASN-OK", []string{"P2"}, nil)
	resp = e.call(t, e.tokens[auth.RolePartner], req{method: "POST", path: "/api/v1/dscsa/inbound", body: ok, ctype: "application/xml"})
	require.Equal(t, http.StatusAccepted, resp.status, "%s", resp.body)
}
