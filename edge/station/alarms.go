package station

import (
	"time"

	"github.com/serialine/serialine/shared/wire"
)

// Alarm is a fault the operator sees. An alarm raised while the line was
// running stopped it and stays until its cause has cleared and someone
// allowed to (AckRole) has acknowledged it; one raised while the line stood
// still goes away with its cause.
type Alarm struct {
	// ID numbers the station's alarms; the history names them by it.
	ID uint64 `json:"id"`
	// Code names the alarm in the catalogue (Catalogue); Message and
	// Action are the catalogue's plain cause and what to do.
	Code    AlarmCode `json:"code"`
	Message string    `json:"message"`
	Action  string    `json:"action"`
	AckRole Role      `json:"ack_role"`
	// Device is what raised it: printer, scanner, plc, plc-reject,
	// serials, quality, allowance, expiry, outbox or station.
	Device string `json:"device"`
	// Fault is the detail for maintenance: the device's own words, the
	// numbers behind a limit.
	Fault string    `json:"fault"`
	Since time.Time `json:"since"`
	// Active: the cause is still there.
	Active bool `json:"active"`
	// Acked: someone allowed to has acknowledged it.
	Acked bool `json:"acked"`
	// StoppedLine: it stopped production, so it needs an acknowledgement.
	StoppedLine bool `json:"stopped_line"`
}

// AlarmRecord is one alarm in the history: when it came, when its cause
// went, who acknowledged it.
type AlarmRecord struct {
	ID          uint64    `json:"id"`
	Code        AlarmCode `json:"code"`
	Device      string    `json:"device"`
	Message     string    `json:"message"`
	Fault       string    `json:"fault"`
	Raised      time.Time `json:"raised"`
	Cleared     time.Time `json:"cleared,omitzero"`
	Acked       time.Time `json:"acked,omitzero"`
	AckedBy     string    `json:"acked_by,omitempty"`
	StoppedLine bool      `json:"stopped_line"`
}

// HistoryLen is how many alarms the history keeps.
const HistoryLen = 100

// History returns the last HistoryLen alarms, newest first.
func (s *Station) History() []AlarmRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AlarmRecord, 0, len(s.history))
	for i := len(s.history) - 1; i >= 0; i-- {
		out = append(out, s.history[i])
	}
	return out
}

// record changes the history entry of alarm id (s.mu held).
func (s *Station) recordLocked(id uint64, fn func(*AlarmRecord)) {
	for i := len(s.history) - 1; i >= 0; i-- {
		if s.history[i].ID == id {
			fn(&s.history[i])
			return
		}
	}
}

// raise records an alarm (run loop only). persistent: the cause is there
// until a health check clears it; otherwise it is an event that only
// needs acknowledging. One alarm is kept per device: a new fault of the
// same device replaces the old one's text (and code).
func (s *Station) raise(device string, code AlarmCode, fault string, persistent bool) {
	sp := spec(code)
	now := time.Now()
	s.mu.Lock()
	running := s.state == wire.LineRunning
	found := false
	for i := range s.alarms {
		a := &s.alarms[i]
		if a.Device != device {
			continue
		}
		found = true
		if a.Code == code && a.Fault == fault && a.Active == persistent && !running {
			s.mu.Unlock()
			return
		}
		if a.Code != code {
			s.nextAlarm++
			a.ID, a.Code, a.Message, a.Action, a.AckRole, a.Since = s.nextAlarm, code, sp.Cause, sp.Action, sp.AckRole, now
			s.historyLocked(*a)
		}
		a.Fault, a.Active = fault, persistent
		if running {
			a.StoppedLine, a.Acked = true, false
			s.recordLocked(a.ID, func(r *AlarmRecord) { r.StoppedLine, r.Acked, r.AckedBy = true, time.Time{}, "" })
		}
	}
	if !found {
		s.nextAlarm++
		a := Alarm{ID: s.nextAlarm, Code: code, Message: sp.Cause, Action: sp.Action, AckRole: sp.AckRole, Device: device,
			Fault: fault, Since: now, Active: persistent, StoppedLine: running}
		s.alarms = append(s.alarms, a)
		s.historyLocked(a)
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.log.Warn("alarm", "code", code, "device", device, "fault", fault, "stopped_line", running)
	s.applyState()
}

// historyLocked appends a to the history (s.mu held).
func (s *Station) historyLocked(a Alarm) {
	if len(s.history) == HistoryLen {
		copy(s.history, s.history[1:])
		s.history = s.history[:HistoryLen-1]
	}
	s.history = append(s.history, AlarmRecord{ID: a.ID, Code: a.Code, Device: a.Device, Message: a.Message, Fault: a.Fault,
		Raised: a.Since, StoppedLine: a.StoppedLine})
}

// clear notes that device's cause has gone (run loop only).
func (s *Station) clear(device string) {
	s.mu.Lock()
	kept := s.alarms[:0]
	changed := false
	now := time.Now()
	for _, a := range s.alarms {
		if a.Device == device && a.Active {
			a.Active = false
			changed = true
			s.recordLocked(a.ID, func(r *AlarmRecord) { r.Cleared = now })
			if a.Acked || !a.StoppedLine {
				s.log.Info("alarm cleared", "code", a.Code, "device", device, "fault", a.Fault)
				continue
			}
		}
		kept = append(kept, a)
	}
	s.alarms = kept
	if changed {
		s.notifyLocked()
	}
	s.mu.Unlock()
	if changed {
		s.applyState()
	}
}

func (s *Station) hasAlarm(device string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.alarms {
		if a.Device == device && a.Active {
			return true
		}
	}
	return false
}
