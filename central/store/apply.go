package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// Unit states: what became of a serial that was used.
const (
	StateCommissioned   = "commissioned"
	StateDecommissioned = "decommissioned"
	StateVoided         = "voided"
)

// ApplyResult says what ApplyEvents did with a batch.
type ApplyResult struct {
	Line string
	// Incarnation is the incarnation of the line's event store whose
	// sequence Acked counts ("" for a line that names none).
	Incarnation string
	// Replaced is set while the incarnation is one that took over from
	// another of the same line and QA has not resolved that yet
	// (ResolveIncarnation): the ack tells the line, which raises its alarm.
	Replaced *Replacement
	// Acked is the line's highest contiguous seq now committed (applied or
	// dead-lettered): publish it as the Ack.
	Acked        uint64
	Applied      int // events applied (from this batch or released from pending)
	DeadLettered int // events kept as dead letters, with their reason
	Duplicates   int // events already applied, already held, or repeated in the batch
	Held         int // events of this batch stored as pending, beyond a gap
	// Gaps are the seqs still missing below the highest pending event.
	Gaps []SeqGap
	// Rejected lists the dead-lettered events with their reason.
	Rejected []Rejection
	// OrdersChanged lists the orders whose retained orders payload changed
	// (an allowance extended, the line's order-closed): republish the
	// line's orders after the commit.
	OrdersChanged []string
}

// SeqGap is a run of missing seqs, From to To inclusive.
type SeqGap struct{ From, To uint64 }

// Rejection is an event that went to the dead letters.
type Rejection struct {
	EventID string
	Seq     uint64
	Reason  string
}

// ApplyEvents applies a batch of line's events in ONE transaction, so that
// nothing is half-written:
//
//   - an event id already taken is skipped (apply once; a resent batch
//     changes nothing);
//   - events are applied in seq order and only contiguously: an event
//     beyond a gap is held (pending) until the gap fills, then applied with
//     the batch that fills it, so central's state follows the line's order;
//   - an event that is invalid (wire rules) or semantically wrong (unknown
//     order, serial never granted to that order and line, serial used
//     twice, ...) goes to the dead letters with its reason, and its seq
//     still counts as done: it never blocks the events behind it.
//
// Acked in the result is the highest contiguous seq committed, which
// central acks to the line. The line must exist (ErrNotFound). Concurrent
// calls for one line, also from several replicas, are serialised on the
// line's seq row.
func (s *Store) ApplyEvents(ctx context.Context, line string, events []wire.Event) (ApplyResult, error) {
	return s.ApplyEventsOf(ctx, line, "", wire.CheckEvents(events))
}

// ApplyEventsOf is ApplyEvents for the events of one incarnation of the
// line's event store (wire.EventBatch.Incarnation; "" for a line that names
// none). Each incarnation has its own sequence from 1. The first batch of
// an incarnation central has not seen starts it; when the line's current
// incarnation has events, the new one replaces it: recorded, audited, and
// reported in the result (Replaced) until QA resolves it. An event id is
// applied once across all lines and incarnations: a replay with other
// content, or under another incarnation, is a dead letter ("conflict").
// The events come checked (wire.DecodeCheckedBatch): an invalid one is
// dead-lettered with its check's reason, nothing is validated again.
func (s *Store) ApplyEventsOf(ctx context.Context, line, incarnation string, events []wire.CheckedEvent) (ApplyResult, error) {
	if err := checkIncarnation(line, incarnation); err != nil {
		return ApplyResult{Line: line, Incarnation: incarnation}, err
	}
	res, err := s.apply(ctx, line, incarnation, true, events, 0, "")
	if err == nil {
		s.refreshStats(ctx, len(events))
	}
	return res, err
}

