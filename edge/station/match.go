package station

import (
	"github.com/serialine/serialine/drivers/scanner"
)

// Matching results to units.
//
// The camera reports one result per unit, in conveyor order, so results
// are matched to the units in the FIFO in trigger order: the result that
// arrives goes to the oldest unit still waiting. That is physically right
// as long as no result is lost and none is stale, and two position checks
// catch those cases. A unit's distance travelled is counted in pitches from
// the trigger counter (its own trigger to the last one), plus the fraction
// of a pitch elapsed since the last trigger (capped at one, so a stopped
// conveyor moves nothing):
//
//   - A unit has surely passed the camera once it travelled more than
//     PrinterToCamera / (1 - jitter) + guard + trigger lag (in pitches: the
//     PLC poll interval over the time per pitch). If its result has not come by
//     then, it was lost (scanner link blip): the unit is a no-read and is
//     rejected, and the next result goes to the next unit.
//   - A result cannot be the oldest unit's while that unit has travelled
//     less than PrinterToCamera / (1 + jitter) - guard - trigger lag: such a
//     result belongs to a unit before it (one on the conveyor when the
//     station started) and is ignored.
//
// At ordinary speeds (a pitch of tens of milliseconds, a 10 ms poll) the
// window between the two bounds is under two pitches wide around the true
// position, so one lost or one stale result is caught; at extreme speeds
// (a pitch shorter than the poll interval) it is several pitches wide and
// only gross misalignment is.
//
// Both checks err on the side of rejecting: when one fires wrongly, a good
// unit is rejected and the next result falls in place again. The data read
// never moves a result to another unit: a label can be applied to another
// unit than the one it was printed for (late, or early onto an unlabelled
// unit still at the print station), so equal data does not prove which
// physical unit is at the camera. Data only settles good or bad.
//
// A read of a label already decided (printed earlier, applied late) shows
// the applicator is one label behind. With a print window under one pitch
// (print and apply) the station then leaves one unit unprinted, which takes
// the waiting label and is rejected as blank; with a longer window a label
// waits for its own unit, and a unit left unprinted would pull the next
// labels ahead instead.

// track updates the time per pitch: the span of the last 16 trigger
// intervals over 16, so that triggers delivered in bursts (several per PLC
// poll) average out; a window that holds a stop of the line (an interval
// over four times the average) leaves the estimate as it was.
func (s *Station) track(now int64) {
	s.trigAt[s.trigN%len(s.trigAt)] = now
	s.trigN++
	n := min(s.trigN, len(s.trigAt))
	if n >= 3 {
		newest := now
		oldest := s.trigAt[(s.trigN-n)%len(s.trigAt)]
		avg := float64(newest-oldest) / float64(n-1)
		var longest int64
		for i := s.trigN - n + 1; i < s.trigN; i++ {
			longest = max(longest, s.trigAt[i%len(s.trigAt)]-s.trigAt[(i-1)%len(s.trigAt)])
		}
		if s.tau == 0 || float64(longest) <= 4*avg {
			s.tau = avg
		}
	}
	s.tLast = now
}

// travelled is how far unit n has gone since its trigger, in pitches, at
// time t.
func (s *Station) travelled(n uint32, t int64) float64 {
	d := float64(int32(s.last - n))
	if s.tau > 0 && t > s.tLast {
		limit := 1.0
		if s.tMoving > s.tLast {
			limit += float64(s.tMoving-s.tLast) / s.tau
		}
		d += min(float64(t-s.tLast)/s.tau, limit)
	}
	return d
}

// bounds are the travel limits of the checks.
func (s *Station) bounds() (early, late float64) {
	j := s.cfg.Jitter / 100
	late = s.cfg.PrinterToCamera/(1-j) + s.cfg.CameraGuard
	early = s.cfg.PrinterToCamera/(1+j) - s.cfg.CameraGuard
	if s.tau > 0 {
		// Triggers reach the station up to TriggerLag late, and in bursts
		// of that size: the count runs behind or jumps ahead by as much.
		lag := float64(s.cfg.TriggerLag) / s.tau
		early -= lag
		late += lag
	}
	return early, late
}

// expire settles as no-reads the units that surely passed the camera by t
// without a result.
func (s *Station) expire(t int64) {
	_, late := s.bounds()
	for s.fifo.len() > 0 && s.travelled(s.fifo.front().n, t) > late {
		s.counts.missed.Add(1)
		s.decide(s.fifo.front(), nil)
	}
}

// onResult matches a scanner result to the oldest unit waiting.
func (s *Station) onResult(r scanner.Result) {
	t := r.At.UnixNano()
	if r.At.IsZero() {
		t = s.tLast
	}
	s.expire(t)
	if s.fifo.len() == 0 {
		s.counts.unmatched.Add(1)
		s.log.Debug("scanner result with no unit in flight", "data", r.Data, "no_read", r.NoRead)
		return
	}
	front := s.fifo.front()
	// Without a pitch time (the first units) the position is unknown
	// between triggers: accept the result rather than reject good units.
	if early, _ := s.bounds(); s.tau > 0 && s.travelled(front.n, t) < early {
		s.counts.unmatched.Add(1)
		s.log.Debug("scanner result before the oldest unit can be at the camera: ignored", "unit", front.n, "travelled", s.travelled(front.n, t), "data", r.Data)
		return
	}
	if !r.NoRead && r.Data != "" && front.kind == printed && r.Data != front.dataString() {
		switch {
		case s.recent.has(r.Data):
			s.lateLabel(front.n)
		case s.fifo.find(r.Data) > 0:
			s.counts.shifts.Add(1)
			s.log.Warn("label of a later unit seen: labels are applied ahead of their units", "unit", front.n)
		}
	}
	s.decide(front, &r)
}

// lateLabel reacts to a label printed for an earlier unit: the applicator
// holds one label too many, so one unit is left unprinted to take it. A
// unit printed before that skip shows the same and adds none.
func (s *Station) lateLabel(unit uint32) {
	if s.skip > 0 || int32(unit-s.skipMark) <= 0 {
		return
	}
	if s.cfg.PrintWindow >= 1 {
		s.counts.shifts.Add(1)
		s.log.Warn("label printed for an earlier unit seen on the conveyor", "unit", unit)
		s.skipMark = s.last
		return
	}
	s.skip++
	s.counts.shifts.Add(1)
	s.log.Warn("label printed for an earlier unit seen on the conveyor; leaving one unit unprinted to catch up", "unit", unit)
}
