package lineevents

import (
	"context"
	"fmt"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/wire"
)

// The applier's part of order governance (issue 11): the order's unit
// counts kept with its units, the reject allowance extended from the line,
// and events made after the order was closed flagged for QA.

// unitDelta is how a batch changes an order's unit counts.
type unitDelta struct{ commissioned, decommissioned, voided int64 }

// countUnit records that a unit of order went from state from ("" for a
// new unit) to state to.
func (a *applier) countUnit(order, from, to string) {
	d := a.unitCounts[order]
	if d == nil {
		d = &unitDelta{}
		a.unitCounts[order] = d
	}
	for _, st := range [2]struct {
		state string
		by    int64
	}{{from, -1}, {to, 1}} {
		switch st.state {
		case orders.StateCommissioned, supply.StateShipped, supply.StateReturned:
			d.commissioned += st.by
		case orders.StateDecommissioned:
			d.decommissioned += st.by
		case orders.StateVoided:
			d.voided += st.by
		}
	}
}

// flushOrderCounts adds the batch's changes to the orders' counts and
// extended allowances. Increments, not values: a planner's concurrent
// change of the order is kept.
func (a *applier) flushOrderCounts(ctx context.Context) error {
	var counts, extended [][]any
	for order, d := range a.unitCounts {
		if *d != (unitDelta{}) {
			counts = append(counts, []any{order, d.commissioned, d.decommissioned, d.voided})
		}
	}
	for _, o := range a.orders {
		if o.extendedBy > 0 {
			extended = append(extended, []any{o.id, o.extendedBy, a.now})
		}
	}
	if err := a.tx.ExecMany(ctx, `UPDATE work_orders SET units_commissioned = units_commissioned + $2,
		units_decommissioned = units_decommissioned + $3, units_voided = units_voided + $4 WHERE id = $1`, counts); err != nil {
		return err
	}
	return a.tx.ExecMany(ctx, "UPDATE work_orders SET allowance_extended = allowance_extended + $2, updated_at = $3 WHERE id = $1", extended)
}

// allowanceChange is what the audit trail keeps of an allowance extended
// at the line.
type allowanceChange struct {
	RejectAllowance   uint64 `json:"reject_allowance"`
	AllowanceExtended uint64 `json:"reject_allowance_extended"`
	ExtendedBy        uint64 `json:"extended_by,omitempty"`
	Reason            string `json:"reason,omitempty"`
	Line              string `json:"line,omitempty"`
	Supervisor        string `json:"supervisor,omitempty"`
	Event             string `json:"event,omitempty"`
}

// extendAllowance adds e.Allowance units to the order's reject allowance: a
// supervisor at the line extended it, for the reason in e.Note. Audited
// under the line and the supervisor.
func (a *applier) extendAllowance(ctx context.Context, e wire.Event) string {
	o, why := a.lineOrder(e.Order, true)
	if why != "" {
		return why
	}
	if o.allowance+e.Allowance > master.MaxAllowance {
		return fmt.Sprintf("extending the reject allowance %d of work order %s by %d exceeds %d units", o.allowance, o.id, e.Allowance, uint64(master.MaxAllowance))
	}
	before := allowanceChange{RejectAllowance: o.before.RejectAllowance, AllowanceExtended: o.before.AllowanceExtended}
	o.allowance += e.Allowance
	o.extendedBy += e.Allowance
	o.before.RejectAllowance += e.Allowance
	o.before.AllowanceExtended += e.Allowance
	after := allowanceChange{RejectAllowance: o.before.RejectAllowance, AllowanceExtended: o.before.AllowanceExtended,
		ExtendedBy: e.Allowance, Reason: e.Note, Line: a.line, Supervisor: e.Operator, Event: e.ID}
	a.changed.add(o.id)
	actor := lineActor(a.line, e.Operator)
	a.audits = append(a.audits, func() error {
		return audit.Record(sqldb.WithActor(ctx, actor), a.tx, "extend-allowance", "work_order", o.id, before, after)
	})
	return ""
}

// flagAfterClose flags an applied event of a closed order that was made
// after the close (central's, or the line's own earlier in the sequence):
// recorded like any other, shown to QA for disposition. The events a line
// makes to close an order (voiding what it held, returning unused serials,
// order-closed with its counts) are what a close asks for and are not
// flagged; everything that makes, rejects or packs product, starts the
// order or extends its allowance is.
func (a *applier) flagAfterClose(e wire.Event) {
	switch e.Type {
	case wire.Voided, wire.SerialsReturned, wire.OrderClosed:
		return
	}
	o := a.orders[e.Order]
	if e.Order == "" || o == nil || o.closedAt == nil {
		return
	}
	at := sqldb.TS(e.At)
	if !at.After(*o.closedAt) {
		return
	}
	a.flag(e, FlagAfterClose, fmt.Sprintf("%s %s after work order %s was closed (made %s, closed %s)",
		e.Type, at.Sub(*o.closedAt).Round(time.Millisecond), o.id, at.Format(time.RFC3339), o.closedAt.Format(time.RFC3339)))
}
