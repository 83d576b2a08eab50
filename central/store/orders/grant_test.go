package orders_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

func TestGrantIdempotent(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		f.OrderOf(t, "WO-1", storetest.GTINRand, storetest.Line1, 2000)
		g1 := f.Grant(t, "L1-r1", storetest.Line1, "WO-1", storetest.GTINRand, 1000)
		require.NoError(t, g1.Validate())
		require.Equal(t, []wire.CounterRange{{Start: 0, Count: 1000}}, g1.Ranges)
		require.Equal(t, storetest.RandSpec, *g1.Scheme)

		again := f.Grant(t, "L1-r1", storetest.Line1, "WO-1", storetest.GTINRand, 1000)
		require.Equal(t, g1, again, "a retried request gets the same grant")
		g2 := f.Grant(t, "L1-r2", storetest.Line1, "WO-1", storetest.GTINRand, 500)
		require.Equal(t, []wire.CounterRange{{Start: 1000, Count: 500}}, g2.Ranges)

		use, err := f.S.SerialUsage(f.Ctx, storetest.GTINRand)
		require.NoError(t, err)
		require.Equal(t, uint64(1500), use.Granted, "the retry allocated nothing")
		require.Equal(t, uint64(1e12), use.Space)

		_, err = f.S.Grant(f.Ctx, storetest.Req("L1-r1", storetest.Line1, "WO-1", storetest.GTINRand, 999), 0)
		require.ErrorIs(t, err, sqldb.ErrConflict, "a request id reused for another request")

		grants, err := f.S.Grants(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Len(t, grants, 2)
		entries, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "serial_grant"})
		require.NoError(t, err)
		require.Len(t, entries, 2, "one audit entry per grant, none for the retry")
	})
}

func TestGrantRefusals(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		f.Order(t, "WO-1", storetest.GTINSeq, storetest.Line1)
		_, err := f.S.CreateOrder(f.Ctx, orders.WorkOrder{ID: "WO-new", GTIN: storetest.GTINSeq, Lot: storetest.Lot, Expiry: storetest.Expiry, Quantity: 5})
		require.NoError(t, err)
		tests := []struct {
			name  string
			req   wire.SerialRequest
			limit uint64
			is    error
			want  string
		}{
			{"unknown order", storetest.Req("r", storetest.Line1, "WO-9", storetest.GTINSeq, 1), 0, sqldb.ErrNotFound, "work order WO-9"},
			{"not released", storetest.Req("r", storetest.Line1, "WO-new", storetest.GTINSeq, 1), 0, sqldb.ErrState, "is created"},
			{"other line", storetest.Req("r", storetest.Line2, "WO-1", storetest.GTINSeq, 1), 0, sqldb.ErrState, "released to line L1, not L2"},
			{"other gtin", storetest.Req("r", storetest.Line1, "WO-1", storetest.GTINRand, 1), 0, sqldb.ErrState, "is for GTIN " + storetest.GTINSeq},
			{"over the cap", storetest.Req("r", storetest.Line1, "WO-1", storetest.GTINSeq, 100_001), 0, sqldb.ErrInvalid, "exceeds the 100000"},
			{"over a set cap", storetest.Req("r", storetest.Line1, "WO-1", storetest.GTINSeq, 11), 10, sqldb.ErrInvalid, "count"},
			{"invalid request", storetest.Req("r", storetest.Line1, "WO-1", "09506000134353", 1), 0, nil, "gtin: AI (01)"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.S.Grant(f.Ctx, tc.req, tc.limit)
				require.Error(t, err)
				if tc.is != nil {
					require.ErrorIs(t, err, tc.is)
				}
				require.ErrorContains(t, err, tc.want)
				ref := orders.Refusal(tc.req, err)
				require.Equal(t, err.Error(), ref.Error)
			})
		}
		use, err := f.S.SerialUsage(f.Ctx, storetest.GTINSeq)
		require.NoError(t, err)
		require.Zero(t, use.Granted, "refusals allocate nothing")

		o, err := f.S.CloseOrder(f.Ctx, "WO-1")
		require.NoError(t, err)
		_, err = f.S.Grant(f.Ctx, storetest.Req("r", storetest.Line1, o.ID, storetest.GTINSeq, 1), 0)
		require.ErrorIs(t, err, sqldb.ErrState, "a closed order gets no more serials")
	})
}

