package pool

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/wire"
)

// CloseOrder ends an order's production: every position taken but without
// a fate is voided, the untaken ones go back to central (serials-returned,
// as counter ranges) and the reconciliation follows (order-closed). The
// line must have stopped taking serials for it. It returns the counts
// sent. Closing a closed order returns its counts again.
func (p *Pool) CloseOrder(ctx context.Context, orderID, operator string, sink Sink) (wire.Reconciliation, error) {
	p.mu.Lock()
	o, ok := p.orders[orderID]
	if !ok {
		p.mu.Unlock()
		return wire.Reconciliation{}, fmt.Errorf("pool: close order %q: %w", orderID, ErrNoOrder)
	}
	if o.closed {
		c := copyCounts(o.counts)
		p.mu.Unlock()
		return c, nil
	}
	if p.active == o {
		p.active = nil
	}
	p.mu.Unlock()
	// Fates already handed to the outbox must be counted first.
	if err := sink.Flush(ctx); err != nil {
		return wire.Reconciliation{}, fmt.Errorf("pool: close order %q: %w", orderID, err)
	}
	var fated map[uint64]bool
	_ = p.db.View(func(tx *bolt.Tx) error {
		fated = map[uint64]bool{}
		if s := p.orderBucket(tx, o.id).Bucket(bktFated); s != nil {
			_ = s.ForEach(func(k, _ []byte) error {
				fated[binary.BigEndian.Uint64(k)] = true
				return nil
			})
		}
		return nil
	})
	at := p.now()
	var evs []wire.Event
	p.mu.Lock()
	for pos := o.fatedLo; pos < o.next; pos++ {
		if fated[pos] {
			continue
		}
		c := o.counterAt(pos)
		s, _ := o.appendSerial(nil, pos, c)
		evs = append(evs, p.voided(o, pos, c, string(s), at))
	}
	var ret []wire.CounterRange
	var returned uint64
	for _, s := range o.spans {
		from := max(o.next, s.pos0)
		end := s.pos0 + s.count
		if from >= end {
			continue
		}
		ret = append(ret, wire.CounterRange{Start: s.start + (from - s.pos0), Count: end - from})
		returned += end - from
	}
	counts := copyCounts(o.counts)
	counts.Voided += uint64(len(evs))
	counts.ReturnedUnused += returned
	next := o.next
	o.next = o.total // nothing more is taken from it
	wo := o.o
	p.mu.Unlock()
	if len(ret) > 0 {
		evs = append(evs, wire.Event{Type: wire.SerialsReturned, At: at, Order: wo.ID, GTIN: wo.GTIN, Ranges: ret, Operator: operator})
	}
	evs = append(evs, wire.Event{Type: wire.OrderClosed, At: at, Order: wo.ID, GTIN: wo.GTIN, Lot: wo.Lot, Expiry: wo.Expiry, Counts: &counts, Operator: operator})
	if _, err := sink.AppendSync(ctx, evs...); err != nil {
		p.mu.Lock()
		o.next = next
		p.mu.Unlock()
		return wire.Reconciliation{}, fmt.Errorf("pool: close order %q: %w", orderID, err)
	}
	p.log.Info("order closed", "order", wo.ID, "granted", counts.Granted, "commissioned", counts.Commissioned,
		"decommissioned", counts.DecommissionedTotal(), "voided", counts.Voided, "returned", counts.ReturnedUnused, "difference", counts.Difference())
	return counts, nil
}

// Close lowers every open order's reserved mark to its next position, so
// that a clean restart voids nothing that was never handed out. The caller
// must have stopped Take and Run.
func (p *Pool) Close() error {
	p.resMu.Lock()
	defer p.resMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	marks := map[string]uint64{}
	for _, o := range p.orders {
		if !o.closed && o.resv > o.next {
			marks[o.id] = o.next
		}
	}
	p.mu.Unlock()
	if len(marks) == 0 {
		return nil
	}
	err := p.db.Update(func(tx *bolt.Tx) error {
		for id, m := range marks {
			if err := p.orderBucket(tx, id).Put(keyReserved, u64(m)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pool: close: %w", err)
	}
	p.mu.Lock()
	for id, m := range marks {
		p.orders[id].resv = m
	}
	p.mu.Unlock()
	return nil
}
