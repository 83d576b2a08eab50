package plc

import (
	"context"
	"errors"
	"time"

	"github.com/simonvetter/modbus"
)

// Triggers polls the trigger counter every PollInterval and sends every new
// trigger number to out, in order and without gaps: a counter step of N
// sends N numbers, and the counter wraps from 2^32-1 to 0. The first number
// sent follows the counter value read by the first successful Connect, so
// units that passed before the edge started are not reported. Triggers that
// happen while the link is down are sent after it comes back.
//
// Triggers connects if needed and, on a lost link, reconnects with the
// Reconnect backoff; Link reports each change. A step larger than
// MaxTriggerJump (a PLC restart resetting its counter) is logged and taken
// as the new baseline.
//
// It returns nil when ctx ends, ErrClosed after Close, and an error if
// another Triggers is already running on p. Sending blocks when out is full:
// the counter keeps the count, so nothing is lost, only delayed.
func (p *PLC) Triggers(ctx context.Context, out chan<- uint32) error {
	if !p.polling.CompareAndSwap(false, true) {
		return p.errorf("triggers: already running")
	}
	defer p.polling.Store(false)

	tick := time.NewTicker(p.cfg.PollInterval)
	defer tick.Stop()
	failures := 0
	for {
		err := p.pollOnce(ctx, out)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrClosed):
			return err
		case err != nil:
			if failures == 0 {
				p.log.Warn("plc trigger poll failed; retrying with backoff", "err", err)
			} else {
				p.log.Debug("plc trigger poll failed", "attempt", failures, "err", err)
			}
			if !p.wait(ctx, p.cfg.Reconnect.Delay(failures)) {
				return p.stopReason(ctx)
			}
			failures++
			continue
		}
		failures = 0
		select {
		case <-ctx.Done():
			return nil
		case <-p.done:
			return p.errorf("triggers: %w", ErrClosed)
		case <-tick.C:
		}
	}
}

// pollOnce connects if needed, reads the counter and delivers the new
// trigger numbers.
func (p *PLC) pollOnce(ctx context.Context, out chan<- uint32) error {
	p.mu.Lock()
	connected := p.client != nil
	p.mu.Unlock()
	if !connected {
		if err := p.Connect(ctx); err != nil {
			return err
		}
	}
	var count uint32
	err := p.do(ctx, "poll", KeyTriggerCounter, func(c *modbus.ModbusClient) (err error) {
		count, err = readUint32(c, p.cfg.Map, p.cfg.Map.CounterTable, p.cfg.Map.TriggerCounter)
		return err
	})
	if err != nil {
		return err
	}
	p.stats.polls.Add(1)

	p.mu.Lock()
	last := p.last
	p.mu.Unlock()
	step := count - last // modular: handles the wrap at 2^32
	if step == 0 {
		return nil
	}
	if step > p.cfg.MaxTriggerJump {
		p.log.Warn("plc trigger counter jumped; taking it for a counter reset, not for products",
			"from", last, "to", count, "max_trigger_jump", p.cfg.MaxTriggerJump)
		p.setLast(count)
		p.stats.resets.Add(1)
		return nil
	}
	for i := uint32(1); i <= step; i++ {
		n := last + i
		select {
		case out <- n:
			p.setLast(n) // per unit, so a stop mid-batch neither loses nor repeats one
			p.stats.triggers.Add(1)
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return p.errorf("triggers: %w", ErrClosed)
		}
	}
	return nil
}

func (p *PLC) setLast(n uint32) {
	p.mu.Lock()
	p.last, p.based = n, true
	p.mu.Unlock()
}

// wait sleeps d unless ctx ends or p closes; it reports whether to go on.
func (p *PLC) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-p.done:
		return false
	case <-t.C:
		return true
	}
}

func (p *PLC) stopReason(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	return p.errorf("triggers: %w", ErrClosed)
}

// Stats counts what Triggers has done, for metrics and tests.
type Stats struct {
	Polls         uint64 // successful counter reads
	Triggers      uint64 // trigger numbers delivered
	CounterResets uint64 // steps beyond MaxTriggerJump taken as a new baseline
}

// Stats returns the counts so far.
func (p *PLC) Stats() Stats {
	return Stats{
		Polls:         p.stats.polls.Load(),
		Triggers:      p.stats.triggers.Load(),
		CounterResets: p.stats.resets.Load(),
	}
}