func TestGrantExhausted(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		small := storetest.Product("00312345678937", serials.Spec{Kind: serials.KindSequential, Length: 2, Start: 90})
		require.NoError(t, f.S.PutProduct(f.Ctx, small))
		f.Order(t, "WO-1", small.GTIN, storetest.Line1)
		g := f.Grant(t, "r1", storetest.Line1, "WO-1", small.GTIN, 8)
		require.Equal(t, uint64(8), g.Count())
		_, err := f.S.Grant(f.Ctx, storetest.Req("r2", storetest.Line1, "WO-1", small.GTIN, 3), 0)
		require.ErrorIs(t, err, sqldb.ErrExhausted)
		require.ErrorContains(t, err, "2 unused serials left, 3 asked")
		g = f.Grant(t, "r3", storetest.Line1, "WO-1", small.GTIN, 2)
		require.Equal(t, []wire.CounterRange{{Start: 8, Count: 2}}, g.Ranges, "the failed request allocated nothing")
	})
}

func TestGrantList(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		list := make([]string, 10)
		for i := range list {
			list[i] = fmt.Sprintf("MAH%04dX", i*7)
		}
		n, err := f.S.ImportSerialList(f.Ctx, storetest.GTINList, list[:6])
		require.NoError(t, err)
		require.Equal(t, uint64(6), n)
		_, err = f.S.ImportSerialList(f.Ctx, storetest.GTINList, []string{"NEW1", list[2]})
		require.ErrorIs(t, err, sqldb.ErrConflict)
		require.ErrorContains(t, err, `"MAH0014X" is already listed (position 2)`)
		_, err = f.S.ImportSerialList(f.Ctx, storetest.GTINList, []string{"A1", "A2", "A1"})
		require.ErrorContains(t, err, `serials[2]`)
		_, err = f.S.ImportSerialList(f.Ctx, storetest.GTINList, []string{"bad serial"})
		require.ErrorIs(t, err, sqldb.ErrInvalid)
		_, err = f.S.ImportSerialList(f.Ctx, storetest.GTINSeq, []string{"A1"})
		require.ErrorIs(t, err, sqldb.ErrState)
		n, err = f.S.ImportSerialList(f.Ctx, storetest.GTINList, list[6:])
		require.NoError(t, err)
		require.Equal(t, uint64(10), n)

		f.Order(t, "WO-L", storetest.GTINList, storetest.Line1)
		g1 := f.Grant(t, "r1", storetest.Line1, "WO-L", storetest.GTINList, 4)
		require.NoError(t, g1.Validate())
		require.Equal(t, list[:4], g1.Serials)
		g2 := f.Grant(t, "r2", storetest.Line1, "WO-L", storetest.GTINList, 5)
		require.Equal(t, list[4:9], g2.Serials)
		again := f.Grant(t, "r2", storetest.Line1, "WO-L", storetest.GTINList, 5)
		require.Equal(t, g2, again)
		_, err = f.S.Grant(f.Ctx, storetest.Req("r3", storetest.Line1, "WO-L", storetest.GTINList, 2), 0)
		require.ErrorIs(t, err, sqldb.ErrExhausted)
	})
}

