package wholeline_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// Issue 11's system tests: the order governs the line, at the line and at
// central, under faults and offline.

// orderNeed is the part of central's GET /api/v1/orders/{id} about what
// the order may still get.
type orderNeed struct {
	Need struct {
		Granted   uint64 `json:"granted"`
		Allowance uint64 `json:"reject_allowance"`
	} `json:"need"`
	ClosedAt   *time.Time `json:"closed_at"`
	EventFlags struct {
		Total int `json:"total"`
	} `json:"event_flags"`
}

// TestOrderOf300EndsWithExactly300: an order of 300 with the default
// reject allowance ends with exactly 300 commissioned, the line stops by
// itself as complete, and central never granted more than 350 serials.
func TestOrderOf300EndsWithExactly300(t *testing.T) {
	s := newSystem(t)
	r := s.addLine(t, "G1", lineOpts{units: 1_000, speed: 1_200, noRead: 0.01, quantity: 300, allowance: -1})
	r.startEdge(t)
	r.run(t)
	var st agent.State
	require.Eventually(t, func() bool {
		st = r.state(t)
		return st.Production != nil && st.Production.State == wire.ProgressComplete && st.State == wire.LineStopped
	}, wait, 10*time.Millisecond, "the line completes the order by itself")
	require.EqualValues(t, 300, st.Production.Good)
	require.Zero(t, st.Production.InFlight)
	require.Zero(t, st.Rate, "a stopped line shows no rate")
	require.Eventually(t, func() bool { return !r.sim.Status().Running }, wait, 10*time.Millisecond, "the PLC stopped the conveyor")

	code, body := r.scr.post(t, "/ui/start", map[string]string{"order": r.order})
	require.Equal(t, http.StatusConflict, code, "a complete order does not start again: %s", body)
	r.scr.signIn(t, pinAna)
	code, body = r.scr.post(t, "/ui/close", map[string]bool{"confirm": true})
	require.Equal(t, http.StatusOK, code, string(body))
	var v struct {
		Commissioned uint64 `json:"commissioned"`
		Balanced     bool   `json:"balanced"`
	}
	require.NoError(t, json.Unmarshal(body, &v))
	require.EqualValues(t, 300, v.Commissioned)
	require.True(t, v.Balanced)

	o := s.awaitClosed(t, r)
	require.EqualValues(t, 300, o.Reconciliation.Commissioned, "exactly the quantity at central")
	var n orderNeed
	s.api.must(t, "GET", "/api/v1/orders/"+r.order, nil, &n)
	require.EqualValues(t, 50, n.Need.Allowance, "5 % of 300 is below the minimum of 50")
	require.LessOrEqual(t, n.Need.Granted, uint64(350), "grants bounded by quantity + allowance")
	fates := s.unitFates(t, r.order)
	var good int
	for _, f := range fates {
		if f == "commissioned" {
			good++
		}
	}
	require.Equal(t, 300, good)
	t.Logf("granted %d, rejected %v, returned %d", o.Reconciliation.Granted, nonZero(o.Reconciliation.Decommissioned), o.Reconciliation.ReturnedUnused)
}

// closes counts the audit trail's close entries of an order.
func (s *system) closes(t testing.TB, order string) int {
	t.Helper()
	var trail struct {
		Entries []struct {
			Action string `json:"action"`
		} `json:"entries"`
	}
	s.api.must(t, "GET", "/api/v1/audit?entity=work_order&entity_id="+order, nil, &trail)
	n := 0
	for _, e := range trail.Entries {
		if e.Action == "close" {
			n++
		}
	}
	return n
}

// TestCloseAtCentralStopsTheLine: a planner closes the order at central
// while the line runs; the line stops within seconds, closes the order as
// its operator would, and central's count of commissioned units stops at
// what the line reports. The audit trail has one close.
func TestCloseAtCentralStopsTheLine(t *testing.T) {
	s := newSystem(t)
	r := s.addLine(t, "G2", lineOpts{units: 100_000, speed: 3_000, noRead: 0.01})
	r.startEdge(t)
	r.run(t)
	r.awaitUnits(t, 300)
	closed := time.Now()
	s.api.must(t, "POST", "/api/v1/orders/"+r.order+"/close", nil, nil)
	require.Eventually(t, func() bool {
		st := r.state(t)
		return st.State != wire.LineRunning && !r.sim.Status().Running
	}, 5*time.Second, 5*time.Millisecond, "the line stops within 5 s of the close")
	t.Logf("the line stopped %v after the close", time.Since(closed).Round(time.Millisecond))
	stopped := r.sim.Status().Counters

	o := s.awaitClosed(t, r)
	require.Equal(t, stopped.Good, r.sim.Status().Counters.Good, "nothing made after the line stopped")
	require.Equal(t, o.ReportedCounts.Commissioned, o.Reconciliation.Commissioned, "central's count is the line's")
	require.Equal(t, 1, s.closes(t, r.order), "one close in the audit trail")
	st := r.state(t)
	require.Nil(t, st.Order)
	require.Empty(t, st.Orders, "the closed order is gone from the screen")
}

