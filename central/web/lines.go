package web

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/shared/wire"
)

type lineView struct {
	ID, Name string
	// Registered is false for a line that reports status but is not in
	// the store.
	Registered bool
	Seen       bool
	State      string
	Offline    bool
	Alarm      bool
	// Stale: the last status is older than Deps.StaleAfter.
	Stale    bool
	LastSeen time.Time
	Ago      string
	Order    string
	// OrderState is where the line stands with Order (running, complete,
	// stopped …); Alarms are its alarms by code.
	OrderState string
	Alarms     []wire.StatusAlarm
	Counts     *wire.Reconciliation
	Pool       wire.Pool
	Devices    []deviceView
	Outbox     uint64
	// Gap is set when the line's events wait behind missing seqs.
	Gap *ingest.LineGap
}

type deviceView struct {
	Name, State, Detail string
	OK                  bool
}

type linesData struct {
	Lines   []lineView
	Updated time.Time
}

func (h *handler) lines(r *http.Request) (linesData, error) {
	stored, err := h.deps.Store.Lines(r.Context())
	if err != nil {
		return linesData{}, err
	}
	var statuses map[string]ingest.LineStatus
	if h.deps.Lines != nil {
		statuses = h.deps.Lines.Statuses()
	}
	gaps := map[string]ingest.LineGap{}
	if h.deps.Gaps != nil {
		for _, g := range h.deps.Gaps.Gaps() {
			gaps[g.Line] = g
		}
	}
	now := h.deps.Now()
	byID := map[string]*lineView{}
	var out []lineView
	for _, l := range stored {
		out = append(out, lineView{ID: l.ID, Name: l.Name, Registered: true, State: "unknown"})
	}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	for id := range statuses {
		if byID[id] == nil {
			out = append(out, lineView{ID: id, Name: id, State: "unknown"})
		}
	}
	for i := range out {
		v := &out[i]
		if g, ok := gaps[v.ID]; ok && len(g.Gaps) > 0 {
			v.Gap = &g
		}
		st, ok := statuses[v.ID]
		if !ok {
			v.Offline = true
			continue
		}
		s := st.Status
		v.Seen, v.LastSeen, v.State = true, st.LastSeen, string(s.State)
		v.Offline = s.State == wire.LineOffline
		v.Alarm = s.State == wire.LineAlarm
		v.Stale = !v.Offline && now.Sub(st.LastSeen) > h.deps.StaleAfter
		v.Ago = ago(now.Sub(st.LastSeen))
		v.Order, v.Counts, v.Pool, v.Outbox = s.Order, s.Counts, s.Pool, s.Outbox
		v.OrderState, v.Alarms = string(s.OrderState), s.Alarms
		for name, d := range s.Devices {
			v.Devices = append(v.Devices, deviceView{Name: name, State: string(d.State), Detail: d.Detail, OK: d.State == wire.DeviceOK})
		}
		slices.SortFunc(v.Devices, func(a, b deviceView) int { return cmp.Compare(a.Name, b.Name) })
	}
	slices.SortFunc(out, func(a, b lineView) int { return cmp.Compare(a.ID, b.ID) })
	return linesData{Lines: out, Updated: now}, nil
}

func (h *handler) linesPage(w http.ResponseWriter, r *http.Request) {
	d, err := h.lines(r)
	if err != nil {
		h.serverError(w, r, "list the lines", err)
		return
	}
	h.render(w, r, http.StatusOK, "lines", "Lines", "lines", d)
}

// linesLive is the fragment the refresh script swaps in.
func (h *handler) linesLive(w http.ResponseWriter, r *http.Request) {
	d, err := h.lines(r)
	if err != nil {
		h.log.Error("list the lines", "err", err)
		http.Error(w, "could not list the lines", http.StatusInternalServerError)
		return
	}
	h.renderTemplate(w, r, http.StatusOK, "lines", "lines-live", "", "", d)
}

// ago says how long ago, coarsely.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}
