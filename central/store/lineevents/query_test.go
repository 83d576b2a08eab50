package lineevents_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/wire"
)

// TestReconciliationExact: every granted serial ends as exactly one of
// commissioned, decommissioned (by reason), voided or returned unused.
func TestReconciliationExact(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		f.Order(t, "WO-1", storetest.GTINSeq, storetest.Line1)
		g1 := f.Grant(t, "r1", storetest.Line1, "WO-1", storetest.GTINSeq, 60)
		g2 := f.Grant(t, "r2", storetest.Line1, "WO-1", storetest.GTINSeq, 40)
		u1, u2 := storetest.NewUnitSrc(t, g1), storetest.NewUnitSrc(t, g2)

		var events []wire.Event
		seq := uint64(1)
		add := func(e wire.Event) { events = append(events, e); seq++ }
		start := storetest.Ev(storetest.Line1, seq, wire.OrderStarted)
		start.Order = "WO-1"
		add(start)
		for i := range 50 { // 50 printed from the first grant
			add(u1.Ev(storetest.Line1, seq, wire.Commissioned, i))
		}
		for i := 50; i < 53; i++ { // 3 rejected on the line
			add(u1.Ev(storetest.Line1, seq, wire.Decommissioned, i))
		}
		add(u1.Ev(storetest.Line1, seq, wire.Voided, 53))
		add(u1.Ev(storetest.Line1, seq, wire.Voided, 54))
		for i := range 30 { // 30 from the second grant
			add(u2.Ev(storetest.Line1, seq, wire.Commissioned, i))
		}
		sample := u1.Ev(storetest.Line1, seq, wire.Decommissioned, 7) // a QA sample of a commissioned unit
		sample.Reason, sample.Counter = wire.ReasonSample, nil
		add(sample)
		ret := storetest.Ev(storetest.Line1, seq, wire.SerialsReturned) // the rest goes back
		ret.Order, ret.GTIN = "WO-1", storetest.GTINSeq
		ret.Ranges = []wire.CounterRange{{Start: 55, Count: 5}, {Start: 90, Count: 10}}
		add(ret)
		counts := &wire.Reconciliation{Granted: 100, Commissioned: 79, Voided: 2, ReturnedUnused: 15,
			Decommissioned: map[wire.Reason]uint64{wire.ReasonNoRead: 3, wire.ReasonSample: 1}}
		closed := storetest.Ev(storetest.Line1, seq, wire.OrderClosed)
		closed.Order, closed.Counts = "WO-1", counts
		add(closed)

		res := storetest.Apply(t, f, storetest.Line1, events...)
		require.Empty(t, res.Rejected)
		require.Equal(t, len(events), res.Applied)

		rec, err := f.S.Reconciliation(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, *counts, rec)
		require.True(t, rec.Balanced(), "difference %d", rec.Difference())

		o, err := f.S.Order(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, wire.OrderStateClosed, o.State)
		require.NotNil(t, o.StartedAt)
		require.Equal(t, counts, o.ReportedCounts)
		entries, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "work_order", EntityID: "WO-1"})
		require.NoError(t, err)
		last := entries[len(entries)-1]
		require.Equal(t, "close", last.Action)
		require.Equal(t, "line:L1 operator:ana", last.Actor)

		// A returned serial is never used after all, nor returned twice.
		late := u2.Ev(storetest.Line1, seq, wire.Commissioned, 35) // counter 95, returned
		again := storetest.Ev(storetest.Line1, seq+1, wire.SerialsReturned)
		again.Order, again.GTIN, again.Ranges = "WO-1", storetest.GTINSeq, []wire.CounterRange{{Start: 58, Count: 1}}
		used := storetest.Ev(storetest.Line1, seq+2, wire.SerialsReturned)
		used.Order, used.GTIN, used.Ranges = "WO-1", storetest.GTINSeq, []wire.CounterRange{{Start: 60, Count: 1}}
		foreign := storetest.Ev(storetest.Line1, seq+3, wire.SerialsReturned)
		foreign.Order, foreign.GTIN, foreign.Ranges = "WO-1", storetest.GTINSeq, []wire.CounterRange{{Start: 100, Count: 1}}
		res = storetest.Apply(t, f, storetest.Line1, late, again, used, foreign)
		require.Len(t, res.Rejected, 4)
		require.Contains(t, res.Rejected[0].Reason, "was returned unused before")
		require.Contains(t, res.Rejected[1].Reason, "returned before")
		require.Contains(t, res.Rejected[2].Reason, "used by unit")
		require.Contains(t, res.Rejected[3].Reason, "was not granted to work order WO-1")
		rec2, err := f.S.Reconciliation(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, rec, rec2)

		byLot, err := f.S.UnitCounts(f.Ctx, lineevents.UnitFilter{GTIN: storetest.GTINSeq, Lot: storetest.Lot})
		require.NoError(t, err)
		require.Equal(t, uint64(79), byLot.Commissioned)
		require.Equal(t, uint64(85), byLot.Total())
		byProduct, err := f.S.UnitCounts(f.Ctx, lineevents.UnitFilter{GTIN: storetest.GTINSeq})
		require.NoError(t, err)
		require.Equal(t, byLot, byProduct)
		_, err = f.S.UnitCounts(f.Ctx, lineevents.UnitFilter{})
		require.ErrorIs(t, err, sqldb.ErrInvalid)
	})
}

func TestUnitLookupWithHistory(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		storetest.Apply(t, f, storetest.Line1, u.Commission(storetest.Line1, 1, 0, 2)...)
		dec := u.Ev(storetest.Line1, 3, wire.Decommissioned, 1)
		dec.Reason, dec.Counter = wire.ReasonDamaged, nil
		storetest.Apply(t, f, storetest.Line1, dec)
		un, err := f.S.Unit(f.Ctx, storetest.GTINRand, u.Serial[1])
		require.NoError(t, err)
		require.Equal(t, orders.StateDecommissioned, un.State)
		require.Equal(t, wire.ReasonDamaged, un.Reason)
		require.Equal(t, "WO-1", un.Order)
		require.Equal(t, storetest.Lot, un.Lot)
		require.Equal(t, storetest.Expiry, un.Expiry)
		require.Equal(t, uint64(1), *un.Counter)
		require.Len(t, un.History, 2)
		require.Equal(t, storetest.T0.Add(2*1e6), un.History[0].At)
		var d map[string]any
		require.NoError(t, json.Unmarshal(un.History[0].Details, &d))
		require.Equal(t, "ana", d["operator"])
		require.Equal(t, float64(1), d["counter"])

		_, err = f.S.Unit(f.Ctx, storetest.GTINRand, "nope")
		require.ErrorIs(t, err, sqldb.ErrNotFound)
		require.ErrorContains(t, err, "(01)"+storetest.GTINRand+"(21)nope")
	})
}
