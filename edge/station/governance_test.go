package station

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/simulators/line"
)

func TestQualityLimits(t *testing.T) {
	const (
		no = wire.ReasonNoRead
		mm = wire.ReasonMismatch
		ok = wire.Reason("")
	)
	type verdict struct {
		reason  wire.Reason
		shifted bool
	}
	rep := func(n int, v verdict) []verdict {
		out := make([]verdict, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	times := func(n int, pattern []verdict) []verdict {
		var out []verdict
		for range n {
			out = append(out, pattern...)
		}
		return out
	}
	cat := func(vs ...[]verdict) []verdict {
		var out []verdict
		for _, v := range vs {
			out = append(out, v...)
		}
		return out
	}
	tests := []struct {
		name     string
		verdicts []verdict
		want     AlarmCode // after the last verdict; earlier ones must not trip
		wantText string
	}{
		{"four in a row pass", rep(4, verdict{no, false}), "", ""},
		{"five in a row trip", rep(5, verdict{no, false}), AlarmConsecutive, "5 packs in a row were rejected (limit 5): 5 no-read"},
		{"a good unit ends the run", cat(rep(4, verdict{mm, false}), rep(1, verdict{ok, false}), rep(4, verdict{no, false})), "", ""},
		{"reasons are named", cat(rep(3, verdict{mm, false}), rep(2, verdict{no, false})), AlarmConsecutive, "2 no-read, 3 mismatch"},
		{"a shift cascade is one fault", rep(30, verdict{mm, true}), "", ""},
		{"a shift neither extends nor ends a run", cat(rep(4, verdict{no, false}), rep(3, verdict{mm, true}), rep(1, verdict{no, false})), AlarmConsecutive, "5 packs in a row"},
		// 10 faults are 5 % of 200: the eleventh trips.
		{"rate at the limit passes", times(10, cat(rep(1, verdict{no, false}), rep(9, verdict{ok, false}))), "", ""},
		{"rate over the limit trips", cat(times(10, cat(rep(1, verdict{no, false}), rep(9, verdict{ok, false}))), rep(1, verdict{no, false})), AlarmRejectRate, "11 faults in the last 101 packs"},
		{"separate shifts count each", cat(times(10, cat(rep(3, verdict{mm, true}), rep(5, verdict{ok, false}))), rep(1, verdict{mm, true})), AlarmRejectRate, "11 faults"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newQuality(DefaultMaxConsecutiveRejects, DefaultMaxRejectRate, DefaultRejectRateWindow)
			var code AlarmCode
			var text string
			for i, v := range tc.verdicts {
				code, text = q.add(v.reason, v.shifted)
				if i < len(tc.verdicts)-1 {
					require.Empty(t, code, "verdict %d tripped early: %s", i, text)
				}
			}
			require.Equal(t, tc.want, code, text)
			require.Contains(t, text, tc.wantText)
		})
	}
	t.Run("reset forgets", func(t *testing.T) {
		q := newQuality(3, 50, 10)
		for range 2 {
			code, _ := q.add(no, false)
			require.Empty(t, code)
		}
		q.reset()
		for range 2 {
			code, _ := q.add(no, false)
			require.Empty(t, code, "two after a reset are not three in a row")
		}
	})
	t.Run("the window slides", func(t *testing.T) {
		q := newQuality(100, 20, 10) // more than 2 faults in the last 10
		for i := range 38 {
			r := ok
			if i%5 == 0 {
				r = no // 2 in every 10
			}
			code, text := q.add(r, false)
			require.Empty(t, code, "unit %d: %s", i, text)
		}
		code, _ := q.add(no, false)
		require.Equal(t, AlarmRejectRate, code, "a third fault within 10 units")
	})
}

func TestShelfLife(t *testing.T) {
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	o := func(exp string) wire.Order { return wire.Order{ID: "WO-9", Expiry: exp} }
	tests := []struct {
		expiry  string
		minDays int
		err     string
	}{
		{"261207", 0, ""}, // expires today: usable through today
		{"261206", 0, "expiry 261206 (2026-12-06) has passed"},
		{"240101", 0, "has passed"}, // the order
		{"261200", 0, ""},           // DD=00: the end of the month
		{"261100", 0, "expiry 261100 (2026-11-30) has passed"},
		{"270306", 90, "89 days away, the product needs at least 90 days"},
		{"270307", 90, ""},
	}
	for _, tc := range tests {
		t.Run(tc.expiry, func(t *testing.T) {
			err := shelfLife(o(tc.expiry), now, tc.minDays)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
			require.ErrorContains(t, err, `order "WO-9"`)
		})
	}
}

func TestAllowanceDefault(t *testing.T) {
	require.Equal(t, uint64(50), Allowance(300, 5, 50), "5 % of 300 is below the minimum")
	require.Equal(t, uint64(500), Allowance(10_000, 5, 50))
	require.Equal(t, uint64(51), Allowance(1001, 5, 50), "rounded up")
}

// smallOrder is WO-1 with a quantity.
func smallOrder(q uint64) *wire.Order {
	o := testOrder()
	o.Quantity = q
	return &o
}

// TestOrderEndsWithExactlyItsQuantity: the line prints only while
// commissioned + in flight < quantity, replaces every rejected unit, and
// stops by itself, complete, with exactly the quantity commissioned.
func TestOrderEndsWithExactlyItsQuantity(t *testing.T) {
	const quantity = 80
	lcfg := lineConfig(t)
	lcfg.Fast = true
	lcfg.Speed = 1200
	lcfg.Scanner.Faults.NoReadRate = 0.05
	r := newRig(t, lcfg, rigOptions{grant: 1000, order: smallOrder(quantity),
		station: Config{MaxConsecutiveRejects: 1000, MaxRejectRate: 100}})
	ctx := testkit.Context(t)
	r.startLine(ctx)
	s := r.waitState(func(s Snapshot) bool { return s.Production != nil && s.Production.State == wire.ProgressComplete }, "the order complete")
	require.Equal(t, wire.LineStopped, s.State, "the line stopped by itself")
	require.Equal(t, wire.LineStopped, s.Want)
	require.Equal(t, uint64(quantity), s.Production.Good)
	require.Zero(t, s.Production.Remaining)
	require.Zero(t, s.Production.InFlight)
	require.Zero(t, s.Rate, "no rate while stopped")
	require.Eventually(t, func() bool { return !r.line.Status().Running }, waitLong, time.Millisecond, "the PLC stops the conveyor")

	var good, rejected uint64
	for _, ev := range r.events() {
		switch ev.Type {
		case wire.Commissioned:
			good++
		case wire.Decommissioned:
			rejected++
		}
	}
	require.Equal(t, uint64(quantity), good, "exactly the quantity commissioned")
	require.Equal(t, s.Production.Rejected, rejected)
	c := r.st.Counts()
	require.Equal(t, uint64(quantity)+rejected, c.Printed-c.Voided, "every reject was replaced, nothing more printed")

	err := r.st.StartLine(ctx, "WO-1")
	require.ErrorIs(t, err, ErrComplete)
	require.ErrorContains(t, err, "close it")
}

// TestQualityLimitsStopTheLine: a printer dropping every label, a camera
// failing to read 30 % of the packs, and a grade drop each stop the line
// with the alarm naming the limit, within the limit plus the units in
// flight.
func TestQualityLimitsStopTheLine(t *testing.T) {
	tests := []struct {
		name          string
		device, fault string
		on, off       any
		codes         []AlarmCode
		reason        wire.Reason
	}{
		{"printer drops labels", "printer", "drop", true, false, []AlarmCode{AlarmConsecutive}, wire.ReasonNoRead},
		{"30 % no-reads", "scanner", "no_read_rate", 0.3, 0, []AlarmCode{AlarmConsecutive, AlarmRejectRate}, wire.ReasonNoRead},
		{"grade drop", "scanner", "grade_drop", true, false, []AlarmCode{AlarmConsecutive}, wire.ReasonLowGrade},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lcfg := lineConfig(t)
			lcfg.Fast = true
			lcfg.Speed = 1200
			r := newRig(t, lcfg, rigOptions{grant: 10_000, quality: true})
			ctx := testkit.Context(t)
			r.startLine(ctx)
			_, err := r.line.Wait(ctx, func(c line.Counters) bool { return c.Good >= 20 })
			require.NoError(t, err)
			// A busy machine can make the first units miss their timing;
			// an alarm for that is acknowledged, so the count starts
			// afresh before the fault.
			if s := r.st.Snapshot(); hasAlarm(s, "quality", false) {
				require.NoError(t, r.st.Acknowledge(ctx))
				r.waitState(func(s Snapshot) bool { return s.State == wire.LineRunning }, "running again")
			}
			before := r.st.Snapshot().Production.Rejected
			r.setFault(tc.device, tc.fault, tc.on)

			s := r.waitState(func(s Snapshot) bool { return hasAlarm(s, "quality", false) && s.State == wire.LineAlarm }, "a quality alarm")
			require.Equal(t, wire.LineAlarm, s.State)
			var a Alarm
			for _, x := range s.Alarms {
				if x.Device == "quality" {
					a = x
				}
			}
			require.Contains(t, tc.codes, a.Code, a.Fault)
			require.True(t, a.StoppedLine)
			require.Equal(t, spec(a.Code).Action, a.Action, "the catalogue's action")
			require.NotEmpty(t, a.Message)
			if a.Code == AlarmConsecutive {
				require.Contains(t, a.Fault, string(tc.reason))
			}
			atAlarm := s.Production.Rejected - before
			inFlight := uint64(s.InFlight)
			require.Eventually(t, func() bool { return !r.line.Status().Running }, waitLong, time.Millisecond, "the PLC stops the conveyor")
			if a.Code == AlarmConsecutive {
				require.LessOrEqual(t, atAlarm, uint64(DefaultMaxConsecutiveRejects+DefaultRejectRateWindow*DefaultMaxRejectRate/100))
			}
			final := r.st.Snapshot().Production.Rejected - before
			require.LessOrEqual(t, final, atAlarm+inFlight, "no more rejects than those in flight after the stop")

			// Start is refused until acknowledged; the acknowledgement
			// starts the count afresh.
			require.ErrorIs(t, r.st.StartLine(ctx, "WO-1"), ErrAlarm)
			r.setFault(tc.device, tc.fault, tc.off)
			require.NoError(t, r.st.Acknowledge(ctx))
			r.waitState(func(s Snapshot) bool { return s.State == wire.LineRunning }, "running again")
			// The units still in flight were made under the fault: they are
			// rejected, but do not count again.
			good := r.line.Status().Counters.Good
			_, err = r.line.Wait(ctx, func(c line.Counters) bool { return c.Good >= good+20 })
			require.NoError(t, err, "production goes on")
			require.False(t, hasAlarm(r.st.Snapshot(), "quality", false), "no second alarm for the acknowledged fault")
			h := r.st.History()
			require.NotEmpty(t, h)
			require.Equal(t, a.Code, h[0].Code)
			require.False(t, h[0].Acked.IsZero(), "the history records the acknowledgement")
		})
	}
}

