package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// The products, lines and batch of NewFixture.
const (
	GTINSeq  = "00312345678906" // sequential scheme
	GTINRand = "00312345678913" // randomized scheme
	GTINList = "00312345678920" // imported list
	Line1    = "L1"
	Line2    = "L2"
	TestKey  = "8f1e3c5a7b9d0e2f4a6c8e0b2d4f6a8c"
	Lot      = "LOT42"
	Expiry   = "281231"
)

// T0 is when the line events of Ev happen (plus seq milliseconds).
var T0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// The serial schemes of GTINSeq, GTINRand and GTINList.
var (
	SeqSpec  = serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}
	RandSpec = serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetNumeric, Key: TestKey}
	ListSpec = serials.Spec{Kind: serials.KindList}
)

// Product is a valid US DSCSA product of gtin with serial scheme spec.
func Product(gtin string, spec serials.Spec) master.Product {
	return master.Product{
		GTIN: gtin, Name: "Paracetamol 500 mg tablets", Form: "tablet", Strength: "500 mg", PackSize: 20,
		CompanyPrefixLen: 7, NDC: testkit.NDC(gtin), Markets: []master.Market{master.MarketUSDSCSA}, Scheme: spec,
		StandardCost: 125, Currency: "EUR", MinGrade: "C",
	}
}

// Fixture is a store with the three products and the two lines.
type Fixture struct {
	S   *store.Store
	Ctx context.Context
}

// NewFixture opens the store at dsn and puts GTINSeq, GTINRand, GTINList,
// Line1 and Line2 in it.
func NewFixture(tb testing.TB, dsn string) Fixture {
	tb.Helper()
	f := Fixture{S: Open(tb, dsn, testkit.Logger(tb)), Ctx: Context(tb)}
	require.NoError(tb, f.S.PutProduct(f.Ctx, Product(GTINSeq, SeqSpec)))
	require.NoError(tb, f.S.PutProduct(f.Ctx, Product(GTINRand, RandSpec)))
	require.NoError(tb, f.S.PutProduct(f.Ctx, Product(GTINList, ListSpec)))
	for _, l := range []string{Line1, Line2} {
		require.NoError(tb, f.S.PutLine(f.Ctx, master.Line{ID: l, Name: "Line " + l, PasswordHash: "pbkdf2$x"}))
	}
	return f
}

// Order creates and releases an order of 1,000 units of gtin to line.
func (f Fixture) Order(tb testing.TB, id, gtin, line string) {
	tb.Helper()
	f.OrderOf(tb, id, gtin, line, 1000)
}

// OrderOf creates and releases an order of quantity units of gtin to line.
func (f Fixture) OrderOf(tb testing.TB, id, gtin, line string, quantity uint64) {
	tb.Helper()
	_, err := f.S.CreateOrder(f.Ctx, orders.WorkOrder{ID: id, GTIN: gtin, Lot: Lot, Expiry: Expiry, Quantity: quantity})
	require.NoError(tb, err)
	_, err = f.S.ReleaseOrder(f.Ctx, id, line)
	require.NoError(tb, err)
}

// Grant grants n serials of the order to line.
func (f Fixture) Grant(tb testing.TB, reqID, line, order, gtin string, n uint64) wire.SerialGrant {
	tb.Helper()
	g, err := f.S.Grant(f.Ctx, wire.SerialRequest{V: 1, RequestID: reqID, Line: line, Order: order, GTIN: gtin, Count: n}, 0)
	require.NoError(tb, err)
	return g
}

// Req is a request for n serials of the order.
func Req(id, line, order, gtin string, n uint64) wire.SerialRequest {
	return wire.SerialRequest{V: 1, RequestID: id, Line: line, Order: order, GTIN: gtin, Count: n}
}

// Applied is a fixture with WO-1 (randomized GTIN) released to L1 and 100
// serials granted.
func Applied(tb testing.TB, dsn string) (Fixture, *UnitSrc) {
	tb.Helper()
	f := NewFixture(tb, dsn)
	f.Order(tb, "WO-1", GTINRand, Line1)
	return f, NewUnitSrc(tb, f.Grant(tb, "r1", Line1, "WO-1", GTINRand, 100))
}

// Apply applies events of line to the fixture's store.
func Apply(tb testing.TB, f Fixture, line string, events ...wire.Event) lineevents.ApplyResult {
	tb.Helper()
	res, err := f.S.ApplyEvents(f.Ctx, line, events)
	require.NoError(tb, err)
	return res
}

// UnitSrc makes the serials of a grant's counters, as the edge does.
type UnitSrc struct {
	Grant   wire.SerialGrant
	Counter []uint64
	Serial  []string
}

// NewUnitSrc makes the serials of g.
func NewUnitSrc(tb testing.TB, g wire.SerialGrant) *UnitSrc {
	tb.Helper()
	u := &UnitSrc{Grant: g}
	var scheme serials.Scheme
	if g.Scheme.Kind != serials.KindList {
		sc, err := serials.New(*g.Scheme)
		require.NoError(tb, err)
		scheme = sc
	}
	i := 0
	for _, r := range g.Ranges {
		for c := r.Start; c < r.End(); c++ {
			u.Counter = append(u.Counter, c)
			if scheme != nil {
				b, err := scheme.Serial(nil, c)
				require.NoError(tb, err)
				u.Serial = append(u.Serial, string(b))
			} else {
				u.Serial = append(u.Serial, g.Serials[i])
			}
			i++
		}
	}
	return u
}

// Ev builds a line event; seq doubles as the id suffix.
func Ev(line string, seq uint64, typ wire.EventType) wire.Event {
	return wire.Event{ID: fmt.Sprintf("%s:%d", line, seq), Seq: seq, Type: typ, At: T0.Add(time.Duration(seq) * time.Millisecond), Operator: "ana"}
}

// Ev is an event about unit i of u.
func (u *UnitSrc) Ev(line string, seq uint64, typ wire.EventType, i int) wire.Event {
	e := Ev(line, seq, typ)
	e.Order, e.GTIN, e.Serial, e.Counter = u.Grant.Order, u.Grant.GTIN, u.Serial[i], new(u.Counter[i])
	if typ == wire.Commissioned || typ == wire.Decommissioned {
		e.Lot, e.Expiry = Lot, Expiry
	}
	if typ == wire.Decommissioned {
		e.Reason = wire.ReasonNoRead
	}
	return e
}

// Commission returns commissioning events for units [from, to) of u with
// seqs starting at seq.
func (u *UnitSrc) Commission(line string, seq uint64, from, to int) []wire.Event {
	out := make([]wire.Event, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, u.Ev(line, seq, wire.Commissioned, i))
		seq++
	}
	return out
}
