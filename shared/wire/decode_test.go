package wire_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

func TestDecodeEventBatchRoundTrip(t *testing.T) {
	b := wire.EventBatch{V: wire.Version, Line: testLine}
	for i, typ := range wire.EventTypes() {
		b.Events = append(b.Events, validEvent(t, typ, uint64(i+1)))
	}
	data, err := wire.Encode(b)
	require.NoError(t, err)
	got, err := wire.DecodeEventBatch(data)
	require.NoError(t, err)
	require.Equal(t, b, got)
}

func TestDecodeEventBatchEnvelope(t *testing.T) {
	good, err := json.Marshal(validBatch(t, 2))
	require.NoError(t, err)
	tests := []struct {
		name    string
		payload string
		field   string // "" when the error is not a *FieldError
		is      error
		wantErr string
	}{
		{"not json", `{"v":1,`, "", nil, "not valid JSON"},
		{"empty", ``, "", nil, "not valid JSON"},
		{"array", `[]`, "", nil, "JSON array"},
		{"version missing", `{"line":"L1","events":[]}`, "v", wire.ErrVersion, "missing (this build speaks 1)"},
		{"version 2", strings.Replace(string(good), `"v":1`, `"v":2`, 1), "v", wire.ErrVersion, "version 2 is not supported"},
		{"version 2 new shape", `{"v":2,"line":"L1","events":{"packed":"differently"}}`, "v", wire.ErrVersion, "version 2"},
		{"line invalid", strings.Replace(string(good), `"line":"L1"`, `"line":"L/1"`, 1), "line", nil, "'/'"},
		{"line missing", strings.Replace(string(good), `"line":"L1",`, ``, 1), "line", nil, "empty"},
		{"no events", `{"v":1,"line":"L1","events":[]}`, "events", nil, "at least one event"},
		{"wrong type", `{"v":1,"line":"L1","events":[{"id":"a","seq":"7"}]}`, "events[0].seq", nil, "JSON string where a uint64 belongs"},
		{"negative seq", `{"v":1,"line":"L1","events":[{"id":"a","seq":-1}]}`, "events[0].seq", nil, "uint64"},
		{"wrong type, second event", `{"v":1,"line":"L1","events":[{"id":"a","seq":1},{"id":"b","seq":2,"counter":"x"}]}`, "events[1].counter", nil, "JSON string where a uint64 belongs"},
		{"object for a list", `{"v":1,"line":"L1","events":[{"id":"a","seq":1,"children":{}}]}`, "events[0].children", nil, "JSON object where a []string belongs"},
		{"name given twice", `{"v":1,"line":"L1","line":"L2","events":[{"id":"a","seq":1}]}`, "", nil, `duplicate object member name "line"`},
		{"invalid UTF-8", "{\"v\":1,\"line\":\"L\xff\",\"events\":[{\"id\":\"a\",\"seq\":1}]}", "", nil, "invalid UTF-8"},
		{"incarnation charset", strings.Replace(string(good), `"line":"L1"`, `"line":"L1","incarnation":"a:b"`, 1), "incarnation", nil, "position 2"},
		{"incarnation too long", strings.Replace(string(good), `"line":"L1"`, `"line":"L1","incarnation":"`+strings.Repeat("a", 65)+`"`, 1), "incarnation", nil, "65 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wire.DecodeEventBatch([]byte(tc.payload))
			require.Error(t, err)
			require.Empty(t, got.Events, "no batch with an invalid envelope")
			require.Contains(t, err.Error(), tc.wantErr)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			var fe *wire.FieldError
			if tc.field != "" {
				require.True(t, errors.As(err, &fe), "%T %v", err, err)
				require.Equal(t, tc.field, fe.Field)
			}
			var be *wire.BatchError
			require.False(t, errors.As(err, &be), "envelope errors are not batch errors")
		})
	}
}

