package outbox

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/wire"
)

// writer commits what arrives, in groups, and trims acknowledged events.
func (o *Outbox) writer() {
	defer close(o.writerEnd)
	var items []item
	var evs []wire.Event
	for {
		items = items[:0]
		stopping := false
		select {
		case it := <-o.q:
			items = append(items, it)
		case <-o.ackWake:
		case seq := <-o.reinc:
			o.reincarnate(seq)
			continue
		case <-o.stop:
			stopping = true
		}
		n := 0
		for _, it := range items {
			n += len(it.evs) + b2i(it.one)
		}
	drain:
		for n < o.cfg.CommitMax {
			select {
			case it := <-o.q:
				items = append(items, it)
				n += len(it.evs) + b2i(it.one)
			default:
				break drain
			}
		}
		evs = evs[:0]
		for _, it := range items {
			if it.one {
				evs = append(evs, it.ev)
			}
			evs = append(evs, it.evs...)
		}
		seq, err := o.commitRetry(evs)
		for _, it := range items {
			if it.done != nil {
				it.done <- commitResult{seq: seq, err: err}
			}
		}
		if stopping && len(o.q) == 0 {
			return
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// commitRetry commits evs, retrying while the disk fails: an event handed
// over is never dropped. The fault is visible in Stats meanwhile.
func (o *Outbox) commitRetry(evs []wire.Event) (uint64, error) {
	delay := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		seq, err := o.commit(evs)
		if err == nil {
			if attempt > 0 {
				o.setFault(nil)
				o.log.Info("outbox commits again", "attempts", attempt+1)
				if o.cfg.OnCommitError != nil {
					o.cfg.OnCommitError(nil, nil)
				}
			}
			return seq, nil
		}
		o.stats.commitErrs.Add(1)
		o.setFault(err)
		o.log.Error("outbox commit failed; retrying", "events", len(evs), "attempt", attempt+1, "err", err)
		if attempt == 0 && o.cfg.OnCommitError != nil {
			o.cfg.OnCommitError(err, evs)
		}
		select {
		case <-o.stop:
			if attempt >= 3 {
				return 0, err
			}
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func (o *Outbox) setFault(err error) {
	o.faultMu.Lock()
	o.fault = err
	o.faultMu.Unlock()
}

// commit is one group commit: ack trimming, the events, the hook.
func (o *Outbox) commit(evs []wire.Event) (uint64, error) {
	ack := o.ackIn.Load()
	if len(evs) == 0 && ack <= o.acked.Load() {
		return o.committed.Load(), nil // nothing to write (a Flush)
	}
	var last, trimmedTo uint64
	now := o.cfg.Now()
	idPre := o.idPrefix()
	err := o.db.Update(func(tx *bolt.Tx) error {
		b, m := tx.Bucket(bktEvents), tx.Bucket(bktMeta)
		seq := getU64(m, keySeq)
		if acked := getU64(m, keyAcked); ack > acked {
			ack = min(ack, seq) // central cannot ack what was never sent
			// The newest KeepAcked acknowledged events stay (Ack.Missing).
			var drop uint64
			if ack > o.cfg.KeepAcked {
				drop = ack - o.cfg.KeepAcked
			}
			c := b.Cursor()
			for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= drop; k, _ = c.Next() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
			if err := m.Put(keyAcked, seqKey(ack)); err != nil {
				return err
			}
			trimmedTo = ack
		}
		for i := range evs {
			seq++
			evs[i].Seq = seq
			evs[i].ID = idPre + strconv.FormatUint(seq, 10)
			if evs[i].At.IsZero() {
				evs[i].At = now
			}
			v, err := json.Marshal(&evs[i])
			if err != nil {
				return fmt.Errorf("event seq %d: %w", seq, err)
			}
			if err := b.Put(seqKey(seq), v); err != nil {
				return err
			}
		}
		if len(evs) > 0 {
			if err := m.Put(keySeq, seqKey(seq)); err != nil {
				return err
			}
			for _, h := range o.cfg.Hooks {
				if err := h(tx, evs); err != nil {
					return err
				}
			}
		}
		last = seq
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(evs) > 0 {
		o.stats.commits.Add(1)
		o.stats.events.Add(uint64(len(evs)))
		o.committed.Store(last)
	}
	if trimmedTo > 0 {
		o.acked.Store(trimmedTo)
	}
	o.wakePublisher()
	return last, nil
}
