package lineevents_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

func TestApplyOnce(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		batch := u.Commission(storetest.Line1, 1, 0, 10)
		res := storetest.Apply(t, f, storetest.Line1, batch...)
		require.Equal(t, uint64(10), res.Acked)
		require.Equal(t, 10, res.Applied)

		// The broker redelivers, the edge resends: nothing changes.
		res = storetest.Apply(t, f, storetest.Line1, batch...)
		require.Equal(t, lineevents.ApplyResult{Line: storetest.Line1, Acked: 10, Duplicates: 10}, res)
		res = storetest.Apply(t, f, storetest.Line1, slices.Concat(batch[5:], batch[:3])...)
		require.Equal(t, 5+3, res.Duplicates)
		require.Zero(t, res.Applied+res.DeadLettered)

		c, err := f.S.UnitCounts(f.Ctx, lineevents.UnitFilter{Order: "WO-1"})
		require.NoError(t, err)
		require.Equal(t, uint64(10), c.Commissioned)
		dls, err := f.S.DeadLetters(f.Ctx, lineevents.DeadLetterFilter{})
		require.NoError(t, err)
		require.Empty(t, dls)

		// Within one batch too.
		more := u.Commission(storetest.Line1, 11, 10, 12)
		res = storetest.Apply(t, f, storetest.Line1, more[0], more[1], more[0])
		require.Equal(t, 2, res.Applied)
		require.Equal(t, 1, res.Duplicates)
	})
}

func TestApplyOutOfOrderHeldUntilGapFills(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		all := u.Commission(storetest.Line1, 1, 0, 30)
		res := storetest.Apply(t, f, storetest.Line1, all[0:10]...)
		require.Equal(t, uint64(10), res.Acked)

		// 21-30 overtake 11-20 (e.g. two replicas, or a retry).
		res = storetest.Apply(t, f, storetest.Line1, all[20:30]...)
		require.Equal(t, uint64(10), res.Acked, "nothing beyond the gap is acked")
		require.Equal(t, 10, res.Held)
		require.Zero(t, res.Applied)
		require.Equal(t, []lineevents.SeqGap{{From: 11, To: 20}}, res.Gaps)
		_, err := f.S.Unit(f.Ctx, storetest.GTINRand, u.Serial[25])
		require.ErrorIs(t, err, sqldb.ErrNotFound, "held events are not applied")

		// Resending the held batch changes nothing.
		res = storetest.Apply(t, f, storetest.Line1, all[20:30]...)
		require.Equal(t, 10, res.Duplicates)
		require.Zero(t, res.Held)

		// Part of the gap: 11-14 and 16-18 (15, 19, 20 still missing).
		res = storetest.Apply(t, f, storetest.Line1, slices.Concat(all[10:14], all[15:18])...)
		require.Equal(t, uint64(14), res.Acked)
		require.Equal(t, 4, res.Applied)
		require.Equal(t, []lineevents.SeqGap{{From: 15, To: 15}, {From: 19, To: 20}}, res.Gaps)
		ls, err := f.S.LineSeq(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, uint64(14), ls.Acked)
		require.Len(t, ls.Pending, 13)
		require.Equal(t, res.Gaps, ls.Gaps)

		res = storetest.Apply(t, f, storetest.Line1, all[14], all[18], all[19])
		require.Equal(t, uint64(30), res.Acked, "%+v", res)
		require.Equal(t, 3+3+10, res.Applied, "the gap filled: the held events follow in order")
		require.Empty(t, res.Gaps)
		c, err := f.S.UnitCounts(f.Ctx, lineevents.UnitFilter{Order: "WO-1"})
		require.NoError(t, err)
		require.Equal(t, uint64(30), c.Commissioned)
		ls, err = f.S.LineSeq(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Empty(t, ls.Pending)
	})
}

