package dscsa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
)

const cmoPrefix = "0614141" // the contract manufacturer's company prefix

// cmoDoc is what a contract manufacturer sends: its own EPCIS document,
// written here by hand (not by our writer), 1.2 or 2.0: commissioning of
// units of our GTIN with lot and expiry, packing into cases, shipping.
type cmoDoc struct {
	version, id, sender, receiver string
	lot, expiry                   string // expiry YYYY-MM-DD
	commission                    []string
	cases                         map[string][]string // SSCC → serials
	ship                          []string            // SSCCs and serials shipped (top level)
	noStatement                   bool
}

func sgtin(tb testing.TB, serial string) string {
	tb.Helper()
	u, err := gs1.SGTINURI(gtin, serial, 7)
	require.NoError(tb, err)
	return u
}

func ssccURI(tb testing.TB, s string) string {
	tb.Helper()
	u, err := gs1.SSCCURI(gs1.SSCC(s), 7)
	require.NoError(tb, err)
	return u
}

func (d cmoDoc) xml(tb testing.TB) []byte {
	tb.Helper()
	v12 := d.version == "1.2"
	ns, typeVersion := "urn:epcglobal:epcis:xsd:2", "2.0"
	if v12 {
		ns, typeVersion = "urn:epcglobal:epcis:xsd:1", "1.0"
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w(`<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis=%q xmlns:sbdh="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
  xmlns:cbvmda="urn:epcglobal:cbv:mda" xmlns:gs1ushc="http://epcis.gs1us.org/hc/ns" schemaVersion=%q creationDate="2026-06-01T10:00:00Z">
 <EPCISHeader>
  <sbdh:StandardBusinessDocumentHeader>
   <sbdh:HeaderVersion>1.0</sbdh:HeaderVersion>
   <sbdh:Sender><sbdh:Identifier Authority="GS1">%s</sbdh:Identifier></sbdh:Sender>
   <sbdh:Receiver><sbdh:Identifier Authority="GS1">%s</sbdh:Identifier></sbdh:Receiver>
   <sbdh:DocumentIdentification><sbdh:Standard>EPCglobal</sbdh:Standard><sbdh:TypeVersion>%s</sbdh:TypeVersion>
    <sbdh:InstanceIdentifier>%s</sbdh:InstanceIdentifier><sbdh:Type>Events</sbdh:Type>
    <sbdh:CreationDateAndTime>2026-06-01T10:00:00Z</sbdh:CreationDateAndTime></sbdh:DocumentIdentification>
  </sbdh:StandardBusinessDocumentHeader>
`, ns, d.version, d.sender, d.receiver, typeVersion, d.id)
	statement := !d.noStatement
	if v12 && statement {
		w(`  <gs1ushc:dscsaTransactionStatement><gs1ushc:affirmTransactionStatement>true</gs1ushc:affirmTransactionStatement>
   <gs1ushc:legalNotice>Seller has complied with each applicable subsection of FDCA Sec. 581(27)(A)-(G).</gs1ushc:legalNotice></gs1ushc:dscsaTransactionStatement>
`)
	}
	w(" </EPCISHeader>\n <EPCISBody><EventList>\n")
	cmoSite := "urn:epc:id:sgln:" + cmoPrefix + ".00009.0"
	ilmd := fmt.Sprintf("<ilmd><cbvmda:lotNumber>%s</cbvmda:lotNumber><cbvmda:itemExpirationDate>%s</cbvmda:itemExpirationDate></ilmd>", d.lot, d.expiry)
	if v12 {
		ilmd = "<extension>" + ilmd + "</extension>"
	}
	if len(d.commission) > 0 {
		w("  <ObjectEvent><eventTime>2026-06-01T08:00:00Z</eventTime><eventTimeZoneOffset>-04:00</eventTimeZoneOffset><epcList>")
		for _, sn := range d.commission {
			w("<epc>%s</epc>", sgtin(tb, sn))
		}
		w(`</epcList><action>ADD</action><bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep><disposition>urn:epcglobal:cbv:disp:active</disposition>
   <readPoint><id>%s</id></readPoint><bizLocation><id>%s</id></bizLocation>%s</ObjectEvent>
`, cmoSite, cmoSite, ilmd)
	}
	for sscc, sns := range d.cases {
		w("  <AggregationEvent><eventTime>2026-06-01T08:30:00Z</eventTime><eventTimeZoneOffset>-04:00</eventTimeZoneOffset><parentID>%s</parentID><childEPCs>", ssccURI(tb, sscc))
		for _, sn := range sns {
			w("<epc>%s</epc>", sgtin(tb, sn))
		}
		w("</childEPCs><action>ADD</action><bizStep>urn:epcglobal:cbv:bizstep:packing</bizStep><disposition>urn:epcglobal:cbv:disp:container_closed</disposition><readPoint><id>%s</id></readPoint></AggregationEvent>\n", cmoSite)
	}
	w("  <ObjectEvent><eventTime>2026-06-01T09:00:00Z</eventTime><eventTimeZoneOffset>-04:00</eventTimeZoneOffset><epcList>")
	for _, e := range d.ship {
		if len(e) == 18 {
			w("<epc>%s</epc>", ssccURI(tb, e))
		} else {
			w("<epc>%s</epc>", sgtin(tb, e))
		}
	}
	lists := fmt.Sprintf(`<sourceList><source type="urn:epcglobal:cbv:sdt:owning_party">urn:epc:id:sgln:%s.00009.0</source></sourceList>
   <destinationList><destination type="urn:epcglobal:cbv:sdt:owning_party">https://id.gs1.org/417/%s</destination></destinationList>`, cmoPrefix, d.receiver)
	if v12 {
		lists = "<extension>" + lists + "</extension>"
	}
	w(`</epcList><action>OBSERVE</action><bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep><disposition>urn:epcglobal:cbv:disp:in_transit</disposition>
   <readPoint><id>%s</id></readPoint><bizTransactionList><bizTransaction type="urn:epcglobal:cbv:btt:po">urn:epcglobal:cbv:bt:%s:PO-CMO-1</bizTransaction></bizTransactionList>
   %s</ObjectEvent>
 </EventList></EPCISBody>
`, cmoSite, d.receiver, lists)
	if !v12 && statement {
		w(`<gs1ushc:dscsaTransactionStatement><gs1ushc:affirmTransactionStatement>true</gs1ushc:affirmTransactionStatement></gs1ushc:dscsaTransactionStatement>
`)
	}
	w("</epcis:EPCISDocument>\n")
	return []byte(b.String())
}

// cmoWorld is our store with our product and site, and a contract
// manufacturer as a trading partner.
type cmoWorld struct {
	s         *store.Store
	ctx       context.Context
	site, cmo string
}

func newCMOWorld(t *testing.T, dsn string) *cmoWorld {
	t.Helper()
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "user:test"), 2*time.Minute)
	t.Cleanup(cancel)
	w := &cmoWorld{s: storetest.Open(t, dsn, slog.New(slog.DiscardHandler)), ctx: ctx, site: testkit.GLN(t, prefix+"00001"), cmo: testkit.GLN(t, cmoPrefix+"00009")}
	require.NoError(t, w.s.PutProduct(ctx, master.Product{GTIN: gtin, Name: "Paracetamol 500 mg tablets", CompanyPrefixLen: 7, NDC: "12345-678-90",
		Markets: []master.Market{master.MarketUSDSCSA}, Scheme: serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}}))
	require.NoError(t, w.s.PutSite(ctx, master.Site{GLN: w.site, Name: "Serialine Pharma Plant", Address: plantAddr}))
	require.NoError(t, w.s.PutPartner(ctx, master.Partner{GLN: w.cmo, Name: "Contract Pharma", CompanyPrefixLen: 7}))
	return w
}

