package api

import (
	"fmt"
	"net/http"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/shared/epcis"
)

// authorizeEffects refuses (403, naming the event and the permission) a
// document whose events would change what verification, recalls or stock
// say about our own units when the caller lacks the permission of the API
// action with that effect: a partner's DSCSA document cannot recall,
// destroy or decommission our packs (see auth.EffectPermission).
func (a *api) authorizeEffects(r *http.Request, p auth.Principal, events []epcis.Event) error {
	effects, err := a.Store.EPCISEffects(r.Context(), events)
	if err != nil {
		return err
	}
	refused := auth.RefusedEffects(p.Role, effects)
	if len(refused) == 0 {
		return nil
	}
	a.log.Warn("document refused: effect on our units without the permission", "who", p.Actor(), "events", len(refused), "first", refused[0])
	msg := refused[0]
	if len(refused) > 1 {
		msg = fmt.Sprintf("%s (and %d more events)", msg, len(refused)-1)
	}
	return errorf(http.StatusForbidden, auth.CodeForbidden, "document", "%s", msg)
}
