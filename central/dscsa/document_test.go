package dscsa_test

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
)

// node is an XML element as read back: name (with its namespace),
// attributes, text and children.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func parseTree(tb testing.TB, b []byte) node {
	tb.Helper()
	var n node
	require.NoError(tb, xml.Unmarshal(b, &n))
	return n
}

// all returns the descendants at path (local names, "/"-separated).
func (n node) all(path string) []node {
	parts := strings.Split(path, "/")
	cur := []node{n}
	for _, p := range parts {
		var next []node
		for _, c := range cur {
			for _, k := range c.Nodes {
				if k.XMLName.Local == p {
					next = append(next, k)
				}
			}
		}
		cur = next
	}
	return cur
}

func (n node) one(tb testing.TB, path string) node {
	tb.Helper()
	got := n.all(path)
	require.Len(tb, got, 1, "exactly one %s", path)
	return got[0]
}

func (n node) text(tb testing.TB, path string) string {
	tb.Helper()
	return strings.TrimSpace(n.one(tb, path).Text)
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// attrs is a vocabulary element's attributes by id.
func (n node) attrs() map[string]string {
	out := map[string]string{}
	for _, a := range n.all("attribute") {
		out[strings.TrimPrefix(a.attr("id"), "urn:epcglobal:cbv:mda#")] = strings.TrimSpace(a.Text)
	}
	return out
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestDocument12: the document the customer gets by default is EPCIS
// 1.2 as GS1 US's guideline shapes it, element by element, and GS1's
// EPCIS 1.2 XSD (with the SBDH) validates it.
func TestDocument12(t *testing.T) {
	w := newWorld(t, storetest.SQLiteDSN(t))
	w.confirm(t)
	doc, err := dscsa.XML(w.ctx, w.s, "SHP-1", "")
	require.NoError(t, err)
	require.Equal(t, master.EPCIS12, doc.Version, "the partner's default")
	root := parseTree(t, doc.Body)
	require.Equal(t, xml.Name{Space: "urn:epcglobal:epcis:xsd:1", Local: "EPCISDocument"}, root.XMLName)
	require.Equal(t, "1.2", root.attr("schemaVersion"))

	// SBDH: GLNs under Authority GS1, the document's identification.
	h := root.one(t, "EPCISHeader/StandardBusinessDocumentHeader")
	require.Equal(t, dscsa.NSSBDH, h.XMLName.Space)
	require.Equal(t, "1.0", h.text(t, "HeaderVersion"))
	for _, p := range []struct{ path, gln string }{{"Sender/Identifier", w.site}, {"Receiver/Identifier", w.customer}} {
		id := h.one(t, p.path)
		require.Equal(t, "GS1", id.attr("Authority"), p.path)
		require.Equal(t, p.gln, strings.TrimSpace(id.Text), p.path)
		require.Len(t, p.gln, 13)
	}
	di := h.one(t, "DocumentIdentification")
	require.Equal(t, "EPCglobal", di.text(t, "Standard"))
	require.Equal(t, "1.0", di.text(t, "TypeVersion"))
	require.Equal(t, "Events", di.text(t, "Type"))
	require.Regexp(t, uuidRE, di.text(t, "InstanceIdentifier"))
	require.Equal(t, doc.ID, di.text(t, "InstanceIdentifier"))
	require.Equal(t, root.attr("creationDate"), di.text(t, "CreationDateAndTime"))

	// The transaction statement, affirmed, and the guideline version, in
	// the header.
	ts := root.one(t, "EPCISHeader/dscsaTransactionStatement")
	require.Equal(t, dscsa.NSGS1USHC, ts.XMLName.Space)
	require.Equal(t, "true", ts.text(t, "affirmTransactionStatement"))
	require.Equal(t, dscsa.Statement, ts.text(t, "legalNotice"))
	require.Equal(t, dscsa.GuidelineVersion, root.text(t, "EPCISHeader/guidelineVersion"))

	// Master data: the product class and every party and place.
	vocab := map[string][]node{}
	for _, v := range root.all("EPCISHeader/extension/EPCISMasterData/VocabularyList/Vocabulary") {
		vocab[v.attr("type")] = v.all("VocabularyElementList/VocabularyElement")
	}
	classes := vocab["urn:epcglobal:epcis:vtype:EPCClass"]
	require.Len(t, classes, 1)
	require.Equal(t, "urn:epc:idpat:sgtin:0312345.067890.*", classes[0].attr("id"))
	require.Equal(t, map[string]string{
		"regulatedProductName": "Paracetamol 500 mg tablets", "manufacturerOfTradeItemPartyName": "Serialine Pharma Plant",
		"dosageFormType": "TABLET", "strengthDescription": "500 mg", "netContentDescription": "20 TABLET",
		"additionalTradeItemIdentification": "12345067890", "additionalTradeItemIdentificationTypeCode": "FDA_NDC_11",
	}, classes[0].attrs())
	siteSGLN, fromSGLN, custSGLN := "urn:epc:id:sgln:0312345.00001.0", "urn:epc:id:sgln:0312345.00003.D1", "urn:epc:id:sgln:0614141.00002.0"
	places := map[string]map[string]string{}
	for _, el := range vocab["urn:epcglobal:epcis:vtype:Location"] {
		places[el.attr("id")] = el.attrs()
	}
	plant := map[string]string{"streetAddressOne": "1 Factory Rd", "city": "Durham", "state": "NC", "postalCode": "27701", "countryCode": "US"}
	depot := map[string]string{"streetAddressOne": "9 Depot Ave", "city": "Newark", "state": "NJ", "postalCode": "07102", "countryCode": "US"}
	with := func(m map[string]string, name string) map[string]string {
		out := map[string]string{"name": name}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	require.Equal(t, map[string]map[string]string{
		siteSGLN: with(plant, "Serialine Pharma Plant"),
		fromSGLN: with(plant, "Serialine Pharma Plant, Dispatch"),
		custSGLN: with(depot, "Wholesale Ltd"),
	}, places)

	// Events: the repository's per-unit commissioning, the packing, the
	// shipping.
	body := root.one(t, "EPCISBody/EventList")
	var commissioned []string
	objects := body.all("ObjectEvent")
	require.Len(t, objects, 23, "22 commissioning events and the shipping")
	for _, e := range objects[:22] {
		require.Equal(t, "ADD", e.text(t, "action"))
		require.Equal(t, "urn:epcglobal:cbv:bizstep:commissioning", e.text(t, "bizStep"))
		require.Equal(t, "urn:epcglobal:cbv:disp:active", e.text(t, "disposition"))
		require.Equal(t, siteSGLN, e.text(t, "readPoint/id"))
		require.Equal(t, siteSGLN, e.text(t, "bizLocation/id"))
		require.Equal(t, lot, e.text(t, "extension/ilmd/lotNumber"), "1.2 carries ILMD in the extension")
		require.Equal(t, "2028-12-31", e.text(t, "extension/ilmd/itemExpirationDate"))
		require.Equal(t, "urn:epcglobal:cbv:mda", e.one(t, "extension/ilmd/lotNumber").XMLName.Space)
		epcs := e.all("epcList/epc")
		require.Len(t, epcs, 1, "one event per unit, as the line reported it")
		commissioned = append(commissioned, strings.TrimSpace(epcs[0].Text))
	}
	var want []string
	for _, sn := range w.shipped {
		u, err := gs1.SGTINURI(gtin, sn, 7)
		require.NoError(t, err)
		want = append(want, u)
	}
	require.ElementsMatch(t, want, commissioned, "every shipped unit's commissioning, no other")
	aggs := body.all("AggregationEvent")
	require.Len(t, aggs, 3)
	palletURI, err := gs1.SSCCURI(gs1.SSCC(w.pallet), 7)
	require.NoError(t, err)
	require.Equal(t, palletURI, aggs[2].text(t, "parentID"), "the pallet after its cases")
	require.Len(t, aggs[2].all("childEPCs/epc"), 2)
	for _, a := range aggs[:2] {
		require.Len(t, a.all("childEPCs/epc"), 10)
		require.Equal(t, "urn:epcglobal:cbv:bizstep:packing", a.text(t, "bizStep"))
	}
	ship := objects[22]
	require.Equal(t, "OBSERVE", ship.text(t, "action"))
	require.Equal(t, "urn:epcglobal:cbv:bizstep:shipping", ship.text(t, "bizStep"))
	require.Equal(t, "urn:epcglobal:cbv:disp:in_transit", ship.text(t, "disposition"))
	require.Len(t, ship.all("epcList/epc"), 3, "the pallet and two loose units")
	btx := map[string]string{}
	for _, b := range ship.all("bizTransactionList/bizTransaction") {
		btx[b.attr("type")] = strings.TrimSpace(b.Text)
	}
	require.Equal(t, map[string]string{"urn:epcglobal:cbv:btt:po": "urn:epcglobal:cbv:bt:" + w.customer + ":PO-77",
		"urn:epcglobal:cbv:btt:desadv": "urn:epcglobal:cbv:bt:" + w.dock + ":SHP-1"}, btx)
	sd := func(path string) map[string]string {
		out := map[string]string{}
		for _, x := range ship.all(path) {
			out[x.attr("type")] = strings.TrimSpace(x.Text)
		}
		return out
	}
	require.Equal(t, map[string]string{"urn:epcglobal:cbv:sdt:owning_party": siteSGLN, "urn:epcglobal:cbv:sdt:location": fromSGLN},
		sd("extension/sourceList/source"), "1.2 extension form")
	require.Equal(t, map[string]string{"urn:epcglobal:cbv:sdt:owning_party": custSGLN, "urn:epcglobal:cbv:sdt:location": custSGLN},
		sd("extension/destinationList/destination"))
	require.Empty(t, ship.all("sourceList"), "not at the 2.0 place")

	path := filepath.Join(t.TempDir(), "dscsa-1.2.xml")
	require.NoError(t, os.WriteFile(path, doc.Body, 0o600))
	msg, code := testkit.RunValidator(t, "validate-epcis-xml", path)
	require.Equal(t, 0, code, "EPCIS 1.2 XSD with SBDH: %s", msg)
	require.Contains(t, msg, "1.2", "validated as 1.2, picked by its namespace")

	again, err := dscsa.XML(w.ctx, w.s, "SHP-1", "")
	require.NoError(t, err)
	require.NotEqual(t, doc.ID, again.ID, "an instance identifier per document")
}

// TestDocument20: ?version=2.0 (or a partner on 2.0) gets the same
// document as EPCIS 2.0 XML, valid against GS1's 2.0 XSD.
func TestDocument20(t *testing.T) {
	w := newWorld(t, storetest.SQLiteDSN(t))
	w.confirm(t)
	doc, err := dscsa.XML(w.ctx, w.s, "SHP-1", master.EPCIS20)
	require.NoError(t, err)
	root := parseTree(t, doc.Body)
	require.Equal(t, xml.Name{Space: "urn:epcglobal:epcis:xsd:2", Local: "EPCISDocument"}, root.XMLName)
	require.Equal(t, "2.0", root.attr("schemaVersion"))
	h := root.one(t, "EPCISHeader/StandardBusinessDocumentHeader")
	require.Equal(t, "GS1", h.one(t, "Sender/Identifier").attr("Authority"))
	require.Equal(t, "2.0", h.text(t, "DocumentIdentification/TypeVersion"))
	require.Equal(t, "true", root.text(t, "dscsaTransactionStatement/affirmTransactionStatement"), "after the body, where 2.0 takes it")
	require.Empty(t, root.all("EPCISHeader/dscsaTransactionStatement"))
	objects := root.all("EPCISBody/EventList/ObjectEvent")
	require.Equal(t, lot, objects[0].text(t, "ilmd/lotNumber"), "2.0 carries ILMD in the event")
	require.Len(t, objects[len(objects)-1].all("sourceList/source"), 2)

	path := filepath.Join(t.TempDir(), "dscsa-2.0.xml")
	require.NoError(t, os.WriteFile(path, doc.Body, 0o600))
	msg, code := testkit.RunValidator(t, "validate-epcis-xml", "--version", "2.0", path)
	require.Equal(t, 0, code, "EPCIS 2.0 XSD: %s", msg)

	// A partner on 2.0 gets 2.0 without asking.
	p, err := w.s.Partner(w.ctx, w.customer)
	require.NoError(t, err)
	p.EPCISVersion = master.EPCIS20
	require.NoError(t, w.s.PutPartner(w.ctx, p))
	doc, err = dscsa.XML(w.ctx, w.s, "SHP-1", "")
	require.NoError(t, err)
	require.Equal(t, master.EPCIS20, doc.Version)
	// And the JSON-LD binding of the same model passes GS1's JSON Schema.
	d, err := dscsa.Document(w.ctx, w.s, "SHP-1")
	require.NoError(t, err)
	js, err := epcis.MarshalJSONLD(d)
	require.NoError(t, err)
	jpath := filepath.Join(t.TempDir(), "shp.jsonld")
	require.NoError(t, os.WriteFile(jpath, js, 0o600))
	msg, code = testkit.RunValidator(t, "validate-epcis-json", "--schema", "modular", jpath)
	require.Equal(t, 0, code, "JSON Schema: %s", msg)
}

// TestDocumentPartnerWithoutPrefix: a partner whose company prefix
// length is unknown is named by a GS1 Digital Link (the same GLN), in
// the events and the master data alike.
func TestDocumentPartnerWithoutPrefix(t *testing.T) {
	w := newWorld(t, storetest.SQLiteDSN(t))
	p, err := w.s.Partner(w.ctx, w.customer)
	require.NoError(t, err)
	p.CompanyPrefixLen = 0
	require.NoError(t, w.s.PutPartner(w.ctx, p))
	w.confirm(t)
	doc, err := dscsa.XML(w.ctx, w.s, "SHP-1", "")
	require.NoError(t, err)
	root := parseTree(t, doc.Body)
	ship := root.all("EPCISBody/EventList/ObjectEvent")
	dest := ship[len(ship)-1].all("extension/destinationList/destination")
	require.Equal(t, "https://id.gs1.org/417/"+w.customer, strings.TrimSpace(dest[0].Text))
	ids := map[string]bool{}
	for _, el := range root.all("EPCISHeader/extension/EPCISMasterData/VocabularyList/Vocabulary/VocabularyElementList/VocabularyElement") {
		ids[el.attr("id")] = true
	}
	for _, d := range dest {
		require.True(t, ids[strings.TrimSpace(d.Text)], "master data for %s", d.Text)
	}
}
