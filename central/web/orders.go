package web

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

type ordersData struct {
	Filter *form
	Orders []orders.WorkOrder
	Lines  []option
	States []option
}

func stateOptions(all string) []option {
	return []option{{"", all}, {string(wire.OrderStateCreated), "created"}, {string(wire.OrderStateReleased), "released"}, {string(wire.OrderStateClosed), "closed"}}
}

func (h *handler) lineOptions(ctx context.Context, first string) ([]option, error) {
	lines, err := h.deps.Store.Lines(ctx)
	if err != nil {
		return nil, err
	}
	opts := []option{{"", first}}
	for _, l := range lines {
		opts = append(opts, option{l.ID, l.ID + " — " + l.Name})
	}
	return opts, nil
}

func (h *handler) ordersPage(w http.ResponseWriter, r *http.Request) {
	f := newForm(r.URL.Query())
	filter := orders.OrderFilter{Line: f.Get("line"), GTIN: f.Get("gtin"), Lot: f.Get("lot"), State: wire.OrderState(f.Get("state"))}
	if filter.State != "" && !filter.State.Valid() {
		f.SetError("state", "Use created, released or closed.")
	}
	lines, err := h.lineOptions(r.Context(), "all lines")
	if err != nil {
		h.serverError(w, r, "list the lines", err)
		return
	}
	d := ordersData{Filter: f, Lines: lines, States: stateOptions("all states")}
	status := http.StatusOK
	if f.Valid() {
		if d.Orders, err = h.deps.Store.Orders(r.Context(), filter); err != nil {
			h.serverError(w, r, "list the work orders", err)
			return
		}
	} else {
		status = http.StatusUnprocessableEntity
	}
	h.render(w, r, status, "orders", "Work orders", "orders", d)
}

type newOrderData struct {
	Form     *form
	Products []option
	// Today is the earliest expiry the date picker offers (YYYY-MM-DD).
	Today string
	// LotPattern is AI 10's rule for the browser: 1 to 20 CSET 82
	// characters.
	LotPattern string
}

// lotPattern is GS1's character set 82 as an HTML pattern (a JavaScript
// regular expression in v mode: ( ) / - escaped in the class).
const lotPattern = `[!"%&'\(\)*+,\-.\/0-9:;<=>?A-Z_a-z]{1,20}`

// orderLabels names the new-order form's fields, in their order.
var orderLabels = []fieldLabel{
	{"id", "Order id"}, {"gtin", "Product"}, {"lot", "Lot (AI 10)"}, {"expiry", "Expiry (AI 17)"},
	{"quantity", "Quantity"}, {"reject_allowance", "Reject allowance"},
}

func (h *handler) productOptions(ctx context.Context) ([]option, error) {
	ps, err := h.deps.Store.Products(ctx)
	if err != nil {
		return nil, err
	}
	opts := []option{{"", "choose a product"}}
	for _, p := range ps {
		opts = append(opts, option{p.GTIN, p.GTIN + " — " + p.Name})
	}
	return opts, nil
}

func (h *handler) newOrderPage(w http.ResponseWriter, r *http.Request) {
	f := newForm(nil).withLabels(orderLabels)
	f.Values.Set("gtin", r.URL.Query().Get("gtin"))
	h.showNewOrder(w, r, http.StatusOK, f)
}

func (h *handler) showNewOrder(w http.ResponseWriter, r *http.Request, status int, f *form) {
	ps, err := h.productOptions(r.Context())
	if err != nil {
		h.serverError(w, r, "list the products", err)
		return
	}
	h.render(w, r, status, "order-new", "New work order", "orders", newOrderData{Form: f, Products: ps,
		Today: h.deps.Now().UTC().Format(time.DateOnly), LotPattern: lotPattern})
}

