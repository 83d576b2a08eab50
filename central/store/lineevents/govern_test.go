package lineevents_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// TestRejectAllowance: a product's rule makes a new order's allowance, an
// order may set its own, and every change is audited.
func TestRejectAllowance(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		p := storetest.Product("00312345678937", storetest.SeqSpec)
		p.RejectAllowancePercent, p.RejectAllowanceMin, p.MinShelfLifeDays = new(2), new(uint64(10)), 30
		require.NoError(t, f.S.PutProduct(f.Ctx, p))
		tests := []struct {
			name      string
			gtin      string
			quantity  uint64
			own       *uint64
			allowance uint64
		}{
			{"default rule, the minimum", storetest.GTINSeq, 300, nil, 50},
			{"default rule, 5 %", storetest.GTINSeq, 10_000, nil, 500},
			{"default rule, rounded up", storetest.GTINSeq, 1001, nil, 51},
			{"product rule, the minimum", p.GTIN, 100, nil, 10},
			{"product rule, 2 %", p.GTIN, 1001, nil, 21},
			{"order's own", p.GTIN, 1000, new(uint64(7)), 7},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				o := orders.WorkOrder{ID: "WO-" + string(rune('A'+i)), GTIN: tc.gtin, Lot: storetest.Lot, Expiry: storetest.Expiry, Quantity: tc.quantity}
				if tc.own != nil {
					o.RejectAllowance, o.AllowanceSet = *tc.own, true
				}
				got, err := f.S.CreateOrder(f.Ctx, o)
				require.NoError(t, err)
				require.Equal(t, tc.allowance, got.RejectAllowance)
				stored, err := f.S.Order(f.Ctx, o.ID)
				require.NoError(t, err)
				require.Equal(t, tc.allowance, stored.RejectAllowance)
				require.Equal(t, tc.own != nil, stored.AllowanceSet)
				entries, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "work_order", EntityID: o.ID})
				require.NoError(t, err)
				var created orders.WorkOrder
				require.NoError(t, json.Unmarshal(entries[0].After, &created))
				require.Equal(t, tc.allowance, created.RejectAllowance, "the audit trail has the order's allowance")
			})
		}

		for name, tc := range map[string]struct {
			mut   func(*master.Product)
			field string
		}{
			"percent over 100":  {func(p *master.Product) { p.RejectAllowancePercent = new(101) }, "reject_allowance_percent"},
			"negative percent":  {func(p *master.Product) { p.RejectAllowancePercent = new(-1) }, "reject_allowance_percent"},
			"minimum too large": {func(p *master.Product) { p.RejectAllowanceMin = new(uint64(1<<40 + 1)) }, "reject_allowance_min"},
			"no allowance":      {func(p *master.Product) { p.RejectAllowancePercent, p.RejectAllowanceMin = new(0), new(uint64(0)) }, "reject_allowance_min"},
			"shelf life":        {func(p *master.Product) { p.MinShelfLifeDays = 3661 }, "min_shelf_life_days"},
		} {
			bad := p
			tc.mut(&bad)
			var ve *sqldb.ValidationError
			require.ErrorAs(t, f.S.PutProduct(f.Ctx, bad), &ve, name)
			require.Equal(t, tc.field, ve.Field, name)
		}
		// 0 % needs a minimum, also when the minimum is the stored one.
		zero := p
		zero.RejectAllowancePercent, zero.RejectAllowanceMin = new(0), new(uint64(0))
		require.NoError(t, f.S.PutProduct(f.Ctx, func() master.Product { q := zero; q.RejectAllowanceMin = new(uint64(3)); return q }()))
		zero.RejectAllowanceMin = nil
		require.NoError(t, f.S.PutProduct(f.Ctx, zero), "the stored minimum of 3 is kept")
		got, err := f.S.Product(f.Ctx, p.GTIN)
		require.NoError(t, err)
		require.Equal(t, 0, *got.RejectAllowancePercent)
		require.Equal(t, uint64(3), *got.RejectAllowanceMin)
		require.Equal(t, 30, got.MinShelfLifeDays)
		entries, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "product", EntityID: p.GTIN})
		require.NoError(t, err)
		var before, after master.Product
		require.NoError(t, json.Unmarshal(entries[1].Before, &before))
		require.NoError(t, json.Unmarshal(entries[1].After, &after))
		require.Equal(t, [2]int{2, 0}, [2]int{*before.RejectAllowancePercent, *after.RejectAllowancePercent}, "the change is audited")

		for name, o := range map[string]orders.WorkOrder{
			"own allowance 0":   {ID: "WO-X", GTIN: storetest.GTINSeq, Lot: storetest.Lot, Expiry: storetest.Expiry, Quantity: 5, AllowanceSet: true},
			"own allowance big": {ID: "WO-X", GTIN: storetest.GTINSeq, Lot: storetest.Lot, Expiry: storetest.Expiry, Quantity: 5, AllowanceSet: true, RejectAllowance: 1<<40 + 1},
		} {
			var ve *sqldb.ValidationError
			_, err := f.S.CreateOrder(f.Ctx, o)
			require.ErrorAs(t, err, &ve, name)
			require.Equal(t, "reject_allowance", ve.Field, name)
		}
	})
}

