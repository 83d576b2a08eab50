package store_test

import (
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

func req(id, line, order, gtin string, n uint64) wire.SerialRequest {
	return wire.SerialRequest{V: 1, RequestID: id, Line: line, Order: order, GTIN: gtin, Count: n}
}

func TestGrantIdempotent(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		f.orderOf(t, "WO-1", gtinRand, line1, 2000)
		g1 := f.grant(t, "L1-r1", line1, "WO-1", gtinRand, 1000)
		require.NoError(t, g1.Validate())
		require.Equal(t, []wire.CounterRange{{Start: 0, Count: 1000}}, g1.Ranges)
		require.Equal(t, randSpec, *g1.Scheme)

		again := f.grant(t, "L1-r1", line1, "WO-1", gtinRand, 1000)
		require.Equal(t, g1, again, "a retried request gets the same grant")
		g2 := f.grant(t, "L1-r2", line1, "WO-1", gtinRand, 500)
		require.Equal(t, []wire.CounterRange{{Start: 1000, Count: 500}}, g2.Ranges)

		use, err := f.s.SerialUsage(f.ctx, gtinRand)
		require.NoError(t, err)
		require.Equal(t, uint64(1500), use.Granted, "the retry allocated nothing")
		require.Equal(t, uint64(1e12), use.Space)

		_, err = f.s.Grant(f.ctx, req("L1-r1", line1, "WO-1", gtinRand, 999), 0)
		require.ErrorIs(t, err, store.ErrConflict, "a request id reused for another request")

		grants, err := f.s.Grants(f.ctx, "WO-1")
		require.NoError(t, err)
		require.Len(t, grants, 2)
		audit, err := f.s.Audit(f.ctx, store.AuditFilter{Entity: "serial_grant"})
		require.NoError(t, err)
		require.Len(t, audit, 2, "one audit entry per grant, none for the retry")
	})
}

func TestGrantRefusals(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		f.order(t, "WO-1", gtinSeq, line1)
		_, err := f.s.CreateOrder(f.ctx, store.WorkOrder{ID: "WO-new", GTIN: gtinSeq, Lot: lot, Expiry: expiry, Quantity: 5})
		require.NoError(t, err)
		tests := []struct {
			name  string
			req   wire.SerialRequest
			limit uint64
			is    error
			want  string
		}{
			{"unknown order", req("r", line1, "WO-9", gtinSeq, 1), 0, store.ErrNotFound, "work order WO-9"},
			{"not released", req("r", line1, "WO-new", gtinSeq, 1), 0, store.ErrState, "is created"},
			{"other line", req("r", line2, "WO-1", gtinSeq, 1), 0, store.ErrState, "released to line L1, not L2"},
			{"other gtin", req("r", line1, "WO-1", gtinRand, 1), 0, store.ErrState, "is for GTIN " + gtinSeq},
			{"over the cap", req("r", line1, "WO-1", gtinSeq, 100_001), 0, store.ErrInvalid, "exceeds the 100000"},
			{"over a set cap", req("r", line1, "WO-1", gtinSeq, 11), 10, store.ErrInvalid, "count"},
			{"invalid request", req("r", line1, "WO-1", "09506000134353", 1), 0, nil, "gtin: AI (01)"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.s.Grant(f.ctx, tc.req, tc.limit)
				require.Error(t, err)
				if tc.is != nil {
					require.ErrorIs(t, err, tc.is)
				}
				require.ErrorContains(t, err, tc.want)
				ref := store.Refusal(tc.req, err)
				require.Equal(t, err.Error(), ref.Error)
			})
		}
		use, err := f.s.SerialUsage(f.ctx, gtinSeq)
		require.NoError(t, err)
		require.Zero(t, use.Granted, "refusals allocate nothing")

		o, err := f.s.CloseOrder(f.ctx, "WO-1")
		require.NoError(t, err)
		_, err = f.s.Grant(f.ctx, req("r", line1, o.ID, gtinSeq, 1), 0)
		require.ErrorIs(t, err, store.ErrState, "a closed order gets no more serials")
	})
}

