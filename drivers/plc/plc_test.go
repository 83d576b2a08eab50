package plc_test

import (
	"context"
	"log/slog"
	"math"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/drivers/transport"
	plcsim "github.com/serialine/serialine/simulators/plc"
	"github.com/simonvetter/modbus"
	"github.com/stretchr/testify/require"
)

// generous bounds every wait for something that should happen promptly; it
// guards against hangs and measures nothing.
const generous = 10 * time.Second

func startSim(tb testing.TB, cfg plcsim.Config) *plcsim.Sim {
	tb.Helper()
	sim, err := plcsim.New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	require.NoError(tb, sim.Start("127.0.0.1:0"))
	tb.Cleanup(func() { _ = sim.Close() })
	return sim
}

func newPLC(tb testing.TB, transportSpec string, edit func(*plc.Config)) *plc.PLC {
	tb.Helper()
	cfg := plc.Config{
		Name:         "line1-plc",
		Transport:    transportSpec,
		PollInterval: time.Millisecond,
		Timeout:      2 * time.Second,
		Reconnect:    transport.Backoff{Min: 2 * time.Millisecond, Max: 20 * time.Millisecond},
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := plc.New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

func connected(tb testing.TB, sim *plcsim.Sim, edit func(*plc.Config)) *plc.PLC {
	tb.Helper()
	p := newPLC(tb, "tcp:"+sim.Addr(), edit)
	require.NoError(tb, p.Connect(context.Background()))
	return p
}

// runTriggers starts Triggers and returns its channel and a way to stop it
// that reports what it returned.
func runTriggers(tb testing.TB, p *plc.PLC) (<-chan uint32, func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan uint32, 64)
	done := make(chan error, 1)
	go func() { done <- p.Triggers(ctx, out) }()
	var (
		once   sync.Once
		result error
	)
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(generous):
				tb.Errorf("Triggers did not return after cancel")
			}
		})
		return result
	}
	tb.Cleanup(func() { _ = stop() })
	return out, stop
}

func collect(tb testing.TB, ch <-chan uint32, n int) []uint32 {
	tb.Helper()
	got := make([]uint32, 0, n)
	deadline := time.After(generous)
	for len(got) < n {
		select {
		case v := <-ch:
			got = append(got, v)
		case <-deadline:
			tb.Fatalf("got %d of %d triggers: %v", len(got), n, got)
		}
	}
	return got
}

// awaitLink waits until the link is up (or down), on the driver's own
// change notification.
func awaitLink(tb testing.TB, p *plc.PLC, up bool) plc.LinkState {
	tb.Helper()
	deadline := time.After(generous)
	for {
		st, changed := p.Link()
		if st.Up == up {
			return st
		}
		select {
		case <-changed:
		case <-deadline:
			tb.Fatalf("link never became up=%v (last state %+v)", up, st)
		}
	}
}

func seq(from uint32, n int) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = from + uint32(i)
	}
	return s
}

func triggerN(tb testing.TB, sim *plcsim.Sim, n int) {
	tb.Helper()
	for range n {
		_, ok := sim.Trigger()
		require.True(tb, ok, "line must be running")
	}
}

func TestNewValidatesAndDoesNotDial(t *testing.T) {
	// Nothing listens here; New must still succeed, and calls must say
	// "not connected" rather than dial.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	p := newPLC(t, "tcp:"+addr, nil)
	_, err = p.TriggerCount(context.Background())
	require.ErrorIs(t, err, transport.ErrNotConnected)
	require.Contains(t, err.Error(), `plc "line1-plc"`)

	err = p.Connect(context.Background())
	require.ErrorIs(t, err, transport.ErrNotConnected)
	require.Contains(t, err.Error(), addr)
	st, _ := p.Link()
	require.False(t, st.Up)
	require.Error(t, st.Err)
}

func TestTriggersDeliveredInOrder(t *testing.T) {
	sim := startSim(t, plcsim.Config{InitialCount: 1000})
	triggerN(t, sim, 5) // before Connect: not ours
	p := connected(t, sim, nil)
	out, stop := runTriggers(t, p)

	// Bursts between polls become jumps of N that must arrive as N numbers.
	var want []uint32
	next := uint32(1006)
	for _, burst := range []int{1, 7, 1, 150, 3} {
		triggerN(t, sim, burst)
		want = append(want, seq(next, burst)...)
		next += uint32(burst)
	}
	require.Equal(t, want, collect(t, out, len(want)))
	require.NoError(t, stop())
	select {
	case v := <-out:
		t.Fatalf("unexpected extra trigger %d", v)
	default:
	}
}