func TestDecodeEventBatchSizeCaps(t *testing.T) {
	big := make([]byte, wire.MaxPayloadBytes+1)
	_, err := wire.DecodeEventBatch(big)
	require.ErrorIs(t, err, wire.ErrTooLarge)

	b := wire.EventBatch{V: 1, Line: testLine, Events: make([]wire.Event, wire.MaxBatchEvents+1)}
	data, err := json.Marshal(b)
	require.NoError(t, err)
	_, err = wire.DecodeEventBatch(data)
	require.ErrorIs(t, err, wire.ErrTooLarge)
	require.ErrorContains(t, err, "events: ")
}

func TestDecodeEventBatchInvalidEvents(t *testing.T) {
	b := validBatch(t, 6)
	b.Events[1].GTIN = badGTIN
	b.Events[3].Reason = "lost"
	b.Events[4].ID = b.Events[0].ID // repeats an id
	b.Events[5].Seq = b.Events[2].Seq
	data, err := json.Marshal(b)
	require.NoError(t, err)

	got, err := wire.DecodeEventBatch(data)
	var be *wire.BatchError
	require.True(t, errors.As(err, &be), "%T %v", err, err)
	require.Equal(t, b, got, "the whole batch comes back so that the valid events can be applied")
	require.Equal(t, []int{1, 3, 4, 5}, be.Indexes())
	require.True(t, strings.HasPrefix(be.Invalid[1].Error(), "events[1].gtin: AI (01)"), be.Invalid[1].Error())
	require.Contains(t, be.Invalid[3].Error(), "events[3].reason: only decommissioned")
	require.Contains(t, be.Invalid[4].Error(), `events[4].id: "L1:1" repeats events[0]`)
	require.Contains(t, be.Invalid[5].Error(), "events[5].seq: 3 repeats events[2]")
	require.Contains(t, err.Error(), "(and 3 more invalid events)")
	var fe *wire.FieldError
	require.True(t, errors.As(err, &fe))
	require.Equal(t, "events[1].gtin", fe.Field)

	_, err = wire.Encode(b)
	require.Error(t, err, "Encode refuses what Decode would flag")
}

func TestDecodeIgnoresUnknownFields(t *testing.T) {
	data := []byte(`{"v":1,"line":"L1","compression":"none","events":[{"id":"L1:1","seq":1,"type":"order-started","at":"2026-03-04T05:06:07Z","order":"WO-1","station":"s2"}]}`)
	b, err := wire.DecodeEventBatch(data)
	require.NoError(t, err, "fields added by a newer peer within v1 are ignored")
	require.Equal(t, wire.OrderStarted, b.Events[0].Type)
}

func TestAckRoundTripAndRules(t *testing.T) {
	a := wire.Ack{V: 1, Line: testLine, Seq: 1234}
	data, err := wire.Encode(a)
	require.NoError(t, err)
	require.JSONEq(t, `{"v":1,"line":"L1","seq":1234}`, string(data))
	got, err := wire.DecodeAck(data)
	require.NoError(t, err)
	require.Equal(t, a, got)

	_, err = wire.DecodeAck([]byte(`{"v":3,"line":"L1","seq":1}`))
	require.ErrorIs(t, err, wire.ErrVersion)
	_, err = wire.DecodeAck([]byte(`{"v":1,"line":"#","seq":1}`))
	require.ErrorContains(t, err, "line: ")

	// A new incarnation's ack says what it replaced.
	a = wire.Ack{V: 1, Line: testLine, Seq: 3, Incarnation: "b2", Replaced: &wire.Replaced{Incarnation: "a1", Seq: 4591, At: testAt}}
	data, err = wire.Encode(a)
	require.NoError(t, err)
	got, err = wire.DecodeAck(data)
	require.NoError(t, err)
	require.Equal(t, a, got)
	for name, tc := range map[string]struct {
		payload, want string
	}{
		"seq too large":        {`{"v":1,"line":"L1","seq":9223372036854775808}`, "seq: 9223372036854775808 exceeds"},
		"incarnation charset":  {`{"v":1,"line":"L1","seq":1,"incarnation":"a b"}`, "incarnation: character ' '"},
		"replaced without own": {`{"v":1,"line":"L1","seq":1,"replaced":{"incarnation":"a1","seq":2}}`, "replaced: only the ack of a named incarnation"},
		"replaced itself":      {`{"v":1,"line":"L1","seq":1,"incarnation":"a1","replaced":{"incarnation":"a1","seq":2}}`, `replaced.incarnation: "a1" cannot replace itself`},
	} {
		_, err := wire.DecodeAck([]byte(tc.payload))
		require.ErrorContains(t, err, tc.want, name)
	}
}