// refreshStats runs ANALYZE on PostgreSQL when the units applied since Open
// pass 1,000, 10,000, 100,000 and 1,000,000. A new database has no
// statistics, and until autovacuum's first analyze (a minute or more) the
// planner may probe units through the (gtin, counter) index and scan a whole
// GTIN per event; a few early ANALYZEs keep a filling database on the
// primary key. Later growth is left to autovacuum.
func (s *Store) refreshStats(ctx context.Context, n int) {
	if s.d != dialectPostgres || n == 0 {
		return
	}
	s.nextAnalyze.CompareAndSwap(0, 1000)
	total, next := s.applied.Add(int64(n)), s.nextAnalyze.Load()
	if next > 1_000_000 || total < next || !s.nextAnalyze.CompareAndSwap(next, next*10) {
		return
	}
	conn, err := s.pg.acquire(ctx)
	if err != nil {
		return
	}
	defer s.pg.release(conn)
	if _, err := conn.Exec(ctx, "ANALYZE units, unit_history, applied_events"); err != nil {
		s.log.Warn("analyze after apply", "units_applied", total, "err", err)
		return
	}
	s.log.Debug("statistics refreshed", "units_applied", total)
}

// SkipGap declares the missing seqs of line's current incarnation up to
// and including through as lost (an operator's decision when an edge lost
// events for good, e.g. a replaced line PC): each becomes a dead letter
// with reason, and the held events behind the gap are applied. Audited.
func (s *Store) SkipGap(ctx context.Context, line string, through uint64, reason string) (ApplyResult, error) {
	if err := checkText("line "+line, "reason", reason, true); err != nil {
		return ApplyResult{Line: line}, err
	}
	return s.apply(ctx, line, "", false, nil, through, reason)
}

// SkipGapIn is SkipGap for a given incarnation of the line (an earlier
// one's gap, after its takeover).
func (s *Store) SkipGapIn(ctx context.Context, line, incarnation string, through uint64, reason string) (ApplyResult, error) {
	if err := checkText("line "+line, "reason", reason, true); err != nil {
		return ApplyResult{Line: line}, err
	}
	if err := checkIncarnation(line, incarnation); err != nil {
		return ApplyResult{Line: line}, err
	}
	return s.apply(ctx, line, incarnation, true, nil, through, reason)
}

// checkIncarnation applies the wire contract's rule for incarnation ids.
func checkIncarnation(line, inc string) error {
	var fe *wire.FieldError
	if err := (wire.Ack{V: wire.Version, Line: "L", Incarnation: inc}).Validate(); errors.As(err, &fe) && fe.Field == "incarnation" {
		return invalid("line "+line, "incarnation", "%v", fe.Err)
	}
	return nil
}

func (s *Store) apply(ctx context.Context, line, inc string, incKnown bool, events []wire.CheckedEvent, skipThrough uint64, skipReason string) (ApplyResult, error) {
	topic, err := wire.Topic(line, wire.KindEvents)
	if err != nil {
		return ApplyResult{Line: line}, invalid("line "+line, "id", "%v", err)
	}
	var res ApplyResult
	var replacedNow bool
	write := func(optimistic bool) error {
		return s.write(ctx, func(tx dbtx) error {
			a := &applier{tx: tx, d: s.d, line: line, inc: inc, incKnown: incKnown, topic: topic, now: now(),
				res: ApplyResult{Line: line}, optimistic: optimistic, skew: s.skew,
				unitCounts: map[string]*unitDelta{}, changed: set[string]{}}
			if err := a.run(ctx, events, skipThrough, skipReason); err != nil {
				return err
			}
			res, replacedNow = a.res, a.replacedNow
			return nil
		})
	}
	err = write(skipThrough == 0)
	if errors.Is(err, errNotNew) {
		// Rare: a batch that looked new was not (an id or a serial taken).
		// Nothing of the first attempt was kept; the careful path sorts
		// out which events are duplicates and which are dead letters.
		s.log.Debug("optimistic apply conflicted; applying carefully", "line", line, "events", len(events), "err", err)
		err = write(false)
	}
	if err != nil {
		return ApplyResult{Line: line}, err
	}
	if r := res.Replaced; r != nil && replacedNow {
		s.log.Warn("new incarnation of the line's event store replaces the earlier one; QA must disposition the earlier one's held events and unused serials",
			"line", line, "incarnation", res.Incarnation, "replaced", r.Incarnation, "replaced_seq", r.Seq, "replaced_held", r.Held, "replaced_gaps", r.Gaps)
	}
	for _, r := range res.Rejected {
		s.log.Warn("event dead-lettered", "line", line, "incarnation", res.Incarnation, "event", r.EventID, "seq", r.Seq, "reason", r.Reason)
	}
	if len(res.Gaps) > 0 {
		s.log.Info("events held behind a gap", "line", line, "incarnation", res.Incarnation, "acked", res.Acked, "gaps", res.Gaps)
	}
	return res, nil
}

