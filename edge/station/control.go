package station

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/serialine/serialine/drivers/plc"
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

// SetOrders replaces the work orders central released to the line.
func (s *Station) SetOrders(orders []wire.Order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orders = make(map[string]wire.Order, len(orders))
	for _, o := range orders {
		s.orders[o.ID] = o
	}
	s.notifyLocked()
}

// Orders returns the released work orders, by id.
func (s *Station) Orders() []wire.Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]wire.Order, 0, len(s.orders))
	for _, o := range s.orders {
		out = append(out, o)
	}
	return out
}

type command struct {
	fn    func() error
	reply chan error
}

// do runs fn on the run loop.
func (s *Station) do(ctx context.Context, fn func() error) error {
	c := command{fn: fn, reply: make(chan error, 1)}
	select {
	case s.cmds <- c:
	case <-ctx.Done():
		return fmt.Errorf("station: %w", ctx.Err())
	}
	select {
	case err := <-c.reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("station: %w", ctx.Err())
	}
}

// Start runs order (one of the released orders): its label template is
// built, the pool serves its serials and the line starts. The first start
// of an order records order-started.
func (s *Station) Start(ctx context.Context, orderID string) error {
	return s.StartAs(ctx, orderID, "")
}

// ErrComplete is returned by Start for an order whose quantity is made.
var ErrComplete = errors.New("the order is complete")

// StartAs is Start by operator (the one signed in at the touchscreen):
// the events of the units made from now on carry that name. An empty
// operator keeps the current one (initially Config.Operator).
//
// The order must be released, within its shelf life (line PC clock), not
// complete, and no alarm may be active.
func (s *Station) StartAs(ctx context.Context, orderID, operator string) error {
	return s.do(ctx, func() error {
		if operator != "" {
			s.operator = operator
		}
		s.mu.Lock()
		o, ok := s.orders[orderID]
		alarms := len(s.alarms)
		s.mu.Unlock()
		if !ok && s.tpl != nil && s.tpl.order.ID == orderID {
			o, ok = s.tpl.order, true
		}
		switch {
		case !ok:
			return fmt.Errorf("station: order %q is not released to line %s", orderID, s.cfg.Line)
		case o.State != wire.OrderStateReleased:
			return fmt.Errorf("station: order %q is %s, not released", orderID, o.State)
		case alarms > 0:
			return fmt.Errorf("station: start %q: %w (acknowledge it once cleared)", orderID, ErrAlarm)
		case s.run != nil && s.run.id == orderID && s.run.complete:
			return fmt.Errorf("station: start %q: %w: %d of %d commissioned; close it", orderID, ErrComplete, s.run.good, s.run.quantity)
		}
		if err := shelfLife(o, s.cfg.Now(), o.MinShelfLifeDays); err != nil {
			return fmt.Errorf("station: start refused: %w", err)
		}
		if s.tpl == nil || s.tpl.order.ID != orderID {
			tpl, err := newTemplate(o, s.cfg.TextLines, s.cfg.MinGrade)
			if err != nil {
				return fmt.Errorf("station: %w", err)
			}
			if err := s.pool.Activate(orderID); err != nil {
				return fmt.Errorf("station: %w", err)
			}
			s.tpl = tpl
			// Labels printed before a crash may still go on units: known,
			// they are taken for late labels (a shift), not faults.
			for _, sn := range s.pool.RecoveredSerials(orderID) {
				s.recent.add(append(append(make([]byte, 0, maxData), tpl.prefix...), sn...))
			}
		}
		if err := s.govern(o); err != nil {
			return err
		}
		if !s.started[orderID] {
			if l, err := s.pool.Level(orderID); err == nil && !l.Started {
				if err := s.out.Append(wire.Event{Type: wire.OrderStarted, At: time.Now(), Order: o.ID, GTIN: o.GTIN, Lot: o.Lot, Expiry: o.Expiry, Operator: s.operator}); err != nil {
					return fmt.Errorf("station: %w", err)
				}
			}
			s.started[orderID] = true
		}
		s.mu.Lock()
		s.order = &o
		s.mu.Unlock()
		if l, err := s.pool.Level(orderID); err == nil && l.Available == 0 {
			// Raised before the line runs, it clears by itself when the
			// grant arrives, and the line then starts.
			s.raise("serials", AlarmSerialsWaiting, fmt.Sprintf("waiting for the first serials of order %q from central", orderID), true)
		}
		s.want = wire.LineRunning
		s.applyState()
		s.log.Info("line started", "order", orderID)
		return nil
	})
}

// Pause stops the conveyor; Start resumes the same order.
func (s *Station) Pause(ctx context.Context) error {
	return s.do(ctx, func() error {
		if s.want == wire.LineRunning {
			s.want = wire.LinePaused
		}
		s.applyState()
		return nil
	})
}

