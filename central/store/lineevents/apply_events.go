package lineevents

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// applyOne applies one valid event to the in-memory view. It returns the
// reason when the event is semantically wrong (a dead letter), and an error
// only when the database fails.
func (a *applier) applyOne(ctx context.Context, e wire.Event) (string, error) {
	switch e.Type {
	case wire.Commissioned, wire.Voided:
		return a.firstUse(e), nil
	case wire.Decommissioned:
		if _, known := a.units[unitKey{e.GTIN, e.Serial}]; !known {
			return a.firstUse(e), nil // a line reject: never commissioned
		}
		return a.decommission(e), nil
	case wire.Aggregated:
		return a.aggregate(ctx, e)
	case wire.Disaggregated:
		return a.disaggregate(ctx, e)
	case wire.OrderStarted:
		// Also of a closed order: a line that did not hear of the close
		// started it; recorded, and flagged after-close.
		o, why := a.lineOrder(e.Order, true)
		if why != "" {
			return why, nil
		}
		if !o.started {
			o.started, o.startedAt, o.dirty = true, ptrTime(sqldb.TS(e.At)), true
		}
		return "", nil
	case wire.OrderClosed:
		return a.closeOrder(ctx, e), nil
	case wire.SerialsReturned:
		return a.returnSerials(ctx, e)
	case wire.AllowanceExtended:
		return a.extendAllowance(ctx, e), nil
	}
	return fmt.Sprintf("event type %q is not handled", e.Type), nil
}

func ptrTime(t time.Time) *time.Time { return &t }

// lineOrder returns the order if it is released to this line (or, when
// closedOK, was released to it and is now closed).
func (a *applier) lineOrder(id string, closedOK bool) (*orderRow, string) {
	o := a.orders[id]
	switch {
	case o == nil:
		return nil, fmt.Sprintf("work order %s is unknown", id)
	case o.line != a.line:
		if o.line == "" {
			return nil, fmt.Sprintf("work order %s is not released to any line", id)
		}
		return nil, fmt.Sprintf("work order %s is released to line %s, not %s", id, o.line, a.line)
	case o.state == string(wire.OrderStateReleased):
		return o, ""
	case o.state == string(wire.OrderStateClosed) && closedOK:
		return o, ""
	}
	return nil, fmt.Sprintf("work order %s is %s", id, o.state)
}

// firstUse creates the unit of a serial taken from the line's pool:
// commissioned, voided, or decommissioned as a line reject. The serial must
// have been granted to the event's order on this line, not returned, and
// not used before.
func (a *applier) firstUse(e wire.Event) string {
	ref := wire.UnitRef(e.GTIN, e.Serial)
	if e.Order == "" {
		return fmt.Sprintf("unit %s is unknown to central and the %s event names no order", ref, e.Type)
	}
	if e.Counter == nil {
		return fmt.Sprintf("unit %s is unknown to central and the %s event has no counter to show it was granted", ref, e.Type)
	}
	// Events of a closed order still arrive from the line's outbox.
	o, why := a.lineOrder(e.Order, true)
	if why != "" {
		return why
	}
	if e.GTIN != o.gtin {
		return fmt.Sprintf("GTIN %s is not the GTIN %s of work order %s", e.GTIN, o.gtin, o.id)
	}
	if e.Lot != "" && e.Lot != o.lot {
		return fmt.Sprintf("lot %s is not the lot %s of work order %s", e.Lot, o.lot, o.id)
	}
	if e.Expiry != "" && e.Expiry != o.expiry {
		return fmt.Sprintf("expiry %s is not the expiry %s of work order %s", e.Expiry, o.expiry, o.id)
	}
	c := *e.Counter
	if !inRanges(a.granted[o.id+"\x00"+e.GTIN], c) {
		return fmt.Sprintf("serial %s (counter %d) was never granted to work order %s on line %s", e.Serial, c, o.id, a.line)
	}
	if inRanges(a.returned[e.GTIN], c) {
		return fmt.Sprintf("serial %s (counter %d) was returned unused before", e.Serial, c)
	}
	p := a.products[e.GTIN]
	if p == nil {
		return fmt.Sprintf("product %s is unknown", e.GTIN)
	}
	want, err := a.serialOf(p, e.GTIN, c)
	if err != nil {
		return err.Error()
	}
	if want != e.Serial {
		return fmt.Sprintf("serial %s is not the serial of counter %d (%s)", e.Serial, c, want)
	}
	if u := a.units[unitKey{e.GTIN, e.Serial}]; u != nil {
		return fmt.Sprintf("unit %s is %s already (event %s, line %s): a serial is used once", ref, u.state, u.last, u.line)
	}
	state := orders.StateCommissioned
	switch e.Type {
	case wire.Voided:
		state = orders.StateVoided
	case wire.Decommissioned:
		state = orders.StateDecommissioned
	}
	u := &unitRow{unitKey: unitKey{e.GTIN, e.Serial}, counter: e.Counter, order: o.id, lot: o.lot, expiry: o.expiry,
		state: state, reason: string(e.Reason), line: a.line, last: e.ID, updated: sqldb.TS(e.At), isNew: true}
	a.units[u.unitKey] = u
	a.countUnit(o.id, "", state)
	a.addHistory(e, u.gtin, u.serial, historyDetails{Order: o.id, Lot: o.lot, Expiry: o.expiry, Counter: e.Counter, Reason: e.Reason, Operator: e.Operator})
	return ""
}