// TestApplyHeldInvalidEvent: an invalid event beyond a gap is held like
// any other and dead-lettered when its turn comes.
func TestApplyHeldInvalidEvent(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		bad := u.Ev(storetest.Line1, 3, wire.Commissioned, 2)
		bad.Lot = "has space"
		res := storetest.Apply(t, f, storetest.Line1, bad, u.Ev(storetest.Line1, 4, wire.Commissioned, 3))
		require.Equal(t, 2, res.Held)
		require.Zero(t, res.DeadLettered)
		res = storetest.Apply(t, f, storetest.Line1, u.Commission(storetest.Line1, 1, 0, 2)...)
		require.Equal(t, uint64(4), res.Acked)
		require.Equal(t, 3, res.Applied)
		require.Len(t, res.Rejected, 1)
		require.Equal(t, uint64(3), res.Rejected[0].Seq)
		require.Contains(t, res.Rejected[0].Reason, "lot: AI (10)")
		res = storetest.Apply(t, f, storetest.Line1, bad)
		require.Equal(t, 1, res.Duplicates, "the dead-lettered id is taken")
	})
}

// TestApplyFollowsLineOrder: a unit commissioned, then decommissioned,
// arriving in the opposite order, ends decommissioned.
func TestApplyFollowsLineOrder(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		com := u.Ev(storetest.Line1, 1, wire.Commissioned, 0)
		dec := u.Ev(storetest.Line1, 2, wire.Decommissioned, 0)
		dec.Reason, dec.Counter = wire.ReasonSample, nil
		res := storetest.Apply(t, f, storetest.Line1, dec)
		require.Equal(t, 1, res.Held)
		res = storetest.Apply(t, f, storetest.Line1, com)
		require.Equal(t, 2, res.Applied)
		unit, err := f.S.Unit(f.Ctx, storetest.GTINRand, u.Serial[0])
		require.NoError(t, err)
		require.Equal(t, orders.StateDecommissioned, unit.State)
		require.Equal(t, wire.ReasonSample, unit.Reason)
		require.Len(t, unit.History, 2)
		require.Equal(t, wire.Commissioned, unit.History[0].Type)
		require.Equal(t, wire.Decommissioned, unit.History[1].Type)
	})
}