// createOrder checks every field before the store does, so that the form
// reports all its errors at once.
func (h *handler) createOrder(w http.ResponseWriter, r *http.Request) {
	f := newForm(r.PostForm).withLabels(orderLabels)
	o := orders.WorkOrder{ID: required(f, "id"), GTIN: required(f, "gtin"), Lot: required(f, "lot")}
	if o.Lot != "" {
		var ve *sqldb.ValidationError
		if err := orders.CheckLot("work order", o.Lot); errors.As(err, &ve) {
			f.SetError("lot", ve.Rule)
		}
	}
	o.Expiry = expiryField(f, "expiry")
	o.Quantity = uintField(f, "quantity", true, 1)
	if f.Get("reject_allowance") != "" {
		o.RejectAllowance, o.AllowanceSet = uintField(f, "reject_allowance", false, 1), true
	}
	if o.GTIN != "" {
		if _, err := gs1.ParseGTIN(o.GTIN); err != nil {
			f.SetError("gtin", plain(err))
		} else if p, err := h.deps.Store.Product(r.Context(), o.GTIN); errors.Is(err, sqldb.ErrNotFound) {
			f.SetError("gtin", "No product with GTIN "+o.GTIN+" (not found); create it first.")
		} else if err != nil {
			h.serverError(w, r, "look up the product", err)
			return
		} else if o.Expiry != "" {
			var ve *sqldb.ValidationError
			if err := orders.CheckShelfLife("work order", o.Expiry, p, h.deps.Now()); errors.As(err, &ve) {
				f.SetError("expiry", ve.Rule)
			}
		}
	}
	if f.Valid() {
		_, err := h.deps.Store.CreateOrder(r.Context(), o)
		if err == nil {
			h.log.Info("work order created", "order", o.ID, "gtin", o.GTIN, "user", userName(r))
			http.Redirect(w, r, "/orders/"+url.PathEscape(o.ID)+"?ok=order-created", http.StatusSeeOther)
			return
		}
		if !storeError(f, err, "gtin", "id") {
			h.serverError(w, r, "create the work order", err)
			return
		}
	}
	h.showNewOrder(w, r, http.StatusUnprocessableEntity, f)
}

type reasonCount struct {
	Reason wire.Reason
	Count  uint64
}

type orderData struct {
	Order    orders.WorkOrder
	Product  string
	Rec      wire.Reconciliation
	Reasons  []reasonCount
	Reported *reportedData
	Grants   []orders.GrantRecord
	Lines    []option
	Release  *form
	Close    *form
	Dispose  *form
	// Need is what the order can still need (grants are bounded by it).
	Need orders.OrderNeed
	// FlagCount and Flags are the order's events flagged for QA.
	FlagCount lineevents.FlagCount
	Flags     []lineevents.EventFlag
	// Problem is a refused action whose form is no longer shown (e.g. a
	// release of an order released meanwhile).
	Problem string
}

// IDPrefix keeps the ids of the two reconciliation tables apart.
func (orderData) IDPrefix() string { return "" }

// IDPrefix keeps the ids of the two reconciliation tables apart.
func (reportedData) IDPrefix() string { return "reported-" }

// Running: the order is not closed, so serials still in the line's pool
// or not yet reported are expected, not a finding.
func (d orderData) Running() bool { return d.Order.State != wire.OrderStateClosed }

// Running: the line reports its counts when it closes the order.
func (reportedData) Running() bool { return false }

// reportedData is the line's own reconciliation beside central's.
type reportedData struct {
	Rec     wire.Reconciliation
	Reasons []reasonCount
	Differs bool
}

// reasons lists decommissioning counts in the contract's order, reasons
// this build does not know last.
func reasons(m map[wire.Reason]uint64) []reasonCount {
	var out, extra []reasonCount
	for _, reason := range wire.Reasons() {
		if n := m[reason]; n > 0 {
			out = append(out, reasonCount{reason, n})
		}
	}
	for reason, n := range m {
		if !reason.Valid() && n > 0 {
			extra = append(extra, reasonCount{reason, n})
		}
	}
	slices.SortFunc(extra, func(a, b reasonCount) int { return cmp.Compare(a.Reason, b.Reason) })
	return append(out, extra...)
}

