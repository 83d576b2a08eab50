package pool

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Activate makes order the one Take serves (the order the line runs), and
// lets Run request serials for it. It writes the first reservation itself,
// so that the first units do not wait for the disk.
func (p *Pool) Activate(orderID string) error {
	p.mu.Lock()
	o, ok := p.orders[orderID]
	if !ok {
		p.mu.Unlock()
		return fmt.Errorf("pool: order %q: %w", orderID, ErrNoOrder)
	}
	if o.closed {
		p.mu.Unlock()
		return fmt.Errorf("pool: order %q: %w", orderID, ErrOrderClosed)
	}
	p.active = o
	p.notifyLocked()
	p.mu.Unlock()
	p.wake()
	return p.reserve(o)
}

// Deactivate leaves no order active; Take fails with ErrNoOrder.
func (p *Pool) Deactivate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active = nil
	p.notifyLocked()
}

// Take hands out the next serial of the active order: it appends the serial
// to dst and returns the unit. It does no I/O and allocates nothing while
// the reservation is ahead (Run keeps it ahead); otherwise it writes the
// next reservation itself. An exhausted pool returns ErrEmpty.
func (p *Pool) Take(dst []byte) (Unit, []byte, error) {
	p.mu.Lock()
	o := p.active
	if o == nil {
		p.mu.Unlock()
		return Unit{}, dst, ErrNoOrder
	}
	for o.next >= o.resv {
		if o.next >= o.total || o.closed {
			p.mu.Unlock()
			p.wake()
			if o.closed {
				return Unit{}, dst, fmt.Errorf("pool: order %q: %w", o.id, ErrOrderClosed)
			}
			return Unit{}, dst, fmt.Errorf("pool: order %q: %w", o.id, ErrEmpty)
		}
		p.mu.Unlock()
		p.stalls.Add(1)
		if err := p.reserve(o); err != nil {
			return Unit{}, dst, err
		}
		p.mu.Lock()
	}
	pos := o.next
	o.next++
	counter := o.counterAt(pos)
	dst, err := o.appendSerial(dst, pos, counter)
	o.rate.add(p.now())
	due := o.resv-o.next < p.cfg.ReserveBlock/2 && o.resv < o.total
	p.mu.Unlock()
	if due {
		p.wake()
	}
	return Unit{Order: o.id, Position: pos, Counter: counter}, dst, err
}

// reserve moves o's reserved mark a block ahead of the next position, in
// one durable write. Positions at or above the old mark may be handed out
// only after it returns.
func (p *Pool) reserve(o *order) error {
	p.resMu.Lock()
	defer p.resMu.Unlock()
	p.mu.Lock()
	if o.resv >= o.total || o.resv-o.next >= p.cfg.ReserveBlock/2 && o.resv > o.next {
		p.mu.Unlock()
		return nil
	}
	mark := min(o.total, max(o.resv, o.next)+p.cfg.ReserveBlock)
	p.mu.Unlock()
	err := p.db.Update(func(tx *bolt.Tx) error {
		return p.orderBucket(tx, o.id).Put(keyReserved, u64(mark))
	})
	if err != nil {
		return fmt.Errorf("pool: order %q: reserve up to %d: %w", o.id, mark, err)
	}
	p.mu.Lock()
	o.resv = max(o.resv, mark)
	p.mu.Unlock()
	return nil
}

// Stalls counts Takes that waited for a reservation write (the reservation
// fell behind the line).
func (p *Pool) Stalls() uint64 { return p.stalls.Load() }
