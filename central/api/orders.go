package api

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/wire"
)

type orderIn struct {
	ID       string `json:"id"`
	GTIN     string `json:"gtin"`
	Lot      string `json:"lot"`
	Expiry   string `json:"expiry"`
	Quantity uint64 `json:"quantity"`
	// RejectAllowance, when given, is the order's own reject allowance in
	// units instead of the product's rule.
	RejectAllowance *uint64 `json:"reject_allowance"`
}

func (a *api) createOrder(w http.ResponseWriter, r *http.Request) error {
	var in orderIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if g, err := gs1.ParseGTIN(in.GTIN); err == nil && string(g) == in.GTIN {
		// A missing product is the body's fault (422 naming gtin), not a
		// missing route resource (404). A malformed GTIN is the store's
		// to explain.
		if _, err := a.Store.Product(r.Context(), in.GTIN); errors.Is(err, sqldb.ErrNotFound) {
			return invalid("gtin", "no product with GTIN %s; create it first", in.GTIN)
		} else if err != nil {
			return err
		}
	}
	wo := orders.WorkOrder{ID: in.ID, GTIN: in.GTIN, Lot: in.Lot, Expiry: in.Expiry, Quantity: in.Quantity}
	if in.RejectAllowance != nil {
		wo.RejectAllowance, wo.AllowanceSet = *in.RejectAllowance, true
	}
	o, err := a.Store.CreateOrder(r.Context(), wo)
	if err != nil {
		return err
	}
	a.log.Info("work order created", "order", o.ID, "gtin", o.GTIN, "lot", o.Lot, "quantity", o.Quantity, "reject_allowance", o.RejectAllowance)
	httpjson.Write(w, http.StatusCreated, o)
	return nil
}

func (a *api) listOrders(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := orders.OrderFilter{Line: q.Get("line"), GTIN: q.Get("gtin"), Lot: q.Get("lot"), State: wire.OrderState(q.Get("state"))}
	if f.State != "" && !f.State.Valid() {
		return badParam("state", "%q is not an order state; use created, released or closed", f.State)
	}
	if f.Line != "" {
		if err := wire.ValidateLine(f.Line); err != nil {
			return badParam("line", "%v", err)
		}
	}
	orders, err := a.Store.Orders(r.Context(), f)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"orders": orEmpty(orders)})
	return nil
}

// reconOut is central's reconciliation of an order: granted =
// commissioned + decommissioned (by reason) + voided + returned unused.
type reconOut struct {
	wire.Reconciliation
	// Decommissioned shadows the embedded field to show {} rather than
	// nothing when no unit was decommissioned.
	Decommissioned      map[wire.Reason]uint64 `json:"decommissioned"`
	DecommissionedTotal uint64                 `json:"decommissioned_total"`
	Accounted           uint64                 `json:"accounted"`
	// Difference is granted − accounted: serials whose fate central does
	// not know (still in the line's pool, events not yet received, or
	// lost); negative when more were used than granted.
	Difference int64 `json:"difference"`
	Balanced   bool  `json:"balanced"`
	// Status reads the difference: "in progress" while the order is not
	// closed (serials in the line's pool are expected), then "balanced" or
	// "difference".
	Status string `json:"status"`
}

// The reconciliation statuses.
const (
	reconInProgress = "in progress"
	reconBalanced   = "balanced"
	reconDifference = "difference"
)

// reconStatus is how to read an order's reconciliation: a difference is a
// finding only once the order is closed.
func reconStatus(o orders.WorkOrder, rec wire.Reconciliation) string {
	switch {
	case o.State != wire.OrderStateClosed:
		return reconInProgress
	case rec.Balanced():
		return reconBalanced
	}
	return reconDifference
}

func newReconOut(o orders.WorkOrder, rec wire.Reconciliation) reconOut {
	if rec.Decommissioned == nil {
		rec.Decommissioned = map[wire.Reason]uint64{}
	}
	return reconOut{Reconciliation: rec, Decommissioned: rec.Decommissioned, DecommissionedTotal: rec.DecommissionedTotal(), Accounted: rec.Accounted(),
		Difference: rec.Difference(), Balanced: rec.Balanced(), Status: reconStatus(o, rec)}
}

type grantOut struct {
	RequestID string              `json:"request_id"`
	Line      string              `json:"line"`
	Count     uint64              `json:"count"`
	Ranges    []wire.CounterRange `json:"ranges"`
	CreatedAt time.Time           `json:"created_at"`
}

type orderDetail struct {
	orders.WorkOrder
	Reconciliation reconOut   `json:"reconciliation"`
	Grants         []grantOut `json:"grants"`
	// Flags are the discrepancies a person should look at: an unbalanced
	// reconciliation, a line's own counts that differ from central's.
	Flags []string `json:"flags"`
	// Need is how many serials the order can still need, with its counts
	// (grants are bounded by it).
	Need orders.OrderNeed `json:"need"`
	// EventFlags counts the order's events flagged for QA (GET
	// /orders/{id}/flags lists them).
	EventFlags lineevents.FlagCount `json:"event_flags"`
}

