package ui

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
)

// View is the JSON the screen renders: the agent's state cut to what the
// operator reads, with the judgements (what the order needs, who may
// acknowledge what, whether Start may be pressed, the pool warning) made
// here so the page only paints.
type View struct {
	Line     string       `json:"line"`
	State    string       `json:"state"`
	Want     string       `json:"want"`
	Operator string       `json:"operator"`       // signed-in person of this client, "" if none
	Role     station.Role `json:"role,omitempty"` // and their role
	// Order is the order at the line: the one running, or the one just
	// closed (state closed) until another starts.
	Order  *OrderView  `json:"order,omitempty"`
	Orders []OrderView `json:"orders"` // released, may be started
	// NoOrders says why there is nothing to start, when nothing is.
	NoOrders string `json:"no_orders,omitempty"`
	// StartBlocked says why no order may be started now (an alarm).
	StartBlocked string     `json:"start_blocked,omitempty"`
	Counts       CountsView `json:"counts"`
	Pool         *PoolView  `json:"pool,omitempty"`
	Devices      []Device   `json:"devices"`
	Link         Link       `json:"link"`
	// Alarms are the alarms present: active, or waiting to be
	// acknowledged; each is a banner on the screen.
	Alarms []AlarmView `json:"alarms"`
	// AlarmHistory is the last alarms (station.HistoryLen), newest first.
	AlarmHistory []station.AlarmRecord `json:"alarm_history"`
	At           time.Time             `json:"at"`
	// HeartbeatMS is the event stream's heartbeat: the page takes the
	// connection as lost when nothing came for about twice as long.
	HeartbeatMS int64 `json:"heartbeat_ms"`
	// Packing is the packing panel (edge/packing), when packing is on.
	Packing *packing.Snapshot `json:"packing,omitempty"`
}

// OrderView is a work order as the operator reads it. The counts are the
// order's own (from the station's production count, which survives agent
// restarts), not the agent's since it started.
type OrderView struct {
	ID       string `json:"id"`
	Product  string `json:"product"`
	GTIN     string `json:"gtin"`
	Lot      string `json:"lot"`
	Expiry   string `json:"expiry"` // 2027-03-31, or 2027-03 for DD=00
	Quantity uint64 `json:"quantity"`
	// State is running, paused, stopped, complete (quantity made: close
	// it) or closed; empty for an order not started.
	State         string  `json:"state,omitempty"`
	Done          uint64  `json:"done"` // commissioned (good)
	Rejected      uint64  `json:"rejected"`
	InFlight      uint64  `json:"in_flight"`
	Remaining     uint64  `json:"remaining"`
	Allowance     uint64  `json:"allowance"`
	AllowanceLeft uint64  `json:"allowance_left"`
	Progress      float64 `json:"progress"` // 0–100
	// Notice is what the operator must know of the order now, if anything.
	Notice string `json:"notice,omitempty"`
	// CanStart, CanClose: Start and Close order may be pressed.
	CanStart bool `json:"can_start"`
	CanClose bool `json:"can_close"`
	// Extend: the reject allowance is spent; a supervisor may extend it.
	Extend bool `json:"extend"`
}

// CountsView is the running order's production count.
type CountsView struct {
	Good       uint64   `json:"good"`
	Rejected   uint64   `json:"rejected"`
	ByReason   []Reason `json:"by_reason"`
	Voided     uint64   `json:"voided"`
	InFlight   uint64   `json:"in_flight"`
	UnitsPerMn float64  `json:"units_per_min"` // 0 unless running
}

// Reason is a count of rejected units.
type Reason struct {
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

// PoolView is the serial stock of the running order.
type PoolView struct {
	Available uint64 `json:"available"`
	// MinutesLeft is nil when the line stands still (no time to empty).
	MinutesLeft *float64 `json:"minutes_left,omitempty"`
	// Level is ok, low (will be empty soon) or empty.
	Level   string `json:"level"`
	Pending bool   `json:"pending"` // a refill is on its way
	Refused string `json:"refused,omitempty"`
}

// Device is one device's health.
type Device struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
}

// Link is the connection to central.
type Link struct {
	Connected bool   `json:"connected"`
	Backlog   uint64 `json:"backlog"` // events not yet acknowledged
}

// AlarmView is an alarm as shown: the catalogue's plain cause and action
// first, the device's own words (Detail) for maintenance.
type AlarmView struct {
	ID      uint64       `json:"id"`
	Code    string       `json:"code"`
	Message string       `json:"message"` // the cause, in plain words
	Action  string       `json:"action"`  // what to do
	AckRole station.Role `json:"ack_role"`
	// MayAck: the signed-in person may acknowledge it.
	MayAck bool      `json:"may_ack"`
	Device string    `json:"device"`
	Detail string    `json:"detail"`
	Since  time.Time `json:"since"`
	// Active: its cause is still there.
	Active bool `json:"active"`
	// NeedsAck: it stopped production and waits to be acknowledged.
	NeedsAck bool `json:"needs_ack"`
	Acked    bool `json:"acked"`
}