// TestAllowanceExtended: a supervisor's extension at the line adds to the
// order's allowance, is audited with who, where, how much and why, and
// asks for the line's orders to be republished.
func TestAllowanceExtended(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		f.OrderOf(t, "WO-1", storetest.GTINSeq, storetest.Line1, 300)
		ext := storetest.Ev(storetest.Line1, 1, wire.AllowanceExtended)
		ext.Order, ext.Allowance, ext.Note, ext.Operator = "WO-1", 25, "film splice: 20 packs damaged at the infeed", "sup-maria"
		unknown := storetest.Ev(storetest.Line1, 2, wire.AllowanceExtended)
		unknown.Order, unknown.Allowance, unknown.Note = "WO-9", 5, "x"
		huge := storetest.Ev(storetest.Line1, 3, wire.AllowanceExtended)
		huge.Order, huge.Allowance, huge.Note = "WO-1", 1<<40, "too much"
		res := storetest.Apply(t, f, storetest.Line1, ext, unknown, huge)
		require.Equal(t, 1, res.Applied)
		require.Len(t, res.Rejected, 2)
		require.Contains(t, res.Rejected[0].Reason, "work order WO-9 is unknown")
		require.Contains(t, res.Rejected[1].Reason, "exceeds")
		require.Equal(t, []string{"WO-1"}, res.OrdersChanged)

		o, err := f.S.Order(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, uint64(75), o.RejectAllowance)
		require.Equal(t, uint64(25), o.AllowanceExtended)
		orders, err := f.S.LineOrders(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, uint64(75), orders.Orders[0].RejectAllowance, "the line hears of it")
		need, err := f.S.OrderNeed(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, uint64(375), need.Remaining)

		entries, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "work_order", EntityID: "WO-1"})
		require.NoError(t, err)
		last := entries[len(entries)-1]
		require.Equal(t, "extend-allowance", last.Action)
		require.Equal(t, "line:L1 operator:sup-maria", last.Actor)
		var after map[string]any
		require.NoError(t, json.Unmarshal(last.After, &after))
		require.Equal(t, map[string]any{"reject_allowance": 75.0, "reject_allowance_extended": 25.0, "extended_by": 25.0,
			"reason": "film splice: 20 packs damaged at the infeed", "line": "L1", "supervisor": "sup-maria", "event": "L1:1"}, after)
	})
}

