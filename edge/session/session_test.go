package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

func newSession(tb testing.TB, cfg Config, h Handlers) *Session {
	tb.Helper()
	if cfg.ReconnectMax == 0 {
		cfg.ReconnectMax = 100 * time.Millisecond
	}
	s, err := New(cfg, h, testkit.Logger(tb))
	require.NoError(tb, err)
	tb.Cleanup(s.Close)
	return s
}

// TestStatusRetainedAndLastWill: the status is retained, survives a
// reconnect, and the broker publishes "offline" when the link dies.
func TestStatusRetainedAndLastWill(t *testing.T) {
	broker := testcentral.StartBroker(t, "127.0.0.1:0")
	line := testcentral.LineID("ob")
	o := newSession(t, Config{Line: line, Broker: broker.URL()}, Handlers{})
	require.NoError(t, o.PublishStatus(wire.Status{State: wire.LineRunning, At: time.Now(), Pool: wire.Pool{Available: 42, MinutesLeft: 3}}))
	require.NoError(t, o.Connect())
	require.Eventually(t, func() bool { return o.Stats().Connected }, testcentral.Wait, time.Millisecond)

	// A central connecting later gets the retained status.
	central := testcentral.New(t, broker.URL(), line, testcentral.Options{})
	ctx := testkit.Context(t)
	s := central.WaitFor(ctx, "the retained status", func(s testcentral.Snapshot) bool { return len(s.Statuses) > 0 })
	require.Equal(t, wire.LineRunning, s.Statuses[0].State)
	require.Equal(t, uint64(42), s.Statuses[0].Pool.Available)

	require.True(t, broker.Cut("serialine-edge-"+line))
	// The last will, then (the edge reconnects) running again; both may
	// arrive between two looks, so look for them in order.
	offlineAt := func(s testcentral.Snapshot) int {
		for i, st := range s.Statuses {
			if st.State == wire.LineOffline {
				return i
			}
		}
		return -1
	}
	central.WaitFor(ctx, "the last will", func(s testcentral.Snapshot) bool { return offlineAt(s) > 0 })
	// The reconnect republishes the status. On a busy machine the broker
	// may deliver the old connection's will after it, so the order of the
	// two is not asserted (the agent republishes its status every
	// status_interval, which heals a retained "offline" that came late).
	central.WaitFor(ctx, "running again", func(s testcentral.Snapshot) bool {
		running := 0
		for _, st := range s.Statuses {
			if st.State == wire.LineRunning {
				running++
			}
		}
		return running >= 2
	})
	// A clean close says offline itself.
	o.Close()
	central.WaitFor(ctx, "offline at close", func(s testcentral.Snapshot) bool {
		return s.Statuses[len(s.Statuses)-1].State == wire.LineOffline
	})
}

func TestOrdersGrantsAndRequests(t *testing.T) {
	line := testcentral.LineID("ob")
	central := testcentral.New(t, testcentral.Mosquitto, line, testcentral.Options{})
	ord := wire.Order{ID: "WO-1", GTIN: "09506000134352", Lot: "LOT42", Expiry: "271231", Quantity: 10, State: wire.OrderStateReleased}
	central.PublishOrders(ord) // retained: delivered on subscription

	orders := make(chan wire.Orders, 4)
	grants := make(chan wire.SerialGrant, 4)
	acks := make(chan wire.Ack, 4)
	o := newSession(t, Config{Line: line, Broker: testcentral.Mosquitto},
		Handlers{Orders: func(w wire.Orders) { orders <- w }, Grant: func(g wire.SerialGrant) { grants <- g }, Acks: func(a wire.Ack) { acks <- a }})
	ctx := testkit.Context(t)
	require.ErrorIs(t, o.RequestSerials(ctx, wire.SerialRequest{V: 1, RequestID: "r-1", Line: line, Order: "WO-1", GTIN: ord.GTIN, Count: 5}), ErrOffline)
	require.NoError(t, o.Connect())
	select {
	case got := <-orders:
		require.Equal(t, []wire.Order{ord}, got.Orders)
	case <-ctx.Done():
		t.Fatal("no orders")
	}
	require.Eventually(t, func() bool { return o.Stats().Connected }, testcentral.Wait, time.Millisecond)
	req := wire.SerialRequest{V: 1, RequestID: "r-1", Line: line, Order: "WO-1", GTIN: ord.GTIN, Count: 5}
	require.NoError(t, o.RequestSerials(ctx, req))
	select {
	case g := <-grants:
		require.Equal(t, "r-1", g.RequestID)
		require.Equal(t, uint64(5), g.Count())
	case <-ctx.Done():
		t.Fatal("no grant")
	}
	require.Equal(t, []wire.SerialRequest{req}, central.Snapshot().Requests)

	// Invalid payloads are counted and logged, not passed on.
	central.PublishRaw(wire.KindSerialGrant, false, []byte(`{"v":2}`))
	central.PublishRaw(wire.KindAcks, false, testcentral.Marshal(t, wire.Ack{V: 1, Line: "t-other", Seq: 5}))
	require.Eventually(t, func() bool { return o.Stats().Invalid == 2 }, testcentral.Wait, time.Millisecond)
	require.Empty(t, acks, "an ack of another line is not passed on")
	require.Empty(t, grants)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"line", Config{Line: "a+b", Broker: "tcp://x:1"}, "session: line:"},
		{"broker", Config{Line: "L"}, "session: broker: missing"},
		{"keepalive", Config{Line: "L", Broker: "tcp://x:1", KeepAlive: -1}, "keepalive"},
		{"publish timeout", Config{Line: "L", Broker: "tcp://x:1", PublishTimeout: -1}, "publish_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, tc.cfg.Validate(), tc.msg)
		})
	}
	_, err := New(Config{Line: "L", Broker: "tcp://127.0.0.1:1"}, Handlers{}, nil)
	require.ErrorContains(t, err, "logger")
}
