package station

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/simulators/line"
	plcsim "github.com/serialine/serialine/simulators/plc"
)

// awaitArmed waits until the station's heartbeat has armed the PLC's
// watchdog.
func awaitArmed(tb testing.TB, sim *plcsim.Sim) {
	tb.Helper()
	deadline := time.After(waitLong)
	for {
		st, ch := sim.Watchdog()
		if st.Armed {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatal("the station's heartbeat did not arm the PLC's watchdog")
		}
	}
}

// TestPLCHeartbeatStops: the PLC's program stops cycling (its heartbeat
// stands still): the station raises a plc alarm saying so, which stops the
// line and stays until the heartbeat is back and the operator acknowledges.
func TestPLCHeartbeatStops(t *testing.T) {
	lcfg := lineConfig(t)
	lcfg.Fast = true
	lcfg.Speed = 1200
	r := newRig(t, lcfg, rigOptions{grant: 10_000})
	ctx := testkit.Context(t)
	awaitArmed(t, r.line.PLC())
	r.startLine(ctx)
	_, err := r.line.Wait(ctx, func(c line.Counters) bool { return c.Good >= 12 })
	require.NoError(t, err)
	// No unit in flight when the PLC's program stops: the units a stop
	// strands are the station's matter (and its quality limits'), not this
	// test's.
	r.setFault("line", "starved", true)
	_, err = r.line.Wait(ctx, func(c line.Counters) bool { return c.InFlight == 0 })
	require.NoError(t, err)
	r.waitState(func(s Snapshot) bool { return s.InFlight == 0 }, "every unit decided")

	require.NoError(t, r.line.PLC().SetFault(plcsim.FaultProgramStopped, true))
	s := r.waitState(func(s Snapshot) bool { return s.State == wire.LineAlarm && hasAlarm(s, "plc", true) }, "the heartbeat alarm")
	for _, a := range s.Alarms {
		if a.Device == "plc" {
			require.Equal(t, AlarmPLCHeartbeat, a.Code)
			require.Contains(t, a.Fault, "PLC heartbeat stopped: plc_heartbeat (input register 6) unchanged at ")
			require.True(t, a.StoppedLine)
		}
	}
	require.Equal(t, wire.DeviceFault, s.Devices["plc"].State)

	require.NoError(t, r.line.PLC().SetFault(plcsim.FaultProgramStopped, false))
	r.waitState(func(s Snapshot) bool { return hasAlarm(s, "plc", false) }, "the heartbeat back")
	require.NoError(t, r.st.Acknowledge(ctx))
	r.waitState(func(s Snapshot) bool { return s.State == wire.LineRunning && len(s.Alarms) == 0 }, "running again")
	r.setFault("line", "starved", false)
	before := r.line.Status().Counters.Good
	_, err = r.line.Wait(ctx, func(c line.Counters) bool { return c.Good >= before+10 })
	require.NoError(t, err, "production resumes")
	require.Zero(t, r.line.PLC().State().Watchdog.Trips, "the edge's own heartbeat never stopped")
}

// TestCleanStopStandsDown: a station that stops cleanly tells the PLC
// (heartbeat 0): the line stops, the watchdog disarms, no alarm.
func TestCleanStopStandsDown(t *testing.T) {
	lcfg := lineConfig(t)
	lcfg.Fast = true
	lcfg.Speed = 1200
	r := newRig(t, lcfg, rigOptions{grant: 10_000})
	ctx := testkit.Context(t)
	awaitArmed(t, r.line.PLC())
	r.startLine(ctx)
	_, err := r.line.Wait(ctx, func(c line.Counters) bool { return c.Good >= 12 })
	require.NoError(t, err)

	r.stop()
	st := r.line.PLC().State()
	require.False(t, st.Watchdog.Armed)
	require.Equal(t, 1, st.Watchdog.StandDowns)
	require.False(t, st.RunRequest)
	require.Zero(t, st.Alarms)
	require.Zero(t, st.Watchdog.Trips)
	require.False(t, r.line.Status().Running)
}