// TestApplyDeadLetters: each semantically wrong event is kept with its
// reason, its seq counts as done, and the events behind it are applied.
func TestApplyDeadLetters(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		f.Order(t, "WO-2", storetest.GTINRand, storetest.Line2)
		_, err := f.S.CreateOrder(f.Ctx, orders.WorkOrder{ID: "WO-new", GTIN: storetest.GTINRand, Lot: storetest.Lot, Expiry: storetest.Expiry, Quantity: 5})
		require.NoError(t, err)
		u2 := storetest.NewUnitSrc(t, f.Grant(t, "r2", storetest.Line2, "WO-2", storetest.GTINRand, 10))
		storetest.Apply(t, f, storetest.Line1, u.Ev(storetest.Line1, 1, wire.Commissioned, 0))

		tests := []struct {
			name   string
			event  func(seq uint64) wire.Event
			reason string
		}{
			{"invalid on the wire", func(seq uint64) wire.Event {
				e := u.Ev(storetest.Line1, seq, wire.Commissioned, 1)
				e.GTIN = "09506000134353"
				return e
			}, "gtin: AI (01)"},
			{"unknown order", func(seq uint64) wire.Event {
				e := u.Ev(storetest.Line1, seq, wire.Commissioned, 1)
				e.Order = "WO-9"
				return e
			}, "work order WO-9 is unknown"},
			{"order not released", func(seq uint64) wire.Event {
				e := u.Ev(storetest.Line1, seq, wire.Commissioned, 1)
				e.Order = "WO-new"
				return e
			}, "work order WO-new is not released to any line"},
			{"order of another line", func(seq uint64) wire.Event {
				return u2.Ev(storetest.Line1, seq, wire.Commissioned, 0)
			}, "work order WO-2 is released to line L2, not L1"},
			{"serial never granted", func(seq uint64) wire.Event {
				e := u.Ev(storetest.Line1, seq, wire.Commissioned, 1)
				e.Counter = new(uint64(100)) // granted to WO-2 on L2
				return e
			}, "was never granted to work order WO-1 on line L1"},
			{"serial not its counter's", func(seq uint64) wire.Event {
				e := u.Ev(storetest.Line1, seq, wire.Commissioned, 1)
				e.Serial = u.Serial[2]
				return e
			}, "is not the serial of counter 1"},
			{"commissioned twice", func(seq uint64) wire.Event {
				e := u.Ev(storetest.Line1, seq, wire.Commissioned, 0)
				e.ID = "again"
				return e
			}, "is commissioned already (event L1:1, line L1): a serial is used once"},
			{"lot of another order", func(seq uint64) wire.Event {
				e := u.Ev(storetest.Line1, seq, wire.Commissioned, 1)
				e.Lot = "OTHER"
				return e
			}, "lot OTHER is not the lot LOT42 of work order WO-1"},
			{"voided after use", func(seq uint64) wire.Event {
				return u.Ev(storetest.Line1, seq, wire.Voided, 0)
			}, "is commissioned already"},
			{"no counter", func(seq uint64) wire.Event {
				e := u.Ev(storetest.Line1, seq, wire.Decommissioned, 5)
				e.Counter = nil
				return e
			}, "has no counter to show it was granted"},
			{"unknown container", func(seq uint64) wire.Event {
				e := storetest.Ev(storetest.Line1, seq, wire.Disaggregated)
				e.Parent = testkit.SSCC(t, 0, "0614141", 99)
				return e
			}, "container " + testkit.SSCC(t, 0, "0614141", 99) + " is unknown"},
		}
		seq := uint64(2)
		var batch []wire.Event
		for _, tc := range tests {
			batch = append(batch, tc.event(seq))
			seq++
		}
		good := u.Ev(storetest.Line1, seq, wire.Commissioned, 3) // behind all the bad ones
		batch = append(batch, good)
		res := storetest.Apply(t, f, storetest.Line1, batch...)
		require.Equal(t, seq, res.Acked, "dead letters never block the sequence")
		require.Equal(t, 1, res.Applied)
		require.Equal(t, len(tests), res.DeadLettered)
		require.Len(t, res.Rejected, len(tests))
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				require.Equal(t, uint64(i+2), res.Rejected[i].Seq)
				require.Contains(t, res.Rejected[i].Reason, tc.reason)
			})
		}
		dls, err := f.S.DeadLetters(f.Ctx, lineevents.DeadLetterFilter{Line: storetest.Line1})
		require.NoError(t, err)
		require.Len(t, dls, len(tests))
		var back wire.Event
		require.NoError(t, json.Unmarshal(dls[1].Payload, &back), "the event is kept as it came")
		require.Equal(t, "WO-9", back.Order)
		require.Equal(t, "serialine/v1/lines/L1/events", dls[1].Topic)

		// Resending the batch adds no dead letters: dead-lettered ids are taken.
		res = storetest.Apply(t, f, storetest.Line1, batch...)
		require.Equal(t, len(batch), res.Duplicates)
		dls, err = f.S.DeadLetters(f.Ctx, lineevents.DeadLetterFilter{})
		require.NoError(t, err)
		require.Len(t, dls, len(tests))

		unit, err := f.S.Unit(f.Ctx, storetest.GTINRand, u.Serial[0])
		require.NoError(t, err)
		require.Equal(t, "L1:1", unit.LastEvent, "the rejected events changed nothing")
	})
}

// TestApplyUnsequenced: events that cannot take a seq are dead-lettered
// without touching the sequence.
func TestApplyUnsequenced(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		noSeq := u.Ev(storetest.Line1, 0, wire.Commissioned, 0)
		noID := u.Ev(storetest.Line1, 1, wire.Commissioned, 0)
		noID.ID = ""
		sameSeq := u.Ev(storetest.Line1, 1, wire.Commissioned, 1)
		sameSeq.ID = "other-id"
		first := u.Ev(storetest.Line1, 1, wire.Commissioned, 0)
		res := storetest.Apply(t, f, storetest.Line1, noSeq, noID, first, sameSeq)
		require.Equal(t, uint64(1), res.Acked)
		require.Equal(t, 1, res.Applied)
		require.Equal(t, 3, res.DeadLettered)
		require.Contains(t, res.Rejected[2].Reason, "seq 1 repeats in the batch (event L1:1)")

		// An old seq under a new id: the line's seq 1 is done.
		res = storetest.Apply(t, f, storetest.Line1, sameSeq)
		require.Contains(t, res.Rejected[0].Reason, "seq 1 of line L1 is done already, by another event id")
		// A taken id with a new seq is dead-lettered in its turn.
		reused := u.Ev(storetest.Line1, 2, wire.Commissioned, 1)
		reused.ID = first.ID
		res = storetest.Apply(t, f, storetest.Line1, reused)
		require.Equal(t, uint64(2), res.Acked)
		require.Contains(t, res.Rejected[0].Reason, "event id L1:1 is taken by seq 1 of line L1")
	})
}