func (h *handler) loadOrder(ctx context.Context, id string) (orderData, error) {
	var d orderData
	var err error
	if d.Order, err = h.deps.Store.Order(ctx, id); err != nil {
		return d, err
	}
	if p, err := h.deps.Store.Product(ctx, d.Order.GTIN); err == nil {
		d.Product = p.Name
	}
	if d.Rec, err = h.deps.Store.Reconciliation(ctx, id); err != nil {
		return d, err
	}
	d.Reasons = reasons(d.Rec.Decommissioned)
	if rc := d.Order.ReportedCounts; rc != nil {
		d.Reported = &reportedData{Rec: *rc, Reasons: reasons(rc.Decommissioned)}
		d.Reported.Differs = rc.Granted != d.Rec.Granted || rc.Accounted() != d.Rec.Accounted() ||
			rc.Commissioned != d.Rec.Commissioned || rc.Voided != d.Rec.Voided || rc.ReturnedUnused != d.Rec.ReturnedUnused ||
			rc.DecommissionedTotal() != d.Rec.DecommissionedTotal()
	}
	if d.Grants, err = h.deps.Store.Grants(ctx, id); err != nil {
		return d, err
	}
	if d.Lines, err = h.lineOptions(ctx, "choose a line"); err != nil {
		return d, err
	}
	d.Release, d.Close, d.Dispose = newForm(nil), newForm(nil), newForm(nil).withLabels(dispositionLabels)
	if len(d.Lines) == 2 {
		// One line only: the release form offers it already chosen.
		d.Release.Values.Set("line", d.Lines[1].Value)
	}
	if d.Need, err = h.deps.Store.OrderNeed(ctx, id); err != nil {
		return d, err
	}
	if d.FlagCount, err = h.deps.Store.OrderFlagCount(ctx, id); err != nil {
		return d, err
	}
	if d.FlagCount.Total > 0 {
		if d.Flags, err = h.deps.Store.EventFlags(ctx, lineevents.FlagFilter{Order: id, Limit: maxFlagsShown}); err != nil {
			return d, err
		}
	}
	return d, nil
}

// maxFlagsShown caps the flags listed on an order's page.
const maxFlagsShown = 1000

func (h *handler) orderPage(w http.ResponseWriter, r *http.Request) {
	d, err := h.loadOrder(r.Context(), r.PathValue("id"))
	h.showOrder(w, r, http.StatusOK, d, err)
}

func (h *handler) showOrder(w http.ResponseWriter, r *http.Request, status int, d orderData, err error) {
	if errors.Is(err, sqldb.ErrNotFound) {
		h.fail(w, r, http.StatusNotFound, "No such work order", "There is no work order "+r.PathValue("id")+".")
		return
	}
	if err != nil {
		h.serverError(w, r, "load the work order", err)
		return
	}
	h.render(w, r, status, "order", "Work order "+d.Order.ID, "orders", d)
}

func (h *handler) releaseOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f := newForm(r.PostForm)
	line := required(f, "line")
	if f.Valid() {
		o, err := h.deps.Store.ReleaseOrder(r.Context(), id, line)
		if err == nil {
			h.log.Info("work order released", "order", id, "line", line, "user", userName(r))
			h.published(w, r, o, "order-released")
			return
		}
		if errors.Is(err, sqldb.ErrNotFound) {
			// Which one is missing: the order (404) or the line (the field)?
			if _, oerr := h.deps.Store.Order(r.Context(), id); errors.Is(oerr, sqldb.ErrNotFound) {
				h.showOrder(w, r, 0, orderData{}, oerr)
				return
			}
		}
		if !storeError(f, err, "line", "") {
			h.serverError(w, r, "release the work order", err)
			return
		}
	}
	d, err := h.loadOrder(r.Context(), id)
	d.Release, d.Problem, f.Problem = f, f.Problem, ""
	h.showOrder(w, r, http.StatusUnprocessableEntity, d, err)
}

func (h *handler) closeOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f := newForm(r.PostForm)
	if f.Get("confirm") != "yes" {
		f.SetError("confirm", "Tick the box to confirm: a closed order gets no more serials.")
	}
	if f.Valid() {
		o, err := h.deps.Store.CloseOrder(r.Context(), id)
		if err == nil {
			h.log.Info("work order closed", "order", id, "user", userName(r))
			h.published(w, r, o, "order-closed")
			return
		}
		if errors.Is(err, sqldb.ErrNotFound) {
			h.showOrder(w, r, 0, orderData{}, err)
			return
		}
		if !storeError(f, err, "", "") {
			h.serverError(w, r, "close the work order", err)
			return
		}
	}
	d, err := h.loadOrder(r.Context(), id)
	d.Close, d.Problem, f.Problem = f, f.Problem, ""
	h.showOrder(w, r, http.StatusUnprocessableEntity, d, err)
}

// published tells the line about its changed orders and redirects to the
// order. The change is committed either way; a failed publish is shown.
func (h *handler) published(w http.ResponseWriter, r *http.Request, o orders.WorkOrder, ok string) {
	target := "/orders/" + url.PathEscape(o.ID) + "?ok=" + ok
	switch {
	case h.deps.Orders == nil:
		target += "&warn=not-published"
	default:
		if err := h.deps.Orders.PublishOrders(r.Context(), o.Line); err != nil {
			h.log.Error("publish line orders", "line", o.Line, "order", o.ID, "err", err)
			target += "&warn=not-published"
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
