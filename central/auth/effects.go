package auth

import (
	"fmt"

	"github.com/serialine/serialine/central/store/epcisdb"
)

// effectPermissions: an EPCIS event with an effect on our own units
// (store.EPCISEffects), wherever it comes in (EPCIS capture, a partner's
// DSCSA document), needs the permission of the API action with the same
// effect, not only the right to send events. A recall is POST /recalls; a
// theft, destruction or withdrawal is an EU FMD status update; a
// decommissioning is QA's; all are quality:write today.
var effectPermissions = map[string]Permission{
	epcisdb.EffectRecall:       PermQualityWrite,
	epcisdb.EffectDestruction:  PermQualityWrite,
	epcisdb.EffectTheft:        PermQualityWrite,
	epcisdb.EffectWithdrawal:   PermQualityWrite,
	epcisdb.EffectDecommission: PermQualityWrite,
}

// EffectPermission is the permission an event with effect needs (an
// unknown effect needs quality:write too).
func EffectPermission(effect string) Permission {
	if p, ok := effectPermissions[effect]; ok {
		return p
	}
	return PermQualityWrite
}

// RefusedEffects returns, for each effect role r may not have, a message
// naming the event, the effect and why, our identifiers, and the
// permission it needs.
func RefusedEffects(r Role, effects []epcisdb.EPCISEffect) []string {
	var out []string
	for _, f := range effects {
		if perm := EffectPermission(f.Effect); !Can(r, perm) {
			out = append(out, fmt.Sprintf("%s: %s (%s) of our units %v needs permission %s, which role %s does not hold",
				f.Event(), f.Effect, f.Why, f.EPCs, perm, r))
		}
	}
	return out
}
