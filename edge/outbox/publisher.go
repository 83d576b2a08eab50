package outbox

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/wire"
)

// Wake makes the publisher look again at once: the session tells it of a
// (re)connection, after which it starts again from the last ack.
func (o *Outbox) Wake() { o.wakePublisher() }

func (o *Outbox) wakePublisher() {
	select {
	case o.pubWake <- struct{}{}:
	default:
	}
}

// publisher sends committed events in batches within the window.
//
// It is long because it is one loop whose steps (new session or incarnation, resend
// timeout, batches within linger and window, refills) share the sent, ack and timer
// state between wake-ups.
func (o *Outbox) publisher() {
	defer close(o.pubEnd)
	var sent uint64            // highest seq published on this session
	var pendingSince time.Time // when unsent events were first seen
	var lastRefill time.Time   // when acknowledged events were last sent again
	var refill *wire.SeqRange  // events central lacks, to send again
	lastAck := o.acked.Load()
	lastProgress := o.cfg.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wasConnected := false
	restarts := o.restart.Load()
	for {
		now := o.cfg.Now()
		connected := o.cfg.Publisher != nil && o.cfg.Publisher.Connected()
		if connected && !wasConnected {
			sent = 0 // resend from the last ack on every new session
			lastProgress = now
		}
		if r := o.restart.Load(); r != restarts {
			restarts, sent, lastAck, lastProgress = r, 0, 0, now // a new incarnation: its seqs start at 1
		}
		wasConnected = connected
		acked, committed := o.acked.Load(), o.committed.Load()
		if acked > lastAck {
			lastAck, lastProgress = acked, now
		}
		if sent < acked {
			sent = acked
		}
		if sent > acked && now.Sub(lastProgress) >= o.cfg.ResendAfter {
			o.log.Warn("no ack from central; resending", "from", acked+1, "to", sent, "waited", now.Sub(lastProgress))
			o.stats.resends.Add(1)
			sent, lastProgress = acked, now
		}
		next := time.Hour
		if sent >= committed {
			pendingSince = time.Time{}
		} else if pendingSince.IsZero() {
			pendingSince = now
		}
		for connected && sent < committed && sent-acked < o.cfg.Window {
			hi := min(sent+uint64(o.cfg.BatchMax), committed, acked+o.cfg.Window)
			if hi-sent < uint64(o.cfg.BatchMax) && hi == committed {
				if wait := o.cfg.Linger - now.Sub(pendingSince); wait > 0 {
					next = min(next, wait)
					break
				}
			}
			n, err := o.publishRange(sent, hi)
			if err != nil {
				o.log.Warn("event batch not published", "from", sent+1, "to", hi, "err", err)
				next = min(next, time.Second)
				break
			}
			if n == 0 {
				break
			}
			sent = hi
			pendingSince = now
		}
		if connected && sent < committed && sent-acked >= o.cfg.Window {
			o.stats.windowFull.Add(1)
		}
		if sent > acked {
			next = min(next, max(o.cfg.ResendAfter-now.Sub(lastProgress), time.Millisecond))
		}
		if refill != nil && connected {
			// Once per ResendAfter at most: central names its gap in every
			// ack while the events are on their way.
			if wait := o.cfg.ResendAfter - now.Sub(lastRefill); wait > 0 {
				next = min(next, wait)
			} else {
				lastRefill = now
				o.sendAgain(*refill, acked)
				refill = nil
			}
		}
		timer.Reset(next)
		select {
		case <-o.stop:
			return
		case <-o.pubWake:
		case <-timer.C:
		case m := <-o.refill:
			refill = &m // the latest ack's view wins
		}
	}
}

// sendAgain publishes the acknowledged events of m that the store still
// keeps (up to acked; what is above it goes out as usual), once.
func (o *Outbox) sendAgain(m wire.SeqRange, acked uint64) {
	to := min(m.To, acked)
	first := o.firstKept()
	if first == 0 || first > m.From {
		o.log.Error("central lacks acknowledged events this store no longer keeps: QA must declare them lost at central (skip-gap)",
			"missing_from", m.From, "missing_to", m.To, "first_kept", first, "keep_acked", o.cfg.KeepAcked)
	}
	from := max(m.From, first)
	to = min(to, from-1+o.cfg.Window) // the rest at the next ack that names it
	if first == 0 || from > to {
		return
	}
	o.log.Warn("central lacks acknowledged events (restored from a backup?): sending them again", "from", from, "to", to)
	o.stats.resends.Add(1)
	for lo := from - 1; lo < to; {
		hi := min(lo+uint64(o.cfg.BatchMax), to)
		if _, err := o.publishRange(lo, hi); err != nil {
			o.log.Warn("event batch not published", "from", lo+1, "to", hi, "err", err)
			return
		}
		lo = hi
	}
}

// firstKept is the lowest seq in the store, 0 when it is empty.
func (o *Outbox) firstKept() uint64 {
	var first uint64
	_ = o.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bktEvents).Cursor().First(); k != nil {
			first = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return first
}

// publishRange publishes the stored events (from, to] as one batch and
// waits for the broker's PUBACK.
func (o *Outbox) publishRange(from, to uint64) (int, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"v":`)
	buf.WriteString(strconv.Itoa(wire.Version))
	buf.WriteString(`,"line":`)
	line, _ := json.Marshal(o.cfg.Line)
	buf.Write(line)
	n := 0
	err := o.db.View(func(tx *bolt.Tx) error {
		// The incarnation is read with the events, so a batch never mixes
		// one incarnation's name with another's seqs.
		inc, _ := json.Marshal(string(tx.Bucket(bktMeta).Get(keyEpoch)))
		buf.WriteString(`,"incarnation":`)
		buf.Write(inc)
		buf.WriteString(`,"events":[`)
		c := tx.Bucket(bktEvents).Cursor()
		for k, v := c.Seek(seqKey(from + 1)); k != nil && binary.BigEndian.Uint64(k) <= to; k, v = c.Next() {
			if n > 0 {
				buf.WriteByte(',')
			}
			buf.Write(v)
			n++
		}
		return nil
	})
	if err != nil || n == 0 {
		return 0, err
	}
	buf.WriteString(`]}`)
	if err := o.cfg.Publisher.PublishEvents(o.ctx, buf.Bytes()); err != nil {
		return 0, err
	}
	o.stats.batches.Add(1)
	o.stats.published.Add(uint64(n))
	return n, nil
}