// ReconciliationView is the close-order result shown to the operator.
type ReconciliationView struct {
	Order          string   `json:"order"`
	Granted        uint64   `json:"granted"`
	Commissioned   uint64   `json:"commissioned"`
	Decommissioned []Reason `json:"decommissioned"`
	Voided         uint64   `json:"voided"`
	ReturnedUnused uint64   `json:"returned_unused"`
	Difference     int64    `json:"difference"`
	Balanced       bool     `json:"balanced"`
}

func reasons(m map[wire.Reason]uint64) []Reason {
	out := []Reason{}
	for r, n := range m {
		if n > 0 {
			out = append(out, Reason{Reason: string(r), Count: n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reason < out[j].Reason })
	return out
}

func reconciliationView(order string, r wire.Reconciliation) ReconciliationView {
	return ReconciliationView{Order: order, Granted: r.Granted, Commissioned: r.Commissioned,
		Decommissioned: reasons(r.Decommissioned), Voided: r.Voided, ReturnedUnused: r.ReturnedUnused,
		Difference: r.Difference(), Balanced: r.Balanced()}
}

// formatExpiry turns YYMMDD into an ISO date, the one date format of the
// screen (DD=00 is the end of the month, so only the month is shown).
func formatExpiry(s string) string {
	if len(s) != 6 {
		return s
	}
	y := "20" + s[0:2]
	if s[4:6] == "00" {
		return y + "-" + s[2:4]
	}
	return y + "-" + s[2:4] + "-" + s[4:6]
}

func orderView(o wire.Order) OrderView {
	name := o.Product
	if name == "" {
		name = "GTIN " + o.GTIN
	}
	return OrderView{ID: o.ID, Product: name, GTIN: o.GTIN, Lot: o.Lot, Expiry: formatExpiry(o.Expiry), Quantity: o.Quantity}
}

// rank puts the line's three devices first, in line order.
func rank(name string) int {
	switch name {
	case "printer":
		return 0
	case "scanner":
		return 1
	case "plc":
		return 2
	}
	return 3
}

// shown is the order and counts the screen last showed running.
type shown struct {
	order  OrderView
	counts CountsView
}

// view builds the view for who, and keeps the order it shows so that its
// closing can be told (a closed order is no longer in the agent's state).
func (u *UI) view(who Person) View {
	s := u.line.State()
	v := buildView(s, who, u.cfg.PoolWarnMinutes, u.cfg.Now())
	v.HeartbeatMS = u.cfg.Heartbeat.Milliseconds()
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case v.Order != nil:
		u.last = &shown{order: *v.Order, counts: v.Counts}
	case u.last != nil && !released(s.Orders, u.last.order.ID):
		o := u.last.order
		o.State, o.CanStart, o.CanClose, o.Extend, o.InFlight = string(wire.ProgressClosed), false, false, false, 0
		where := "at central"
		if u.closedHere == o.ID {
			where = "at this line"
		}
		o.Notice = fmt.Sprintf("Order %s was closed %s; choose the next order.", o.ID, where)
		v.Order = &o
		v.Counts = u.last.counts
		v.Counts.UnitsPerMn, v.Counts.InFlight = 0, 0
	}
	return v
}

func released(orders []wire.Order, id string) bool {
	return slices.ContainsFunc(orders, func(o wire.Order) bool { return o.ID == id })
}

func buildView(s agent.State, who Person, warnMinutes float64, now time.Time) View {
	v := View{Line: s.Line, State: string(s.State), Want: string(s.Want), Operator: who.Name, Role: who.Role, At: now,
		Orders: []OrderView{}, Devices: []Device{}, Alarms: []AlarmView{}, AlarmHistory: []station.AlarmRecord{},
		Counts: CountsView{ByReason: []Reason{}},
		Link:   Link{Connected: s.Outbox.Connected, Backlog: s.Outbox.Pending}}
	for _, a := range s.Alarms {
		if a.Acked && !a.Active {
			continue
		}
		v.Alarms = append(v.Alarms, alarmView(a, who))
	}
	if len(s.AlarmHistory) > 0 {
		v.AlarmHistory = s.AlarmHistory[:min(len(s.AlarmHistory), station.HistoryLen)]
	}
	if len(s.Alarms) > 0 {
		// The station refuses Start while any alarm is there.
		v.StartBlocked = "No start during an alarm."
	}
	if s.Order != nil {
		o, c := current(s, v.StartBlocked == "")
		v.Order, v.Counts = &o, c
	}
	for _, o := range s.Orders {
		if s.Order != nil && o.ID == s.Order.ID {
			continue
		}
		v.Orders = append(v.Orders, orderView(o))
	}
	slices.SortFunc(v.Orders, func(a, b OrderView) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	if len(v.Orders) == 0 && s.Order == nil {
		v.NoOrders = fmt.Sprintf("No order released to line %s: ask planning to release one.", s.Line)
	}
	if p := s.Pool; p != nil {
		pv := &PoolView{Available: p.Available, Pending: p.Pending != "", Refused: p.Refused, Level: "ok"}
		if m := p.MinutesLeft; !math.IsNaN(m) && !math.IsInf(m, 0) && p.Rate > 0 && s.State == wire.LineRunning {
			m = math.Round(m*10) / 10
			pv.MinutesLeft = &m
		}
		switch {
		case p.Available == 0:
			pv.Level = "empty"
		case pv.MinutesLeft != nil && *pv.MinutesLeft < warnMinutes:
			pv.Level = "low"
		}
		v.Pool = pv
	}
	v.Packing = s.Packing
	for name, h := range s.Devices {
		v.Devices = append(v.Devices, Device{Name: name, State: string(h.State), Detail: h.Detail})
	}
	slices.SortFunc(v.Devices, func(a, b Device) int {
		if ra, rb := rank(a.Name), rank(b.Name); ra != rb {
			return ra - rb
		}
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return v
}

// current is the running order and its counts; startable: no alarm
// blocks Start.
func current(s agent.State, startable bool) (OrderView, CountsView) {
	o := orderView(*s.Order)
	c := CountsView{ByReason: []Reason{}}
	var pc wire.Reconciliation // the pool's durable counts of the order
	if s.Pool != nil && s.Pool.Order == s.Order.ID {
		pc = s.Pool.Counts
	}
	if p := s.Production; p != nil && p.Order == s.Order.ID {
		o.State = string(p.State)
		o.Done, o.Rejected, o.InFlight = p.Good, p.Rejected, p.InFlight
		o.Remaining, o.Allowance, o.AllowanceLeft = p.Remaining, p.Allowance, p.AllowanceLeft
		if p.Complete {
			o.State = string(wire.ProgressComplete)
		}
	} else {
		// No production count (yet): the pool's durable fates.
		o.State = string(progressOf(s.State, s.Want))
		o.Done, o.Rejected = pc.Commissioned, pc.DecommissionedTotal()
		if o.Done < o.Quantity {
			o.Remaining = o.Quantity - o.Done
		}
	}
	if o.Quantity > 0 {
		o.Progress = math.Min(100, math.Round(1000*float64(o.Done)/float64(o.Quantity))/10)
	}
	running := o.State == string(wire.ProgressRunning)
	spent := o.Allowance > 0 && o.AllowanceLeft == 0
	complete := o.State == string(wire.ProgressComplete)
	switch {
	case complete:
		o.Notice = fmt.Sprintf("Order complete: %d of %d made. Close it.", o.Done, o.Quantity)
	case spent:
		o.Extend = true
		o.Notice = fmt.Sprintf("Reject allowance spent: %d rejects of %d allowed. A supervisor may extend it, or close the order.", o.Rejected, o.Allowance)
	}
	o.CanClose = !running
	o.CanStart = !running && !complete && !spent && startable
	c.Good, c.Rejected, c.InFlight = o.Done, o.Rejected, o.InFlight
	c.ByReason = reasons(pc.Decommissioned)
	c.Voided = pc.Voided
	if s.State == wire.LineRunning && !math.IsNaN(s.Rate) && !math.IsInf(s.Rate, 0) {
		c.UnitsPerMn = math.Round(s.Rate*10) / 10
	}
	return o, c
}

// progressOf is the order's state from the line's, without a production
// count.
func progressOf(state, want wire.LineState) wire.OrderProgress {
	switch {
	case state == wire.LineRunning:
		return wire.ProgressRunning
	case state == wire.LinePaused || (state == wire.LineAlarm && want == wire.LinePaused):
		return wire.ProgressPaused
	}
	return wire.ProgressStopped
}

func alarmView(a station.Alarm, who Person) AlarmView {
	msg, act, role := a.Message, a.Action, a.AckRole
	if msg == "" || act == "" || !role.Valid() {
		// Not from the catalogue's station (an older agent): the
		// catalogue still says it, by code.
		for _, sp := range station.Catalogue() {
			if string(sp.Code) == string(a.Code) {
				msg, act, role = sp.Cause, sp.Action, sp.AckRole
			}
		}
	}
	if msg == "" {
		msg, act, role = "Alarm from "+a.Device+".", "Read the details; call maintenance.", station.RoleOperator
	}
	return AlarmView{ID: a.ID, Code: string(a.Code), Message: msg, Action: act, AckRole: role,
		MayAck: who.Name != "" && who.Role.May(role), Device: a.Device, Detail: a.Fault, Since: a.Since,
		Active: a.Active, NeedsAck: a.StoppedLine && !a.Acked, Acked: a.Acked}
}
