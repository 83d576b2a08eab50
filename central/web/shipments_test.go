package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// TestShipmentPage: a shipment shows the DSCSA documents sent for it,
// every attempt with the partner's status and short answer; a planner
// may send a failed one again (audited), an auditor may not.
func TestShipmentPage(t *testing.T) {
	e := newEnv(t)
	e.seed()
	glnOf := func(digits string) string {
		c, err := gs1.CheckDigit(digits)
		require.NoError(t, err)
		return digits + string(c)
	}
	site, cust := glnOf("950600000001"), glnOf("950600000002")
	require.NoError(t, e.s.PutSite(e.ctx, master.Site{GLN: site, Name: "Plant"}))
	require.NoError(t, e.s.PutPartner(e.ctx, master.Partner{GLN: cust, Name: "Wholesale Ltd"}))
	_, err := e.s.PutPartnerEndpoint(e.ctx, master.PartnerEndpoint{GLN: cust, Kind: master.EndpointDSCSA, URL: "https://partner.example/dscsa"})
	require.NoError(t, err)
	require.NoError(t, e.s.PutLine(e.ctx, master.Line{ID: line1, SiteGLN: site, Name: "Line 1", PasswordHash: "x"}))
	e.order("WO-1", gtinSeq, line1)
	u := e.grant("r1", line1, "WO-1", gtinSeq, 2)
	require.Equal(t, 2, e.apply(line1, u.ev(line1, 1, wire.Commissioned, 0), u.ev(line1, 2, wire.Commissioned, 1)).Applied)
	_, err = e.s.CreateSalesOrder(e.ctx, supply.SalesOrder{ID: "SO-1", CustomerGLN: cust, Currency: "EUR", Lines: []supply.SalesLine{{GTIN: gtinSeq, Quantity: 2, UnitPrice: 100}}})
	require.NoError(t, err)
	_, err = e.s.CreateShipment(e.ctx, supply.Shipment{ID: "SHP-1", SalesOrder: "SO-1", SourceGLN: site})
	require.NoError(t, err)
	_, err = e.s.Pick(e.ctx, "SHP-1", []supply.PickItem{{GTIN: gtinSeq, Serial: u.serial[0]}, {GTIN: gtinSeq, Serial: u.serial[1]}})
	require.NoError(t, err)
	_, err = e.s.ConfirmShipment(e.ctx, "SHP-1", t0.Add(time.Hour))
	require.NoError(t, err)
	// The confirmation queued the document; a sender failed it.
	ms, err := e.s.OutboundMessages(e.ctx, messages.OutboundFilter{Ref: "SHP-1"})
	require.NoError(t, err)
	require.Len(t, ms, 1)
	id := ms[0].ID
	at := time.Now()
	_, err = e.s.ClaimOutbound(e.ctx, id, "sender-1", at.Add(time.Second), at.Add(time.Minute))
	require.NoError(t, err)
	_, err = e.s.RecordOutbound(e.ctx, id, "sender-1", messages.OutboundResult{At: at, Endpoint: "https://partner.example/dscsa", Status: 422,
		Summary: "HTTP 422 Unprocessable Entity: unknown <GLN>", Outcome: messages.AttemptFailed})
	require.NoError(t, err)

	aud := e.signedIn("ursula", auth.RoleAuditor)
	r := aud.get("/shipments/SHP-1")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, fmt.Sprintf(`data-message="%d"`, id))
	require.Contains(t, r.body, "unknown &lt;GLN&gt;", "the partner's answer, escaped")
	require.Contains(t, r.body, `<td class="n">422</td>`)
	require.Contains(t, r.body, "failed")
	require.False(t, r.has(fmt.Sprintf("resend-%d", id)), "an auditor is not offered a resend")
	require.Equal(t, http.StatusForbidden, aud.post(fmt.Sprintf("/outbound/%d/resend", id), url.Values{}, true).status)

	pl := e.signedIn("paul", auth.RolePlanner)
	r = pl.get("/shipments/SHP-1")
	require.True(t, r.has(fmt.Sprintf("resend-%d", id)))
	r = pl.post(fmt.Sprintf("/outbound/%d/resend", id), url.Values{}, true)
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, "/shipments/SHP-1?ok=resent", r.header.Get("Location"))
	require.Contains(t, pl.get("/shipments/SHP-1?ok=resent").body, "queued again")
	m, err := e.s.OutboundMessage(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, messages.OutboundPending, m.State)
	entries, err := e.s.Audit(e.ctx, audit.Filter{Entity: "outbound", EntityID: fmt.Sprint(id)})
	require.NoError(t, err)
	require.Equal(t, "resend", entries[len(entries)-1].Action)
	require.Contains(t, entries[len(entries)-1].Actor, "paul")
	require.Equal(t, http.StatusNotFound, pl.get("/shipments/NOPE").status)
}
