package lineevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// The steps of applier.run, in its order.

// sortOut dead-letters what cannot take part in the line's sequence at all
// (an invalid id or seq, an id or seq repeated in the batch) and returns the
// rest, each with its digest and, when invalid, the reason the decoder gave.
func (a *applier) sortOut(events []wire.CheckedEvent) []*item {
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
	return cands
}

// dropTaken applies each event once: it reads which of the batch's ids
// central has taken already and counts a resent event as a duplicate,
// dead-letters one that conflicts with what was taken, and keeps the rest.
func (a *applier) dropTaken(ctx context.Context, cands []*item, appliedSeq uint64) ([]*item, error) {
	at := where(a.line, a.inc)
	ids := make([]string, len(cands))
	for i, it := range cands {
		ids[i] = it.ev.ID
	}
	taken, err := a.takenIDs(ctx, ids)
	if err != nil {
		return nil, err
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
	return kept, nil
}

// mergeHeld merges the batch with the events held behind a gap, in seq
// order; an event whose seq is held already is a duplicate or a conflict.
func (a *applier) mergeHeld(cands []*item, pending map[uint64]*item) []*item {
	at := where(a.line, a.inc)
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
	return queue
}

// checkSkip refuses a skip that is not of a gap below held events, or is
// too long to declare lost at once.
func (a *applier) checkSkip(skipThrough, appliedSeq uint64, pending map[uint64]*item) error {
	at := where(a.line, a.inc)
	var maxHeld uint64
	for seq := range pending {
		maxHeld = max(maxHeld, seq)
	}
	switch {
	case skipThrough <= appliedSeq:
		return fmt.Errorf("%s: %w: seq %d is done already (acked %d)", at, sqldb.ErrState, skipThrough, appliedSeq)
	case skipThrough >= maxHeld:
		return fmt.Errorf("%s: %w: only a gap below held events can be skipped; the highest held seq is %d (acked %d)", at, sqldb.ErrState, maxHeld, appliedSeq)
	case skipThrough-appliedSeq > maxSkip:
		return sqldb.Invalid(at, "through", "skips %d seqs, at most %d at once", skipThrough-appliedSeq, maxSkip)
	}
	return nil
}

// walk walks the sequence from appliedSeq+1: what is contiguous is the run
// to apply, the seqs missing up to skipThrough are lost, and what lies
// beyond the first gap left is held. newApplied is the run's last seq.
func walk(queue []*item, appliedSeq, skipThrough uint64) (run, hold []*item, lost []uint64, newApplied uint64) {
	next := appliedSeq + 1
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
	return run, hold, lost, next - 1
}

// declareLost dead-letters each lost seq, as declared by the actor, and
// audits the skip.
func (a *applier) declareLost(ctx context.Context, lost []uint64, appliedSeq uint64, reason string) {
	if len(lost) == 0 {
		return
	}
	for _, seq := range lost {
		a.dead(&item{ev: wire.Event{Seq: seq}, raw: fmt.Appendf(nil, `{"line":%q,"incarnation":%q,"seq":%d,"lost":true}`, a.line, a.inc, seq)}, fmt.Sprintf("seq %d declared lost by %s: %s", seq, sqldb.ActorFrom(ctx), reason), false)
	}
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
		return audit.Record(ctx, a.tx, "skip-gap", "line_seq", a.line, before{Incarnation: a.inc, AppliedSeq: appliedSeq},
			audited{Incarnation: a.inc, From: first, To: last, Lost: len(lost), Reason: reason})
	})
}

// writeBack holds the new held events, flushes what was applied, moves the
// line's seq and fills in the result.
func (a *applier) writeBack(ctx context.Context, hold []*item, hadPending bool, appliedSeq, newApplied uint64) error {
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
		if hadPending {
			if _, err := a.tx.Exec(ctx, "DELETE FROM pending_events WHERE line_id = $1 AND incarnation = $2 AND seq <= $3", a.line, a.inc, newApplied); err != nil {
				return fmt.Errorf("%s: pending: %w", where(a.line, a.inc), err)
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
