package plc

import (
	"context"
	"fmt"
	"time"

	"github.com/simonvetter/modbus"
)

func regType(t Table) modbus.RegType {
	if t == InputRegisters {
		return modbus.INPUT_REGISTER
	}
	return modbus.HOLDING_REGISTER
}

func readUint32(c *modbus.ModbusClient, m RegisterMap, t Table, addr uint16) (uint32, error) {
	regs, err := c.ReadRegisters(addr, 2, regType(t))
	if err != nil {
		return 0, err
	}
	return m.WordOrder.Uint32(regs), nil
}

func readBit(c *modbus.ModbusClient, t Table, addr uint16) (bool, error) {
	if t == DiscreteInputs {
		return c.ReadDiscreteInput(addr)
	}
	return c.ReadCoil(addr)
}

// TriggerCount reads the product-trigger counter.
func (p *PLC) TriggerCount(ctx context.Context) (uint32, error) {
	var v uint32
	err := p.do(ctx, "read", KeyTriggerCounter, func(c *modbus.ModbusClient) (err error) {
		v, err = readUint32(c, p.cfg.Map, p.cfg.Map.CounterTable, p.cfg.Map.TriggerCounter)
		return err
	})
	return v, err
}

// Running reports whether the conveyor runs.
func (p *PLC) Running(ctx context.Context) (bool, error) {
	var v bool
	err := p.do(ctx, "read", KeyRunning, func(c *modbus.ModbusClient) (err error) {
		v, err = readBit(c, p.cfg.Map.RunningTable, p.cfg.Map.Running)
		return err
	})
	return v, err
}

// Alarms reads the alarm word.
func (p *PLC) Alarms(ctx context.Context) (AlarmWord, error) {
	var v uint16
	err := p.do(ctx, "read", KeyAlarms, func(c *modbus.ModbusClient) (err error) {
		v, err = c.ReadRegister(p.cfg.Map.Alarms, modbus.HOLDING_REGISTER)
		return err
	})
	return AlarmWord(v), err
}

// ResetAlarms writes 0 to the alarm word: the PLC clears every alarm whose
// cause has gone and keeps the others.
func (p *PLC) ResetAlarms(ctx context.Context) error {
	return p.do(ctx, "reset", KeyAlarms, func(c *modbus.ModbusClient) error {
		return c.WriteRegister(p.cfg.Map.Alarms, 0)
	})
}

// SetStackLight writes the stack-light register.
func (p *PLC) SetStackLight(ctx context.Context, s StackLight) error {
	if err := s.Validate(); err != nil {
		return p.errorf("set stack light: %w", err)
	}
	return p.do(ctx, "write", KeyStackLight, func(c *modbus.ModbusClient) error {
		return c.WriteRegister(p.cfg.Map.StackLight, uint16(s))
	})
}

// SetRun writes the run-request coil: true asks the PLC to run the line,
// false to stop it.
func (p *PLC) SetRun(ctx context.Context, run bool) error {
	return p.do(ctx, "write", KeyRunRequest, func(c *modbus.ModbusClient) error {
		return c.WriteCoil(p.cfg.Map.RunRequest, run)
	})
}

// Counters reads the PLC's good and rejected counters (in one request when
// they are adjacent, so the pair is consistent).
func (p *PLC) Counters(ctx context.Context) (good, rejected uint32, err error) {
	m := p.cfg.Map
	err = p.do(ctx, "read", "counters", func(c *modbus.ModbusClient) error {
		if m.RejectedCounter == m.GoodCounter+2 {
			regs, err := c.ReadRegisters(m.GoodCounter, 4, regType(m.CounterTable))
			if err != nil {
				return err
			}
			good, rejected = m.WordOrder.Uint32(regs[0:2]), m.WordOrder.Uint32(regs[2:4])
			return nil
		}
		if good, err = readUint32(c, m, m.CounterTable, m.GoodCounter); err != nil {
			return err
		}
		rejected, err = readUint32(c, m, m.CounterTable, m.RejectedCounter)
		return err
	})
	return good, rejected, err
}

// Reject asks the PLC to reject the unit with trigger number unit when it
// reaches the reject station: it writes the number into the reject-target
// registers, sets the reject-request coil and waits (up to Timeout) for the
// PLC to latch the request and clear the coil. A PLC that does not clear it
// yields ErrRejectNotAcknowledged. The PLC raises AlarmRejectMissed when the
// unit is no longer on the conveyor.
func (p *PLC) Reject(ctx context.Context, unit uint32) error {
	p.rejectMu.Lock()
	defer p.rejectMu.Unlock()
	// A request still pending from an earlier call must be taken first, or
	// the PLC could latch the new target under the old request.
	if err := p.awaitRejectAck(ctx, unit, "previous request still pending"); err != nil {
		return err
	}
	regs := p.cfg.Map.WordOrder.Registers(unit)
	if err := p.do(ctx, fmt.Sprintf("reject unit %d: write", unit), KeyRejectTarget, func(c *modbus.ModbusClient) error {
		return c.WriteRegisters(p.cfg.Map.RejectTarget, regs[:])
	}); err != nil {
		return err
	}
	if err := p.do(ctx, fmt.Sprintf("reject unit %d: set", unit), KeyRejectRequest, func(c *modbus.ModbusClient) error {
		return c.WriteCoil(p.cfg.Map.RejectRequest, true)
	}); err != nil {
		return err
	}
	return p.awaitRejectAck(ctx, unit, "coil not cleared")
}

// awaitRejectAck polls the reject-request coil until the PLC has cleared it.
func (p *PLC) awaitRejectAck(ctx context.Context, unit uint32, why string) error {
	verb := fmt.Sprintf("reject unit %d: read", unit)
	deadline := time.Now().Add(p.cfg.Timeout)
	every := min(max(p.cfg.PollInterval/4, time.Millisecond), 20*time.Millisecond)
	for {
		var pending bool
		if err := p.do(ctx, verb, KeyRejectRequest, func(c *modbus.ModbusClient) (err error) {
			pending, err = c.ReadCoil(p.cfg.Map.RejectRequest)
			return err
		}); err != nil {
			return err
		}
		if !pending {
			return nil
		}
		if time.Now().After(deadline) {
			return p.errorf("reject unit %d: %w within %v (%s)", unit, ErrRejectNotAcknowledged, p.cfg.Timeout, why)
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return p.errorf("reject unit %d: %w", unit, ctx.Err())
		case <-p.done:
			t.Stop()
			return p.errorf("reject unit %d: %w", unit, ErrClosed)
		case <-t.C:
		}
	}
}
