package ui

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/shared/wire"
)

// View is the JSON the screen renders: the agent's state cut to what the
// operator reads, with the judgements (pool warning, alarm needs an ack)
// made here so the page only paints.
type View struct {
	Line     string      `json:"line"`
	State    string      `json:"state"`
	Want     string      `json:"want"`
	Operator string      `json:"operator"` // signed-in operator of this client, "" if none
	Order    *OrderView  `json:"order,omitempty"`
	Orders   []OrderView `json:"orders"` // released, may be started
	Counts   CountsView  `json:"counts"`
	Pool     *PoolView   `json:"pool,omitempty"`
	Devices  []Device    `json:"devices"`
	Link     Link        `json:"link"`
	Alarms   []AlarmView `json:"alarms"`
	At       time.Time   `json:"at"`
	// Packing is the packing panel (edge/packing), when packing is on.
	Packing *packing.Snapshot `json:"packing,omitempty"`
}

// OrderView is a work order as the operator reads it.
type OrderView struct {
	ID       string  `json:"id"`
	Product  string  `json:"product"`
	GTIN     string  `json:"gtin"`
	Lot      string  `json:"lot"`
	Expiry   string  `json:"expiry"` // 2027-03-31, or 2027-03 for DD=00
	Quantity uint64  `json:"quantity"`
	Done     uint64  `json:"done"`     // commissioned so far
	Progress float64 `json:"progress"` // 0–100
}

// CountsView is the live production count.
type CountsView struct {
	Good       uint64   `json:"good"`
	Rejected   uint64   `json:"rejected"`
	ByReason   []Reason `json:"by_reason"`
	Voided     uint64   `json:"voided"`
	UnitsPerMn float64  `json:"units_per_min"`
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

// AlarmView is an alarm as shown.
type AlarmView struct {
	Device   string    `json:"device"`
	Fault    string    `json:"fault"`
	Since    time.Time `json:"since"`
	Active   bool      `json:"active"`
	NeedsAck bool      `json:"needs_ack"`
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

// formatExpiry turns YYMMDD into a date a person reads (DD=00 is the end
// of the month, so only the month is shown).
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

func (u *UI) view(operator string) View {
	return buildView(u.line.State(), operator, u.cfg.PoolWarnMinutes, u.cfg.Now())
}

func buildView(s agent.State, operator string, warnMinutes float64, now time.Time) View {
	v := View{Line: s.Line, State: string(s.State), Want: string(s.Want), Operator: operator, At: now,
		Orders: []OrderView{}, Devices: []Device{}, Alarms: []AlarmView{},
		Link: Link{Connected: s.Outbox.Connected, Backlog: s.Outbox.Pending}}
	c := s.Counts
	v.Counts = CountsView{Good: c.Good, Rejected: c.RejectedTotal(), ByReason: reasons(c.Rejected), Voided: c.Voided}
	if !math.IsNaN(s.Rate) && !math.IsInf(s.Rate, 0) {
		v.Counts.UnitsPerMn = math.Round(s.Rate*10) / 10
	}
	if s.Order != nil {
		o := orderView(*s.Order)
		o.Done = c.Good
		if s.Pool != nil && s.Pool.Order == s.Order.ID {
			o.Done = s.Pool.Counts.Commissioned // per order, survives restarts
		}
		if o.Quantity > 0 {
			o.Progress = math.Min(100, math.Round(1000*float64(o.Done)/float64(o.Quantity))/10)
		}
		v.Order = &o
	}
	for _, o := range s.Orders {
		if s.Order != nil && o.ID == s.Order.ID {
			continue
		}
		v.Orders = append(v.Orders, orderView(o))
	}
	if p := s.Pool; p != nil {
		pv := &PoolView{Available: p.Available, Pending: p.Pending != "", Refused: p.Refused, Level: "ok"}
		if m := p.MinutesLeft; !math.IsNaN(m) && !math.IsInf(m, 0) && p.Rate > 0 {
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
	for _, a := range s.Alarms {
		if a.Acked && !a.Active {
			continue
		}
		v.Alarms = append(v.Alarms, AlarmView{Device: a.Device, Fault: a.Fault, Since: a.Since, Active: a.Active,
			NeedsAck: a.StoppedLine && !a.Acked})
	}
	return v
}
