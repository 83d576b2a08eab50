package epcisapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
)

// authorizeEffects finds the document's events that would change what
// verification, recalls or stock say about our units and answers 403,
// naming each event and the permission it needs, when the caller lacks
// one: the whole document is refused (nothing stored, whatever the error
// behaviour). ok is true when the capture may go on; effects are then the
// ones to audit.
func (h *Handler) authorizeEffects(w http.ResponseWriter, r *http.Request, p auth.Principal, events []epcis.Event) (effects []epcisdb.EPCISEffect, ok bool) {
	effects, err := h.Events.EPCISEffects(r.Context(), events)
	if err != nil {
		h.internal(w, "capture permissions", err)
		return nil, false
	}
	refused := auth.RefusedEffects(p.Role, effects)
	if len(refused) == 0 {
		return effects, true
	}
	h.log.Warn("EPCIS capture refused: effect on our units without the permission", "who", p.Actor(), "events", len(refused), "first", refused[0])
	title := refused[0]
	if len(refused) > 1 {
		title = fmt.Sprintf("%s (and %d more events)", title, len(refused)-1)
	}
	writeProblem(w, Problem{Type: "epcisException:SecurityException", Status: http.StatusForbidden, Title: title, Errors: refused})
	return nil, false
}

// onlyValid keeps the effects of the events that survived validation,
// renumbered by their position among them (valid[k] is events[pos[k]]).
func onlyValid(effects []epcisdb.EPCISEffect, pos []int) []epcisdb.EPCISEffect {
	at := make(map[int]int, len(pos))
	for k, i := range pos {
		at[i] = k
	}
	var out []epcisdb.EPCISEffect
	for _, f := range effects {
		if k, ok := at[f.Index]; ok {
			f.Index = k
			out = append(out, f)
		}
	}
	return out
}

// withActor attributes the capture job's writes (its audit entries) to
// the caller who sent the document.
func withActor(ctx context.Context, actor string) context.Context { return sqldb.WithActor(ctx, actor) }
