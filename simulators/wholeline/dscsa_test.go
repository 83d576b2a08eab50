package wholeline_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/outbound/outboundtest"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
)

// partnerEndpoint is a wholesaler's DSCSA endpoint: HTTPS that demands a
// client certificate from its own CA, down for its first attempts.
type partnerEndpoint struct {
	mu       sync.Mutex
	failures int      // answers 503 to this many requests first
	requests []string // every body that came, in order
	accepted []string // the bodies it took (2xx)
	clients  []string // the client certificate's subject of each request
}

func (p *partnerEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, string(b))
	cn := ""
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cn = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	p.clients = append(p.clients, cn)
	if len(p.requests) <= p.failures {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "maintenance window\nstack: internal detail that must not be shown")
		return
	}
	p.accepted = append(p.accepted, string(b))
	w.WriteHeader(http.StatusAccepted)
}

func (p *partnerEndpoint) seen() (requests, accepted, clients []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...), append([]string(nil), p.accepted...), append([]string(nil), p.clients...)
}

// TestDSCSADocumentToPartner is issue 12's system test: a simulated
// line's production, packed at the line into two cases on a pallet, is
// sold and shipped; central's outbound queue sends the DSCSA document
// (EPCIS 1.2, as the wholesaler takes it) to the wholesaler's HTTPS
// endpoint, which checks central's client certificate and fails its
// first two attempts: the document arrives once, after the retries, the
// same bytes every time, and every attempt is visible in the API with the
// partner's status and a short summary.
func TestDSCSADocumentToPartner(t *testing.T) {
	const units, caseSize, palletSize = 14, 5, 2
	s := newSystem(t)
	pk := startPacking(t, caseSize, palletSize)
	r := s.addLine(t, "L1", lineOpts{units: units, speed: 1_200, packing: pk})
	r.startEdge(t)
	r.run(t)
	r.awaitUnits(t, units)
	good := r.state(t).Counts.Good
	require.GreaterOrEqual(t, good, uint64(caseSize*palletSize))
	require.Eventually(t, func() bool {
		var o orderView
		code, _ := s.api.do(t, "GET", "/api/v1/orders/"+r.order, nil, &o)
		return code == http.StatusOK && o.Reconciliation.Commissioned == good
	}, wait, 20*time.Millisecond, "central has the commissioned units")
	rows, err := s.db(t).Query(testkit.ContextFor(t, wait), "SELECT serial FROM units WHERE order_id = $1 AND state = 'commissioned' ORDER BY serial", r.order)
	require.NoError(t, err)
	var commissioned []string
	for rows.Next() {
		var sn string
		require.NoError(t, rows.Scan(&sn))
		commissioned = append(commissioned, sn)
	}
	require.NoError(t, rows.Err())
	packed := commissioned[:caseSize*palletSize]
	for _, sn := range packed {
		es := gs1.ElementString{{AI: "01", Value: gtin}, {AI: "17", Value: expiry}, {AI: "10", Value: "LOT-" + r.id}, {AI: "21", Value: sn}}
		pk.scan(t, r, es.Sorted().Transmitted())
	}
	var pallet string
	require.Eventually(t, func() bool {
		for _, c := range r.state(t).Packing.LastClosed {
			if c.Level == "pallet" {
				pallet = c.SSCC
				return true
			}
		}
		return false
	}, wait, 20*time.Millisecond, "the pallet closed when full")
	v := r.finish(t, units)
	s.agree(t, r, v, nil)

	// Master data: our plant (our company prefix), the wholesaler with its
	// endpoint: HTTPS with a client certificate from the wholesaler's CA.
	ours, customer := testkit.GLN(t, gtin[1:8]+"00001"), testkit.GLN(t, "061414100002")
	plant := map[string]string{"street": "1 Plant Road", "city": "Durham", "state": "NC", "postal_code": "27701", "country": "US"}
	s.api.must(t, "PUT", "/api/v1/sites/"+ours, map[string]any{"name": "Serialine Pharma plant", "address": plant}, nil)
	s.api.must(t, "PUT", "/api/v1/locations/"+ours+"/WH1", map[string]string{"site_gln": ours, "name": "Finished goods"}, nil)
	s.api.must(t, "PUT", "/api/v1/partners/"+customer, map[string]any{"name": "Acme Wholesale", "company_prefix_len": 7,
		"address": map[string]string{"street": "9 Market St", "city": "Newark", "state": "NJ", "postal_code": "07102", "country": "US"}}, nil)
	serverCA, clientCA := outboundtest.NewCA(t, "Acme server CA"), outboundtest.NewCA(t, "Acme client CA")
	ep := &partnerEndpoint{failures: 2}
	srv := outboundtest.Server(t, ep, serverCA, clientCA)
	cert := clientCA.Issue(t, "serialine-central", false)
	s.api.must(t, "PUT", "/api/v1/partners/"+customer+"/endpoints/dscsa", map[string]string{"url": srv.URL + "/dscsa/inbound",
		"auth": "mtls", "client_cert": cert.CertPEM, "client_key": cert.KeyPEM, "ca_cert": serverCA.PEM}, nil)
	var shown master.PartnerEndpoint
	s.api.must(t, "GET", "/api/v1/partners/"+customer+"/endpoints/dscsa", nil, &shown)
	require.True(t, shown.ClientKeySet)
	require.Empty(t, shown.ClientKey, "the key is never shown")

	// Sell the pallet and ship it: the confirmation queues the document.
	s.api.must(t, "POST", "/api/v1/sales-orders", map[string]any{"id": "SO-1", "customer_gln": customer, "po_number": "PO-4711", "currency": "USD",
		"lines": []map[string]any{{"gtin": gtin, "quantity": len(packed), "unit_price": 1250}}}, nil)
	s.api.must(t, "POST", "/api/v1/shipments", map[string]string{"id": "SHP-1", "sales_order": "SO-1", "source_gln": ours, "source_extension": "WH1"}, nil)
	s.api.must(t, "POST", "/api/v1/shipments/SHP-1/picks", map[string]any{"picks": []map[string]string{{"sscc": pallet}}}, nil)
	s.api.must(t, "POST", "/api/v1/shipments/SHP-1/confirm", map[string]any{}, nil)

	var msg messages.OutboundMessage
	require.Eventually(t, func() bool {
		var out struct {
			Messages []messages.OutboundMessage `json:"messages"`
		}
		s.api.must(t, "GET", "/api/v1/shipments/SHP-1/outbound", nil, &out)
		if len(out.Messages) != 1 {
			return false
		}
		msg = out.Messages[0]
		require.NotEqual(t, messages.OutboundFailed, msg.State, "%+v", msg)
		return msg.State == messages.OutboundDelivered
	}, wait, 50*time.Millisecond, "the document is delivered")

	requests, accepted, clients := ep.seen()
	require.Len(t, accepted, 1, "the document arrives once")
	require.Len(t, requests, 3, "after two refused attempts")
	for i, b := range requests {
		require.Equal(t, accepted[0], b, "attempt %d sent the same document", i+1)
		require.Equal(t, "serialine-central", clients[i], "central presented its client certificate")
	}
	require.Equal(t, 3, msg.Attempts)
	require.Len(t, msg.History, 3)
	for i, want := range []struct {
		status  int
		outcome string
	}{{503, messages.AttemptRetry}, {503, messages.AttemptRetry}, {202, messages.AttemptDelivered}} {
		a := msg.History[i]
		require.Equal(t, want.status, a.Status, "attempt %d", i+1)
		require.Equal(t, want.outcome, a.Outcome, "attempt %d", i+1)
		require.NotContains(t, a.Summary, "stack", "the partner's answer is summarised, not reflected")
	}
	require.Equal(t, "HTTP 503 Service Unavailable: maintenance window", msg.History[0].Summary)

	// What arrived is the DSCSA EPCIS 1.2 document of exactly the shipment.
	path := filepath.Join(t.TempDir(), "received.xml")
	require.NoError(t, os.WriteFile(path, []byte(accepted[0]), 0o600))
	out, code := testkit.RunValidator(t, "validate-epcis-xml", path)
	require.Zero(t, code, "GS1's EPCIS 1.2 XSD with the SBDH: %s", out)
	var doc struct {
		XMLName xml.Name
		Sender  struct {
			Authority string `xml:"Authority,attr"`
			Value     string `xml:",chardata"`
		} `xml:"EPCISHeader>StandardBusinessDocumentHeader>Sender>Identifier"`
		Instance  string   `xml:"EPCISHeader>StandardBusinessDocumentHeader>DocumentIdentification>InstanceIdentifier"`
		Affirm    string   `xml:"EPCISHeader>dscsaTransactionStatement>affirmTransactionStatement"`
		Commision []string `xml:"EPCISBody>EventList>ObjectEvent>epcList>epc"`
	}
	require.NoError(t, xml.Unmarshal([]byte(accepted[0]), &doc))
	require.Equal(t, "urn:epcglobal:epcis:xsd:1", doc.XMLName.Space)
	require.Equal(t, "GS1", doc.Sender.Authority)
	require.Equal(t, ours, strings.TrimSpace(doc.Sender.Value))
	require.Equal(t, msg.DocumentID, strings.TrimSpace(doc.Instance))
	require.Equal(t, "true", strings.TrimSpace(doc.Affirm))
	for _, sn := range packed {
		u, err := gs1.SGTINURI(gtin, sn, 7)
		require.NoError(t, err)
		require.Contains(t, doc.Commision, u, "unit %s's commissioning is in the document", sn)
	}
	require.Contains(t, accepted[0], "PO-4711")
}
