package epcis

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// xnode is a parsed XML element.
type xnode struct {
	space, local string
	attrs        []xml.Attr
	kids         []*xnode
	text         string
}

func (n *xnode) child(local string) *xnode {
	for _, k := range n.kids {
		if k.local == local && (k.space == "" || k.space == NSEPCIS || k.space == NSQuery) {
			return k
		}
	}
	return nil
}

func (n *xnode) attr(local string) string {
	for _, a := range n.attrs {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

func (n *xnode) trimmed() string { return strings.TrimSpace(n.text) }

// readXML builds the tree and records every prefix declaration (uri->prefix,
// and in declared prefix->uri).
func readXML(b []byte, declared map[string]string) (*xnode, map[string]string, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	prefixes := map[string]string{}
	var stack []*xnode
	var root *xnode
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" && root != nil && len(stack) == 0 {
				return root, prefixes, nil
			}
			return nil, nil, perr("document", "not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &xnode{space: t.Name.Space, local: t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" {
					if _, ok := prefixes[a.Value]; !ok {
						prefixes[a.Value] = a.Name.Local
					}
					if _, ok := declared[a.Name.Local]; !ok {
						declared[a.Name.Local] = a.Value
					}
					continue
				}
				if a.Name.Local == "xmlns" && a.Name.Space == "" {
					continue
				}
				n.attrs = append(n.attrs, a)
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			} else if root == nil {
				root = n
			} else {
				return nil, nil, perr("document", "more than one root element")
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
}

// xparser turns namespaced XML names into "prefix:local" keys.
type xparser struct {
	prefixes map[string]string // uri -> prefix
	used     map[string]string // prefix -> uri
}

func (p *xparser) key(space, local string) string {
	if space == "" {
		return local
	}
	pre, ok := p.prefixes[space]
	if !ok || pre == "" {
		pre = fmt.Sprintf("ns%d", len(p.prefixes)+1)
		p.prefixes[space] = pre
	}
	p.used[pre] = space
	return pre + ":" + local
}

// generic turns an extension element into a value: text for a leaf, an
// object for an element with children (repeated children become lists).
func (p *xparser) generic(n *xnode) any {
	if len(n.kids) == 0 && len(n.attrs) == 0 {
		return n.trimmed()
	}
	m := map[string]any{}
	for _, a := range n.attrs {
		m["@"+p.key(a.Name.Space, a.Name.Local)] = a.Value
	}
	if t := n.trimmed(); t != "" {
		m["#text"] = t
	}
	for _, k := range n.kids {
		key := p.key(k.space, k.local)
		v := p.generic(k)
		switch prev := m[key].(type) {
		case nil:
			m[key] = v
		case []any:
			m[key] = append(prev, v)
		default:
			m[key] = []any{prev, v}
		}
	}
	return m
}

func (p *xparser) addGeneric(m map[string]any, n *xnode) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	key := p.key(n.space, n.local)
	v := p.generic(n)
	switch prev := m[key].(type) {
	case nil:
		m[key] = v
	case []any:
		m[key] = append(prev, v)
	default:
		m[key] = []any{prev, v}
	}
	return m
}

// location reads readPoint or bizLocation: its id and user extensions.
func (p *xparser) location(n *xnode) (string, map[string]any) {
	id := ""
	var ext map[string]any
	for _, c := range flatten(n) {
		switch {
		case c.space != "":
			ext = p.addGeneric(ext, c)
		case c.local == "id":
			id = c.trimmed()
		}
	}
	return id, ext
}

func xtime(where string, n *xnode) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, n.trimmed())
	if err != nil {
		return t, perr(where, "%q is not an RFC 3339 date-time", n.trimmed())
	}
	return t, nil
}

func ids(n *xnode, local string) []string {
	out := []string{}
	for _, k := range n.kids {
		if k.local == local {
			out = append(out, k.trimmed())
		}
	}
	return out
}

func xquantities(where string, n *xnode) ([]QuantityElement, error) {
	var out []QuantityElement
	for i, k := range n.kids {
		if k.local != "quantityElement" {
			continue
		}
		var q QuantityElement
		if c := k.child("epcClass"); c != nil {
			q.EPCClass = c.trimmed()
		}
		if c := k.child("quantity"); c != nil && c.trimmed() == "" {
			for _, a := range c.attrs {
				if a.Name.Space == nsXSI && a.Name.Local == "nil" && (a.Value == "true" || a.Value == "1") {
					q.Nil = true
				}
			}
		}
		if c := k.child("quantity"); c != nil && c.trimmed() != "" {
			f, err := strconv.ParseFloat(c.trimmed(), 64)
			if err != nil {
				return nil, perr(fmt.Sprintf("%s[%d].quantity", where, i), "%q is not a number", c.trimmed())
			}
			q.Quantity = &f
		}
		if c := k.child("uom"); c != nil {
			q.UOM = c.trimmed()
		}
		out = append(out, q)
	}
	return out, nil
}

var sensorNumeric = map[string]bool{"value": true, "minValue": true, "maxValue": true, "meanValue": true, "sDev": true, "percRank": true, "percValue": true}