// TestGrantConcurrent: replicas granting at once get disjoint ranges, and
// one request id handled by two replicas at once allocates once.
func TestGrantConcurrent(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		other := storetest.Open(t, dsn, testkit.Logger(t)) // a second replica
		f.Order(t, "WO-1", storetest.GTINSeq, storetest.Line1)
		const n = 12
		grants := make([]wire.SerialGrant, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := f.S
				if i%2 == 1 {
					s = other
				}
				// Requests 0-5 are distinct; 6-11 are all the same retried request.
				id := fmt.Sprintf("r%d", i)
				if i >= 6 {
					id = "retried"
				}
				grants[i], errs[i] = s.Grant(f.Ctx, storetest.Req(id, storetest.Line1, "WO-1", storetest.GTINSeq, 100), 0)
			}()
		}
		wg.Wait()
		var starts []uint64
		for i := range n {
			require.NoError(t, errs[i])
			if i < 7 {
				starts = append(starts, grants[i].Ranges[0].Start)
			}
			if i > 6 {
				require.Equal(t, grants[6], grants[i], "the retried request gets one grant")
			}
		}
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		for i, s := range starts {
			require.Equal(t, uint64(i*100), s, "7 disjoint, adjacent ranges")
		}
		use, err := f.S.SerialUsage(f.Ctx, storetest.GTINSeq)
		require.NoError(t, err)
		require.Equal(t, uint64(700), use.Granted)
	})
}

// TestGrant500k: half a million serials are one counter bump and one row.
// (Its speed is measured by BenchmarkGrant500k.)
func TestGrant500k(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		f.OrderOf(t, "WO-1", storetest.GTINRand, storetest.Line1, 500_000)
		g, err := f.S.Grant(f.Ctx, storetest.Req("big", storetest.Line1, "WO-1", storetest.GTINRand, 500_000), 1_000_000)
		require.NoError(t, err)
		require.Equal(t, uint64(500_000), g.Count())
		require.Len(t, g.Ranges, 1)
		require.Empty(t, g.Serials, "a randomized grant is a counter range, not a list")
		rec, err := f.S.Reconciliation(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, uint64(500_000), rec.Granted)
		require.Equal(t, int64(500_000), rec.Difference())
	})
}

// TestGrantBoundedByOrderIssue15: issue 15 reported 112 requests of
// 100,000 giving one line 11,201,000 serials for a 1,000,000-unit order.
// The order bounds them: quantity plus its reject allowance (5 %), then a
// refusal that says why.
func TestGrantBoundedByOrderIssue15(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		f.OrderOf(t, "WO-1", storetest.GTINRand, storetest.Line1, 1_000_000)
		var granted uint64
		var refused []error
		for i := range 112 {
			g, err := f.S.Grant(f.Ctx, storetest.Req(fmt.Sprintf("r%d", i), storetest.Line1, "WO-1", storetest.GTINRand, 100_000), 0)
			if err != nil {
				refused = append(refused, err)
				continue
			}
			granted += g.Count()
		}
		require.Equal(t, uint64(1_050_000), granted, "quantity + 5 %% allowance, never more")
		require.Len(t, refused, 112-11, "10 full grants, one trimmed to 50,000, then refusals")
		for _, err := range refused {
			require.ErrorIs(t, err, orders.ErrOrderBound)
			require.ErrorIs(t, err, sqldb.ErrExhausted, "a refusal the line is told about")
		}
		require.ErrorContains(t, refused[0], "work order WO-1 (quantity 1000000, reject allowance 50000) has 1050000 granted")
		rec, err := f.S.Reconciliation(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, uint64(1_050_000), rec.Granted)
		use, err := f.S.SerialUsage(f.Ctx, storetest.GTINRand)
		require.NoError(t, err)
		require.Equal(t, uint64(1_050_000), use.Granted, "refusals allocate nothing")
	})
}

