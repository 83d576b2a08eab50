package station

import (
	"fmt"
	"strings"

	"github.com/serialine/serialine/shared/wire"
)

// Faults the station learns from outside its devices: the line's record
// store (the outbox's commits, the disk's free space), the event store's
// incarnation, a restart after a crash. They reach the run loop through the
// health channel like the devices' reports.

// external is one such report.
type external struct {
	device string
	code   AlarmCode
	fault  string
	// persistent: the cause stays until cleared (clear set); otherwise the
	// alarm only needs acknowledging.
	persistent, clear bool
	// inFlight: name the printed units still in flight in the fault.
	inFlight bool
	health   *wire.DeviceHealth // the device's health to show, if any
}

// Fault reports that device has a fault with code that stays until it is
// cleared (err nil): the line stops at once while it lasts.
func (s *Station) Fault(device string, code AlarmCode, err error) {
	if err == nil {
		s.report(healthReport{ext: &external{device: device, clear: true, health: &wire.DeviceHealth{State: wire.DeviceOK}}})
		return
	}
	s.report(healthReport{ext: &external{device: device, code: code, fault: err.Error(), persistent: true,
		health: &wire.DeviceHealth{State: wire.DeviceFault, Detail: trim(err.Error())}}})
}

// Notice raises an alarm that needs acknowledging (by the role the
// catalogue names for code) but has no lasting cause. Called before Run, it
// is raised at once, so that the first state already shows it.
func (s *Station) Notice(device string, code AlarmCode, fault string) {
	e := external{device: device, code: code, fault: fault}
	if !s.running.Load() {
		s.onExternal(e) // nothing else runs yet
		return
	}
	s.report(healthReport{ext: &e})
}

// Warn shows device in warning (or ok, with an empty detail) without an
// alarm: e.g. the disk filling up.
func (s *Station) Warn(device, detail string) {
	h := wire.DeviceHealth{State: wire.DeviceOK}
	if detail != "" {
		h = wire.DeviceHealth{State: wire.DeviceWarning, Detail: trim(detail)}
	}
	s.report(healthReport{ext: &external{device: device, health: &h}})
}

// StorageFault is told by the record store when a commit fails (err, with
// the events that are not durable) and when commits succeed again (nil):
// the station prints nothing more from the first failure on, stops the line
// with the storage alarm and names the units whose records are at risk, so
// that the operator pulls them.
func (s *Station) StorageFault(err error, evs []wire.Event) {
	if err == nil {
		s.storageBad.Store(false)
		s.report(healthReport{ext: &external{device: "storage", clear: true, health: &wire.DeviceHealth{State: wire.DeviceOK}}})
		return
	}
	s.storageBad.Store(true) // checked on the trigger path before any print
	s.report(healthReport{ext: &external{device: "storage", code: AlarmStorage, fault: fmt.Sprintf("records not saved (%v)", err), persistent: true, inFlight: true,
		health: &wire.DeviceHealth{State: wire.DeviceFault, Detail: trim(err.Error())}}})
}

// onExternal applies an outside report (run loop).
func (s *Station) onExternal(e external) {
	if e.health != nil {
		s.mu.Lock()
		if old, ok := s.devices[e.device]; !ok || old.State != e.health.State || old.Detail != e.health.Detail {
			h := *e.health
			h.Since = s.cfg.Now()
			s.devices[e.device] = h
			s.notifyLocked()
		}
		s.mu.Unlock()
	}
	switch {
	case e.clear:
		s.clear(e.device)
	case e.code != "":
		fault := e.fault
		if e.inFlight {
			fault += "; " + s.inFlightText()
		}
		s.raise(e.device, e.code, fault, e.persistent)
	}
}

// inFlightText names the packs whose records are not durable: every
// serial of the order handed out without a durable fate (the pool knows
// them: a crash now would void exactly these), with the trigger number of
// those still between printer and camera (run loop).
func (s *Station) inFlightText() string {
	if s.tpl == nil {
		return "no order runs"
	}
	trigger := map[string]uint32{}
	for i := range s.fifo.len() {
		if sl := s.fifo.at(i); sl.kind == printed {
			trigger[sl.serialString()] = sl.n
		}
	}
	lost, total, err := s.pool.Unfated(s.tpl.order.ID, unsavedListed)
	if err != nil {
		return "packs at risk unknown: " + err.Error()
	}
	if total == 0 {
		return "every printed pack's record is saved"
	}
	units := make([]string, 0, len(lost))
	for _, l := range lost {
		if n, ok := trigger[l.Serial]; ok {
			units = append(units, fmt.Sprintf("%s (unit #%d, on the conveyor)", l.Serial, n))
		} else {
			units = append(units, l.Serial)
		}
	}
	return fmt.Sprintf("%d packs without a saved record, pull them (serial): %s", total, list(units, unsavedListed))
}

// unsavedListed is how many packs at risk the storage alarm names; the
// log has every one.
const unsavedListed = 200

// list joins up to max items and says how many more there are.
func list(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:max], ", ") + fmt.Sprintf(" and %d more", len(items)-max)
}
