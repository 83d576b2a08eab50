package pool

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

func TestTakeFollowsGrantsAndNeverInvents(t *testing.T) {
	db := testkit.OpenBolt(t, dbPath(t))
	defer db.Close()
	p, _ := openPool(t, db, Config{ReserveBlock: 8})
	startedOrder(t, p, "WO-1", wire.CounterRange{Start: 100, Count: 5}, wire.CounterRange{Start: 7, Count: 3})

	got := take(t, p, 8)
	sc, err := serials.New(*seqSpec())
	require.NoError(t, err)
	wantCounters := []uint64{100, 101, 102, 103, 104, 7, 8, 9}
	for i, u := range got {
		require.Equal(t, uint64(i), u.Position)
		require.Equal(t, wantCounters[i], u.Counter, "position %d", i)
		s, err := sc.Serial(nil, u.Counter)
		require.NoError(t, err)
		require.Equal(t, string(s), u.Serial)
	}
	// Empty: an error naming the order, and no serial.
	u, s, err := p.Take([]byte("keep"))
	require.ErrorIs(t, err, ErrEmpty)
	require.ErrorContains(t, err, `"WO-1"`)
	require.Equal(t, "keep", string(s))
	require.Zero(t, u)

	l, err := p.Level("WO-1")
	require.NoError(t, err)
	require.Equal(t, uint64(8), l.Granted)
	require.Equal(t, uint64(8), l.Taken)
	require.Zero(t, l.Available)
	require.Zero(t, l.MinutesLeft)
}

func TestTakeWithoutActiveOrder(t *testing.T) {
	db := testkit.OpenBolt(t, dbPath(t))
	defer db.Close()
	p, _ := openPool(t, db, Config{})
	_, _, err := p.Take(nil)
	require.ErrorIs(t, err, ErrNoOrder)
	require.ErrorIs(t, p.Activate("nope"), ErrNoOrder)
}

// TestReservationAlwaysAhead checks the invariant that makes restarts safe:
// whenever a position has been handed out, the durable reserved mark is
// above it.
func TestReservationAlwaysAhead(t *testing.T) {
	db := testkit.OpenBolt(t, dbPath(t))
	defer db.Close()
	p, _ := openPool(t, db, Config{ReserveBlock: 16})
	startedOrder(t, p, "WO-1", wire.CounterRange{Start: 0, Count: 1000})
	for i := range 1000 {
		u, _, err := p.Take(nil)
		require.NoError(t, err)
		resv, _ := durableMarks(t, db, "WO-1")
		require.Greater(t, resv, u.Position, "take %d", i)
		require.LessOrEqual(t, resv, u.Position+1+16, "the mark runs at most a block ahead")
	}
	// Without Run, every block was written by Take itself.
	require.Equal(t, uint64(1000/16+1), p.Stalls())
}

// TestRunKeepsReservationAhead: with Run in the background Take does not
// wait for the disk except at the very start.
func TestRunKeepsReservationAhead(t *testing.T) {
	db := testkit.OpenBolt(t, dbPath(t))
	defer db.Close()
	p, _ := openPool(t, db, Config{ReserveBlock: 256, CheckEvery: time.Hour})
	startedOrder(t, p, "WO-1", wire.CounterRange{Start: 0, Count: 100_000})
	ctx, cancel := context.WithCancel(testkit.Context(t))
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx, newRecorder()) }()
	defer func() { cancel(); <-done }()
	// Wait for the first reservation Run makes.
	require.Eventually(t, func() bool { l, _ := p.Level("WO-1"); return l.Reserved > 0 }, 10*time.Second, time.Millisecond)
	for range 2000 {
		_, _, err := p.Take(nil)
		require.NoError(t, err)
		// Give Run a chance at each half block, as a line's pitch would.
		if l, _ := p.Level("WO-1"); l.Reserved-l.Taken < 128 {
			require.Eventually(t, func() bool { l, _ := p.Level("WO-1"); return l.Reserved-l.Taken >= 128 }, 10*time.Second, 100*time.Microsecond)
		}
	}
	require.Zero(t, p.Stalls())
}

