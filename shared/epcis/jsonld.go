package epcis

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ErrInvalidDocument is wrapped by every parse error: the input is not an
// EPCIS 2.0 document we can read.
var ErrInvalidDocument = errors.New("invalid EPCIS document")

// kv and obj give JSON objects a stable, readable key order.
type kv struct {
	k string
	v any
}
type obj []kv

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := appendJSON(&b, o); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func fmtTime(t time.Time) string { return t.Format(time.RFC3339Nano) }

func tzOffset(e *Event) string {
	if e.EventTimeZoneOffset != "" {
		return e.EventTimeZoneOffset
	}
	return e.EventTime.Format("-07:00")
}

func quantities(q []QuantityElement) []obj {
	out := make([]obj, len(q))
	for i, x := range q {
		o := obj{{"epcClass", x.EPCClass}}
		if x.Quantity != nil {
			o = append(o, kv{"quantity", *x.Quantity})
		}
		if x.UOM != "" {
			o = append(o, kv{"uom", x.UOM})
		}
		out[i] = o
	}
	return out
}

// appendSorted adds the generic map m to o in key order.
func appendSorted(o obj, m map[string]any) obj {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o = append(o, kv{k, jsonGeneric(m[k])})
	}
	return o
}

// jsonGeneric writes an extension value for JSON-LD: XML attributes
// ("@name") become plain keys (GS1's reference hashes both alike).
func jsonGeneric(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if a, ok := strings.CutPrefix(k, "@"); ok {
				k = a
			}
			out[k] = jsonGeneric(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonGeneric(e)
		}
		return out
	}
	return v
}

// location writes readPoint or bizLocation.
func location(id string, ext map[string]any) obj {
	return appendSorted(obj{{"id", id}}, ext)
}

// eventJSON is the JSON-LD object of e, its fields in a fixed order.
//
// It is long because it is the event's fields, written one after the other in the
// order they appear in the output; each is a few lines.
func eventJSON(e *Event) obj {
	o := obj{{"type", string(e.Type)}}
	if e.EventID != "" {
		o = append(o, kv{"eventID", e.EventID})
	}
	o = append(o, kv{"eventTime", fmtTime(e.EventTime)})
	if e.RecordTime != nil {
		o = append(o, kv{"recordTime", fmtTime(*e.RecordTime)})
	}
	o = append(o, kv{"eventTimeZoneOffset", tzOffset(e)})
	if ed := e.ErrorDeclaration; ed != nil {
		eo := obj{{"declarationTime", fmtTime(ed.DeclarationTime)}}
		if ed.Reason != "" {
			eo = append(eo, kv{"reason", errReasons.canon(ed.Reason)})
		}
		if len(ed.CorrectiveEventIDs) > 0 {
			eo = append(eo, kv{"correctiveEventIDs", ed.CorrectiveEventIDs})
		}
		o = append(o, kv{"errorDeclaration", appendSorted(eo, ed.Extensions)})
	}
	if e.CertificationInfo != "" {
		o = append(o, kv{"certificationInfo", e.CertificationInfo})
	}
	if e.ParentID != "" {
		o = append(o, kv{"parentID", e.ParentID})
	}
	lists := []struct {
		k string
		v []string
	}{{"epcList", e.EPCList}, {"childEPCs", e.ChildEPCs}, {"inputEPCList", e.InputEPCList}, {"outputEPCList", e.OutputEPCList}}
	for _, l := range lists {
		if len(l.v) > 0 || (l.k == "epcList" && e.Type == ObjectEvent && len(e.QuantityList) == 0) {
			o = append(o, kv{l.k, nonNil(l.v)})
		}
	}
	qlists := []struct {
		k string
		v []QuantityElement
	}{{"quantityList", e.QuantityList}, {"childQuantityList", e.ChildQuantityList}, {"inputQuantityList", e.InputQuantityList}, {"outputQuantityList", e.OutputQuantityList}}
	for _, l := range qlists {
		if len(l.v) > 0 {
			o = append(o, kv{l.k, quantities(l.v)})
		}
	}
	if e.Action != "" {
		o = append(o, kv{"action", e.Action})
	}
	if e.TransformationID != "" {
		o = append(o, kv{"transformationID", e.TransformationID})
	}
	if e.BizStep != "" {
		o = append(o, kv{"bizStep", bizSteps.canon(e.BizStep)})
	}
	if e.Disposition != "" {
		o = append(o, kv{"disposition", dispositions.canon(e.Disposition)})
	}
	if pd := e.PersistentDisposition; pd != nil {
		po := obj{}
		if len(pd.Set) > 0 {
			po = append(po, kv{"set", bareAll(&dispositions, pd.Set)})
		}
		if len(pd.Unset) > 0 {
			po = append(po, kv{"unset", bareAll(&dispositions, pd.Unset)})
		}
		o = append(o, kv{"persistentDisposition", po})
	}
	if e.ReadPoint != "" {
		o = append(o, kv{"readPoint", location(e.ReadPoint, e.ReadPointExtensions)})
	}
	if e.BizLocation != "" {
		o = append(o, kv{"bizLocation", location(e.BizLocation, e.BizLocationExtensions)})
	}
	if len(e.BizTransactionList) > 0 {
		l := make([]obj, len(e.BizTransactionList))
		for i, t := range e.BizTransactionList {
			l[i] = obj{}
			if t.Type != "" {
				l[i] = append(l[i], kv{"type", bizTxTypes.canon(t.Type)})
			}
			l[i] = append(l[i], kv{"bizTransaction", t.Value})
		}
		o = append(o, kv{"bizTransactionList", l})
	}
	for _, sd := range []struct {
		k, item string
		v       []SourceDest
	}{{"sourceList", "source", e.SourceList}, {"destinationList", "destination", e.DestinationList}} {
		if len(sd.v) == 0 {
			continue
		}
		l := make([]obj, len(sd.v))
		for i, s := range sd.v {
			l[i] = obj{{"type", sdTypes.canon(s.Type)}, {sd.item, s.Value}}
		}
		o = append(o, kv{sd.k, l})
	}
	if len(e.SensorElementList) > 0 {
		l := make([]any, len(e.SensorElementList))
		for i, r := range e.SensorElementList {
			l[i] = r
			if bytes.Contains(r, []byte(`"@`)) {
				l[i] = jsonGeneric(decodeAny(r))
			}
		}
		o = append(o, kv{"sensorElementList", l})
	}
	if len(e.ILMD) > 0 {
		o = append(o, kv{"ilmd", appendSorted(obj{}, e.ILMD)})
	}
	return appendSorted(o, e.Extensions)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func bareAll(v *vocab, s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = v.canon(x)
	}
	return out
}

