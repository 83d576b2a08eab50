// Package outbox makes the line's events durable in bbolt and delivers them
// to central over MQTT, at least once, whatever the network does.
//
// Events are handed over through a channel (Append never waits for the
// disk). One writer goroutine takes whatever has arrived and commits it in
// one bbolt transaction (group commit), assigning each event the line's
// next seq and a globally unique id; the same transaction trims what
// central has acknowledged and runs the OnCommit hook (the serial pool
// records fates there, so a fate is durable exactly when its event is).
//
// A publisher goroutine sends the committed events as EventBatch payloads
// (up to BatchMax events, or whatever waited Linger) on the line's events
// topic with QoS 1, never more than Window events ahead of central's last
// ack, so a burst after a long outage cannot overflow the broker's queues.
// After a reconnect, or when acks stop coming for ResendAfter, it resends
// from the last ack; central applies each event id once. Events are deleted
// only when central's acks topic covers their seq.
//
// The outbox also owns the line's MQTT session: the retained status with an
// offline last will, the serial requests, and the subscriptions to acks,
// orders (retained) and serials/grant.
package outbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/wire"
)

// ErrClosed is returned by Append and the other calls after Close.
var ErrClosed = errors.New("outbox closed")

// ErrOffline is returned by the calls that need the broker (RequestSerials)
// while the MQTT session is down.
var ErrOffline = errors.New("not connected to the MQTT broker")

// Defaults applied by Config.WithDefaults.
const (
	DefaultBatchMax       = 500
	DefaultLinger         = 50 * time.Millisecond
	DefaultWindow         = 5000
	DefaultResendAfter    = 10 * time.Second
	DefaultCommitMax      = 1000
	DefaultQueue          = 16384
	DefaultPublishTimeout = 10 * time.Second
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultReconnectMax   = 10 * time.Second
)