func TestTriggersCounterWrap(t *testing.T) {
	sim := startSim(t, plcsim.Config{InitialCount: math.MaxUint32 - 2})
	p := connected(t, sim, nil)
	out, _ := runTriggers(t, p)
	triggerN(t, sim, 6)
	require.Equal(t, []uint32{math.MaxUint32 - 1, math.MaxUint32, 0, 1, 2, 3}, collect(t, out, 6))
}

func TestTriggersCounterResetIsNotProducts(t *testing.T) {
	sim := startSim(t, plcsim.Config{InitialCount: 5000})
	p := connected(t, sim, func(c *plc.Config) { c.MaxTriggerJump = 100 })
	out, _ := runTriggers(t, p)
	triggerN(t, sim, 2)
	require.Equal(t, []uint32{5001, 5002}, collect(t, out, 2))

	// A step beyond MaxTriggerJump (what a PLC restart looks like) is taken
	// as the new baseline, not as 101 products.
	triggerN(t, sim, 101)
	deadline := time.Now().Add(generous)
	for p.Stats().CounterResets == 0 {
		require.True(t, time.Now().Before(deadline), "the jump was never seen")
		runtime.Gosched()
	}
	unit, ok := sim.Trigger()
	require.True(t, ok)
	require.Equal(t, []uint32{unit}, collect(t, out, 1))
	require.Equal(t, uint32(5104), unit)
	st := p.Stats()
	require.Equal(t, uint64(1), st.CounterResets)
	require.GreaterOrEqual(t, st.Triggers, uint64(2))
	require.NotZero(t, st.Polls)
}

func TestRejectCountedAtRejectStation(t *testing.T) {
	sim := startSim(t, plcsim.Config{Travel: 3})
	events := make(chan plcsim.Event, 100)
	sim.OnEvent(func(ev plcsim.Event) {
		if ev.Kind == plcsim.UnitKept || ev.Kind == plcsim.UnitRejected {
			events <- ev
		}
	})
	p := connected(t, sim, nil)
	ctx := context.Background()

	// Units 1..5 enter one pitch apart; units 4 and 5, still on the
	// conveyor, are bad.
	for range 5 {
		_, ok := sim.Trigger()
		require.True(t, ok)
		require.True(t, sim.Advance(1))
	}
	require.NoError(t, p.Reject(ctx, 5))
	require.NoError(t, p.Reject(ctx, 4))
	require.Equal(t, []uint32{4, 5}, sim.State().Pending)
	require.True(t, sim.Advance(10)) // every unit passes the reject station

	var kept, rejected []uint32
	for range 5 {
		select {
		case ev := <-events:
			if ev.Kind == plcsim.UnitRejected {
				rejected = append(rejected, ev.Unit)
			} else {
				kept = append(kept, ev.Unit)
			}
		case <-time.After(generous):
			t.Fatal("missing unit events")
		}
	}
	require.Equal(t, []uint32{1, 2, 3}, kept)
	require.Equal(t, []uint32{4, 5}, rejected)

	good, rej, err := p.Counters(ctx)
	require.NoError(t, err)
	require.Equal(t, uint32(3), good)
	require.Equal(t, uint32(2), rej)
	alarms, err := p.Alarms(ctx)
	require.NoError(t, err)
	require.Zero(t, alarms, "every reject was in time")
}

