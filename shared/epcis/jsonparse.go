package epcis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

var reQName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]*:[A-Za-z_][A-Za-z0-9_.\-]*$`)

// perr builds a parse error naming where it happened.
func perr(where, format string, args ...any) error {
	return fmt.Errorf("epcis: %s: %s: %w", where, fmt.Sprintf(format, args...), ErrInvalidDocument)
}

func parseTime(where string, v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, perr(where, "want a date-time string, got %T", v)
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, perr(where, "%q is not an RFC 3339 date-time", s)
	}
	return t, nil
}

func str(where string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", perr(where, "want a string, got %T", v)
	}
	return s, nil
}

func strList(where string, v any) ([]string, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, perr(where, "want a list, got %T", v)
	}
	out := make([]string, len(l))
	for i, x := range l {
		s, err := str(fmt.Sprintf("%s[%d]", where, i), x)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func objList(where string, v any) ([]map[string]any, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, perr(where, "want a list, got %T", v)
	}
	out := make([]map[string]any, len(l))
	for i, x := range l {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, perr(fmt.Sprintf("%s[%d]", where, i), "want an object, got %T", x)
		}
		out[i] = m
	}
	return out, nil
}

func parseQuantities(where string, v any) ([]QuantityElement, error) {
	l, err := objList(where, v)
	if err != nil {
		return nil, err
	}
	out := make([]QuantityElement, len(l))
	for i, m := range l {
		w := fmt.Sprintf("%s[%d]", where, i)
		if out[i].EPCClass, err = str(w+".epcClass", m["epcClass"]); err != nil {
			return nil, err
		}
		if q, ok := m["quantity"]; ok && q != nil {
			n, ok := q.(json.Number)
			if !ok {
				return nil, perr(w+".quantity", "want a number, got %T", q)
			}
			f, err := n.Float64()
			if err != nil {
				return nil, perr(w+".quantity", "%q is not a number", n)
			}
			out[i].Quantity = &f
		}
		if u, ok := m["uom"]; ok {
			if out[i].UOM, err = str(w+".uom", u); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// idOf reads readPoint or bizLocation: its id and any user extensions.
func idOf(where string, v any) (string, map[string]any, error) {
	switch x := v.(type) {
	case string: // older drafts wrote readPoint as a bare string
		return x, nil, nil
	case map[string]any:
		id, err := str(where+".id", x["id"])
		if err != nil {
			return "", nil, err
		}
		var ext map[string]any
		for k, val := range x {
			if k == "id" {
				continue
			}
			if err := checkExtKey(where, k); err != nil {
				return "", nil, err
			}
			if ext == nil {
				ext = map[string]any{}
			}
			ext[k] = val
		}
		return id, ext, nil
	}
	return "", nil, perr(where, "want an object with id, got %T", v)
}

// contextNamespaces collects prefix definitions from a JSON-LD @context.
func contextNamespaces(v any, into map[string]string) {
	switch c := v.(type) {
	case []any:
		for _, x := range c {
			contextNamespaces(x, into)
		}
	case map[string]any:
		for k, x := range c {
			if s, ok := x.(string); ok && !strings.HasPrefix(k, "@") {
				into[k] = s
			}
		}
	}
}

// checkExtKeys makes sure generic values only hold namespaced keys at the top
// (nested keys may be anything that can be an XML name or "#text").
func checkExtKey(where, k string) error {
	if !reQName.MatchString(k) {
		return perr(where, "field %q is neither an EPCIS field nor a namespaced extension (prefix:name)", k)
	}
	return nil
}

// parseEventJSON reads one event object; where names it in errors, docNS are
// the document's namespaces.
//
// It is long because it is one switch with a case per EPCIS event field, unknown keys
// becoming extensions; the case bodies share e and err.
func parseEventJSON(where string, m map[string]any, docNS map[string]string) (Event, error) {
	var e Event
	var err error
	t, _ := m["type"].(string)
	if t == "" {
		t, _ = m["isA"].(string)
	}
	e.Type = EventType(t)
	switch e.Type {
	case ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent:
	default:
		return e, perr(where+".type", "%q is not an EPCIS 2.0 event type", t)
	}
	for k, v := range m {
		w := where + "." + k
		switch k {
		case "type", "isA":
		case "@context":
			ns := map[string]string{}
			contextNamespaces(v, ns)
			if len(ns) > 0 {
				e.Namespaces = ns
			}
		case "eventID":
			e.EventID, err = str(w, v)
		case "eventTime":
			e.EventTime, err = parseTime(w, v)
		case "recordTime":
			var rt time.Time
			if rt, err = parseTime(w, v); err == nil {
				e.RecordTime = &rt
			}
		case "eventTimeZoneOffset":
			e.EventTimeZoneOffset, err = str(w, v)
		case "certificationInfo":
			if l, ok := v.([]any); ok { // the JSON Schema allows a list; XML has room for one
				if len(l) != 1 {
					return e, perr(w, "this repository keeps one certification URI per event (XML has room for one), got %d", len(l))
				}
				v = l[0]
			}
			e.CertificationInfo, err = str(w, v)
		case "action":
			e.Action, err = str(w, v)
		case "parentID":
			e.ParentID, err = str(w, v)
		case "transformationID":
			e.TransformationID, err = str(w, v)
		case "bizStep":
			if e.BizStep, err = str(w, v); err == nil {
				e.BizStep = bizSteps.canon(e.BizStep)
			}
		case "disposition":
			if e.Disposition, err = str(w, v); err == nil {
				e.Disposition = dispositions.canon(e.Disposition)
			}
		case "epcList":
			e.EPCList, err = strList(w, v)
		case "childEPCs":
			e.ChildEPCs, err = strList(w, v)
		case "inputEPCList":
			e.InputEPCList, err = strList(w, v)
		case "outputEPCList":
			e.OutputEPCList, err = strList(w, v)
		case "quantityList":
			e.QuantityList, err = parseQuantities(w, v)
		case "childQuantityList":
			e.ChildQuantityList, err = parseQuantities(w, v)
		case "inputQuantityList":
			e.InputQuantityList, err = parseQuantities(w, v)
		case "outputQuantityList":
			e.OutputQuantityList, err = parseQuantities(w, v)
		case "readPoint":
			e.ReadPoint, e.ReadPointExtensions, err = idOf(w, v)
		case "bizLocation":
			e.BizLocation, e.BizLocationExtensions, err = idOf(w, v)
		case "persistentDisposition":
			pm, ok := v.(map[string]any)
			if !ok {
				return e, perr(w, "want an object, got %T", v)
			}
			pd := &PersistentDisposition{}
			if s, ok := pm["set"]; ok {
				if pd.Set, err = strList(w+".set", s); err != nil {
					return e, err
				}
				pd.Set = bareAll(&dispositions, pd.Set)
			}
			if s, ok := pm["unset"]; ok {
				if pd.Unset, err = strList(w+".unset", s); err != nil {
					return e, err
				}
				pd.Unset = bareAll(&dispositions, pd.Unset)
			}
			e.PersistentDisposition = pd
		case "bizTransactionList":
			var l []map[string]any
			if l, err = objList(w, v); err != nil {
				return e, err
			}
			for i, x := range l {
				var bt BizTransaction
				iw := fmt.Sprintf("%s[%d]", w, i)
				if tv, ok := x["type"]; ok {
					if bt.Type, err = str(iw+".type", tv); err != nil {
						return e, err
					}
					bt.Type = bizTxTypes.canon(bt.Type)
				}
				if bt.Value, err = str(iw+".bizTransaction", x["bizTransaction"]); err != nil {
					return e, err
				}
				e.BizTransactionList = append(e.BizTransactionList, bt)
			}
		case "sourceList", "destinationList":
			item := strings.TrimSuffix(k, "List")
			var l []map[string]any
			if l, err = objList(w, v); err != nil {
				return e, err
			}
			out := make([]SourceDest, len(l))
			for i, x := range l {
				iw := fmt.Sprintf("%s[%d]", w, i)
				if out[i].Type, err = str(iw+".type", x["type"]); err != nil {
					return e, err
				}
				out[i].Type = sdTypes.canon(out[i].Type)
				if out[i].Value, err = str(iw+"."+item, x[item]); err != nil {
					return e, err
				}
			}
			if k == "sourceList" {
				e.SourceList = out
			} else {
				e.DestinationList = out
			}
		case "sensorElementList":
			l, ok := v.([]any)
			if !ok {
				return e, perr(w, "want a list, got %T", v)
			}
			for _, x := range l {
				raw, err := json.Marshal(x)
				if err != nil {
					return e, perr(w, "%v", err)
				}
				e.SensorElementList = append(e.SensorElementList, raw)
			}
		case "ilmd":
			im, ok := v.(map[string]any)
			if !ok {
				return e, perr(w, "want an object, got %T", v)
			}
			for ik := range im {
				if err := checkExtKey(w, ik); err != nil {
					return e, err
				}
			}
			e.ILMD = im
		case "errorDeclaration":
			em, ok := v.(map[string]any)
			if !ok {
				return e, perr(w, "want an object, got %T", v)
			}
			ed := &ErrorDeclaration{}
			for ek, ev := range em {
				switch ek {
				case "declarationTime":
					ed.DeclarationTime, err = parseTime(w+".declarationTime", ev)
				case "reason":
					if ed.Reason, err = str(w+".reason", ev); err == nil {
						ed.Reason = errReasons.canon(ed.Reason)
					}
				case "correctiveEventIDs":
					ed.CorrectiveEventIDs, err = strList(w+".correctiveEventIDs", ev)
				default:
					if err = checkExtKey(w, ek); err == nil {
						if ed.Extensions == nil {
							ed.Extensions = map[string]any{}
						}
						ed.Extensions[ek] = ev
					}
				}
				if err != nil {
					return e, err
				}
			}
			e.ErrorDeclaration = ed
		default:
			if err := checkExtKey(where, k); err != nil {
				return e, err
			}
			if e.Extensions == nil {
				e.Extensions = map[string]any{}
			}
			e.Extensions[k] = v
		}
		if err != nil {
			return e, err
		}
	}
	if e.EventTime.IsZero() {
		return e, perr(where+".eventTime", "is required")
	}
	switch {
	case len(e.Namespaces) == 0:
		e.Namespaces = docNS // shared, read-only
	case len(docNS) > 0:
		e.Namespaces = declared(docNS, &e)
	}
	return e, nil
}

func decodeJSON(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, perr("document", "not JSON: %v", err)
	}
	return root, nil
}

// ParseJSONLD reads an EPCIS 2.0 JSON-LD EPCISDocument or EPCISQueryDocument.
func ParseJSONLD(b []byte) (Document, error) {
	var d Document
	root, err := decodeJSON(b)
	if err != nil {
		return d, err
	}
	typ, _ := root["type"].(string)
	if typ == "" {
		typ, _ = root["isA"].(string)
	}
	if typ != "EPCISDocument" && typ != "EPCISQueryDocument" {
		return d, perr("type", "%q is not EPCISDocument or EPCISQueryDocument", typ)
	}
	d.Namespaces = map[string]string{}
	contextNamespaces(root["@context"], d.Namespaces)
	switch sv := root["schemaVersion"].(type) {
	case string:
		d.SchemaVersion = sv
	case json.Number:
		d.SchemaVersion = sv.String()
	}
	if cd, ok := root["creationDate"]; ok {
		if d.CreationDate, err = parseTime("creationDate", cd); err != nil {
			return d, err
		}
	}
	d.ID, _ = root["id"].(string)
	h := &Header{}
	h.Sender, _ = root["sender"].(string)
	h.Receiver, _ = root["receiver"].(string)
	h.InstanceIdentifier, _ = root["instanceIdentifier"].(string)
	if *h != (Header{}) {
		d.Header = h
	}
	if hdr, ok := root["epcisHeader"].(map[string]any); ok {
		if d.MasterData, err = parseMasterDataJSON(hdr); err != nil {
			return d, err
		}
	}
	body, ok := root["epcisBody"].(map[string]any)
	if !ok {
		return d, perr("epcisBody", "is required")
	}
	list, where := body["eventList"], "eventList"
	if qr, ok := body["queryResults"].(map[string]any); ok {
		rb, _ := qr["resultsBody"].(map[string]any)
		list, where = rb["eventList"], "queryResults.resultsBody.eventList"
	}
	events, err := objList(where, list)
	if err != nil {
		return d, err
	}
	d.Events = make([]Event, 0, len(events))
	for i, m := range events {
		e, err := parseEventJSON(fmt.Sprintf("%s[%d]", where, i), m, d.Namespaces)
		if err != nil {
			return d, err
		}
		d.Events = append(d.Events, e)
	}
	return d, nil
}

func parseMasterDataJSON(hdr map[string]any) ([]Vocabulary, error) {
	md, ok := hdr["epcisMasterData"].(map[string]any)
	if !ok {
		return nil, nil
	}
	vl, err := objList("epcisMasterData.vocabularyList", md["vocabularyList"])
	if err != nil {
		return nil, err
	}
	out := make([]Vocabulary, len(vl))
	for i, v := range vl {
		w := fmt.Sprintf("epcisMasterData.vocabularyList[%d]", i)
		if out[i].Type, err = str(w+".type", v["type"]); err != nil {
			return nil, err
		}
		els, err := objList(w+".vocabularyElementList", v["vocabularyElementList"])
		if err != nil {
			return nil, err
		}
		for j, el := range els {
			ew := fmt.Sprintf("%s.vocabularyElementList[%d]", w, j)
			var ve VocabularyElement
			if ve.ID, err = str(ew+".id", el["id"]); err != nil {
				return nil, err
			}
			if as, ok := el["attributes"]; ok {
				al, err := objList(ew+".attributes", as)
				if err != nil {
					return nil, err
				}
				for k, a := range al {
					id, err := str(fmt.Sprintf("%s.attributes[%d].id", ew, k), a["id"])
					if err != nil {
						return nil, err
					}
					ve.Attributes = append(ve.Attributes, Attribute{ID: id, Value: a["attribute"]})
				}
			}
			if ch, ok := el["children"]; ok {
				if ve.Children, err = strList(ew+".children", ch); err != nil {
					return nil, err
				}
			}
			out[i].Elements = append(out[i].Elements, ve)
		}
	}
	return out, nil
}