// TestRestartVoidsExactlyTheUnaccounted crashes (closes the file without
// Pool.Close) with fates recorded out of order, and checks the set that
// comes back voided.
func TestRestartVoidsExactlyTheUnaccounted(t *testing.T) {
	path := dbPath(t)
	db := testkit.OpenBolt(t, path)
	p, sink := openPool(t, db, Config{ReserveBlock: 10})
	startedOrder(t, p, "WO-1", wire.CounterRange{Start: 0, Count: 100})
	units := take(t, p, 25) // reserved up to 30
	// Fates: 0..9 commissioned, 12 and 14 decommissioned (out of order), 10
	// voided; 11, 13 and 15..24 are in flight.
	fate(t, sink, wire.Commissioned, "", units[:10]...)
	fate(t, sink, wire.Decommissioned, wire.ReasonNoRead, units[14], units[12])
	fate(t, sink, wire.Voided, "", units[10])
	resv, lo := durableMarks(t, db, "WO-1")
	require.Equal(t, uint64(30), resv)
	require.Equal(t, uint64(11), lo)
	require.NoError(t, db.Close()) // crash: no Pool.Close

	db = testkit.OpenBolt(t, path)
	defer db.Close()
	p, sink = openPool(t, db, Config{ReserveBlock: 10})
	lost := p.Unaccounted()
	var lostPos []uint64
	for _, l := range lost {
		lostPos = append(lostPos, l.Position)
		require.Equal(t, units[min(l.Position, 24)].Serial == l.Serial, l.Position < 25, "position %d", l.Position)
	}
	want := []uint64{11, 13}
	for pos := uint64(15); pos < 30; pos++ {
		want = append(want, pos)
	}
	require.Equal(t, want, lostPos)

	n, err := p.Recover(testkit.Context(t), sink)
	require.NoError(t, err)
	require.Equal(t, len(want), n)
	require.Empty(t, p.Unaccounted())
	var noted int
	for _, ev := range storedEvents(t, db) {
		if ev.Type == wire.Voided && ev.Note == VoidedUnclean {
			noted++
		}
	}
	require.Equal(t, len(want), noted, "the recovered voids say so, for QA at central")
	_, lo = durableMarks(t, db, "WO-1")
	require.Equal(t, uint64(30), lo, "every position below the old mark has a fate")

	// The next serial is above the old mark: nothing is handed out twice.
	require.NoError(t, p.Activate("WO-1"))
	u, _, err := p.Take(nil)
	require.NoError(t, err)
	require.Equal(t, uint64(30), u.Position)

	l, err := p.Level("WO-1")
	require.NoError(t, err)
	require.Equal(t, uint64(10), l.Counts.Commissioned)
	require.Equal(t, uint64(2), l.Counts.Decommissioned[wire.ReasonNoRead])
	require.Equal(t, uint64(1+len(want)), l.Counts.Voided)
	require.Zero(t, p.DuplicateFates())

	// Voided events carry everything the contract needs.
	for _, e := range storedEvents(t, db) {
		e.ID = fmt.Sprintf("x:%d", e.Seq)
		require.NoError(t, e.Validate())
	}
}

func TestCleanCloseVoidsNothing(t *testing.T) {
	path := dbPath(t)
	db := testkit.OpenBolt(t, path)
	p, sink := openPool(t, db, Config{ReserveBlock: 64})
	startedOrder(t, p, "WO-1", wire.CounterRange{Start: 0, Count: 100})
	units := take(t, p, 5)
	fate(t, sink, wire.Commissioned, "", units...)
	require.NoError(t, p.Close())
	require.NoError(t, db.Close())

	db = testkit.OpenBolt(t, path)
	defer db.Close()
	p, _ = openPool(t, db, Config{ReserveBlock: 64})
	require.Empty(t, p.Unaccounted())
	require.NoError(t, p.Activate("WO-1"))
	u, _, err := p.Take(nil)
	require.NoError(t, err)
	require.Equal(t, uint64(5), u.Position, "a clean restart resumes where the line stopped")
}