func (a *applier) serialOf(p *productRow, gtin string, c uint64) (string, error) {
	if p.spec.Kind == serials.KindList {
		s, ok := a.listSerial[gtin][c]
		if !ok {
			return "", fmt.Errorf("counter %d is beyond the imported serial list of %s", c, gtin)
		}
		return s, nil
	}
	var err error
	a.buf, err = p.scheme.Serial(a.buf[:0], c)
	if err != nil {
		return "", fmt.Errorf("counter %d: %v", c, err)
	}
	return string(a.buf), nil
}

func inRanges(rs []counterRange, c uint64) bool {
	for _, r := range rs {
		if c >= r.start && c < r.end {
			return true
		}
	}
	return false
}

// decommission takes a commissioned unit out of use (and out of its
// container).
func (a *applier) decommission(e wire.Event) string {
	u := a.units[unitKey{e.GTIN, e.Serial}]
	ref := wire.UnitRef(e.GTIN, e.Serial)
	if u.state != orders.StateCommissioned {
		return fmt.Sprintf("unit %s is %s; only a commissioned unit can be decommissioned", ref, u.state)
	}
	if e.Order != "" && e.Order != u.order {
		return fmt.Sprintf("unit %s belongs to work order %s, not %s", ref, u.order, e.Order)
	}
	a.countUnit(u.order, u.state, orders.StateDecommissioned)
	u.state, u.reason, u.parent, u.last, u.updated, u.dirty = orders.StateDecommissioned, string(e.Reason), "", e.ID, sqldb.TS(e.At), true
	a.addHistory(e, u.gtin, u.serial, historyDetails{Reason: e.Reason, Operator: e.Operator})
	return ""
}

func (a *applier) aggregate(ctx context.Context, e wire.Event) (string, error) {
	parent := a.containers[e.Parent]
	if parent != nil && parent.parent != "" {
		// Packing into a container that is itself packed is fine, but it
		// must not end up inside one of its own children.
		if why, err := a.noCycle(ctx, e); why != "" || err != nil {
			return why, err
		}
	}
	type change struct {
		unit *unitRow
		cont *containerRow
	}
	changes := make([]change, 0, len(e.Children))
	for _, c := range e.Children {
		ch, _ := wire.ParseChild(c)
		if ch.SSCC != "" {
			cc := a.containers[ch.SSCC]
			if cc == nil {
				return fmt.Sprintf("child container %s is unknown", ch.SSCC), nil
			}
			if cc.parent != "" && cc.parent != e.Parent {
				return fmt.Sprintf("child container %s is inside %s already", ch.SSCC, cc.parent), nil
			}
			changes = append(changes, change{cont: cc})
			continue
		}
		u := a.units[unitKey{ch.GTIN, ch.Serial}]
		switch {
		case u == nil:
			return fmt.Sprintf("child unit %s is unknown", c), nil
		case u.state != orders.StateCommissioned:
			return fmt.Sprintf("child unit %s is %s; only commissioned units are packed", c, u.state), nil
		case u.parent != "" && u.parent != e.Parent:
			return fmt.Sprintf("child unit %s is inside %s already", c, u.parent), nil
		}
		changes = append(changes, change{unit: u})
	}
	at := sqldb.TS(e.At)
	if parent == nil {
		parent = &containerRow{sscc: e.Parent, line: a.line, order: e.Order, created: at, updated: at, isNew: true}
		a.containers[e.Parent] = parent
	}
	for _, ch := range changes {
		if ch.unit != nil {
			ch.unit.parent, ch.unit.last, ch.unit.updated, ch.unit.dirty = e.Parent, e.ID, at, true
			a.addHistory(e, ch.unit.gtin, ch.unit.serial, historyDetails{Parent: e.Parent, Operator: e.Operator})
		} else {
			ch.cont.parent, ch.cont.updated, ch.cont.dirty = e.Parent, at, true
			a.addHistory(e, "", ch.cont.sscc, historyDetails{Parent: e.Parent, Operator: e.Operator})
		}
	}
	parent.updated, parent.dirty = at, true
	a.addHistory(e, "", e.Parent, historyDetails{Children: e.Children, Order: e.Order, Operator: e.Operator})
	return "", nil
}

