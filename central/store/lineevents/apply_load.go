package lineevents

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

type takenID struct {
	line, inc, digest string
	seq               uint64
}

func (a *applier) takenIDs(ctx context.Context, ids []string) (map[string]takenID, error) {
	out := map[string]takenID{}
	q := "SELECT event_id, line_id, incarnation, seq, digest FROM applied_events WHERE event_id " + a.d.InList(1, "text")
	if a.d == sqldb.Postgres {
		// One index probe per id, whatever the planner's statistics say:
		// LIMIT keeps the lateral subquery from being flattened into a
		// hash join over the whole table.
		q = `SELECT k.id, a.line_id, a.incarnation, a.seq, a.digest FROM unnest($1::text[]) AS k(id)
			JOIN LATERAL (SELECT line_id, incarnation, seq, digest FROM applied_events WHERE event_id = k.id LIMIT 1) a ON true`
	}
	r, err := a.tx.QueryFresh(ctx, q, a.d.ListArg(ids))
	if err != nil {
		return nil, fmt.Errorf("line %s: applied events: %w", a.line, err)
	}
	defer r.Close()
	for r.Next() {
		var id string
		var t takenID
		if err := r.Scan(&id, &t.line, &t.inc, &t.seq, &t.digest); err != nil {
			return nil, err
		}
		out[id] = t
	}
	return out, r.Err()
}

// loadPending returns the held events of the line, without their payload
// (a long backlog behind a gap is not read again with every batch).
func (a *applier) loadPending(ctx context.Context) (map[uint64]*item, error) {
	r, err := a.tx.Query(ctx, "SELECT seq, event_id, digest, reason FROM pending_events WHERE line_id = $1 AND incarnation = $2", a.line, a.inc)
	if err != nil {
		return nil, fmt.Errorf("%s: pending events: %w", where(a.line, a.inc), err)
	}
	defer r.Close()
	out := map[uint64]*item{}
	for r.Next() {
		it := &item{fromPending: true}
		if err := r.Scan(&it.ev.Seq, &it.ev.ID, &it.digest, &it.bad); err != nil {
			return nil, err
		}
		out[it.ev.Seq] = it
	}
	return out, r.Err()
}

// loadPayloads reads and decodes the held events that are now in the run
// (they are contiguous, so one range query does).
func (a *applier) loadPayloads(ctx context.Context, run []*item) error {
	var lo, hi uint64
	held := map[uint64]*item{}
	for _, it := range run {
		if it.fromPending {
			if len(held) == 0 {
				lo = it.ev.Seq
			}
			hi = it.ev.Seq
			held[it.ev.Seq] = it
		}
	}
	if len(held) == 0 {
		return nil
	}
	r, err := a.tx.Query(ctx, "SELECT seq, payload FROM pending_events WHERE line_id = $1 AND incarnation = $2 AND seq >= $3 AND seq <= $4", a.line, a.inc, lo, hi)
	if err != nil {
		return fmt.Errorf("%s: pending events: %w", where(a.line, a.inc), err)
	}
	defer r.Close()
	for r.Next() {
		var seq uint64
		var payload string
		if err := r.Scan(&seq, &payload); err != nil {
			return err
		}
		it := held[seq]
		if it == nil {
			continue
		}
		id := it.ev.ID
		it.raw = []byte(payload)
		if it.bad != "" {
			var h heldInvalid
			if err := json.Unmarshal(it.raw, &h); err == nil && h.Raw != nil {
				it.raw, it.noRecord = h.Raw, h.NoRecord
			}
			continue
		}
		// Held with no reason: it passed its check when it arrived.
		if err := json.Unmarshal(it.raw, &it.ev); err != nil {
			it.bad = "held event does not decode: " + err.Error()
		}
		it.ev.ID, it.ev.Seq = id, seq
	}
	return r.Err()
}

// deadNow dead-letters an event that takes no part in the sequence.
func (a *applier) deadNow(it *item, reason string) { a.dead(it, reason, false) }

