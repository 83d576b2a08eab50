package agent_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/simulators/line"
)

// TestCentralCloseStopsTheLine: central closes the order while the line
// runs it. The line stops at once, the order disappears from the screen,
// and the line closes it as the operator's Close would: units in flight
// voided, unused serials returned, a balanced reconciliation sent.
func TestCentralCloseStopsTheLine(t *testing.T) {
	lineID := testcentral.LineID("close")
	l, lcfg := startLine(t, lineID, 100_000, 1200) // below the test speed: the rules, not the pace, are under test
	central := testcentral.New(t, testcentral.Mosquitto, lineID, testcentral.Options{})
	o := testOrder()
	central.PublishOrders(o)
	a := runAgent(t, agentConfig(t, lineID, l, lcfg, testcentral.Mosquitto))
	addr := a.HTTPAddr()
	ctx := testkit.Context(t)
	require.Eventually(t, func() bool { s := state(t, addr); return len(s.Orders) == 1 && len(s.Alarms) == 0 }, testcentral.Wait, 5*time.Millisecond)
	code, body := newScreen(t, addr).signIn(t, pinAna).post(t, "/ui/start", map[string]string{"order": o.ID})
	require.Equal(t, http.StatusOK, code, string(body))
	_, err := l.Wait(ctx, func(c line.Counters) bool { return c.Good >= 100 })
	require.NoError(t, err)

	closed := o
	closed.State, closed.ClosedAt = wire.OrderStateClosed, time.Now().UTC()
	central.PublishOrders(closed)
	require.Eventually(t, func() bool {
		s := state(t, addr)
		return s.State == wire.LineStopped && s.Order == nil && len(s.Orders) == 0 && s.Production == nil
	}, testcentral.Wait, 5*time.Millisecond, "the line stops and drops the order")
	require.Eventually(t, func() bool { return !l.Status().Running }, testcentral.Wait, time.Millisecond, "the PLC stops the conveyor")
	printed := l.Status().Counters.Printed

	snap := central.WaitFor(ctx, "the line's close", func(s testcentral.Snapshot) bool {
		n := len(s.Events)
		return n > 0 && s.Events[n-1].Type == wire.OrderClosed
	})
	last := snap.Events[len(snap.Events)-1]
	require.Equal(t, o.ID, last.Order)
	require.Equal(t, "central", last.Operator, "the close names who ordered it")
	require.True(t, last.Counts.Balanced(), "%+v", last.Counts)
	require.Positive(t, last.Counts.Commissioned)
	var returned bool
	for _, e := range snap.Events {
		returned = returned || e.Type == wire.SerialsReturned
	}
	require.True(t, returned, "the unused serials go back")
	require.Equal(t, printed, l.Status().Counters.Printed, "no label printed while the line closed the order")

	// The order cannot be started again, and a repeat of the close changes
	// nothing.
	central.PublishOrders(closed)
	code, body = newScreen(t, addr).signIn(t, pinAna).post(t, "/ui/start", map[string]string{"order": o.ID})
	require.Equal(t, http.StatusConflict, code, string(body))
	n := 0
	for _, e := range central.Snapshot().Events {
		if e.Type == wire.OrderClosed {
			n++
		}
	}
	require.Equal(t, 1, n, "closed once")
}

// TestExtendAllowance: when the rejects spend the order's allowance the
// line stops with the allowance alarm (on the status too); an operator may
// not extend it, a supervisor may, with a reason: central receives the
// allowance-extended event naming who and why, and the line runs again.
func TestExtendAllowance(t *testing.T) {
	lineID := testcentral.LineID("allow")
	l, lcfg := startLine(t, lineID, 100_000, 1200) // below the test speed: the rules, not the pace, are under test
	central := testcentral.New(t, testcentral.Mosquitto, lineID, testcentral.Options{})
	o := testOrder()
	o.RejectAllowance = 25
	central.PublishOrders(o)
	cfg := agentConfig(t, lineID, l, lcfg, testcentral.Mosquitto)
	cfg.Station.MaxConsecutiveRejects, cfg.Station.MaxRejectRate = 1000, 100 // only the allowance stops it
	a := runAgent(t, cfg)
	addr := a.HTTPAddr()
	ctx := testkit.Context(t)
	require.Eventually(t, func() bool { s := state(t, addr); return len(s.Orders) == 1 && len(s.Alarms) == 0 }, testcentral.Wait, 5*time.Millisecond)
	code, body := newScreen(t, addr).signIn(t, pinAna).post(t, "/ui/start", map[string]string{"order": o.ID})
	require.Equal(t, http.StatusOK, code, string(body))
	_, err := l.Wait(ctx, func(c line.Counters) bool { return c.Good >= 20 })
	require.NoError(t, err)
	require.NoError(t, l.SetFault(line.FaultChange{Device: "scanner", Fault: "no_read_rate", Value: []byte("0.5")}))
	require.Eventually(t, func() bool {
		for _, al := range state(t, addr).Alarms {
			if al.Code == station.AlarmAllowanceSpent && al.Active {
				return true
			}
		}
		return false
	}, testcentral.Wait, 5*time.Millisecond, "the allowance alarm")
	require.NoError(t, l.SetFault(line.FaultChange{Device: "scanner", Fault: "no_read_rate", Value: []byte("0")}))
	central.WaitFor(ctx, "the alarm on the status", func(s testcentral.Snapshot) bool {
		if len(s.Statuses) == 0 {
			return false
		}
		st := s.Statuses[len(s.Statuses)-1]
		for _, al := range st.Alarms {
			if al.Code == string(station.AlarmAllowanceSpent) && al.Active {
				return st.State == wire.LineAlarm && st.OrderState == wire.ProgressStopped
			}
		}
		return false
	})

	err = a.ExtendAllowance(agent.WithSignIn(ctx, "Ana", station.RoleOperator), 20, "splice")
	require.ErrorIs(t, err, agent.ErrRole)
	err = a.ExtendAllowance(agent.WithSignIn(ctx, "Sam", station.RoleSupervisor), 20, "  ")
	require.ErrorContains(t, err, "reason: missing")
	require.NoError(t, a.ExtendAllowance(agent.WithSignIn(ctx, "Sam", station.RoleSupervisor), 20, "film splice at the infeed"))
	snap := central.WaitFor(ctx, "the extension", func(s testcentral.Snapshot) bool {
		for _, e := range s.Events {
			if e.Type == wire.AllowanceExtended {
				return true
			}
		}
		return false
	})
	for _, e := range snap.Events {
		if e.Type == wire.AllowanceExtended {
			require.Equal(t, uint64(20), e.Allowance)
			require.Equal(t, "Sam", e.Operator)
			require.Equal(t, "film splice at the infeed", e.Note)
			require.Equal(t, o.ID, e.Order)
		}
	}
	require.NoError(t, a.Acknowledge(agent.WithSignIn(ctx, "Ana", station.RoleOperator)))
	require.Eventually(t, func() bool {
		s := state(t, addr)
		return s.State == wire.LineRunning && s.Production != nil && s.Production.Allowance == 45
	}, testcentral.Wait, 5*time.Millisecond, "running again with the allowance extended")
	central.WaitFor(ctx, "the status says running", func(s testcentral.Snapshot) bool {
		return len(s.Statuses) > 0 && s.Statuses[len(s.Statuses)-1].OrderState == wire.ProgressRunning
	})
}