// Config configures the outbox and the line's MQTT session.
type Config struct {
	// Line is the line id (topics, event ids, batches).
	Line string
	// Broker is the MQTT broker URL, e.g. "tcp://127.0.0.1:1883"; empty
	// runs without one (events are only kept).
	Broker string
	// ClientID defaults to "serialine-edge-" + Line.
	ClientID string
	// Username and Password are the line's broker credentials.
	Username, Password string
	// KeepAlive, ConnectTimeout and ReconnectMax tune the session.
	KeepAlive, ConnectTimeout, ReconnectMax time.Duration
	// BatchMax is the most events per EventBatch; Linger is how long a
	// smaller batch may wait for more.
	BatchMax int
	Linger   time.Duration
	// Window is the most events published and not yet acknowledged.
	Window uint64
	// ResendAfter: with events unacknowledged and no ack progress for this
	// long, publishing starts again from the last ack.
	ResendAfter time.Duration
	// CommitMax is the most events per bbolt transaction.
	CommitMax int
	// Queue is the hand-over channel's capacity; Append blocks when it is
	// full (the disk has stalled).
	Queue int
	// PublishTimeout bounds the wait for a PUBACK.
	PublishTimeout time.Duration
	// OnCommit runs inside each commit transaction with the events being
	// committed (seq and id assigned). An error aborts the commit.
	OnCommit func(tx *bolt.Tx, evs []wire.Event) error
	// OnOrders and OnGrant receive central's valid orders and grants. They
	// run on the MQTT client's goroutine: keep them short.
	OnOrders func(wire.Orders)
	OnGrant  func(wire.SerialGrant)
	// OnCommitError is told at once when a commit fails, with the events
	// that are not durable (they are retried, never dropped), and again
	// with a nil error when commits succeed again: the line must not go on
	// printing what it cannot record. It runs on the writer goroutine.
	OnCommitError func(err error, evs []wire.Event)
	// OnIncarnation is told when the event store's incarnation changed
	// hands: central reports that this incarnation replaced another (a lost
	// or new data store), or central holds more of this incarnation than
	// the store does (a rolled-back store, which then starts a new
	// incarnation). It is told once per incarnation replaced.
	OnIncarnation func(Incarnation)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// WithDefaults fills unset fields.
func (c Config) WithDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = "serialine-edge-" + c.Line
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.BatchMax == 0 {
		c.BatchMax = DefaultBatchMax
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.ResendAfter == 0 {
		c.ResendAfter = DefaultResendAfter
	}
	if c.CommitMax == 0 {
		c.CommitMax = DefaultCommitMax
	}
	if c.Queue == 0 {
		c.Queue = DefaultQueue
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate names the first bad key.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if err := wire.ValidateLine(c.Line); err != nil {
		return fmt.Errorf("outbox: line: %w", err)
	}
	if c.BatchMax < 1 || c.BatchMax > wire.MaxBatchEvents {
		return fmt.Errorf("outbox: batch_max: must be 1..%d events, got %d", wire.MaxBatchEvents, c.BatchMax)
	}
	if c.Window < uint64(c.BatchMax) {
		return fmt.Errorf("outbox: window: must be at least batch_max (%d), got %d", c.BatchMax, c.Window)
	}
	if c.CommitMax < 1 || c.Queue < 1 {
		return fmt.Errorf("outbox: commit_max, queue: must be at least 1, got %d, %d", c.CommitMax, c.Queue)
	}
	for _, kv := range []struct {
		key string
		v   time.Duration
	}{{"linger", c.Linger}, {"resend_after", c.ResendAfter}, {"publish_timeout", c.PublishTimeout}, {"keepalive", c.KeepAlive}, {"connect_timeout", c.ConnectTimeout}, {"reconnect_max", c.ReconnectMax}} {
		if kv.v < 0 {
			return fmt.Errorf("outbox: %s: must not be negative, got %v", kv.key, kv.v)
		}
	}
	return nil
}

// item is one hand-over: a single event (Append), or several to commit
// together and a channel for the outcome (AppendSync, Flush).
type item struct {
	ev   wire.Event
	evs  []wire.Event
	one  bool
	done chan commitResult
}

type commitResult struct {
	seq uint64
	err error
}

var (
	bktEvents   = []byte("outbox_events")
	bktMeta     = []byte("outbox_meta")
	keySeq      = []byte("seq")      // last seq assigned
	keyAcked    = []byte("acked")    // highest seq central acknowledged
	keyEpoch    = []byte("epoch")    // the incarnation: random, part of every event id
	keyReplaced = []byte("replaced") // the incarnation central said this one replaced, once noted
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

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Outbox is the durable event queue of one line and its MQTT session.
type Outbox struct {
	cfg    Config
	db     *bolt.DB
	log    *slog.Logger
	topics struct{ events, acks, status, orders, request, grant string }

	incMu sync.Mutex
	epoch string // the incarnation
	idPre string // line ":" epoch ":"
	// reinc asks the writer to start a new incarnation: central holds this
	// seq of the current one, beyond the store's last.
	reinc chan uint64

	q         chan item
	appendMu  sync.RWMutex // Append holds it shared; Close exclusively
	closed    bool
	stop      chan struct{}
	writerEnd chan struct{}
	pubEnd    chan struct{}

	committed atomic.Uint64 // last seq committed
	acked     atomic.Uint64 // last seq central acknowledged (durable)
	ackIn     atomic.Uint64 // highest ack received, maybe not trimmed yet
	ackWake   chan struct{}
	pubWake   chan struct{}
	connected atomic.Bool
	restart   atomic.Uint64 // bumped by a new incarnation: publish from its start

	clientMu   sync.Mutex
	client     mqtt.Client
	lastStatus []byte

	stats struct {
		commits, events, commitErrs, batches, resends, published, invalid, connects, windowFull atomic.Uint64
	}
	faultMu sync.Mutex
	fault   error // last commit error while it persists
}

// Open prepares the outbox on db (creating its buckets) and starts the
// writer and the publisher. Nothing is dialled until Connect.
func Open(db *bolt.DB, cfg Config, log *slog.Logger) (*Outbox, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("outbox: logger: missing")
	}
	cfg = cfg.WithDefaults()
	o := &Outbox{
		cfg: cfg, db: db, log: log,
		q:         make(chan item, cfg.Queue),
		stop:      make(chan struct{}),
		writerEnd: make(chan struct{}),
		pubEnd:    make(chan struct{}),
		ackWake:   make(chan struct{}, 1),
		pubWake:   make(chan struct{}, 1),
		reinc:     make(chan uint64, 1),
	}
	for _, t := range []struct {
		dst  *string
		kind string
	}{{&o.topics.events, wire.KindEvents}, {&o.topics.acks, wire.KindAcks}, {&o.topics.status, wire.KindStatus},
		{&o.topics.orders, wire.KindOrders}, {&o.topics.request, wire.KindSerialRequest}, {&o.topics.grant, wire.KindSerialGrant}} {
		topic, err := wire.Topic(cfg.Line, t.kind)
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		*t.dst = topic
	}
	var epoch string
	err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bktEvents); err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(bktMeta)
		if err != nil {
			return err
		}
		if v := m.Get(keyEpoch); v != nil {
			epoch = string(v)
		} else {
			if epoch, err = newEpoch(); err != nil {
				return err
			}
			if err := m.Put(keyEpoch, []byte(epoch)); err != nil {
				return err
			}
		}
		o.committed.Store(getU64(m, keySeq))
		o.acked.Store(getU64(m, keyAcked))
		o.ackIn.Store(getU64(m, keyAcked))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: open: %w", err)
	}
	o.setEpoch(epoch)
	go o.writer()
	go o.publisher()
	return o, nil
}

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