func validStatus() wire.Status {
	return wire.Status{
		V: 1, Line: testLine, State: wire.LineRunning, At: testAt, Order: testOrder,
		Counts:     &wire.Reconciliation{Granted: 10, Commissioned: 3},
		Pool:       wire.Pool{Available: 5000, MinutesLeft: 12.5},
		Devices:    map[string]wire.DeviceHealth{"printer": {State: wire.DeviceOK}, "scanner": {State: wire.DeviceWarning, Detail: "grade C", Since: testAt}},
		Outbox:     17,
		OrderState: wire.ProgressRunning,
		Alarms:     []wire.StatusAlarm{{Code: "grade-low", Device: "scanner", Detail: "grade C", Since: testAt, Active: true}},
	}
}

func TestStatus(t *testing.T) {
	s := validStatus()
	data, err := wire.Encode(s)
	require.NoError(t, err)
	got, err := wire.DecodeStatus(data)
	require.NoError(t, err)
	require.Equal(t, s, got)

	will := wire.Status{V: 1, Line: testLine, State: wire.LineOffline}
	data, err = wire.Encode(will)
	require.NoError(t, err, "the last will needs no time")
	require.NotContains(t, string(data), `"at"`)

	tests := []struct {
		name   string
		mutate func(*wire.Status)
		want   string
	}{
		{"version", func(s *wire.Status) { s.V = 0 }, "v: "},
		{"state", func(s *wire.Status) { s.State = "idle" }, `state: "idle" is not a line state`},
		{"at", func(s *wire.Status) { s.At = time.Time{} }, "at: missing"},
		{"device state", func(s *wire.Status) { s.Devices["plc"] = wire.DeviceHealth{State: "broken"} }, `devices["plc"].state: "broken"`},
		{"device name", func(s *wire.Status) { s.Devices[""] = wire.DeviceHealth{State: wire.DeviceOK} }, `devices[""]: missing`},
		{"minutes", func(s *wire.Status) { s.Pool.MinutesLeft = -1 }, "pool.minutes_left"},
		{"counts", func(s *wire.Status) { s.Counts.Decommissioned = map[wire.Reason]uint64{"x": 1} }, "counts.decommissioned"},
		{"order state", func(s *wire.Status) { s.OrderState = "done" }, `order_state: "done" is not an order state`},
		{"alarm code", func(s *wire.Status) { s.Alarms[0].Code = "" }, "alarms[0].code: missing"},
		{"alarm detail", func(s *wire.Status) { s.Alarms[0].Detail = "a\nb" }, "alarms[0].detail: control character"},
		{"too many alarms", func(s *wire.Status) { s.Alarms = make([]wire.StatusAlarm, 65) }, "alarms: has 65 alarms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validStatus()
			tc.mutate(&s)
			require.ErrorContains(t, s.Validate(), tc.want)
		})
	}
}