// TestAllowanceSpentStopsUntilExtended: when the rejects reach the
// allowance the line stops with an alarm naming it; Start is refused; an
// allowance-extended event (a supervisor's, through the outbox) raises the
// allowance and the line runs again once acknowledged.
func TestAllowanceSpentStopsUntilExtended(t *testing.T) {
	lcfg := lineConfig(t)
	lcfg.Fast = true
	lcfg.Speed = 1200
	o := smallOrder(1000)
	o.RejectAllowance = 6
	r := newRig(t, lcfg, rigOptions{grant: 2000, order: o, station: Config{MaxConsecutiveRejects: 1000, MaxRejectRate: 100}})
	ctx := testkit.Context(t)
	r.startLine(ctx)
	_, err := r.line.Wait(ctx, func(c line.Counters) bool { return c.Good >= 10 })
	require.NoError(t, err)
	r.setFault("scanner", "no_read_rate", 0.5)
	s := r.waitState(func(s Snapshot) bool { return hasAlarm(s, "allowance", true) && s.State == wire.LineAlarm }, "the allowance alarm")
	r.setFault("scanner", "no_read_rate", 0)
	require.Equal(t, wire.LineAlarm, s.State)
	require.Equal(t, uint64(6), s.Production.Allowance)
	require.GreaterOrEqual(t, s.Production.Rejected, uint64(6))
	require.Zero(t, s.Production.AllowanceLeft)
	require.ErrorIs(t, r.st.StartLine(ctx, "WO-1"), ErrAlarm)
	require.NoError(t, r.st.Acknowledge(ctx))
	require.Equal(t, wire.LineAlarm, r.st.Snapshot().State, "the allowance stays spent until extended")

	ev := wire.Event{Type: wire.AllowanceExtended, At: time.Now(), Order: "WO-1", GTIN: o.GTIN, Allowance: 20, Note: "film splice", Operator: "Sam"}
	_, err = r.outbox.AppendSync(ctx, ev)
	require.NoError(t, err)
	require.NoError(t, r.st.OrderChanged(ctx))
	s = r.waitState(func(s Snapshot) bool { return s.State == wire.LineRunning }, "running again once extended")
	require.Equal(t, uint64(26), s.Production.Allowance)
	l, err := r.pool.Level("WO-1")
	require.NoError(t, err)
	require.Equal(t, uint64(20), l.Extended, "the extension is the pool's, durable with its event")
}

