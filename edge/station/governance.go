package station

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/serialine/serialine/edge/pool"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// The order governs the line: it prints while the order needs labels, stops
// by itself when the quantity is commissioned, when the reject allowance is
// spent, when quality limits are crossed and when the expiry passes. This
// file holds those rules; the run loop applies them per trigger (print or
// not) and per verdict (count, check).

// Defaults of the order and quality limits (Config.WithDefaults).
const (
	DefaultMaxConsecutiveRejects = 5
	DefaultMaxRejectRate         = 5.0 // percent
	DefaultRejectRateWindow      = 200 // units
	DefaultAllowancePercent      = 5.0
	DefaultAllowanceMin          = 50
)

// Allowance is the reject allowance of an order of quantity units when
// central sends none: percent of the quantity, at least min units.
func Allowance(quantity uint64, percent float64, min uint64) uint64 {
	return max(uint64(math.Ceil(float64(quantity)*percent/100)), min)
}

// orderRun is the order the line runs, as the run loop governs it.
type orderRun struct {
	id        string
	quantity  uint64
	overrun   uint64
	allowance uint64
	// good and rejected are the order's totals: the durable counts when
	// the station first activated it, plus every verdict since.
	good, rejected uint64
	// inflight are the units of the order printed and awaiting their
	// verdict.
	inflight uint64
	complete bool
}

// needsLabel reports whether another unit should be printed: the units
// commissioned and those in flight do not yet make the quantity (plus the
// configured overrun). A rejected unit in flight is replaced by the next.
func (r *orderRun) needsLabel() bool {
	return r.good+r.inflight < r.quantity+r.overrun
}

// done reports whether the order's quantity is commissioned and nothing of
// it is in flight any more: the line stops by itself.
func (r *orderRun) done() bool { return r.good >= r.quantity && r.inflight == 0 }

// spent reports whether the rejects have used up the allowance.
func (r *orderRun) spent() bool { return r.rejected >= r.allowance }

// Production is the order the line runs, counted for the operator.
type Production struct {
	Order string `json:"order"`
	// State is running, paused, stopped, complete (quantity reached; close
	// the order) or closed.
	State     wire.OrderProgress `json:"state"`
	Quantity  uint64             `json:"quantity"`
	Good      uint64             `json:"good"`
	Rejected  uint64             `json:"rejected"`
	InFlight  uint64             `json:"in_flight"`
	Allowance uint64             `json:"allowance"`
	// Remaining is the quantity still to commission.
	Remaining uint64 `json:"remaining"`
	// AllowanceLeft is the rejects the allowance still permits.
	AllowanceLeft uint64 `json:"allowance_left"`
	// Complete: the quantity is commissioned; the order waits to be closed.
	Complete bool `json:"complete"`
}

func (r *orderRun) production() Production {
	p := Production{Order: r.id, Quantity: r.quantity, Good: r.good, Rejected: r.rejected,
		InFlight: r.inflight, Allowance: r.allowance, Complete: r.complete}
	if r.good < r.quantity {
		p.Remaining = r.quantity - r.good
	}
	if r.rejected < r.allowance {
		p.AllowanceLeft = r.allowance - r.rejected
	}
	return p
}

// quality watches the verdicts of printed units: consecutive rejects and
// the reject rate over a sliding window of units.
type quality struct {
	maxConsecutive int
	maxRate        float64 // percent
	window         []bool  // ring of the last verdicts; true = rejected
	head, n        int
	inWindow       int // rejects in the window
	consecutive    int
	reasons        map[wire.Reason]int // of the consecutive run, for the alarm text
	inShift        bool                // the last verdict was a shifted label
}

func newQuality(maxConsecutive int, maxRate float64, window int) *quality {
	return &quality{maxConsecutive: maxConsecutive, maxRate: maxRate, window: make([]bool, window), reasons: map[wire.Reason]int{}}
}

// add records a verdict and returns the limit it crossed, if any.
//
// Shifted labels (another unit's label read: one label applied late or
// early) are one fault however many units they touch: every unit printed
// between the shift and its detection at the camera carries a neighbour's
// label, and the station realigns by itself (lateLabel). So a run of
// shifted mismatches counts once in the window, and neither extends nor
// ends a run of consecutive rejects. Each of those units still counts as a
// reject against the order's allowance.
func (q *quality) add(reason wire.Reason, shifted bool) (AlarmCode, string) {
	rejected := reason != "" && !(shifted && q.inShift)
	q.inShift = shifted
	if q.n == len(q.window) {
		if q.window[q.head] {
			q.inWindow--
		}
	} else {
		q.n++
	}
	q.window[q.head] = rejected
	q.head = (q.head + 1) % len(q.window)
	if reason == "" {
		q.consecutive = 0
		clear(q.reasons)
		return "", ""
	}
	if !rejected {
		return "", ""
	}
	q.inWindow++
	if !shifted {
		q.consecutive++
		q.reasons[reason]++
		if q.consecutive >= q.maxConsecutive {
			return AlarmConsecutive, fmt.Sprintf("%d packs in a row were rejected (limit %d): %s", q.consecutive, q.maxConsecutive, reasonList(q.reasons))
		}
	}
	// The rate is judged against the whole window from the first unit, so
	// that the start of a run cannot trip it with one reject.
	if limit := q.maxRate / 100 * float64(len(q.window)); float64(q.inWindow) > limit {
		return AlarmRejectRate, fmt.Sprintf("%d faults in the last %d packs (limit %v %% of %d; a label shift counts once)", q.inWindow, q.n, q.maxRate, len(q.window))
	}
	return "", ""
}

