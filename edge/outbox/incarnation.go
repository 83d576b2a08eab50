package outbox

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/wire"
)

// Incarnation tells the line what happened to its event store's
// incarnation (Config.OnIncarnation).
type Incarnation struct {
	// Kind is IncarnationReplaced or IncarnationRolledBack.
	Kind string
	// Current is this store's incarnation (after a rollback: the new one).
	Current string
	// Previous is the incarnation replaced, and PreviousSeq the last seq
	// central applied of it.
	Previous    string
	PreviousSeq uint64
	// LocalSeq is the last seq the store had of Previous (rollback only),
	// and Renumbered how many unacknowledged events moved to Current.
	LocalSeq, Renumbered uint64
}

// The incarnation changes.
const (
	IncarnationReplaced   = "replaced"
	IncarnationRolledBack = "rolled-back"
)

// newEpoch makes a random incarnation id.
func newEpoch() (string, error) {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(r[:]), nil
}

func (o *Outbox) setEpoch(epoch string) {
	o.incMu.Lock()
	o.epoch, o.idPre = epoch, o.cfg.Line+":"+epoch+":"
	o.incMu.Unlock()
}

// Incarnation returns the event store's incarnation id: it numbers the
// line's events with their seq (wire.EventBatch.Incarnation).
func (o *Outbox) Incarnation() string {
	o.incMu.Lock()
	defer o.incMu.Unlock()
	return o.epoch
}

func (o *Outbox) idPrefix() string {
	o.incMu.Lock()
	defer o.incMu.Unlock()
	return o.idPre
}

// Ack records central's ack and lets the writer trim (in its next
// transaction, or one of its own).
//
// An ack of another incarnation is not ours (an earlier store of this
// line). An ack of ours beyond the last seq the store has means central
// holds events of this incarnation the store lost (a rolled-back store):
// the writer starts a new incarnation for the unacknowledged events, so
// that none is taken for one central has. An ack without an incarnation
// (an older central) is capped at the last seq, as before.
func (o *Outbox) Ack(a wire.Ack) {
	inc := o.Incarnation()
	if a.Incarnation != "" && a.Incarnation != inc {
		o.log.Debug("ack of another incarnation ignored", "incarnation", a.Incarnation, "ours", inc, "seq", a.Seq)
		return
	}
	if a.Replaced != nil && a.Incarnation == inc {
		o.noteReplaced(inc, *a.Replaced)
	}
	if m := a.Missing; m != nil && m.From <= o.acked.Load() {
		// Central lacks events it once acknowledged (restored from a
		// backup): the publisher sends again what the store still keeps.
		select {
		case o.refill <- *m:
		default:
		}
		o.wakePublisher()
	}
	seq := a.Seq
	if c := o.committed.Load(); seq > c {
		if a.Incarnation != "" {
			select {
			case o.reinc <- seq:
			default:
			}
			return
		}
		o.log.Warn("central acknowledged events never sent; capped", "ack", seq, "last_seq", c)
	}
	for {
		cur := o.ackIn.Load()
		if seq <= cur {
			return
		}
		if o.ackIn.CompareAndSwap(cur, seq) {
			break
		}
	}
	select {
	case o.ackWake <- struct{}{}:
	default:
	}
	o.wakePublisher()
}

// noteReplaced tells OnIncarnation, once per incarnation replaced (also
// across restarts), that central took this incarnation for a new one.
func (o *Outbox) noteReplaced(inc string, r wire.Replaced) {
	first := false
	err := o.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bktMeta)
		if string(m.Get(keyReplaced)) == r.Incarnation {
			return nil
		}
		first = true
		return m.Put(keyReplaced, []byte(r.Incarnation))
	})
	if err != nil {
		o.log.Error("replaced incarnation not noted", "err", err)
	}
	if !first {
		return
	}
	o.log.Warn("central: this line's event store is a new incarnation; the previous one's unacknowledged events are missing",
		"incarnation", inc, "previous", r.Incarnation, "previous_seq", r.Seq)
	if o.cfg.OnIncarnation != nil {
		o.cfg.OnIncarnation(Incarnation{Kind: IncarnationReplaced, Current: inc, Previous: r.Incarnation, PreviousSeq: r.Seq})
	}
}

// reincarnate starts a new incarnation (writer goroutine): central holds
// central seq of the current one, more than the store has, so the store
// was rolled back. Every unacknowledged event moves to the new
// incarnation, numbered from 1, in one transaction; publishing starts
// again from there.
func (o *Outbox) reincarnate(central uint64) {
	old := o.Incarnation()
	local := o.committed.Load()
	if central <= local {
		return // an ack that raced a commit
	}
	epoch, err := newEpoch()
	if err != nil {
		o.log.Error("new incarnation not made", "err", err)
		return
	}
	idPre := o.cfg.Line + ":" + epoch + ":"
	var moved uint64
	err = o.db.Update(func(tx *bolt.Tx) error {
		b, m := tx.Bucket(bktEvents), tx.Bucket(bktMeta)
		acked := getU64(m, keyAcked)
		var evs []wire.Event
		c := b.Cursor()
		for k, v := c.Seek(seqKey(acked + 1)); k != nil; k, v = c.Next() {
			var e wire.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("seq %d: %w", binary.BigEndian.Uint64(k), err)
			}
			evs = append(evs, e)
		}
		if err := tx.DeleteBucket(bktEvents); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bktEvents)
		if err != nil {
			return err
		}
		for i := range evs {
			evs[i].Seq = uint64(i + 1)
			evs[i].ID = idPre + strconv.Itoa(i+1)
			v, err := json.Marshal(&evs[i])
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(evs[i].Seq), v); err != nil {
				return err
			}
		}
		moved = uint64(len(evs))
		for k, v := range map[string][]byte{string(keyEpoch): []byte(epoch), string(keySeq): seqKey(moved), string(keyAcked): seqKey(0), string(keyReplaced): []byte(old)} {
			if err := m.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		o.log.Error("new incarnation not made; the rolled-back store goes on", "err", err)
		return
	}
	o.setEpoch(epoch)
	o.committed.Store(moved)
	o.acked.Store(0)
	o.ackIn.Store(0)
	o.restart.Add(1)
	o.log.Error("central holds more of this event store's incarnation than the store: it was rolled back; a new incarnation takes the unacknowledged events",
		"previous", old, "central_seq", central, "local_seq", local, "incarnation", epoch, "renumbered", moved)
	if o.cfg.OnIncarnation != nil {
		o.cfg.OnIncarnation(Incarnation{Kind: IncarnationRolledBack, Current: epoch, Previous: old, PreviousSeq: central, LocalSeq: local, Renumbered: moved})
	}
	o.wakePublisher()
}
