package plcsim

import (
	"slices"
	"time"

	"github.com/serialine/serialine/drivers/plc"
)

// The two-way watchdog, as drivers/plc/README.md asks a real PLC program
// to do it:
//
//   - The edge writes a new value to edge_heartbeat at least every
//     heartbeat_interval. The watchdog arms at the first one (so the line
//     can be run from the panel, or with a Modbus tool, before an edge is
//     there). When the value has not changed for Config.Watchdog, the PLC
//     drops the run request (the conveyor stops), latches
//     AlarmEdgeWatchdog (a stopping alarm) and marks every unit on the
//     conveyor for rejection: the edge that was to judge them is gone.
//   - The alarm resets (the edge writes the alarm word) only once the
//     heartbeat has changed again since the trip.
//   - A 0 written to edge_heartbeat is the edge leaving on purpose: the
//     run request is dropped and the watchdog disarmed, with no alarm.
//   - The PLC's own heartbeat (plc_heartbeat) counts up every
//     PLCHeartbeatPeriod while the program runs, and stands still while it
//     is stopped (FaultProgramStopped).

// PLCHeartbeatPeriod is how often the simulated PLC program changes its
// heartbeat.
const PLCHeartbeatPeriod = 100 * time.Millisecond

// WatchdogState is the edge watchdog's state.
type WatchdogState struct {
	// Armed: the edge has written a heartbeat since the PLC started, or
	// since it last stood down.
	Armed bool
	// Tripped: AlarmEdgeWatchdog is latched. Returned: the heartbeat has
	// changed since, so a reset will clear it.
	Tripped, Returned bool
	// Trips counts the trips, StandDowns the edge's planned departures.
	Trips, StandDowns int
	// EdgeBeat is the last value the edge wrote; LastBeat when it last
	// changed.
	EdgeBeat uint16
	LastBeat time.Time
	// TrippedAt is when it last tripped (LastBeat then + the watchdog time).
	TrippedAt time.Time
	// Marked are the units the last trip marked for rejection.
	Marked []uint32
}

type watchdog struct {
	armed      bool
	beat       uint16
	lastBeat   time.Time
	trippedAt  time.Time
	trips      int
	standDowns int
	marked     []uint32
	changed    chan struct{}
	plcBeat    uint16
	plcBeatAt  time.Time
}

func newWatchdog(now time.Time) watchdog {
	return watchdog{changed: make(chan struct{}), plcBeatAt: now}
}

// Watchdog returns the edge watchdog's state and a channel closed at its
// next change (a new heartbeat, armed, tripped, reset, stood down), so
// that a caller can await one without missing it.
func (s *Sim) Watchdog() (WatchdogState, <-chan struct{}) {
	s.mu.Lock()
	events := s.syncLocked()
	st, ch := s.watchdogStateLocked(), s.wd.changed
	s.unlockAndDispatch(events)
	return st, ch
}

func (s *Sim) watchdogStateLocked() WatchdogState {
	tripped := s.latched.Has(plc.AlarmEdgeWatchdog)
	return WatchdogState{
		Armed:      s.wd.armed,
		Tripped:    tripped,
		Returned:   tripped && s.wd.lastBeat.After(s.wd.trippedAt),
		Trips:      s.wd.trips,
		StandDowns: s.wd.standDowns,
		EdgeBeat:   s.wd.beat,
		LastBeat:   s.wd.lastBeat,
		TrippedAt:  s.wd.trippedAt,
		Marked:     slices.Clone(s.wd.marked),
	}
}

func (s *Sim) watchdogChangedLocked() {
	close(s.wd.changed)
	s.wd.changed = make(chan struct{})
	select { // the timer may have to move
	case s.wdWake <- struct{}{}:
	default:
	}
}

// deadlineLocked is when the watchdog trips unless the heartbeat changes;
// false while it cannot trip (not armed, tripped already, program stopped).
func (s *Sim) deadlineLocked() (time.Time, bool) {
	if !s.wd.armed || s.latched.Has(plc.AlarmEdgeWatchdog) || s.faults[FaultProgramStopped] {
		return time.Time{}, false
	}
	return s.wd.lastBeat.Add(s.cfg.Watchdog), true
}

// watchdogDueLocked reports whether the watchdog trips by now, and when.
func (s *Sim) watchdogDueLocked(now time.Time) (time.Time, bool) {
	at, ok := s.deadlineLocked()
	return at, ok && !now.Before(at)
}

