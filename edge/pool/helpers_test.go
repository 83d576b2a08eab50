package pool

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const testLine = "t-pool"

func dbPath(tb testing.TB) string { return filepath.Join(tb.TempDir(), "edge.db") }

func testOrder(id string) wire.Order {
	return wire.Order{ID: id, GTIN: "09506000134352", Lot: "LOT42", Expiry: "271231", Quantity: 1000, State: wire.OrderStateReleased, MinGrade: "C"}
}

func seqSpec() *serials.Spec {
	return &serials.Spec{Kind: serials.KindSequential, Length: 10, Alphabet: serials.AlphabetNumeric, Start: 1}
}

func grant(reqID, orderID string, spec *serials.Spec, ranges ...wire.CounterRange) wire.SerialGrant {
	return wire.SerialGrant{V: wire.Version, RequestID: reqID, Line: testLine, Order: orderID, GTIN: "09506000134352", Scheme: spec, Ranges: ranges}
}

// boltSink stands in for the outbox (tested in its own package): it makes
// events durable in a bucket and calls the pool's fate hook in the same
// transaction, as the outbox does.
type boltSink struct {
	db *bolt.DB
	p  *Pool

	mu  sync.Mutex
	seq uint64
}

var bktTestEvents = []byte("test-events")

func (s *boltSink) AppendSync(_ context.Context, evs ...wire.Event) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bktTestEvents)
		if err != nil {
			return err
		}
		seq := getU64(b, []byte("seq"))
		for i := range evs {
			seq++
			evs[i].Seq = seq
			v, err := json.Marshal(evs[i])
			if err != nil {
				return err
			}
			var k [9]byte
			k[0] = 'e'
			binary.BigEndian.PutUint64(k[1:], seq)
			if err := b.Put(k[:], v); err != nil {
				return err
			}
		}
		if err := b.Put([]byte("seq"), u64(seq)); err != nil {
			return err
		}
		return s.p.RecordFates(tx, evs)
	})
	return s.seq, err
}

func (s *boltSink) Flush(context.Context) error { return nil }

// events reads back every event the sink stored.
func storedEvents(tb testing.TB, db *bolt.DB) []wire.Event {
	tb.Helper()
	var out []wire.Event
	require.NoError(tb, db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktTestEvents)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if k[0] != 'e' {
				return nil
			}
			var e wire.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	}))
	return out
}

// fate records the fate of units through the sink.
func fate(tb testing.TB, s *boltSink, typ wire.EventType, reason wire.Reason, units ...Lost) {
	tb.Helper()
	evs := make([]wire.Event, 0, len(units))
	for _, u := range units {
		c := u.Counter
		evs = append(evs, wire.Event{Type: typ, Reason: reason, At: time.Now(), Order: u.Order, GTIN: "09506000134352",
			Serial: u.Serial, Lot: "LOT42", Expiry: "271231", Counter: &c})
	}
	_, err := s.AppendSync(context.Background(), evs...)
	require.NoError(tb, err)
}

// recorder is a Requester that records requests; it fails while offline.
type recorder struct {
	mu      sync.Mutex
	offline bool
	reqs    []wire.SerialRequest
	sent    chan wire.SerialRequest
}

func newRecorder() *recorder { return &recorder{sent: make(chan wire.SerialRequest, 64)} }

func (r *recorder) RequestSerials(_ context.Context, req wire.SerialRequest) error {
	if err := req.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	if r.offline {
		return errors.New("offline")
	}
	r.sent <- req
	return nil
}

func (r *recorder) setOffline(v bool) {
	r.mu.Lock()
	r.offline = v
	r.mu.Unlock()
}

func (r *recorder) all() []wire.SerialRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.SerialRequest(nil), r.reqs...)
}

// openPool opens a pool over db with the sink wired as the outbox would be.
func openPool(tb testing.TB, db *bolt.DB, cfg Config) (*Pool, *boltSink) {
	tb.Helper()
	if cfg.Line == "" {
		cfg.Line = testLine
	}
	p, err := Open(db, cfg, testkit.Logger(tb))
	require.NoError(tb, err)
	return p, &boltSink{db: db, p: p}
}

// take takes n serials.
func take(tb testing.TB, p *Pool, n int) []Lost {
	tb.Helper()
	out := make([]Lost, 0, n)
	for range n {
		u, s, err := p.Take(nil)
		require.NoError(tb, err)
		out = append(out, Lost{Unit: u, Serial: string(s)})
	}
	return out
}

// startedOrder adds order id with a sequential grant of ranges and makes it
// active.
func startedOrder(tb testing.TB, p *Pool, id string, ranges ...wire.CounterRange) {
	tb.Helper()
	require.NoError(tb, p.AddOrder(testOrder(id)))
	require.NoError(tb, p.Activate(id))
	r, err := p.RequestNow(context.Background(), id, newRecorder())
	require.NoError(tb, err)
	g := grant(r.RequestID, id, seqSpec(), ranges...)
	require.NoError(tb, g.Validate())
	require.NoError(tb, p.ApplyGrant(g))
}

func durableMarks(tb testing.TB, db *bolt.DB, order string) (reserved, fatedLo uint64) {
	tb.Helper()
	require.NoError(tb, db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPool).Bucket([]byte(order))
		reserved, fatedLo = getU64(b, keyReserved), getU64(b, keyFatedLo)
		return nil
	}))
	return reserved, fatedLo
}