// dead records a dead letter; sequenced events also get an applied_events
// row (unless their id is another's), so a resend is a duplicate.
func (a *applier) dead(it *item, reason string, sequenced bool) {
	d := DeadLetter{ReceivedAt: a.now, Topic: a.topic, Line: a.line, Incarnation: a.inc, EventID: it.ev.ID, Seq: it.ev.Seq, Payload: it.payload(), Reason: reason}
	d.bound()
	a.deadLetter = append(a.deadLetter, d.row())
	a.res.DeadLettered++
	a.res.Rejected = append(a.res.Rejected, Rejection{EventID: it.ev.ID, Seq: it.ev.Seq, Reason: reason})
	if sequenced && !it.noRecord {
		a.applied = append(a.applied, a.appliedRow(it, "dead-letter"))
	}
}

// heldInvalid is the pending payload of an invalid event: the event as it
// came (JSON bytes, base64 in the JSON column) and whether its id is
// another event's.
type heldInvalid struct {
	Raw      []byte `json:"raw"`
	NoRecord bool   `json:"no_record,omitempty"`
}

// appliedRow is the applied_events row of an event.
func (a *applier) appliedRow(it *item, outcome string) []any {
	return []any{it.ev.ID, a.line, a.inc, it.ev.Seq, it.digest, outcome, a.now}
}

// ReasonConflict starts the reason of a dead letter whose event clashes
// with what central has taken: an event id replayed with other content or
// under another seq or incarnation, a seq done or held for another event.
const ReasonConflict = "conflict"

// process applies the contiguous run in seq order.
func (a *applier) process(ctx context.Context, run []*item) error {
	if len(run) == 0 {
		return nil
	}
	if err := a.preload(ctx, run); err != nil {
		return err
	}
	for _, it := range run {
		if it.bad != "" {
			a.dead(it, it.bad, true)
			continue
		}
		if reason, err := a.applyOne(ctx, it.ev); err != nil {
			return err
		} else if reason != "" {
			a.dead(it, reason, true)
			continue
		}
		a.applied = append(a.applied, a.appliedRow(it, "applied"))
		a.res.Applied++
		a.flagAfterClose(it.ev)
		if it.ev.Type == wire.Voided && it.ev.Note != "" {
			a.flag(it.ev, FlagVoidedUnclean, it.ev.Note)
		}
		if a.skew > 0 && it.ev.At.After(a.now.Add(a.skew)) {
			a.flag(it.ev, FlagFutureTime, fmt.Sprintf("stamped %s, %s ahead of central's clock (%s); more than the allowed %s",
				it.ev.At.UTC().Format(time.RFC3339), it.ev.At.Sub(a.now).Round(time.Second), a.now.Format(time.RFC3339), a.skew))
		}
	}
	return nil
}

// preload reads, in a handful of set queries, everything the run's events
// refer to.
func (a *applier) preload(ctx context.Context, run []*item) error {
	orderIDs, gtins := set[string]{}, set[string]{}
	var unitKeys []unitKey
	ssccs := set[string]{}
	counters := map[string][]int64{}
	for _, it := range run {
		if it.bad != "" {
			continue
		}
		e := it.ev
		if e.Order != "" {
			orderIDs.add(e.Order)
		}
		if e.GTIN != "" {
			gtins.add(e.GTIN)
		}
		if e.GTIN != "" && e.Serial != "" {
			// The fast path reads only the units of decommissionings: one
			// of a known unit is not a first use.
			if !a.fast || e.Type == wire.Decommissioned {
				unitKeys = append(unitKeys, unitKey{e.GTIN, e.Serial})
			}
			if e.Counter != nil {
				counters[e.GTIN] = append(counters[e.GTIN], int64(*e.Counter))
			}
		}
		if e.Parent != "" {
			ssccs.add(e.Parent)
		}
		for _, c := range e.Children {
			ch, err := wire.ParseChild(c)
			if err != nil {
				continue // Validate passed, so this cannot happen
			}
			if ch.SSCC != "" {
				ssccs.add(ch.SSCC)
			} else {
				unitKeys = append(unitKeys, unitKey{ch.GTIN, ch.Serial})
			}
		}
	}
	if err := a.loadOrders(ctx, orderIDs.list()); err != nil {
		return err
	}
	for _, o := range a.orders {
		gtins.add(o.gtin)
	}
	if err := a.loadProducts(ctx, gtins.list()); err != nil {
		return err
	}
	if err := a.loadRanges(ctx, orderIDs.list()); err != nil {
		return err
	}
	if err := a.loadUnits(ctx, unitKeys); err != nil {
		return err
	}
	if err := a.loadContainers(ctx, ssccs.list()); err != nil {
		return err
	}
	a.listSerial = map[string]map[uint64]string{}
	for gtin, cs := range counters {
		if p := a.products[gtin]; p != nil && p.spec.Kind == serials.KindList {
			if err := a.loadList(ctx, gtin, cs); err != nil {
				return err
			}
		}
	}
	return nil
}

