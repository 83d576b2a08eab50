package plc_test

import (
	"context"
	"testing"
	"time"

	"github.com/serialine/serialine/drivers/plc"
	plcsim "github.com/serialine/serialine/simulators/plc"
	"github.com/simonvetter/modbus"
	"github.com/stretchr/testify/require"
)

// awaitWatchdog waits, on the simulator's change channel, until cond holds
// for the edge watchdog's state.
func awaitWatchdog(tb testing.TB, sim *plcsim.Sim, what string, cond func(plcsim.WatchdogState) bool) plcsim.WatchdogState {
	tb.Helper()
	deadline := time.After(generous)
	for {
		st, ch := sim.Watchdog()
		if cond(st) {
			return st
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("edge watchdog: %s: still %+v", what, st)
		}
	}
}

// beating calls Heartbeat every 20 ms, as the station's output loop does,
// until the test ends or the returned stop is called.
func beating(tb testing.TB, p *plc.PLC) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			_ = p.Heartbeat(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	stop = func() { cancel(); <-done }
	tb.Cleanup(stop)
	return stop
}

// TestEdgeWatchdog: the edge's heartbeat arms the PLC's watchdog; when it
// stops, the PLC stops the line, raises edge-watchdog and marks the units
// on the conveyor for rejection; a reset needs the heartbeat back.
func TestEdgeWatchdog(t *testing.T) {
	const watchdog = 500 * time.Millisecond
	sim := startSim(t, plcsim.Config{Watchdog: watchdog, Travel: 3})
	p := connected(t, sim, func(c *plc.Config) { c.HeartbeatInterval = 100 * time.Millisecond })
	ctx := context.Background()
	u1, ok := sim.Trigger()
	require.True(t, ok)
	require.True(t, sim.Advance(1))
	u2, ok := sim.Trigger()
	require.True(t, ok)
	require.False(t, sim.State().Watchdog.Armed, "no heartbeat yet: the line runs without an edge")

	require.NoError(t, p.Heartbeat(ctx))
	armed := sim.State().Watchdog
	require.True(t, armed.Armed)
	require.Equal(t, uint16(1), armed.EdgeBeat)

	// The edge goes silent.
	tripped := awaitWatchdog(t, sim, "trips", func(st plcsim.WatchdogState) bool { return st.Tripped })
	seen := time.Now()
	require.Equal(t, armed.LastBeat.Add(watchdog), tripped.TrippedAt, "it trips at the heartbeat's last change + the watchdog time")
	require.False(t, seen.Before(tripped.TrippedAt), "not before")
	require.Equal(t, 1, tripped.Trips)
	require.Equal(t, []uint32{u1, u2}, tripped.Marked, "the units on the conveyor are to be rejected")
	st := sim.State()
	require.False(t, st.RunRequest, "run request dropped")
	require.False(t, st.Running, "conveyor stopped")
	require.Equal(t, []uint32{u1, u2}, st.Pending)
	require.False(t, sim.Advance(1), "nothing moves")
	_, ok = sim.Trigger()
	require.False(t, ok, "no product enters")

	alarms, err := p.Alarms(ctx)
	require.NoError(t, err)
	require.Equal(t, plc.AlarmEdgeWatchdog, alarms)
	require.Equal(t, "edge-watchdog", alarms.String())
	require.NotZero(t, plc.AlarmStopsLine&plc.AlarmEdgeWatchdog, "a stopping alarm for the edge too")

	// A reset while the heartbeat still stands keeps the alarm.
	require.NoError(t, p.ResetAlarms(ctx))
	alarms, err = p.Alarms(ctx)
	require.NoError(t, err)
	require.Equal(t, plc.AlarmEdgeWatchdog, alarms, "no reset without the heartbeat back")

	// The heartbeat returns; the reset clears the alarm; the line runs
	// again when the edge asks, and the marked units are rejected.
	beating(t, p)
	awaitWatchdog(t, sim, "a heartbeat after the trip", func(st plcsim.WatchdogState) bool { return st.Returned })
	require.NoError(t, p.ResetAlarms(ctx))
	alarms, err = p.Alarms(ctx)
	require.NoError(t, err)
	require.Zero(t, alarms)
	require.False(t, sim.State().Running, "the run request stays off until the edge sets it")
	require.NoError(t, p.SetRun(ctx, true))
	require.True(t, sim.Advance(3))
	good, rejected, err := p.Counters(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]uint32{0, 2}, [2]uint32{good, rejected}, "both units rejected")
	require.Equal(t, 1, sim.State().Watchdog.Trips, "it did not trip again while the heartbeat ran")
}

