package ui

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/pool"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
)

var (
	ana   = Person{Name: "Ana", Role: station.RoleOperator}
	sam   = Person{Name: "Sam", Role: station.RoleSupervisor}
	quinn = Person{Name: "Quinn", Role: station.RoleQA}
)

// runningState is a line running WO-1 with a production count of its own
// that differs from the agent's counts since it started.
func runningState() agent.State {
	o := testOrder("WO-1")
	return agent.State{Snapshot: station.Snapshot{Line: "L1", State: wire.LineRunning, Want: wire.LineRunning, Order: &o,
		Counts: station.Counts{Good: 99_000, Rejected: map[wire.Reason]uint64{wire.ReasonNoRead: 900}},
		Rate:   240,
		Production: &station.Production{Order: "WO-1", State: wire.ProgressRunning, Quantity: 1000, Good: 250, Rejected: 7,
			InFlight: 4, Allowance: 50, AllowanceLeft: 43, Remaining: 750},
		Devices: map[string]wire.DeviceHealth{"zeta": {State: wire.DeviceOK}, "plc": {State: wire.DeviceOK},
			"scanner": {State: wire.DeviceWarning, Detail: "grade C"}, "printer": {State: wire.DeviceOK}}},
		Orders: []wire.Order{o, testOrder("WO-3"), testOrder("WO-2")}}
}

func TestViewPool(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pool      *pool.Level
		state     wire.LineState
		level     string
		minutes   *float64
		expiry    string
		rawExpiry string
	}{
		{"no pool", nil, wire.LineRunning, "", nil, "2027-12-31", "271231"},
		{"plenty", &pool.Level{Order: "WO-1", Available: 5000, Rate: 100, MinutesLeft: 50}, wire.LineRunning, "ok", new(50.0), "2027-12", "271200"},
		{"low", &pool.Level{Order: "WO-1", Available: 500, Rate: 100, MinutesLeft: 5}, wire.LineRunning, "low", new(5.0), "2027-12-31", "271231"},
		{"empty", &pool.Level{Order: "WO-1", Available: 0, Rate: 100}, wire.LineRunning, "empty", new(0.0), "2027-12-31", "271231"},
		{"idle line", &pool.Level{Order: "WO-1", Available: 10, Rate: 0, MinutesLeft: math.Inf(1)}, wire.LineRunning, "ok", nil, "2027-12-31", "271231"},
		{"stopped line", &pool.Level{Order: "WO-1", Available: 500, Rate: 100, MinutesLeft: 5}, wire.LineStopped, "ok", nil, "2027-12-31", "271231"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runningState()
			s.Pool, s.State = tc.pool, tc.state
			s.Order.Expiry = tc.rawExpiry
			v := buildView(s, ana, 10, time.Time{})
			require.Equal(t, tc.expiry, v.Order.Expiry)
			if tc.pool == nil {
				require.Nil(t, v.Pool)
			} else {
				require.Equal(t, tc.level, v.Pool.Level)
				require.Equal(t, tc.minutes, v.Pool.MinutesLeft)
			}
			var names []string
			for _, d := range v.Devices {
				names = append(names, d.Name)
			}
			require.Equal(t, []string{"printer", "scanner", "plc", "zeta"}, names)
			require.Equal(t, "grade C", v.Devices[1].Detail)
		})
	}
}