func (w *cmoWorld) receive(t *testing.T, d cmoDoc) supply.Receipt {
	t.Helper()
	raw := d.xml(t)
	in, err := dscsa.ParseInbound(bytes.NewReader(raw), dscsa.Limits{})
	require.NoError(t, err)
	rc, err := dscsa.Receive(w.ctx, w.s, in, raw, func(g string) bool { return g == w.cmo }, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return rc
}

func kinds(ex []supply.ReceiptException) map[string][]string {
	out := map[string][]string{}
	for _, e := range ex {
		out[e.Kind] = append(out[e.Kind], e.Serial)
	}
	return out
}

// TestInboundCMOShipment is issue 12's inbound case: a contract
// manufacturer's EPCIS 1.2 shipment of our GTIN (commissioning, packing,
// shipping) creates the units, received, with their lot, expiry and
// case; a second document with one unknown serial and one commissioned
// unit missing from its shipment makes exactly two exceptions.
func TestInboundCMOShipment(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		w := newCMOWorld(t, dsn)
		caseA := testkit.SSCC(t, 0, prefix, 901)
		first := cmoDoc{version: "1.2", id: "CMO-ASN-1", sender: w.cmo, receiver: w.site, lot: "CMO1", expiry: "2029-06-30",
			commission: []string{"C001", "C002", "C003", "C004", "C005", "C006"},
			cases:      map[string][]string{caseA: {"C001", "C002", "C003", "C004", "C005"}},
			ship:       []string{caseA, "C006"}}
		// The partner's document is valid EPCIS 1.2 (with the SBDH) by GS1's XSD.
		path := filepath.Join(t.TempDir(), "cmo.xml")
		require.NoError(t, os.WriteFile(path, first.xml(t), 0o600))
		msg, code := testkit.RunValidator(t, "validate-epcis-xml", path)
		require.Equal(t, 0, code, "%s", msg)

		rc := w.receive(t, first)
		require.Equal(t, 6, rc.Units)
		require.Equal(t, 1, rc.Containers)
		require.Empty(t, rc.Exceptions, "%+v", rc.Exceptions)
		require.True(t, rc.Affirmed)
		require.Equal(t, dscsa.Statement, rc.Statement)
		require.Equal(t, rc.ReceivedAt.Add(supply.ReceiptRetention), rc.RetainUntil, "kept 6 years")
		var sum dscsa.ReceiveSummary
		require.NoError(t, json.Unmarshal(rc.Summary, &sum))
		require.Equal(t, []dscsa.ReceivedLine{{GTIN: gtin, Lot: "CMO1", Expiry: "2029-06-30", Quantity: 6}}, sum.Products)
		require.Equal(t, []dscsa.Typed{{Type: "po", Value: "urn:epcglobal:cbv:bt:" + w.site + ":PO-CMO-1"}}, sum.Transactions)
		require.Equal(t, w.cmo, sum.Sender)
		for _, sn := range first.commission {
			u, err := w.s.Unit(w.ctx, gtin, sn)
			require.NoError(t, err)
			require.Equal(t, supply.StateReceived, u.State)
			require.Equal(t, "CMO1", u.Lot)
			require.Equal(t, "290630", u.Expiry)
		}
		tree, err := w.s.ContainerContents(w.ctx, caseA)
		require.NoError(t, err)
		require.Len(t, tree.Units, 5, "the case holds its five units")
		loose, err := w.s.WhereIs(w.ctx, gtin, "C006")
		require.NoError(t, err)
		require.Empty(t, loose.Case)
		require.Equal(t, w.site, loose.Location, "received at our site")
		doc, err := w.s.ReceiptDocument(w.ctx, rc.ID)
		require.NoError(t, err)
		require.Equal(t, first.xml(t), doc, "the partner's TI and TS kept as sent")
		evs, err := w.s.UnitEPCIS(w.ctx, gtin, "C001")
		require.NoError(t, err)
		require.NotEmpty(t, evs, "the partner's events are in our repository")

		again := w.receive(t, first)
		require.True(t, again.Duplicate)
		require.Equal(t, rc.ID, again.ID, "the same document once")

		caseB := testkit.SSCC(t, 0, prefix, 902)
		second := cmoDoc{version: "1.2", id: "CMO-ASN-2", sender: w.cmo, receiver: w.site, lot: "CMO2", expiry: "2029-07-31",
			commission: []string{"D001", "D002", "D003", "D004"},
			cases:      map[string][]string{caseB: {"D001", "D002", "D003"}},
			ship:       []string{caseB, "X999"}} // X999 never commissioned; D004 commissioned, not shipped
		rc2 := w.receive(t, second)
		require.Equal(t, 3, rc2.Units)
		require.Len(t, rc2.Exceptions, 2)
		require.Equal(t, map[string][]string{supply.ExceptionUnknownSerial: {"X999"}, supply.ExceptionShortage: {"D004"}}, kinds(rc2.Exceptions))
		for _, e := range rc2.Exceptions {
			require.Equal(t, supply.ExceptionOpen, e.State)
		}
		_, err = w.s.Unit(w.ctx, gtin, "X999")
		require.ErrorIs(t, err, sqldb.ErrNotFound, "no unit made of an unknown serial")
		_, err = w.s.Unit(w.ctx, gtin, "D004")
		require.ErrorIs(t, err, sqldb.ErrNotFound, "nor of one that did not come")

		// Units already ours come again: overage.
		third := cmoDoc{version: "2.0", id: "CMO-ASN-3", sender: w.cmo, receiver: w.site, lot: "CMO1", expiry: "2029-06-30",
			commission: []string{"C006"}, ship: []string{"C006"}}
		rc3 := w.receive(t, third)
		require.Zero(t, rc3.Units)
		require.Equal(t, map[string][]string{supply.ExceptionOverage: {"C006"}}, kinds(rc3.Exceptions))
		require.Equal(t, "2.0", rc3.Version)

		open, err := w.s.Exceptions(w.ctx, supply.ExceptionFilter{State: supply.ExceptionOpen})
		require.NoError(t, err)
		require.Len(t, open, 3)
		res, err := w.s.ResolveException(w.ctx, open[0].ID, "the CMO sent corrected data: ASN CMO-ASN-2b")
		require.NoError(t, err)
		require.Equal(t, supply.ExceptionResolved, res.State)
		_, err = w.s.ResolveException(w.ctx, open[0].ID, "again")
		require.ErrorIs(t, err, sqldb.ErrState)
	})
}