func TestDuplicateFateIsNotCounted(t *testing.T) {
	db := testkit.OpenBolt(t, dbPath(t))
	defer db.Close()
	p, sink := openPool(t, db, Config{})
	startedOrder(t, p, "WO-1", wire.CounterRange{Start: 0, Count: 10})
	units := take(t, p, 3)
	fate(t, sink, wire.Commissioned, "", units...)
	fate(t, sink, wire.Voided, "", units[1], units[0])
	require.Equal(t, uint64(2), p.DuplicateFates())
	l, err := p.Level("WO-1")
	require.NoError(t, err)
	require.Equal(t, uint64(3), l.Counts.Commissioned)
	require.Zero(t, l.Counts.Voided)
}

func TestRefillRequestIsIdempotent(t *testing.T) {
	path := dbPath(t)
	db := testkit.OpenBolt(t, path)
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cfg := Config{ReserveBlock: 8, LowWaterMinutes: 10, RefillMinutes: 20, MinRequest: 100, MaxRequest: 5000, NominalRate: 60, RequestRetry: time.Minute, Now: clock}
	p, _ := openPool(t, db, cfg)
	require.NoError(t, p.AddOrder(testOrder("WO-1")))
	require.NoError(t, p.Activate("WO-1"))

	// Empty, central unreachable: the request is stored, the send fails.
	rec := newRecorder()
	rec.setOffline(true)
	p.refill(testkit.Context(t), rec)
	reqs := rec.all()
	require.Len(t, reqs, 1)
	first := reqs[0]
	require.Equal(t, uint64(20*60), first.Count, "refill_minutes at the nominal rate")
	l, err := p.Level("WO-1")
	require.NoError(t, err)
	require.Equal(t, first.RequestID, l.Pending)

	// The retry after a failed send reuses the id.
	rec.setOffline(false)
	p.refill(testkit.Context(t), rec)
	require.Len(t, rec.all(), 2)
	require.Equal(t, first, rec.all()[1])
	// No grant within RequestRetry: no resend yet; after it, the same id.
	p.refill(testkit.Context(t), rec)
	require.Len(t, rec.all(), 2)
	now = now.Add(time.Minute)
	p.refill(testkit.Context(t), rec)
	require.Len(t, rec.all(), 3)
	require.Equal(t, first.RequestID, rec.all()[2].RequestID)

	// Crash and restart: the stored request goes out again with its id.
	require.NoError(t, db.Close())
	db = testkit.OpenBolt(t, path)
	defer db.Close()
	p, _ = openPool(t, db, cfg)
	require.NoError(t, p.Activate("WO-1"))
	rec = newRecorder()
	p.refill(testkit.Context(t), rec)
	require.Equal(t, []wire.SerialRequest{first}, rec.all())

	// A grant for another id is refused; ours is applied once.
	stray := grant(testLine+"-other", "WO-1", seqSpec(), wire.CounterRange{Start: 0, Count: 10})
	require.ErrorIs(t, p.ApplyGrant(stray), ErrUnsolicited)
	g := grant(first.RequestID, "WO-1", seqSpec(), wire.CounterRange{Start: 0, Count: first.Count})
	require.NoError(t, p.ApplyGrant(g))
	require.NoError(t, p.ApplyGrant(g), "a duplicate grant is a no-op")
	l, err = p.Level("WO-1")
	require.NoError(t, err)
	require.Equal(t, first.Count, l.Granted)
	require.Equal(t, first.Count, l.Counts.Granted)
	require.Empty(t, l.Pending)

	// Above the low-water mark nothing is requested; below it a new id.
	p.refill(testkit.Context(t), rec)
	require.Len(t, rec.all(), 1)
	take(t, p, int(first.Count)-500) // 500 left at 60/min: 8.3 min < 10
	p.refill(testkit.Context(t), rec)
	require.Len(t, rec.all(), 2)
	require.NotEqual(t, first.RequestID, rec.all()[1].RequestID)
}