// Append hands one event over for commit and returns at once (it blocks
// only while the hand-over queue is full). Seq and ID are assigned at
// commit; a zero At becomes the commit time. The event is checked against
// the contract first, so nothing invalid is ever stored.
func (o *Outbox) Append(ev wire.Event) error {
	if err := o.check(&ev); err != nil {
		return err
	}
	o.appendMu.RLock()
	defer o.appendMu.RUnlock()
	if o.closed {
		return fmt.Errorf("outbox %q: append: %w", o.cfg.Line, ErrClosed)
	}
	o.q <- item{ev: ev, one: true}
	return nil
}

// AppendSync commits evs in one transaction, after everything handed over
// before, and returns the last seq once they are durable.
func (o *Outbox) AppendSync(ctx context.Context, evs ...wire.Event) (uint64, error) {
	for i := range evs {
		if err := o.check(&evs[i]); err != nil {
			return 0, fmt.Errorf("events[%d]: %w", i, err)
		}
	}
	done := make(chan commitResult, 1)
	o.appendMu.RLock()
	if o.closed {
		o.appendMu.RUnlock()
		return 0, fmt.Errorf("outbox %q: append: %w", o.cfg.Line, ErrClosed)
	}
	select {
	case o.q <- item{evs: append([]wire.Event(nil), evs...), done: done}:
	case <-ctx.Done():
		o.appendMu.RUnlock()
		return 0, ctx.Err()
	}
	o.appendMu.RUnlock()
	select {
	case r := <-done:
		return r.seq, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Flush returns once everything handed over before it is committed.
func (o *Outbox) Flush(ctx context.Context) error {
	_, err := o.AppendSync(ctx)
	return err
}

// check validates ev as it will be stored (with a placeholder seq and id).
func (o *Outbox) check(ev *wire.Event) error {
	probe := *ev
	probe.ID, probe.Seq = o.idPrefix()+"0", 1
	if probe.At.IsZero() {
		probe.At = o.cfg.Now()
	}
	if err := probe.Validate(); err != nil {
		return fmt.Errorf("outbox %q: %s event: %w", o.cfg.Line, ev.Type, err)
	}
	return nil
}

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
			c := b.Cursor()
			for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= ack; k, _ = c.Next() {
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
			if o.cfg.OnCommit != nil {
				if err := o.cfg.OnCommit(tx, evs); err != nil {
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

func (o *Outbox) wakePublisher() {
	select {
	case o.pubWake <- struct{}{}:
	default:
	}
}

// onAck records central's ack and lets the writer trim (in its next
// transaction, or one of its own).
//
// An ack of another incarnation is not ours (an earlier store of this
// line). An ack of ours beyond the last seq the store has means central
// holds events of this incarnation the store lost (a rolled-back store):
// the writer starts a new incarnation for the unacknowledged events, so
// that none is taken for one central has. An ack without an incarnation
// (an older central) is capped at the last seq, as before.
func (o *Outbox) onAck(a wire.Ack) {
	inc := o.Incarnation()
	if a.Incarnation != "" && a.Incarnation != inc {
		o.log.Debug("ack of another incarnation ignored", "incarnation", a.Incarnation, "ours", inc, "seq", a.Seq)
		return
	}
	if a.Replaced != nil && a.Incarnation == inc {
		o.noteReplaced(inc, *a.Replaced)
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

// publisher sends committed events in batches within the window.
func (o *Outbox) publisher() {
	defer close(o.pubEnd)
	var sent uint64            // highest seq published on this session
	var pendingSince time.Time // when unsent events were first seen
	lastAck := o.acked.Load()
	lastProgress := o.cfg.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wasConnected := false
	restarts := o.restart.Load()
	for {
		now := o.cfg.Now()
		connected := o.connected.Load()
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
		timer.Reset(next)
		select {
		case <-o.stop:
			return
		case <-o.pubWake:
		case <-timer.C:
		}
	}
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
	c := o.mqttClient()
	if c == nil {
		return 0, ErrOffline
	}
	tok := c.Publish(o.topics.events, 1, false, buf.Bytes())
	if !tok.WaitTimeout(o.cfg.PublishTimeout) {
		return 0, fmt.Errorf("no PUBACK within %v", o.cfg.PublishTimeout)
	}
	if err := tok.Error(); err != nil {
		return 0, err
	}
	o.stats.batches.Add(1)
	o.stats.published.Add(uint64(n))
	return n, nil
}

func (o *Outbox) mqttClient() mqtt.Client {
	o.clientMu.Lock()
	defer o.clientMu.Unlock()
	return o.client
}

// Connect starts the MQTT session: it returns at once and keeps
// (re)connecting in the background with backoff.
func (o *Outbox) Connect() error {
	if o.cfg.Broker == "" {
		return nil
	}
	o.clientMu.Lock()
	defer o.clientMu.Unlock()
	if o.client != nil {
		return nil
	}
	will, err := json.Marshal(wire.Status{V: wire.Version, Line: o.cfg.Line, State: wire.LineOffline})
	if err != nil {
		return err
	}
	opts := mqtt.NewClientOptions().
		AddBroker(o.cfg.Broker).
		SetClientID(o.cfg.ClientID).
		SetUsername(o.cfg.Username).
		SetPassword(o.cfg.Password).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(o.cfg.ReconnectMax).
		SetKeepAlive(o.cfg.KeepAlive).
		SetPingTimeout(min(o.cfg.KeepAlive, 10*time.Second)).
		SetConnectTimeout(o.cfg.ConnectTimeout).
		SetWriteTimeout(o.cfg.PublishTimeout).
		SetBinaryWill(o.topics.status, will, 1, true).
		SetOnConnectHandler(o.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			o.connected.Store(false)
			o.log.Warn("mqtt connection lost", "broker", o.cfg.Broker, "err", err)
			o.wakePublisher()
		})
	o.client = mqtt.NewClient(opts)
	o.client.Connect() // with ConnectRetry it keeps trying in the background
	o.log.Info("mqtt connecting", "broker", o.cfg.Broker, "client_id", o.cfg.ClientID)
	return nil
}

// onConnect subscribes, republishes the last status and resumes
// publishing from the last ack.
func (o *Outbox) onConnect(c mqtt.Client) {
	subs := map[string]mqtt.MessageHandler{
		o.topics.acks:   o.handleAck,
		o.topics.orders: o.handleOrders,
		o.topics.grant:  o.handleGrant,
	}
	for topic, h := range subs {
		tok := c.Subscribe(topic, 1, h)
		if !tok.WaitTimeout(o.cfg.PublishTimeout) || tok.Error() != nil {
			o.log.Error("mqtt subscribe failed; reconnecting", "topic", topic, "err", tok.Error())
			return
		}
	}
	o.clientMu.Lock()
	st := o.lastStatus
	o.clientMu.Unlock()
	if st != nil {
		c.Publish(o.topics.status, 1, true, st)
	}
	o.stats.connects.Add(1)
	o.connected.Store(true)
	o.log.Info("mqtt connected", "broker", o.cfg.Broker)
	o.wakePublisher()
}

func (o *Outbox) invalid(topic string, payload []byte, err error) {
	o.stats.invalid.Add(1)
	o.log.Error("invalid payload from central ignored", "topic", topic, "bytes", len(payload), "err", err)
}

func (o *Outbox) handleAck(_ mqtt.Client, m mqtt.Message) {
	a, err := wire.DecodeAck(m.Payload())
	if err == nil && a.Line != o.cfg.Line {
		err = fmt.Errorf("line: %q is not this line %q", a.Line, o.cfg.Line)
	}
	if err != nil {
		o.invalid(m.Topic(), m.Payload(), err)
		return
	}
	o.onAck(a)
}

func (o *Outbox) handleOrders(_ mqtt.Client, m mqtt.Message) {
	if len(m.Payload()) == 0 {
		return // retained message cleared
	}
	ords, err := wire.DecodeOrders(m.Payload())
	if err == nil && ords.Line != o.cfg.Line {
		err = fmt.Errorf("line: %q is not this line %q", ords.Line, o.cfg.Line)
	}
	if err != nil {
		o.invalid(m.Topic(), m.Payload(), err)
		return
	}
	if o.cfg.OnOrders != nil {
		o.cfg.OnOrders(ords)
	}
}

func (o *Outbox) handleGrant(_ mqtt.Client, m mqtt.Message) {
	g, err := wire.DecodeSerialGrant(m.Payload())
	if err == nil && g.Line != o.cfg.Line {
		err = fmt.Errorf("line: %q is not this line %q", g.Line, o.cfg.Line)
	}
	if err != nil {
		o.invalid(m.Topic(), m.Payload(), err)
		return
	}
	if o.cfg.OnGrant != nil {
		o.cfg.OnGrant(g)
	}
}

// PublishStatus publishes st retained (and keeps it for the next
// reconnect, since the broker then holds the offline will).
func (o *Outbox) PublishStatus(st wire.Status) error {
	st.V, st.Line = wire.Version, o.cfg.Line
	b, err := wire.Encode(st)
	if err != nil {
		return fmt.Errorf("outbox %q: status: %w", o.cfg.Line, err)
	}
	o.clientMu.Lock()
	o.lastStatus = b
	c := o.client
	o.clientMu.Unlock()
	if c != nil && o.connected.Load() {
		c.Publish(o.topics.status, 1, true, b)
	}
	return nil
}

// RequestSerials publishes a serial request and waits for the broker's
// PUBACK (the pool resends the same id until the grant comes).
func (o *Outbox) RequestSerials(ctx context.Context, req wire.SerialRequest) error {
	b, err := wire.Encode(req)
	if err != nil {
		return fmt.Errorf("outbox %q: serial request: %w", o.cfg.Line, err)
	}
	c := o.mqttClient()
	if c == nil || !o.connected.Load() {
		return fmt.Errorf("outbox %q: serial request %s: %w", o.cfg.Line, req.RequestID, ErrOffline)
	}
	tok := c.Publish(o.topics.request, 1, false, b)
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.cfg.PublishTimeout):
		return fmt.Errorf("outbox %q: serial request %s: no PUBACK within %v", o.cfg.Line, req.RequestID, o.cfg.PublishTimeout)
	}
}

// Stats is a snapshot of the outbox.
type Stats struct {
	LastSeq   uint64 // last seq committed
	Acked     uint64 // last seq central acknowledged (and trimmed)
	Pending   uint64 // committed, not acknowledged: still in the outbox
	Queued    int    // handed over, not yet committed
	Connected bool
	Commits   uint64 // group-commit transactions
	Events    uint64 // events committed by this process
	Batches   uint64 // EventBatch messages published
	Published uint64 // events published (resends included)
	Resends   uint64 // times publishing restarted from the last ack
	Invalid   uint64 // invalid payloads received from central
	Connects  uint64 // MQTT sessions established
	// WindowFull counts the times publishing waited for central's acks
	// because Window events were in flight.
	WindowFull uint64
	// Fault is the last commit error while commits fail, "" otherwise.
	Fault string
}

// Stats returns the counters.
func (o *Outbox) Stats() Stats {
	s := Stats{
		LastSeq: o.committed.Load(), Acked: o.acked.Load(), Queued: len(o.q), Connected: o.connected.Load(),
		Commits: o.stats.commits.Load(), Events: o.stats.events.Load(), Batches: o.stats.batches.Load(),
		Published: o.stats.published.Load(), Resends: o.stats.resends.Load(), Invalid: o.stats.invalid.Load(),
		Connects: o.stats.connects.Load(), WindowFull: o.stats.windowFull.Load(),
	}
	if s.LastSeq > s.Acked {
		s.Pending = s.LastSeq - s.Acked
	}
	o.faultMu.Lock()
	if o.fault != nil {
		s.Fault = o.fault.Error()
	}
	o.faultMu.Unlock()
	return s
}

// Events reads up to max stored events with seq above after, in order.
func (o *Outbox) Events(after uint64, max int) ([]wire.Event, error) {
	var out []wire.Event
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktEvents).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			var e wire.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("seq %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Close commits everything handed over, stops publishing, publishes the
// offline status and ends the MQTT session. Events not yet acknowledged
// stay in the outbox for the next run.
func (o *Outbox) Close() error {
	o.appendMu.Lock()
	if o.closed {
		o.appendMu.Unlock()
		return nil
	}
	o.closed = true
	o.appendMu.Unlock()
	close(o.stop)
	<-o.writerEnd
	<-o.pubEnd
	o.clientMu.Lock()
	c := o.client
	o.clientMu.Unlock()
	if c != nil {
		if o.connected.Load() {
			if b, err := json.Marshal(wire.Status{V: wire.Version, Line: o.cfg.Line, State: wire.LineOffline, At: o.cfg.Now()}); err == nil {
				c.Publish(o.topics.status, 1, true, b).WaitTimeout(time.Second)
			}
		}
		c.Disconnect(250)
	}
	o.connected.Store(false)
	o.faultMu.Lock()
	defer o.faultMu.Unlock()
	return o.fault
}