// eventsJSON writes events and the @context they need (see nsplan.go).
func eventsJSON(docNS map[string]string, events []Event) ([]any, []obj, error) {
	evs := make([]obj, len(events))
	for i := range events {
		evs[i] = eventJSON(&events[i])
	}
	plan, err := planNamespaces(docNS, events, evs)
	if err != nil {
		return nil, nil, err
	}
	for i, ren := range plan.renames {
		if len(ren) > 0 {
			evs[i] = renamePrefixes(evs[i], ren).(obj)
		}
	}
	return plan.ctx, evs, nil
}

func masterDataJSON(md []Vocabulary) obj {
	vl := make([]obj, len(md))
	for i, v := range md {
		els := make([]obj, len(v.Elements))
		for j, el := range v.Elements {
			eo := obj{{"id", el.ID}}
			if len(el.Attributes) > 0 {
				as := make([]obj, len(el.Attributes))
				for k, a := range el.Attributes {
					as[k] = obj{{"id", a.ID}, {"attribute", a.Value}}
				}
				eo = append(eo, kv{"attributes", as})
			}
			if len(el.Children) > 0 {
				eo = append(eo, kv{"children", el.Children})
			}
			els[j] = eo
		}
		vl[i] = obj{{"type", v.Type}, {"vocabularyElementList", els}}
	}
	return obj{{"epcisMasterData", obj{{"vocabularyList", vl}}}}
}

// MarshalJSONLD writes d as an EPCIS 2.0 JSON-LD EPCISDocument.
func MarshalJSONLD(d Document) ([]byte, error) {
	ctx, evs, err := eventsJSON(d.Namespaces, d.Events)
	if err != nil {
		return nil, fmt.Errorf("epcis: marshal JSON-LD: %w", err)
	}
	o := obj{{"@context", ctx}, {"type", "EPCISDocument"}}
	if d.ID != "" {
		o = append(o, kv{"id", d.ID})
	}
	sv := d.SchemaVersion
	if sv == "" {
		sv = SchemaVersion
	}
	o = append(o, kv{"schemaVersion", sv}, kv{"creationDate", fmtTime(d.CreationDate)})
	if h := d.Header; h != nil {
		if h.Sender != "" {
			o = append(o, kv{"sender", h.Sender})
		}
		if h.Receiver != "" {
			o = append(o, kv{"receiver", h.Receiver})
		}
		if h.InstanceIdentifier != "" {
			o = append(o, kv{"instanceIdentifier", h.InstanceIdentifier})
		}
	}
	if len(d.MasterData) > 0 {
		o = append(o, kv{"epcisHeader", masterDataJSON(d.MasterData)})
	}
	o = append(o, kv{"epcisBody", obj{{"eventList", evs}}})
	b, err := o.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("epcis: marshal JSON-LD: %w", err)
	}
	return b, nil
}

// MarshalQueryDocumentJSONLD writes events as the EPCISQueryDocument that
// GET /epcis/events answers with.
func MarshalQueryDocumentJSONLD(events []Event, queryName, subscriptionID string) ([]byte, error) {
	if queryName == "" {
		return nil, fmt.Errorf("epcis: query document: queryName is required")
	}
	ctx, evs, err := eventsJSON(nil, events)
	if err != nil {
		return nil, fmt.Errorf("epcis: marshal query document: %w", err)
	}
	qr := obj{}
	if subscriptionID != "" {
		qr = append(qr, kv{"subscriptionID", subscriptionID})
	}
	qr = append(qr, kv{"queryName", queryName}, kv{"resultsBody", obj{{"eventList", evs}}})
	o := obj{
		{"@context", ctx},
		{"type", "EPCISQueryDocument"},
		{"schemaVersion", SchemaVersion},
		{"creationDate", fmtTime(time.Now().UTC())},
		{"epcisBody", obj{{"queryResults", qr}}},
	}
	b, err := o.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("epcis: marshal query document: %w", err)
	}
	return b, nil
}