// TestCloseWhileLineOffline: the line's network is cut while it runs, the
// order is closed at central, and the line goes on for 30 seconds' worth
// of units before its network returns. Then it stops and closes the
// order; every event it made is at central, each made after the close
// flagged after-close, and the reconciliation balances. One close.
func TestCloseWhileLineOffline(t *testing.T) {
	s := newSystem(t)
	px := newProxy(t, s.mq.Addr)
	r := s.addLine(t, "G3", lineOpts{units: 100_000, speed: 3_000, noRead: 0.01, broker: "tcp://" + px.Addr(),
		pool: agent.PoolConfig{ReserveBlock: 64, LowWaterMinutes: 1, RefillMinutes: 2, MinRequest: 1_000, MaxRequest: 10_000, NominalRate: 3_000, RequestRetry: time.Second}})
	r.startEdge(t)
	r.run(t)
	r.awaitUnits(t, 300)
	require.Eventually(t, func() bool {
		st := r.state(t)
		return st.Pool != nil && st.Pool.Available >= 1_600
	}, wait, 10*time.Millisecond, "serials for the time offline")
	px.Cut()
	require.Eventually(t, func() bool { return !r.state(t).Outbox.Connected }, wait, 10*time.Millisecond, "the line is offline")
	s.api.must(t, "POST", "/api/v1/orders/"+r.order+"/close", nil, nil)
	at := r.sim.Status().Counters
	r.awaitUnits(t, int(at.Good+at.Rejected)+1_500) // 30 s at 3,000 units/min
	require.Equal(t, wire.LineRunning, r.state(t).State, "offline, the line does not know yet")

	px.Restore()
	require.Eventually(t, func() bool {
		st := r.state(t)
		return st.State != wire.LineRunning && st.Order == nil
	}, wait, 10*time.Millisecond, "the line stops as soon as it hears of the close")
	o := s.awaitClosed(t, r)
	require.Zero(t, o.Reconciliation.Difference)
	require.Equal(t, 1, s.closes(t, r.order), "one close in the audit trail")

	var n orderNeed
	s.api.must(t, "GET", "/api/v1/orders/"+r.order, nil, &n)
	require.NotNil(t, n.ClosedAt)
	var list struct {
		Total int `json:"total"`
		Flags []struct {
			EventID string    `json:"event_id"`
			Flag    string    `json:"flag"`
			EventAt time.Time `json:"event_at"`
		} `json:"flags"`
	}
	s.api.must(t, "GET", "/api/v1/orders/"+r.order+"/flags?flag=after-close&limit=10000", nil, &list)
	require.Equal(t, list.Total, len(list.Flags))
	require.Equal(t, n.EventFlags.Total, list.Total)
	flagged := map[string]bool{}
	for _, f := range list.Flags {
		require.Equal(t, "after-close", f.Flag)
		require.True(t, f.EventAt.After(*n.ClosedAt), "event %s at %v flagged, the close was at %v", f.EventID, f.EventAt, n.ClosedAt)
		flagged[f.EventID] = true
	}
	// Every unit event after central's close is flagged: count them in
	// central's history of the order's units.
	rows, err := s.db(t).Query(testkit.ContextFor(t, wait), `SELECT h.event_id FROM unit_history h JOIN units u ON u.gtin = h.gtin AND u.serial = h.serial
		WHERE u.order_id = $1 AND h.type IN ('commissioned', 'decommissioned') AND h.at > $2`, r.order, *n.ClosedAt)
	require.NoError(t, err)
	after := 0
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		require.True(t, flagged[id], "event %s made after the close is not flagged", id)
		after++
	}
	require.NoError(t, rows.Err())
	require.GreaterOrEqual(t, after, 1_400, "the units made offline after the close")
	t.Logf("%d events after the close, all flagged", after)
}