func validOrders() wire.Orders {
	return wire.Orders{V: 1, Line: testLine, Orders: []wire.Order{
		{ID: testOrder, GTIN: testGTIN, Lot: testLot, Expiry: testExpiry, Quantity: 1000, State: wire.OrderStateReleased, MinGrade: "C", Product: "Paracetamol 500 mg", National: map[string]string{"715": "12345-678-90"}},
		{ID: "WO-2", GTIN: testGTIN, Lot: "L2", Expiry: "290100", Quantity: 5, State: wire.OrderStateReleased, RejectAllowance: 50, MinShelfLifeDays: 180},
		{ID: "WO-0", GTIN: testGTIN, Lot: "L0", Expiry: "290100", Quantity: 5, State: wire.OrderStateClosed, ClosedAt: testAt},
	}}
}

func TestOrders(t *testing.T) {
	o := validOrders()
	data, err := wire.Encode(o)
	require.NoError(t, err)
	got, err := wire.DecodeOrders(data)
	require.NoError(t, err)
	require.Equal(t, o, got)

	empty := wire.Orders{V: 1, Line: testLine, Orders: []wire.Order{}}
	_, err = wire.Encode(empty)
	require.NoError(t, err, "no orders released is a valid state")

	tests := []struct {
		name   string
		mutate func(*wire.Order)
		want   string
	}{
		{"id", func(o *wire.Order) { o.ID = "" }, "orders[0].id: missing"},
		{"gtin", func(o *wire.Order) { o.GTIN = badGTIN }, "orders[0].gtin: AI (01)"},
		{"lot", func(o *wire.Order) { o.Lot = "" }, "orders[0].lot: missing"},
		{"lot charset", func(o *wire.Order) { o.Lot = "a b" }, "orders[0].lot: AI (10)"},
		{"expiry", func(o *wire.Order) { o.Expiry = "281301" }, "orders[0].expiry: AI (17)"},
		{"quantity", func(o *wire.Order) { o.Quantity = 0 }, "orders[0].quantity: must be at least 1"},
		{"state", func(o *wire.Order) { o.State = "running" }, `orders[0].state: "running" is not an order state`},
		{"grade", func(o *wire.Order) { o.MinGrade = "E" }, "orders[0].min_grade"},
		{"national ai", func(o *wire.Order) { o.National = map[string]string{"719": "x"} }, `orders[0].national["719"]: AI "719"`},
		{"national value", func(o *wire.Order) { o.National = map[string]string{"714": "a b"} }, `orders[0].national["714"]: AI (714)`},
		{"duplicate id", func(o *wire.Order) { o.ID = "WO-2" }, `orders[1].id: "WO-2" repeats orders[0]`},
		{"closed_at on a released order", func(o *wire.Order) { o.ClosedAt = testAt }, "orders[0].closed_at: only a closed order"},
		{"shelf life", func(o *wire.Order) { o.MinShelfLifeDays = -1 }, "orders[0].min_shelf_life_days"},
		{"allowance", func(o *wire.Order) { o.RejectAllowance = 1<<40 + 1 }, "orders[0].reject_allowance"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := validOrders()
			tc.mutate(&o.Orders[0])
			_, err := wire.Encode(o)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestSerialRequest(t *testing.T) {
	r := wire.SerialRequest{V: 1, RequestID: "L1-req-0001", Line: testLine, Order: testOrder, GTIN: testGTIN, Count: 5000}
	data, err := wire.Encode(r)
	require.NoError(t, err)
	got, err := wire.DecodeSerialRequest(data)
	require.NoError(t, err)
	require.Equal(t, r, got)

	tests := []struct {
		name   string
		mutate func(*wire.SerialRequest)
		want   string
	}{
		{"request id", func(r *wire.SerialRequest) { r.RequestID = "" }, "request_id: missing"},
		{"line", func(r *wire.SerialRequest) { r.Line = "+" }, "line: "},
		{"order", func(r *wire.SerialRequest) { r.Order = "" }, "order: missing"},
		{"gtin", func(r *wire.SerialRequest) { r.GTIN = badGTIN }, "gtin: AI (01)"},
		{"count", func(r *wire.SerialRequest) { r.Count = 0 }, "count: must be at least 1"},
		{"count huge", func(r *wire.SerialRequest) { r.Count = 1 << 63 }, "count: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := r
			tc.mutate(&r)
			require.ErrorContains(t, r.Validate(), tc.want)
		})
	}
}

func validGrant(kind serials.Kind) wire.SerialGrant {
	g := wire.SerialGrant{V: 1, RequestID: "L1-req-0001", Line: testLine, Order: testOrder, GTIN: testGTIN,
		Ranges: []wire.CounterRange{{Start: 0, Count: 3}, {Start: 10, Count: 2}}}
	switch kind {
	case serials.KindRandomized:
		g.Scheme = &serials.Spec{Kind: kind, Length: 12, Alphabet: serials.AlphabetNumeric, Key: testKey}
	case serials.KindSequential:
		g.Scheme = &serials.Spec{Kind: kind, Length: 9, Start: 100000000}
	case serials.KindList:
		g.Scheme = &serials.Spec{Kind: kind}
		g.Serials = []string{"A1", "A2", "A3", "B1", "B2"}
	}
	return g
}

func TestSerialGrant(t *testing.T) {
	for _, kind := range []serials.Kind{serials.KindSequential, serials.KindRandomized, serials.KindList} {
		t.Run(string(kind), func(t *testing.T) {
			g := validGrant(kind)
			data, err := wire.Encode(g)
			require.NoError(t, err)
			got, err := wire.DecodeSerialGrant(data)
			require.NoError(t, err)
			require.Equal(t, g, got)
			require.Equal(t, uint64(5), got.Count())
		})
	}
	refusal := wire.SerialGrant{V: 1, RequestID: "r", Line: testLine, Order: testOrder, GTIN: testGTIN, Error: "order WO-1 is not released to line L1"}
	_, err := wire.Encode(refusal)
	require.NoError(t, err)

	tests := []struct {
		name   string
		kind   serials.Kind
		mutate func(*wire.SerialGrant)
		want   string
	}{
		{"scheme missing", serials.KindSequential, func(g *wire.SerialGrant) { g.Scheme = nil }, "scheme: missing"},
		{"scheme invalid", serials.KindRandomized, func(g *wire.SerialGrant) { g.Scheme.Key = "" }, "scheme: serial scheme: key: missing"},
		{"ranges missing", serials.KindSequential, func(g *wire.SerialGrant) { g.Ranges = nil }, "ranges: missing"},
		{"ranges overlap", serials.KindSequential, func(g *wire.SerialGrant) { g.Ranges[1].Start = 2 }, "ranges[1]: [2, 4) overlaps ranges[0] [0, 3)"},
		{"serials on sequential", serials.KindSequential, func(g *wire.SerialGrant) { g.Serials = []string{"1"} }, "serials: only list schemes"},
		{"list count", serials.KindList, func(g *wire.SerialGrant) { g.Serials = g.Serials[:4] }, "serials: has 4 serials, the ranges grant 5"},
		{"list charset", serials.KindList, func(g *wire.SerialGrant) { g.Serials[2] = "A 3" }, "serials[2]: AI (21)"},
		{"list duplicate", serials.KindList, func(g *wire.SerialGrant) { g.Serials[4] = "A1" }, `serials[4]: "A1" repeats serials[0]`},
		{"refusal with ranges", serials.KindSequential, func(g *wire.SerialGrant) { g.Error = "no" }, "error: a refused grant carries no scheme"},
		{"request id", serials.KindSequential, func(g *wire.SerialGrant) { g.RequestID = "a\tb" }, "request_id: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := validGrant(tc.kind)
			tc.mutate(&g)
			require.ErrorContains(t, g.Validate(), tc.want)
		})
	}
}

func TestGrantDoesNotLeakKeyWhenPrinted(t *testing.T) {
	g := validGrant(serials.KindRandomized)
	data, err := json.Marshal(g)
	require.NoError(t, err)
	require.Contains(t, string(data), testKey, "the edge needs the key to make serials")
	require.NotContains(t, g.Scheme.String(), testKey)
}