type set[T comparable] map[T]struct{}

func (s set[T]) add(v T) { s[v] = struct{}{} }
func (s set[T]) list() []T {
	out := make([]T, 0, len(s))
	for v := range s {
		out = append(out, v)
	}
	return out
}

func (a *applier) loadOrders(ctx context.Context, ids []string) error {
	a.orders = map[string]*orderRow{}
	if len(ids) == 0 {
		return nil
	}
	r, err := a.tx.QueryFresh(ctx, "SELECT "+orders.OrderCols+" FROM work_orders WHERE id "+a.d.InList(1, "text"), a.d.ListArg(ids))
	if err != nil {
		return fmt.Errorf("line %s: work orders: %w", a.line, err)
	}
	defer r.Close()
	for r.Next() {
		o, err := orders.ScanOrder(r)
		if err != nil {
			return err
		}
		a.orders[o.ID] = &orderRow{id: o.ID, gtin: o.GTIN, lot: o.Lot, expiry: o.Expiry, line: o.Line, state: string(o.State), allowance: o.RejectAllowance,
			started: o.StartedAt != nil, startedAt: o.StartedAt, closedAt: o.ClosedAt, counts: o.ReportedCounts, before: o}
	}
	return r.Err()
}

func (a *applier) loadProducts(ctx context.Context, gtins []string) error {
	a.products = map[string]*productRow{}
	if len(gtins) == 0 {
		return nil
	}
	r, err := a.tx.QueryFresh(ctx, "SELECT gtin, serial_scheme FROM products WHERE gtin "+a.d.InList(1, "text"), a.d.ListArg(gtins))
	if err != nil {
		return fmt.Errorf("line %s: products: %w", a.line, err)
	}
	defer r.Close()
	for r.Next() {
		var gtin, spec string
		if err := r.Scan(&gtin, &spec); err != nil {
			return err
		}
		p := &productRow{}
		var err error
		if p.spec, err = master.OpenScheme(a.tx, gtin, spec); err != nil {
			return err
		}
		if p.spec.Kind != serials.KindList {
			if p.scheme, err = serials.New(p.spec); err != nil {
				return fmt.Errorf("product %s: serial_scheme: %w", gtin, err)
			}
		}
		a.products[gtin] = p
	}
	return r.Err()
}

func (a *applier) loadRanges(ctx context.Context, orderIDs []string) error {
	a.granted, a.returned = map[string][]counterRange{}, map[string][]counterRange{}
	if len(orderIDs) == 0 {
		return nil
	}
	r, err := a.tx.QueryFresh(ctx, "SELECT order_id, gtin, start_counter, end_counter FROM grant_ranges WHERE line_id = $1 AND order_id "+a.d.InList(2, "text"),
		a.line, a.d.ListArg(orderIDs))
	if err != nil {
		return fmt.Errorf("line %s: grant ranges: %w", a.line, err)
	}
	for r.Next() {
		var order, gtin string
		var cr counterRange
		if err := r.Scan(&order, &gtin, &cr.start, &cr.end); err != nil {
			r.Close()
			return err
		}
		a.granted[order+"\x00"+gtin] = append(a.granted[order+"\x00"+gtin], cr)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return err
	}
	r, err = a.tx.QueryFresh(ctx, "SELECT gtin, start_counter, end_counter FROM returned_ranges WHERE order_id "+a.d.InList(1, "text"), a.d.ListArg(orderIDs))
	if err != nil {
		return fmt.Errorf("line %s: returned ranges: %w", a.line, err)
	}
	defer r.Close()
	for r.Next() {
		var gtin string
		var cr counterRange
		if err := r.Scan(&gtin, &cr.start, &cr.end); err != nil {
			return err
		}
		a.returned[gtin] = append(a.returned[gtin], cr)
	}
	return r.Err()
}