func TestApplyUnknownLine(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		_, err := f.S.ApplyEvents(f.Ctx, "L9", u.Commission("L9", 1, 0, 1))
		require.ErrorIs(t, err, sqldb.ErrNotFound)
		_, err = f.S.ApplyEvents(f.Ctx, "L/9", nil)
		require.ErrorIs(t, err, sqldb.ErrInvalid)
	})
}

func TestApplyAggregation(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		storetest.Apply(t, f, storetest.Line1, u.Commission(storetest.Line1, 1, 0, 6)...)
		caseA, caseB, pallet := testkit.SSCC(t, 0, "0614141", 1), testkit.SSCC(t, 0, "0614141", 2), testkit.SSCC(t, 0, "0614141", 3)
		agg := func(seq uint64, parent string, children ...string) wire.Event {
			e := storetest.Ev(storetest.Line1, seq, wire.Aggregated)
			e.Order, e.Parent, e.Children = "WO-1", parent, children
			return e
		}
		unit := func(i int) string { return wire.UnitRef(storetest.GTINRand, u.Serial[i]) }
		res := storetest.Apply(t, f, storetest.Line1,
			agg(7, caseA, unit(0), unit(1), unit(2)),
			agg(8, caseB, unit(3), unit(4)),
			agg(9, pallet, wire.SSCCRef(caseA), wire.SSCCRef(caseB)),
			agg(10, caseB, unit(0)),                                        // unit 0 is in caseA already
			agg(11, caseA, wire.SSCCRef(pallet)),                           // a cycle
			agg(12, testkit.SSCC(t, 0, "0614141", 4), wire.SSCCRef(caseA)), // caseA is on the pallet already
		)
		require.Equal(t, 3, res.Applied)
		require.Len(t, res.Rejected, 3)
		require.Contains(t, res.Rejected[0].Reason, "is inside "+caseA+" already")
		require.Contains(t, res.Rejected[1].Reason, "which cannot go into it")
		require.Contains(t, res.Rejected[2].Reason, "child container "+caseA+" is inside "+pallet)

		c, err := f.S.Container(f.Ctx, pallet)
		require.NoError(t, err)
		require.Equal(t, []string{caseA, caseB}, c.Children)
		c, err = f.S.Container(f.Ctx, caseA)
		require.NoError(t, err)
		require.Equal(t, pallet, c.Parent)
		require.Len(t, c.Units, 3)

		// A sample pulled from case A leaves it; then case B is emptied.
		dec := u.Ev(storetest.Line1, 13, wire.Decommissioned, 1)
		dec.Reason, dec.Counter = wire.ReasonSample, nil
		empty := storetest.Ev(storetest.Line1, 14, wire.Disaggregated)
		empty.Parent = caseB
		res = storetest.Apply(t, f, storetest.Line1, dec, empty)
		require.Equal(t, 2, res.Applied, "%v", res.Rejected)
		c, err = f.S.Container(f.Ctx, caseA)
		require.NoError(t, err)
		require.Equal(t, []string{unit(0), unit(2)}, sortedCopy(c.Units))
		c, err = f.S.Container(f.Ctx, caseB)
		require.NoError(t, err)
		require.Empty(t, c.Units)
		un, err := f.S.Unit(f.Ctx, storetest.GTINRand, u.Serial[3])
		require.NoError(t, err)
		require.Empty(t, un.Parent)
		require.Equal(t, []wire.EventType{wire.Commissioned, wire.Aggregated, wire.Disaggregated}, historyTypes(un.History))
	})
}

func sortedCopy(s []string) []string { return slices.Sorted(slices.Values(s)) }