// TestStartRefusesAnOrderPastItsShelfLife and stops a running one when
// its expiry passes (the line PC's clock).
func TestExpiryGovernsTheLine(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	lcfg := lineConfig(t)
	lcfg.Fast = true
	lcfg.Speed = 600
	o := smallOrder(100_000)
	o.Expiry = "261208" // tomorrow
	o.MinShelfLifeDays = 2
	r := newRig(t, lcfg, rigOptions{grant: 2000, order: o, station: Config{Now: now}})
	ctx := testkit.Context(t)
	err := r.st.StartLine(ctx, "WO-1")
	require.ErrorContains(t, err, "1 days away, the product needs at least 2 days of shelf life")

	o.MinShelfLifeDays = 0
	r.st.SetOrders([]wire.Order{*o})
	r.startLine(ctx)
	_, err = r.line.Wait(ctx, func(c line.Counters) bool { return c.Good >= 10 })
	require.NoError(t, err)
	clock.Store(time.Date(2026, 12, 9, 0, 0, 1, 0, time.UTC).UnixNano()) // the expiry day is over
	s := r.waitState(func(s Snapshot) bool { return hasAlarm(s, "expiry", true) && s.State == wire.LineAlarm }, "the expiry alarm")
	require.Equal(t, wire.LineAlarm, s.State)
	require.Eventually(t, func() bool { return !r.line.Status().Running }, waitLong, time.Millisecond)
	for _, a := range s.Alarms {
		if a.Device == "expiry" {
			require.Equal(t, AlarmOrderExpired, a.Code)
			require.Contains(t, a.Fault, "expiry 261208 (2026-12-08) has passed")
		}
	}
	require.NoError(t, r.st.Acknowledge(ctx))
	s = r.st.Snapshot()
	require.Equal(t, wire.LineAlarm, s.State, "the cause stays: no running past the expiry")
	require.ErrorIs(t, r.st.StartLine(ctx, "WO-1"), ErrAlarm)
}