// TestViewCountsPerOrder: the counts are the order's production count,
// not the agent's since it started; the rate is 0 unless running.
func TestViewCountsPerOrder(t *testing.T) {
	s := runningState()
	s.Pool = &pool.Level{Order: "WO-1", Available: 100, Counts: wire.Reconciliation{Commissioned: 249,
		Decommissioned: map[wire.Reason]uint64{wire.ReasonNoRead: 5, wire.ReasonLowGrade: 2}, Voided: 3}}
	v := buildView(s, ana, 10, time.Time{})
	require.Equal(t, CountsView{Good: 250, Rejected: 7, InFlight: 4, Voided: 3, UnitsPerMn: 240,
		ByReason: []Reason{{"low-grade", 2}, {"no-read", 5}}}, v.Counts)
	o := v.Order
	require.Equal(t, "running", o.State)
	require.Equal(t, uint64(250), o.Done)
	require.Equal(t, 25.0, o.Progress)
	require.Equal(t, uint64(43), o.AllowanceLeft)
	require.False(t, o.CanStart, "running")
	require.False(t, o.CanClose, "running")
	require.Empty(t, o.Notice)
	require.Equal(t, []string{"WO-2", "WO-3"}, ids(v.Orders), "the others, sorted; the running one not twice")

	for _, st := range []wire.LineState{wire.LineStopped, wire.LinePaused, wire.LineAlarm} {
		s.State = st
		require.Zero(t, buildView(s, ana, 10, time.Time{}).Counts.UnitsPerMn, "rate while %s", st)
	}

	t.Run("no order", func(t *testing.T) {
		s := runningState()
		s.Order, s.Production, s.State = nil, nil, wire.LineStopped
		v := buildView(s, ana, 10, time.Time{})
		require.Nil(t, v.Order)
		require.Equal(t, CountsView{ByReason: []Reason{}}, v.Counts, "nothing from before: the counts are per order")
	})
}

func ids(os []OrderView) []string {
	out := []string{}
	for _, o := range os {
		out = append(out, o.ID)
	}
	return out
}

func TestViewOrderStates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*agent.State)
		state  string
		notice string
		start  bool
		close  bool
		extend bool
		block  string
	}{
		{"stopped", func(s *agent.State) { s.State, s.Production.State = wire.LineStopped, wire.ProgressStopped },
			"stopped", "", true, true, false, ""},
		{"paused", func(s *agent.State) { s.State, s.Production.State = wire.LinePaused, wire.ProgressPaused },
			"paused", "", true, true, false, ""},
		{"complete", func(s *agent.State) {
			s.State, s.Production.State, s.Production.Complete, s.Production.Good = wire.LineStopped, wire.ProgressComplete, true, 1000
		}, "complete", "Order complete: 1000 of 1000 made. Close it.", false, true, false, ""},
		{"allowance spent", func(s *agent.State) {
			s.State, s.Production.State, s.Production.Rejected, s.Production.AllowanceLeft = wire.LineAlarm, wire.ProgressStopped, 50, 0
			s.Alarms = []station.Alarm{{Code: station.AlarmAllowanceSpent, Device: "allowance", Active: true, StoppedLine: true, AckRole: station.RoleOperator}}
		}, "stopped", "Reject allowance spent: 50 rejects of 50 allowed. A supervisor may extend it, or close the order.", false, true, true, "alarm"},
		{"alarm", func(s *agent.State) {
			s.State, s.Production.State = wire.LineAlarm, wire.ProgressStopped
			s.Alarms = []station.Alarm{{Code: station.AlarmPLCJam, Device: "plc", StoppedLine: true, Acked: true, Active: true}}
		}, "stopped", "", false, true, false, "alarm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runningState()
			tc.change(&s)
			v := buildView(s, ana, 10, time.Time{})
			o := v.Order
			require.Equal(t, tc.state, o.State)
			require.Equal(t, tc.notice, o.Notice)
			require.Equal(t, tc.start, o.CanStart, "can start")
			require.Equal(t, tc.close, o.CanClose, "can close")
			require.Equal(t, tc.extend, o.Extend, "extend")
			if tc.block == "" {
				require.Empty(t, v.StartBlocked)
			} else {
				require.Contains(t, v.StartBlocked, tc.block)
			}
		})
	}
}

func TestViewNoOrders(t *testing.T) {
	s := runningState()
	s.Order, s.Production, s.Orders, s.Line = nil, nil, nil, "L7"
	v := buildView(s, Person{}, 10, time.Time{})
	require.Equal(t, "No order released to line L7: ask planning to release one.", v.NoOrders)
	require.Equal(t, []OrderView{}, v.Orders)
	s.Orders = []wire.Order{testOrder("WO-9")}
	require.Empty(t, buildView(s, Person{}, 10, time.Time{}).NoOrders)
}

