package epcis

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

type xw struct{ b bytes.Buffer }

func (w *xw) text(s string) { _ = xml.EscapeText(&w.b, []byte(s)) }

func (w *xw) elem(name, val string) {
	w.b.WriteString("<" + name + ">")
	w.text(val)
	w.b.WriteString("</" + name + ">")
}

func (w *xw) open(name string)  { w.b.WriteString("<" + name + ">") }
func (w *xw) close(name string) { w.b.WriteString("</" + name + ">") }

func (w *xw) attr(name, val string) {
	w.b.WriteString(" " + name + `="`)
	w.text(val)
	w.b.WriteString(`"`)
}

func (w *xw) ids(list, item string, v []string) {
	w.open(list)
	for _, x := range v {
		w.elem(item, x)
	}
	w.close(list)
}

func (w *xw) quantities(name string, q []QuantityElement) {
	w.open(name)
	for _, x := range q {
		w.open("quantityElement")
		w.elem("epcClass", x.EPCClass)
		if x.Nil && x.Quantity == nil {
			w.b.WriteString(`<quantity xsi:nil="true"/>`)
		}
		if x.Quantity != nil {
			w.elem("quantity", strconv.FormatFloat(*x.Quantity, 'f', -1, 64))
			if x.UOM != "" {
				w.elem("uom", x.UOM)
			}
		}
		w.close("quantityElement")
	}
	w.close(name)
}

