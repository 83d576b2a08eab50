package epcis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

// fullEvents are events built in Go that use every field the package
// knows, one of each type.
func fullEvents(tb testing.TB) []Event {
	tb.Helper()
	at := time.Date(2025, 3, 1, 9, 0, 0, 250_000_000, time.FixedZone("", 3600))
	rec := at.Add(time.Minute)
	q, half := 12.5, 3.0
	ns := map[string]string{"sl": "https://serialine.dev/epcis/"}
	return []Event{
		{Type: ObjectEvent, EventID: "urn:uuid:5d5a2b1c-1f2e-4c3b-9a8d-7e6f5a4b3c2d", EventTime: at, EventTimeZoneOffset: "+01:00", RecordTime: &rec,
			Action: ActionAdd, EPCList: []string{sgtin(1), sgtin(2)}, QuantityList: []QuantityElement{{EPCClass: "urn:epc:class:lgtin:4012345.012345.LOT42", Quantity: &q, UOM: "KGM"}},
			BizStep: "commissioning", Disposition: "active", ReadPoint: line, BizLocation: site,
			ReadPointExtensions: map[string]any{"sl:station": "S1"}, BizLocationExtensions: map[string]any{"sl:hall": "H2"},
			ILMD:              map[string]any{"cbvmda:lotNumber": "LOT42", "sl:batch": map[string]any{"sl:line": "L1"}},
			CertificationInfo: "https://accreditation.example.org/cert/1",
			Extensions:        map[string]any{"sl:reason": "commissioned", "sl:list": []any{"a", "b"}}, Namespaces: ns},
		{Type: AggregationEvent, EventTime: at, EventTimeZoneOffset: "+01:00", Action: ActionAdd, ParentID: sscc, ChildEPCs: []string{sgtin(1)},
			ChildQuantityList: []QuantityElement{{EPCClass: "urn:epc:idpat:sgtin:4012345.012345.*", Quantity: &half}},
			BizStep:           "packing", Disposition: "container_closed", ReadPoint: line},
		{Type: TransactionEvent, EventTime: at, EventTimeZoneOffset: "+01:00", Action: ActionAdd, ParentID: sscc, EPCList: []string{sgtin(1)},
			BizTransactionList: []BizTransaction{{"po", "urn:epcglobal:cbv:bt:0614141000005:PO-1"}},
			SourceList:         []SourceDest{{"owning_party", "urn:epc:id:pgln:4012345.00000"}},
			DestinationList:    []SourceDest{{"possessing_party", "urn:epc:id:pgln:0614141.00000"}}, BizStep: "shipping"},
		{Type: TransformationEvent, EventTime: at, EventTimeZoneOffset: "-05:00", InputEPCList: []string{sgtin(3)},
			InputQuantityList: []QuantityElement{{EPCClass: "urn:epc:class:lgtin:4012345.011111.B1", Quantity: &q, UOM: "KGM"}},
			OutputEPCList:     []string{sgtin(4)}, OutputQuantityList: []QuantityElement{{EPCClass: "urn:epc:class:lgtin:4012345.022222.O1"}},
			TransformationID: "urn:epc:id:gdti:4012345.55555.1234", BizStep: "repackaging",
			PersistentDisposition: &PersistentDisposition{Set: []string{"completeness_inferred"}, Unset: []string{"completeness_verified"}},
			ILMD:                  map[string]any{"cbvmda:lotNumber": "O1"}},
		{Type: AssociationEvent, EventTime: at, EventTimeZoneOffset: "+05:30", Action: ActionAdd, ParentID: "urn:epc:id:grai:4012345.55555.987",
			ChildEPCs: []string{"urn:epc:id:giai:4000001.12345"}, BizStep: "assembling", Disposition: "active", ReadPoint: line},
		{Type: ObjectEvent, EventTime: at, EventTimeZoneOffset: "+01:00", Action: ActionObserve, EPCList: []string{sscc}, BizStep: "sensor_reporting",
			SensorElementList: []json.RawMessage{json.RawMessage(`{"sensorMetadata":{"deviceID":"urn:epc:id:giai:4000001.111","time":"2025-03-01T08:59:00Z"},"sensorReport":[{"type":"Temperature","uom":"CEL","value":4.5}]}`)}},
		{Type: ObjectEvent, EventTime: at, EventTimeZoneOffset: "+01:00", Action: ActionObserve, EPCList: []string{sscc}, BizStep: "shipping",
			ErrorDeclaration: &ErrorDeclaration{DeclarationTime: at.Add(48 * time.Hour), Reason: "incorrect_data",
				CorrectiveEventIDs: []string{"ni:///sha-256;fec9667280c4710a3fa9558b7bc8ddc2ced0dc442d87f82becae24bb6ca6a46f?ver=CBV2.0"},
				Extensions:         map[string]any{"sl:ticket": "T-1"}}, Namespaces: ns},
	}
}

