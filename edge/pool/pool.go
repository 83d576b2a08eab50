package pool

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// ErrEmpty is returned (wrapped with the order id) by Take when the active
// order has no serial left. The line must stop: the pool never invents one.
var ErrEmpty = errors.New("serial pool empty")

// ErrNoOrder is returned by Take when no order is active, and by the order
// methods for an order the pool does not know.
var ErrNoOrder = errors.New("no such order in the serial pool")

// ErrOrderClosed is returned for an order that is closed: it takes no more
// serials and no grants.
var ErrOrderClosed = errors.New("order closed")

// errNothingNeeded: the order can use no more serials.
var errNothingNeeded = errors.New("the order needs no more serials (quantity and reject allowance covered)")

// ErrUnsolicited is returned by ApplyGrant for a grant that answers no
// pending request of ours (a stale duplicate, or another edge's).
var ErrUnsolicited = errors.New("grant answers no pending request")

// Defaults applied by Config.WithDefaults.
const (
	DefaultReserveBlock    = 128
	DefaultLowWaterMinutes = 30
	DefaultRefillMinutes   = 120
	DefaultMinRequest      = 1000
	DefaultMaxRequest      = 100_000
	DefaultNominalRate     = 300 // units/min, before a rate is measured
	DefaultRequestRetry    = 10 * time.Second
	DefaultCheckEvery      = time.Second
	MaxReserveBlock        = 1 << 16
)