// sensorJSON converts an XML sensorElement into its JSON-LD form.
func (p *xparser) sensorJSON(n *xnode) (json.RawMessage, error) {
	out := map[string]any{}
	attrs := func(k *xnode) map[string]any {
		m := map[string]any{}
		for _, a := range k.attrs {
			if a.Name.Space != "" {
				m[p.key(a.Name.Space, a.Name.Local)] = a.Value
				continue
			}
			var v any = a.Value
			switch {
			case sensorNumeric[a.Name.Local]:
				if f, err := strconv.ParseFloat(a.Value, 64); err == nil {
					v = f
				}
			case a.Name.Local == "booleanValue":
				v = a.Value == "true" || a.Value == "1"
			case a.Name.Local == "type" || a.Name.Local == "exception":
				v = bareSensorValue(a.Name.Local, a.Value)
			}
			m[a.Name.Local] = v
		}
		return m
	}
	var reports []any
	for _, k := range n.kids {
		switch {
		case k.local == "sensorMetadata" && k.space == "":
			out["sensorMetadata"] = attrs(k)
		case k.local == "sensorReport" && k.space == "":
			reports = append(reports, attrs(k))
		case k.local == "extension" && k.space == "":
		default:
			out = p.addGeneric(out, k)
		}
	}
	out["sensorReport"] = reports
	return json.Marshal(out)
}

// flatten lifts the EPCIS 1.x <extension>/<baseExtension> wrappers so that
// fields inside them read like top-level ones.
func flatten(n *xnode) []*xnode {
	var out []*xnode
	for _, k := range n.kids {
		if (k.local == "extension" || k.local == "baseExtension") && k.space == "" {
			out = append(out, flatten(k)...)
			continue
		}
		out = append(out, k)
	}
	return out
}

// event reads one event element n; where names it in errors.
//
// It is long because it is one switch with a case per EPCIS event element, after the
// 1.x wrappers are flattened; unknown unprefixed elements are refused.
func (p *xparser) event(where string, n *xnode) (Event, error) {
	e := Event{Type: EventType(n.local)}
	var err error
	for _, k := range flatten(n) {
		w := where + "." + k.local
		if k.space != "" {
			if e.Extensions == nil {
				e.Extensions = map[string]any{}
			}
			p.addGeneric(e.Extensions, k)
			continue
		}
		switch k.local {
		case "eventTime":
			e.EventTime, err = xtime(w, k)
		case "recordTime":
			var rt time.Time
			if rt, err = xtime(w, k); err == nil {
				e.RecordTime = &rt
			}
		case "eventTimeZoneOffset":
			e.EventTimeZoneOffset = k.trimmed()
		case "eventID":
			e.EventID = k.trimmed()
		case "certificationInfo":
			e.CertificationInfo = k.trimmed()
		case "action":
			e.Action = k.trimmed()
		case "parentID":
			e.ParentID = k.trimmed()
		case "transformationID":
			e.TransformationID = k.trimmed()
		case "bizStep":
			e.BizStep = bizSteps.canon(k.trimmed())
		case "disposition":
			e.Disposition = dispositions.canon(k.trimmed())
		case "epcList":
			e.EPCList = ids(k, "epc")
		case "childEPCs":
			e.ChildEPCs = ids(k, "epc")
		case "inputEPCList":
			e.InputEPCList = ids(k, "epc")
		case "outputEPCList":
			e.OutputEPCList = ids(k, "epc")
		case "quantityList":
			e.QuantityList, err = xquantities(w, k)
		case "childQuantityList":
			e.ChildQuantityList, err = xquantities(w, k)
		case "inputQuantityList":
			e.InputQuantityList, err = xquantities(w, k)
		case "outputQuantityList":
			e.OutputQuantityList, err = xquantities(w, k)
		case "readPoint":
			e.ReadPoint, e.ReadPointExtensions = p.location(k)
		case "bizLocation":
			e.BizLocation, e.BizLocationExtensions = p.location(k)
		case "persistentDisposition":
			e.PersistentDisposition = &PersistentDisposition{Set: bareAll(&dispositions, ids(k, "set")), Unset: bareAll(&dispositions, ids(k, "unset"))}
		case "bizTransactionList":
			for _, b := range k.kids {
				e.BizTransactionList = append(e.BizTransactionList, BizTransaction{Type: bizTxTypes.canon(b.attr("type")), Value: b.trimmed()})
			}
		case "sourceList":
			for _, b := range k.kids {
				e.SourceList = append(e.SourceList, SourceDest{Type: sdTypes.canon(b.attr("type")), Value: b.trimmed()})
			}
		case "destinationList":
			for _, b := range k.kids {
				e.DestinationList = append(e.DestinationList, SourceDest{Type: sdTypes.canon(b.attr("type")), Value: b.trimmed()})
			}
		case "sensorElementList":
			for _, s := range k.kids {
				if s.local != "sensorElement" {
					continue
				}
				raw, err := p.sensorJSON(s)
				if err != nil {
					return e, perr(w, "%v", err)
				}
				e.SensorElementList = append(e.SensorElementList, raw)
			}
		case "ilmd":
			for _, c := range flatten(k) {
				e.ILMD = p.addGeneric(e.ILMD, c)
			}
		case "errorDeclaration":
			ed := &ErrorDeclaration{}
			for _, c := range flatten(k) {
				switch {
				case c.space != "":
					ed.Extensions = p.addGeneric(ed.Extensions, c)
				case c.local == "declarationTime":
					ed.DeclarationTime, err = xtime(w+".declarationTime", c)
				case c.local == "reason":
					ed.Reason = errReasons.canon(c.trimmed())
				case c.local == "correctiveEventIDs":
					ed.CorrectiveEventIDs = ids(c, "correctiveEventID")
				}
			}
			e.ErrorDeclaration = ed
		default:
			return e, perr(w, "unknown element in %s", n.local)
		}
		if err != nil {
			return e, err
		}
	}
	if e.EventTime.IsZero() {
		return e, perr(where+".eventTime", "is required")
	}
	return e, nil
}

