package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/sqldb"
)

// dispositionLabels names the disposition form's fields.
var dispositionLabels = []fieldLabel{{"flag", "Flagged events"}, {"disposition", "Disposition"}, {"note", "Note"}}

// dispositionOptions are QA's choices for a flagged event.
func dispositionOptions() []option {
	return []option{
		{"", "choose"},
		{lineevents.DispositionAccepted, "accepted: what the events record stands"},
		{lineevents.DispositionRejected, "rejected: the packs are pulled and destroyed"},
	}
}

// disposeFlags records QA's disposition of the ticked flags of an order,
// or of every open one when none is ticked.
func (h *handler) disposeFlags(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f := newForm(r.PostForm).withLabels(dispositionLabels)
	disposition, note := required(f, "disposition"), required(f, "note")
	var ids []int64
	for _, v := range f.Values["flag"] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			f.SetError("flag", "Not a flag: "+strconv.Quote(v)+".")
			continue
		}
		ids = append(ids, n)
	}
	if f.Valid() && len(ids) == 0 {
		open, err := h.deps.Store.EventFlags(r.Context(), lineevents.FlagFilter{Order: id, Open: true, Limit: maxFlagsShown})
		if err != nil {
			h.serverError(w, r, "list the flagged events", err)
			return
		}
		for _, fl := range open {
			ids = append(ids, fl.ID)
		}
		if len(ids) == 0 {
			f.Problem = "Every flagged event of this order has a disposition already."
		}
	}
	if f.Valid() {
		out, err := h.deps.Store.DisposeFlags(r.Context(), id, ids, disposition, note)
		if err == nil {
			h.log.Info("event flags dispositioned", "order", id, "flags", len(out), "disposition", disposition, "user", userName(r))
			http.Redirect(w, r, "/orders/"+url.PathEscape(id)+"?ok=flags-dispositioned#flags-h", http.StatusSeeOther)
			return
		}
		if errors.Is(err, sqldb.ErrNotFound) {
			if _, oerr := h.deps.Store.Order(r.Context(), id); errors.Is(oerr, sqldb.ErrNotFound) {
				h.showOrder(w, r, 0, orderData{}, oerr)
				return
			}
		}
		if !storeError(f, err, "flag", "") {
			h.serverError(w, r, "record the disposition", err)
			return
		}
	}
	d, err := h.loadOrder(r.Context(), id)
	d.Dispose = f
	h.showOrder(w, r, http.StatusUnprocessableEntity, d, err)
}
