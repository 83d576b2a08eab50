package station

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/simulators/line"
)

func hasAlarm(s Snapshot, device string, active bool) bool {
	for _, a := range s.Alarms {
		if a.Device == device && a.Active == active {
			return true
		}
	}
	return false
}

// TestDeviceFaultStopsUntilClearedAndAcknowledged: a printer, PLC or
// scanner fault stops the line with an alarm naming the device and the
// fault; clearing the fault is not enough, the operator must acknowledge;
// then production resumes by itself.
func TestDeviceFaultStopsUntilClearedAndAcknowledged(t *testing.T) {
	tests := []struct {
		device, fault string
		on, off       any
		text          string
	}{
		{"printer", "paper_out", true, false, "paper out"},
		{"plc", "stop", true, false, "jam"},
		{"scanner", "offline", true, false, "scanner not connected"},
	}
	for _, tc := range tests {
		t.Run(tc.device+"/"+tc.fault, func(t *testing.T) {
			lcfg := lineConfig(t)
			lcfg.Fast = true
			lcfg.Speed = 1200
			r := newRig(t, lcfg, rigOptions{grant: 10_000})
			ctx := testkit.Context(t)
			r.startLine(ctx)
			_, err := r.line.Wait(ctx, func(c line.Counters) bool { return c.Good >= 12 })
			require.NoError(t, err)

			r.setFault(tc.device, tc.fault, tc.on)
			s := r.waitState(func(s Snapshot) bool { return s.State == wire.LineAlarm && hasAlarm(s, tc.device, true) }, "the alarm")
			for _, a := range s.Alarms {
				if a.Device == tc.device {
					require.Contains(t, a.Fault, tc.text)
					require.True(t, a.StoppedLine)
				}
			}
			require.Eventually(t, func() bool { return !r.line.Status().Running }, waitLong, time.Millisecond, "the PLC stops the conveyor")
			require.Error(t, r.st.StartLine(ctx, "WO-1"), "no start during an alarm")

			r.setFault(tc.device, tc.fault, tc.off)
			s = r.waitState(func(s Snapshot) bool { return hasAlarm(s, tc.device, false) }, "the fault to clear")
			require.Equal(t, wire.LineAlarm, s.State, "cleared but not acknowledged: still stopped")
			require.False(t, r.line.Status().Running)

			require.NoError(t, r.st.Acknowledge(ctx))
			r.waitState(func(s Snapshot) bool { return s.State == wire.LineRunning && len(s.Alarms) == 0 }, "running again")
			require.Eventually(t, func() bool { return r.line.Status().Running }, waitLong, time.Millisecond)
			before := r.line.Status().Counters.Good
			_, err = r.line.Wait(ctx, func(c line.Counters) bool { return c.Good >= before+10 })
			require.NoError(t, err, "production resumes")

			// Every unit the station decided is what the line counted.
			require.NoError(t, r.st.Pause(ctx))
			r.waitState(func(s Snapshot) bool { return s.State == wire.LinePaused }, "paused")
			require.Eventually(t, func() bool { return !r.line.Status().Running }, waitLong, time.Millisecond)
			c := r.line.Status().Counters
			require.Eventually(t, func() bool { return r.st.Counts().Triggers == c.Triggers }, waitLong, time.Millisecond, "the last triggers reach the station")
			require.Eventually(t, func() bool {
				k := r.st.Counts()
				return k.Printed == k.Good+k.RejectedTotal()+uint64(r.st.Snapshot().InFlight)-countBlankInFlight(r)
			}, waitLong, time.Millisecond, "every printed unit decided or in flight")
		})
	}
}

// countBlankInFlight is how many units in flight are blank (they are
// counted when decided).
func countBlankInFlight(r *rig) uint64 {
	var n uint64
	_ = r.st.do(testkit.Context(r.tb), func() error {
		for i := range r.st.fifo.len() {
			if r.st.fifo.at(i).kind != printed {
				n++
			}
		}
		return nil
	})
	return n
}

// TestEmptyPoolStopsTheLine: the station never invents a serial; an empty
// pool stops the line until serials arrive and the operator acknowledges.
func TestEmptyPoolStopsTheLine(t *testing.T) {
	lcfg := lineConfig(t)
	lcfg.Fast = true
	lcfg.Speed = 1200
	lcfg.Units = 60
	r := newRig(t, lcfg, rigOptions{grant: 25})
	ctx := testkit.Context(t)
	require.NoError(t, r.st.StartLine(ctx, "WO-1"))
	s := r.waitState(func(s Snapshot) bool { return hasAlarm(s, "serials", true) }, "the empty pool alarm")
	for _, a := range s.Alarms {
		if a.Device == "serials" {
			require.Contains(t, a.Fault, "serial pool empty")
			require.Contains(t, a.Fault, "never invents")
		}
	}
	require.Equal(t, uint64(25), s.Counts.Printed)
	require.Eventually(t, func() bool { return !r.line.Status().Running }, waitLong, time.Millisecond)

	r.grant(100)
	r.waitState(func(s Snapshot) bool { return hasAlarm(s, "serials", false) }, "serials again")
	require.NoError(t, r.st.Acknowledge(ctx))
	final, err := r.line.Wait(ctx, func(c line.Counters) bool { return c.Good+c.Rejected == 60 })
	require.NoError(t, err)
	k := r.waitState(func(s Snapshot) bool {
		return s.InFlight == 0 && s.Counts.Good+s.Counts.RejectedTotal()+s.Counts.Blank == 60
	}, "all decided").Counts
	require.Equal(t, final.Good, k.Good)
	require.NoError(t, r.line.Close())

	// No serial was printed twice, and none that was not granted.
	printed := testkit.PrintLog(t, lcfg.PrintLog, nil)
	seen := map[string]bool{}
	for _, sn := range printed {
		require.False(t, seen[sn], "serial %s printed twice", sn)
		seen[sn] = true
		require.Len(t, sn, 12)
		require.GreaterOrEqual(t, sn, "100000000000")
		require.Less(t, sn, "100000000125", "only granted serials")
	}
	require.Equal(t, int(k.Printed), len(printed))
	l, err := r.pool.Level("WO-1")
	require.NoError(t, err)
	require.Equal(t, k.Printed, l.Taken)
	require.Equal(t, k.Printed, l.FatedLow)
}