// errNotNew is returned by an optimistic apply whose bulk insert hit a
// key that exists already: the transaction is rolled back and the batch
// applied again on the careful path.
var errNotNew = errors.New("batch is not all new")

// isUniqueViolation reports whether err is a primary-key or unique
// constraint violation, in either dialect.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	return false
}

// item is one event on its way through apply.
type item struct {
	ev          wire.Event
	raw         []byte // the event as received (pending) or re-encoded
	digest      string // eventDigest; "" for a held event from before 0007
	bad         string // why it is dead-lettered when its turn comes
	noRecord    bool   // its id belongs to another event: no applied_events row
	fromPending bool
}

func (it *item) payload() []byte {
	if it.raw == nil {
		it.raw, _ = json.Marshal(it.ev) // a decoded event always marshals
	}
	return it.raw
}

type unitKey struct{ gtin, serial string }

type unitRow struct {
	unitKey
	counter                                               *uint64
	order, lot, expiry, state, reason, line, parent, last string
	updated                                               time.Time
	isNew, dirty                                          bool
}

type containerRow struct {
	sscc, parent, line, order string
	created, updated          time.Time
	isNew, dirty              bool
}

type orderRow struct {
	id, gtin, lot, expiry, line, state string
	allowance, extendedBy              uint64 // total allowance; units extended in this batch
	started                            bool
	closedAt                           *time.Time
	counts                             *wire.Reconciliation
	startedAt                          *time.Time
	dirty                              bool
	before                             WorkOrder // for the audit of a close
}

type productRow struct {
	spec   serials.Spec
	scheme serials.Scheme // nil for a list
}

type counterRange struct{ start, end uint64 } // [start, end)

// maxSkip caps the seqs one SkipGap may declare lost.
const maxSkip = 1_000_000

// applier holds one transaction's view: what the batch's events refer to,
// loaded up front in a few set queries, then updated in memory event by
// event, and written back in bulk at the end.
type applier struct {
	tx    dbtx
	d     dialect
	line  string
	topic string
	now   time.Time
	res   ApplyResult

	// inc is the incarnation whose sequence the batch continues (unknown
	// until the line is locked for a SkipGap of the current one); current
	// is the line's current incarnation.
	inc, current string
	incKnown     bool
	replacedNow  bool // the batch started an incarnation that replaced another
	// skew: events stamped further ahead of central's clock are flagged.
	skew time.Duration

	orders     map[string]*orderRow
	products   map[string]*productRow
	granted    map[string][]counterRange // order+"\x00"+gtin → ranges granted to this line
	returned   map[string][]counterRange // gtin → ranges returned (for the batch's orders)
	listSerial map[string]map[uint64]string
	units      map[unitKey]*unitRow
	containers map[string]*containerRow

	history    [][]any
	applied    [][]any
	deadLetter [][]any
	flags      [][]any
	newReturns [][]any
	unitCounts map[string]*unitDelta // by order: changes of its unit counts
	changed    set[string]           // orders whose retained payload changed
	audits     []func() error
	buf        []byte

	// optimistic: the batch may take the fast path, where the run is
	// assumed new (no probes for taken ids and existing units) and a key
	// conflict in the bulk insert proves otherwise (errNotNew). fast is
	// set once the batch qualifies.
	optimistic, fast bool
}

