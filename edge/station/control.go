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

// StartLine runs order (one of the released orders): its label template is
// built, the pool serves its serials and the line starts. The first start
// of an order records order-started.
func (s *Station) StartLine(ctx context.Context, orderID string) error {
	return s.StartLineAs(ctx, orderID, "")
}

// ErrComplete is returned by StartLine for an order whose quantity is made.
var ErrComplete = errors.New("the order is complete")

// StartLineAs is StartLine by operator (the one signed in at the touchscreen):
// the events of the units made from now on carry that name. An empty
// operator keeps the current one (initially Config.Operator).
//
// The order must be released, within its shelf life (line PC clock), not
// complete, and no alarm may be active.
func (s *Station) StartLineAs(ctx context.Context, orderID, operator string) error {
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

// Pause stops the conveyor; StartLine resumes the same order.
func (s *Station) Pause(ctx context.Context) error {
	return s.do(ctx, func() error {
		if s.want == wire.LineRunning {
			s.want = wire.LinePaused
		}
		s.applyState()
		return nil
	})
}

// StopLine stops the line.
func (s *Station) StopLine(ctx context.Context) error {
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
			// Counting starts afresh with the units printed from now on:
			// those in flight were made under the acknowledged fault.
			s.qual.reset()
			s.qualFrom = s.last
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
