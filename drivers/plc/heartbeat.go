package plc

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/simonvetter/modbus"
)

// ErrPLCHeartbeatStopped is returned (wrapped, with the register, the
// value and for how long) by PLCHeartbeat when the PLC's heartbeat has not
// changed for PLCHeartbeatTimeout: its program is not running its cycle.
var ErrPLCHeartbeatStopped = errors.New("PLC heartbeat stopped")

// heartbeat is the driver's side of the two-way watchdog.
type heartbeat struct {
	mu    sync.Mutex
	edge  uint16    // last value written to edge_heartbeat
	wrote time.Time // when
	plc   uint16    // last value read from plc_heartbeat
	at    time.Time // when it last changed
	known bool      // plc and at are a baseline
	link  int       // the connection the baseline was read on
	read  time.Time // the last reading, and its verdict
	last  error
}

// HeartbeatInterval is how often, at least, Heartbeat must be called; 0
// with NoHeartbeat.
func (p *PLC) HeartbeatInterval() time.Duration {
	if p.cfg.NoHeartbeat {
		return 0
	}
	return p.cfg.HeartbeatInterval
}

// Heartbeat writes the next value of the edge's heartbeat (1, 2 … 65535,
// 1 …: never 0, which means StandDown). The PLC program stops the line
// when the value has not changed for its watchdog time. The caller calls
// it at least every HeartbeatInterval from the loop that keeps the PLC's
// outputs, so that a stuck or dead agent stops the line; it writes only
// once half an interval has passed since its last write, so that a fast
// loop does not load the Modbus link (the writes stay at most an interval
// apart).
func (p *PLC) Heartbeat(ctx context.Context) error {
	if p.cfg.NoHeartbeat {
		return nil
	}
	p.hb.mu.Lock()
	if !p.hb.wrote.IsZero() && time.Since(p.hb.wrote) < p.cfg.HeartbeatInterval/2 {
		p.hb.mu.Unlock()
		return nil
	}
	next := p.hb.edge + 1
	if next == 0 {
		next = 1
	}
	p.hb.mu.Unlock()
	err := p.do(ctx, "write", KeyEdgeHeartbeat, func(c *modbus.ModbusClient) error {
		return c.WriteRegister(p.cfg.Map.EdgeHeartbeat, next)
	})
	if err == nil {
		p.hb.mu.Lock()
		p.hb.edge, p.hb.wrote = next, time.Now()
		p.hb.mu.Unlock()
	}
	return err
}

// StandDown writes 0 to the edge's heartbeat: the edge leaves on purpose.
// The PLC program drops the run request and disarms its watchdog (no
// alarm); the next Heartbeat arms it again.
func (p *PLC) StandDown(ctx context.Context) error {
	if p.cfg.NoHeartbeat {
		return nil
	}
	err := p.do(ctx, "write", KeyEdgeHeartbeat, func(c *modbus.ModbusClient) error {
		return c.WriteRegister(p.cfg.Map.EdgeHeartbeat, 0)
	})
	if err == nil {
		p.hb.mu.Lock()
		p.hb.edge, p.hb.wrote = 0, time.Time{} // the next Heartbeat writes at once
		p.hb.mu.Unlock()
	}
	return err
}

// PLCHeartbeat reads the PLC's heartbeat and reports a wrapped
// ErrPLCHeartbeatStopped when it has not changed for PLCHeartbeatTimeout
// (counted from the first read on the current connection), or the read's
// error. Call it regularly; it reads at most every eighth of the timeout
// and answers the last verdict in between.
func (p *PLC) PLCHeartbeat(ctx context.Context) error {
	if p.cfg.NoHeartbeat {
		return nil
	}
	p.hb.mu.Lock()
	if !p.hb.read.IsZero() && time.Since(p.hb.read) < p.cfg.PLCHeartbeatTimeout/8 {
		defer p.hb.mu.Unlock()
		return p.hb.last
	}
	p.hb.mu.Unlock()
	var v uint16
	err := p.do(ctx, "read", KeyPLCHeartbeat, func(c *modbus.ModbusClient) (err error) {
		v, err = c.ReadRegister(p.cfg.Map.PLCHeartbeat, regType(p.cfg.Map.CounterTable))
		return err
	})
	if err != nil {
		return err
	}
	p.linkMu.Lock()
	link := p.connects
	p.linkMu.Unlock()
	now := time.Now()
	p.hb.mu.Lock()
	defer p.hb.mu.Unlock()
	p.hb.read, p.hb.last = now, nil
	switch {
	case !p.hb.known || p.hb.link != link || v != p.hb.plc:
		p.hb.plc, p.hb.at, p.hb.known, p.hb.link = v, now, true, link
	case now.Sub(p.hb.at) >= p.cfg.PLCHeartbeatTimeout:
		// The same text while it lasts: the station keeps one alarm for it.
		p.hb.last = p.errorf("%w: %s unchanged at %d for %v or more: the PLC program is not running its cycle (CPU in STOP or faulted?)",
			ErrPLCHeartbeatStopped, p.item(KeyPLCHeartbeat), v, p.cfg.PLCHeartbeatTimeout)
	}
	return p.hb.last
}
