package station

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/simulators/line"
)

// TestRun500UnitsWithFaults runs 500 units at 4,000 units/min through the
// simulated line (fast mode) with about 2 % faults: scanner no-reads at a
// rate, a spell of printer drops (blank units), and a spell of low grades.
// The simulator's print log, the station's counts, the PLC's counters and
// the events in the outbox must agree exactly.
func TestRun500UnitsWithFaults(t *testing.T) {
	const n = 500
	lcfg := lineConfig(t)
	lcfg.Fast = true
	lcfg.Speed = 4000
	lcfg.Units = n
	lcfg.Scanner.Faults.NoReadRate = 0.015
	// The spells are deliberate: the quality limits that stop a line for
	// them are TestQualityLimitsStopTheLine's, not this test's (newRig
	// leaves them off).
	r := newRig(t, lcfg, rigOptions{grant: 10_000})
	ctx := testkit.Context(t)
	r.startLine(ctx)

	// A spell of printer drops, then a spell of low grades.
	_, err := r.line.Wait(ctx, func(c line.Counters) bool { return c.Printed >= 150 })
	require.NoError(t, err)
	r.setFault("printer", "drop", true)
	require.Eventually(t, func() bool { return r.line.Status().Counters.Dropped >= 3 }, waitLong, time.Millisecond)
	r.setFault("printer", "drop", false)
	_, err = r.line.Wait(ctx, func(c line.Counters) bool { return c.Scanned >= 300 })
	require.NoError(t, err)
	// The spell lasts until a low grade is rejected: on a loaded machine
	// the first units under it may be rejected for another reason (a late
	// label), which outranks the grade.
	r.setFault("scanner", "grade_drop", true)
	r.waitState(func(s Snapshot) bool { return s.Counts.Rejected[wire.ReasonLowGrade] > 0 }, "a low grade rejected")
	r.setFault("scanner", "grade_drop", false)

	k := checkRun(t, r, lcfg, n)
	require.Positive(t, k.Rejected[wire.ReasonNoRead], "drops and no-reads give no-reads")
	require.Positive(t, k.Rejected[wire.ReasonLowGrade], "the grade drop gives low grades")
}

// TestImagingWithSmudge runs the line in imaging mode (every label
// rasterised by the printer simulator and decoded from its pixels at the
// camera) with a spell of smudged labels. Rasterising takes milliseconds,
// so the print window is long (the label waits for its own unit), and so
// is the way to the camera (the decode runs while the unit travels). The
// simulated camera reports a unit when its decode is done, and decoding a
// smudged label (the retry on a binarised copy included) holds back the
// results behind it: a short spell of smudge, a slower line and a guard of
// 15 pitches (1.5 s at 600 units/min, as it would cover a slow real
// camera's deadline) keep the simulated camera within reach on a busy
// machine (at 1,200 a loaded CI machine let the PLC stop on a missed reject).
func TestImagingWithSmudge(t *testing.T) {
	const n = 80
	lcfg := lineConfig(t)
	lcfg.Speed = 600
	lcfg.Units = n
	lcfg.Travel = line.Travel{PrintWindow: 16, PrinterToCamera: 20, CameraToReject: 20}
	scfg := Config{PrinterToCamera: 20, CameraToReject: 20, PrintWindow: 16, Jitter: lcfg.Jitter, CameraGuard: 15}
	r := newRig(t, lcfg, rigOptions{grant: 1000, station: scfg})
	ctx := testkit.Context(t)
	r.startLine(ctx)
	_, err := r.line.Wait(ctx, func(c line.Counters) bool { return c.Printed >= 30 })
	require.NoError(t, err)
	r.setFault("printer", "smudge", 0.7)
	_, err = r.line.Wait(ctx, func(c line.Counters) bool { return c.Printed >= 34 })
	require.NoError(t, err)
	r.setFault("printer", "smudge", 0)
	k := checkRun(t, r, lcfg, n)
	require.Positive(t, k.RejectedTotal(), "smudged labels are rejected")
	require.Positive(t, k.Good, "clean labels are commissioned")
}

