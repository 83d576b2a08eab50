package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
)

// The order governs the line: this file holds the agent's part of it. The
// orders central sends are normalised (an order without a reject allowance
// gets the configured one) and kept by the pool; an order central closed is
// stopped and closed here at once, as the operator's Close would; a
// supervisor may extend the reject allowance.

// ErrRole is returned for an action the signed-in person's role does not
// allow.
var ErrRole = errors.New("not allowed for this role")

type roleKey struct{}

// WithSignIn returns ctx carrying who is signed in at the touchscreen and
// their role: the operator calls put that name on the events they make,
// and the role decides what they may do (Acknowledge, ExtendAllowance).
func WithSignIn(ctx context.Context, name string, role station.Role) context.Context {
	return context.WithValue(WithOperator(ctx, name), roleKey{}, role)
}

// RoleFrom returns the role WithSignIn put in ctx; an operator otherwise.
func RoleFrom(ctx context.Context) station.Role {
	if r, ok := ctx.Value(roleKey{}).(station.Role); ok && r.Valid() {
		return r
	}
	return station.RoleOperator
}

// normalise gives an order without a reject allowance the configured one.
func (a *Agent) normalise(o wire.Order) wire.Order {
	if o.RejectAllowance == 0 {
		sc := a.cfg.stationConfig().WithDefaults()
		o.RejectAllowance = station.Allowance(o.Quantity, sc.AllowancePercent, sc.AllowanceMin)
	}
	return o
}

// onOrders takes central's orders: each released one is remembered by the
// pool and may be started; one central closed that this line has not
// closed yet is stopped and closed at once.
func (a *Agent) onOrders(w wire.Orders) {
	pl, _, st, err := a.parts()
	if err != nil {
		return
	}
	var released []wire.Order
	for _, o := range w.Orders {
		o = a.normalise(o)
		switch o.State {
		case wire.OrderStateReleased:
			if err := pl.AddOrder(o); err != nil {
				a.log.Error("order not kept", "order", o.ID, "err", err)
				continue
			}
			released = append(released, o)
		case wire.OrderStateClosed:
			if l, err := pl.Level(o.ID); err == nil && !l.Closed {
				a.closeFromCentral(o)
			}
		}
	}
	st.SetOrders(released)
	a.log.Info("orders from central", "released", len(released), "total", len(w.Orders))
}

// closeFromCentral stops the line if it runs o, and closes o as the
// operator's Close would: in-flight units voided, unused serials returned,
// the reconciliation sent. It runs in the background (the MQTT callback
// must not wait on the line), once per order at a time.
func (a *Agent) closeFromCentral(o wire.Order) {
	a.mu.Lock()
	if a.closing == nil {
		a.closing = map[string]bool{}
	}
	if a.closing[o.ID] {
		a.mu.Unlock()
		return
	}
	a.closing[o.ID] = true
	a.mu.Unlock()
	go func() {
		defer func() {
			a.mu.Lock()
			delete(a.closing, o.ID)
			a.mu.Unlock()
		}()
		pl, ob, st, err := a.parts()
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if id, err := st.ReleaseNow(ctx, o.ID); err != nil {
			a.log.Error("order closed at central: line not stopped", "order", o.ID, "err", err)
			return
		} else if id != "" {
			a.log.Warn("order closed at central: line stopped", "order", o.ID, "closed_at", o.ClosedAt)
		}
		rec, err := pl.CloseOrder(ctx, o.ID, closedByCentral, ob)
		if err != nil {
			a.log.Error("order closed at central: not closed at the line", "order", o.ID, "err", err)
			return
		}
		a.log.Info("order closed at central: closed at the line", "order", o.ID, "commissioned", rec.Commissioned,
			"voided", rec.Voided, "returned", rec.ReturnedUnused, "balanced", rec.Balanced())
	}()
}

// closedByCentral is the operator named on the events of a close that
// central ordered.
const closedByCentral = "central"

// ExtendAllowance extends the running order's reject allowance by units,
// for reason: a supervisor's decision (WithSignIn), recorded as an
// allowance-extended event that central audits. The line may then be
// started again.
func (a *Agent) ExtendAllowance(ctx context.Context, units uint64, reason string) error {
	pl, ob, st, err := a.parts()
	if err != nil {
		return err
	}
	if role := RoleFrom(ctx); !role.May(station.RoleSupervisor) {
		return fmt.Errorf("extend allowance: %w: a supervisor's or QA's PIN is needed, %s signed in", ErrRole, role)
	}
	who, ok := OperatorFrom(ctx)
	if !ok {
		return fmt.Errorf("extend allowance: %w: nobody is signed in", ErrRole)
	}
	reason = strings.TrimSpace(reason)
	switch {
	case units == 0 || units > 1_000_000:
		return fmt.Errorf("extend allowance: units: must be 1 to 1,000,000, got %d", units)
	case reason == "":
		return errors.New("extend allowance: reason: missing; say why the line needs more rejects")
	}
	snap := st.Snapshot()
	if snap.Order == nil {
		return errors.New("extend allowance: no order is running")
	}
	o := snap.Order
	ev := wire.Event{Type: wire.AllowanceExtended, At: time.Now(), Order: o.ID, GTIN: o.GTIN, Allowance: units, Note: reason, Operator: who}
	if _, err := ob.AppendSync(ctx, ev); err != nil {
		return fmt.Errorf("extend allowance: %w", err)
	}
	l, _ := pl.Level(o.ID)
	a.log.Warn("reject allowance extended", "order", o.ID, "by", who, "units", units, "allowance", l.Allowance, "reason", reason)
	return st.OrderChanged(ctx)
}

// statusAlarms are the station's alarms as the status carries them.
func statusAlarms(alarms []station.Alarm) []wire.StatusAlarm {
	var out []wire.StatusAlarm
	for _, al := range alarms {
		out = append(out, wire.StatusAlarm{Code: string(al.Code), Device: al.Device, Detail: statusText(al.Fault),
			Since: al.Since, Active: al.Active, StoppedLine: al.StoppedLine})
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

// statusText keeps a detail within the status payload's rules: printable,
// at most 256 bytes.
func statusText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) > 250 {
		s = strings.ToValidUTF8(s[:250], "") + "…"
	}
	return s
}
