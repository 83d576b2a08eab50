package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const (
	gtinSeq  = "00312345678906" // sequential scheme
	gtinRand = "00312345678913" // randomized scheme
	gtinList = "00312345678920" // imported list
	line1    = "L1"
	line2    = "L2"
	testKey  = "8f1e3c5a7b9d0e2f4a6c8e0b2d4f6a8c"
	lot      = "LOT42"
	expiry   = "281231"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

func open(tb testing.TB, dsn string) *store.Store {
	tb.Helper()
	return storetest.Open(tb, dsn, testkit.Logger(tb))
}

func product(gtin string, spec serials.Spec) master.Product {
	return master.Product{
		GTIN: gtin, Name: "Paracetamol 500 mg tablets", Form: "tablet", Strength: "500 mg", PackSize: 20,
		CompanyPrefixLen: 7, NDC: testkit.NDC(gtin), Markets: []master.Market{master.MarketUSDSCSA}, Scheme: spec,
		StandardCost: 125, Currency: "EUR", MinGrade: "C",
	}
}

var (
	seqSpec  = serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}
	randSpec = serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetNumeric, Key: testKey}
	listSpec = serials.Spec{Kind: serials.KindList}
)

// fixture is a store with products, two lines and an order released to L1.
type fixture struct {
	s   *store.Store
	ctx context.Context
}

func newFixture(tb testing.TB, dsn string) fixture {
	tb.Helper()
	f := fixture{s: open(tb, dsn), ctx: storetest.Context(tb)}
	require.NoError(tb, f.s.PutProduct(f.ctx, product(gtinSeq, seqSpec)))
	require.NoError(tb, f.s.PutProduct(f.ctx, product(gtinRand, randSpec)))
	require.NoError(tb, f.s.PutProduct(f.ctx, product(gtinList, listSpec)))
	for _, l := range []string{line1, line2} {
		require.NoError(tb, f.s.PutLine(f.ctx, master.Line{ID: l, Name: "Line " + l, PasswordHash: "pbkdf2$x"}))
	}
	return f
}

// order creates and releases an order of 1,000 units of gtin to line.
func (f fixture) order(tb testing.TB, id, gtin, line string) {
	tb.Helper()
	f.orderOf(tb, id, gtin, line, 1000)
}

// orderOf creates and releases an order of quantity units of gtin to line.
func (f fixture) orderOf(tb testing.TB, id, gtin, line string, quantity uint64) {
	tb.Helper()
	_, err := f.s.CreateOrder(f.ctx, orders.WorkOrder{ID: id, GTIN: gtin, Lot: lot, Expiry: expiry, Quantity: quantity})
	require.NoError(tb, err)
	_, err = f.s.ReleaseOrder(f.ctx, id, line)
	require.NoError(tb, err)
}

func (f fixture) grant(tb testing.TB, reqID, line, order, gtin string, n uint64) wire.SerialGrant {
	tb.Helper()
	g, err := f.s.Grant(f.ctx, wire.SerialRequest{V: 1, RequestID: reqID, Line: line, Order: order, GTIN: gtin, Count: n}, 0)
	require.NoError(tb, err)
	return g
}

// units makes the serials of the grant's counters, as the edge does.
type unitSrc struct {
	tb      testing.TB
	grant   wire.SerialGrant
	scheme  serials.Scheme
	counter []uint64
	serial  []string
}

func newUnitSrc(tb testing.TB, g wire.SerialGrant) *unitSrc {
	tb.Helper()
	u := &unitSrc{tb: tb, grant: g}
	if g.Scheme.Kind != serials.KindList {
		sc, err := serials.New(*g.Scheme)
		require.NoError(tb, err)
		u.scheme = sc
	}
	i := 0
	for _, r := range g.Ranges {
		for c := r.Start; c < r.End(); c++ {
			u.counter = append(u.counter, c)
			if u.scheme != nil {
				b, err := u.scheme.Serial(nil, c)
				require.NoError(tb, err)
				u.serial = append(u.serial, string(b))
			} else {
				u.serial = append(u.serial, g.Serials[i])
			}
			i++
		}
	}
	return u
}

// ev builds line events; seq doubles as the id suffix.
func ev(line string, seq uint64, typ wire.EventType) wire.Event {
	return wire.Event{ID: fmt.Sprintf("%s:%d", line, seq), Seq: seq, Type: typ, At: t0.Add(time.Duration(seq) * time.Millisecond), Operator: "ana"}
}

// unitEv is an event about unit i of src.
func (u *unitSrc) ev(line string, seq uint64, typ wire.EventType, i int) wire.Event {
	e := ev(line, seq, typ)
	e.Order, e.GTIN, e.Serial, e.Counter = u.grant.Order, u.grant.GTIN, u.serial[i], new(u.counter[i])
	if typ == wire.Commissioned || typ == wire.Decommissioned {
		e.Lot, e.Expiry = lot, expiry
	}
	if typ == wire.Decommissioned {
		e.Reason = wire.ReasonNoRead
	}
	return e
}

// commissionAll returns commissioning events for units [from, to) of src
// with seqs starting at seq.
func (u *unitSrc) commission(line string, seq uint64, from, to int) []wire.Event {
	out := make([]wire.Event, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, u.ev(line, seq, wire.Commissioned, i))
		seq++
	}
	return out
}
