package dscsa

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/shared/epcis"
)

// Namespaces of the DSCSA document.
const (
	NSEPCIS12 = "urn:epcglobal:epcis:xsd:1"
	NSEPCIS20 = "urn:epcglobal:epcis:xsd:2"
	NSSBDH    = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
	NSCBVMDA  = "urn:epcglobal:cbv:mda"
	// NSGS1USHC is GS1 US's healthcare namespace: the transaction
	// statement and the guideline version.
	NSGS1USHC = "http://epcis.gs1us.org/hc/ns"
)

// GuidelineVersion names the GS1 US guideline the document follows (the
// DSCSA implementation guideline, release 1.3, on EPCIS 1.2), written as
// gs1ushc:guidelineVersion.
const GuidelineVersion = "GS1 US DSCSA R1.3"

// CBV vocabulary prefixes of the URN form (what EPCIS 1.2 XML carries).
var cbvURN = map[string]string{
	"bizStep":     "urn:epcglobal:cbv:bizstep:",
	"disposition": "urn:epcglobal:cbv:disp:",
	"btt":         "urn:epcglobal:cbv:btt:",
	"sdt":         "urn:epcglobal:cbv:sdt:",
}

// urn writes a bare CBV value in URN form; a URI stays as it is.
func urn(kind, v string) string {
	if v == "" || strings.Contains(v, ":") {
		return v
	}
	return cbvURN[kind] + v
}

// xw writes XML with escaping.
type xw struct{ b bytes.Buffer }

func (w *xw) text(s string)     { _ = xml.EscapeText(&w.b, []byte(s)) }
func (w *xw) open(name string)  { w.b.WriteString("<" + name + ">") }
func (w *xw) close(name string) { w.b.WriteString("</" + name + ">") }
func (w *xw) elem(name, v string) {
	w.open(name)
	w.text(v)
	w.close(name)
}
func (w *xw) attrElem(name, attr, av, v string) {
	w.b.WriteString("<" + name + " " + attr + `="`)
	w.text(av)
	w.b.WriteString(`">`)
	w.text(v)
	w.close(name)
}
func (w *xw) list(name, item string, v []string) {
	w.open(name)
	for _, x := range v {
		w.elem(item, x)
	}
	w.close(name)
}