// TestInboundRefusals: a document from another GLN than the caller's,
// for a receiver that is not ours, without a shipping event, or beyond
// the limits is refused, naming why; nothing is stored.
func TestInboundRefusals(t *testing.T) {
	w := newCMOWorld(t, storetest.SQLiteDSN(t))
	doc := cmoDoc{version: "1.2", id: "X-1", sender: w.cmo, receiver: w.site, lot: "L", expiry: "2029-01-31",
		commission: []string{"E1"}, ship: []string{"E1"}}
	raw := doc.xml(t)
	in, err := dscsa.ParseInbound(bytes.NewReader(raw), dscsa.Limits{})
	require.NoError(t, err)
	_, err = dscsa.Receive(w.ctx, w.s, in, raw, func(g string) bool { return g == "0614141000036" }, slog.New(slog.DiscardHandler))
	require.ErrorIs(t, err, dscsa.ErrNotYourGLN, "a partner acts for its own GLN")

	other := doc
	other.receiver = testkit.GLN(t, "061414100001")
	raw = other.xml(t)
	in, err = dscsa.ParseInbound(bytes.NewReader(raw), dscsa.Limits{})
	require.NoError(t, err)
	_, err = dscsa.Receive(w.ctx, w.s, in, raw, func(string) bool { return true }, slog.New(slog.DiscardHandler))
	require.ErrorIs(t, err, dscsa.ErrDocument)
	require.ErrorContains(t, err, "is not a site of ours")

	_, err = dscsa.ParseInbound(bytes.NewReader(doc.xml(t)), dscsa.Limits{MaxEvents: 1})
	require.ErrorContains(t, err, "more than 1 events")
	_, err = dscsa.ParseInbound(strings.NewReader(`<x/>`), dscsa.Limits{})
	require.ErrorContains(t, err, "the root element is x")
	_, err = dscsa.ParseInbound(strings.NewReader(`<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1"><EPCISBody>`), dscsa.Limits{})
	require.ErrorContains(t, err, "not well-formed")
	_, err = dscsa.ParseInbound(io.LimitReader(strings.NewReader(string(raw)), 10), dscsa.Limits{})
	require.ErrorIs(t, err, dscsa.ErrDocument)

	noShip := `<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" xmlns:sbdh="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader">
<EPCISHeader><sbdh:StandardBusinessDocumentHeader><sbdh:Sender><sbdh:Identifier>` + w.cmo + `</sbdh:Identifier></sbdh:Sender>
<sbdh:Receiver><sbdh:Identifier>` + w.site + `</sbdh:Identifier></sbdh:Receiver><sbdh:DocumentIdentification><sbdh:InstanceIdentifier>N-1</sbdh:InstanceIdentifier></sbdh:DocumentIdentification>
</sbdh:StandardBusinessDocumentHeader></EPCISHeader><EPCISBody><EventList/></EPCISBody></epcis:EPCISDocument>`
	in, err = dscsa.ParseInbound(strings.NewReader(noShip), dscsa.Limits{})
	require.NoError(t, err)
	_, err = dscsa.Receive(w.ctx, w.s, in, []byte(noShip), func(string) bool { return true }, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "no shipping event")

	noTS := doc
	noTS.id, noTS.noStatement = "X-2", true
	rc := w.receive(t, noTS)
	require.False(t, rc.Affirmed)
	require.Equal(t, map[string][]string{supply.ExceptionStatementMissing: {""}}, kinds(rc.Exceptions))
}

// TestInboundReturn: a customer's document shipping back units we sold
// it makes them returned (verified before they are restocked).
func TestInboundReturn(t *testing.T) {
	w := newWorld(t, storetest.SQLiteDSN(t))
	w.confirm(t)
	back := cmoDoc{version: "1.2", id: "RMA-1", sender: w.customer, receiver: w.site, ship: []string{w.shipped[20], w.shipped[21]}}
	raw := back.xml(t)
	in, err := dscsa.ParseInbound(bytes.NewReader(raw), dscsa.Limits{})
	require.NoError(t, err)
	rc, err := dscsa.Receive(w.ctx, w.s, in, raw, func(g string) bool { return g == w.customer }, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Equal(t, 2, rc.Returned)
	require.Empty(t, rc.Exceptions)
	u, err := w.s.Unit(w.ctx, gtin, w.shipped[20])
	require.NoError(t, err)
	require.Equal(t, supply.StateReturned, u.State)
	ret, err := w.s.LatestReturn(w.ctx, gtin, w.shipped[20])
	require.NoError(t, err)
	require.Equal(t, w.customer, ret.FromGLN)
}
