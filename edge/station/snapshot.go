package station

import (
	"time"

	"github.com/serialine/serialine/shared/wire"
)

// Counts are the station's counters since it started.
type Counts struct {
	Triggers uint64 `json:"triggers"` // units that entered the print station
	Printed  uint64 `json:"printed"`  // print jobs handed to the printer
	Good     uint64 `json:"good"`     // commissioned
	// Rejected counts decommissioned units by reason.
	Rejected map[wire.Reason]uint64 `json:"rejected"`
	Voided   uint64                 `json:"voided"`  // serials taken, job refused by the printer
	Blank    uint64                 `json:"blank"`   // units left unprinted, rejected
	Ghosts   uint64                 `json:"ghosts"`  // units from before the start, rejected
	Missed   uint64                 `json:"missed"`  // units whose result never came (no-read)
	Shifts   uint64                 `json:"shifts"`  // late labels detected (one unit left blank each)
	Unmatch  uint64                 `json:"unmatch"` // results with no unit in flight
	// RejectsSent counts reject requests the PLC acknowledged;
	// RejectsFailed those it did not get.
	RejectsSent   uint64 `json:"rejects_sent"`
	RejectsFailed uint64 `json:"rejects_failed"`
}

// RejectedTotal is the number decommissioned for any reason.
func (c Counts) RejectedTotal() uint64 {
	var n uint64
	for _, v := range c.Rejected {
		n += v
	}
	return n
}

// Snapshot is the station's state for the operator's screen and status.
type Snapshot struct {
	Line string `json:"line"`
	// State is what the line does: running, paused, stopped or alarm.
	State wire.LineState `json:"state"`
	// Want is what the operator last asked: running, paused or stopped.
	Want    wire.LineState               `json:"want"`
	Order   *wire.Order                  `json:"order,omitempty"`
	Alarms  []Alarm                      `json:"alarms"`
	Devices map[string]wire.DeviceHealth `json:"devices"`
	Counts  Counts                       `json:"counts"`
	// Rate is the trigger rate in units/min.
	Rate float64 `json:"rate"`
	// InFlight is the number of units between print station and camera.
	InFlight int `json:"in_flight"`
	// Production counts the order the line runs (nil without one).
	Production *Production `json:"production,omitempty"`
}

// Snapshot returns the current state.
func (s *Station) Snapshot() Snapshot {
	s.mu.Lock()
	snap := Snapshot{Line: s.cfg.Line, State: s.state, Want: s.wantShown(), Alarms: append([]Alarm(nil), s.alarms...),
		Devices: make(map[string]wire.DeviceHealth, len(s.devices))}
	for k, v := range s.devices {
		snap.Devices[k] = v
	}
	if s.order != nil {
		o := *s.order
		snap.Order = &o
	}
	if s.prod != nil {
		p := *s.prod
		p.State = progress(&p, snap.State, snap.Want)
		snap.Production = &p
	}
	s.mu.Unlock()
	snap.Counts = s.Counts()
	if snap.State == wire.LineRunning {
		snap.Rate = s.rate.perMinute(time.Now())
	}
	snap.InFlight = int(s.inflight.Load())
	return snap
}

// wantShown is the operator's request as last applied (s.mu held).
func (s *Station) wantShown() wire.LineState { return s.wantCopy }

// Counts returns the counters.
func (s *Station) Counts() Counts {
	c := Counts{
		Triggers: s.counts.triggers.Load(), Printed: s.counts.printed.Load(), Good: s.counts.good.Load(),
		Voided: s.counts.voided.Load(), Blank: s.counts.blank.Load(), Ghosts: s.counts.ghosts.Load(),
		Missed: s.counts.missed.Load(), Shifts: s.counts.shifts.Load(), Unmatch: s.counts.unmatched.Load(),
		RejectsSent: s.counts.rejectsSent.Load(), RejectsFailed: s.counts.rejectsFailed.Load(),
		Rejected: map[wire.Reason]uint64{},
	}
	for i, r := range wire.Reasons() {
		if n := s.counts.rejected[i].Load(); n > 0 {
			c.Rejected[r] = n
		}
	}
	return c
}

// Changes returns a channel closed at the next change of state, alarms,
// devices or order (not at every unit: poll Counts for those).
func (s *Station) Changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Station) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}
