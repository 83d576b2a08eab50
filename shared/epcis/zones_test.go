package epcis

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTimeZones: the offset written is the one given, or EventTime's own;
// it survives both bindings; the hash takes the instant in UTC and the
// offset as written, and never recordTime.
func TestTimeZones(t *testing.T) {
	instant := time.Date(2025, 1, 1, 0, 0, 0, 999_400_000, time.UTC)
	cases := []struct {
		name       string
		at         time.Time
		offset     string
		wantOffset string
		wantTime   string // eventTime in the pre-hash string
	}{
		{"UTC", instant, "", "+00:00", "2025-01-01T00:00:00.999Z"},
		{"+14:00 from EventTime", instant.In(time.FixedZone("", 14*3600)), "", "+14:00", "2025-01-01T00:00:00.999Z"},
		{"-12:00 from EventTime", instant.In(time.FixedZone("", -12*3600)), "", "-12:00", "2025-01-01T00:00:00.999Z"},
		{"+05:45 from EventTime", instant.In(time.FixedZone("", 5*3600+45*60)), "", "+05:45", "2025-01-01T00:00:00.999Z"},
		{"-00:30 from EventTime", instant.In(time.FixedZone("", -30*60)), "", "-00:30", "2025-01-01T00:00:00.999Z"},
		{"offset given apart from EventTime's zone", instant, "-05:00", "-05:00", "2025-01-01T00:00:00.999Z"},
		{"whole seconds", time.Date(2024, 2, 29, 23, 59, 59, 0, time.FixedZone("", 3600)), "", "+01:00", "2024-02-29T22:59:59.000Z"},
		{"microseconds round half to even", time.Date(2025, 1, 1, 0, 0, 0, 1_500_000, time.UTC), "", "+00:00", "2025-01-01T00:00:00.002Z"},
		{"nanoseconds beyond microseconds are cut", time.Date(2025, 1, 1, 0, 0, 0, 2_500_900, time.UTC), "", "+00:00", "2025-01-01T00:00:00.002Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := Event{Type: ObjectEvent, EventTime: c.at, EventTimeZoneOffset: c.offset, Action: ActionObserve, EPCList: []string{sscc}}
			pre, err := PreHashString(e)
			require.NoError(t, err)
			require.Contains(t, pre, "eventTime="+c.wantTime+"eventTimeZoneOffset="+c.wantOffset+"epcList")

			js, err := MarshalJSONLD(Document{Events: []Event{e}})
			require.NoError(t, err)
			x, err := MarshalXML(Document{Events: []Event{e}})
			require.NoError(t, err)
			fromJSON, err := ParseJSONLD(js)
			require.NoError(t, err)
			fromXML, err := ParseXML(x)
			require.NoError(t, err)
			for _, back := range []Event{fromJSON.Events[0], fromXML.Events[0]} {
				require.Equal(t, c.wantOffset, back.EventTimeZoneOffset)
				require.True(t, c.at.Equal(back.EventTime), "%v != %v", c.at, back.EventTime)
				_, off := back.EventTime.Zone()
				_, want := c.at.Zone()
				require.Equal(t, want, off, "the time keeps its own offset")
				again, err := PreHashString(back)
				require.NoError(t, err)
				require.Equal(t, pre, again)
			}
		})
	}

	// .9995 s rounds to 1000 ms, where the reference gives up: the ID is
	// then the next second's, marked as not the reference's.
	late := Event{Type: ObjectEvent, EventTime: time.Date(2025, 1, 1, 0, 0, 0, 999_500_000, time.UTC), Action: ActionObserve, EPCList: []string{sscc}}
	js, err := MarshalJSONLD(Document{Events: []Event{late}})
	require.NoError(t, err)
	hs, err := HashDocument(js, FormatJSONLD)
	require.NoError(t, err)
	require.False(t, hs[0].Reference)
	require.Contains(t, hs[0].PreHash, "eventTime=2025-01-01T00:00:01.000Z")

	// The same instant under two offsets is two events; recordTime never counts.
	a := Event{Type: ObjectEvent, EventTime: instant, Action: ActionObserve, EPCList: []string{sscc}}
	b := a
	b.EventTime = instant.In(time.FixedZone("", 3600))
	ida, err := HashID(a)
	require.NoError(t, err)
	idb, err := HashID(b)
	require.NoError(t, err)
	require.NotEqual(t, ida, idb)
	b.EventTimeZoneOffset = "+00:00"
	rec := instant.Add(time.Hour)
	b.RecordTime = &rec
	idb, err = HashID(b)
	require.NoError(t, err)
	require.Equal(t, ida, idb)
}

// TestEmptyLists: an empty list hashes as no list, whether nil or empty in
// Go, written or left out in either binding, and comes back empty.
func TestEmptyLists(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	full := Event{Type: AggregationEvent, EventTime: at, Action: ActionObserve, ParentID: sscc, ReadPoint: site}
	empty := full
	empty.ChildEPCs, empty.ChildQuantityList = []string{}, []QuantityElement{}
	empty.BizTransactionList, empty.SourceList, empty.DestinationList = []BizTransaction{}, []SourceDest{}, []SourceDest{}
	empty.Extensions = map[string]any{}
	want, err := PreHashString(full)
	require.NoError(t, err)
	got, err := PreHashString(empty)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NotContains(t, got, "childEPCs")

	for name, doc := range map[string]func(Document) ([]byte, error){"JSON-LD": MarshalJSONLD, "XML": MarshalXML} {
		t.Run(name, func(t *testing.T) {
			b, err := doc(Document{Events: []Event{empty}})
			require.NoError(t, err)
			var d Document
			if name == "XML" {
				d, err = ParseXML(b)
			} else {
				d, err = ParseJSONLD(b)
			}
			require.NoError(t, err, "%s", b)
			require.Empty(t, d.Events[0].ChildEPCs)
			require.Empty(t, d.Events[0].BizTransactionList)
			hs, err := HashDocument(b, FormatUnknown)
			require.NoError(t, err)
			require.Equal(t, want, hs[0].PreHash, "%s", b)
		})
	}

	// An empty eventList is a document without events.
	for _, b := range [][]byte{jsonDoc(), xmlDoc()} {
		hs, err := HashDocument(b, FormatUnknown)
		require.NoError(t, err)
		require.Empty(t, hs)
		if strings.HasPrefix(string(b), "{") {
			d, err := ParseJSONLD(b)
			require.NoError(t, err)
			require.Empty(t, d.Events)
		} else {
			d, err := ParseXML(b)
			require.NoError(t, err)
			require.Empty(t, d.Events)
		}
	}
}