// TestEdgeStandsDown: heartbeat 0 is the edge leaving on purpose: the run
// request drops, the watchdog disarms, no alarm.
func TestEdgeStandsDown(t *testing.T) {
	sim := startSim(t, plcsim.Config{Watchdog: 200 * time.Millisecond})
	p := connected(t, sim, nil)
	ctx := context.Background()
	require.NoError(t, p.Heartbeat(ctx))
	require.NoError(t, p.SetRun(ctx, true))
	require.True(t, sim.State().Running)

	require.NoError(t, p.StandDown(ctx))
	st := sim.State()
	require.False(t, st.RunRequest)
	require.False(t, st.Running)
	require.Zero(t, st.Alarms)
	require.False(t, st.Watchdog.Armed)
	require.Equal(t, 1, st.Watchdog.StandDowns)

	require.NoError(t, p.Heartbeat(ctx))
	require.True(t, sim.State().Watchdog.Armed, "the next heartbeat arms it again")
	require.NoError(t, p.StandDown(ctx))
}

// TestPLCHeartbeat: the PLC's heartbeat changes while its program runs;
// stopped, the driver reports it after plc_heartbeat_timeout.
func TestPLCHeartbeat(t *testing.T) {
	sim := startSim(t, plcsim.Config{})
	p := connected(t, sim, func(c *plc.Config) { c.PLCHeartbeatTimeout = 300 * time.Millisecond })
	ctx := context.Background()
	require.NoError(t, p.PLCHeartbeat(ctx))

	require.NoError(t, sim.SetFault(plcsim.FaultProgramStopped, true))
	var err error
	require.Eventually(t, func() bool {
		err = p.PLCHeartbeat(ctx)
		return err != nil
	}, generous, 20*time.Millisecond, "the stopped heartbeat is noticed")
	require.ErrorIs(t, err, plc.ErrPLCHeartbeatStopped)
	require.Contains(t, err.Error(), `plc "line1-plc": PLC heartbeat stopped: plc_heartbeat (input register 6) unchanged at `)
	require.Contains(t, err.Error(), "for 300ms or more: the PLC program is not running its cycle")
	again := p.PLCHeartbeat(ctx)
	require.Equal(t, err.Error(), again.Error(), "the same text while it lasts (one alarm)")

	require.NoError(t, sim.SetFault(plcsim.FaultProgramStopped, false))
	require.Eventually(t, func() bool { return p.PLCHeartbeat(ctx) == nil }, generous, 20*time.Millisecond, "the heartbeat is back")
}

// TestNoHeartbeat: for a PLC program without the registers, nothing is
// written or read.
func TestNoHeartbeat(t *testing.T) {
	m := plc.DefaultRegisterMap()
	sim := startSim(t, plcsim.Config{Map: m})
	p := connected(t, sim, func(c *plc.Config) { c.NoHeartbeat = true })
	ctx := context.Background()
	require.Zero(t, p.HeartbeatInterval())
	require.NoError(t, p.Heartbeat(ctx))
	require.NoError(t, p.StandDown(ctx))
	require.NoError(t, p.PLCHeartbeat(ctx))
	require.False(t, sim.State().Watchdog.Armed, "nothing written")

	// With the heartbeat, a map that does not match the PLC program shows.
	m.EdgeHeartbeat = 40
	q := connected(t, sim, func(c *plc.Config) { c.Map = m })
	err := q.Heartbeat(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), "write edge_heartbeat (holding register 40)")
	require.ErrorIs(t, err, modbus.ErrIllegalDataAddress)
}
