package plcsim

import (
	"time"
)

// kick wakes the automatic-mode runner after a change.
func (s *Sim) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// startRunner starts the watchdog's timer and, if Speed > 0, the
// automatic conveyor, once.
func (s *Sim) startRunner() {
	s.wdOnce.Do(func() {
		s.wg.Add(1)
		go s.watchdogLoop()
	})
	if s.cfg.Speed <= 0 {
		return
	}
	s.runnerOnce.Do(func() {
		s.mu.Lock()
		s.lastTick = time.Now()
		s.mu.Unlock()
		s.wg.Add(1)
		go s.run()
	})
}

// run moves the conveyor with the clock, sleeping until the next event.
func (s *Sim) run() {
	defer s.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	perPitch := time.Duration(float64(time.Minute) / s.cfg.Speed)
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		case <-s.wake:
		}
		s.mu.Lock()
		events := s.syncLocked()
		next := 250 * time.Millisecond // idle: only a change (kick) matters
		if s.runningLocked() {
			gapTo := s.nextTrigger
			for i, st := range s.stations {
				if k := s.nextAt[i]; k < len(s.units) {
					gapTo = min(gapTo, s.units[k].entry+st.at)
				}
			}
			next = time.Duration((gapTo - s.pos) * float64(perPitch))
			next = min(max(next, 100*time.Microsecond), 250*time.Millisecond)
		}
		s.unlockAndDispatch(events)
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}