func TestRejectTooLateRaisesAlarm(t *testing.T) {
	sim := startSim(t, plcsim.Config{Travel: 2})
	p := connected(t, sim, nil)
	ctx := context.Background()
	for range 4 {
		sim.Trigger()
		sim.Advance(1)
	}
	// Unit 1 and 2 have passed the reject station; unit 9 never entered.
	require.NoError(t, p.Reject(ctx, 1), "the PLC acknowledges even a request it cannot carry out")
	alarms, err := p.Alarms(ctx)
	require.NoError(t, err)
	require.True(t, alarms.Has(plc.AlarmRejectMissed), "alarms %v", alarms)
	require.Equal(t, 1, sim.State().RejectMissed)

	require.NoError(t, p.ResetAlarms(ctx))
	alarms, err = p.Alarms(ctx)
	require.NoError(t, err)
	require.Zero(t, alarms)

	require.NoError(t, p.Reject(ctx, 9))
	alarms, err = p.Alarms(ctx)
	require.NoError(t, err)
	require.Equal(t, plc.AlarmRejectMissed, alarms)
}

func TestRejectNotAcknowledged(t *testing.T) {
	sim := startSim(t, plcsim.Config{})
	p := connected(t, sim, func(c *plc.Config) { c.Timeout = 50 * time.Millisecond })
	ctx := context.Background()
	unit, ok := sim.Trigger()
	require.True(t, ok)

	require.NoError(t, sim.SetFault(plcsim.FaultProgramStopped, true))
	err := p.Reject(ctx, unit)
	require.ErrorIs(t, err, plc.ErrRejectNotAcknowledged)
	require.NotErrorIs(t, err, transport.ErrNotConnected, "the PLC answered; the link is fine")

	// While the old request is still pending a new one must not overwrite
	// the target.
	err = p.Reject(ctx, unit)
	require.ErrorIs(t, err, plc.ErrRejectNotAcknowledged)
	require.Contains(t, err.Error(), "previous request still pending")

	require.NoError(t, sim.SetFault(plcsim.FaultProgramStopped, false))
	require.Equal(t, []uint32{unit}, sim.State().Pending, "the waiting request is latched when the program runs again")
	require.NoError(t, p.Reject(ctx, unit))
}

func TestStackLightRunAndAlarms(t *testing.T) {
	sim := startSim(t, plcsim.Config{StartStopped: true})
	p := connected(t, sim, nil)
	ctx := context.Background()

	running, err := p.Running(ctx)
	require.NoError(t, err)
	require.False(t, running)
	require.NoError(t, p.SetRun(ctx, true))
	running, err = p.Running(ctx)
	require.NoError(t, err)
	require.True(t, running)
	require.True(t, sim.State().RunRequest)

	for _, light := range []plc.StackLight{plc.StackGreen, plc.StackAmber | plc.StackBlink, plc.StackRed, plc.StackOff} {
		require.NoError(t, p.SetStackLight(ctx, light))
		require.Equal(t, light, sim.StackLight())
	}
	err = p.SetStackLight(ctx, 7)
	require.ErrorContains(t, err, "stack light")

	require.NoError(t, p.SetRun(ctx, false))
	require.False(t, sim.State().RunRequest)
	_, ok := sim.Trigger()
	require.False(t, ok, "a stopped line raises no triggers")
}

func TestFaultsStopTheLine(t *testing.T) {
	tests := []struct {
		fault plcsim.Fault
		alarm plc.AlarmWord
	}{
		{plcsim.FaultJam, plc.AlarmJam},
		{plcsim.FaultEStop, plc.AlarmEStop},
		{plcsim.FaultRejectBinFull, plc.AlarmRejectBinFull},
		{plcsim.FaultLowAir, plc.AlarmLowAir},
		{plcsim.FaultGuardOpen, plc.AlarmGuardOpen},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			sim := startSim(t, plcsim.Config{})
			p := connected(t, sim, nil)
			ctx := context.Background()
			out, _ := runTriggers(t, p)

			require.NoError(t, sim.SetFault(tt.fault, true))
			running, err := p.Running(ctx)
			require.NoError(t, err)
			require.False(t, running)
			alarms, err := p.Alarms(ctx)
			require.NoError(t, err)
			require.Equal(t, tt.alarm, alarms)
			_, ok := sim.Trigger()
			require.False(t, ok, "no triggers while %s", tt.fault)

			require.NoError(t, p.ResetAlarms(ctx))
			alarms, err = p.Alarms(ctx)
			require.NoError(t, err)
			require.Equal(t, tt.alarm, alarms, "an alarm whose cause persists survives a reset")

			require.NoError(t, sim.SetFault(tt.fault, false))
			running, err = p.Running(ctx)
			require.NoError(t, err)
			require.True(t, running)
			unit, ok := sim.Trigger()
			require.True(t, ok)
			require.Equal(t, []uint32{unit}, collect(t, out, 1))
		})
	}
}