// checkRun waits until the line's n units are decided and checks that the
// simulator's print log and counters, the PLC's counters, the station's
// counts and the events in the outbox agree exactly.
func checkRun(t *testing.T, r *rig, lcfg line.Config, n int) Counts {
	t.Helper()
	ctx := testkit.Context(t)
	final, err := r.line.Wait(ctx, func(c line.Counters) bool { return c.Good+c.Rejected == uint64(n) })
	require.NoError(t, err)
	final.Dropped = r.line.Status().Counters.Dropped
	snap := r.waitState(func(s Snapshot) bool {
		return s.Counts.Good+s.Counts.RejectedTotal()+s.Counts.Blank == uint64(n) && s.InFlight == 0 && s.Counts.RejectsSent == final.Rejected
	}, "every unit decided")
	require.NoError(t, r.st.StopLine(ctx))
	good, rejected, err := r.plc.Counters(ctx)
	require.NoError(t, err)
	evs := r.events()
	require.NoError(t, r.line.Close())
	printed := testkit.PrintLog(t, lcfg.PrintLog, nil)

	k := snap.Counts
	t.Logf("station: %+v", k)
	t.Logf("line: %+v", final)
	// Station and line agree.
	require.Equal(t, uint64(n), k.Triggers)
	require.Equal(t, uint64(n), k.Printed+k.Blank, "every unit got a print job or was left blank")
	require.LessOrEqual(t, k.Blank, k.Shifts, "units left blank only to catch up with a late label")
	require.Zero(t, k.Voided)
	require.Equal(t, k.Printed, k.Good+k.RejectedTotal(), "good + rejected by reason = printed")
	require.Equal(t, final.Good, k.Good)
	require.Equal(t, final.Rejected, k.RejectedTotal()+k.Blank)
	require.Equal(t, uint64(good), k.Good)
	require.Equal(t, uint64(rejected), k.RejectsSent, "the PLC counted every rejection sent")
	require.Zero(t, k.RejectsFailed)

	// The print log has each element string once; with the dropped jobs it
	// makes up what the station printed.
	require.Equal(t, int(k.Printed), len(printed)+int(final.Dropped))
	seen := map[string]bool{}
	for _, s := range printed {
		require.False(t, seen[s], "serial %s printed twice", s)
		seen[s] = true
	}

	// The outbox has one event per unit, matching the counts.
	byType := map[wire.EventType]int{}
	byReason := map[wire.Reason]uint64{}
	fate := map[string]wire.EventType{}
	for _, e := range evs {
		require.NoError(t, e.Validate())
		byType[e.Type]++
		if e.Type == wire.Decommissioned {
			byReason[e.Reason]++
		}
		if e.Serial != "" {
			_, dup := fate[e.Serial]
			require.False(t, dup, "serial %s has two events", e.Serial)
			fate[e.Serial] = e.Type
		}
	}
	require.Equal(t, 1, byType[wire.OrderStarted])
	require.Equal(t, int(k.Good), byType[wire.Commissioned])
	require.Equal(t, k.Rejected, byReason)
	for _, s := range printed {
		require.Contains(t, fate, s, "printed serial %s has no event", s)
	}
	// And the pool's reconciliation follows the events.
	l, err := r.pool.Level("WO-1")
	require.NoError(t, err)
	require.Equal(t, k.Good, l.Counts.Commissioned)
	require.Equal(t, k.Rejected, l.Counts.Decommissioned)
	require.Equal(t, k.Printed, l.FatedLow, "every serial taken has its fate")
	return k
}

// TestStartAsNamesTheOperator: the operator who starts (or resumes) the
// line is on the events of the units made from then on, instead of the
// configured one.
func TestStartAsNamesTheOperator(t *testing.T) {
	const n = 40
	lcfg := lineConfig(t)
	lcfg.Fast = true
	lcfg.Speed = 3000
	lcfg.Units = n
	r := newRig(t, lcfg, rigOptions{grant: 1_000})
	ctx := testkit.Context(t)
	r.setFault("line", "starved", true)
	require.NoError(t, r.st.StartLineAs(ctx, "WO-1", "Ana"))
	require.Eventually(t, func() bool { return r.line.Status().Running }, waitLong, time.Millisecond)
	r.setFault("line", "starved", false)
	_, err := r.line.Wait(ctx, func(c line.Counters) bool { return c.Good+c.Rejected >= n })
	require.NoError(t, err)
	units := 0
	for _, e := range r.events() {
		if e.Type == wire.OrderStarted || e.Type == wire.Commissioned || e.Type == wire.Decommissioned {
			require.Equal(t, "Ana", e.Operator, "%s event %d", e.Type, e.Seq)
			units++
		}
	}
	require.Greater(t, units, n/2, "units were made")
}