// Stop stops the line.
func (s *Station) Stop(ctx context.Context) error {
	return s.do(ctx, func() error {
		s.want = wire.LineStopped
		s.applyState()
		return nil
	})
}

// ErrRole is returned by AcknowledgeAs when an alarm needs a higher role.
var ErrRole = errors.New("needs a higher role")

// Acknowledge acknowledges every alarm, with every right (a program's
// acknowledgement; the touchscreen uses AcknowledgeAs).
func (s *Station) Acknowledge(ctx context.Context) error {
	return s.AcknowledgeAs(ctx, "", RoleQA)
}

// AcknowledgeAs acknowledges, on behalf of who (of role), the alarms that
// role may acknowledge: those whose cause has cleared go, the PLC's latched
// alarms are reset, and production resumes if nothing is left and the
// operator had the line running. Alarms that need a higher role stay, and
// the error (ErrRole) names them.
func (s *Station) AcknowledgeAs(ctx context.Context, who string, role Role) error {
	return s.do(ctx, func() error {
		now := time.Now()
		var refused []string
		qualityAcked := false
		s.mu.Lock()
		kept := s.alarms[:0]
		for _, a := range s.alarms {
			if !role.May(a.AckRole) {
				if !a.Acked {
					refused = append(refused, fmt.Sprintf("%s needs %s", a.Code, a.AckRole))
				}
				kept = append(kept, a)
				continue
			}
			if !a.Acked {
				s.recordLocked(a.ID, func(r *AlarmRecord) { r.Acked, r.AckedBy = now, who })
			}
			a.Acked = true
			if a.Device == "quality" {
				qualityAcked = true
			}
			if a.Active {
				kept = append(kept, a)
			}
		}
		s.alarms = kept
		s.notifyLocked()
		s.mu.Unlock()
		if qualityAcked {
			s.qual.reset()
		}
		s.resetPLC = true
		s.applyState()
		if len(refused) > 0 {
			return fmt.Errorf("station: acknowledge: %w: %s", ErrRole, strings.Join(refused, "; "))
		}
		return nil
	})
}

// Release ends the station's use of the current order before it is
// closed: the line must not be running. Its units still in flight become
// untracked (rejected if seen); their serials have no fate, so the pool
// voids them when the order closes. It returns the order's id.
func (s *Station) Release(ctx context.Context) (string, error) {
	var id string
	err := s.do(ctx, func() error {
		if s.want == wire.LineRunning && s.state == wire.LineRunning {
			return fmt.Errorf("station: release order: %w; stop it first", ErrRunning)
		}
		if s.tpl == nil {
			return errors.New("station: release order: no order")
		}
		id = s.releaseLocked()
		return nil
	})
	return id, err
}

// ReleaseNow stops the line and releases its order in one step on the run
// loop, whatever it is doing: central closed the order. It returns the
// released order's id, or "" when the line ran another order or none.
func (s *Station) ReleaseNow(ctx context.Context, orderID string) (string, error) {
	var id string
	err := s.do(ctx, func() error {
		if s.tpl == nil || s.tpl.order.ID != orderID {
			return nil
		}
		s.want = wire.LineStopped
		s.applyState()
		id = s.releaseLocked()
		return nil
	})
	return id, err
}

