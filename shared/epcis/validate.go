package epcis

import (
	"errors"
	"fmt"
	"regexp"
)

// FieldError says which field of which event broke which rule.
type FieldError struct {
	Index int    // position in eventList; -1 for a lone event
	Field string // "bizStep", "epcList[3]"
	Value string
	Rule  string // "is not a CBV 2.0 business step"
}

func (e *FieldError) Error() string {
	where := e.Field
	if e.Index >= 0 {
		where = fmt.Sprintf("eventList[%d].%s", e.Index, e.Field)
	}
	if e.Value == "" {
		return where + ": " + e.Rule
	}
	return fmt.Sprintf("%s: %q %s", where, e.Value, e.Rule)
}

var reTZ = regexp.MustCompile(`^[+-]((0\d|1[0-3]):[0-5]\d|14:00)$`)

// Validate checks the event against EPCIS 2.0 and CBV 2.0: required fields
// per type and action, CBV vocabulary, EPC URI syntax. It returns every
// problem found, each a *FieldError.
func (e Event) Validate() error { return e.validate(-1) }

// Validate checks every event; errors name the event's index.
func (d Document) Validate() error {
	var errs []error
	for i := range d.Events {
		if err := d.Events[i].validate(i); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validate checks e; idx is its index in the document (-1 for none).
//
// It is long because it is a flat list of field checks, common fields then each type's
// required ones, all reporting through bad so that every problem is listed.
func (e Event) validate(idx int) error {
	var errs []error
	bad := func(field, value, rule string) {
		errs = append(errs, &FieldError{Index: idx, Field: field, Value: value, Rule: rule})
	}
	epcs := func(field string, l []string, classOK bool) {
		for i, x := range l {
			k := epcKind(x)
			if k == "" || (!classOK && (k == "lgtin" || k == "idpat")) {
				bad(fmt.Sprintf("%s[%d]", field, i), x, "is not an EPC URI or GS1 Digital Link URI")
			}
		}
	}
	qtys := func(field string, q []QuantityElement) {
		for i, x := range q {
			k := epcKind(x.EPCClass)
			if k != "lgtin" && k != "idpat" && k != "dl" {
				bad(fmt.Sprintf("%s[%d].epcClass", field, i), x.EPCClass, "is not an EPC class URI (lgtin, idpat) or GS1 Digital Link URI")
			}
			if x.Quantity != nil && *x.Quantity < 0 {
				bad(fmt.Sprintf("%s[%d].quantity", field, i), fmt.Sprint(*x.Quantity), "must not be negative")
			}
		}
	}
	switch e.Type {
	case ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent:
	default:
		bad("type", string(e.Type), "is not an EPCIS 2.0 event type")
	}
	if e.EventTime.IsZero() {
		bad("eventTime", "", "is required")
	}
	if e.EventTimeZoneOffset != "" && !reTZ.MatchString(e.EventTimeZoneOffset) {
		bad("eventTimeZoneOffset", e.EventTimeZoneOffset, "is not an offset like +01:00")
	}
	if e.Type == TransformationEvent {
		if e.Action != "" {
			bad("action", e.Action, "must be empty in a TransformationEvent")
		}
	} else {
		switch e.Action {
		case ActionAdd, ActionObserve, ActionDelete:
		case "":
			bad("action", "", "is required (ADD, OBSERVE or DELETE)")
		default:
			bad("action", e.Action, "is not ADD, OBSERVE or DELETE")
		}
	}
	if e.BizStep != "" {
		if r := bizSteps.check(e.BizStep); r != "" {
			bad("bizStep", e.BizStep, r)
		}
	}
	if e.Disposition != "" {
		if r := dispositions.check(e.Disposition); r != "" {
			bad("disposition", e.Disposition, r)
		} else if dispositions.bare(e.Disposition) == "active" && e.BizStep != "" && bizSteps.bare(e.BizStep) != "commissioning" {
			bad("disposition", e.Disposition, "is only used with bizStep commissioning")
		}
	}
	for i, t := range e.BizTransactionList {
		if t.Type != "" {
			if r := bizTxTypes.check(t.Type); r != "" {
				bad(fmt.Sprintf("bizTransactionList[%d].type", i), t.Type, r)
			}
		}
		if !isAbsURI(t.Value) {
			bad(fmt.Sprintf("bizTransactionList[%d].bizTransaction", i), t.Value, "is not an absolute URI")
		}
	}
	for _, sd := range []struct {
		f string
		l []SourceDest
	}{{"sourceList", e.SourceList}, {"destinationList", e.DestinationList}} {
		for i, s := range sd.l {
			if r := sdTypes.check(s.Type); r != "" {
				bad(fmt.Sprintf("%s[%d].type", sd.f, i), s.Type, r)
			}
			if !isAbsURI(s.Value) {
				bad(fmt.Sprintf("%s[%d].value", sd.f, i), s.Value, "is not an absolute URI")
			}
		}
	}
	for _, loc := range []struct{ f, v string }{{"readPoint", e.ReadPoint}, {"bizLocation", e.BizLocation}} {
		if loc.v == "" {
			continue
		}
		if k := epcKind(loc.v); k != "sgln" && k != "dl" && !isAbsURI(loc.v) {
			bad(loc.f, loc.v, "is not an SGLN, GS1 Digital Link or other absolute URI")
		}
	}
	if e.ErrorDeclaration != nil {
		if e.ErrorDeclaration.DeclarationTime.IsZero() {
			bad("errorDeclaration.declarationTime", "", "is required")
		}
		if r := e.ErrorDeclaration.Reason; r != "" {
			if msg := errReasons.check(r); msg != "" {
				bad("errorDeclaration.reason", r, msg)
			}
		}
	}
	epcs("epcList", e.EPCList, false)
	epcs("childEPCs", e.ChildEPCs, false)
	epcs("inputEPCList", e.InputEPCList, false)
	epcs("outputEPCList", e.OutputEPCList, false)
	qtys("quantityList", e.QuantityList)
	qtys("childQuantityList", e.ChildQuantityList)
	qtys("inputQuantityList", e.InputQuantityList)
	qtys("outputQuantityList", e.OutputQuantityList)
	if e.ParentID != "" {
		if k := epcKind(e.ParentID); k == "" || k == "lgtin" || k == "idpat" {
			bad("parentID", e.ParentID, "is not an EPC URI or GS1 Digital Link URI")
		}
	}
	switch e.Type {
	case ObjectEvent:
		// A sensor-only ObjectEvent (what a sensor at a read point
		// reported, about no object) has neither: GS1's own EPCIS 2.0
		// examples (SensorDataExamples) carry such events.
		if len(e.EPCList)+len(e.QuantityList) == 0 && len(e.SensorElementList) == 0 {
			bad("epcList", "", "is required: an ObjectEvent needs epcList, quantityList or sensorElementList")
		}
		if len(e.ILMD) > 0 && e.Action != ActionAdd {
			bad("ilmd", "", "is only allowed with action ADD")
		}
	case AggregationEvent:
		if e.ParentID == "" && e.Action != ActionObserve {
			bad("parentID", "", "is required for action "+e.Action)
		}
		if len(e.ChildEPCs)+len(e.ChildQuantityList) == 0 && e.Action != ActionDelete {
			bad("childEPCs", "", "is required: an AggregationEvent needs childEPCs or childQuantityList")
		}
	case AssociationEvent:
		if e.ParentID == "" {
			bad("parentID", "", "is required in an AssociationEvent")
		}
	case TransactionEvent:
		if len(e.BizTransactionList) == 0 {
			bad("bizTransactionList", "", "is required in a TransactionEvent")
		}
		if len(e.EPCList)+len(e.QuantityList) == 0 && e.Action != ActionDelete {
			bad("epcList", "", "is required: a TransactionEvent needs epcList or quantityList")
		}
	case TransformationEvent:
		if len(e.InputEPCList)+len(e.InputQuantityList)+len(e.OutputEPCList)+len(e.OutputQuantityList) == 0 {
			bad("inputEPCList", "", "is required: a TransformationEvent needs inputs or outputs")
		}
	}
	return errors.Join(errs...)
}
