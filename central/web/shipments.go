package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
)

type shipmentData struct {
	Shipment supply.Shipment
	Customer master.Partner
	// Messages are the documents sent for the shipment (DSCSA), with
	// every attempt and the partner's answers.
	Messages []messages.OutboundMessage
}

func (h *handler) shipmentPage(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), r.PathValue("id")
	sh, err := h.deps.Store.Shipment(ctx, id)
	if errors.Is(err, sqldb.ErrNotFound) {
		h.fail(w, r, http.StatusNotFound, "No such shipment", "There is no shipment "+id+".")
		return
	}
	if err != nil {
		h.serverError(w, r, "read the shipment", err)
		return
	}
	d := shipmentData{Shipment: sh}
	if d.Customer, err = h.deps.Store.Partner(ctx, sh.DestGLN); err != nil {
		h.serverError(w, r, "read the customer", err)
		return
	}
	if d.Messages, err = h.deps.Store.OutboundMessages(ctx, messages.OutboundFilter{Ref: id}); err != nil {
		h.serverError(w, r, "list the documents sent", err)
		return
	}
	h.render(w, r, http.StatusOK, "shipment", "Shipment "+id, "sales", d)
}

// resendOutbound queues a delivered or failed document again (the
// outbound sender picks it up at its next poll) and shows its shipment.
func (h *handler) resendOutbound(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "No such document", "There is no outbound document "+r.PathValue("id")+".")
		return
	}
	m, err := h.deps.Store.ResendOutbound(r.Context(), id)
	switch {
	case errors.Is(err, sqldb.ErrNotFound):
		h.fail(w, r, http.StatusNotFound, "No such document", "There is no outbound document "+r.PathValue("id")+".")
		return
	case errors.Is(err, sqldb.ErrState):
		h.fail(w, r, http.StatusConflict, "Not now", err.Error())
		return
	case err != nil:
		h.serverError(w, r, "resend the document", err)
		return
	}
	h.log.Info("outbound document resent", "message", id, "ref", m.Ref, "user", userName(r))
	http.Redirect(w, r, "/shipments/"+url.PathEscape(m.Ref)+"?ok=resent", http.StatusSeeOther)
}