// TestAcknowledgeByRole: an alarm that needs QA stays when an operator
// acknowledges, and the refusal names it; QA's acknowledgement clears it.
func TestAcknowledgeByRole(t *testing.T) {
	lcfg := lineConfig(t)
	lcfg.Fast = true
	r := newRig(t, lcfg, rigOptions{grant: 100})
	ctx := testkit.Context(t)
	require.NoError(t, r.st.do(ctx, func() error {
		r.st.raise("plc-reject", AlarmRejectFailed, "unit 42 not rejected", false)
		r.st.raise("station", AlarmTrackingFull, "more than 4096 units", false)
		return nil
	}))
	s := r.st.Snapshot()
	require.Len(t, s.Alarms, 2)
	err := r.st.AcknowledgeAs(ctx, "Ana", RoleOperator)
	require.ErrorIs(t, err, ErrRole)
	require.ErrorContains(t, err, "reject-failed needs supervisor")
	s = r.st.Snapshot()
	require.Len(t, s.Alarms, 1, "the operator acknowledged what an operator may")
	require.Equal(t, AlarmRejectFailed, s.Alarms[0].Code)
	require.NoError(t, r.st.AcknowledgeAs(ctx, "Sam", RoleSupervisor))
	require.Empty(t, r.st.Snapshot().Alarms)
	byCode := map[AlarmCode]AlarmRecord{}
	for _, h := range r.st.History() {
		byCode[h.Code] = h
	}
	require.Equal(t, "Ana", byCode[AlarmTrackingFull].AckedBy)
	require.Equal(t, "Sam", byCode[AlarmRejectFailed].AckedBy)
}