// releaseLocked drops the current order (run loop).
func (s *Station) releaseLocked() string {
	id := s.tpl.order.ID
	for i := range s.fifo.len() {
		if sl := s.fifo.at(i); sl.kind == printed && sl.tpl.order.ID == id {
			sl.kind, sl.tpl = ghost, nil
		}
	}
	s.tpl, s.run = nil, nil
	s.want = wire.LineStopped
	s.mu.Lock()
	s.order, s.prod = nil, nil
	s.mu.Unlock()
	// The order's own alarms go with it.
	for _, dev := range []string{"serials", "allowance", "expiry"} {
		s.clear(dev)
	}
	s.applyState()
	return id
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

// applyState derives the line state from the operator's request and the
// alarms, and drives the PLC's run request and stack light accordingly.
func (s *Station) applyState() {
	s.mu.Lock()
	st := s.want
	if len(s.alarms) > 0 {
		st = wire.LineAlarm
	}
	s.wantCopy = s.want
	s.mu.Unlock()
	s.setState(st)
}

func (s *Station) setState(st wire.LineState) {
	s.mu.Lock()
	changed := s.state != st
	s.state = st
	if changed {
		s.notifyLocked()
	}
	s.mu.Unlock()
	if changed {
		s.log.Info("line state", "state", st)
	}
	out := outputState{run: st == wire.LineRunning, reset: s.resetPLC}
	s.resetPLC = false
	switch st {
	case wire.LineRunning:
		out.light = plc.StackGreen
	case wire.LineAlarm:
		out.light = plc.StackRed | plc.StackBlink
	case wire.LinePaused:
		out.light = plc.StackAmber
	default:
		out.light = plc.StackAmber | plc.StackBlink
	}
	select {
	case old := <-s.outputs:
		out.reset = out.reset || old.reset
	default:
	}
	s.outputs <- out
}

// outputState is what the PLC should be told.
type outputState struct {
	run   bool
	light plc.StackLight
	reset bool
}

// actuator keeps the PLC's run request and stack light as the station
// wants them, re-applying them every MonitorEvery (a restarted PLC forgets
// them), and resets the PLC's latched alarms when asked.
func (s *Station) actuator(ctx context.Context) {
	var cur outputState
	have := false
	t := time.NewTicker(s.actuatorEvery())
	defer t.Stop()
	apply := func(ctx context.Context) {
		s.beat(ctx) // first: a reset of the PLC's edge-watchdog alarm needs it
		if !have {
			return
		}
		if cur.reset {
			if err := s.plc.ResetAlarms(ctx); err == nil {
				cur.reset = false
			}
		}
		if err := s.plc.SetRun(ctx, cur.run); err != nil {
			s.log.Debug("plc run request not written", "run", cur.run, "err", err)
		}
		if err := s.plc.SetStackLight(ctx, cur.light); err != nil {
			s.log.Debug("plc stack light not written", "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			// Leave the line stopped behind us.
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			cur, have = outputState{run: false, light: plc.StackOff}, true
			apply(sctx)
			s.standDown(sctx)
			cancel()
			return
		case o := <-s.outputs:
			o.reset = o.reset || cur.reset
			cur, have = o, true
		case <-t.C:
		}
		apply(ctx)
	}
}

// healthReport is one round of device checks, or a latched note.
type healthReport struct {
	devices map[string]error // nil error: healthy
	latch   *alarmNote
	ext     *external // a fault reported from outside (external.go)
	moving  bool      // the PLC said the conveyor runs
	at      int64     // when (unix ns)
}

type alarmNote struct {
	device string
	code   AlarmCode
	fault  string
}

// monitor checks the devices every MonitorEvery and reports to the run
// loop, which raises and clears the alarms.
func (s *Station) monitor(ctx context.Context) {
	t := time.NewTicker(s.cfg.MonitorEvery)
	defer t.Stop()
	var lastPrinter time.Time
	printerBad := true // ask at once
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := healthReport{devices: map[string]error{}}
		cctx, cancel := context.WithTimeout(ctx, max(s.cfg.MonitorEvery, time.Second))
		h.at = time.Now().UnixNano()
		h.moving, _ = s.plc.Running(cctx)
		a, err := s.plc.Alarms(cctx)
		switch {
		case err != nil:
			h.devices["plc"] = err
		case a&(plc.AlarmStopsLine|plc.AlarmRejectMissed) != 0:
			h.devices["plc"] = plcAlarmError{word: a}
		default:
			h.devices["plc"] = s.plcAlive(cctx)
		}
		if st := s.scn.Stats(); !st.Connected {
			msg := "scanner not connected"
			if st.LastLinkError != "" {
				msg += ": " + st.LastLinkError
			}
			h.devices["scanner"] = errors.New(msg)
		} else {
			h.devices["scanner"] = nil
		}
		if printerBad || time.Since(lastPrinter) >= s.cfg.PrinterPoll {
			_, err := s.prn.Status(cctx)
			lastPrinter = time.Now()
			printerBad = err != nil
			h.devices["printer"] = err
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.report(h)
	}
}

// onHealth turns a health report into alarms (run loop).
func (s *Station) onHealth(h healthReport) {
	if h.latch != nil {
		s.raise(h.latch.device, h.latch.code, h.latch.fault, false)
		return
	}
	if h.ext != nil {
		s.onExternal(*h.ext)
		return
	}
	if h.moving {
		s.tMoving = h.at
	}
	s.expire(time.Now().UnixNano())
	now := time.Now()
	for dev, err := range h.devices {
		hl := wire.DeviceHealth{State: wire.DeviceOK}
		if err != nil {
			hl = wire.DeviceHealth{State: wire.DeviceFault, Detail: trim(err.Error())}
			if strings.Contains(err.Error(), "not connected") {
				hl.State = wire.DeviceDisconnected
			}
		}
		s.mu.Lock()
		if old, ok := s.devices[dev]; ok && old.State == hl.State && old.Detail == hl.Detail {
			hl.Since = old.Since
		} else {
			hl.Since = now
			s.notifyLocked()
		}
		s.devices[dev] = hl
		s.mu.Unlock()
		if err != nil {
			s.raise(dev, deviceCode(dev, err), err.Error(), true)
		} else {
			s.clear(dev)
		}
	}
	if h.devices != nil && s.tpl != nil {
		s.checkOrder(now)
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

// trim keeps device details within the status payload's limits.
func trim(s string) string {
	if len(s) > 200 {
		return strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