// TestShelfLife: an order's expiry must not be past, nor closer than the
// product's minimum shelf life, when it is created and again when it is
// released (on central's clock).
func TestShelfLife(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		today := time.Date(2026, 5, 1, 15, 0, 0, 0, time.UTC)
		clock := today
		s := storetest.Open(t, dsn, testkit.Logger(t), store.WithClock(func() time.Time { return clock }))
		ctx := storetest.Context(t)
		require.NoError(t, s.PutLine(ctx, master.Line{ID: storetest.Line1, Name: "L1", PasswordHash: "pbkdf2$x"}))
		require.NoError(t, s.PutProduct(ctx, storetest.Product(storetest.GTINSeq, storetest.SeqSpec)))
		p := storetest.Product("00312345678937", storetest.SeqSpec)
		p.MinShelfLifeDays = 180
		require.NoError(t, s.PutProduct(ctx, p))
		tests := []struct {
			name, gtin, expiry, lot, field, want string
		}{
			{"yesterday", storetest.GTINSeq, "260430", storetest.Lot, "expiry", "260430 (2026-04-30) is in the past (today is 2026-05-01)"},
			{"issue 11's expiry", storetest.GTINSeq, "240101", storetest.Lot, "expiry", "is in the past"},
			{"today", storetest.GTINSeq, "260501", storetest.Lot, "", ""},
			{"end of last month", storetest.GTINSeq, "260400", storetest.Lot, "expiry", "260400 (2026-04-30) is in the past"},
			{"end of this month", storetest.GTINSeq, "260500", storetest.Lot, "", ""},
			{"shelf life short", p.GTIN, "261027", storetest.Lot, "expiry", "is 179 days ahead; product 00312345678937 needs at least 180 days"},
			{"shelf life enough", p.GTIN, "261028", storetest.Lot, "", ""},
			{"shelf life to the end of the month", p.GTIN, "261000", storetest.Lot, "", ""},
			{"lot too long", storetest.GTINSeq, storetest.Expiry, "L123456789012345678901", "lot", "1 to 20 characters (AI 10), got 22"},
			{"lot not CSET 82", storetest.GTINSeq, storetest.Expiry, "LOT 42", "lot", "AI (10)"},
			{"no lot", storetest.GTINSeq, storetest.Expiry, "", "lot", "1 to 20 characters"},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-" + string(rune('A'+i)), GTIN: tc.gtin, Lot: tc.lot, Expiry: tc.expiry, Quantity: 10})
				if tc.field == "" {
					require.NoError(t, err)
					return
				}
				var ve *sqldb.ValidationError
				require.ErrorAs(t, err, &ve)
				require.Equal(t, tc.field, ve.Field)
				require.Contains(t, ve.Rule, tc.want)
			})
		}

		// Created with 183 days left; a month later only 152 remain.
		_, err := s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-late", GTIN: p.GTIN, Lot: storetest.Lot, Expiry: "261031", Quantity: 10})
		require.NoError(t, err)
		clock = today.AddDate(0, 1, 0)
		_, err = s.ReleaseOrder(ctx, "WO-late", storetest.Line1)
		var ve *sqldb.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "expiry", ve.Field)
		require.Contains(t, ve.Rule, "is 152 days ahead")
		o, err := s.Order(ctx, "WO-late")
		require.NoError(t, err)
		require.Equal(t, wire.OrderStateCreated, o.State, "not released")
	})
}