// noCycle refuses an aggregation whose parent lies, at any depth, inside
// one of the children.
func (a *applier) noCycle(ctx context.Context, e wire.Event) (string, error) {
	children := set[string]{}
	for _, c := range e.Children {
		if ch, _ := wire.ParseChild(c); ch.SSCC != "" {
			children.add(ch.SSCC)
		}
	}
	cur := a.containers[e.Parent]
	for depth := 0; cur != nil && cur.parent != "" && depth < 64; depth++ {
		if _, bad := children[cur.parent]; bad {
			return fmt.Sprintf("container %s is inside %s, which cannot go into it", e.Parent, cur.parent), nil
		}
		up := a.containers[cur.parent]
		if up == nil {
			if err := a.queryContainers(ctx, "WHERE sscc = $1", cur.parent); err != nil {
				return "", err
			}
			up = a.containers[cur.parent]
		}
		cur = up
	}
	return "", nil
}

func (a *applier) disaggregate(ctx context.Context, e wire.Event) (string, error) {
	parent := a.containers[e.Parent]
	if parent == nil {
		return fmt.Sprintf("container %s is unknown", e.Parent), nil
	}
	at := sqldb.TS(e.At)
	children := e.Children
	if len(children) == 0 {
		// Empty it: every unit and container now inside it.
		if err := a.loadChildren(ctx, e.Parent); err != nil {
			return "", err
		}
		for _, u := range a.units {
			if u.parent == e.Parent {
				children = append(children, wire.UnitRef(u.gtin, u.serial))
			}
		}
		for _, c := range a.containers {
			if c.parent == e.Parent {
				children = append(children, wire.SSCCRef(c.sscc))
			}
		}
		slices.Sort(children)
	}
	for _, c := range children {
		ch, _ := wire.ParseChild(c)
		if ch.SSCC != "" {
			if cc := a.containers[ch.SSCC]; cc == nil || cc.parent != e.Parent {
				return fmt.Sprintf("child container %s is not inside %s", ch.SSCC, e.Parent), nil
			}
			continue
		}
		if u := a.units[unitKey{ch.GTIN, ch.Serial}]; u == nil || u.parent != e.Parent {
			return fmt.Sprintf("child unit %s is not inside %s", c, e.Parent), nil
		}
	}
	for _, c := range children {
		ch, _ := wire.ParseChild(c)
		if ch.SSCC != "" {
			cc := a.containers[ch.SSCC]
			cc.parent, cc.updated, cc.dirty = "", at, true
			a.addHistory(e, "", cc.sscc, historyDetails{Parent: e.Parent, Operator: e.Operator})
			continue
		}
		u := a.units[unitKey{ch.GTIN, ch.Serial}]
		u.parent, u.last, u.updated, u.dirty = "", e.ID, at, true
		a.addHistory(e, u.gtin, u.serial, historyDetails{Parent: e.Parent, Operator: e.Operator})
	}
	parent.updated, parent.dirty = at, true
	a.addHistory(e, "", e.Parent, historyDetails{Children: children, Operator: e.Operator})
	return "", nil
}

// loadChildren adds to the view the units and containers the database has
// inside parent.
func (a *applier) loadChildren(ctx context.Context, parent string) error {
	r, err := a.tx.Query(ctx, "SELECT "+unitCols+" FROM units WHERE parent = $1", parent)
	if err != nil {
		return fmt.Errorf("container %s: units: %w", parent, err)
	}
	for r.Next() {
		u, err := scanUnit(r)
		if err != nil {
			r.Close()
			return err
		}
		if _, have := a.units[u.unitKey]; !have {
			a.units[u.unitKey] = u
		}
	}
	r.Close()
	if err := r.Err(); err != nil {
		return err
	}
	return a.queryContainers(ctx, "WHERE parent = $1", parent)
}

