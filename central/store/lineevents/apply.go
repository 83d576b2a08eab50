package lineevents

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
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
// central acks to the line. The line must exist (sqldb.ErrNotFound). Concurrent
// calls for one line, also from several replicas, are serialised on the
// line's seq row.
func (s *Records) ApplyEvents(ctx context.Context, line string, events []wire.Event) (ApplyResult, error) {
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
func (s *Records) ApplyEventsOf(ctx context.Context, line, incarnation string, events []wire.CheckedEvent) (ApplyResult, error) {
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
func (s *Records) refreshStats(ctx context.Context, n int) {
	if s.db.Dialect() != sqldb.Postgres || n == 0 {
		return
	}
	s.nextAnalyze.CompareAndSwap(0, 1000)
	total, next := s.applied.Add(int64(n)), s.nextAnalyze.Load()
	if next > 1_000_000 || total < next || !s.nextAnalyze.CompareAndSwap(next, next*10) {
		return
	}
	if err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		_, err := tx.Exec(ctx, "ANALYZE units, unit_history, applied_events")
		return err
	}); err != nil {
		s.log.Warn("analyze after apply", "units_applied", total, "err", err)
		return
	}
	s.log.Debug("statistics refreshed", "units_applied", total)
}

// SkipGap declares the missing seqs of line's current incarnation up to
// and including through as lost (an operator's decision when an edge lost
// events for good, e.g. a replaced line PC): each becomes a dead letter
// with reason, and the held events behind the gap are applied. Audited.
func (s *Records) SkipGap(ctx context.Context, line string, through uint64, reason string) (ApplyResult, error) {
	if err := check.Text("line "+line, "reason", reason, true); err != nil {
		return ApplyResult{Line: line}, err
	}
	return s.apply(ctx, line, "", false, nil, through, reason)
}

// SkipGapIn is SkipGap for a given incarnation of the line (an earlier
// one's gap, after its takeover).
func (s *Records) SkipGapIn(ctx context.Context, line, incarnation string, through uint64, reason string) (ApplyResult, error) {
	if err := check.Text("line "+line, "reason", reason, true); err != nil {
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
		return sqldb.Invalid("line "+line, "incarnation", "%v", fe.Err)
	}
	return nil
}

func (s *Records) apply(ctx context.Context, line, inc string, incKnown bool, events []wire.CheckedEvent, skipThrough uint64, skipReason string) (ApplyResult, error) {
	topic, err := wire.Topic(line, wire.KindEvents)
	if err != nil {
		return ApplyResult{Line: line}, sqldb.Invalid("line "+line, "id", "%v", err)
	}
	var res ApplyResult
	var replacedNow bool
	write := func(optimistic bool) error {
		return s.db.Write(ctx, func(tx sqldb.Tx) error {
			a := &applier{tx: tx, d: s.db.Dialect(), line: line, inc: inc, incKnown: incKnown, topic: topic, now: sqldb.Now(),
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
	before                             orders.WorkOrder // for the audit of a close
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
	tx    sqldb.Tx
	d     sqldb.Dialect
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

// run applies one batch in the line's transaction. Its steps share the
// batch's state and must run in this order: open the incarnation, sort out
// what cannot take part in the sequence, read the held events, drop what
// central has taken already, merge with the held, walk the sequence (apply
// what is contiguous, hold the rest, declare a skipped gap lost), write back.
func (a *applier) run(ctx context.Context, events []wire.CheckedEvent, skipThrough uint64, skipReason string) error {
	appliedSeq, err := a.openIncarnation(ctx, skipThrough == 0)
	if err != nil {
		return err
	}
	cands := a.sortOut(events)
	pending, err := a.loadPending(ctx)
	if err != nil {
		return err
	}
	a.fast = a.optimistic && len(cands) == len(events) && len(pending) == 0 && fastRun(cands, appliedSeq)
	// The fast path skips the probe of taken ids: its run continues the
	// line's seq exactly, so an id found taken would be another event's,
	// and applied_events' key catches that.
	if len(cands) > 0 && !a.fast {
		if cands, err = a.dropTaken(ctx, cands, appliedSeq); err != nil {
			return err
		}
	}
	queue := a.mergeHeld(cands, pending)
	if skipThrough > 0 {
		if err := a.checkSkip(skipThrough, appliedSeq, pending); err != nil {
			return err
		}
	}
	run, hold, lost, newApplied := walk(queue, appliedSeq, skipThrough)
	if err := a.loadPayloads(ctx, run); err != nil {
		return err
	}
	if err := a.process(ctx, run); err != nil {
		return err
	}
	a.declareLost(ctx, lost, appliedSeq, skipReason)
	return a.writeBack(ctx, hold, len(pending) > 0, appliedSeq, newApplied)
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

func (g SeqGap) String() string {
	if g.From == g.To {
		return strconv.FormatUint(g.From, 10)
	}
	return strconv.FormatUint(g.From, 10) + "-" + strconv.FormatUint(g.To, 10)
}