// fmtTime is xsd:dateTime in UTC with milliseconds.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Marshal writes the document as EPCIS XML in s.Version: 1.2 (namespace
// urn:epcglobal:epcis:xsd:1, the 1.2 extension wrappers, GS1 US's
// header elements in EPCISHeader) or 2.0 (urn:epcglobal:epcis:xsd:2,
// GS1 US's elements after EPCISBody, where the 2.0 schema takes them).
// Both carry the SBDH with the GLNs under Authority "GS1".
func (s *Shipping) Marshal() ([]byte, error) {
	v12 := s.Version == master.EPCIS12
	if !v12 && s.Version != master.EPCIS20 {
		return nil, fmt.Errorf("EPCIS version %q: use %s or %s", s.Version, master.EPCIS12, master.EPCIS20)
	}
	ns, sv, typeVersion := NSEPCIS20, "2.0", "2.0"
	if v12 {
		// EPCIS 1.x documents carry SBDH TypeVersion 1.0, as GS1 US's
		// guideline examples do.
		ns, sv, typeVersion = NSEPCIS12, "1.2", "1.0"
	}
	w := &xw{}
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.b.WriteString(`<epcis:EPCISDocument xmlns:epcis="` + ns + `" xmlns:sbdh="` + NSSBDH + `" xmlns:cbvmda="` + NSCBVMDA +
		`" xmlns:gs1ushc="` + NSGS1USHC + `"`)
	prefixes := map[string]string{}
	for _, e := range s.Events {
		for k, v := range e.Namespaces {
			if k != "cbvmda" && k != "gs1ushc" && k != "sbdh" && k != "epcis" && xmlName(k) {
				prefixes[k] = v
			}
		}
	}
	for _, k := range sortedKeys(prefixes) {
		w.b.WriteString(` xmlns:` + k + `="`)
		w.text(prefixes[k])
		w.b.WriteString(`"`)
	}
	w.b.WriteString(` schemaVersion="` + sv + `" creationDate="` + fmtTime(s.Created) + `">`)

	w.open("EPCISHeader")
	w.open("sbdh:StandardBusinessDocumentHeader")
	w.elem("sbdh:HeaderVersion", "1.0")
	w.open("sbdh:Sender")
	w.attrElem("sbdh:Identifier", "Authority", "GS1", s.Sender)
	w.close("sbdh:Sender")
	w.open("sbdh:Receiver")
	w.attrElem("sbdh:Identifier", "Authority", "GS1", s.Receiver)
	w.close("sbdh:Receiver")
	w.open("sbdh:DocumentIdentification")
	w.elem("sbdh:Standard", "EPCglobal")
	w.elem("sbdh:TypeVersion", typeVersion)
	w.elem("sbdh:InstanceIdentifier", s.InstanceID)
	w.elem("sbdh:Type", "Events")
	w.elem("sbdh:CreationDateAndTime", fmtTime(s.Created))
	w.close("sbdh:DocumentIdentification")
	w.close("sbdh:StandardBusinessDocumentHeader")
	w.masterData(s.MasterData)
	if v12 {
		w.gs1ushc()
	}
	w.close("EPCISHeader")

	w.open("EPCISBody")
	w.open("EventList")
	for i := range s.Events {
		if err := w.event(&s.Events[i], v12); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	w.close("EventList")
	w.close("EPCISBody")
	if !v12 {
		// The 2.0 schema's EPCISHeader takes no foreign elements; the
		// document does, after its body.
		w.gs1ushc()
	}
	w.b.WriteString("</epcis:EPCISDocument>\n")
	return w.b.Bytes(), nil
}

// gs1ushc writes the guideline version and the affirmed transaction
// statement (FDCA §581(27)) with its legal notice.
func (w *xw) gs1ushc() {
	w.elem("gs1ushc:guidelineVersion", GuidelineVersion)
	w.open("gs1ushc:dscsaTransactionStatement")
	w.elem("gs1ushc:affirmTransactionStatement", "true")
	w.elem("gs1ushc:legalNotice", Statement)
	w.close("gs1ushc:dscsaTransactionStatement")
}

func (w *xw) masterData(md []epcis.Vocabulary) {
	if len(md) == 0 {
		return
	}
	w.open("extension")
	w.open("EPCISMasterData")
	w.open("VocabularyList")
	for _, v := range md {
		w.b.WriteString(`<Vocabulary type="`)
		w.text(v.Type)
		w.b.WriteString(`"><VocabularyElementList>`)
		for _, el := range v.Elements {
			w.b.WriteString(`<VocabularyElement id="`)
			w.text(el.ID)
			w.b.WriteString(`">`)
			for _, a := range el.Attributes {
				w.attrElem("attribute", "id", a.ID, fmt.Sprint(a.Value))
			}
			w.close("VocabularyElement")
		}
		w.b.WriteString(`</VocabularyElementList></Vocabulary>`)
	}
	w.close("VocabularyList")
	w.close("EPCISMasterData")
	w.close("extension")
}

// event writes an ObjectEvent or AggregationEvent: the kinds a DSCSA
// shipment document holds.
//
// It is long because it writes the event's elements in the order the EPCIS 1.2 and 2.0
// schemas fix, with 1.2's <extension> wrapped around the middle ones.
func (w *xw) event(e *epcis.Event, v12 bool) error {
	t := string(e.Type)
	if e.Type != epcis.ObjectEvent && e.Type != epcis.AggregationEvent {
		return fmt.Errorf("%s: a DSCSA shipment document holds ObjectEvents and AggregationEvents", t)
	}
	w.open(t)
	w.elem("eventTime", fmtTime(e.EventTime))
	tz := e.EventTimeZoneOffset
	if tz == "" {
		tz = "+00:00"
	}
	w.elem("eventTimeZoneOffset", tz)
	if e.EventID != "" && !v12 {
		w.elem("eventID", e.EventID)
	}
	if e.Type == epcis.AggregationEvent {
		if e.ParentID != "" {
			w.elem("parentID", e.ParentID)
		}
		w.list("childEPCs", "epc", e.ChildEPCs)
	} else {
		w.list("epcList", "epc", e.EPCList)
	}
	w.elem("action", e.Action)
	if e.BizStep != "" {
		w.elem("bizStep", urn("bizStep", e.BizStep))
	}
	if e.Disposition != "" {
		w.elem("disposition", urn("disposition", e.Disposition))
	}
	for _, l := range []struct{ name, id string }{{"readPoint", e.ReadPoint}, {"bizLocation", e.BizLocation}} {
		if l.id != "" {
			w.open(l.name)
			w.elem("id", l.id)
			w.close(l.name)
		}
	}
	if len(e.BizTransactionList) > 0 {
		w.open("bizTransactionList")
		for _, b := range e.BizTransactionList {
			w.attrElem("bizTransaction", "type", urn("btt", b.Type), b.Value)
		}
		w.close("bizTransactionList")
	}
	ilmd := e.Type == epcis.ObjectEvent && len(e.ILMD) > 0
	wrap := v12 && (len(e.SourceList) > 0 || len(e.DestinationList) > 0 || ilmd)
	if wrap {
		w.open("extension")
	}
	for _, sd := range []struct {
		list, item string
		v          []epcis.SourceDest
	}{{"sourceList", "source", e.SourceList}, {"destinationList", "destination", e.DestinationList}} {
		if len(sd.v) == 0 {
			continue
		}
		w.open(sd.list)
		for _, x := range sd.v {
			w.attrElem(sd.item, "type", urn("sdt", x.Type), x.Value)
		}
		w.close(sd.list)
	}
	if ilmd {
		w.open("ilmd")
		for _, k := range sortedKeys(e.ILMD) {
			if !xmlName(k) {
				return fmt.Errorf("ilmd field %q is not an XML name", k)
			}
			w.elem(k, fmt.Sprint(e.ILMD[k]))
		}
		w.close("ilmd")
	}
	if wrap {
		w.close("extension")
	}
	// Extension fields with a text value, in their namespaces.
	for _, k := range sortedKeys(e.Extensions) {
		if !xmlName(k) || !strings.Contains(k, ":") {
			continue
		}
		switch v := e.Extensions[k].(type) {
		case string:
			w.elem(k, v)
		case float64:
			w.elem(k, strconv.FormatFloat(v, 'f', -1, 64))
		case bool:
			w.elem(k, strconv.FormatBool(v))
		}
	}
	w.close(t)
	return nil
}

func xmlName(s string) bool {
	if s == "" {
		return false
	}
	for _, p := range strings.Split(s, ":") {
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
	return strings.Count(s, ":") <= 1
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
