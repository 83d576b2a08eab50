package api

import (
	"net/http"
	"strconv"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/shared/httpjson"
)

// listOrderFlags lists the events of an order flagged for QA (after-close,
// future-time), oldest first, with their dispositions.
func (a *api) listOrderFlags(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	q := r.URL.Query()
	f := lineevents.FlagFilter{Order: id, Flag: q.Get("flag")}
	switch q.Get("open") {
	case "", "false":
	case "true":
		f.Open = true
	default:
		return badParam("open", "must be true or false, got %q", q.Get("open"))
	}
	var err error
	if f.Limit, err = limitParam(q, 1000, maxRows); err != nil {
		return err
	}
	if _, err := a.Store.Order(r.Context(), id); err != nil {
		return err
	}
	flags, err := a.Store.EventFlags(r.Context(), f)
	if err != nil {
		return err
	}
	count, err := a.Store.OrderFlagCount(r.Context(), id)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"order": id, "total": count.Total, "open": count.Open, "flags": orEmpty(flags)})
	return nil
}

// dispositionIn is QA's disposition of flagged events.
type dispositionIn struct {
	Disposition string `json:"disposition"`
	Note        string `json:"note"`
}

// disposeFlag records QA's disposition of one flagged event of an order.
func (a *api) disposeFlag(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	flag, err := strconv.ParseInt(r.PathValue("flag"), 10, 64)
	if err != nil || flag < 1 {
		return badParam("flag", "must be a flag id (a whole number from 1), got %q", r.PathValue("flag"))
	}
	var in dispositionIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	out, err := a.dispose(r, id, []int64{flag}, in)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, out[0])
	return nil
}

// dispositionsIn is QA's disposition of several flagged events at once.
type dispositionsIn struct {
	Flags []int64 `json:"flags"`
	dispositionIn
}

// disposeFlags records one disposition for several flagged events of an
// order, all or nothing.
func (a *api) disposeFlags(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in dispositionsIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	out, err := a.dispose(r, id, in.Flags, in.dispositionIn)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"order": id, "flags": out})
	return nil
}

func (a *api) dispose(r *http.Request, order string, ids []int64, in dispositionIn) ([]lineevents.EventFlag, error) {
	if _, err := a.Store.Order(r.Context(), order); err != nil {
		return nil, err
	}
	out, err := a.Store.DisposeFlags(r.Context(), order, ids, in.Disposition, in.Note)
	if err != nil {
		return nil, err
	}
	a.log.Info("event flags dispositioned", "order", order, "flags", len(out), "disposition", in.Disposition)
	return out, nil
}

// voidUnaccounted records, on QA's decision, every serial granted to a
// closed order whose fate central never learnt (a line's lost event store)
// as voided: the order then reconciles.
func (a *api) voidUnaccounted(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	v, err := a.Store.VoidUnaccounted(r.Context(), id, in.Reason)
	if err != nil {
		return err
	}
	a.log.Warn("unaccounted serials voided by QA", "order", id, "count", v.Count, "reason", in.Reason)
	httpjson.Write(w, http.StatusOK, v)
	return nil
}
