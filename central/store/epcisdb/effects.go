package epcisdb

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
)

// Effects a captured EPCIS event can have on our own units: what
// verification, recalls or stock would then say about them. Each is the
// effect of an API action that needs its own permission (a recall, an EU
// FMD status update of that kind, QA's decommissioning), so a capture
// with that effect needs the same (see epcisapi).
const (
	EffectRecall       = "recall"
	EffectDestruction  = "destruction"
	EffectTheft        = "theft"
	EffectWithdrawal   = "withdrawal"
	EffectDecommission = "decommission"
)

// dispositionEffects are the CBV 2.0 dispositions that take a unit out of
// the sellable supply chain; every other one (active, in_transit,
// in_progress, container_closed, returned, sellable_*, ...) is neutral.
var dispositionEffects = map[string]string{
	"recalled":            EffectRecall,
	"destroyed":           EffectDestruction,
	"disposed":            EffectDestruction,
	"stolen":              EffectTheft,
	"expired":             EffectWithdrawal,
	"damaged":             EffectWithdrawal,
	"non_sellable_other":  EffectWithdrawal,
	"needs_replacement":   EffectWithdrawal,
	"no_pedigree_match":   EffectWithdrawal,
	"inactive":            EffectDecommission,
	"dispensed":           EffectDecommission,
	"partially_dispensed": EffectDecommission,
	"retail_sold":         EffectDecommission,
}

// bizStepEffects are the CBV 2.0 business steps that end a unit's life.
var bizStepEffects = map[string]string{
	"decommissioning": EffectDecommission,
	"destroying":      EffectDestruction,
	"killing":         EffectDecommission,
	"dispensing":      EffectDecommission,
	"retail_selling":  EffectDecommission,
}

// EPCISEffect is what one captured event would change about our own
// units: which event (Index in the document, EventID as sent, "" when
// none), the effect, why (the field and value that has it) and the
// identifiers of ours it names.
type EPCISEffect struct {
	Index   int      `json:"index"`
	EventID string   `json:"event_id,omitempty"`
	Effect  string   `json:"effect"`
	Why     string   `json:"why"`
	EPCs    []string `json:"epcs"`
}

// Event names the event for an error message: its index and eventID.
func (f EPCISEffect) Event() string {
	if f.EventID == "" {
		return fmt.Sprintf("eventList[%d]", f.Index)
	}
	return fmt.Sprintf("eventList[%d] (eventID %s)", f.Index, f.EventID)
}

// eventEffect is the effect e has on whatever it names, if any: its
// disposition (or a persistent disposition it sets) first, then its
// business step, then an ObjectEvent's DELETE (a unit ceasing to exist; an
// AggregationEvent's DELETE is an unpacking and neutral).
func eventEffect(e epcis.Event) (effect, why string) {
	if d := normDisposition(e.Disposition); dispositionEffects[d] != "" {
		return dispositionEffects[d], "disposition " + d
	}
	if e.PersistentDisposition != nil {
		for _, d := range e.PersistentDisposition.Set {
			if d = normDisposition(d); dispositionEffects[d] != "" {
				return dispositionEffects[d], "persistentDisposition set " + d
			}
		}
	}
	if b := normBizStep(e.BizStep); bizStepEffects[b] != "" {
		return bizStepEffects[b], "bizStep " + b
	}
	if e.Type == epcis.ObjectEvent && e.Action == epcis.ActionDelete {
		return EffectDecommission, "action DELETE"
	}
	return "", ""
}

// eventIdentifiers lists every identifier e names, in any role.
func eventIdentifiers(e epcis.Event) []string {
	out := slices.Concat(e.EPCList, e.ChildEPCs, []string{e.ParentID}, e.InputEPCList, e.OutputEPCList)
	for _, q := range [][]epcis.QuantityElement{e.QuantityList, e.ChildQuantityList, e.InputQuantityList, e.OutputQuantityList} {
		for _, x := range q {
			out = append(out, x.EPCClass)
		}
	}
	return out
}