// reset forgets the verdicts: after the operator acknowledged a quality
// alarm the line starts judging afresh.
func (q *quality) reset() {
	clear(q.window)
	q.head, q.n, q.inWindow, q.consecutive = 0, 0, 0, 0
	q.inShift = false
	clear(q.reasons)
}

func reasonList(m map[wire.Reason]int) string {
	s := ""
	for _, r := range wire.Reasons() {
		if n := m[r]; n > 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%d %s", n, r)
		}
	}
	return s
}

// shelfLife checks o's expiry against the line PC's clock: an error names
// the expiry and how many days are left when the order may not run (past
// expiry, or fewer days left than its minimum shelf life).
func shelfLife(o wire.Order, now time.Time, minDays int) error {
	exp, err := gs1.ExpiryTime(o.Expiry)
	if err != nil {
		return fmt.Errorf("order %q: expiry: %w", o.ID, err)
	}
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	left := int(exp.Sub(today).Hours() / 24)
	switch {
	case left < 0:
		return fmt.Errorf("order %q: expiry %s (%s) has passed", o.ID, o.Expiry, exp.Format(time.DateOnly))
	case left < minDays:
		return fmt.Errorf("order %q: expiry %s (%s) is %d days away, the product needs at least %d days of shelf life", o.ID, o.Expiry, exp.Format(time.DateOnly), left, minDays)
	}
	return nil
}

// progress is where the line stands with its order, for the snapshot.
func progress(p *Production, state, want wire.LineState) wire.OrderProgress {
	switch {
	case p.Complete:
		return wire.ProgressComplete
	case state == wire.LineRunning:
		return wire.ProgressRunning
	case state == wire.LinePaused || (state == wire.LineAlarm && want == wire.LinePaused):
		return wire.ProgressPaused
	}
	return wire.ProgressStopped
}

// govern sets up the governance of o when the line starts it (run loop):
// the counts so far come from the pool's durable fates.
func (s *Station) govern(o wire.Order) error {
	l, err := s.pool.Level(o.ID)
	if err != nil {
		return fmt.Errorf("station: %w", err)
	}
	if s.run == nil || s.run.id != o.ID {
		s.run = &orderRun{id: o.ID, quantity: o.Quantity, overrun: s.cfg.Overrun,
			good: l.Counts.Commissioned, rejected: l.Counts.DecommissionedTotal()}
		s.qual.reset()
	}
	r := s.run
	r.allowance = s.allowanceOf(o, l)
	if r.done() {
		r.complete = true
	}
	s.syncProd()
	if r.complete {
		return fmt.Errorf("station: start %q: %w: %d of %d commissioned; close it", o.ID, ErrComplete, r.good, r.quantity)
	}
	if r.spent() {
		return fmt.Errorf("station: start %q: reject allowance spent (%d of %d): a supervisor may extend it", o.ID, r.rejected, r.allowance)
	}
	return nil
}

// allowanceOf is o's reject allowance: the pool's (central's, or the
// local one once extended), else the configured default.
func (s *Station) allowanceOf(o wire.Order, l pool.Level) uint64 {
	switch {
	case l.Allowance > 0:
		return l.Allowance
	case o.RejectAllowance > 0:
		return o.RejectAllowance
	}
	return Allowance(o.Quantity, s.cfg.AllowancePercent, s.cfg.AllowanceMin)
}

// verdict counts a printed unit's verdict for its order and applies the
// order's and the quality limits (run loop).
func (s *Station) verdict(n uint32, orderID string, reason wire.Reason, shifted bool) {
	r := s.run
	if r == nil || r.id != orderID {
		return
	}
	if r.inflight > 0 {
		r.inflight--
	}
	if reason == "" {
		r.good++
	} else {
		r.rejected++
	}
	if int32(n-s.qualFrom) > 0 {
		if code, why := s.qual.add(reason, shifted); code != "" {
			s.raise("quality", code, why, false)
		}
	}
	if reason != "" && r.spent() {
		s.raise("allowance", AlarmAllowanceSpent, fmt.Sprintf("%d rejects of an allowance of %d for order %q", r.rejected, r.allowance, r.id), true)
	}
	if !r.complete && r.done() {
		r.complete = true
		s.want = wire.LineStopped
		s.log.Info("order complete: line stopped, waiting for the order to be closed", "order", r.id, "good", r.good, "rejected", r.rejected)
		s.syncProd()
		s.applyState()
		return
	}
	s.syncProd()
}

// checkOrder applies the rules that change with time and with what others
// do (run loop, every health check): the expiry passing, the allowance
// extended, serials arriving.
func (s *Station) checkOrder(now time.Time) {
	o := s.tpl.order
	if err := shelfLife(o, s.cfg.Now(), 0); err != nil {
		s.raise("expiry", AlarmOrderExpired, err.Error(), true)
	}
	l, err := s.pool.Level(o.ID)
	if err != nil {
		return
	}
	if s.hasAlarm("serials") && l.Available > 0 {
		s.clear("serials")
	}
	if r := s.run; r != nil && r.id == o.ID {
		if a := s.allowanceOf(o, l); a != r.allowance {
			r.allowance = a
			s.syncProd()
		}
		if !r.spent() && s.hasAlarm("allowance") {
			s.clear("allowance")
		}
	}
}

// OrderChanged re-reads the running order's limits (its allowance, after
// an extension) at once rather than at the next health check.
func (s *Station) OrderChanged(ctx context.Context) error {
	return s.do(ctx, func() error {
		if s.tpl != nil {
			s.checkOrder(time.Now())
		}
		return nil
	})
}

// syncProd publishes the run's counts for Snapshot (run loop).
func (s *Station) syncProd() {
	var p *Production
	if s.run != nil {
		v := s.run.production()
		p = &v
	}
	s.mu.Lock()
	s.prod = p
	s.mu.Unlock()
}
