package pool

import (
	"encoding/json"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/wire"
)

// AddOrder makes the pool know a work order (from central's orders topic).
// It is durable. For an order already known it takes what central may
// change while the order runs (reject allowance, minimum shelf life,
// product name, minimum grade); what is printed (GTIN, lot, expiry,
// national numbers) and the quantity stay as first received.
func (p *Pool) AddOrder(wo wire.Order) error {
	if err := wo.Validate(); err != nil {
		return fmt.Errorf("pool: order %q: %w", wo.ID, err)
	}
	p.mu.Lock()
	if o, ok := p.orders[wo.ID]; ok {
		upd := o.o
		upd.RejectAllowance, upd.MinShelfLifeDays, upd.Product, upd.MinGrade = wo.RejectAllowance, wo.MinShelfLifeDays, wo.Product, wo.MinGrade
		same := upd.RejectAllowance == o.o.RejectAllowance && upd.MinShelfLifeDays == o.o.MinShelfLifeDays &&
			upd.Product == o.o.Product && upd.MinGrade == o.o.MinGrade
		p.mu.Unlock()
		if same {
			return nil
		}
		return p.updateOrder(upd)
	}
	p.mu.Unlock()
	rec, err := json.Marshal(wo)
	if err != nil {
		return err
	}
	err = p.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bktPool).CreateBucketIfNotExists([]byte(wo.ID))
		if err != nil {
			return err
		}
		if b.Get(keyOrder) != nil {
			return nil
		}
		if err := b.Put(keyAllowBase, u64(wo.RejectAllowance)); err != nil {
			return err
		}
		return b.Put(keyOrder, rec)
	})
	if err != nil {
		return fmt.Errorf("pool: order %q: %w", wo.ID, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.orders[wo.ID]; !ok {
		p.orders[wo.ID] = &order{id: wo.ID, o: wo, allowBase: wo.RejectAllowance}
		p.notifyLocked()
	}
	return nil
}

// updateOrder stores an order's new record.
func (p *Pool) updateOrder(wo wire.Order) error {
	rec, err := json.Marshal(wo)
	if err != nil {
		return err
	}
	err = p.db.Update(func(tx *bolt.Tx) error {
		b := p.orderBucket(tx, wo.ID)
		if b == nil {
			return ErrNoOrder
		}
		return b.Put(keyOrder, rec)
	})
	if err != nil {
		return fmt.Errorf("pool: order %q: %w", wo.ID, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if o, ok := p.orders[wo.ID]; ok {
		o.o = wo
		p.notifyLocked()
	}
	p.wake()
	return nil
}

// allowance is the order's reject allowance: central's, or the first one
// central sent plus this line's extensions, whichever is larger (central's
// includes the extensions once it has applied them).
func (o *order) allowance() uint64 {
	return max(o.o.RejectAllowance, o.allowBase+o.allowExt)
}

// need is how many more serials the order can use: the quantity still to
// commission and the rejects the allowance still permits, less what the
// pool holds and what is taken and not yet fated. Without an allowance
// (an older central) it is unbounded.
func (o *order) need() (uint64, bool) {
	a := o.allowance()
	if a == 0 {
		return 0, false
	}
	c, d := o.counts.Commissioned, o.counts.DecommissionedTotal()
	want := sub(o.o.Quantity, c) + sub(a, d)
	fated := c + d + o.counts.Voided
	held := sub(o.total, o.next) + sub(o.next, fated)
	return sub(want, held), true
}

func sub(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

// Level is an order's stock.
type Level struct {
	Order     string
	Granted   uint64  // positions granted in total
	Taken     uint64  // positions handed out (or lost in a crash)
	Available uint64  // granted, not yet taken
	Reserved  uint64  // durable reserved mark
	FatedLow  uint64  // lowest position without a recorded fate
	Rate      float64 // units/min used for the estimate
	// MinutesLeft is Available at Rate.
	MinutesLeft float64
	// Pending is the id of the request awaiting its grant, if any.
	Pending      string
	PendingCount uint64
	// Refused is central's last refusal, if any.
	Refused string
	// Allowance is the order's reject allowance (0: central sent none);
	// Extended the part of it extended at this line.
	Allowance, Extended uint64
	// Need is how many more serials the order can use (quantity and
	// allowance left, less what the pool holds); NeedKnown is false
	// without an allowance.
	Need      uint64
	NeedKnown bool
	Started   bool
	Closed    bool
	Counts    wire.Reconciliation
}

// Level returns an order's stock.
func (p *Pool) Level(orderID string) (Level, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.orders[orderID]
	if !ok {
		return Level{}, fmt.Errorf("pool: order %q: %w", orderID, ErrNoOrder)
	}
	return p.levelLocked(o), nil
}

// Active returns the active order's id, or "".
func (p *Pool) Active() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.active == nil {
		return ""
	}
	return p.active.id
}

// Orders lists the orders the pool knows that are not closed, so that a
// line can go on producing while central is unreachable.
func (p *Pool) Orders() []wire.Order {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]wire.Order, 0, len(p.orders))
	for _, o := range p.orders {
		if !o.closed {
			out = append(out, o.o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Order returns what central said about an order.
func (p *Pool) Order(orderID string) (wire.Order, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.orders[orderID]
	if !ok {
		return wire.Order{}, false
	}
	return o.o, true
}

func (p *Pool) levelLocked(o *order) Level {
	rate := o.rate.perMinute(p.now(), p.cfg.NominalRate)
	l := Level{
		Order: o.id, Granted: o.total, Taken: o.next, Reserved: o.resv, FatedLow: o.fatedLo,
		Rate: rate, Refused: o.refused, Started: o.started, Closed: o.closed,
		Counts: copyCounts(o.counts), Allowance: o.allowance(), Extended: o.allowExt,
	}
	l.Need, l.NeedKnown = o.need()
	if o.total > o.next {
		l.Available = o.total - o.next
	}
	l.MinutesLeft = float64(l.Available) / rate
	if o.pending != nil {
		l.Pending, l.PendingCount = o.pending.ID, o.pending.Count
	}
	return l
}

func copyCounts(c wire.Reconciliation) wire.Reconciliation {
	out := c
	if c.Decommissioned != nil {
		out.Decommissioned = make(map[wire.Reason]uint64, len(c.Decommissioned))
		for k, v := range c.Decommissioned {
			out.Decommissioned[k] = v
		}
	}
	return out
}