func (a *api) getOrder(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	o, err := a.Store.Order(r.Context(), id)
	if err != nil {
		return err
	}
	rec, err := a.Store.Reconciliation(r.Context(), id)
	if err != nil {
		return err
	}
	grants, err := a.Store.Grants(r.Context(), id)
	if err != nil {
		return err
	}
	need, err := a.Store.OrderNeed(r.Context(), id)
	if err != nil {
		return err
	}
	flags, err := a.Store.OrderFlagCount(r.Context(), id)
	if err != nil {
		return err
	}
	d := orderDetail{WorkOrder: o, Reconciliation: newReconOut(o, rec), Grants: []grantOut{}, Flags: reconFlags(o, rec), Need: need, EventFlags: flags}
	for _, g := range grants {
		d.Grants = append(d.Grants, grantOut{RequestID: g.RequestID, Line: g.Line, Count: g.Count, Ranges: g.Ranges, CreatedAt: g.CreatedAt})
	}
	httpjson.Write(w, http.StatusOK, d)
	return nil
}

// reconFlags explains what does not add up in an order's reconciliation.
func reconFlags(o orders.WorkOrder, rec wire.Reconciliation) []string {
	flags := []string{}
	switch diff := rec.Difference(); {
	case diff > 0 && o.State == wire.OrderStateClosed:
		flags = append(flags, fmt.Sprintf("%d granted serials are not accounted for although the order is closed: events not received yet, or lost", diff))
	case diff > 0:
		flags = append(flags, fmt.Sprintf("%d granted serials are not accounted for yet (in the line's pool or not reported)", diff))
	case diff < 0:
		flags = append(flags, fmt.Sprintf("%d more serials were used than granted", -diff))
	}
	if rc := o.ReportedCounts; rc != nil {
		check := func(what string, line, central uint64) {
			if line != central {
				flags = append(flags, fmt.Sprintf("the line reported %d %s, central has %d", line, what, central))
			}
		}
		check("granted", rc.Granted, rec.Granted)
		check("commissioned", rc.Commissioned, rec.Commissioned)
		reasons := slices.Sorted(maps.Keys(rc.Decommissioned))
		for _, reason := range slices.Sorted(maps.Keys(rec.Decommissioned)) {
			if _, ok := rc.Decommissioned[reason]; !ok {
				reasons = append(reasons, reason)
			}
		}
		for _, reason := range reasons {
			check("decommissioned "+string(reason), rc.Decommissioned[reason], rec.Decommissioned[reason])
		}
		check("voided", rc.Voided, rec.Voided)
		check("returned unused", rc.ReturnedUnused, rec.ReturnedUnused)
	}
	return flags
}

// orderChange is the answer to a release or close: the order, and whether
// the line's retained orders were republished.
type orderChange struct {
	orders.WorkOrder
	Published    bool   `json:"published"`
	PublishError string `json:"publish_error,omitempty"`
}

// publish republishes line's retained orders after a committed change. A
// failure does not undo the change (it is durable and audited); the
// response says so and the orders go out with the next publication.
func (a *api) publish(ctx context.Context, o orders.WorkOrder) orderChange {
	out := orderChange{WorkOrder: o}
	if a.Orders == nil || o.Line == "" {
		return out
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.PublishTimeout)
	defer cancel()
	if err := a.Orders.PublishOrders(ctx, o.Line); err != nil {
		a.log.Warn("orders not published", "line", o.Line, "order", o.ID, "err", err)
		out.PublishError = err.Error()
		return out
	}
	out.Published = true
	return out
}

type releaseIn struct {
	Line string `json:"line"`
}

func (a *api) releaseOrder(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in releaseIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Line == "" {
		return invalid("line", "missing; name the line to release the order to")
	}
	if err := wire.ValidateLine(in.Line); err != nil {
		return invalid("line", "%v", err)
	}
	if _, err := a.Store.Order(r.Context(), id); err != nil {
		return err
	}
	if _, err := a.Store.Line(r.Context(), in.Line); errors.Is(err, sqldb.ErrNotFound) {
		return invalid("line", "no line %q", in.Line)
	} else if err != nil {
		return err
	}
	o, err := a.Store.ReleaseOrder(r.Context(), id, in.Line)
	if err != nil {
		return err
	}
	a.log.Info("work order released", "order", id, "line", in.Line)
	httpjson.Write(w, http.StatusOK, a.publish(r.Context(), o))
	return nil
}

func (a *api) closeOrder(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in struct{}
	if err := decodeOptionalJSON(r, &in); err != nil {
		return err
	}
	o, err := a.Store.CloseOrder(r.Context(), id)
	if err != nil {
		return err
	}
	a.log.Info("work order closed", "order", id, "line", o.Line)
	httpjson.Write(w, http.StatusOK, a.publish(r.Context(), o))
	return nil
}
