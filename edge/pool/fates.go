package pool

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/wire"
)

// DuplicateFates counts fates recorded for a position that already had
// one: always 0 unless something upstream is wrong.
func (p *Pool) DuplicateFates() uint64 { return p.dups.Load() }

// fateDelta is what one commit adds to an order's memory state.
type fateDelta struct {
	counts   wire.Reconciliation
	fatedLo  uint64
	started  bool
	closed   bool
	extended uint64
}

// RecordFates is the outbox's commit hook: inside the transaction that
// makes evs durable it records the fate of every unit event that carries a
// counter of one of our orders, and the order's counts, so that a fate is
// durable exactly when its event is. Events of unknown orders are ignored.
func (p *Pool) RecordFates(tx *bolt.Tx, evs []wire.Event) error {
	deltas := map[*order]*fateDelta{}
	for i := range evs {
		ev := &evs[i]
		p.mu.Lock()
		o := p.orders[ev.Order]
		p.mu.Unlock()
		if o == nil {
			continue
		}
		b := p.orderBucket(tx, o.id)
		if b == nil {
			continue
		}
		d := deltas[o]
		if d == nil {
			d = &fateDelta{}
			deltas[o] = d
		}
		switch ev.Type {
		case wire.Commissioned, wire.Decommissioned, wire.Voided:
			if ev.Counter == nil {
				continue
			}
			p.mu.Lock()
			pos, ok := o.position(*ev.Counter)
			p.mu.Unlock()
			if !ok {
				p.log.Error("fate for a counter this order was never granted", "order", o.id, "counter", *ev.Counter, "type", ev.Type)
				continue
			}
			dup, lo, err := markFated(b, pos)
			if err != nil {
				return err
			}
			if dup {
				p.dups.Add(1)
				p.log.Error("second fate for one serial: not counted", "order", o.id, "position", pos, "serial", ev.Serial, "type", ev.Type)
				continue
			}
			d.fatedLo = max(d.fatedLo, lo)
			switch ev.Type {
			case wire.Commissioned:
				d.counts.Commissioned++
			case wire.Voided:
				d.counts.Voided++
			default:
				if d.counts.Decommissioned == nil {
					d.counts.Decommissioned = map[wire.Reason]uint64{}
				}
				d.counts.Decommissioned[ev.Reason]++
			}
		case wire.SerialsReturned:
			for _, r := range ev.Ranges {
				d.counts.ReturnedUnused += r.Count
			}
		case wire.OrderStarted:
			d.started = true
		case wire.OrderClosed:
			d.closed = true
		case wire.AllowanceExtended:
			d.extended += ev.Allowance
		}
	}
	for o, d := range deltas {
		if err := p.saveDelta(tx, o, d); err != nil {
			return err
		}
	}
	return nil
}

// saveDelta writes one order's delta into its bucket in tx and, once tx
// commits, into the order's memory state.
func (p *Pool) saveDelta(tx *bolt.Tx, o *order, d *fateDelta) error {
	b := p.orderBucket(tx, o.id)
	var c wire.Reconciliation
	if v := b.Get(keyCounts); v != nil {
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("pool: order %q: counts: %w", o.id, err)
		}
	}
	addCounts(&c, d.counts)
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := b.Put(keyCounts, v); err != nil {
		return err
	}
	if d.extended > 0 {
		if err := b.Put(keyAllowExt, u64(getU64(b, keyAllowExt)+d.extended)); err != nil {
			return err
		}
	}
	if d.started || d.closed {
		st, err := b.CreateBucketIfNotExists(keyState)
		if err != nil {
			return err
		}
		if d.started {
			if err := st.Put(stateStarted, []byte{1}); err != nil {
				return err
			}
		}
		if d.closed {
			if err := st.Put(stateClosed, []byte{1}); err != nil {
				return err
			}
		}
	}
	tx.OnCommit(func() {
		p.mu.Lock()
		addCounts(&o.counts, d.counts)
		o.fatedLo = max(o.fatedLo, d.fatedLo)
		o.allowExt += d.extended
		o.started = o.started || d.started
		if d.closed {
			o.closed = true
			o.pending = nil
			if p.active == o {
				p.active = nil
			}
		}
		p.notifyLocked()
		p.mu.Unlock()
	})
	return nil
}

// markFated records pos as fated in b and returns whether it already was,
// and the new fated-low mark.
func markFated(b *bolt.Bucket, pos uint64) (dup bool, lo uint64, err error) {
	lo = getU64(b, keyFatedLo)
	set, err := b.CreateBucketIfNotExists(bktFated)
	if err != nil {
		return false, 0, err
	}
	if pos < lo || set.Get(u64(pos)) != nil {
		return true, lo, nil
	}
	if pos != lo {
		return false, lo, set.Put(u64(pos), []byte{1})
	}
	lo++
	for set.Get(u64(lo)) != nil {
		if err := set.Delete(u64(lo)); err != nil {
			return false, 0, err
		}
		lo++
	}
	return false, lo, b.Put(keyFatedLo, u64(lo))
}

func addCounts(c *wire.Reconciliation, d wire.Reconciliation) {
	c.Granted += d.Granted
	c.Commissioned += d.Commissioned
	c.Voided += d.Voided
	c.ReturnedUnused += d.ReturnedUnused
	for r, n := range d.Decommissioned {
		if c.Decommissioned == nil {
			c.Decommissioned = map[wire.Reason]uint64{}
		}
		c.Decommissioned[r] += n
	}
}