func TestDisconnectAndReconnect(t *testing.T) {
	sim := startSim(t, plcsim.Config{})
	p := connected(t, sim, nil)
	ctx := context.Background()
	out, _ := runTriggers(t, p)
	triggerN(t, sim, 3)
	require.Equal(t, seq(1, 3), collect(t, out, 3))

	require.NoError(t, sim.SetFault(plcsim.FaultDisconnect, true))
	down := awaitLink(t, p, false)
	require.ErrorIs(t, down.Err, transport.ErrNotConnected)
	_, err := p.Running(ctx)
	require.ErrorIs(t, err, transport.ErrNotConnected)
	require.Contains(t, err.Error(), `plc "line1-plc"`)
	err = p.Reject(ctx, 2)
	require.ErrorIs(t, err, transport.ErrNotConnected)

	// The conveyor does not care about the network: products keep coming.
	triggerN(t, sim, 4)

	require.NoError(t, sim.SetFault(plcsim.FaultDisconnect, false))
	up := awaitLink(t, p, true)
	require.Equal(t, 1, up.Reconnects)
	require.Equal(t, seq(4, 4), collect(t, out, 4), "triggers during the outage arrive after it, none lost")
	running, err := p.Running(ctx)
	require.NoError(t, err)
	require.True(t, running)
}

