package epcis

import (
	"fmt"
	"testing"
	"time"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

const (
	site  = "urn:epc:id:sgln:4012345.00001.0"
	line  = "urn:epc:id:sgln:4012345.00001.1"
	buyer = "urn:epc:id:sgln:0614141.00002.0"
	sscc  = "urn:epc:id:sscc:4012345.1000000001"
)

func sgtin(n int) string { return fmt.Sprintf("urn:epc:id:sgtin:4012345.012345.%d", 1000+n) }

// pharmaEvents is one pack's story as Serialine emits it.
func pharmaEvents(tb testing.TB) []Event {
	tb.Helper()
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.FixedZone("", 3600))
	return []Event{
		{Type: ObjectEvent, EventTime: at, EventTimeZoneOffset: "+01:00", Action: ActionAdd, EPCList: []string{sgtin(1), sgtin(2)},
			BizStep: "commissioning", Disposition: "active", ReadPoint: line, BizLocation: site,
			ILMD: map[string]any{"cbvmda:lotNumber": "LOT42", "cbvmda:itemExpirationDate": "2027-02-28"}},
		{Type: AggregationEvent, EventTime: at.Add(time.Minute), EventTimeZoneOffset: "+01:00", Action: ActionAdd, ParentID: sscc,
			ChildEPCs: []string{sgtin(1), sgtin(2)}, BizStep: "packing", Disposition: "container_closed", ReadPoint: line, BizLocation: site},
		{Type: ObjectEvent, EventTime: at.Add(time.Hour), EventTimeZoneOffset: "+01:00", Action: ActionObserve, EPCList: []string{sscc},
			BizStep: "shipping", Disposition: "in_transit", ReadPoint: site,
			BizTransactionList: []BizTransaction{{"po", "urn:epcglobal:cbv:bt:0614141000005:PO-1"}, {"desadv", "urn:epcglobal:cbv:bt:4012345000009:ASN-7"}},
			SourceList:         []SourceDest{{"owning_party", "urn:epc:id:pgln:4012345.00000"}, {"location", site}},
			DestinationList:    []SourceDest{{"owning_party", "urn:epc:id:pgln:0614141.00000"}, {"location", buyer}}},
		{Type: ObjectEvent, EventTime: at.Add(26 * time.Hour), EventTimeZoneOffset: "-05:00", Action: ActionObserve, EPCList: []string{sscc},
			BizStep: "receiving", Disposition: "in_progress", ReadPoint: buyer, BizLocation: buyer},
		{Type: ObjectEvent, EventTime: at.Add(2 * time.Minute), EventTimeZoneOffset: "+01:00", Action: ActionDelete, EPCList: []string{sgtin(3)},
			BizStep: "decommissioning", Disposition: "inactive", ReadPoint: line,
			Extensions: map[string]any{"serialine:reason": "low-grade"}, Namespaces: map[string]string{"serialine": "https://serialine.dev/epcis/"}},
		{Type: ObjectEvent, EventTime: at.Add(3 * time.Minute), EventTimeZoneOffset: "+01:00", Action: ActionDelete, EPCList: []string{sgtin(4)},
			BizStep: "destroying", Disposition: "destroyed", ReadPoint: line},
		{Type: ObjectEvent, EventTime: at.Add(time.Hour), EventTimeZoneOffset: "+01:00", Action: ActionObserve, EPCList: []string{sscc},
			BizStep: "shipping", Disposition: "in_transit", ReadPoint: site,
			ErrorDeclaration: &ErrorDeclaration{DeclarationTime: at.Add(48 * time.Hour), Reason: "incorrect_data",
				CorrectiveEventIDs: []string{"ni:///sha-256;fec9667280c4710a3fa9558b7bc8ddc2ced0dc442d87f82becae24bb6ca6a46f?ver=CBV2.0"}}},
	}
}