// TestExpiredOrderRefused: central refuses an order whose expiry has
// passed, naming expiry; an order that reaches the line past its expiry
// anyway (here: a retained orders message of central's service user) is
// refused by the line.
func TestExpiredOrderRefused(t *testing.T) {
	s := newSystem(t)
	code, body := s.api.do(t, "POST", "/api/v1/orders", map[string]any{"id": "WO-OLD", "gtin": gtin, "lot": "L1", "expiry": "240101", "quantity": 300}, nil)
	require.Equal(t, http.StatusUnprocessableEntity, code, string(body))
	require.Contains(t, string(body), "expiry")

	r := s.addLine(t, "G4", lineOpts{units: 1_000, speed: 3_000})
	r.startEdge(t)
	old := wire.Order{ID: "WO-OLD", GTIN: gtin, Lot: "L1", Expiry: "240101", Quantity: 300, State: wire.OrderStateReleased}
	b, err := wire.Encode(wire.Orders{V: wire.Version, Line: r.id, Orders: []wire.Order{old}})
	require.NoError(t, err)
	c := s.mqttClient(t, "planner-forge", "central", s.svc)
	topic, err := wire.Topic(r.id, wire.KindOrders)
	require.NoError(t, err)
	tok := c.Publish(topic, 1, true, b)
	require.True(t, tok.WaitTimeout(wait))
	require.NoError(t, tok.Error())
	require.Eventually(t, func() bool {
		st := r.state(t)
		return len(st.Orders) == 1 && st.Orders[0].ID == "WO-OLD"
	}, wait, 10*time.Millisecond)
	r.scr.signIn(t, pinAna)
	code, body = r.scr.post(t, "/ui/start", map[string]string{"order": "WO-OLD"})
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Contains(t, string(body), "expiry 240101 (2024-01-01) has passed")
	require.NotEqual(t, wire.LineRunning, r.state(t).State)
}

// TestQualityLimitsStopTheLine: with the agent's default quality limits, a
// printer dropping every label, a camera failing to read 30 % of the
// packs, and a grade drop each stop the line, within the limit plus the
// units in flight, with the alarm's code on the touchscreen's state.
func TestQualityLimitsStopTheLine(t *testing.T) {
	s := newSystem(t)
	r := s.addLine(t, "G5", lineOpts{units: 100_000, speed: 1_200, quality: true})
	r.startEdge(t)
	r.run(t)
	for i, tc := range []struct {
		device, fault string
		on, off       any
	}{
		{"printer", "drop", true, false},
		{"scanner", "no_read_rate", 0.3, 0},
		{"scanner", "grade_drop", true, false},
	} {
		r.awaitUnits(t, 200*(i+1))
		before := r.state(t).Production.Rejected
		r.fault(t, tc.device, tc.fault, tc.on)
		var alarm station.Alarm
		var st agent.State
		require.Eventually(t, func() bool {
			st = r.state(t)
			for _, a := range st.Alarms {
				if a.Device == "quality" {
					alarm = a
					return true
				}
			}
			return false
		}, wait, 5*time.Millisecond, "%s %s: a quality alarm", tc.device, tc.fault)
		require.Contains(t, []station.AlarmCode{station.AlarmConsecutive, station.AlarmRejectRate}, alarm.Code)
		atAlarm, inFlight := st.Production.Rejected-before, uint64(st.InFlight)
		require.Eventually(t, func() bool { return !r.sim.Status().Running }, wait, 5*time.Millisecond, "the conveyor stops")
		final := r.state(t).Production.Rejected - before
		require.LessOrEqual(t, final, atAlarm+inFlight, "%s: no more rejects than those in flight after the alarm", tc.fault)
		if alarm.Code == station.AlarmConsecutive {
			require.LessOrEqual(t, atAlarm, uint64(station.DefaultMaxConsecutiveRejects+station.DefaultRejectRateWindow*station.DefaultMaxRejectRate/100),
				"%s: stopped at the limit", tc.fault)
		}
		// The touchscreen's state carries the code.
		code, raw := (&client{base: "http://" + r.edge.Addr(), hc: http.DefaultClient}).do(t, "GET", "/ui/state", nil, nil)
		require.Equal(t, http.StatusOK, code)
		require.True(t, strings.Contains(string(raw), `"code":"`+string(alarm.Code)+`"`), "/ui/state names %s: %s", alarm.Code, raw)
		t.Logf("%s %s: %s after %d rejects (%d in flight), %d in all", tc.device, tc.fault, alarm.Code, atAlarm, inFlight, final)

		r.fault(t, tc.device, tc.fault, tc.off)
		r.ackAndResume(t)
	}
}
