package api_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
)

// inboundDoc is a partner's EPCIS 1.2 document shipping loose units of
// gtinSeq to receiver: those in serials commissioned in it (lot L-IN,
// expiry 2029-06-30), those in unknown not.
func inboundDoc(tb testing.TB, sender, receiver, id string, serials, unknown []string) string {
	tb.Helper()
	epc := func(sn string) string {
		u, err := gs1.SGTINURI(gtinSeq, sn, 7)
		if err != nil {
			tb.Fatal(err)
		}
		return "<epc>" + u + "</epc>"
	}
	var comm, ship strings.Builder
	for _, sn := range serials {
		comm.WriteString(epc(sn))
		ship.WriteString(epc(sn))
	}
	for _, sn := range unknown {
		ship.WriteString(epc(sn))
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" xmlns:sbdh="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
 xmlns:cbvmda="urn:epcglobal:cbv:mda" xmlns:gs1ushc="http://epcis.gs1us.org/hc/ns" schemaVersion="1.2" creationDate="2026-06-01T10:00:00Z">
<EPCISHeader><sbdh:StandardBusinessDocumentHeader><sbdh:HeaderVersion>1.0</sbdh:HeaderVersion>
<sbdh:Sender><sbdh:Identifier Authority="GS1">%s</sbdh:Identifier></sbdh:Sender>
<sbdh:Receiver><sbdh:Identifier Authority="GS1">%s</sbdh:Identifier></sbdh:Receiver>
<sbdh:DocumentIdentification><sbdh:Standard>EPCglobal</sbdh:Standard><sbdh:TypeVersion>1.0</sbdh:TypeVersion>
<sbdh:InstanceIdentifier>%s</sbdh:InstanceIdentifier><sbdh:Type>Events</sbdh:Type><sbdh:CreationDateAndTime>2026-06-01T10:00:00Z</sbdh:CreationDateAndTime>
</sbdh:DocumentIdentification></sbdh:StandardBusinessDocumentHeader>
<gs1ushc:dscsaTransactionStatement><gs1ushc:affirmTransactionStatement>true</gs1ushc:affirmTransactionStatement></gs1ushc:dscsaTransactionStatement>
</EPCISHeader><EPCISBody><EventList>
<ObjectEvent><eventTime>2026-06-01T08:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset><epcList>%s</epcList>
<action>ADD</action><bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep><disposition>urn:epcglobal:cbv:disp:active</disposition>
<extension><ilmd><cbvmda:lotNumber>L-IN</cbvmda:lotNumber><cbvmda:itemExpirationDate>2029-06-30</cbvmda:itemExpirationDate></ilmd></extension></ObjectEvent>
<ObjectEvent><eventTime>2026-06-01T09:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset><epcList>%s</epcList>
<action>OBSERVE</action><bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep><disposition>urn:epcglobal:cbv:disp:in_transit</disposition></ObjectEvent>
</EventList></EPCISBody></epcis:EPCISDocument>`, sender, receiver, id, comm.String(), ship.String())
}

// received makes a receipt from the fixture's partner (with an unknown
// serial when withException) and returns its id.
func (e *env) received(tb testing.TB, f *fixture, withException bool) int64 {
	tb.Helper()
	n := e.next()
	var unknown []string
	if withException {
		unknown = []string{fmt.Sprintf("UNK%d", n)}
	}
	raw := inboundDoc(tb, f.partnerGLN, f.siteGLN, fmt.Sprintf("DOC-%d", n), []string{fmt.Sprintf("IN%d", n)}, unknown)
	in, err := dscsa.ParseInbound(strings.NewReader(raw), dscsa.Limits{})
	require.NoError(tb, err)
	rc, err := dscsa.Receive(e.ctx, e.s, in, []byte(raw), func(string) bool { return true }, slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	return rc.ID
}

// TestInboundAPI: a partner posts its document with its token and gets
// 202 with the receipt; it reads its own receipts and no other partner's;
// a document from another GLN, of another type, malformed or too large is
// refused before anything is stored.
func TestInboundAPI(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t), func(d *api.Deps) { d.MaxInboundBytes = 8 << 10 })
	f := e.fixture(t)
	post := func(tok, body, ctype string) response {
		return e.call(t, tok, req{method: "POST", path: "/api/v1/dscsa/inbound", body: body, ctype: ctype})
	}
	doc := inboundDoc(t, f.partnerGLN, f.siteGLN, "ASN-1", []string{"P1", "P2"}, []string{"P9"})
	resp := post(e.tokens[auth.RolePartner], doc, "application/xml")
	require.Equal(t, http.StatusAccepted, resp.status, "%s", resp.body)
	var rc supply.Receipt
	resp.json(t, &rc)
	require.Equal(t, 2, rc.Units)
	require.Len(t, rc.Exceptions, 1)
	require.Equal(t, supply.ExceptionUnknownSerial, rc.Exceptions[0].Kind)
	require.Equal(t, f.partnerGLN, rc.Partner)
	require.Contains(t, rc.ReceivedBy, "partner "+f.partnerGLN, "attributed to the partner's token")

	path := fmt.Sprintf("/api/v1/receipts/%d", rc.ID)
	require.Equal(t, http.StatusOK, e.as(t, auth.RolePartner, req{method: "GET", path: path}).status)
	require.Equal(t, http.StatusOK, e.as(t, auth.RoleQA, req{method: "GET", path: path}).status)
	other := testkit.WithCheckDigit(t, "950600000077")
	require.NoError(t, e.s.PutPartner(e.ctx, master.Partner{GLN: other, Name: "Other Wholesale"}))
	otherTok, _, err := auth.IssuePartnerToken(e.ctx, e.s, "other-edi", other)
	require.NoError(t, err)
	resp = e.call(t, otherTok, req{method: "GET", path: path})
	require.Equal(t, http.StatusNotFound, resp.status, "another partner's receipt is not found")
	resp = e.call(t, otherTok, req{method: "GET", path: path + "/document"})
	require.Equal(t, http.StatusNotFound, resp.status)
	resp = e.as(t, auth.RolePartner, req{method: "GET", path: path + "/document"})
	require.Equal(t, doc, string(resp.body), "kept as sent")

	before := e.auditCount(t)
	for _, tc := range []struct {
		name, tok, body, ctype string
		status                 int
		field                  string
	}{
		{"another GLN's document", otherTok, doc, "application/xml", http.StatusForbidden, "sender"},
		{"not XML", e.tokens[auth.RolePartner], `{"a": 1}`, "application/json", http.StatusUnsupportedMediaType, "Content-Type"},
		{"malformed", e.tokens[auth.RolePartner], "<epcis:EPCISDocument", "application/xml", http.StatusUnprocessableEntity, "document"},
		{"too large", e.tokens[auth.RolePartner], doc + strings.Repeat(" ", 8<<10), "application/xml", http.StatusRequestEntityTooLarge, ""},
		{"a planner may not post", e.tokens[auth.RolePlanner], doc, "application/xml", http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(tc.tok, tc.body, tc.ctype)
			require.Equal(t, tc.status, resp.status, "%s", resp.body)
			require.Equal(t, tc.field, resp.apiErr(t).Field)
		})
	}
	require.Equal(t, before, e.auditCount(t), "nothing stored")

	resp = e.as(t, auth.RoleQA, req{method: "GET", path: "/api/v1/exceptions?state=open&kind=unknown_serial"})
	require.Equal(t, http.StatusOK, resp.status)
	var ex struct {
		Exceptions []supply.ReceiptException `json:"exceptions"`
	}
	resp.json(t, &ex)
	require.Len(t, ex.Exceptions, 1)
	resp = e.as(t, auth.RoleQA, req{method: "POST", path: fmt.Sprintf("/api/v1/exceptions/%d/resolve", ex.Exceptions[0].ID),
		body: `{"resolution": "the partner corrected its data"}`})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
}

// TestInvestigationAndTraceAPI: QA quarantines a unit (picking refused),
// records it illegitimate with the Form 3911 data; an auditor reads the
// investigation with the product data FDA wants; a tracing request gets
// the TI, TH and TS as JSON and the events as EPCIS XML.
func TestInvestigationAndTraceAPI(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	unit := e.freshUnits(t, f, 1)[0]
	resp := e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/investigations",
		body: testkit.MustJSON(t, map[string]any{"scope": "units", "gtin": gtinRand, "serials": []string{unit}, "reason": "damaged seal"})})
	require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
	var v supply.Investigation
	resp.json(t, &v)
	so := e.salesOrder(t, f, 1)
	_, err := e.s.CreateShipment(e.ctx, supply.Shipment{ID: "SHP-Q", SalesOrder: so, SourceGLN: f.siteGLN})
	require.NoError(t, err)
	resp = e.as(t, auth.RolePlanner, req{method: "POST", path: "/api/v1/shipments/SHP-Q/picks",
		body: testkit.MustJSON(t, map[string]any{"picks": []map[string]string{{"gtin": gtinRand, "serial": unit}}})})
	require.Equal(t, http.StatusUnprocessableEntity, resp.status)
	require.Contains(t, resp.apiErr(t).Message, "investigation")

	path := fmt.Sprintf("/api/v1/investigations/%d", v.ID)
	resp = e.as(t, auth.RoleQA, req{method: "POST", path: path + "/outcome", body: `{"outcome": "illegitimate", "note": "lab: counterfeit"}`})
	require.Equal(t, http.StatusUnprocessableEntity, resp.status)
	require.Equal(t, "form_3911", resp.apiErr(t).Field)
	resp = e.as(t, auth.RoleQA, req{method: "POST", path: path + "/outcome", body: testkit.MustJSON(t, map[string]any{"outcome": "illegitimate", "note": "lab: counterfeit",
		"form_3911": map[string]string{"classification": "illegitimate", "type": "counterfeit", "description": "wrong colour", "how_discovered": "complaint",
			"contact_name": "Quinn", "contact_phone": "+1 919 555 0100", "contact_email": "qa@example.com"}})})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	resp = e.as(t, auth.RoleAuditor, req{method: "GET", path: path})
	require.Equal(t, http.StatusOK, resp.status)
	var got struct {
		State   string `json:"state"`
		Product struct {
			NDC     string   `json:"ndc"`
			Lots    []string `json:"lots"`
			Serials []string `json:"serials"`
		} `json:"product"`
		Form struct {
			Type string `json:"type"`
		} `json:"form_3911"`
	}
	resp.json(t, &got)
	require.Equal(t, "illegitimate", got.State)
	require.Equal(t, testkit.NDC(gtinRand), got.Product.NDC)
	require.Equal(t, []string{lot}, got.Product.Lots)
	require.Equal(t, []string{unit}, got.Product.Serials)
	require.Equal(t, "counterfeit", got.Form.Type)

	id, units := e.shipment(t, f, nil, true)
	resp = e.as(t, auth.RoleAuditor, req{method: "GET", path: "/api/v1/trace?gtin=" + gtinRand + "&serial=" + units[0]})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var tr struct {
		Transactions []struct {
			Kind string `json:"kind"`
			Ref  string `json:"ref"`
			TS   struct {
				Statement string `json:"statement"`
			} `json:"transaction_statement"`
		} `json:"transactions"`
	}
	resp.json(t, &tr)
	require.Len(t, tr.Transactions, 1)
	require.Equal(t, id, tr.Transactions[0].Ref)
	require.Equal(t, dscsa.Statement, tr.Transactions[0].TS.Statement)
	resp = e.as(t, auth.RoleQA, req{method: "GET", path: "/api/v1/trace?format=epcis&gtin=" + gtinRand + "&serial=" + units[0]})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.Equal(t, "application/xml", resp.header.Get("Content-Type"))
	require.Contains(t, string(resp.body), "shipping")
	resp = e.as(t, auth.RoleQA, req{method: "GET", path: "/api/v1/trace?gtin=" + gtinRand})
	require.Equal(t, http.StatusBadRequest, resp.status)
	require.Equal(t, http.StatusForbidden, e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/trace?gtin=" + gtinRand + "&serial=" + units[0]}).status)
}