func (a *applier) closeOrder(ctx context.Context, e wire.Event) string {
	o, why := a.lineOrder(e.Order, true)
	if why != "" {
		return why
	}
	before := o.before
	at := sqldb.TS(e.At)
	o.counts, o.dirty = e.Counts, true
	// An order closed already (by central, or by an earlier event) keeps
	// its close: the line's counts are its reconciliation, not a second
	// close (the audit trail has one close per order).
	action := "reconcile"
	if o.state != string(wire.OrderStateClosed) {
		o.state, o.closedAt, action = string(wire.OrderStateClosed), &at, "close"
	}
	after := before
	after.State, after.ClosedAt, after.ReportedCounts = wire.OrderState(o.state), o.closedAt, o.counts
	o.before = after
	a.changed.add(o.id)
	actor := lineActor(a.line, e.Operator)
	a.audits = append(a.audits, func() error {
		return audit.Record(sqldb.WithActor(ctx, actor), a.tx, action, "work_order", o.id, before, after)
	})
	return ""
}

// lineActor names a line (and its operator) in the audit trail.
func lineActor(line, operator string) string {
	if operator == "" {
		return "line:" + line
	}
	return "line:" + line + " operator:" + operator
}

// returnSerials records counter ranges handed back unused. Each must lie
// in the order's grants to this line and hold no serial that was used or
// returned before.
func (a *applier) returnSerials(ctx context.Context, e wire.Event) (string, error) {
	o, why := a.lineOrder(e.Order, true)
	if why != "" {
		return why, nil
	}
	if e.GTIN != o.gtin {
		return fmt.Sprintf("GTIN %s is not the GTIN %s of work order %s", e.GTIN, o.gtin, o.id), nil
	}
	granted := a.granted[o.id+"\x00"+e.GTIN]
	for i, r := range e.Ranges {
		cr := counterRange{r.Start, r.End()}
		if !covered(granted, cr) {
			return fmt.Sprintf("ranges[%d] [%d, %d) was not granted to work order %s on line %s", i, cr.start, cr.end, o.id, a.line), nil
		}
		for _, p := range a.returned[e.GTIN] {
			if cr.start < p.end && p.start < cr.end {
				return fmt.Sprintf("ranges[%d] [%d, %d) overlaps [%d, %d), returned before", i, cr.start, cr.end, p.start, p.end), nil
			}
		}
		for _, u := range a.units {
			if u.gtin == e.GTIN && u.counter != nil && *u.counter >= cr.start && *u.counter < cr.end {
				return fmt.Sprintf("ranges[%d] [%d, %d) holds counter %d, used by unit %s", i, cr.start, cr.end, *u.counter, wire.UnitRef(u.gtin, u.serial)), nil
			}
		}
		used, serial, err := a.usedIn(ctx, e.GTIN, cr)
		if err != nil {
			return "", err
		}
		if serial != "" {
			return fmt.Sprintf("ranges[%d] [%d, %d) holds counter %d, used by unit %s", i, cr.start, cr.end, used, wire.UnitRef(e.GTIN, serial)), nil
		}
	}
	for _, r := range e.Ranges {
		cr := counterRange{r.Start, r.End()}
		a.returned[e.GTIN] = append(a.returned[e.GTIN], cr)
		a.newReturns = append(a.newReturns, []any{e.GTIN, cr.start, cr.end, o.id, a.line, e.ID})
	}
	return "", nil
}

// usedIn returns a counter of gtin in r that a unit uses, and its serial
// ("" when none does).
func (a *applier) usedIn(ctx context.Context, gtin string, r counterRange) (uint64, string, error) {
	rs, err := a.tx.QueryFresh(ctx, "SELECT counter, serial FROM units WHERE gtin = $1 AND counter >= $2 AND counter < $3 LIMIT 1", gtin, r.start, r.end)
	if err != nil {
		return 0, "", fmt.Errorf("line %s: returned serials: %w", a.line, err)
	}
	defer rs.Close()
	var used uint64
	var serial string
	if rs.Next() {
		if err := rs.Scan(&used, &serial); err != nil {
			return 0, "", err
		}
	}
	return used, serial, rs.Err()
}

// covered reports whether rs (disjoint) together cover r.
func covered(rs []counterRange, r counterRange) bool {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(x, y counterRange) int {
		if x.start < y.start {
			return -1
		}
		if x.start > y.start {
			return 1
		}
		return 0
	})
	at := r.start
	for _, g := range sorted {
		if g.start > at {
			break
		}
		if g.end > at {
			at = g.end
		}
		if at >= r.end {
			return true
		}
	}
	return at >= r.end
}