func (a *applier) run(ctx context.Context, events []wire.CheckedEvent, skipThrough uint64, skipReason string) error {
	appliedSeq, err := a.openIncarnation(ctx, skipThrough == 0)
	if err != nil {
		return err
	}
	at := where(a.line, a.inc)

	// 1. Sort out what cannot take part in the sequence at all.
	cands := make([]*item, 0, len(events))
	inBatchID := make(map[string]uint64, len(events))
	inBatchSeq := make(map[uint64]string, len(events))
	for _, c := range events {
		e := c.Event()
		it := &item{ev: e}
		verr := c.Err()
		var fe *wire.FieldError
		if verr != nil && errors.As(verr, &fe) && (fe.Field == "id" || fe.Field == "seq") {
			a.deadNow(it, verr.Error())
			continue
		}
		if seq, dup := inBatchID[e.ID]; dup {
			if seq == e.Seq {
				a.res.Duplicates++
			} else {
				a.deadNow(it, fmt.Sprintf("event id %s repeats in the batch with seq %d", e.ID, seq))
			}
			continue
		}
		if id, dup := inBatchSeq[e.Seq]; dup {
			a.deadNow(it, fmt.Sprintf("seq %d repeats in the batch (event %s)", e.Seq, id))
			continue
		}
		inBatchID[e.ID], inBatchSeq[e.Seq] = e.Seq, e.ID
		if verr != nil {
			it.bad = verr.Error()
		}
		it.digest = eventDigest(&it.ev)
		cands = append(cands, it)
	}

	// 2. Events held behind a gap.
	pending, err := a.loadPending(ctx)
	if err != nil {
		return err
	}
	a.fast = a.optimistic && len(cands) == len(events) && len(pending) == 0 && fastRun(cands, appliedSeq)

	// 3. Apply once: ids central has already taken. The fast path skips
	// the probe: its run continues the line's seq exactly, so an id found
	// taken would be another event's, and applied_events' key catches that.
	if len(cands) > 0 && !a.fast {
		ids := make([]string, len(cands))
		for i, it := range cands {
			ids[i] = it.ev.ID
		}
		taken, err := a.takenIDs(ctx, ids)
		if err != nil {
			return err
		}
		kept := cands[:0]
		for _, it := range cands {
			t, found := taken[it.ev.ID]
			sameSlot := found && t.line == a.line && t.inc == a.inc && t.seq == it.ev.Seq
			switch {
			case sameSlot && (t.digest == "" || t.digest == it.digest):
				a.res.Duplicates++
			case sameSlot:
				a.deadNow(it, fmt.Sprintf("%s: event id %s (seq %d of %s) was taken with other content", ReasonConflict, it.ev.ID, it.ev.Seq, at))
			case it.ev.Seq <= appliedSeq:
				if found {
					a.deadNow(it, fmt.Sprintf("%s: seq %d of %s is done already, and event id %s belongs to seq %d of %s", ReasonConflict, it.ev.Seq, at, it.ev.ID, t.seq, where(t.line, t.inc)))
				} else {
					a.deadNow(it, fmt.Sprintf("%s: seq %d of %s is done already, by another event id", ReasonConflict, it.ev.Seq, at))
				}
			case found:
				// The seq is this event's, but its id is another's: the
				// event is dead-lettered in its turn, without taking the id.
				it.bad = fmt.Sprintf("%s: event id %s is taken by seq %d of %s", ReasonConflict, it.ev.ID, t.seq, where(t.line, t.inc))
				it.noRecord = true
				kept = append(kept, it)
			default:
				kept = append(kept, it)
			}
		}
		cands = kept
	}

	// 4. Merge with the held events.
	queue := make([]*item, 0, len(cands)+len(pending))
	for _, it := range cands {
		if p, held := pending[it.ev.Seq]; held {
			switch {
			case p.ev.ID == it.ev.ID && (p.digest == "" || p.digest == it.digest):
				a.res.Duplicates++
			case p.ev.ID == it.ev.ID:
				a.deadNow(it, fmt.Sprintf("%s: event id %s (seq %d of %s) is held with other content", ReasonConflict, it.ev.ID, it.ev.Seq, at))
			default:
				a.deadNow(it, fmt.Sprintf("%s: seq %d of %s is held for event %s already", ReasonConflict, it.ev.Seq, at, p.ev.ID))
			}
			continue
		}
		queue = append(queue, it)
	}
	for _, p := range pending {
		queue = append(queue, p)
	}
	sort.Slice(queue, func(i, j int) bool { return queue[i].ev.Seq < queue[j].ev.Seq })

	if skipThrough > 0 {
		var maxHeld uint64
		for seq := range pending {
			maxHeld = max(maxHeld, seq)
		}
		switch {
		case skipThrough <= appliedSeq:
			return fmt.Errorf("%s: %w: seq %d is done already (acked %d)", at, ErrState, skipThrough, appliedSeq)
		case skipThrough >= maxHeld:
			return fmt.Errorf("%s: %w: only a gap below held events can be skipped; the highest held seq is %d (acked %d)", at, ErrState, maxHeld, appliedSeq)
		case skipThrough-appliedSeq > maxSkip:
			return invalid(at, "through", "skips %d seqs, at most %d at once", skipThrough-appliedSeq, maxSkip)
		}
	}

	// 5. Walk the sequence: apply what is contiguous, hold the rest.
	next := appliedSeq + 1
	var run, hold []*item
	var lost []uint64
	for i, it := range queue {
		for it.ev.Seq > next && next <= skipThrough {
			lost = append(lost, next)
			next++
		}
		if it.ev.Seq != next {
			hold = queue[i:]
			break
		}
		run = append(run, it)
		next++
	}
	for next <= skipThrough && len(hold) == 0 {
		lost = append(lost, next)
		next++
	}
	newApplied := next - 1

	if err := a.loadPayloads(ctx, run); err != nil {
		return err
	}
	if err := a.process(ctx, run); err != nil {
		return err
	}
	for _, seq := range lost {
		a.dead(&item{ev: wire.Event{Seq: seq}, raw: fmt.Appendf(nil, `{"line":%q,"incarnation":%q,"seq":%d,"lost":true}`, a.line, a.inc, seq)}, fmt.Sprintf("seq %d declared lost by %s: %s", seq, ActorFrom(ctx), skipReason), false)
	}
	if len(lost) > 0 {
		first, last := lost[0], lost[len(lost)-1]
		a.audits = append(a.audits, func() error {
			type audited struct {
				Incarnation string `json:"incarnation,omitempty"`
				From        uint64 `json:"from"`
				To          uint64 `json:"to"`
				Lost        int    `json:"lost"`
				Reason      string `json:"reason"`
			}
			type before struct {
				Incarnation string `json:"incarnation,omitempty"`
				AppliedSeq  uint64 `json:"applied_seq"`
			}
			return audit(ctx, a.tx, "skip-gap", "line_seq", a.line, before{Incarnation: a.inc, AppliedSeq: appliedSeq},
				audited{Incarnation: a.inc, From: first, To: last, Lost: len(lost), Reason: skipReason})
		})
	}

	// 6. Write back.
	var newHeld [][]any
	var heldSeqs []uint64
	for _, it := range hold {
		heldSeqs = append(heldSeqs, it.ev.Seq)
		if it.fromPending {
			continue
		}
		payload := it.payload()
		if it.bad != "" {
			// An invalid event may hold what the payload's JSON column
			// refuses (PostgreSQL's jsonb takes no \u0000): it is held
			// wrapped, and dead-lettered in its turn as it came.
			payload, _ = json.Marshal(heldInvalid{Raw: payload, NoRecord: it.noRecord})
		}
		newHeld = append(newHeld, []any{a.line, a.inc, it.ev.Seq, it.ev.ID, it.digest, it.bad, string(payload), a.now})
	}
	a.res.Held = len(newHeld)
	if err := a.flush(ctx, newHeld); err != nil {
		return err
	}
	if newApplied != appliedSeq {
		// Held rows are all above appliedSeq (read under the line's lock):
		// without any, there is nothing to delete.
		if len(pending) > 0 {
			if _, err := a.tx.exec(ctx, "DELETE FROM pending_events WHERE line_id = $1 AND incarnation = $2 AND seq <= $3", a.line, a.inc, newApplied); err != nil {
				return fmt.Errorf("%s: pending: %w", at, err)
			}
		}
		if err := a.saveSeq(ctx, newApplied); err != nil {
			return err
		}
	}
	a.res.Acked = newApplied
	a.res.Gaps = gaps(newApplied, heldSeqs)
	if len(a.changed) > 0 {
		a.res.OrdersChanged = a.changed.list()
		slices.Sort(a.res.OrdersChanged)
	}
	return nil
}

