package pool

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/wire"
)

// Lost is a serial unaccounted after a restart.
type Lost struct {
	Unit
	Serial string
}

// Unaccounted lists the serials found unaccounted by Open that Recover has
// not voided yet.
func (p *Pool) Unaccounted() []Lost {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Lost
	for _, o := range p.orders {
		for _, pos := range o.lost {
			c := o.counterAt(pos)
			s, _ := o.appendSerial(nil, pos, c)
			out = append(out, Lost{Unit: Unit{Order: o.id, Position: pos, Counter: c}, Serial: string(s)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Position < out[j].Position
	})
	return out
}

// Unfated lists the serials of order handed out whose fate is not durable
// yet: printed and in flight, or decided with the event not yet committed.
// A crash now would void exactly these; while the disk fails they are the
// packs whose records are at risk. At most max are listed; total counts
// them all.
func (p *Pool) Unfated(orderID string, max int) (out []Lost, total int, err error) {
	p.mu.Lock()
	o := p.orders[orderID]
	if o == nil {
		p.mu.Unlock()
		return nil, 0, fmt.Errorf("pool: order %q: %w", orderID, ErrNoOrder)
	}
	lo, next := o.fatedLo, o.next
	p.mu.Unlock()
	fated := map[uint64]bool{}
	err = p.db.View(func(tx *bolt.Tx) error {
		if b := p.orderBucket(tx, orderID); b != nil {
			if set := b.Bucket(bktFated); set != nil {
				c := set.Cursor()
				for k, _ := c.Seek(u64(lo)); k != nil && binary.BigEndian.Uint64(k) < next; k, _ = c.Next() {
					fated[binary.BigEndian.Uint64(k)] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("pool: order %q: %w", orderID, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for pos := lo; pos < next; pos++ {
		if fated[pos] {
			continue
		}
		total++
		if len(out) < max {
			c := o.counterAt(pos)
			s, _ := o.appendSerial(nil, pos, c)
			out = append(out, Lost{Unit: Unit{Order: o.id, Position: pos, Counter: c}, Serial: string(s)})
		}
	}
	return out, total, nil
}

// voided builds the voided event of a unit of order o.
func (p *Pool) voided(o *order, pos, counter uint64, serial string, at time.Time) wire.Event {
	c := counter
	return wire.Event{Type: wire.Voided, At: at, Order: o.id, GTIN: o.o.GTIN, Serial: serial, Lot: o.o.Lot, Expiry: o.o.Expiry, Counter: &c}
}

// Recover reports every serial unaccounted after the last run as voided
// (taken but never printed, or printed but never verified) through sink,
// and returns how many. Their positions are never handed out again.
func (p *Pool) Recover(ctx context.Context, sink Sink) (int, error) {
	lost := p.Unaccounted()
	if len(lost) == 0 {
		return 0, nil
	}
	at := p.now()
	evs := make([]wire.Event, 0, len(lost))
	p.mu.Lock()
	for _, l := range lost {
		ev := p.voided(p.orders[l.Order], l.Position, l.Counter, l.Serial, at)
		ev.Note = VoidedUnclean
		evs = append(evs, ev)
	}
	p.mu.Unlock()
	for from := 0; from < len(evs); from += 1000 {
		if _, err := sink.AppendSync(ctx, evs[from:min(from+1000, len(evs))]...); err != nil {
			return from, fmt.Errorf("pool: recover: void %d unaccounted serials: %w", len(evs), err)
		}
	}
	p.mu.Lock()
	for _, ev := range evs {
		if o := p.orders[ev.Order]; o != nil && len(o.recovered) < maxRecovered {
			o.recovered = append(o.recovered, ev.Serial)
		}
	}
	for _, o := range p.orders {
		o.lost = nil
	}
	p.notifyLocked()
	p.mu.Unlock()
	p.log.Warn("voided serials unaccounted after restart", "count", len(evs), "reason", "unaccounted after restart")
	return len(evs), nil
}

// VoidedUnclean is the note of the voided events Recover makes: the
// serial may be on a printed pack, so central flags it for QA.
const VoidedUnclean = "unaccounted after an unclean stop"

// maxRecovered bounds RecoveredSerials: the units a crash can leave
// between printer and applicator are far fewer.
const maxRecovered = 64

// RecoveredSerials returns the serials of order that Recover voided first:
// those a crash may have left printed on labels not yet applied, which the
// station then recognises as labels of earlier units.
func (p *Pool) RecoveredSerials(orderID string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.orders[orderID]; o != nil {
		return append([]string(nil), o.recovered...)
	}
	return nil
}