// TestGrantBoundedByOrderIssue11: an order of 300 with the default
// allowance ends with grants of at most 350, however much the line asks
// for; a trimmed grant is idempotent like any other.
func TestGrantBoundedByOrderIssue11(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		f.OrderOf(t, "WO-300", storetest.GTINRand, storetest.Line1, 300)
		o, err := f.S.Order(f.Ctx, "WO-300")
		require.NoError(t, err)
		require.Equal(t, uint64(50), o.RejectAllowance, "max(ceil(300 × 5 %), 50)")

		g := f.Grant(t, "r1", storetest.Line1, "WO-300", storetest.GTINRand, 36_000)
		require.Equal(t, uint64(350), g.Count(), "trimmed to quantity + allowance")
		again := f.Grant(t, "r1", storetest.Line1, "WO-300", storetest.GTINRand, 36_000)
		require.Equal(t, g, again, "the retry gets the same (trimmed) grant")
		_, err = f.S.Grant(f.Ctx, storetest.Req("r1", storetest.Line1, "WO-300", storetest.GTINRand, 350), 0)
		require.ErrorIs(t, err, sqldb.ErrConflict, "the id was used to ask for 36,000")
		_, err = f.S.Grant(f.Ctx, storetest.Req("r2", storetest.Line1, "WO-300", storetest.GTINRand, 1), 0)
		require.ErrorIs(t, err, orders.ErrOrderBound)

		grants, err := f.S.Grants(f.Ctx, "WO-300")
		require.NoError(t, err)
		var total uint64
		for _, g := range grants {
			total += g.Count
		}
		require.Equal(t, uint64(350), total)
		entries, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "serial_grant", EntityID: "r1"})
		require.NoError(t, err)
		require.Len(t, entries, 1)
		var after struct {
			Count, Requested uint64
			Trimmed          string
		}
		require.NoError(t, json.Unmarshal(entries[0].After, &after))
		require.Equal(t, uint64(350), after.Count)
		require.Equal(t, uint64(36_000), after.Requested)
		require.Contains(t, after.Trimmed, "work order WO-300 (quantity 300, reject allowance 50)")
	})
}

// TestGrantOrderNeed: what an order can still need follows its counts:
// (quantity − commissioned) + max(0, allowance − decommissioned) −
// outstanding; voided and returned serials do not spend the allowance.
func TestGrantOrderNeed(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		p := storetest.Product("00312345678937", storetest.SeqSpec)
		p.RejectAllowancePercent, p.RejectAllowanceMin = new(5), new(uint64(10))
		require.NoError(t, f.S.PutProduct(f.Ctx, p))
		f.OrderOf(t, "WO-1", p.GTIN, storetest.Line1, 100) // allowance max(5, 10) = 10
		u := storetest.NewUnitSrc(t, f.Grant(t, "r1", storetest.Line1, "WO-1", p.GTIN, 200))
		require.Len(t, u.Serial, 110)

		var events []wire.Event
		seq := uint64(1)
		add := func(e wire.Event) { events = append(events, e); seq++ }
		for i := range 60 {
			add(u.Ev(storetest.Line1, seq, wire.Commissioned, i))
		}
		for i := 60; i < 72; i++ { // 12 line rejects: 2 beyond the allowance
			add(u.Ev(storetest.Line1, seq, wire.Decommissioned, i))
		}
		for i := 72; i < 77; i++ {
			add(u.Ev(storetest.Line1, seq, wire.Voided, i))
		}
		ret := storetest.Ev(storetest.Line1, seq, wire.SerialsReturned)
		ret.Order, ret.GTIN, ret.Ranges = "WO-1", p.GTIN, []wire.CounterRange{{Start: 90, Count: 20}}
		add(ret)
		res := storetest.Apply(t, f, storetest.Line1, events...)
		require.Empty(t, res.Rejected)

		need, err := f.S.OrderNeed(f.Ctx, "WO-1")
		require.NoError(t, err)
		// Outstanding 110 − (60 + 12 + 5 + 20) = 13; (100 − 60) + 0 − 13 = 27.
		require.Equal(t, orders.OrderNeed{Order: "WO-1", Quantity: 100, Allowance: 10, Granted: 110, Commissioned: 60,
			Decommissioned: 12, Voided: 5, ReturnedUnused: 20, Outstanding: 13, Remaining: 27}, need)
		g := f.Grant(t, "r2", storetest.Line1, "WO-1", p.GTIN, 50)
		require.Equal(t, uint64(27), g.Count())

		// A commissioned unit decommissioned later (a QA sample) no longer
		// counts as produced: the order may make one more.
		sample := u.Ev(storetest.Line1, seq, wire.Decommissioned, 3)
		sample.Reason, sample.Counter = wire.ReasonSample, nil
		storetest.Apply(t, f, storetest.Line1, sample)
		o, err := f.S.Order(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, [3]uint64{59, 13, 5}, [3]uint64{o.Produced, o.Rejected, o.Voided}, "the order's counts follow its units")
		require.Equal(t, 59.0, o.Progress)
		need, err = f.S.OrderNeed(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, uint64(1), need.Remaining)
	})
}

