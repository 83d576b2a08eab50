package epcis

import (
	"testing"
	"time"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

// TestQueryDocumentsRoundTrip: a query answer in either binding reads back
// as the events it was written from, each with its hash ID.
func TestQueryDocumentsRoundTrip(t *testing.T) {
	events := fullEvents(t)
	js, err := MarshalQueryDocumentJSONLD(events, "SimpleEventQuery", "sub-1")
	require.NoError(t, err)
	x, err := MarshalQueryDocumentXML(events, "SimpleEventQuery", "sub-1", time.Date(2025, 3, 2, 8, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Contains(t, string(js), `"queryName":"SimpleEventQuery"`)
	require.Contains(t, string(x), "<queryName>SimpleEventQuery</queryName>")
	fromJSON, err := ParseJSONLD(js)
	require.NoError(t, err)
	fromXML, err := ParseXML(x)
	require.NoError(t, err)
	for name, got := range map[string][]Event{"JSON-LD": fromJSON.Events, "XML": fromXML.Events} {
		require.Len(t, got, len(events), name)
		for i := range events {
			want, ws := comparable(t, events[i])
			back, bs := comparable(t, got[i])
			require.Equal(t, want, back, "%s event %d", name, i)
			require.Equal(t, ws, bs, "%s event %d sensors", name, i)
			a, err := HashID(events[i])
			require.NoError(t, err)
			b, err := HashID(got[i])
			require.NoError(t, err)
			require.Equal(t, a, b, "%s event %d", name, i)
		}
	}
	_, err = MarshalQueryDocumentJSONLD(events, "", "")
	require.ErrorContains(t, err, "queryName is required")
	_, err = MarshalQueryDocumentXML(events, "", "", time.Time{})
	require.ErrorContains(t, err, "queryName is required")
	t.Run("GS1 schemas", func(t *testing.T) {
		msg, code := testkit.RunValidator(t, "validate-epcis-json", "--schema", "modular", testkit.WriteTemp(t, "query.jsonld", js))
		require.Equal(t, 0, code, "%s\n%s", msg, js)
		msg, code = testkit.RunValidator(t, "validate-epcis-xml", testkit.WriteTemp(t, "query.xml", x))
		require.Equal(t, 0, code, "%s\n%s", msg, x)
	})
}

// TestNamespaceClashes: events from documents that bound one prefix to
// different namespaces, or wrote it as plain text, keep their own hash IDs
// when answered together in one document of either binding.
func TestNamespaceClashes(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(ns map[string]string, ext map[string]any) Event {
		return Event{Type: ObjectEvent, EventTime: at, Action: ActionObserve, EPCList: []string{sscc}, Extensions: ext, Namespaces: ns}
	}
	events := []Event{
		ev(map[string]string{"ex": "https://ns.example.com/epcis/"}, map[string]any{"ex:a": "1"}),
		ev(map[string]string{"ex": "https://ns.example.com/epcis"}, map[string]any{"ex:a": "1"}),
		ev(map[string]string{"ex": "urn:example:other"}, map[string]any{"ex:a": map[string]any{"ex:b": "ex:c"}}),
		ev(map[string]string{"sl": "https://serialine.dev/epcis/"}, map[string]any{"sl:note": "ex:not-a-prefix-here"}),
	}
	for name, marshal := range map[string]func(Document) ([]byte, error){"JSON-LD": MarshalJSONLD, "XML": MarshalXML} {
		t.Run(name, func(t *testing.T) {
			all, err := marshal(Document{Events: events})
			require.NoError(t, err)
			together, err := HashDocument(all, FormatUnknown)
			require.NoError(t, err)
			require.Len(t, together, len(events))
			ids := map[string]bool{}
			for i, e := range events {
				one, err := marshal(Document{Events: []Event{e}})
				require.NoError(t, err)
				alone, err := HashDocument(one, FormatUnknown)
				require.NoError(t, err)
				require.Equal(t, alone[0].PreHash, together[i].PreHash, "event %d\n%s", i, all)
				require.True(t, together[i].Reference, "event %d", i)
				ids[together[i].ID] = true
			}
			require.Len(t, ids, len(events), "the namespaces tell the events apart")
			if name == "JSON-LD" {
				// Clashing prefixes are renamed, and "ex", plain text in the
				// last event, is declared for none.
				require.Contains(t, string(all), `{"ex2":"https://ns.example.com/epcis/"},{"ex3":"https://ns.example.com/epcis"},{"ex4":"urn:example:other"}`)
				require.NotContains(t, string(all), `{"ex":`)
				back, err := ParseJSONLD(all)
				require.NoError(t, err)
				for i := range events {
					a, err := HashID(events[i])
					require.NoError(t, err)
					b, err := HashID(back.Events[i])
					require.NoError(t, err)
					require.Equal(t, a, b, "event %d", i)
				}
			}
		})
	}
}

// TestEventRecordVersion: a record of another layout is refused, naming it.
func TestEventRecordVersion(t *testing.T) {
	_, err := UnmarshalEventRecord([]byte(`{"v":2,"e":{}}`))
	require.ErrorContains(t, err, "epcis: event record: version 2, want 1")
	_, err = UnmarshalEventRecord([]byte(`{"v":1,"e":`))
	require.ErrorContains(t, err, "epcis: event record")
}