func TestSimulatorGoneAndBack(t *testing.T) {
	// The PLC itself disappears (listener closed, connections reset) and a
	// new one answers on the same address.
	first, err := plcsim.New(plcsim.Config{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.NoError(t, first.Start("127.0.0.1:0"))
	addr := first.Addr()
	p := newPLC(t, "tcp:"+addr, nil)
	out, _ := runTriggers(t, p)
	awaitLink(t, p, true)
	triggerN(t, first, 2)
	require.Equal(t, seq(1, 2), collect(t, out, 2))

	require.NoError(t, first.Close())
	awaitLink(t, p, false)

	second, err := plcsim.New(plcsim.Config{InitialCount: 2}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.NoError(t, second.Start(addr))
	t.Cleanup(func() { _ = second.Close() })
	awaitLink(t, p, true)
	triggerN(t, second, 2)
	require.Equal(t, seq(3, 2), collect(t, out, 2))
}

func TestMapMismatchIsNotALinkError(t *testing.T) {
	sim := startSim(t, plcsim.Config{})
	p := newPLC(t, "tcp:"+sim.Addr(), func(c *plc.Config) {
		c.Map = plc.DefaultRegisterMap()
		c.Map.TriggerCounter = 100 // the PLC program has nothing there
	})
	err := p.Connect(context.Background())
	require.ErrorIs(t, err, modbus.ErrIllegalDataAddress)
	require.NotErrorIs(t, err, transport.ErrNotConnected)
	require.Contains(t, err.Error(), "trigger_counter (input register 100-101)")
}

func TestWordOrderLowFirst(t *testing.T) {
	m := plc.DefaultRegisterMap()
	m.WordOrder = plc.LowWordFirst
	sim := startSim(t, plcsim.Config{Map: m, InitialCount: 0x0001FFFF})
	p := connected(t, sim, func(c *plc.Config) { c.Map = m })
	got, err := p.TriggerCount(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint32(0x0001FFFF), got)
	sim.Trigger()
	require.NoError(t, p.Reject(context.Background(), 0x00020000))
	require.Equal(t, []uint32{0x00020000}, sim.State().Pending)
}

func TestCountersInHoldingRegisters(t *testing.T) {
	m := plc.DefaultRegisterMap()
	m.CounterTable = plc.HoldingRegisters
	m.TriggerCounter, m.GoodCounter, m.RejectedCounter = 100, 110, 120 // not adjacent
	sim := startSim(t, plcsim.Config{Map: m, Travel: 1})
	p := connected(t, sim, func(c *plc.Config) { c.Map = m })
	ctx := context.Background()
	sim.Trigger()
	sim.Trigger()
	require.NoError(t, p.Reject(ctx, 2))
	sim.Advance(1)
	n, err := p.TriggerCount(ctx)
	require.NoError(t, err)
	require.Equal(t, uint32(2), n)
	good, rejected, err := p.Counters(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]uint32{1, 1}, [2]uint32{good, rejected})
}

func TestWrongUnitID(t *testing.T) {
	sim := startSim(t, plcsim.Config{UnitID: 3})
	p := newPLC(t, "tcp:"+sim.Addr(), func(c *plc.Config) { c.UnitID = 4 })
	err := p.Connect(context.Background())
	require.ErrorIs(t, err, transport.ErrNotConnected, "a gateway with no such unit behind it: unreachable")
	require.ErrorIs(t, err, modbus.ErrGWTargetFailedToRespond)
}

func TestCloseEndsEverything(t *testing.T) {
	sim := startSim(t, plcsim.Config{})
	p := connected(t, sim, nil)
	done := make(chan error, 1)
	go func() { done <- p.Triggers(context.Background(), make(chan uint32)) }()
	awaitLink(t, p, true)
	require.NoError(t, p.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, plc.ErrClosed)
	case <-time.After(generous):
		t.Fatal("Triggers did not return after Close")
	}
	_, err := p.Running(context.Background())
	require.ErrorIs(t, err, plc.ErrClosed)
	require.ErrorIs(t, p.Connect(context.Background()), plc.ErrClosed)
	require.NoError(t, p.Close())
}

func TestTriggersRunsOnce(t *testing.T) {
	sim := startSim(t, plcsim.Config{})
	p := connected(t, sim, nil)
	runTriggers(t, p)
	deadline := time.Now().Add(generous)
	for p.Stats().Polls == 0 { // the first loop is running once it has polled
		require.True(t, time.Now().Before(deadline), "Triggers never polled")
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // were it to start, it would return at once
	err := p.Triggers(ctx, make(chan uint32))
	require.ErrorContains(t, err, "already running")
}

func TestRTUOverPty(t *testing.T) {
	master, slave, err := pty.Open()
	require.NoError(t, err)
	path := slave.Name()
	require.NoError(t, slave.Close()) // the driver opens it by name
	t.Cleanup(func() { _ = master.Close() })

	sim, err := plcsim.New(plcsim.Config{UnitID: 7, Travel: 2}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.ServeRTU(ctx, master) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			require.NoError(t, err)
		case <-time.After(generous):
			t.Error("ServeRTU did not stop")
		}
	})

	p := newPLC(t, "rtu:"+path+"?baud=38400", func(c *plc.Config) {
		c.UnitID = 7
		c.PollInterval = 5 * time.Millisecond
		c.Timeout = 200 * time.Millisecond // how long an unanswered bus takes to count as down
	})
	require.NoError(t, p.Connect(context.Background()))
	out, _ := runTriggers(t, p)
	for range 4 {
		sim.Trigger()
		sim.Advance(1)
	}
	require.Equal(t, seq(1, 4), collect(t, out, 4))
	require.NoError(t, p.Reject(context.Background(), 4))
	require.NoError(t, p.SetStackLight(context.Background(), plc.StackRed|plc.StackBlink))
	require.Equal(t, plc.StackRed|plc.StackBlink, sim.StackLight())
	sim.Advance(2)
	good, rejected, err := p.Counters(context.Background())
	require.NoError(t, err)
	require.Equal(t, [2]uint32{3, 1}, [2]uint32{good, rejected})

	// An unanswered bus is a lost link, and comes back by itself.
	require.NoError(t, sim.SetFault(plcsim.FaultDisconnect, true))
	awaitLink(t, p, false)
	require.NoError(t, sim.SetFault(plcsim.FaultDisconnect, false))
	awaitLink(t, p, true)
}

func BenchmarkTriggerPoll(b *testing.B) {
	sim := startSim(b, plcsim.Config{})
	p := connected(b, sim, nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.TriggerCount(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "polls/s")
}

func TestNewNeedsALogger(t *testing.T) {
	_, err := plc.New(plc.Config{Name: "plc", Transport: "tcp:127.0.0.1:502", Map: plc.DefaultRegisterMap()}, nil)
	require.ErrorContains(t, err, `plc "plc": logger: missing`)
}