func TestRefusedGrant(t *testing.T) {
	db := testkit.OpenBolt(t, dbPath(t))
	defer db.Close()
	p, _ := openPool(t, db, Config{})
	require.NoError(t, p.AddOrder(testOrder("WO-1")))
	require.NoError(t, p.Activate("WO-1"))
	r, err := p.RequestNow(testkit.Context(t), "WO-1", newRecorder())
	require.NoError(t, err)
	refusal := wire.SerialGrant{V: 1, RequestID: r.RequestID, Line: testLine, Order: "WO-1", GTIN: r.GTIN, Error: "order WO-1 is not released to line t-pool"}
	require.NoError(t, refusal.Validate())
	require.NoError(t, p.ApplyGrant(refusal))
	l, err := p.Level("WO-1")
	require.NoError(t, err)
	require.Empty(t, l.Pending)
	require.Equal(t, refusal.Error, l.Refused)
	_, _, err = p.Take(nil)
	require.ErrorIs(t, err, ErrEmpty)
}

func TestGrantChecks(t *testing.T) {
	other := seqSpec()
	other.Start = 5
	tests := []struct {
		name  string
		edit  func(g *wire.SerialGrant)
		errIs error
		msg   string
	}{
		{name: "other line", edit: func(g *wire.SerialGrant) { g.Line = "t-other" }, msg: `for line "t-other"`},
		{name: "unknown order", edit: func(g *wire.SerialGrant) { g.Order = "WO-9" }, errIs: ErrNoOrder},
		{name: "other gtin", edit: func(g *wire.SerialGrant) { g.GTIN = "00300123456785" }, msg: "gtin 00300123456785"},
		{name: "scheme changes", edit: func(g *wire.SerialGrant) { g.Scheme = other }, msg: "differs from the order's"},
		{name: "overlap", edit: func(g *wire.SerialGrant) { g.Ranges = []wire.CounterRange{{Start: 5, Count: 10}} }, msg: "overlaps counters already granted [0, 10)"},
		{name: "beyond space", edit: func(g *wire.SerialGrant) { g.Ranges = []wire.CounterRange{{Start: 9_999_999_990, Count: 20}} }, msg: "beyond the scheme's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := testkit.OpenBolt(t, dbPath(t))
			defer db.Close()
			p, _ := openPool(t, db, Config{})
			startedOrder(t, p, "WO-1", wire.CounterRange{Start: 0, Count: 10})
			r, err := p.RequestNow(testkit.Context(t), "WO-1", newRecorder())
			require.NoError(t, err)
			g := grant(r.RequestID, "WO-1", seqSpec(), wire.CounterRange{Start: 100, Count: 10})
			tc.edit(&g)
			err = p.ApplyGrant(g)
			require.Error(t, err)
			if tc.errIs != nil {
				require.ErrorIs(t, err, tc.errIs)
			}
			require.ErrorContains(t, err, tc.msg)
			l, err := p.Level("WO-1")
			require.NoError(t, err)
			require.Equal(t, uint64(10), l.Granted, "nothing applied")
		})
	}
}

