package wire_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/wire"
)

// FuzzDecodeEventBatch: no input panics; an accepted batch re-encodes to a
// batch that decodes to the same value; a batch returned with a *BatchError
// has exactly the flagged events invalid.
func FuzzDecodeEventBatch(f *testing.F) {
	b := wire.EventBatch{V: wire.Version, Line: testLine}
	for i, typ := range wire.EventTypes() {
		b.Events = append(b.Events, validEvent(f, typ, uint64(i+1)))
	}
	all, err := json.Marshal(b)
	require.NoError(f, err)
	f.Add(all)
	f.Add([]byte(`{"v":1,"line":"L1","events":[{"id":"L1:1","seq":1,"type":"commissioned","at":"2026-03-04T05:06:07Z","order":"WO-1","gtin":"09506000134352","serial":"1","lot":"A","expiry":"281200","counter":0}]}`))
	f.Add([]byte(`{"v":1,"line":"L1","events":[{"id":"x","seq":2,"type":"aggregated","at":"2026-03-04T05:06:07Z","parent":"106141410000000072","children":["(01)09506000134352(21)A\\(1"]}]}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"line":"L1","events":[{"seq":-1}]}`))
	f.Add([]byte(`null`))

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := wire.DecodeEventBatch(data)
		var be *wire.BatchError
		switch {
		case err == nil:
			require.NoError(t, got.Validate())
			again, err := json.Marshal(got)
			require.NoError(t, err)
			back, err := wire.DecodeEventBatch(again)
			require.NoError(t, err)
			require.Equal(t, len(got.Events), len(back.Events))
			for i := range got.Events {
				require.True(t, got.Events[i].At.Equal(back.Events[i].At))
				got.Events[i].At = back.Events[i].At // same instant; the location may differ
			}
			require.Equal(t, got, back)
		case errors.As(err, &be):
			require.NotEmpty(t, be.Invalid)
			require.NoError(t, wire.ValidateLine(got.Line))
			for i := range got.Events {
				if _, bad := be.Invalid[i]; !bad {
					require.NoError(t, got.Events[i].Validate())
				}
			}
		default:
			require.Empty(t, got.Events)
			require.NotEmpty(t, err.Error())
		}
	})
}