func historyTypes(h []lineevents.HistoryEntry) []wire.EventType {
	var out []wire.EventType
	for _, e := range h {
		out = append(out, e.Type)
	}
	return out
}

func TestSkipGap(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		all := u.Commission(storetest.Line1, 1, 0, 10)
		storetest.Apply(t, f, storetest.Line1, all[:3]...)
		storetest.Apply(t, f, storetest.Line1, all[6:]...)
		_, err := f.S.SkipGap(f.Ctx, storetest.Line1, 10, "x")
		require.ErrorIs(t, err, sqldb.ErrState, "only gaps below held events")
		res, err := f.S.SkipGap(sqldb.WithActor(f.Ctx, "user:qa"), storetest.Line1, 5, "line PC replaced, outbox lost")
		require.NoError(t, err)
		require.Equal(t, uint64(5), res.Acked, "seq 6 is still missing")
		require.Len(t, res.Rejected, 2)
		require.Contains(t, res.Rejected[0].Reason, "seq 4 declared lost by user:qa: line PC replaced")
		res, err = f.S.SkipGap(f.Ctx, storetest.Line1, 6, "gone")
		require.NoError(t, err)
		require.Equal(t, uint64(10), res.Acked)
		require.Equal(t, 4, res.Applied)
		entries, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "line_seq", EntityID: storetest.Line1})
		require.NoError(t, err)
		require.Len(t, entries, 2)
		// A lost event that turns up after all is kept, not applied.
		res = storetest.Apply(t, f, storetest.Line1, all[4])
		require.Contains(t, res.Rejected[0].Reason, "seq 5 of line L1 is done already")
	})
}

// TestApplyConcurrentReplicas: two replicas share a line's feed, batches
// arrive shuffled across them; the result is as if applied in order.
func TestApplyConcurrentReplicas(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		other := storetest.Open(t, dsn, testkit.Logger(t))
		all := u.Commission(storetest.Line1, 1, 0, 100)
		batches := [][]wire.Event{all[40:60], all[0:20], all[80:100], all[20:40], all[60:80], all[0:20], all[60:80]}
		var wg sync.WaitGroup
		errs := make([]error, len(batches))
		for i, b := range batches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := f.S
				if i%2 == 1 {
					s = other
				}
				_, errs[i] = s.ApplyEvents(f.Ctx, storetest.Line1, b)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		ls, err := f.S.LineSeq(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, uint64(100), ls.Acked)
		require.Empty(t, ls.Pending)
		c, err := f.S.UnitCounts(f.Ctx, lineevents.UnitFilter{Order: "WO-1"})
		require.NoError(t, err)
		require.Equal(t, uint64(100), c.Commissioned)
		dls, err := f.S.DeadLetters(f.Ctx, lineevents.DeadLetterFilter{})
		require.NoError(t, err)
		require.Empty(t, dls, "%v", dls)
	})
}

func TestApplyListScheme(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		list := make([]string, 20)
		for i := range list {
			list[i] = fmt.Sprintf("X%03d", 19-i)
		}
		_, err := f.S.ImportSerialList(f.Ctx, storetest.GTINList, list)
		require.NoError(t, err)
		f.Order(t, "WO-L", storetest.GTINList, storetest.Line1)
		u := storetest.NewUnitSrc(t, f.Grant(t, "r1", storetest.Line1, "WO-L", storetest.GTINList, 5))
		bad := u.Ev(storetest.Line1, 6, wire.Commissioned, 0)
		bad.Serial = list[3] // listed, but not at counter 0
		res := storetest.Apply(t, f, storetest.Line1, slices.Concat(u.Commission(storetest.Line1, 1, 0, 5), []wire.Event{bad})...)
		require.Equal(t, 5, res.Applied)
		require.Len(t, res.Rejected, 1)
		require.True(t, strings.Contains(res.Rejected[0].Reason, "is not the serial of counter 0"), res.Rejected[0].Reason)
	})
}