// TestGrantBoundConcurrent: replicas granting one order at once never
// exceed its bound together, and a request id retried at once still gets
// one grant.
func TestGrantBoundConcurrent(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		other := storetest.Open(t, dsn, testkit.Logger(t))
		f.OrderOf(t, "WO-1", storetest.GTINSeq, storetest.Line1, 500) // bound 550
		const n = 16
		grants := make([]wire.SerialGrant, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := f.S
				if i%2 == 1 {
					s = other
				}
				id := fmt.Sprintf("r%d", i)
				if i >= 12 {
					id = "retried"
				}
				grants[i], errs[i] = s.Grant(f.Ctx, storetest.Req(id, storetest.Line1, "WO-1", storetest.GTINSeq, 100), 0)
			}()
		}
		wg.Wait()
		byID := map[string]wire.SerialGrant{}
		for i := range n {
			if errs[i] != nil {
				require.ErrorIs(t, errs[i], orders.ErrOrderBound)
				continue
			}
			if prev, seen := byID[grants[i].RequestID]; seen {
				require.Equal(t, prev, grants[i], "the retried request gets one grant")
			}
			byID[grants[i].RequestID] = grants[i]
		}
		var total uint64
		for _, g := range byID {
			total += g.Count()
		}
		require.Equal(t, uint64(550), total)
		rec, err := f.S.Reconciliation(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, uint64(550), rec.Granted, "the bound holds across replicas")
		use, err := f.S.SerialUsage(f.Ctx, storetest.GTINSeq)
		require.NoError(t, err)
		require.Equal(t, uint64(550), use.Granted, "no counter was bumped for a refused or raced request")
	})
}

// TestGrantFMDLimit: issue 15 saw three requests push an EU FMD product
// to a guess probability of 0.0003. A grant that would take the GTIN's
// granted serials to 1/10,000 of its serial space is refused, naming the
// rule.
func TestGrantFMDLimit(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		p := storetest.Product("00312345678937", serials.Spec{Kind: serials.KindRandomized, Length: 7, Alphabet: serials.AlphabetNumeric, Key: storetest.TestKey})
		p.Markets, p.PlannedVolume = []master.Market{master.MarketUSDSCSA, master.MarketEUFMD}, 900 // 900 of 10^7: below 1/10,000
		require.NoError(t, f.S.PutProduct(f.Ctx, p))
		f.OrderOf(t, "WO-1", p.GTIN, storetest.Line1, 5000)
		f.Grant(t, "r1", storetest.Line1, "WO-1", p.GTIN, 500)
		f.Grant(t, "r2", storetest.Line1, "WO-1", p.GTIN, 499)
		_, err := f.S.Grant(f.Ctx, storetest.Req("r3", storetest.Line1, "WO-1", p.GTIN, 1), 0)
		require.ErrorIs(t, err, orders.ErrFMDLimit)
		require.ErrorIs(t, err, sqldb.ErrExhausted)
		require.ErrorContains(t, err, "1000 in all")
		require.ErrorContains(t, err, "not below 1/10,000 (EU FMD Delegated Regulation 2016/161 art. 4(c))")
		use, err := f.S.SerialUsage(f.Ctx, p.GTIN)
		require.NoError(t, err)
		require.Equal(t, uint64(999), use.Granted, "the refused grant allocated nothing")

		// Not an EU FMD product: the same scheme grants on.
		q := storetest.Product("00312345678944", p.Scheme)
		require.NoError(t, f.S.PutProduct(f.Ctx, q))
		f.OrderOf(t, "WO-2", q.GTIN, storetest.Line1, 5000)
		f.Grant(t, "r4", storetest.Line1, "WO-2", q.GTIN, 1500)
	})
}