// tripLocked stops the line for the edge's silence.
func (s *Sim) tripLocked(at time.Time) {
	s.latched |= plc.AlarmEdgeWatchdog
	s.runRequest = false
	s.wd.trips++
	s.wd.trippedAt = at
	s.wd.marked = s.wd.marked[:0:0]
	for _, u := range s.units {
		s.pending[u.n] = true
		s.wd.marked = append(s.wd.marked, u.n)
	}
	s.kick()
	s.watchdogChangedLocked()
	s.log.Warn("plc sim edge watchdog: the edge's heartbeat stopped; line stopped, the units on the conveyor will be rejected",
		"heartbeat", s.wd.beat, "unchanged_for", s.cfg.Watchdog, "units", len(s.wd.marked))
}

// edgeBeatLocked takes a write of edge_heartbeat.
func (s *Sim) edgeBeatLocked(v uint16, now time.Time) {
	switch {
	case v == 0:
		s.runRequest = false
		s.kick()
		if s.wd.armed {
			s.wd.armed = false
			s.wd.standDowns++
			s.watchdogChangedLocked()
			s.log.Info("plc sim: the edge stood down; run request dropped, watchdog disarmed")
		}
	case !s.wd.armed:
		s.wd.armed, s.wd.lastBeat = true, now
		s.watchdogChangedLocked()
		s.log.Info("plc sim edge watchdog armed", "watchdog", s.cfg.Watchdog)
	case v != s.wd.beat:
		if s.latched.Has(plc.AlarmEdgeWatchdog) && !s.wd.lastBeat.After(s.wd.trippedAt) {
			s.log.Info("plc sim edge watchdog: the heartbeat is back; waiting for the reset")
		}
		s.wd.lastBeat = now
		s.watchdogChangedLocked()
	}
	s.wd.beat = v
}

// resetAlarmsLocked takes a write of the alarm word: the alarms written as
// 0 whose cause has gone are reset. The edge watchdog's cause has gone
// once the heartbeat has changed since the trip and is fresh.
func (s *Sim) resetAlarmsLocked(written plc.AlarmWord, now time.Time) {
	keep := written
	if s.wd.armed && (!s.wd.lastBeat.After(s.wd.trippedAt) || now.Sub(s.wd.lastBeat) >= s.cfg.Watchdog) {
		keep |= plc.AlarmEdgeWatchdog
	}
	was := s.latched.Has(plc.AlarmEdgeWatchdog)
	s.latched &= keep
	if was && !s.latched.Has(plc.AlarmEdgeWatchdog) {
		s.watchdogChangedLocked()
		s.log.Info("plc sim edge watchdog reset")
	}
}

// programStartedLocked restarts the watchdog's timer and the heartbeat's
// clock when the program runs again: a stopped CPU timed nothing.
func (s *Sim) programStartedLocked(now time.Time) {
	if s.wd.armed && s.wd.lastBeat.Before(now) {
		s.wd.lastBeat = now
	}
	s.wd.plcBeatAt = now
	s.watchdogChangedLocked()
}

// plcBeatLocked is the PLC's heartbeat now: one more every
// PLCHeartbeatPeriod while the program runs.
func (s *Sim) plcBeatLocked(now time.Time) uint16 {
	if s.faults[FaultProgramStopped] {
		s.wd.plcBeatAt = now
		return s.wd.plcBeat
	}
	if n := now.Sub(s.wd.plcBeatAt) / PLCHeartbeatPeriod; n > 0 {
		s.wd.plcBeat += uint16(n)
		s.wd.plcBeatAt = s.wd.plcBeatAt.Add(n * PLCHeartbeatPeriod)
	}
	return s.wd.plcBeat
}

// watchdogLoop trips the watchdog on time when nothing else (a Modbus
// request, the conveyor) looks at the clock.
func (s *Sim) watchdogLoop() {
	defer s.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.mu.Lock()
		events := s.syncLocked() // trips if due
		next := time.Hour
		if at, ok := s.deadlineLocked(); ok {
			next = max(time.Until(at), time.Millisecond)
		}
		s.unlockAndDispatch(events)
		t.Reset(next)
		select {
		case <-s.closed:
			return
		case <-t.C:
		case <-s.wdWake:
		}
	}
}