// keyDigits returns the digits of the GS1 key an identifier carries, after
// the indicator or extension digit (where the company prefix starts), for
// GTIN- and SSCC-based identifiers in EPC URI (sgtin, lgtin, sgtin
// patterns, sscc) or GS1 Digital Link form; ok is false for any other.
func keyDigits(id string) (digits string, ok bool) {
	id = strings.TrimSpace(id)
	for _, p := range []string{"urn:epc:id:sgtin:", "urn:epc:class:lgtin:", "urn:epc:idpat:sgtin:", "urn:epc:id:sscc:"} {
		if rest, found := strings.CutPrefix(id, p); found {
			// The company prefix is written apart: CompanyPrefix.IndicatorItemRef...
			cp, _, _ := strings.Cut(rest, ".")
			return cp, cp != ""
		}
	}
	if strings.HasPrefix(id, "http://") || strings.HasPrefix(id, "https://") {
		es, err := gs1.ParseDigitalLink(id)
		if err != nil {
			return "", false
		}
		m := es.Map()
		for _, ai := range []string{"01", "00"} {
			if k := m[ai]; len(k) > 1 {
				return k[1:], true
			}
		}
	}
	return "", false
}

// companyPrefixes are our GS1 Company Prefixes: those of our products
// (each product records its prefix's length inside its GTIN).
func (s *Repository) companyPrefixes(ctx context.Context) ([]string, error) {
	var out []string
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.Query(ctx, "SELECT gtin, company_prefix_len FROM products")
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var g string
			var n int
			if err := r.Scan(&g, &n); err != nil {
				return err
			}
			if n > 0 && len(g) >= 1+n && !slices.Contains(out, g[1:1+n]) {
				out = append(out, g[1:1+n])
			}
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("company prefixes: %w", err)
	}
	return out, nil
}

// EPCISEffects returns, for the events of a document, those that would
// change what verification, recalls or stock say about units of ours
// (identifiers under one of our company prefixes), with the effect. Events
// about other parties' units, and neutral events about ours, are not
// listed.
func (s *Repository) EPCISEffects(ctx context.Context, events []epcis.Event) ([]EPCISEffect, error) {
	var prefixes []string
	var out []EPCISEffect
	for i, e := range events {
		effect, why := eventEffect(e)
		if effect == "" {
			continue
		}
		if prefixes == nil {
			var err error
			if prefixes, err = s.companyPrefixes(ctx); err != nil {
				return nil, err
			}
			if len(prefixes) == 0 {
				return nil, nil // no products: no units of ours
			}
		}
		var ours []string
		for _, id := range eventIdentifiers(e) {
			k, ok := keyDigits(id)
			if !ok {
				continue
			}
			for _, p := range prefixes {
				if strings.HasPrefix(k, p) {
					ours = append(ours, canonicalEPC(id))
					break
				}
			}
		}
		if len(ours) > 0 {
			out = append(out, EPCISEffect{Index: i, EventID: e.EventID, Effect: effect, Why: why, EPCs: slices.Compact(ours)})
		}
	}
	return out, nil
}

// auditEffects writes the audit entry of each captured event with an
// effect on our units, as the equivalent API action would: the effect is
// the action, the event (by its stored eventID) the entity.
func auditEffects(ctx context.Context, tx sqldb.Tx, res CaptureResult, effects []EPCISEffect) error {
	for _, f := range effects {
		if f.Index < 0 || f.Index >= len(res.EventIDs) {
			continue
		}
		id := res.EventIDs[f.Index]
		after := map[string]any{"capture": res.CaptureID, "event_id": id, "hash_id": res.HashIDs[f.Index], "why": f.Why, "epcs": f.EPCs}
		if err := audit.Record(ctx, tx, f.Effect, "epcis_event", id, nil, after); err != nil {
			return err
		}
	}
	return nil
}

// CaptureEPCISForJobAudited is CaptureEPCISForJob that also writes, in the
// same transaction, the audit entry of each event with an effect on our
// units (effects as EPCISEffects returned them for these events: Index is
// the position in events).
func (s *Repository) CaptureEPCISForJobAudited(ctx context.Context, id string, events []epcis.Event, hashIDs []string, rejected int, errs []string, effects []EPCISEffect) (CaptureResult, error) {
	return s.capture(ctx, id, events, hashIDs, func(tx sqldb.Tx, res CaptureResult) error {
		if err := auditEffects(ctx, tx, res, effects); err != nil {
			return err
		}
		return finishJob(ctx, tx, id, res, rejected, errs)
	})
}