func TestListAndRandomizedSchemes(t *testing.T) {
	tests := []struct {
		name string
		spec serials.Spec
		list []string
	}{
		{name: "list", spec: serials.Spec{Kind: serials.KindList}, list: []string{"A1", "B2", "C3", "D4"}},
		{name: "randomized", spec: serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetAlphanumeric, Key: "000102030405060708090a0b0c0d0e0f"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := dbPath(t)
			db := testkit.OpenBolt(t, path)
			p, _ := openPool(t, db, Config{})
			require.NoError(t, p.AddOrder(testOrder("WO-1")))
			require.NoError(t, p.Activate("WO-1"))
			r, err := p.RequestNow(testkit.Context(t), "WO-1", newRecorder())
			require.NoError(t, err)
			spec := tc.spec
			g := grant(r.RequestID, "WO-1", &spec, wire.CounterRange{Start: 40, Count: 2}, wire.CounterRange{Start: 10, Count: 2})
			g.Serials = tc.list
			require.NoError(t, g.Validate())
			require.NoError(t, p.ApplyGrant(g))
			got := take(t, p, 4)
			var want []string
			if tc.list != nil {
				want = tc.list
			} else {
				sc, err := serials.New(spec)
				require.NoError(t, err)
				for _, c := range []uint64{40, 41, 10, 11} {
					s, err := sc.Serial(nil, c)
					require.NoError(t, err)
					want = append(want, string(s))
				}
			}
			for i, u := range got {
				require.Equal(t, want[i], u.Serial)
			}
			// After a restart the scheme (and list) come back from disk.
			require.NoError(t, db.Close())
			db = testkit.OpenBolt(t, path)
			defer db.Close()
			p, _ = openPool(t, db, Config{})
			lost := p.Unaccounted()
			require.Len(t, lost, 4)
			for i, l := range lost {
				require.Equal(t, want[i], l.Serial)
			}
		})
	}
}

func TestCloseOrderReconciles(t *testing.T) {
	db := testkit.OpenBolt(t, dbPath(t))
	defer db.Close()
	p, sink := openPool(t, db, Config{ReserveBlock: 8})
	startedOrder(t, p, "WO-1", wire.CounterRange{Start: 0, Count: 10}, wire.CounterRange{Start: 50, Count: 10})
	units := take(t, p, 14)
	fate(t, sink, wire.Commissioned, "", units[:10]...)
	fate(t, sink, wire.Decommissioned, wire.ReasonLowGrade, units[10])
	fate(t, sink, wire.Voided, "", units[12])
	// units 11 and 13 are abandoned in flight.

	counts, err := p.CloseOrder(testkit.Context(t), "WO-1", "op1", sink)
	require.NoError(t, err)
	require.Equal(t, wire.Reconciliation{Granted: 20, Commissioned: 10, Decommissioned: map[wire.Reason]uint64{wire.ReasonLowGrade: 1}, Voided: 3, ReturnedUnused: 6}, counts)
	require.True(t, counts.Balanced())

	evs := storedEvents(t, db)
	last := evs[len(evs)-1]
	require.Equal(t, wire.OrderClosed, last.Type)
	require.Equal(t, counts, *last.Counts)
	ret := evs[len(evs)-2]
	require.Equal(t, wire.SerialsReturned, ret.Type)
	require.Equal(t, []wire.CounterRange{{Start: 54, Count: 6}}, ret.Ranges)

	// The pool's own counts agree with what it sent.
	l, err := p.Level("WO-1")
	require.NoError(t, err)
	require.True(t, l.Closed)
	require.Equal(t, counts, l.Counts)
	require.ErrorIs(t, p.Activate("WO-1"), ErrOrderClosed)
	again, err := p.CloseOrder(testkit.Context(t), "WO-1", "op1", sink)
	require.NoError(t, err)
	require.Equal(t, counts, again)
	require.Len(t, storedEvents(t, db), len(evs), "closing twice sends nothing")
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"line", Config{Line: "a/b"}, "pool: line:"},
		{"block", Config{Line: "L", ReserveBlock: 1}, "reserve_block"},
		{"low water", Config{Line: "L", LowWaterMinutes: -1}, "low_water_minutes"},
		{"refill below low water", Config{Line: "L", LowWaterMinutes: 60, RefillMinutes: 30}, "refill_minutes: must be at least low_water_minutes"},
		{"max below min", Config{Line: "L", MinRequest: 10, MaxRequest: 5}, "max_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, tc.cfg.Validate(), tc.msg)
		})
	}
	require.NoError(t, Config{Line: "L"}.Validate())
}

func TestChangesWakes(t *testing.T) {
	db := testkit.OpenBolt(t, dbPath(t))
	defer db.Close()
	p, _ := openPool(t, db, Config{})
	ch := p.Changes()
	require.NoError(t, p.AddOrder(testOrder("WO-1")))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no change notified")
	}
}