// comparable returns e with what a binding may spell differently put in one
// form: times in UTC, sensor elements as sensorView, namespaces left out
// (each binding declares its own predefined ones).
func comparable(tb testing.TB, e Event) (Event, []map[string]any) {
	tb.Helper()
	e.EventTime = e.EventTime.UTC()
	if e.RecordTime != nil {
		rt := e.RecordTime.UTC()
		e.RecordTime = &rt
	}
	if e.ErrorDeclaration != nil {
		ed := *e.ErrorDeclaration
		ed.DeclarationTime = ed.DeclarationTime.UTC()
		e.ErrorDeclaration = &ed
	}
	var sensors []map[string]any
	for _, raw := range e.SensorElementList {
		sensors = append(sensors, sensorView(tb, raw))
	}
	e.SensorElementList, e.Namespaces = nil, nil
	return e, sensors
}

// TestTypedEventsRoundTrip: an event built in Go comes back field for field
// from JSON-LD, from XML and from the repository's record, and keeps its
// hash ID.
func TestTypedEventsRoundTrip(t *testing.T) {
	events := fullEvents(t)
	d := Document{CreationDate: time.Date(2025, 3, 2, 8, 0, 0, 0, time.UTC), Events: events, Namespaces: map[string]string{"sl": "https://serialine.dev/epcis/"}}
	js, err := MarshalJSONLD(d)
	require.NoError(t, err)
	x, err := MarshalXML(d)
	require.NoError(t, err)
	fromJSON, err := ParseJSONLD(js)
	require.NoError(t, err)
	fromXML, err := ParseXML(x)
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		got  []Event
		raw  []byte
	}{{"JSON-LD", fromJSON.Events, js}, {"XML", fromXML.Events, x}, {"record", storedAndBack(t, events), nil}} {
		t.Run(c.name, func(t *testing.T) {
			require.Len(t, c.got, len(events))
			for i := range events {
				want, ws := comparable(t, events[i])
				got, gs := comparable(t, c.got[i])
				require.Equal(t, want, got, "event %d\n%s", i, c.raw)
				require.Equal(t, ws, gs, "event %d sensors", i)
				a, err := HashID(events[i])
				require.NoError(t, err)
				b, err := HashID(c.got[i])
				require.NoError(t, err)
				require.Equal(t, a, b, "event %d", i)
			}
		})
	}
}

// TestBindingsHashAlike: the same events in fields.jsonld and fields.xml
// read into Events that hash alike (HashID), and, where the reference gave
// both documents' events one ID, HashID gives that ID.
func TestBindingsHashAlike(t *testing.T) {
	read := func(f string) []Event {
		b, err := os.ReadFile("testdata/hashref/own/" + f)
		require.NoError(t, err)
		var d Document
		if strings.HasSuffix(f, ".xml") {
			d, err = ParseXML(b)
		} else {
			d, err = ParseJSONLD(b)
		}
		require.NoError(t, err)
		return d.Events
	}
	js, xs := read("fields.jsonld"), read("fields.xml")
	require.Len(t, xs, len(js))
	agreed := 0
	for i := range js {
		if i == 6 {
			// Sensor types differ by binding: XML "gs1:Temperature" is
			// read as the context term "Temperature", which the reference
			// expands, while JSON-LD's "gs1:Temperature" stays a CURIE.
			continue
		}
		a, err := HashID(js[i])
		require.NoError(t, err)
		b, err := HashID(xs[i])
		require.NoError(t, err)
		require.Equal(t, a, b, "event %d", i)
		jid, _ := recordedEvent(t, "own/fields.jsonld", i)
		xid, _ := recordedEvent(t, "own/fields.xml", i)
		require.Equal(t, jid, a, "event %d: HashID of the JSON-LD event", i)
		if jid == xid {
			agreed++
		}
	}
	require.Greater(t, agreed, 4)
}