func TestGrantExhausted(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		small := product("09506000134383", serials.Spec{Kind: serials.KindSequential, Length: 2, Start: 90})
		require.NoError(t, f.s.PutProduct(f.ctx, small))
		f.order(t, "WO-1", small.GTIN, line1)
		g := f.grant(t, "r1", line1, "WO-1", small.GTIN, 8)
		require.Equal(t, uint64(8), g.Count())
		_, err := f.s.Grant(f.ctx, req("r2", line1, "WO-1", small.GTIN, 3), 0)
		require.ErrorIs(t, err, store.ErrExhausted)
		require.ErrorContains(t, err, "2 unused serials left, 3 asked")
		g = f.grant(t, "r3", line1, "WO-1", small.GTIN, 2)
		require.Equal(t, []wire.CounterRange{{Start: 8, Count: 2}}, g.Ranges, "the failed request allocated nothing")
	})
}

func TestGrantList(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		list := make([]string, 10)
		for i := range list {
			list[i] = fmt.Sprintf("MAH%04dX", i*7)
		}
		n, err := f.s.ImportSerialList(f.ctx, gtinList, list[:6])
		require.NoError(t, err)
		require.Equal(t, uint64(6), n)
		_, err = f.s.ImportSerialList(f.ctx, gtinList, []string{"NEW1", list[2]})
		require.ErrorIs(t, err, store.ErrConflict)
		require.ErrorContains(t, err, `"MAH0014X" is already listed (position 2)`)
		_, err = f.s.ImportSerialList(f.ctx, gtinList, []string{"A1", "A2", "A1"})
		require.ErrorContains(t, err, `serials[2]`)
		_, err = f.s.ImportSerialList(f.ctx, gtinList, []string{"bad serial"})
		require.ErrorIs(t, err, store.ErrInvalid)
		_, err = f.s.ImportSerialList(f.ctx, gtinSeq, []string{"A1"})
		require.ErrorIs(t, err, store.ErrState)
		n, err = f.s.ImportSerialList(f.ctx, gtinList, list[6:])
		require.NoError(t, err)
		require.Equal(t, uint64(10), n)

		f.order(t, "WO-L", gtinList, line1)
		g1 := f.grant(t, "r1", line1, "WO-L", gtinList, 4)
		require.NoError(t, g1.Validate())
		require.Equal(t, list[:4], g1.Serials)
		g2 := f.grant(t, "r2", line1, "WO-L", gtinList, 5)
		require.Equal(t, list[4:9], g2.Serials)
		again := f.grant(t, "r2", line1, "WO-L", gtinList, 5)
		require.Equal(t, g2, again)
		_, err = f.s.Grant(f.ctx, req("r3", line1, "WO-L", gtinList, 2), 0)
		require.ErrorIs(t, err, store.ErrExhausted)
	})
}

// TestGrantConcurrent: replicas granting at once get disjoint ranges, and
// one request id handled by two replicas at once allocates once.
func TestGrantConcurrent(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		other := open(t, dsn) // a second replica
		f.order(t, "WO-1", gtinSeq, line1)
		const n = 12
		grants := make([]wire.SerialGrant, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := f.s
				if i%2 == 1 {
					s = other
				}
				// Requests 0-5 are distinct; 6-11 are all the same retried request.
				id := fmt.Sprintf("r%d", i)
				if i >= 6 {
					id = "retried"
				}
				grants[i], errs[i] = s.Grant(f.ctx, req(id, line1, "WO-1", gtinSeq, 100), 0)
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
		use, err := f.s.SerialUsage(f.ctx, gtinSeq)
		require.NoError(t, err)
		require.Equal(t, uint64(700), use.Granted)
	})
}

// TestGrant500k: half a million serials are one counter bump and one row.
// (Its speed is measured by BenchmarkGrant500k.)
func TestGrant500k(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		f.orderOf(t, "WO-1", gtinRand, line1, 500_000)
		g, err := f.s.Grant(f.ctx, req("big", line1, "WO-1", gtinRand, 500_000), 1_000_000)
		require.NoError(t, err)
		require.Equal(t, uint64(500_000), g.Count())
		require.Len(t, g.Ranges, 1)
		require.Empty(t, g.Serials, "a randomized grant is a counter range, not a list")
		rec, err := f.s.Reconciliation(f.ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, uint64(500_000), rec.Granted)
		require.Equal(t, int64(500_000), rec.Difference())
	})
}
