package web

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
)

// The supply-chain pages are for reading: sales orders with their
// shipments and invoice, recalls with their report. Changes go through
// the API (central/api), which the ERP and the scanners at the dock call.

type salesData struct {
	Orders []supply.SalesOrder
}

func (h *handler) salesPage(w http.ResponseWriter, r *http.Request) {
	orders, err := h.deps.Store.SalesOrders(r.Context(), "")
	if err != nil {
		h.serverError(w, r, "list the sales orders", err)
		return
	}
	h.render(w, r, http.StatusOK, "sales", "Sales orders", "sales", salesData{Orders: orders})
}

type salesOrderData struct {
	Order     supply.SalesOrder
	Customer  master.Partner
	Invoice   supply.Invoice
	Shipments []supply.Shipment
}

func (h *handler) salesOrderPage(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), r.PathValue("id")
	o, err := h.deps.Store.SalesOrder(ctx, id)
	if errors.Is(err, sqldb.ErrNotFound) {
		h.fail(w, r, http.StatusNotFound, "No such sales order", "There is no sales order "+id+".")
		return
	}
	if err != nil {
		h.serverError(w, r, "read the sales order", err)
		return
	}
	d := salesOrderData{Order: o}
	if d.Customer, err = h.deps.Store.Partner(ctx, o.CustomerGLN); err != nil {
		h.serverError(w, r, "read the customer", err)
		return
	}
	if d.Invoice, err = h.deps.Store.Invoice(ctx, id); err != nil {
		h.serverError(w, r, "compute the invoice", err)
		return
	}
	if d.Shipments, err = h.deps.Store.Shipments(ctx, id); err != nil {
		h.serverError(w, r, "list the shipments", err)
		return
	}
	h.render(w, r, http.StatusOK, "sales-order", "Sales order "+id, "sales", d)
}

type recallsData struct {
	Recalls []supply.Recall
}

func (h *handler) recallsPage(w http.ResponseWriter, r *http.Request) {
	rs, err := h.deps.Store.Recalls(r.Context())
	if err != nil {
		h.serverError(w, r, "list the recalls", err)
		return
	}
	h.render(w, r, http.StatusOK, "recalls", "Recalls", "recalls", recallsData{Recalls: rs})
}

type recallData struct {
	Recall supply.Recall
	Report string
}

func (h *handler) recallPage(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), r.PathValue("id")
	rc, err := h.deps.Store.Recall(ctx, id)
	if errors.Is(err, sqldb.ErrNotFound) {
		h.fail(w, r, http.StatusNotFound, "No such recall", "There is no recall "+id+".")
		return
	}
	if err != nil {
		h.serverError(w, r, "read the recall", err)
		return
	}
	var b bytes.Buffer
	if err := h.deps.Store.WriteRecallReport(ctx, id, &b); err != nil {
		h.serverError(w, r, "write the recall report", err)
		return
	}
	h.render(w, r, http.StatusOK, "recall", "Recall "+id, "recalls", recallData{Recall: rc, Report: b.String()})
}

// recallCSV downloads every unit of the recall.
func (h *handler) recallCSV(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := h.deps.Store.Recall(r.Context(), id); errors.Is(err, sqldb.ErrNotFound) {
		h.fail(w, r, http.StatusNotFound, "No such recall", "There is no recall "+id+".")
		return
	} else if err != nil {
		h.serverError(w, r, "read the recall", err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/csv; charset=utf-8")
	hd.Set("Content-Disposition", `attachment; filename="recall-`+id+`.csv"`)
	if err := h.deps.Store.WriteRecallCSV(r.Context(), id, w); err != nil {
		h.log.Error("recall CSV export broke off", "recall", id, "err", err)
	}
}