// Config tunes the pool.
type Config struct {
	// Line is the line id, used in serial requests.
	Line string
	// ReserveBlock is how many positions one reservation write covers. A
	// crash voids at most about this many serials (plus the units in flight).
	ReserveBlock uint64
	// LowWaterMinutes: below this many minutes of production at the current
	// rate, the pool asks central for more.
	LowWaterMinutes float64
	// RefillMinutes sizes a request: this many minutes at the current rate,
	// between MinRequest and MaxRequest serials.
	RefillMinutes          float64
	MinRequest, MaxRequest uint64
	// NominalRate (units/min) stands in for the measured rate before the
	// line has run.
	NominalRate float64
	// RequestRetry is how long to wait for a grant before sending the same
	// request (same id) again.
	RequestRetry time.Duration
	// CheckEvery is how often Run checks levels and retries.
	CheckEvery time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// WithDefaults fills unset fields.
func (c Config) WithDefaults() Config {
	if c.ReserveBlock == 0 {
		c.ReserveBlock = DefaultReserveBlock
	}
	if c.LowWaterMinutes == 0 {
		c.LowWaterMinutes = DefaultLowWaterMinutes
	}
	if c.RefillMinutes == 0 {
		c.RefillMinutes = DefaultRefillMinutes
	}
	if c.MinRequest == 0 {
		c.MinRequest = DefaultMinRequest
	}
	if c.MaxRequest == 0 {
		c.MaxRequest = DefaultMaxRequest
	}
	if c.NominalRate == 0 {
		c.NominalRate = DefaultNominalRate
	}
	if c.RequestRetry == 0 {
		c.RequestRetry = DefaultRequestRetry
	}
	if c.CheckEvery == 0 {
		c.CheckEvery = DefaultCheckEvery
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
		return fmt.Errorf("pool: line: %w", err)
	}
	if c.ReserveBlock < 2 || c.ReserveBlock > MaxReserveBlock {
		return fmt.Errorf("pool: reserve_block: must be 2..%d serials, got %d", MaxReserveBlock, c.ReserveBlock)
	}
	for _, kv := range []struct {
		key string
		v   float64
	}{{"low_water_minutes", c.LowWaterMinutes}, {"refill_minutes", c.RefillMinutes}, {"nominal_rate", c.NominalRate}} {
		if math.IsNaN(kv.v) || math.IsInf(kv.v, 0) || kv.v <= 0 {
			return fmt.Errorf("pool: %s: must be a positive number, got %v", kv.key, kv.v)
		}
	}
	if c.RefillMinutes < c.LowWaterMinutes {
		return fmt.Errorf("pool: refill_minutes: must be at least low_water_minutes (%v), got %v", c.LowWaterMinutes, c.RefillMinutes)
	}
	if c.MaxRequest < c.MinRequest {
		return fmt.Errorf("pool: max_request: must be at least min_request (%d), got %d", c.MinRequest, c.MaxRequest)
	}
	if c.RequestRetry < 0 || c.CheckEvery < 0 {
		return errors.New("pool: request_retry, check_every: must not be negative")
	}
	return nil
}

// Requester sends a serial request to central (the outbox, over MQTT).
type Requester interface {
	RequestSerials(ctx context.Context, req wire.SerialRequest) error
}

// Sink makes events durable (the outbox): AppendSync returns once they are
// committed, with their fates recorded through RecordFates.
type Sink interface {
	AppendSync(ctx context.Context, evs ...wire.Event) (uint64, error)
	Flush(ctx context.Context) error
}

// Unit is one serial handed out.
type Unit struct {
	Order    string
	Position uint64 // index in the order's pool, in take order
	Counter  uint64 // the grant counter the serial is made from
}

// Pool is the serial stock of one line. Its methods are safe for
// concurrent use; Take is meant for one goroutine (the trigger path).
type Pool struct {
	cfg Config
	db  *bolt.DB
	log *slog.Logger

	resMu  sync.Mutex    // serialises reservation writes
	nudge  chan struct{} // wakes Run: reservation or level check due
	stalls atomic.Uint64 // Takes that had to wait for a reservation write
	dups   atomic.Uint64 // fates recorded twice (a bug elsewhere; logged)

	mu      sync.Mutex
	orders  map[string]*order
	active  *order
	changed chan struct{}
	closed  bool
}

// order is the in-memory state of one work order's serials.
type order struct {
	id      string
	o       wire.Order
	spec    *serials.Spec
	scheme  serials.Scheme // nil for list schemes (slab) and before a grant
	slab    *slab          // list schemes: the granted serials by position
	spans   []span         // grant ranges in take order
	byCtr   []int          // indexes into spans sorted by counter start
	cur     int            // span holding next (cache for Take)
	total   uint64         // positions granted
	next    uint64         // next position to take
	resv    uint64         // reserved mark (durable)
	fatedLo uint64         // lowest position without a recorded fate
	lost    []uint64       // positions unaccounted at Open, until Recover
	// recovered are the serials of the first positions Recover voided:
	// the labels a crash may have left printed and unapplied.
	recovered []string
	counts    wire.Reconciliation
	// allowBase is the reject allowance central sent first; allowExt the
	// extensions made at this line (allowance-extended events).
	allowBase, allowExt uint64
	started             bool
	closed              bool
	pending             *pendingRequest
	refused             string // last refusal from central
	retryAt             time.Time
	rate                rateMeter
}

type span struct {
	pos0, start, count uint64
}

type pendingRequest struct {
	ID      string    `json:"id"`
	Count   uint64    `json:"count"`
	Created time.Time `json:"created"`
	sentAt  time.Time
}

// bucket and key names.
var (
	bktPool      = []byte("pool")
	keyOrder     = []byte("order")
	keyScheme    = []byte("scheme")
	keyReserved  = []byte("reserved")
	keyFatedLo   = []byte("fated_low")
	keyCounts    = []byte("counts")
	keyState     = []byte("state")
	keyPending   = []byte("pending")
	keyAllowBase = []byte("allowance_base")
	keyAllowExt  = []byte("allowance_ext")
	bktGrants    = []byte("grants")
	bktFated     = []byte("fated")
	bktRequests  = []byte("requests")
	valApplied   = []byte("applied")
	stateStarted = []byte("started")
	stateClosed  = []byte("closed")
)

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// grantRecord is a grant as stored.
type grantRecord struct {
	RequestID string              `json:"request_id"`
	Ranges    []wire.CounterRange `json:"ranges"`
	Serials   []string            `json:"serials,omitempty"`
}

// Open loads the pool from db (creating its bucket) and works out, for
// every open order, which positions are unaccounted after the last run;
// Recover reports them voided.
func Open(db *bolt.DB, cfg Config, log *slog.Logger) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("pool: logger: missing")
	}
	p := &Pool{
		cfg:     cfg.WithDefaults(),
		db:      db,
		log:     log,
		nudge:   make(chan struct{}, 1),
		orders:  map[string]*order{},
		changed: make(chan struct{}),
	}
	err := db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bktPool)
		if err != nil {
			return err
		}
		return root.ForEachBucket(func(k []byte) error {
			o, err := p.load(root.Bucket(k))
			if err != nil {
				return fmt.Errorf("order %q: %w", k, err)
			}
			p.orders[o.id] = o
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("pool: open: %w", err)
	}
	for _, o := range p.orders {
		if len(o.lost) > 0 {
			p.log.Warn("serials unaccounted after restart: they will be voided",
				"order", o.id, "count", len(o.lost), "from", o.lost[0], "to", o.lost[len(o.lost)-1], "reserved", o.resv)
		}
	}
	return p, nil
}