// fastRun reports whether a batch may take the fast path: it continues
// the line's seq exactly (appliedSeq+1, +2, ... in batch order) and holds
// only unit events that may be first uses of serials. A first use checks
// that its unit does not exist last, after every other check, so the
// units key can report that instead of a probe. (Decommissionings still
// read their units, see preload.)
func fastRun(cands []*item, appliedSeq uint64) bool {
	for i, it := range cands {
		if it.ev.Seq != appliedSeq+1+uint64(i) {
			return false
		}
		switch it.ev.Type {
		case wire.Commissioned, wire.Voided, wire.Decommissioned:
		default:
			return false
		}
	}
	return true
}

// gaps lists the runs of seqs missing between acked and the held seqs
// (ascending).
func gaps(acked uint64, held []uint64) []SeqGap {
	var out []SeqGap
	prev := acked
	for _, s := range held {
		if s > prev+1 {
			out = append(out, SeqGap{From: prev + 1, To: s - 1})
		}
		prev = s
	}
	return out
}

type takenID struct {
	line, inc, digest string
	seq               uint64
}

func (a *applier) takenIDs(ctx context.Context, ids []string) (map[string]takenID, error) {
	out := map[string]takenID{}
	q := "SELECT event_id, line_id, incarnation, seq, digest FROM applied_events WHERE event_id " + a.d.inList(1, "text")
	if a.d == dialectPostgres {
		// One index probe per id, whatever the planner's statistics say:
		// LIMIT keeps the lateral subquery from being flattened into a
		// hash join over the whole table.
		q = `SELECT k.id, a.line_id, a.incarnation, a.seq, a.digest FROM unnest($1::text[]) AS k(id)
			JOIN LATERAL (SELECT line_id, incarnation, seq, digest FROM applied_events WHERE event_id = k.id LIMIT 1) a ON true`
	}
	r, err := a.tx.queryFresh(ctx, q, a.d.listArg(ids))
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
	r, err := a.tx.query(ctx, "SELECT seq, event_id, digest, reason FROM pending_events WHERE line_id = $1 AND incarnation = $2", a.line, a.inc)
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
	r, err := a.tx.query(ctx, "SELECT seq, payload FROM pending_events WHERE line_id = $1 AND incarnation = $2 AND seq >= $3 AND seq <= $4", a.line, a.inc, lo, hi)
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
	r, err := a.tx.queryFresh(ctx, "SELECT "+orderCols+" FROM work_orders WHERE id "+a.d.inList(1, "text"), a.d.listArg(ids))
	if err != nil {
		return fmt.Errorf("line %s: work orders: %w", a.line, err)
	}
	defer r.Close()
	for r.Next() {
		o, err := scanOrder(r)
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
	r, err := a.tx.queryFresh(ctx, "SELECT gtin, serial_scheme FROM products WHERE gtin "+a.d.inList(1, "text"), a.d.listArg(gtins))
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
		if p.spec, err = openScheme(a.tx, gtin, spec); err != nil {
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
	r, err := a.tx.queryFresh(ctx, "SELECT order_id, gtin, start_counter, end_counter FROM grant_ranges WHERE line_id = $1 AND order_id "+a.d.inList(2, "text"),
		a.line, a.d.listArg(orderIDs))
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
	r, err = a.tx.queryFresh(ctx, "SELECT gtin, start_counter, end_counter FROM returned_ranges WHERE order_id "+a.d.inList(1, "text"), a.d.listArg(orderIDs))
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
	var r rows
	var err error
	if a.d == dialectPostgres {
		gtins, serials := make([]string, len(keys)), make([]string, len(keys))
		for i, k := range keys {
			gtins[i], serials[i] = k.gtin, k.serial
		}
		// One index probe per key (see takenIDs), and locked: a unit may
		// also be changed by another line's batch.
		r, err = a.tx.queryFresh(ctx, `SELECT u.`+strings.ReplaceAll(unitCols, ", ", ", u.")+` FROM unnest($1::text[], $2::text[]) AS k(gtin, serial)
			JOIN LATERAL (SELECT * FROM units WHERE gtin = k.gtin AND serial = k.serial LIMIT 1 FOR UPDATE) u ON true`, gtins, serials)
	} else {
		pairs := make([][2]string, len(keys))
		for i, k := range keys {
			pairs[i] = [2]string{k.gtin, k.serial}
		}
		b, _ := json.Marshal(pairs)
		r, err = a.tx.queryFresh(ctx, "SELECT "+unitCols+" FROM units WHERE (gtin, serial) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each($1))", string(b))
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
	return a.queryContainers(ctx, "WHERE sscc "+a.d.inList(1, "text"), a.d.listArg(ssccs))
}

func (a *applier) queryContainers(ctx context.Context, where string, args ...any) error {
	r, err := a.tx.queryFresh(ctx, "SELECT sscc, parent, line_id, order_id, created_at, updated_at FROM containers "+where+a.d.forUpdate(), args...)
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
	r, err := a.tx.queryFresh(ctx, "SELECT position, serial FROM serial_lists WHERE gtin = $1 AND position "+a.d.inList(2, "bigint"), gtin, a.d.listArg(positions))
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
			o.started, o.startedAt, o.dirty = true, ptrTime(ts(e.At)), true
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
	state := StateCommissioned
	switch e.Type {
	case wire.Voided:
		state = StateVoided
	case wire.Decommissioned:
		state = StateDecommissioned
	}
	u := &unitRow{unitKey: unitKey{e.GTIN, e.Serial}, counter: e.Counter, order: o.id, lot: o.lot, expiry: o.expiry,
		state: state, reason: string(e.Reason), line: a.line, last: e.ID, updated: ts(e.At), isNew: true}
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
	if u.state != StateCommissioned {
		return fmt.Sprintf("unit %s is %s; only a commissioned unit can be decommissioned", ref, u.state)
	}
	if e.Order != "" && e.Order != u.order {
		return fmt.Sprintf("unit %s belongs to work order %s, not %s", ref, u.order, e.Order)
	}
	a.countUnit(u.order, u.state, StateDecommissioned)
	u.state, u.reason, u.parent, u.last, u.updated, u.dirty = StateDecommissioned, string(e.Reason), "", e.ID, ts(e.At), true
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
		case u.state != StateCommissioned:
			return fmt.Sprintf("child unit %s is %s; only commissioned units are packed", c, u.state), nil
		case u.parent != "" && u.parent != e.Parent:
			return fmt.Sprintf("child unit %s is inside %s already", c, u.parent), nil
		}
		changes = append(changes, change{unit: u})
	}
	at := ts(e.At)
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
	at := ts(e.At)
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
	r, err := a.tx.query(ctx, "SELECT "+unitCols+" FROM units WHERE parent = $1", parent)
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
	at := ts(e.At)
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
		return audit(WithActor(ctx, actor), a.tx, action, "work_order", o.id, before, after)
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
	rs, err := a.tx.queryFresh(ctx, "SELECT counter, serial FROM units WHERE gtin = $1 AND counter >= $2 AND counter < $3 LIMIT 1", gtin, r.start, r.end)
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

// historyDetails is the JSON kept with each history entry.
type historyDetails struct {
	Order    string      `json:"order,omitempty"`
	Lot      string      `json:"lot,omitempty"`
	Expiry   string      `json:"expiry,omitempty"`
	Counter  *uint64     `json:"counter,omitempty"`
	Reason   wire.Reason `json:"reason,omitempty"`
	Parent   string      `json:"parent,omitempty"`
	Children []string    `json:"children,omitempty"`
	Operator string      `json:"operator,omitempty"`
}

func (a *applier) addHistory(e wire.Event, gtin, serial string, d historyDetails) {
	b, _ := json.Marshal(d) // plain strings and numbers always marshal
	a.history = append(a.history, []any{gtin, serial, e.ID, e.Seq, string(e.Type), ts(e.At), a.line, a.inc, string(b)})
}

// flush writes the view back: bulk inserts (COPY on PostgreSQL) for new
// rows, pipelined updates for changed ones.
func (a *applier) flush(ctx context.Context, held [][]any) error {
	var newUnits, changedUnits, newConts, changedConts [][]any
	for _, u := range a.units {
		switch {
		case u.isNew:
			var counter any
			if u.counter != nil {
				counter = int64(*u.counter)
			}
			newUnits = append(newUnits, []any{u.gtin, u.serial, counter, u.order, u.lot, u.expiry, u.state, u.reason, u.line, u.parent, u.last, u.updated})
		case u.dirty:
			changedUnits = append(changedUnits, []any{u.gtin, u.serial, u.state, u.reason, u.parent, u.last, u.updated})
		}
	}
	for _, c := range a.containers {
		switch {
		case c.isNew:
			newConts = append(newConts, []any{c.sscc, c.parent, c.line, c.order, c.created, c.updated})
		case c.dirty:
			changedConts = append(changedConts, []any{c.sscc, c.parent, c.updated})
		}
	}
	steps := []struct {
		what string
		fn   func() error
	}{
		{"units", func() error {
			return a.tx.copyRows(ctx, "units", []string{"gtin", "serial", "counter", "order_id", "lot", "expiry", "state", "reason", "line_id", "parent", "last_event", "updated_at"}, newUnits)
		}},
		{"units", func() error {
			return a.tx.execMany(ctx, "UPDATE units SET state = $3, reason = $4, parent = $5, last_event = $6, updated_at = $7 WHERE gtin = $1 AND serial = $2", changedUnits)
		}},
		{"unit history", func() error {
			return a.tx.copyRows(ctx, "unit_history", []string{"gtin", "serial", "event_id", "seq", "type", "at", "line_id", "incarnation", "details"}, a.history)
		}},
		{"containers", func() error {
			return a.tx.copyRows(ctx, "containers", []string{"sscc", "parent", "line_id", "order_id", "created_at", "updated_at"}, newConts)
		}},
		{"containers", func() error {
			return a.tx.execMany(ctx, "UPDATE containers SET parent = $2, updated_at = $3 WHERE sscc = $1", changedConts)
		}},
		{"returned ranges", func() error {
			return a.tx.copyRows(ctx, "returned_ranges", []string{"gtin", "start_counter", "end_counter", "order_id", "line_id", "event_id"}, a.newReturns)
		}},
		{"work orders", func() error { return a.flushOrders(ctx) }},
		{"applied events", func() error {
			return a.tx.copyRows(ctx, "applied_events", []string{"event_id", "line_id", "incarnation", "seq", "digest", "outcome", "applied_at"}, a.applied)
		}},
		{"dead letters", func() error {
			return a.tx.copyRows(ctx, "dead_letters", deadLetterCols, a.deadLetter)
		}},
		{"event flags", func() error { return a.flushFlags(ctx) }},
		{"pending events", func() error {
			return a.tx.copyRows(ctx, "pending_events", []string{"line_id", "incarnation", "seq", "event_id", "digest", "reason", "payload", "received_at"}, held)
		}},
		{"audit", func() error {
			for _, f := range a.audits {
				if err := f(); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			if a.fast && isUniqueViolation(err) {
				return fmt.Errorf("line %s: write %s: %w: %v", a.line, st.what, errNotNew, err)
			}
			return fmt.Errorf("line %s: write %s: %w", a.line, st.what, err)
		}
	}
	return nil
}

// flushOrders writes only what the line's events changed, so that a
// planner's concurrent change of the same order is not overwritten.
func (a *applier) flushOrders(ctx context.Context) error {
	var started, closed [][]any
	for _, o := range a.orders {
		if !o.dirty {
			continue
		}
		if o.startedAt != nil {
			started = append(started, []any{o.id, o.startedAt, a.now})
		}
		if o.counts != nil {
			b, _ := json.Marshal(o.counts)
			closed = append(closed, []any{o.id, o.closedAt, string(b), a.now})
		}
	}
	if err := a.tx.execMany(ctx, "UPDATE work_orders SET started_at = $2, updated_at = $3 WHERE id = $1 AND started_at IS NULL", started); err != nil {
		return err
	}
	if err := a.flushOrderCounts(ctx); err != nil {
		return err
	}
	return a.tx.execMany(ctx, `UPDATE work_orders SET state = 'closed', closed_at = COALESCE(closed_at, $2), reported_counts = $3, updated_at = $4
		WHERE id = $1`, closed)
}

func (g SeqGap) String() string {
	if g.From == g.To {
		return strconv.FormatUint(g.From, 10)
	}
	return strconv.FormatUint(g.From, 10) + "-" + strconv.FormatUint(g.To, 10)
}
