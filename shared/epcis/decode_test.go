package epcis

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsonDoc wraps events (JSON objects) in an EPCISDocument.
func jsonDoc(events ...string) []byte {
	return []byte(`{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{"ex":"https://ns.example.com/epcis/"}],` +
		`"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2025-01-01T00:00:00Z","epcisBody":{"eventList":[` +
		strings.Join(events, ",") + `]}}`)
}

// jsonEvent is a valid ObjectEvent with extra fields (",\"k\":v" each).
func jsonEvent(extra string) string {
	return `{"type":"ObjectEvent","eventTime":"2025-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00",` +
		`"epcList":["urn:epc:id:sgtin:4012345.012345.1"],"action":"OBSERVE"` + extra + `}`
}

// TestParseJSONLDErrorsNameTheField: every decoder error says where in the
// document it is, and wraps ErrInvalidDocument.
func TestParseJSONLDErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name string
		doc  []byte
		want string
	}{
		{"not JSON", []byte(`{"type":`), "epcis: document: not JSON"},
		{"document type", []byte(`{"type":"EPCISMasterDataDocument"}`), `type: "EPCISMasterDataDocument" is not EPCISDocument or EPCISQueryDocument`},
		{"no body", []byte(`{"type":"EPCISDocument"}`), "epcisBody: is required"},
		{"creationDate", []byte(`{"type":"EPCISDocument","creationDate":"01/02/2025","epcisBody":{"eventList":[]}}`), `creationDate: "01/02/2025" is not an RFC 3339 date-time`},
		{"eventList not a list", []byte(`{"type":"EPCISDocument","epcisBody":{"eventList":{}}}`), "eventList: want a list, got map[string]interface {}"},
		{"event not an object", jsonDoc(jsonEvent(""), `"x"`), "eventList[1]: want an object, got string"},
		{"event type", jsonDoc(`{"type":"ThingEvent","eventTime":"2025-01-01T00:00:00Z"}`), `eventList[0].type: "ThingEvent" is not an EPCIS 2.0 event type`},
		{"eventTime missing", jsonDoc(`{"type":"ObjectEvent","action":"OBSERVE"}`), "eventList[0].eventTime: is required"},
		{"eventTime without zone", jsonDoc(`{"type":"ObjectEvent","eventTime":"2025-01-01T00:00:00"}`), `eventList[0].eventTime: "2025-01-01T00:00:00" is not an RFC 3339 date-time`},
		{"eventTime number", jsonDoc(`{"type":"ObjectEvent","eventTime":1735689600}`), "eventList[0].eventTime: want a date-time string, got json.Number"},
		{"recordTime", jsonDoc(jsonEvent(`,"recordTime":"soon"`)), `eventList[0].recordTime: "soon" is not an RFC 3339 date-time`},
		{"offset not a string", jsonDoc(jsonEvent(`,"eventTimeZoneOffset":1`)), "eventList[0].eventTimeZoneOffset: want a string, got json.Number"},
		{"epc not a string", jsonDoc(`{"type":"ObjectEvent","eventTime":"2025-01-01T00:00:00Z","epcList":["urn:epc:id:sgtin:4012345.012345.1",7]}`), "eventList[0].epcList[1]: want a string, got json.Number"},
		{"childEPCs not a list", jsonDoc(`{"type":"AggregationEvent","eventTime":"2025-01-01T00:00:00Z","childEPCs":"urn:epc:id:sgtin:4012345.012345.1"}`), "eventList[0].childEPCs: want a list, got string"},
		{"quantity element", jsonDoc(jsonEvent(`,"quantityList":[{"epcClass":"urn:epc:class:lgtin:4012345.012345.L1"},"q"]`)), "eventList[0].quantityList[1]: want an object, got string"},
		{"quantity not a number", jsonDoc(jsonEvent(`,"quantityList":[{"epcClass":"urn:epc:class:lgtin:4012345.012345.L1","quantity":"5"}]`)), "eventList[0].quantityList[0].quantity: want a number, got string"},
		{"quantity without class", jsonDoc(`{"type":"TransformationEvent","eventTime":"2025-01-01T00:00:00Z","outputQuantityList":[{"quantity":5}]}`), "eventList[0].outputQuantityList[0].epcClass: want a string, got <nil>"},
		{"uom", jsonDoc(jsonEvent(`,"quantityList":[{"epcClass":"urn:epc:class:lgtin:4012345.012345.L1","quantity":5,"uom":5}]`)), "eventList[0].quantityList[0].uom: want a string, got json.Number"},
		{"readPoint without id", jsonDoc(jsonEvent(`,"readPoint":{"ex:x":"y"}`)), "eventList[0].readPoint.id: want a string, got <nil>"},
		{"readPoint list", jsonDoc(jsonEvent(`,"readPoint":["urn:epc:id:sgln:4012345.00001.0"]`)), "eventList[0].readPoint: want an object with id, got []interface {}"},
		{"bizLocation field", jsonDoc(jsonEvent(`,"bizLocation":{"id":"urn:epc:id:sgln:4012345.00001.0","hall":"2"}`)), `eventList[0].bizLocation: field "hall" is neither an EPCIS field nor a namespaced extension`},
		{"bizTransaction type", jsonDoc(jsonEvent(`,"bizTransactionList":[{"type":1,"bizTransaction":"urn:epcglobal:cbv:bt:4012345000009:1"}]`)), "eventList[0].bizTransactionList[0].type: want a string, got json.Number"},
		{"bizTransaction missing", jsonDoc(jsonEvent(`,"bizTransactionList":[{"type":"po"}]`)), "eventList[0].bizTransactionList[0].bizTransaction: want a string, got <nil>"},
		{"source missing", jsonDoc(jsonEvent(`,"sourceList":[{"type":"location"}]`)), "eventList[0].sourceList[0].source: want a string, got <nil>"},
		{"destination type missing", jsonDoc(jsonEvent(`,"destinationList":[{"type":"location","destination":"urn:epc:id:sgln:4012345.00001.0"},{"destination":"urn:epc:id:sgln:4012345.00001.0"}]`)), "eventList[0].destinationList[1].type: want a string, got <nil>"},
		{"ilmd not an object", jsonDoc(jsonEvent(`,"ilmd":"LOT1"`)), "eventList[0].ilmd: want an object, got string"},
		{"ilmd bare key", jsonDoc(jsonEvent(`,"ilmd":{"lotNumber":"LOT1"}`)), `eventList[0].ilmd: field "lotNumber" is neither`},
		{"persistentDisposition set", jsonDoc(jsonEvent(`,"persistentDisposition":{"set":"completeness_verified"}`)), "eventList[0].persistentDisposition.set: want a list, got string"},
		{"persistentDisposition unset", jsonDoc(jsonEvent(`,"persistentDisposition":{"unset":[1]}`)), "eventList[0].persistentDisposition.unset[0]: want a string, got json.Number"},
		{"sensorElementList", jsonDoc(jsonEvent(`,"sensorElementList":{"sensorReport":[]}`)), "eventList[0].sensorElementList: want a list, got map[string]interface {}"},
		{"errorDeclaration time", jsonDoc(jsonEvent(`,"errorDeclaration":{"declarationTime":"yesterday"}`)), `eventList[0].errorDeclaration.declarationTime: "yesterday" is not an RFC 3339 date-time`},
		{"errorDeclaration reason", jsonDoc(jsonEvent(`,"errorDeclaration":{"declarationTime":"2025-01-01T00:00:00Z","reason":["x"]}`)), "eventList[0].errorDeclaration.reason: want a string, got []interface {}"},
		{"correctiveEventIDs", jsonDoc(jsonEvent(`,"errorDeclaration":{"declarationTime":"2025-01-01T00:00:00Z","correctiveEventIDs":"ni:///x"}`)), "eventList[0].errorDeclaration.correctiveEventIDs: want a list, got string"},
		{"errorDeclaration bare key", jsonDoc(jsonEvent(`,"errorDeclaration":{"declarationTime":"2025-01-01T00:00:00Z","ticket":"T-1"}`)), `eventList[0].errorDeclaration: field "ticket" is neither`},
		{"two certifications", jsonDoc(jsonEvent(`,"certificationInfo":["https://a.example/1","https://a.example/2"]`)), "eventList[0].certificationInfo: this repository keeps one certification URI per event (XML has room for one), got 2"},
		{"unknown field", jsonDoc(jsonEvent(`,"lotNumber":"LOT1"`)), `eventList[0]: field "lotNumber" is neither an EPCIS field nor a namespaced extension (prefix:name)`},
		{"second event", jsonDoc(jsonEvent(""), jsonEvent(`,"action":5`)), "eventList[1].action: want a string, got json.Number"},
		{"query document", []byte(`{"type":"EPCISQueryDocument","epcisBody":{"queryResults":{"resultsBody":{"eventList":[{"type":"ObjectEvent"}]}}}}`), "queryResults.resultsBody.eventList[0].eventTime: is required"},
		{"master data element id", []byte(`{"type":"EPCISDocument","epcisHeader":{"epcisMasterData":{"vocabularyList":[{"type":"urn:epcglobal:epcis:vtype:BusinessLocation","vocabularyElementList":[{"attributes":[]}]}]}},"epcisBody":{"eventList":[]}}`), "epcisMasterData.vocabularyList[0].vocabularyElementList[0].id: want a string, got <nil>"},
		{"master data attribute id", []byte(`{"type":"EPCISDocument","epcisHeader":{"epcisMasterData":{"vocabularyList":[{"type":"urn:epcglobal:epcis:vtype:BusinessLocation","vocabularyElementList":[{"id":"urn:epc:id:sgln:4012345.00001.0","attributes":[{"attribute":"x"}]}]}]}},"epcisBody":{"eventList":[]}}`), "epcisMasterData.vocabularyList[0].vocabularyElementList[0].attributes[0].id: want a string, got <nil>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseJSONLD(c.doc)
			require.ErrorIs(t, err, ErrInvalidDocument)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// xmlDoc wraps events (XML elements) in an EPCISDocument.
func xmlDoc(events ...string) []byte {
	return []byte(`<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" xmlns:ex="https://ns.example.com/epcis/" schemaVersion="2.0" creationDate="2025-01-01T00:00:00Z">` +
		`<EPCISBody><EventList>` + strings.Join(events, "") + `</EventList></EPCISBody></epcis:EPCISDocument>`)
}

// xmlEvent is a valid ObjectEvent with extra elements.
func xmlEvent(extra string) string {
	return `<ObjectEvent><eventTime>2025-01-01T00:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset>` +
		`<epcList><epc>urn:epc:id:sgtin:4012345.012345.1</epc></epcList><action>OBSERVE</action>` + extra + `</ObjectEvent>`
}

func TestParseXMLErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name string
		doc  []byte
		want string
	}{
		{"not well-formed", []byte(`<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2"><EPCISBody>`), "epcis: document: not well-formed XML"},
		{"mismatched tag", []byte(`<a><b></a>`), "document: not well-formed XML"},
		{"root", []byte(`<EPCISMasterDataDocument/>`), `document: root element "EPCISMasterDataDocument" is not EPCISDocument`},
		{"creationDate", []byte(`<EPCISDocument creationDate="tomorrow"><EPCISBody><EventList/></EPCISBody></EPCISDocument>`), `creationDate: "tomorrow" is not an RFC 3339 date-time`},
		{"no body", []byte(`<EPCISDocument/>`), "EPCISBody: is required"},
		{"no event list", []byte(`<EPCISDocument><EPCISBody/></EPCISDocument>`), "EventList: is required"},
		{"event type", xmlDoc(xmlEvent(""), `<ThingEvent/>`), `eventList[1]: "ThingEvent" is not an EPCIS 2.0 event type`},
		{"eventTime missing", xmlDoc(`<ObjectEvent><action>ADD</action></ObjectEvent>`), "eventList[0].eventTime: is required"},
		{"eventTime", xmlDoc(`<ObjectEvent><eventTime>2025-01-01 00:00</eventTime></ObjectEvent>`), `eventList[0].eventTime: "2025-01-01 00:00" is not an RFC 3339 date-time`},
		{"recordTime", xmlDoc(xmlEvent(`<recordTime>x</recordTime>`)), `eventList[0].recordTime: "x" is not an RFC 3339 date-time`},
		{"quantity", xmlDoc(xmlEvent(`<quantityList><quantityElement><epcClass>urn:epc:class:lgtin:4012345.012345.L1</epcClass><quantity>five</quantity></quantityElement></quantityList>`)),
			`eventList[0].quantityList[0].quantity: "five" is not a number`},
		{"child quantity", xmlDoc(`<AggregationEvent><eventTime>2025-01-01T00:00:00Z</eventTime><childQuantityList><quantityElement><epcClass>urn:epc:class:lgtin:4012345.012345.L1</epcClass><quantity>1,5</quantity></quantityElement></childQuantityList></AggregationEvent>`),
			`eventList[0].childQuantityList[0].quantity: "1,5" is not a number`},
		{"errorDeclaration time", xmlDoc(xmlEvent(`<errorDeclaration><declarationTime>never</declarationTime></errorDeclaration>`)), `eventList[0].errorDeclaration.declarationTime: "never" is not an RFC 3339 date-time`},
		{"unknown element", xmlDoc(xmlEvent(""), xmlEvent(`<lotNumber>LOT1</lotNumber>`)), "eventList[1].lotNumber: unknown element in ObjectEvent"},
		{"query document", []byte(`<epcisq:EPCISQueryDocument xmlns:epcisq="urn:epcglobal:epcis-query:xsd:2"><EPCISBody><epcisq:QueryResults><resultsBody><EventList><ObjectEvent/></EventList></resultsBody></epcisq:QueryResults></EPCISBody></epcisq:EPCISQueryDocument>`),
			"queryResults.resultsBody.eventList[0].eventTime: is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseXML(c.doc)
			require.ErrorIs(t, err, ErrInvalidDocument)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestHashDocumentUnreadable: a document neither binding can read is an
// ErrInvalidDocument, not a list of made-up IDs.
func TestHashDocumentUnreadable(t *testing.T) {
	for _, c := range []struct {
		name string
		doc  string
		f    Format
	}{{"empty", "", FormatUnknown}, {"text", "hello", FormatUnknown}, {"broken JSON", `{"type":`, FormatJSONLD}, {"broken XML", "<a><b></a>", FormatXML}} {
		t.Run(c.name, func(t *testing.T) {
			_, err := HashDocument([]byte(c.doc), c.f)
			require.ErrorIs(t, err, ErrInvalidDocument)
		})
	}
	require.Equal(t, FormatXML, SniffFormat([]byte("\xef\xbb\xbf \n<x/>")))
	require.Equal(t, FormatJSONLD, SniffFormat([]byte("\t[{}]")))
	require.Equal(t, FormatUnknown, SniffFormat([]byte("  ")))
}
