package wire_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/wire"
)

// BenchmarkDecodeEventBatch100 decodes and validates a batch of 100
// commissioning events, central's per-message work on the events topic.
func BenchmarkDecodeEventBatch100(b *testing.B) {
	data, err := json.Marshal(validBatch(b, 100))
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		batch, err := wire.DecodeEventBatch(data)
		if err != nil || len(batch.Events) != 100 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/event")
}

// BenchmarkEncodeEventBatch100 is the edge's side: validate and marshal.
func BenchmarkEncodeEventBatch100(b *testing.B) {
	batch := validBatch(b, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Encode(batch); err != nil {
			b.Fatal(err)
		}
	}
}