func TestPharmaDocumentsConform(t *testing.T) {
	events := pharmaEvents(t)
	for i := range events {
		require.NoError(t, events[i].Validate(), "event %d", i)
	}
	d := Document{CreationDate: time.Date(2025, 3, 2, 8, 0, 0, 0, time.UTC), Events: events,
		Header: &Header{Sender: "urn:epc:id:sgln:4012345.00000.0", Receiver: "urn:epc:id:sgln:0614141.00000.0", InstanceIdentifier: "42"}}

	js, err := MarshalJSONLD(d)
	require.NoError(t, err)
	x, err := MarshalXML(d)
	require.NoError(t, err)
	require.Contains(t, string(x), "urn:epcglobal:cbv:bizstep:commissioning")
	require.Contains(t, string(x), "<cbvmda:lotNumber>LOT42</cbvmda:lotNumber>")
	q, err := MarshalQueryDocumentJSONLD(events, "SimpleEventQuery", "sub-1")
	require.NoError(t, err)
	// GS1's schemas, where the validators kit is present.
	t.Run("GS1 schemas", func(t *testing.T) {
		msg, code := testkit.RunValidator(t, "validate-epcis-json", "--schema", "modular", testkit.WriteTemp(t, "pharma.jsonld", js))
		require.Equal(t, 0, code, "%s\n%s", msg, js)
		msg, code = testkit.RunValidator(t, "validate-epcis-xml", testkit.WriteTemp(t, "pharma.xml", x))
		require.Equal(t, 0, code, "%s\n%s", msg, x)
		msg, code = testkit.RunValidator(t, "validate-epcis-json", "--schema", "modular", testkit.WriteTemp(t, "query.jsonld", q))
		require.Equal(t, 0, code, "%s\n%s", msg, q)
	})

	// The same events read back from JSON and from XML hash alike.
	fromJSON, err := ParseJSONLD(js)
	require.NoError(t, err)
	fromXML, err := ParseXML(x)
	require.NoError(t, err)
	require.Equal(t, d.Header, fromXML.Header)
	for i := range events {
		want, err := HashID(events[i])
		require.NoError(t, err)
		a, err := HashID(fromJSON.Events[i])
		require.NoError(t, err)
		b, err := HashID(fromXML.Events[i])
		require.NoError(t, err)
		require.Equal(t, want, a, "event %d via JSON", i)
		require.Equal(t, want, b, "event %d via XML", i)
	}
}

// TestHashReferencePreHash checks our canonical string against the pre-hash
// GS1's reference generator publishes for its shipping example.
func TestHashReferencePreHash(t *testing.T) {
	e := Event{Type: ObjectEvent, EventTime: time.Date(2022, 2, 16, 12, 50, 0, 0, time.FixedZone("", 3600)), EventTimeZoneOffset: "+01:00",
		EPCList: []string{"urn:epc:id:sscc:4012345.1112223334"}, Action: ActionObserve, BizStep: "urn:epcglobal:cbv:bizstep:departing",
		ReadPoint:          "urn:epc:id:sgln:4012345.00022.0",
		BizTransactionList: []BizTransaction{{"urn:epcglobal:cbv:btt:desadv", "urn:epcglobal:cbv:bt:4012345000009:ASN1099"}},
		SourceList:         []SourceDest{{"urn:epcglobal:cbv:sdt:possessing_party", "urn:epc:id:pgln:4012345.00000"}},
		DestinationList:    []SourceDest{{"urn:epcglobal:cbv:sdt:possessing_party", "urn:epc:id:pgln:4023333.00000"}}}
	pre, err := PreHashString(e)
	require.NoError(t, err)
	require.Equal(t, "eventType=ObjectEventeventTime=2022-02-16T11:50:00.000ZeventTimeZoneOffset=+01:00"+
		"epcListepc=https://id.gs1.org/00/140123451122233341action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-departing"+
		"readPointid=https://id.gs1.org/414/4012345000221bizTransactionListtype=https://ref.gs1.org/cbv/BTT-desadv"+
		"bizTransaction=urn:epcglobal:cbv:bt:4012345000009:ASN1099"+
		"destinationListtype=https://ref.gs1.org/cbv/SDT-possessing_partydestination=https://id.gs1.org/417/4023333000000"+
		"sourceListtype=https://ref.gs1.org/cbv/SDT-possessing_partysource=https://id.gs1.org/417/4012345000009", pre)
	id, err := HashID(e)
	require.NoError(t, err)
	require.Regexp(t, `^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$`, id)
}