// TestCatalogue: every code has a cause, an action and a role, once.
func TestCatalogue(t *testing.T) {
	seen := map[AlarmCode]bool{}
	for _, a := range Catalogue() {
		require.False(t, seen[a.Code], "%s twice", a.Code)
		seen[a.Code] = true
		require.NotEmpty(t, a.Cause, a.Code)
		require.True(t, strings.HasSuffix(a.Cause, "."), "%s: a sentence", a.Code)
		require.NotEmpty(t, a.Action, a.Code)
		require.True(t, a.AckRole.Valid(), a.Code)
		require.NotContains(t, strings.ToLower(a.Cause+a.Action), "error", "%s: no developer words", a.Code)
	}
}

// TestStorageFaultStopsPrinting: when the record store fails to commit (a
// full disk), the station prints nothing more, stops the line with the
// storage alarm naming every pack whose record is not saved, and once
// commits succeed again and a supervisor acknowledges, production resumes
// and nothing was lost.
func TestStorageFaultStopsPrinting(t *testing.T) {
	lcfg := lineConfig(t)
	lcfg.Fast = true
	lcfg.Speed = 1200
	r := newRig(t, lcfg, rigOptions{grant: 5000})
	ctx := testkit.Context(t)
	r.startLine(ctx)
	_, err := r.line.Wait(ctx, func(c line.Counters) bool { return c.Good >= 50 })
	require.NoError(t, err)

	r.failCommits.Store(true)
	s := r.waitState(func(s Snapshot) bool { return hasAlarm(s, "storage", true) && s.State == wire.LineAlarm }, "the storage alarm")
	require.Equal(t, wire.LineAlarm, s.State)
	var a Alarm
	for _, x := range s.Alarms {
		if x.Device == "storage" {
			a = x
		}
	}
	require.Equal(t, AlarmStorage, a.Code)
	require.Equal(t, RoleSupervisor, a.AckRole)
	require.Contains(t, a.Fault, "no space left on device")
	require.Eventually(t, func() bool { return !r.line.Status().Running }, waitLong, time.Millisecond)
	printed := r.st.Counts().Printed
	// Every pack whose fate is not durable is named, and no other.
	lost, total, err := r.pool.Unfated("WO-1", 1000)
	require.NoError(t, err)
	require.Positive(t, total, "the packs decided since the failure have no durable record")
	require.LessOrEqual(t, uint64(total), r.st.Counts().Printed-50, "only packs made after the failure")
	require.Contains(t, a.Fault, fmt.Sprintf("%d packs without a saved record", total))
	for _, l := range lost {
		require.Contains(t, a.Fault, l.Serial)
	}
	require.ErrorIs(t, r.st.StartLine(ctx, "WO-1"), ErrAlarm)
	require.ErrorIs(t, r.st.AcknowledgeAs(ctx, "Ana", RoleOperator), ErrRole)

	r.failCommits.Store(false) // the disk freed: the waiting records are saved
	r.waitState(func(s Snapshot) bool { return hasAlarm(s, "storage", false) }, "the cause cleared")
	require.NoError(t, r.st.AcknowledgeAs(ctx, "Sam", RoleSupervisor))
	r.waitState(func(s Snapshot) bool { return s.State == wire.LineRunning }, "running again")
	_, err = r.line.Wait(ctx, func(c line.Counters) bool { return c.Printed > printed+20 })
	require.NoError(t, err)
	// Paused, with every record handed over committed, only the packs on
	// the conveyor are without a durable fate.
	require.NoError(t, r.st.Pause(ctx))
	require.Eventually(t, func() bool { return !r.line.Status().Running }, waitLong, time.Millisecond)
	require.NoError(t, r.outbox.Flush(ctx))
	_, total, err = r.pool.Unfated("WO-1", 0)
	require.NoError(t, err)
	require.LessOrEqual(t, total, r.st.Snapshot().InFlight, "nothing left unrecorded but what is in flight")
}