// ParseXML reads an EPCIS 2.0 XML EPCISDocument (or EPCISQueryDocument).
func ParseXML(b []byte) (Document, error) {
	var d Document
	declared := map[string]string{}
	root, prefixes, err := readXML(b, declared)
	if err != nil {
		return d, err
	}
	if root.local != "EPCISDocument" && root.local != "EPCISQueryDocument" {
		return d, perr("document", "root element %q is not EPCISDocument", root.local)
	}
	p := &xparser{prefixes: prefixes, used: map[string]string{}}
	d.SchemaVersion = root.attr("schemaVersion")
	if cd := root.attr("creationDate"); cd != "" {
		if d.CreationDate, err = time.Parse(time.RFC3339Nano, cd); err != nil {
			return d, perr("creationDate", "%q is not an RFC 3339 date-time", cd)
		}
	}
	if h := root.child("EPCISHeader"); h != nil {
		d.Header, d.MasterData = p.header(h)
	}
	body := root.child("EPCISBody")
	if body == nil {
		return d, perr("EPCISBody", "is required")
	}
	list := body.child("EventList")
	where := "eventList"
	if qr := body.child("QueryResults"); qr != nil {
		if rb := qr.child("resultsBody"); rb != nil {
			list = rb.child("EventList")
		}
		where = "queryResults.resultsBody.eventList"
	}
	if list == nil {
		return d, perr("EventList", "is required")
	}
	evs := flatten(list)
	for i, n := range evs {
		switch EventType(n.local) {
		case ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent:
		default:
			return d, perr(fmt.Sprintf("%s[%d]", where, i), "%q is not an EPCIS 2.0 event type", n.local)
		}
		e, err := p.event(fmt.Sprintf("%s[%d]", where, i), n)
		if err != nil {
			return d, err
		}
		d.Events = append(d.Events, e)
	}
	// Every prefix the document declares (values such as xsi:type="xsd:int"
	// name them too), and those made up for undeclared namespaces.
	for pre, uri := range declared {
		switch pre {
		case "epcis", "xsi", "sbdh", "xml":
		default:
			if _, ok := p.used[pre]; !ok {
				p.used[pre] = uri
			}
		}
	}
	if len(p.used) > 0 {
		d.Namespaces = p.used
		for i := range d.Events {
			d.Events[i].Namespaces = p.used
		}
	}
	return d, nil
}

func (p *xparser) header(h *xnode) (*Header, []Vocabulary) {
	var hdr *Header
	for _, k := range h.kids {
		if k.local != "StandardBusinessDocumentHeader" {
			continue
		}
		hdr = &Header{}
		for _, c := range k.kids {
			switch c.local {
			case "Sender", "Receiver":
				id := ""
				for _, x := range c.kids {
					if x.local == "Identifier" {
						id = x.trimmed()
					}
				}
				if c.local == "Sender" {
					hdr.Sender = id
				} else {
					hdr.Receiver = id
				}
			case "DocumentIdentification":
				for _, x := range c.kids {
					if x.local == "InstanceIdentifier" {
						hdr.InstanceIdentifier = x.trimmed()
					}
				}
			}
		}
	}
	var md []Vocabulary
	var walk func(n *xnode)
	walk = func(n *xnode) {
		for _, k := range n.kids {
			if k.local == "Vocabulary" {
				v := Vocabulary{Type: k.attr("type")}
				if el := k.child("VocabularyElementList"); el != nil {
					for _, x := range el.kids {
						ve := VocabularyElement{ID: x.attr("id")}
						for _, a := range x.kids {
							switch a.local {
							case "attribute":
								var val any = a.trimmed()
								if len(a.kids) > 0 {
									g := p.generic(a)
									if m, ok := g.(map[string]any); ok {
										delete(m, "@id") // the attribute's own id
									}
									val = g
								}
								ve.Attributes = append(ve.Attributes, Attribute{ID: a.attr("id"), Value: val})
							case "children":
								ve.Children = ids(a, "id")
							}
						}
						v.Elements = append(v.Elements, ve)
					}
				}
				md = append(md, v)
				continue
			}
			walk(k)
		}
	}
	walk(h)
	return hdr, md
}