// generic writes an extension value as XML elements named key.
func (w *xw) generic(key string, v any) error {
	if !xmlName(key) {
		return fmt.Errorf("%q cannot be an XML element name", key)
	}
	switch x := v.(type) {
	case []any:
		for _, i := range x {
			if err := w.generic(key, i); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		w.b.WriteString("<" + key)
		keys := sortedKeys(x)
		for _, k := range keys {
			if a, ok := strings.CutPrefix(k, "@"); ok && xmlName(a) {
				w.attr(a, scalarText(x[k]))
			}
		}
		w.b.WriteString(">")
		if t, ok := x["#text"]; ok {
			w.text(scalarText(t))
		}
		for _, k := range keys {
			if k == "#text" || strings.HasPrefix(k, "@") {
				continue
			}
			if err := w.generic(k, x[k]); err != nil {
				return err
			}
		}
		w.close(key)
		return nil
	case nil:
		w.b.WriteString("<" + key + "/>")
		return nil
	default:
		w.elem(key, scalarText(x))
		return nil
	}
}

// scalarText writes a JSON scalar as XML text.
func scalarText(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func xmlName(s string) bool {
	if s == "" {
		return false
	}
	parts := strings.Split(s, ":")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.HasPrefix(strings.ToLower(p), "xml") {
			return false
		}
		for i, c := range p {
			ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.')
			if !ok {
				return false
			}
		}
	}
	return true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sensor writes one sensorElement from its JSON-LD form.
func (w *xw) sensor(raw json.RawMessage) error {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("sensorElement: %w", err)
	}
	attrs := func(name string, a map[string]any) {
		w.b.WriteString("<" + name)
		for _, k := range sortedKeys(a) {
			v := a[k]
			if !xmlName(k) {
				continue
			}
			s := fmt.Sprint(v)
			if f, ok := v.(float64); ok {
				s = strconv.FormatFloat(f, 'f', -1, 64)
			}
			if (k == "type" || k == "exception") && !strings.Contains(s, ":") {
				s = "gs1:" + s
			}
			w.attr(k, s)
		}
		w.b.WriteString("/>")
	}
	w.open("sensorElement")
	if md, ok := m["sensorMetadata"].(map[string]any); ok {
		attrs("sensorMetadata", md)
	}
	reports, _ := m["sensorReport"].([]any)
	if len(reports) == 0 {
		attrs("sensorReport", map[string]any{})
	}
	for _, r := range reports {
		if rm, ok := r.(map[string]any); ok {
			attrs("sensorReport", rm)
		}
	}
	for _, k := range sortedKeys(m) {
		if k == "sensorMetadata" || k == "sensorReport" || !strings.Contains(k, ":") {
			continue
		}
		if err := w.generic(k, m[k]); err != nil {
			return fmt.Errorf("sensorElement: %w", err)
		}
	}
	w.close("sensorElement")
	return nil
}

// extensions writes extension elements in key order; the first error wins.
func (w *xw) extensions(m map[string]any, err error) error {
	for _, k := range sortedKeys(m) {
		if e := w.generic(k, m[k]); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// event writes e as XML; its element declares docNS and e's own namespaces.
//
// It is long because the XSD orders each event type's elements differently: the shared
// pieces (common, bizTx, srcDest, tail) are closures over e and extErr, and each case
// calls them in its type's order.
func (w *xw) event(e *Event, docNS map[string]string) error {
	t := string(e.Type)
	// Each event declares its own namespaces: events from different
	// documents may bind one prefix differently.
	w.b.WriteString("<" + t)
	ns := xmlNamespaces(docNS, e)
	for _, k := range sortedKeysS(ns) {
		if xmlName(k) && !strings.Contains(k, ":") {
			w.attr("xmlns:"+k, ns[k])
		}
	}
	w.b.WriteString(">")
	var extErr error
	w.elem("eventTime", fmtTime(e.EventTime))
	if e.RecordTime != nil {
		w.elem("recordTime", fmtTime(*e.RecordTime))
	}
	w.elem("eventTimeZoneOffset", tzOffset(e))
	if e.EventID != "" {
		w.elem("eventID", e.EventID)
	}
	if ed := e.ErrorDeclaration; ed != nil {
		w.open("errorDeclaration")
		w.elem("declarationTime", fmtTime(ed.DeclarationTime))
		if ed.Reason != "" {
			w.elem("reason", errReasons.urnOf(ed.Reason))
		}
		if len(ed.CorrectiveEventIDs) > 0 {
			w.ids("correctiveEventIDs", "correctiveEventID", ed.CorrectiveEventIDs)
		}
		for _, k := range sortedKeys(ed.Extensions) {
			if err := w.generic(k, ed.Extensions[k]); err != nil {
				return fmt.Errorf("errorDeclaration: %w", err)
			}
		}
		w.close("errorDeclaration")
	}
	if e.CertificationInfo != "" {
		w.elem("certificationInfo", e.CertificationInfo)
	}
	common := func(withAction bool) {
		if withAction {
			w.elem("action", e.Action)
		}
		if e.BizStep != "" {
			w.elem("bizStep", bizSteps.urnOf(e.BizStep))
		}
		if e.Disposition != "" {
			w.elem("disposition", dispositions.urnOf(e.Disposition))
		}
		if e.ReadPoint != "" {
			w.open("readPoint")
			w.elem("id", e.ReadPoint)
			extErr = w.extensions(e.ReadPointExtensions, extErr)
			w.close("readPoint")
		}
		if e.BizLocation != "" {
			w.open("bizLocation")
			w.elem("id", e.BizLocation)
			extErr = w.extensions(e.BizLocationExtensions, extErr)
			w.close("bizLocation")
		}
	}
	bizTx := func() {
		if len(e.BizTransactionList) == 0 {
			return
		}
		w.open("bizTransactionList")
		for _, b := range e.BizTransactionList {
			w.b.WriteString("<bizTransaction")
			if b.Type != "" {
				w.attr("type", bizTxTypes.urnOf(b.Type))
			}
			w.b.WriteString(">")
			w.text(b.Value)
			w.close("bizTransaction")
		}
		w.close("bizTransactionList")
	}
	srcDest := func() {
		for _, sd := range []struct {
			list, item string
			v          []SourceDest
		}{{"sourceList", "source", e.SourceList}, {"destinationList", "destination", e.DestinationList}} {
			if len(sd.v) == 0 {
				continue
			}
			w.open(sd.list)
			for _, s := range sd.v {
				w.b.WriteString("<" + sd.item)
				w.attr("type", sdTypes.urnOf(s.Type))
				w.b.WriteString(">")
				w.text(s.Value)
				w.close(sd.item)
			}
			w.close(sd.list)
		}
	}
	tail := func(ilmd bool) error {
		if len(e.SensorElementList) > 0 {
			w.open("sensorElementList")
			for _, s := range e.SensorElementList {
				if err := w.sensor(s); err != nil {
					return err
				}
			}
			w.close("sensorElementList")
		}
		if pd := e.PersistentDisposition; pd != nil {
			w.open("persistentDisposition")
			for _, u := range pd.Unset {
				w.elem("unset", dispositions.urnOf(u))
			}
			for _, s := range pd.Set {
				w.elem("set", dispositions.urnOf(s))
			}
			w.close("persistentDisposition")
		}
		if ilmd && len(e.ILMD) > 0 {
			w.open("ilmd")
			for _, k := range sortedKeys(e.ILMD) {
				if err := w.generic(k, e.ILMD[k]); err != nil {
					return fmt.Errorf("ilmd: %w", err)
				}
			}
			w.close("ilmd")
		}
		for _, k := range sortedKeys(e.Extensions) {
			if err := w.generic(k, e.Extensions[k]); err != nil {
				return fmt.Errorf("extension: %w", err)
			}
		}
		return nil
	}
	var err error
	switch e.Type {
	case ObjectEvent:
		if len(e.EPCList) > 0 || len(e.QuantityList) == 0 {
			w.ids("epcList", "epc", e.EPCList)
		}
		common(true)
		bizTx()
		if len(e.QuantityList) > 0 {
			w.quantities("quantityList", e.QuantityList)
		}
		srcDest()
		err = tail(true)
	case AggregationEvent, AssociationEvent:
		if e.ParentID != "" || e.Type == AssociationEvent {
			w.elem("parentID", e.ParentID)
		}
		if len(e.ChildEPCs) > 0 {
			w.ids("childEPCs", "epc", e.ChildEPCs)
		}
		if e.Type == AssociationEvent && len(e.ChildQuantityList) > 0 {
			w.quantities("childQuantityList", e.ChildQuantityList)
		}
		common(true)
		bizTx()
		if e.Type == AggregationEvent && len(e.ChildQuantityList) > 0 {
			w.quantities("childQuantityList", e.ChildQuantityList)
		}
		srcDest()
		err = tail(false)
	case TransactionEvent:
		bizTx()
		if e.ParentID != "" {
			w.elem("parentID", e.ParentID)
		}
		if len(e.EPCList) > 0 {
			w.ids("epcList", "epc", e.EPCList)
		}
		common(true)
		if len(e.QuantityList) > 0 {
			w.quantities("quantityList", e.QuantityList)
		}
		srcDest()
		err = tail(false)
	case TransformationEvent:
		if len(e.InputEPCList) > 0 {
			w.ids("inputEPCList", "epc", e.InputEPCList)
		}
		if len(e.InputQuantityList) > 0 {
			w.quantities("inputQuantityList", e.InputQuantityList)
		}
		if len(e.OutputEPCList) > 0 {
			w.ids("outputEPCList", "epc", e.OutputEPCList)
		}
		if len(e.OutputQuantityList) > 0 {
			w.quantities("outputQuantityList", e.OutputQuantityList)
		}
		if e.TransformationID != "" {
			w.elem("transformationID", e.TransformationID)
		}
		common(false)
		bizTx()
		srcDest()
		err = tail(true)
	default:
		return fmt.Errorf("%q is not an EPCIS 2.0 event type", e.Type)
	}
	w.close(t)
	if err == nil {
		err = extErr
	}
	return err
}

// xmlNamespaces are the prefixes an event's element declares: cbvmda and
// gs1 by default, then the document's and the event's own, as written.
func xmlNamespaces(docNS map[string]string, e *Event) map[string]string {
	ns := map[string]string{"cbvmda": NSCBVMDA, "gs1": NSGS1}
	for k, v := range declared(docNS, e) {
		ns[k] = v
	}
	delete(ns, "epcis")
	delete(ns, "xsi")
	delete(ns, "sbdh")
	return ns
}

// MarshalXML writes d as an EPCIS 2.0 XML document (urn:epcglobal:epcis:xsd:2)
// with CBV values in URN form and, when d.Header is set, a Standard Business
// Document Header.
func MarshalXML(d Document) ([]byte, error) {
	w := &xw{}
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.b.WriteString(`<epcis:EPCISDocument xmlns:epcis="` + NSEPCIS + `" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"`)
	if d.Header != nil {
		w.attr("xmlns:sbdh", NSSBDH)
	}
	// The document's namespaces (master data uses them); events declare
	// their own again.
	ns := xmlNamespaces(d.Namespaces, &Event{})
	for _, k := range sortedKeysS(ns) {
		if xmlName(k) && !strings.Contains(k, ":") {
			w.attr("xmlns:"+k, ns[k])
		}
	}
	sv := d.SchemaVersion
	if sv == "" {
		sv = SchemaVersion
	}
	w.attr("schemaVersion", sv)
	w.attr("creationDate", fmtTime(d.CreationDate))
	w.b.WriteString(">")
	if d.Header != nil || len(d.MasterData) > 0 {
		w.open("EPCISHeader")
		if h := d.Header; h != nil {
			w.sbdh(h, d)
		}
		if len(d.MasterData) > 0 {
			if err := w.masterData(d.MasterData); err != nil {
				return nil, err
			}
		}
		w.close("EPCISHeader")
	}
	w.open("EPCISBody")
	w.open("EventList")
	for i := range d.Events {
		if err := w.event(&d.Events[i], d.Namespaces); err != nil {
			return nil, fmt.Errorf("epcis: marshal XML: eventList[%d]: %w", i, err)
		}
	}
	w.close("EventList")
	w.close("EPCISBody")
	w.b.WriteString("</epcis:EPCISDocument>\n")
	return w.b.Bytes(), nil
}

// MarshalQueryDocumentXML writes events as an EPCIS 2.0 XML
// EPCISQueryDocument (urn:epcglobal:epcis-query:xsd:2), the XML answer of
// a query: EPCISBody/QueryResults with queryName, subscriptionID (when
// set) and resultsBody/EventList.
func MarshalQueryDocumentXML(events []Event, queryName, subscriptionID string, created time.Time) ([]byte, error) {
	if queryName == "" {
		return nil, fmt.Errorf("epcis: query document: queryName is required")
	}
	w := &xw{}
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.b.WriteString(`<epcisq:EPCISQueryDocument xmlns:epcisq="` + NSQuery + `" xmlns:epcis="` + NSEPCIS + `" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"`)
	w.attr("schemaVersion", SchemaVersion)
	w.attr("creationDate", fmtTime(created))
	w.b.WriteString("><EPCISBody><epcisq:QueryResults>")
	w.elem("queryName", queryName)
	if subscriptionID != "" {
		w.elem("subscriptionID", subscriptionID)
	}
	w.b.WriteString("<resultsBody><EventList>")
	for i := range events {
		if err := w.event(&events[i], nil); err != nil {
			return nil, fmt.Errorf("epcis: marshal XML query document: eventList[%d]: %w", i, err)
		}
	}
	w.b.WriteString("</EventList></resultsBody></epcisq:QueryResults></EPCISBody></epcisq:EPCISQueryDocument>\n")
	return w.b.Bytes(), nil
}

// masterData writes a document's master data: EPCISMasterData inside the
// EPCISHeader's <extension>, where the XSD puts it.
func (w *xw) masterData(md []Vocabulary) error {
	w.open("extension")
	w.open("EPCISMasterData")
	w.open("VocabularyList")
	for _, v := range md {
		w.b.WriteString("<Vocabulary")
		w.attr("type", v.Type)
		w.b.WriteString("><VocabularyElementList>")
		for _, el := range v.Elements {
			w.b.WriteString("<VocabularyElement")
			w.attr("id", el.ID)
			w.b.WriteString(">")
			for _, a := range el.Attributes {
				w.b.WriteString("<attribute")
				w.attr("id", a.ID)
				w.b.WriteString(">")
				switch x := a.Value.(type) {
				case map[string]any:
					for _, k := range sortedKeys(x) {
						if strings.HasPrefix(k, "@") || k == "#text" {
							continue
						}
						if err := w.generic(k, x[k]); err != nil {
							return fmt.Errorf("epcis: marshal XML: master data %q: %w", el.ID, err)
						}
					}
				case nil:
				default:
					w.text(fmt.Sprint(x))
				}
				w.close("attribute")
			}
			if len(el.Children) > 0 {
				w.ids("children", "id", el.Children)
			}
			w.close("VocabularyElement")
		}
		w.b.WriteString("</VocabularyElementList></Vocabulary>")
	}
	w.close("VocabularyList")
	w.close("EPCISMasterData")
	w.close("extension")
	return nil
}

func (w *xw) sbdh(h *Header, d Document) {
	w.open("sbdh:StandardBusinessDocumentHeader")
	w.elem("sbdh:HeaderVersion", "1.0")
	for _, p := range []struct{ tag, id string }{{"sbdh:Sender", h.Sender}, {"sbdh:Receiver", h.Receiver}} {
		if p.id == "" {
			continue
		}
		w.open(p.tag)
		w.b.WriteString(`<sbdh:Identifier Authority="SGLN">`)
		w.text(p.id)
		w.close("sbdh:Identifier")
		w.close(p.tag)
	}
	w.open("sbdh:DocumentIdentification")
	w.elem("sbdh:Standard", "EPCglobal")
	w.elem("sbdh:TypeVersion", "2.0")
	inst := h.InstanceIdentifier
	if inst == "" {
		inst = "1"
	}
	w.elem("sbdh:InstanceIdentifier", inst)
	w.elem("sbdh:Type", "Events")
	w.elem("sbdh:CreationDateAndTime", fmtTime(d.CreationDate))
	w.close("sbdh:DocumentIdentification")
	w.close("sbdh:StandardBusinessDocumentHeader")
}

func sortedKeysS(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
