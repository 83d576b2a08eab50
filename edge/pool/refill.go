package pool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// Run keeps the reservation ahead of the line, requests serials below the
// low-water mark and resends unanswered requests, until ctx ends.
func (p *Pool) Run(ctx context.Context, req Requester) {
	t := time.NewTicker(p.cfg.CheckEvery)
	defer t.Stop()
	for {
		p.mu.Lock()
		o := p.active
		p.mu.Unlock()
		if o != nil {
			if err := p.reserve(o); err != nil {
				p.log.Error("serial reservation failed", "order", o.id, "err", err)
			}
		}
		p.refill(ctx, req)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.nudge:
		}
	}
}

// refill sends the requests that are due: new ones below the low-water
// mark, and resends of unanswered ones (same id).
func (p *Pool) refill(ctx context.Context, req Requester) {
	now := p.now()
	type due struct {
		o   *order
		req wire.SerialRequest
	}
	var send []due
	var create []*order
	p.mu.Lock()
	for _, o := range p.orders {
		if o.closed {
			continue
		}
		if o.pending != nil {
			// A request once stored is sent until answered, whatever the
			// line runs now: central may have allocated for it already.
			if o.pending.sentAt.IsZero() || now.Sub(o.pending.sentAt) >= p.cfg.RequestRetry {
				send = append(send, due{o, p.requestLocked(o)})
				o.pending.sentAt = now
			}
			continue
		}
		// New requests only for the order the line runs.
		if o != p.active || now.Before(o.retryAt) {
			continue
		}
		if l := p.levelLocked(o); l.MinutesLeft < p.cfg.LowWaterMinutes && (!l.NeedKnown || l.Need > 0) {
			create = append(create, o)
		}
	}
	p.mu.Unlock()
	for _, o := range create {
		r, err := p.newRequest(o)
		if err != nil {
			p.log.Error("serial request not stored", "order", o.id, "err", err)
			continue
		}
		send = append(send, due{o, r})
	}
	for _, d := range send {
		if err := req.RequestSerials(ctx, d.req); err != nil {
			p.log.Warn("serial request not sent; will resend the same id", "order", d.o.id, "request_id", d.req.RequestID, "err", err)
			p.mu.Lock()
			if d.o.pending != nil && d.o.pending.ID == d.req.RequestID {
				d.o.pending.sentAt = time.Time{} // due again at the next check
			}
			p.mu.Unlock()
			continue
		}
		p.log.Info("serials requested", "order", d.o.id, "request_id", d.req.RequestID, "count", d.req.Count)
	}
}

func (p *Pool) requestLocked(o *order) wire.SerialRequest {
	return wire.SerialRequest{V: wire.Version, RequestID: o.pending.ID, Line: p.cfg.Line, Order: o.id, GTIN: o.o.GTIN, Count: o.pending.Count}
}