// load reads one order's bucket.
func (p *Pool) load(b *bolt.Bucket) (*order, error) {
	o := &order{}
	if err := json.Unmarshal(b.Get(keyOrder), &o.o); err != nil {
		return nil, fmt.Errorf("order record: %w", err)
	}
	o.id = o.o.ID
	if v := b.Get(keyScheme); v != nil {
		var s serials.Spec
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("scheme: %w", err)
		}
		if err := o.setScheme(s); err != nil {
			return nil, err
		}
	}
	if v := b.Get(keyCounts); v != nil {
		if err := json.Unmarshal(v, &o.counts); err != nil {
			return nil, fmt.Errorf("counts: %w", err)
		}
	}
	st := b.Bucket(keyState)
	if st != nil {
		o.started = st.Get(stateStarted) != nil
		o.closed = st.Get(stateClosed) != nil
	}
	if v := b.Get(keyPending); v != nil {
		var pr pendingRequest
		if err := json.Unmarshal(v, &pr); err != nil {
			return nil, fmt.Errorf("pending request: %w", err)
		}
		o.pending = &pr // sentAt zero: Run sends it again at once, same id
	}
	if g := b.Bucket(bktGrants); g != nil {
		err := g.ForEach(func(_, v []byte) error {
			var gr grantRecord
			if err := json.Unmarshal(v, &gr); err != nil {
				return fmt.Errorf("grant: %w", err)
			}
			o.addRanges(gr.Ranges, gr.Serials)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	o.resv = getU64(b, keyReserved)
	o.fatedLo = getU64(b, keyFatedLo)
	o.allowBase, o.allowExt = getU64(b, keyAllowBase), getU64(b, keyAllowExt)
	if b.Get(keyAllowBase) == nil {
		o.allowBase = o.o.RejectAllowance // stored before allowances were kept
	}
	// Anything below the reserved mark may have been handed out before the
	// crash: resume above it.
	o.next = o.resv
	if !o.closed {
		fated := b.Bucket(bktFated)
		for pos := o.fatedLo; pos < o.resv; pos++ {
			if fated != nil && fated.Get(u64(pos)) != nil {
				continue
			}
			o.lost = append(o.lost, pos)
		}
	}
	o.seek(o.next)
	return o, nil
}

func (o *order) setScheme(s serials.Spec) error {
	o.spec = &s
	if s.Kind == serials.KindList {
		if o.slab == nil {
			o.slab = &slab{}
		}
		return nil
	}
	sc, err := serials.New(s)
	if err != nil {
		return fmt.Errorf("scheme: %w", err)
	}
	o.scheme = sc
	return nil
}

// addRanges appends granted ranges (and list serials) in take order.
func (o *order) addRanges(ranges []wire.CounterRange, list []string) {
	for _, r := range ranges {
		o.spans = append(o.spans, span{pos0: o.total, start: r.Start, count: r.Count})
		o.total += r.Count
	}
	if o.slab != nil {
		for _, s := range list {
			o.slab.add(s)
		}
	}
	o.byCtr = o.byCtr[:0]
	for i := range o.spans {
		o.byCtr = append(o.byCtr, i)
	}
	sort.Slice(o.byCtr, func(a, b int) bool { return o.spans[o.byCtr[a]].start < o.spans[o.byCtr[b]].start })
}

// seek points cur at the span holding pos.
func (o *order) seek(pos uint64) {
	o.cur = sort.Search(len(o.spans), func(i int) bool { return o.spans[i].pos0+o.spans[i].count > pos })
}

// counterAt maps a position to its counter.
func (o *order) counterAt(pos uint64) uint64 {
	if o.cur >= len(o.spans) || pos < o.spans[o.cur].pos0 || pos >= o.spans[o.cur].pos0+o.spans[o.cur].count {
		o.seek(pos)
	}
	s := o.spans[o.cur]
	return s.start + (pos - s.pos0)
}

// position maps a counter back to its position.
func (o *order) position(counter uint64) (uint64, bool) {
	i := sort.Search(len(o.byCtr), func(i int) bool {
		s := o.spans[o.byCtr[i]]
		return s.start+s.count > counter
	})
	if i == len(o.byCtr) {
		return 0, false
	}
	s := o.spans[o.byCtr[i]]
	if counter < s.start {
		return 0, false
	}
	return s.pos0 + (counter - s.start), true
}

// appendSerial appends the serial at pos (with its counter) to dst.
func (o *order) appendSerial(dst []byte, pos, counter uint64) ([]byte, error) {
	if o.slab != nil {
		return append(dst, o.slab.at(pos)...), nil
	}
	if o.scheme == nil {
		return dst, fmt.Errorf("order %q: no scheme yet", o.id)
	}
	return o.scheme.Serial(dst, counter)
}

// slab holds list serials back to back: one allocation for a million.
type slab struct {
	data []byte
	ends []uint32
}

func (s *slab) add(v string) {
	s.data = append(s.data, v...)
	s.ends = append(s.ends, uint32(len(s.data)))
}

func (s *slab) at(pos uint64) []byte {
	var from uint32
	if pos > 0 {
		from = s.ends[pos-1]
	}
	return s.data[from:s.ends[pos]]
}

func (p *Pool) now() time.Time { return p.cfg.Now() }

// notifyLocked wakes Changes waiters.
func (p *Pool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Changes returns a channel closed at the next change of any level, grant
// or order state.
func (p *Pool) Changes() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *Pool) wake() {
	select {
	case p.nudge <- struct{}{}:
	default:
	}
}

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

func (p *Pool) orderBucket(tx *bolt.Tx, id string) *bolt.Bucket {
	return tx.Bucket(bktPool).Bucket([]byte(id))
}

// Stalls counts Takes that waited for a reservation write (the reservation
// fell behind the line).
func (p *Pool) Stalls() uint64 { return p.stalls.Load() }

// DuplicateFates counts fates recorded for a position that already had
// one: always 0 unless something upstream is wrong.
func (p *Pool) DuplicateFates() uint64 { return p.dups.Load() }

// fateDelta is what one commit adds to an order's memory state.
type fateDelta struct {
	counts   wire.Reconciliation
	fatedLo  uint64
	started  bool
	closed   bool
	extended uint64
}

// RecordFates is the outbox's commit hook: inside the transaction that
// makes evs durable it records the fate of every unit event that carries a
// counter of one of our orders, and the order's counts, so that a fate is
// durable exactly when its event is. Events of unknown orders are ignored.
func (p *Pool) RecordFates(tx *bolt.Tx, evs []wire.Event) error {
	deltas := map[*order]*fateDelta{}
	for i := range evs {
		ev := &evs[i]
		p.mu.Lock()
		o := p.orders[ev.Order]
		p.mu.Unlock()
		if o == nil {
			continue
		}
		b := p.orderBucket(tx, o.id)
		if b == nil {
			continue
		}
		d := deltas[o]
		if d == nil {
			d = &fateDelta{}
			deltas[o] = d
		}
		switch ev.Type {
		case wire.Commissioned, wire.Decommissioned, wire.Voided:
			if ev.Counter == nil {
				continue
			}
			p.mu.Lock()
			pos, ok := o.position(*ev.Counter)
			p.mu.Unlock()
			if !ok {
				p.log.Error("fate for a counter this order was never granted", "order", o.id, "counter", *ev.Counter, "type", ev.Type)
				continue
			}
			dup, lo, err := markFated(b, pos)
			if err != nil {
				return err
			}
			if dup {
				p.dups.Add(1)
				p.log.Error("second fate for one serial: not counted", "order", o.id, "position", pos, "serial", ev.Serial, "type", ev.Type)
				continue
			}
			d.fatedLo = max(d.fatedLo, lo)
			switch ev.Type {
			case wire.Commissioned:
				d.counts.Commissioned++
			case wire.Voided:
				d.counts.Voided++
			default:
				if d.counts.Decommissioned == nil {
					d.counts.Decommissioned = map[wire.Reason]uint64{}
				}
				d.counts.Decommissioned[ev.Reason]++
			}
		case wire.SerialsReturned:
			for _, r := range ev.Ranges {
				d.counts.ReturnedUnused += r.Count
			}
		case wire.OrderStarted:
			d.started = true
		case wire.OrderClosed:
			d.closed = true
		case wire.AllowanceExtended:
			d.extended += ev.Allowance
		}
	}
	for o, d := range deltas {
		b := p.orderBucket(tx, o.id)
		var c wire.Reconciliation
		if v := b.Get(keyCounts); v != nil {
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("pool: order %q: counts: %w", o.id, err)
			}
		}
		addCounts(&c, d.counts)
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if err := b.Put(keyCounts, v); err != nil {
			return err
		}
		if d.extended > 0 {
			if err := b.Put(keyAllowExt, u64(getU64(b, keyAllowExt)+d.extended)); err != nil {
				return err
			}
		}
		if d.started || d.closed {
			st, err := b.CreateBucketIfNotExists(keyState)
			if err != nil {
				return err
			}
			if d.started {
				if err := st.Put(stateStarted, []byte{1}); err != nil {
					return err
				}
			}
			if d.closed {
				if err := st.Put(stateClosed, []byte{1}); err != nil {
					return err
				}
			}
		}
		tx.OnCommit(func() {
			p.mu.Lock()
			addCounts(&o.counts, d.counts)
			o.fatedLo = max(o.fatedLo, d.fatedLo)
			o.allowExt += d.extended
			o.started = o.started || d.started
			if d.closed {
				o.closed = true
				o.pending = nil
				if p.active == o {
					p.active = nil
				}
			}
			p.notifyLocked()
			p.mu.Unlock()
		})
	}
	return nil
}

// markFated records pos as fated in b and returns whether it already was,
// and the new fated-low mark.
func markFated(b *bolt.Bucket, pos uint64) (dup bool, lo uint64, err error) {
	lo = getU64(b, keyFatedLo)
	set, err := b.CreateBucketIfNotExists(bktFated)
	if err != nil {
		return false, 0, err
	}
	if pos < lo || set.Get(u64(pos)) != nil {
		return true, lo, nil
	}
	if pos != lo {
		return false, lo, set.Put(u64(pos), []byte{1})
	}
	lo++
	for set.Get(u64(lo)) != nil {
		if err := set.Delete(u64(lo)); err != nil {
			return false, 0, err
		}
		lo++
	}
	return false, lo, b.Put(keyFatedLo, u64(lo))
}

func addCounts(c *wire.Reconciliation, d wire.Reconciliation) {
	c.Granted += d.Granted
	c.Commissioned += d.Commissioned
	c.Voided += d.Voided
	c.ReturnedUnused += d.ReturnedUnused
	for r, n := range d.Decommissioned {
		if c.Decommissioned == nil {
			c.Decommissioned = map[wire.Reason]uint64{}
		}
		c.Decommissioned[r] += n
	}
}

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
	err = p.db.Update(func(tx *bolt.Tx) error {
		b := p.orderBucket(tx, o.id)
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
		if err := rb.Put([]byte(g.RequestID), valApplied); err != nil {
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