// TestCloseReachesLineAfterClose: central closes an order while its line
// is offline. The line hears of it in its retained orders; what it made
// meanwhile arrives later, is recorded, and what was made after the close
// is flagged after-close; its order-closed stores its counts without a
// second close.
func TestCloseReachesLineAfterClose(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		f.OrderOf(t, "WO-1", storetest.GTINRand, storetest.Line1, 300)
		u := storetest.NewUnitSrc(t, f.Grant(t, "r1", storetest.Line1, "WO-1", storetest.GTINRand, 20))
		closed, err := f.S.CloseOrder(f.Ctx, "WO-1")
		require.NoError(t, err)
		at := *closed.ClosedAt

		orders, err := f.S.LineOrders(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Len(t, orders.Orders, 1)
		require.Equal(t, wire.Order{ID: "WO-1", GTIN: storetest.GTINRand, Lot: storetest.Lot, Expiry: storetest.Expiry, Quantity: 300, State: wire.OrderStateClosed,
			MinGrade: "C", Product: "Paracetamol 500 mg tablets", National: map[string]string{"715": "12345-678-91"},
			RejectAllowance: 50, ClosedAt: at}, orders.Orders[0])

		// The line comes back with what it made: 3 units before the close,
		// the start of the order, 4 units and a reject after it, then it
		// closes: 12 positions voided, nothing returned.
		stamp := func(e wire.Event, d time.Duration) wire.Event { e.At = at.Add(d); return e }
		var events []wire.Event
		seq := uint64(1)
		add := func(e wire.Event, d time.Duration) { events = append(events, stamp(e, d)); seq++ }
		start := storetest.Ev(storetest.Line1, seq, wire.OrderStarted)
		start.Order = "WO-1"
		add(start, -2*time.Second)
		for i := range 3 {
			add(u.Ev(storetest.Line1, seq, wire.Commissioned, i), -time.Second)
		}
		for i := 3; i < 7; i++ {
			add(u.Ev(storetest.Line1, seq, wire.Commissioned, i), time.Duration(i)*time.Second)
		}
		add(u.Ev(storetest.Line1, seq, wire.Decommissioned, 7), 8*time.Second)
		for i := 8; i < 20; i++ {
			add(u.Ev(storetest.Line1, seq, wire.Voided, i), 30*time.Second)
		}
		done := storetest.Ev(storetest.Line1, seq, wire.OrderClosed)
		done.Order, done.Counts = "WO-1", &wire.Reconciliation{Granted: 20, Commissioned: 7, Voided: 12, Decommissioned: map[wire.Reason]uint64{wire.ReasonNoRead: 1}}
		add(done, 30*time.Second)
		res := storetest.Apply(t, f, storetest.Line1, events...)
		require.Empty(t, res.Rejected, "nothing a line made is dropped")
		require.Equal(t, len(events), res.Applied)
		require.Equal(t, []string{"WO-1"}, res.OrdersChanged)

		o, err := f.S.Order(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.Equal(t, at, *o.ClosedAt, "central's close time stays")
		require.Equal(t, done.Counts, o.ReportedCounts)
		require.Equal(t, [3]uint64{7, 1, 12}, [3]uint64{o.Produced, o.Rejected, o.Voided})
		rec, err := f.S.Reconciliation(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.True(t, rec.Balanced(), "%+v", rec)
		orders, err = f.S.LineOrders(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Empty(t, orders.Orders, "the line reported the close")

		flags, err := f.S.EventFlags(f.Ctx, lineevents.FlagFilter{Order: "WO-1"})
		require.NoError(t, err)
		var flagged []string
		for _, fl := range flags {
			require.Equal(t, lineevents.FlagAfterClose, fl.Flag)
			require.Equal(t, storetest.Line1, fl.Line)
			require.True(t, fl.EventAt.After(at))
			require.Contains(t, fl.Detail, "after work order WO-1 was closed (made ")
			flagged = append(flagged, fl.EventID)
		}
		require.Equal(t, []string{"L1:5", "L1:6", "L1:7", "L1:8", "L1:9"}, flagged,
			"the units made after the close and the reject; not those before it, nor the line's close-out")

		entries, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "work_order", EntityID: "WO-1"})
		require.NoError(t, err)
		var actions []string
		for _, a := range entries {
			actions = append(actions, a.Action)
			if a.Action == "flag" {
				var fl map[string]any
				require.NoError(t, json.Unmarshal(a.After, &fl))
				require.Equal(t, "after-close", fl["flag"])
				require.Equal(t, 5.0, fl["events"])
				require.Equal(t, "L1:5", fl["first_event"])
				require.Equal(t, "L1:9", fl["last_event"])
				require.Equal(t, "line:L1", a.Actor)
			}
		}
		require.Equal(t, []string{"create", "release", "close", "flag", "reconcile"}, actions, "exactly one close; the flags are in the trail")

		// QA dispositions them: all or nothing, once, audited.
		qa := sqldb.WithActor(f.Ctx, "quinn (qa)")
		ids := []int64{flags[0].ID, flags[1].ID}
		_, err = f.S.DisposeFlags(qa, "WO-1", ids, "keep", "x")
		var ve *sqldb.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "disposition", ve.Field)
		_, err = f.S.DisposeFlags(qa, "WO-1", ids, lineevents.DispositionRejected, " ")
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "note", ve.Field)
		_, err = f.S.DisposeFlags(qa, "WO-2", ids, lineevents.DispositionRejected, "made after close")
		require.ErrorIs(t, err, sqldb.ErrNotFound, "flags of another order")
		_, err = f.S.DisposeFlags(qa, "WO-1", []int64{ids[0], 999_999}, lineevents.DispositionRejected, "made after close")
		require.ErrorIs(t, err, sqldb.ErrNotFound)
		out, err := f.S.DisposeFlags(qa, "WO-1", ids, lineevents.DispositionRejected, "made after close: pulled and destroyed")
		require.NoError(t, err)
		require.Len(t, out, 2)
		_, err = f.S.DisposeFlags(qa, "WO-1", ids[1:], lineevents.DispositionAccepted, "again")
		require.ErrorIs(t, err, sqldb.ErrState)
		require.ErrorContains(t, err, "dispositioned rejected by quinn (qa)")
		open, err := f.S.EventFlags(f.Ctx, lineevents.FlagFilter{Order: "WO-1", Open: true})
		require.NoError(t, err)
		require.Len(t, open, 3, "the failed calls changed nothing")
		all, err := f.S.EventFlags(f.Ctx, lineevents.FlagFilter{Order: "WO-1"})
		require.NoError(t, err)
		require.Equal(t, lineevents.DispositionRejected, all[0].Disposition)
		require.Equal(t, "quinn (qa)", all[0].DisposedBy)
		require.NotNil(t, all[0].DisposedAt)
		require.Equal(t, "made after close: pulled and destroyed", all[0].Note)
		trail, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "event_flag"})
		require.NoError(t, err)
		require.Len(t, trail, 2)
		require.Equal(t, "disposition", trail[0].Action)
		require.Equal(t, "quinn (qa)", trail[0].Actor)
	})
}

