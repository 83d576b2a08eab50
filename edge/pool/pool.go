package pool

import (
	"context"
	"encoding/binary"
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

func (p *Pool) orderBucket(tx *bolt.Tx, id string) *bolt.Bucket {
	return tx.Bucket(bktPool).Bucket([]byte(id))
}