// newRequest stores a new request for o before anything is sent, so that
// a retry after a crash reuses its id.
func (p *Pool) newRequest(o *order) (wire.SerialRequest, error) {
	p.mu.Lock()
	rate := o.rate.perMinute(p.now(), p.cfg.NominalRate)
	need, known := o.need()
	p.mu.Unlock()
	count := uint64(math.Ceil(rate * p.cfg.RefillMinutes))
	count = min(max(count, p.cfg.MinRequest), p.cfg.MaxRequest)
	if known {
		// The order bounds the request: never more than it can use.
		if need == 0 {
			return wire.SerialRequest{}, fmt.Errorf("pool: order %q: %w", o.id, errNothingNeeded)
		}
		count = min(count, need)
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return wire.SerialRequest{}, err
	}
	pr := &pendingRequest{ID: p.cfg.Line + "-" + hex.EncodeToString(rnd[:]), Count: count, Created: p.now()}
	v, err := json.Marshal(pr)
	if err != nil {
		return wire.SerialRequest{}, err
	}
	err = p.db.Update(func(tx *bolt.Tx) error {
		return p.orderBucket(tx, o.id).Put(keyPending, v)
	})
	if err != nil {
		return wire.SerialRequest{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pr.sentAt = p.now()
	o.pending = pr
	p.notifyLocked()
	return p.requestLocked(o), nil
}

// RequestNow asks for serials for order at once if it has no request
// pending (an operator's "refill" button, and tests).
func (p *Pool) RequestNow(ctx context.Context, orderID string, req Requester) (wire.SerialRequest, error) {
	p.mu.Lock()
	o, ok := p.orders[orderID]
	if !ok {
		p.mu.Unlock()
		return wire.SerialRequest{}, fmt.Errorf("pool: order %q: %w", orderID, ErrNoOrder)
	}
	if o.pending != nil {
		r := p.requestLocked(o)
		p.mu.Unlock()
		return r, req.RequestSerials(ctx, r)
	}
	p.mu.Unlock()
	r, err := p.newRequest(o)
	if err != nil {
		return r, err
	}
	return r, req.RequestSerials(ctx, r)
}

// ApplyGrant adds central's answer to the pool. A grant is applied once
// (by request id) and only if it answers our pending request for that
// order; a refusal clears the request (a new one follows after
// RequestRetry).
func (p *Pool) ApplyGrant(g wire.SerialGrant) error {
	if g.Line != p.cfg.Line {
		return fmt.Errorf("pool: grant %q: for line %q, this is %q", g.RequestID, g.Line, p.cfg.Line)
	}
	p.mu.Lock()
	o, ok := p.orders[g.Order]
	if !ok {
		p.mu.Unlock()
		return fmt.Errorf("pool: grant %q: order %q: %w", g.RequestID, g.Order, ErrNoOrder)
	}
	pending := o.pending
	p.mu.Unlock()
	if g.GTIN != o.o.GTIN {
		return fmt.Errorf("pool: grant %q: gtin %s, order %q is for %s", g.RequestID, g.GTIN, o.id, o.o.GTIN)
	}
	var applied bool
	_ = p.db.View(func(tx *bolt.Tx) error {
		if r := p.orderBucket(tx, o.id).Bucket(bktRequests); r != nil {
			applied = r.Get([]byte(g.RequestID)) != nil
		}
		return nil
	})
	if applied {
		p.log.Debug("grant already applied", "order", o.id, "request_id", g.RequestID)
		return nil
	}
	if pending == nil || pending.ID != g.RequestID {
		return fmt.Errorf("pool: grant %q for order %q: %w", g.RequestID, o.id, ErrUnsolicited)
	}
	if g.Error != "" {
		err := p.db.Update(func(tx *bolt.Tx) error { return p.orderBucket(tx, o.id).Delete(keyPending) })
		p.mu.Lock()
		o.pending = nil
		o.refused = g.Error
		o.retryAt = p.now().Add(p.cfg.RequestRetry)
		p.notifyLocked()
		p.mu.Unlock()
		p.log.Warn("central refused serials", "order", o.id, "request_id", g.RequestID, "reason", g.Error)
		return err
	}
	if err := p.checkGrant(o, g); err != nil {
		return fmt.Errorf("pool: grant %q for order %q: %w", g.RequestID, o.id, err)
	}
	rec, err := json.Marshal(grantRecord{RequestID: g.RequestID, Ranges: g.Ranges, Serials: g.Serials})
	if err != nil {
		return err
	}
	var specJSON []byte
	if o.spec == nil {
		if specJSON, err = json.Marshal(g.Scheme); err != nil {
			return err
		}
	}
	count := g.Count()
	err = p.storeGrant(o.id, g.RequestID, specJSON, rec, count)
	if err != nil {
		return fmt.Errorf("pool: grant %q for order %q: %w", g.RequestID, o.id, err)
	}
	p.mu.Lock()
	if o.spec == nil {
		_ = o.setScheme(*g.Scheme) // checked by checkGrant
	}
	o.addRanges(g.Ranges, g.Serials)
	o.seek(o.next)
	o.counts.Granted += count
	o.pending = nil
	o.refused = ""
	p.notifyLocked()
	p.mu.Unlock()
	p.wake()
	p.log.Info("serials granted", "order", o.id, "request_id", g.RequestID, "count", count, "ranges", len(g.Ranges))
	return nil
}

// storeGrant makes a grant durable in one transaction: the scheme (when
// specJSON is set), the grant record, its request id as applied, the
// pending request cleared and count added to the order's granted count.
func (p *Pool) storeGrant(orderID, requestID string, specJSON, rec []byte, count uint64) error {
	return p.db.Update(func(tx *bolt.Tx) error {
		b := p.orderBucket(tx, orderID)
		if specJSON != nil {
			if err := b.Put(keyScheme, specJSON); err != nil {
				return err
			}
		}
		gb, err := b.CreateBucketIfNotExists(bktGrants)
		if err != nil {
			return err
		}
		seq, err := gb.NextSequence()
		if err != nil {
			return err
		}
		if err := gb.Put(u64(seq), rec); err != nil {
			return err
		}
		rb, err := b.CreateBucketIfNotExists(bktRequests)
		if err != nil {
			return err
		}
		if err := rb.Put([]byte(requestID), valApplied); err != nil {
			return err
		}
		if err := b.Delete(keyPending); err != nil {
			return err
		}
		var c wire.Reconciliation
		if v := b.Get(keyCounts); v != nil {
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
		}
		c.Granted += count
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		return b.Put(keyCounts, v)
	})
}

// checkGrant refuses a grant that changes the scheme, leaves the scheme's
// space or overlaps what the order already has.
func (p *Pool) checkGrant(o *order, g wire.SerialGrant) error {
	if g.Scheme == nil || len(g.Ranges) == 0 {
		return errors.New("no scheme or ranges")
	}
	p.mu.Lock()
	spec, sc := o.spec, o.scheme
	p.mu.Unlock()
	if spec != nil && *spec != *g.Scheme {
		return fmt.Errorf("scheme %s differs from the order's %s", g.Scheme, spec)
	}
	if g.Scheme.Kind != serials.KindList {
		if sc == nil {
			var err error
			if sc, err = serials.New(*g.Scheme); err != nil {
				return err
			}
		}
		for i, r := range g.Ranges {
			if r.End() > sc.Space() {
				return fmt.Errorf("ranges[%d] ends at %d, beyond the scheme's %d serials", i, r.End(), sc.Space())
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range g.Ranges {
		for _, s := range o.spans {
			if r.Start < s.start+s.count && s.start < r.End() {
				return fmt.Errorf("ranges[%d] [%d, %d) overlaps counters already granted [%d, %d)", i, r.Start, r.End(), s.start, s.start+s.count)
			}
		}
	}
	return nil
}