// TestLineClosesFirst: the line closes the order itself; central's close
// is then refused, and later events of the line are flagged against the
// line's close time.
func TestLineClosesFirst(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		done := storetest.Ev(storetest.Line1, 2, wire.OrderClosed)
		done.Order, done.Counts = "WO-1", &wire.Reconciliation{Granted: 100, Commissioned: 1}
		late := u.Ev(storetest.Line1, 3, wire.Commissioned, 1)
		late.At = done.At.Add(time.Minute)
		res := storetest.Apply(t, f, storetest.Line1, u.Ev(storetest.Line1, 1, wire.Commissioned, 0), done, late)
		require.Empty(t, res.Rejected)
		_, err := f.S.CloseOrder(f.Ctx, "WO-1")
		require.ErrorIs(t, err, sqldb.ErrState)
		flags, err := f.S.EventFlags(f.Ctx, lineevents.FlagFilter{})
		require.NoError(t, err)
		require.Len(t, flags, 1)
		require.Equal(t, "L1:3", flags[0].EventID)
		entries, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "work_order", EntityID: "WO-1"})
		require.NoError(t, err)
		closes := 0
		for _, a := range entries {
			if a.Action == "close" {
				closes++
				require.Equal(t, "line:L1 operator:ana", a.Actor)
			}
		}
		require.Equal(t, 1, closes)
	})
}
