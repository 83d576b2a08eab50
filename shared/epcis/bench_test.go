package epcis

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func BenchmarkMarshalJSONLD10k(b *testing.B) {
	base := pharmaEvents(b)[0]
	events := make([]Event, 10000)
	for i := range events {
		events[i] = base
		events[i].EPCList = []string{fmt.Sprintf("urn:epc:id:sgtin:4012345.012345.%d", i)}
		events[i].EventTime = base.EventTime.Add(time.Duration(i) * time.Millisecond)
	}
	d := Document{CreationDate: time.Now(), Events: events}
	b.ReportAllocs()
	for b.Loop() {
		out, err := MarshalJSONLD(d)
		require.NoError(b, err)
		b.SetBytes(int64(len(out)))
	}
}

func BenchmarkHashID(b *testing.B) {
	e := pharmaEvents(b)[2]
	b.ReportAllocs()
	for b.Loop() {
		_, err := HashID(e)
		require.NoError(b, err)
	}
}

func BenchmarkParseJSONLD(b *testing.B) {
	src, err := os.ReadFile(gs1Copies + "/object_event_all_possible_fields.jsonld")
	require.NoError(b, err)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		_, err := ParseJSONLD(src)
		require.NoError(b, err)
	}
}