// TestViewAlarms: each alarm carries the catalogue's cause, action and
// role, whether the signed-in person may acknowledge it, and the device's
// words apart; acknowledged alarms whose cause went are gone.
func TestViewAlarms(t *testing.T) {
	s := runningState()
	since := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	missed := station.Catalogue()[15]
	require.Equal(t, station.AlarmRejectMissed, missed.Code)
	s.Alarms = []station.Alarm{
		{ID: 1, Code: station.AlarmPLCJam, Device: "plc", Fault: "gone", Acked: true},
		{ID: 2, Code: missed.Code, Message: missed.Cause, Action: missed.Action, AckRole: missed.AckRole, Device: "plc",
			Fault: "plc alarm: reject-missed", Since: since, Active: true, StoppedLine: true},
		// No catalogue texts on the alarm: the screen takes them by code.
		{ID: 3, Code: station.AlarmScannerOffline, Device: "scanner", Fault: "scanner not connected: tcp:127.0.0.1:9004: read: EOF", Since: since, StoppedLine: true},
	}
	s.AlarmHistory = make([]station.AlarmRecord, station.HistoryLen)
	for i := range s.AlarmHistory {
		s.AlarmHistory[i] = station.AlarmRecord{ID: uint64(station.HistoryLen - i), Code: station.AlarmPLCJam, AckedBy: "Ana"}
	}
	for _, tc := range []struct {
		who       Person
		mayMissed bool
		mayScan   bool
	}{{Person{}, false, false}, {ana, false, true}, {sam, false, true}, {quinn, true, true}} {
		t.Run(string(tc.who.Role), func(t *testing.T) {
			v := buildView(s, tc.who, 10, time.Time{})
			require.Len(t, v.Alarms, 2, "the acknowledged, cleared jam is gone")
			m, sc := v.Alarms[0], v.Alarms[1]
			require.Equal(t, AlarmView{ID: 2, Code: "reject-missed", Message: missed.Cause, Action: missed.Action, AckRole: station.RoleQA,
				MayAck: tc.mayMissed, Device: "plc", Detail: "plc alarm: reject-missed", Since: since, Active: true, NeedsAck: true}, m)
			require.Equal(t, "scanner-offline", sc.Code)
			require.Equal(t, "The verification camera does not answer.", sc.Message, "the plain cause, not the device's words")
			require.Contains(t, sc.Action, "Check the camera")
			require.Equal(t, "scanner not connected: tcp:127.0.0.1:9004: read: EOF", sc.Detail)
			require.Equal(t, tc.mayScan, sc.MayAck)
			require.True(t, sc.NeedsAck)
			require.Contains(t, v.StartBlocked, "alarm")
			require.Len(t, v.AlarmHistory, station.HistoryLen)
			require.Equal(t, uint64(station.HistoryLen), v.AlarmHistory[0].ID, "newest first")
		})
	}
}

