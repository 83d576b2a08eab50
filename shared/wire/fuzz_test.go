package wire_test

import (
	"encoding/json"
	"errors"
	"strings"
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
	// The bounds of issue 15: seq at and past 2^63-1, incarnations.
	b.Incarnation = "inc-2_b"
	withInc, err := json.Marshal(b)
	require.NoError(f, err)
	f.Add(withInc)
	f.Add([]byte(`{"v":1,"line":"L1","incarnation":"a b","events":[{"id":"x","seq":1,"type":"order-started","at":"2026-03-04T05:06:07Z","order":"WO-1"}]}`))
	f.Add([]byte(`{"v":1,"line":"L1","events":[{"id":"x","seq":9223372036854775807,"type":"order-started","at":"2026-03-04T05:06:07Z","order":"WO-1"},{"id":"y","seq":9223372036854775808,"type":"order-started","at":"2026-03-04T05:06:07Z","order":"WO-1"}]}`))
	f.Add([]byte(`{"v":1,"line":"L1","events":[{"id":"y","seq":18446744073709551615,"type":"order-started","at":"9999-12-31T23:59:59Z","order":"WO-1"}]}`))
	f.Add([]byte(`{"v":1,"line":"L1","events":[{"id":"y","seq":18446744073709551616,"type":"order-started","at":"2026-03-04T05:06:07Z","order":"WO-1"}]}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := wire.DecodeEventBatch(data)
		var be *wire.BatchError
		switch {
		case err == nil:
			require.NoError(t, got.Validate())
			for _, e := range got.Events {
				require.LessOrEqual(t, e.Seq, uint64(wire.MaxSeq))
			}
			require.LessOrEqual(t, len(got.Incarnation), wire.MaxIncarnationLen)
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
					require.LessOrEqual(t, got.Events[i].Seq, uint64(wire.MaxSeq), "a seq past 2^63-1 is always flagged")
				}
			}
		default:
			require.Empty(t, got.Events)
			require.NotEmpty(t, err.Error())
		}
	})
}

// roundTrip checks a decoder: no input panics; what it accepts is valid,
// re-encodes (Encode validates again) and decodes to the same value.
func roundTrip[T wire.Payload](t *testing.T, data []byte, decode func([]byte) (T, error), check func(T)) {
	got, err := decode(data)
	if err != nil {
		require.NotEmpty(t, err.Error())
		return
	}
	require.NoError(t, got.Validate())
	check(got)
	again, err := wire.Encode(got)
	require.NoError(t, err)
	back, err := decode(again)
	require.NoError(t, err)
	want, err := json.Marshal(got)
	require.NoError(t, err)
	have, err := json.Marshal(back)
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(have))
}

// FuzzDecodeAck: an accepted ack counts a seq of at most 2^63-1 of a valid
// incarnation, and says what it replaced only for a named incarnation
// other than the one replaced.
func FuzzDecodeAck(f *testing.F) {
	f.Add([]byte(`{"v":1,"line":"L1","seq":3}`))
	f.Add([]byte(`{"v":1,"line":"L1","seq":3,"incarnation":"b2","replaced":{"incarnation":"","seq":4591,"at":"2026-03-04T05:06:07Z"}}`))
	f.Add([]byte(`{"v":1,"line":"L1","seq":3,"incarnation":"b2","replaced":{"incarnation":"b2","seq":1}}`))
	f.Add([]byte(`{"v":1,"line":"L1","seq":3,"replaced":{"incarnation":"a1","seq":1}}`))
	f.Add([]byte(`{"v":1,"line":"L1","seq":9223372036854775808}`))
	f.Add([]byte(`{"v":1,"line":"L1","seq":1,"incarnation":"` + strings.Repeat("x", 65) + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		roundTrip(t, data, wire.DecodeAck, func(a wire.Ack) {
			require.LessOrEqual(t, a.Seq, uint64(wire.MaxSeq))
			require.LessOrEqual(t, len(a.Incarnation), wire.MaxIncarnationLen)
			if a.Replaced != nil {
				require.NotEmpty(t, a.Incarnation)
				require.NotEqual(t, a.Incarnation, a.Replaced.Incarnation)
			}
		})
	})
}

// FuzzDecodeOthers: the other decoders never panic, and what they accept
// round-trips. The first byte picks the decoder.
func FuzzDecodeOthers(f *testing.F) {
	for _, seed := range []string{
		`{"v":1,"line":"L1","state":"running","at":"2026-03-04T05:06:07Z"}`,
		`{"v":1,"line":"L1","orders":[]}`,
		`{"v":1,"request_id":"r1","line":"L1","order":"WO-1","gtin":"09506000134352","count":10}`,
		`{"v":1,"request_id":"r1","line":"L1","order":"WO-1","gtin":"09506000134352","error":"order not released"}`,
	} {
		for k := range byte(4) {
			f.Add(append([]byte{k}, seed...))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		body := data[1:]
		switch data[0] % 4 {
		case 0:
			roundTrip(t, body, wire.DecodeStatus, func(wire.Status) {})
		case 1:
			roundTrip(t, body, wire.DecodeOrders, func(wire.Orders) {})
		case 2:
			roundTrip(t, body, wire.DecodeSerialRequest, func(wire.SerialRequest) {})
		case 3:
			roundTrip(t, body, wire.DecodeSerialGrant, func(wire.SerialGrant) {})
		}
	})
}
