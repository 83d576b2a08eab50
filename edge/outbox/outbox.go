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
// (up to BatchMax events, or whatever waited Linger) through the
// Publisher (the line's MQTT session, edge/session), never more than Window
// events ahead of central's last ack, so a burst after a long outage cannot
// overflow the broker's queues. After a reconnect (Wake), or when acks stop
// coming for ResendAfter, it resends from the last ack; central applies
// each event id once. Events are deleted only when central's acks (Ack)
// cover their seq.
package outbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/wire"
)

// ErrClosed is returned by Append and the other calls after Close.
var ErrClosed = errors.New("outbox closed")

// Defaults applied by Config.WithDefaults.
const (
	DefaultBatchMax    = 500
	DefaultLinger      = 50 * time.Millisecond
	DefaultWindow      = 5000
	DefaultResendAfter = 10 * time.Second
	DefaultCommitMax   = 1000
	DefaultQueue       = 16384
	// DefaultKeepAcked is the agent's default KeepAcked: about 5 h of a
	// line at 300 packs/min, some 40 MB.
	DefaultKeepAcked = 100_000
)

// Publisher sends event batches to central (edge/session.Session).
type Publisher interface {
	Connected() bool
	// PublishEvents sends an events payload and returns once the broker
	// has it (PUBACK).
	PublishEvents(ctx context.Context, payload []byte) error
}

// CommitHook runs inside each commit transaction with the events being
// committed (seq and id assigned); an error aborts the commit. The serial
// pool records the units' fates there, packing its records.
type CommitHook func(tx *bolt.Tx, evs []wire.Event) error

// Config configures the outbox.
type Config struct {
	// Line is the line id (event ids, batches).
	Line string
	// Publisher sends the batches; nil keeps the events only.
	Publisher Publisher
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
	// KeepAcked is how many acknowledged events the store keeps (the
	// newest), so that a central restored from a backup, which names what
	// it lacks in its acks (wire.Ack.Missing), gets them again. 0 keeps
	// none (the agent's default is DefaultKeepAcked).
	KeepAcked uint64
	// Hooks run, in order, inside each commit transaction.
	Hooks []CommitHook
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
	}{{"linger", c.Linger}, {"resend_after", c.ResendAfter}} {
		if kv.v < 0 {
			return fmt.Errorf("outbox: %s: must not be negative, got %v", kv.key, kv.v)
		}
	}
	return nil
}

// item is one hand-over: a single event (Append), or several to commit
// together and a channel for the outcome (AppendSync, Flush). Its events
// have passed check, the line's one validation: the writer stores them and
// the publisher sends the stored bytes without validating again.
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
	cfg Config
	db  *bolt.DB
	log *slog.Logger
	// ctx ends at Close: a publish in flight is cut off.
	ctx    context.Context
	cancel context.CancelFunc

	incMu sync.Mutex
	epoch string // the incarnation
	idPre string // line ":" epoch ":"
	// reinc asks the writer to start a new incarnation: central holds this
	// seq of the current one, beyond the store's last.
	reinc chan uint64
	// refill asks the publisher to send acknowledged events again.
	refill chan wire.SeqRange

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
	restart   atomic.Uint64 // bumped by a new incarnation: publish from its start

	stats struct {
		commits, events, commitErrs, batches, resends, published, windowFull atomic.Uint64
	}
	faultMu sync.Mutex
	fault   error // last commit error while it persists
}

// Open prepares the outbox on db (creating its buckets) and starts the
// writer and the publisher.
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
		refill:    make(chan wire.SeqRange, 1),
	}
	o.ctx, o.cancel = context.WithCancel(context.Background())
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

// Stats is a snapshot of the outbox.
type Stats struct {
	LastSeq   uint64 // last seq committed
	Acked     uint64 // last seq central acknowledged (and trimmed)
	Pending   uint64 // committed, not acknowledged: still in the outbox
	Queued    int    // handed over, not yet committed
	Connected bool   // the publisher is connected
	Commits   uint64 // group-commit transactions
	Events    uint64 // events committed by this process
	Batches   uint64 // EventBatch messages published
	Published uint64 // events published (resends included)
	Resends   uint64 // times publishing restarted from the last ack
	// WindowFull counts the times publishing waited for central's acks
	// because Window events were in flight.
	WindowFull uint64
	// Fault is the last commit error while commits fail, "" otherwise.
	Fault string
}

// Stats returns the counters.
func (o *Outbox) Stats() Stats {
	s := Stats{
		LastSeq: o.committed.Load(), Acked: o.acked.Load(), Queued: len(o.q), Connected: o.cfg.Publisher != nil && o.cfg.Publisher.Connected(),
		Commits: o.stats.commits.Load(), Events: o.stats.events.Load(), Batches: o.stats.batches.Load(),
		Published: o.stats.published.Load(), Resends: o.stats.resends.Load(), WindowFull: o.stats.windowFull.Load(),
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

// Close commits everything handed over and stops publishing (a publish in
// flight is cut off). Events not yet acknowledged stay in the outbox for
// the next run. It returns the last commit error, if commits were failing.
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
	o.cancel()
	<-o.pubEnd
	o.faultMu.Lock()
	defer o.faultMu.Unlock()
	return o.fault
}