// TestApplyFastPathConflicts: a batch that continues the line's seq with
// first uses of serials is applied without probing for taken ids and
// existing units; when it is not all new after all, the outcome is the
// careful path's, event by event, and nothing of the first attempt stays.
func TestApplyFastPathConflicts(t *testing.T) {
	tests := []struct {
		name string
		// batch returns events for seqs 2, 3, 4 of L1, after unit 0
		// was commissioned by L1:1.
		batch   func(u, u2 *storetest.UnitSrc) []wire.Event
		applied int
		reason  string // of the one dead letter, at seq 3; "" for none
		state   string // then of unit 0
	}{
		{"serial used before", func(u, _ *storetest.UnitSrc) []wire.Event {
			again := u.Ev(storetest.Line1, 3, wire.Commissioned, 0)
			again.ID = "again"
			return []wire.Event{u.Ev(storetest.Line1, 2, wire.Commissioned, 1), again, u.Ev(storetest.Line1, 4, wire.Commissioned, 2)}
		}, 2, "is commissioned already (event L1:1, line L1): a serial is used once", orders.StateCommissioned},
		{"id taken by another line", func(u, _ *storetest.UnitSrc) []wire.Event {
			taken := u.Ev(storetest.Line1, 3, wire.Commissioned, 2)
			taken.ID = "L2:1"
			return []wire.Event{u.Ev(storetest.Line1, 2, wire.Commissioned, 1), taken, u.Ev(storetest.Line1, 4, wire.Commissioned, 3)}
		}, 2, "event id L2:1 is taken by seq 1 of line L2", orders.StateCommissioned},
		{"decommissioning a known unit", func(u, _ *storetest.UnitSrc) []wire.Event {
			return []wire.Event{u.Ev(storetest.Line1, 2, wire.Commissioned, 1), u.Ev(storetest.Line1, 3, wire.Decommissioned, 0), u.Ev(storetest.Line1, 4, wire.Commissioned, 2)}
		}, 3, "", orders.StateDecommissioned},
		{"decommissioning a known unit without its counter", func(u, _ *storetest.UnitSrc) []wire.Event {
			d := u.Ev(storetest.Line1, 3, wire.Decommissioned, 0)
			d.Counter = nil // QA destroying a unit names it by GTIN and serial only
			return []wire.Event{u.Ev(storetest.Line1, 2, wire.Commissioned, 1), d, u.Ev(storetest.Line1, 4, wire.Commissioned, 2)}
		}, 3, "", orders.StateDecommissioned},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
				f, u := storetest.Applied(t, dsn)
				f.Order(t, "WO-2", storetest.GTINRand, storetest.Line2)
				u2 := storetest.NewUnitSrc(t, f.Grant(t, "r2", storetest.Line2, "WO-2", storetest.GTINRand, 10))
				storetest.Apply(t, f, storetest.Line1, u.Ev(storetest.Line1, 1, wire.Commissioned, 0))
				storetest.Apply(t, f, storetest.Line2, u2.Ev(storetest.Line2, 1, wire.Commissioned, 0))

				batch := tc.batch(u, u2)
				res := storetest.Apply(t, f, storetest.Line1, batch...)
				require.Equal(t, uint64(4), res.Acked)
				require.Equal(t, tc.applied, res.Applied)
				if tc.reason == "" {
					require.Zero(t, res.DeadLettered)
				} else {
					require.Equal(t, 1, res.DeadLettered)
					require.Equal(t, uint64(3), res.Rejected[0].Seq)
					require.Contains(t, res.Rejected[0].Reason, tc.reason)
				}
				unit, err := f.S.Unit(f.Ctx, storetest.GTINRand, u.Serial[0])
				require.NoError(t, err)
				require.Equal(t, tc.state, unit.State)

				dls, err := f.S.DeadLetters(f.Ctx, lineevents.DeadLetterFilter{Line: storetest.Line1})
				require.NoError(t, err)
				require.Len(t, dls, res.DeadLettered, "the first attempt left no dead letters behind")

				// Applied once: a resend applies nothing, and every unit
				// (0, 1 and one more) is there once.
				res = storetest.Apply(t, f, storetest.Line1, batch...)
				require.Equal(t, uint64(4), res.Acked)
				require.Zero(t, res.Applied)
				c, err := f.S.UnitCounts(f.Ctx, lineevents.UnitFilter{Order: "WO-1"})
				require.NoError(t, err)
				require.Equal(t, uint64(3), c.Total())
			})
		})
	}
}