// TestEPCIS12WithSBDH: an EPCIS 1.2 document (SBDH, master data and fields
// in <extension> wrappers, a TransformationEvent in EventList/extension)
// reads into the 2.0 model and is written as 2.0 XML with its header.
func TestEPCIS12WithSBDH(t *testing.T) {
	src, err := os.ReadFile("testdata/hashref/own/epcis12-sbdh.xml")
	require.NoError(t, err)
	d, err := ParseXML(src)
	require.NoError(t, err)
	require.Equal(t, "1.2", d.SchemaVersion)
	require.Equal(t, &Header{Sender: "urn:epc:id:sgln:0614141.00000.0", Receiver: "urn:epc:id:sgln:0614141.00001.0", InstanceIdentifier: "SL-2024-0301-1"}, d.Header)
	require.Len(t, d.MasterData, 1)
	require.Equal(t, "urn:epc:idpat:sgtin:0614141.107346.*", d.MasterData[0].Elements[0].ID)
	require.Equal(t, []Attribute{{"urn:epcglobal:cbv:mda#regulatedProductName", "Examplomycin"}, {"urn:epcglobal:cbv:mda#dosageFormType", "TABLET"}},
		d.MasterData[0].Elements[0].Attributes)
	require.Len(t, d.Events, 4)
	require.Equal(t, []EventType{ObjectEvent, AggregationEvent, ObjectEvent, TransformationEvent},
		[]EventType{d.Events[0].Type, d.Events[1].Type, d.Events[2].Type, d.Events[3].Type})
	require.Equal(t, map[string]any{"cbvmda:lotNumber": "LOT2403A", "cbvmda:itemExpirationDate": "2026-02-28"}, d.Events[0].ILMD)
	require.Len(t, d.Events[0].QuantityList, 1)
	require.Equal(t, []SourceDest{{"owning_party", "urn:epc:id:sgln:0614141.00000.0"}}, d.Events[2].SourceList)
	require.Equal(t, []SourceDest{{"owning_party", "urn:epc:id:sgln:0614141.00001.0"}}, d.Events[2].DestinationList)
	require.Equal(t, map[string]any{"gs1ushc:shipFrom": map[string]any{"#text": "urn:epc:id:sgln:0614141.00000.0", "@gs1ushc:kind": "dc"}}, d.Events[2].Extensions)
	require.Equal(t, "http://epcis.gs1us.org/hc/ns", d.Events[2].Namespaces["gs1ushc"])
	require.Equal(t, "repackaging", d.Events[3].BizStep)

	d.SchemaVersion = ""
	x, err := MarshalXML(d)
	require.NoError(t, err)
	require.Contains(t, string(x), `xmlns:epcis="urn:epcglobal:epcis:xsd:2"`)
	back, err := ParseXML(x)
	require.NoError(t, err)
	require.Equal(t, d.Header, back.Header)
	require.Equal(t, d.MasterData, back.MasterData)
	want, err := HashDocument(src, FormatXML)
	require.NoError(t, err)
	got, err := HashDocument(x, FormatXML)
	require.NoError(t, err)
	require.Equal(t, hashIDs(want), hashIDs(got), "%s", x)
	t.Run("GS1 XSD", func(t *testing.T) {
		msg, code := testkit.RunValidator(t, "validate-epcis-xml", "--version", "2.0", testkit.WriteTemp(t, "out.xml", x))
		require.Equal(t, 0, code, "%s\n%s", msg, x)
	})
}

// TestOwnFixturesConform: the committed documents meant to be valid are,
// and so is what the package writes from them (GS1's schemas; skipped
// without the validators kit).
func TestOwnFixturesConform(t *testing.T) {
	for _, f := range []string{"fields.jsonld", "fields.xml", "epcis12-sbdh.xml"} {
		t.Run(f, func(t *testing.T) {
			p := "testdata/hashref/own/" + f
			src, err := os.ReadFile(p)
			require.NoError(t, err)
			xml := strings.HasSuffix(f, ".xml")
			var out []byte
			if xml {
				d, err := ParseXML(src)
				require.NoError(t, err)
				d.SchemaVersion = "" // MarshalXML keeps a 1.2 document's "1.2" on the 2.0 namespace
				out, err = MarshalXML(d)
				require.NoError(t, err)
			} else {
				d, err := ParseJSONLD(src)
				require.NoError(t, err)
				out, err = MarshalJSONLD(d)
				require.NoError(t, err)
			}
			tool, args := "validate-epcis-json", []string{"--schema", "modular"}
			if xml {
				tool, args = "validate-epcis-xml", nil
			}
			msg, code := testkit.RunValidator(t, tool, append(args, p)...)
			require.Equal(t, 0, code, "%s", msg)
			msg, code = testkit.RunValidator(t, tool, append(args, testkit.WriteTemp(t, "out"+filepath.Ext(f), out))...)
			require.Equal(t, 0, code, "%s\n%s", msg, out)
		})
	}
}
