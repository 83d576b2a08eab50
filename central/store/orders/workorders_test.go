package orders_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/wire"
)

func TestWorkOrders(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		_, err := f.S.CreateOrder(f.Ctx, orders.WorkOrder{ID: "WO-1", GTIN: storetest.GTINSeq, Lot: storetest.Lot, Expiry: storetest.Expiry, Quantity: 100})
		require.NoError(t, err)
		_, err = f.S.CreateOrder(f.Ctx, orders.WorkOrder{ID: "WO-1", GTIN: storetest.GTINSeq, Lot: storetest.Lot, Expiry: storetest.Expiry, Quantity: 100})
		require.ErrorIs(t, err, sqldb.ErrConflict)
		_, err = f.S.CreateOrder(f.Ctx, orders.WorkOrder{ID: "WO-2", GTIN: "00312345678937", Lot: storetest.Lot, Expiry: storetest.Expiry, Quantity: 1})
		require.ErrorIs(t, err, sqldb.ErrNotFound)
		_, err = f.S.CreateOrder(f.Ctx, orders.WorkOrder{ID: "WO-2", GTIN: storetest.GTINSeq, Lot: "L 1", Expiry: storetest.Expiry, Quantity: 1})
		require.ErrorIs(t, err, sqldb.ErrInvalid)
		_, err = f.S.CreateOrder(f.Ctx, orders.WorkOrder{ID: "WO-2", GTIN: storetest.GTINSeq, Lot: storetest.Lot, Expiry: "280230", Quantity: 1})
		require.ErrorContains(t, err, "expiry")

		_, err = f.S.ReleaseOrder(f.Ctx, "WO-1", "L9")
		require.ErrorIs(t, err, sqldb.ErrNotFound)
		o, err := f.S.ReleaseOrder(f.Ctx, "WO-1", storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, wire.OrderStateReleased, o.State)
		_, err = f.S.ReleaseOrder(f.Ctx, "WO-1", storetest.Line2)
		require.ErrorIs(t, err, sqldb.ErrState)

		lo, err := f.S.LineOrders(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.NoError(t, lo.Validate(), "the orders payload is valid on the wire")
		require.Len(t, lo.Orders, 1)
		require.Equal(t, "12345-678-90", lo.Orders[0].National["715"])

		o, err = f.S.CloseOrder(f.Ctx, "WO-1")
		require.NoError(t, err)
		require.NotNil(t, o.ClosedAt)
		// Until the line reports it closed, the line is told of the close.
		lo, err = f.S.LineOrders(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.NoError(t, lo.Validate())
		require.Len(t, lo.Orders, 1)
		require.Equal(t, wire.OrderStateClosed, lo.Orders[0].State)
		require.Equal(t, *o.ClosedAt, lo.Orders[0].ClosedAt)
		closed := storetest.Ev(storetest.Line1, 1, wire.OrderClosed)
		closed.Order, closed.Counts = "WO-1", &wire.Reconciliation{}
		res, err := f.S.ApplyEvents(f.Ctx, storetest.Line1, []wire.Event{closed})
		require.NoError(t, err)
		require.Equal(t, 1, res.Applied)
		require.Equal(t, []string{"WO-1"}, res.OrdersChanged, "the line's orders are republished")
		lo, err = f.S.LineOrders(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Empty(t, lo.Orders)

		list, err := f.S.Orders(f.Ctx, orders.OrderFilter{Line: storetest.Line1, State: wire.OrderStateClosed})
		require.NoError(t, err)
		require.Len(t, list, 1)
		entries, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "work_order", EntityID: "WO-1"})
		require.NoError(t, err)
		actions := []string{}
		for _, a := range entries {
			actions = append(actions, a.Action)
		}
		require.Equal(t, []string{"create", "release", "close", "reconcile"}, actions, "one close: the line's report of it is its reconciliation")
	})
}