// TestClosedOrderNotice: an order that leaves the line (closed at central,
// or here) shows as closed with its last counts until another starts, and
// is no longer offered.
func TestClosedOrderNotice(t *testing.T) {
	r := newRig(t, Config{})
	c := r.client(t)
	r.signIn(t, c, pinAna)
	code, body := r.post(t, c, "/ui/start", `{"order":"WO-1"}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	r.line.update(func(s *agent.State) {
		s.Orders = append(s.Orders, testOrder("WO-2"))
		s.Production.Good, s.Production.Rejected = 120, 3
		s.Rate = 200
	})
	v := getView(t, r, c)
	require.Equal(t, "running", v.Order.State)
	require.Equal(t, uint64(120), v.Counts.Good)

	// Central closes WO-1: the agent stops the line and drops the order.
	r.line.update(func(s *agent.State) {
		s.Order, s.Production, s.Pool = nil, nil, nil
		s.Orders = []wire.Order{testOrder("WO-2")}
		s.State, s.Want, s.Rate = wire.LineStopped, wire.LineStopped, 0
	})
	v = getView(t, r, c)
	require.NotNil(t, v.Order)
	require.Equal(t, "WO-1", v.Order.ID)
	require.Equal(t, "closed", v.Order.State)
	require.Equal(t, "Order WO-1 was closed at central; choose the next order.", v.Order.Notice)
	require.False(t, v.Order.CanStart)
	require.False(t, v.Order.CanClose)
	require.Equal(t, uint64(120), v.Counts.Good, "its last counts")
	require.Zero(t, v.Counts.UnitsPerMn)
	require.Equal(t, []string{"WO-2"}, ids(v.Orders), "the closed order is not offered")

	// The next order replaces the notice.
	code, _ = r.post(t, c, "/ui/start", `{"order":"WO-2"}`)
	require.Equal(t, http.StatusOK, code)
	v = getView(t, r, c)
	require.Equal(t, "WO-2", v.Order.ID)
	require.Equal(t, "running", v.Order.State)
	require.Zero(t, v.Counts.Good, "a new order counts from zero")

	// Closed at the screen: the notice says so.
	r.line.setState(wire.LineStopped)
	code, _ = r.post(t, c, "/ui/close", `{"confirm":true}`)
	require.Equal(t, http.StatusOK, code)
	v = getView(t, r, c)
	require.Equal(t, "closed", v.Order.State)
	require.Equal(t, "Order WO-2 was closed at this line; choose the next order.", v.Order.Notice)
	require.Equal(t, "No order released to line L1: ask planning to release one.", v.NoOrders)

	// An order that merely stops running (still released) is no closed order.
	r2 := newRig(t, Config{})
	c2 := r2.client(t)
	r2.signIn(t, c2, pinAna)
	code, _ = r2.post(t, c2, "/ui/start", `{"order":"WO-1"}`)
	require.Equal(t, http.StatusOK, code)
	require.NotNil(t, getView(t, r2, c2).Order)
	r2.line.update(func(s *agent.State) { s.Order, s.Production = nil, nil })
	require.Nil(t, getView(t, r2, c2).Order)
}

func getView(tb testing.TB, r *rig, c *http.Client) View {
	tb.Helper()
	resp, err := c.Get(r.srv.URL + "/ui/state")
	require.NoError(tb, err)
	defer resp.Body.Close()
	require.Equal(tb, http.StatusOK, resp.StatusCode)
	var v View
	require.NoError(tb, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

// TestPageRendersAlarms: the page as served, before any script runs,
// already shows the alarms as banners and Start disabled.
func TestPageRendersAlarms(t *testing.T) {
	s := runningState()
	threeAlarms(t)(&s)
	v := buildView(s, Person{}, 10, time.Time{})
	var b bytes.Buffer
	require.NoError(t, pageTemplate(t).Execute(&b, v))
	page := b.String()
	for _, want := range []string{
		`<section id="alarm-strip" class="alarm-strip" aria-label="alarms" >`,
		`data-code="reject-missed"`, "A pack that had to be rejected may have passed the reject station.",
		`id="btn-start" class="btn big go" type="button" disabled>`,
		`data-order="WO-2" disabled>`,
		`No start during an alarm.`,
	} {
		require.Contains(t, page, want)
	}
	s.Alarms = nil
	s.State, s.Production.State = wire.LineStopped, wire.ProgressStopped
	b.Reset()
	require.NoError(t, pageTemplate(t).Execute(&b, buildView(s, Person{}, 10, time.Time{})))
	require.Contains(t, b.String(), `<section id="alarm-strip" class="alarm-strip" aria-label="alarms" hidden>`)
	require.Contains(t, b.String(), `id="btn-start" class="btn big go" type="button" >`)
}