const unitCols = "gtin, serial, counter, order_id, lot, expiry, state, reason, line_id, parent, last_event, updated_at"

func scanUnit(r interface{ Scan(...any) error }) (*unitRow, error) {
	u := &unitRow{}
	var counter *int64
	if err := r.Scan(&u.gtin, &u.serial, &counter, &u.order, &u.lot, &u.expiry, &u.state, &u.reason, &u.line, &u.parent, &u.last, &u.updated); err != nil {
		return nil, err
	}
	if counter != nil {
		c := uint64(*counter)
		u.counter = &c
	}
	u.updated = u.updated.UTC()
	return u, nil
}

func (a *applier) loadUnits(ctx context.Context, keys []unitKey) error {
	a.units = make(map[unitKey]*unitRow, len(keys))
	if len(keys) == 0 {
		return nil
	}
	var r sqldb.Rows
	var err error
	if a.d == sqldb.Postgres {
		gtins, serials := make([]string, len(keys)), make([]string, len(keys))
		for i, k := range keys {
			gtins[i], serials[i] = k.gtin, k.serial
		}
		// One index probe per key (see takenIDs), and locked: a unit may
		// also be changed by another line's batch.
		r, err = a.tx.QueryFresh(ctx, `SELECT u.`+strings.ReplaceAll(unitCols, ", ", ", u.")+` FROM unnest($1::text[], $2::text[]) AS k(gtin, serial)
			JOIN LATERAL (SELECT * FROM units WHERE gtin = k.gtin AND serial = k.serial LIMIT 1 FOR UPDATE) u ON true`, gtins, serials)
	} else {
		pairs := make([][2]string, len(keys))
		for i, k := range keys {
			pairs[i] = [2]string{k.gtin, k.serial}
		}
		b, _ := json.Marshal(pairs)
		r, err = a.tx.QueryFresh(ctx, "SELECT "+unitCols+" FROM units WHERE (gtin, serial) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each($1))", string(b))
	}
	if err != nil {
		return fmt.Errorf("line %s: units: %w", a.line, err)
	}
	defer r.Close()
	for r.Next() {
		u, err := scanUnit(r)
		if err != nil {
			return err
		}
		a.units[u.unitKey] = u
	}
	return r.Err()
}

func (a *applier) loadContainers(ctx context.Context, ssccs []string) error {
	a.containers = map[string]*containerRow{}
	if len(ssccs) == 0 {
		return nil
	}
	return a.queryContainers(ctx, "WHERE sscc "+a.d.InList(1, "text"), a.d.ListArg(ssccs))
}

func (a *applier) queryContainers(ctx context.Context, where string, args ...any) error {
	r, err := a.tx.QueryFresh(ctx, "SELECT sscc, parent, line_id, order_id, created_at, updated_at FROM containers "+where+a.d.ForUpdate(), args...)
	if err != nil {
		return fmt.Errorf("line %s: containers: %w", a.line, err)
	}
	defer r.Close()
	for r.Next() {
		c := &containerRow{}
		if err := r.Scan(&c.sscc, &c.parent, &c.line, &c.order, &c.created, &c.updated); err != nil {
			return err
		}
		if _, have := a.containers[c.sscc]; !have {
			a.containers[c.sscc] = c
		}
	}
	return r.Err()
}

func (a *applier) loadList(ctx context.Context, gtin string, positions []int64) error {
	r, err := a.tx.QueryFresh(ctx, "SELECT position, serial FROM serial_lists WHERE gtin = $1 AND position "+a.d.InList(2, "bigint"), gtin, a.d.ListArg(positions))
	if err != nil {
		return fmt.Errorf("line %s: serial list of %s: %w", a.line, gtin, err)
	}
	defer r.Close()
	m := map[uint64]string{}
	for r.Next() {
		var pos uint64
		var s string
		if err := r.Scan(&pos, &s); err != nil {
			return err
		}
		m[pos] = s
	}
	a.listSerial[gtin] = m
	return r.Err()
}
