package epcis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The JSON-LD side of the reference hash generator (json_to_py.py and
// json_xml_model_mismatch_correction.py): bare CBV values are replaced by
// the web URIs that JSON-LD expansion gives them (for the whole document at
// once, as the reference does), keys and values with a prefix of the
// document's @context get their namespace, and the result is reshaped into
// the XML model.

// jv is a JSON value that keeps its key order and number literals, as
// Python's json module does.
type jv struct {
	kind byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	s    string
	b    bool
	keys []string // object keys, in order
	vals []*jv    // object values (parallel to keys) or array elements
}

func (v *jv) get(k string) *jv {
	if v == nil || v.kind != 'o' {
		return nil
	}
	for i, key := range v.keys {
		if key == k {
			return v.vals[i]
		}
	}
	return nil
}

func (v *jv) has(k string) bool { return v.get(k) != nil }

// pyStr is Python's str() of the value json.loads makes of v.
func (v *jv) pyStr() string {
	switch v.kind {
	case 's':
		return v.s
	case 'n':
		return pyJSONNumber(v.s)
	case 'b':
		if v.b {
			return "True"
		}
		return "False"
	case 'z':
		return "None"
	}
	return fmt.Sprint(v.kind)
}

// readJV parses a JSON document into a jv; a repeated key keeps its first
// position and its last value, as a Python dict does.
func readJV(b []byte) (*jv, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	v, err := readJVValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func readJVValue(d *json.Decoder) (*jv, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &jv{kind: 'o'}
			idx := map[string]int{}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := readJVValue(d)
				if err != nil {
					return nil, err
				}
				if i, ok := idx[k]; ok {
					o.vals[i] = v
					continue
				}
				idx[k] = len(o.keys)
				o.keys = append(o.keys, k)
				o.vals = append(o.vals, v)
			}
			_, err := d.Token()
			return o, err
		case '[':
			a := &jv{kind: 'a'}
			for d.More() {
				v, err := readJVValue(d)
				if err != nil {
					return nil, err
				}
				a.vals = append(a.vals, v)
			}
			_, err := d.Token()
			return a, err
		}
	case string:
		return &jv{kind: 's', s: t}, nil
	case json.Number:
		return &jv{kind: 'n', s: string(t)}, nil
	case bool:
		return &jv{kind: 'b', b: t}, nil
	case nil:
		return &jv{kind: 'z'}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// jsonToPy carries the reference's namespace table while converting.
type jsonToPy struct{ ns map[string]string }

func (p *jsonToPy) nsReplace(s string, value bool) string {
	pre, rest, ok := strings.Cut(s, ":")
	if !ok {
		return s
	}
	n, found := p.ns[pre]
	if !found {
		return s
	}
	if value {
		return strings.NewReplacer("{", "", "}", "").Replace(n) + rest
	}
	return n + rest
}

func (p *jsonToPy) convert(v *jv, ignore map[string]bool) *hnode {
	n := &hnode{}
	switch v.kind {
	case 'a':
		for _, e := range v.vals {
			n.kids = append(n.kids, p.convert(e, nil))
		}
	case 'o':
		if t := v.get("type"); t != nil {
			n.name = t.pyStr()
		}
		if t := v.get("#text"); t != nil {
			n.text = t.pyStr()
		}
		for i, k := range v.keys {
			if k == "#text" || k == "rdfs:comment" || k == "comment" || ignore[k] {
				continue
			}
			val := v.vals[i]
			if strings.HasPrefix(k, "@xmlns") {
				p.ns[pyFrom(k, 7)] = "{" + val.pyStr() + "}"
				n.name = p.nsReplace(n.name, false)
				continue
			}
			c := p.convert(val, nil)
			k = p.nsReplace(k, false)
			if val.kind == 'a' {
				for _, e := range c.kids {
					n.kids = append(n.kids, &hnode{name: k, text: e.text, kids: e.kids})
				}
			} else {
				n.kids = append(n.kids, &hnode{name: k, text: c.text, kids: c.kids})
			}
		}
	case 's':
		return &hnode{text: p.nsReplace(v.s, true)}
	default:
		return &hnode{text: v.pyStr()}
	}
	if !keepsOrder(v) {
		sortNodes(n.kids)
	}
	return n
}

// keepsOrder: an object with a bizTransaction, source or destination key
// (or a list holding one of these words) keeps its order.
func keepsOrder(v *jv) bool {
	for _, k := range []string{"bizTransaction", "source", "destination"} {
		if v.kind == 'o' && v.has(k) {
			return true
		}
		if v.kind == 'a' {
			for _, e := range v.vals {
				if e.kind == 's' && e.s == k {
					return true
				}
			}
		}
	}
	return false
}

// correctStructure is deep_structure_correction: JSON's lists become XML's
// list elements with named items.
func correctStructure(n *hnode, lenient bool) (*hnode, error) {
	kids := n.kids
	var order []string
	lists := map[string][]*hnode{}
	var rest []*hnode
	for _, e := range kids {
		if !e.isPair() && strings.HasSuffix(e.name, "List") {
			if _, ok := lists[e.name]; !ok {
				order = append(order, e.name)
			}
			lists[e.name] = append(lists[e.name], &hnode{name: e.name[:len(e.name)-4], text: e.text, kids: e.kids})
			continue
		}
		rest = append(rest, e)
	}
	kids = rest
	for _, name := range order {
		elems := lists[name]
		if name == "sourceList" || name == "destinationList" || name == "bizTransactionList" {
			l := &hnode{name: name}
			for _, e := range elems {
				switch {
				case len(e.kids) >= 2:
					l.kids = append(l.kids, &hnode{pair: []*hnode{e.kids[0], e.kids[1]}})
				case lenient && len(e.kids) == 1:
					l.kids = append(l.kids, &hnode{pair: []*hnode{e.kids[0]}})
				case !lenient:
					return nil, fmt.Errorf("epcis: hash: JSON: an entry of %s has fewer than two fields (the reference cannot hash it)", name)
				}
			}
			kids = append(kids, l)
		} else {
			kids = append(kids, &hnode{name: name, kids: elems})
		}
	}
	var epcs []*hnode
	rest = kids[:0:0]
	for _, e := range kids {
		if !e.isPair() && e.name == "childEPCs" {
			epcs = append(epcs, &hnode{name: "epc", text: e.text})
			continue
		}
		rest = append(rest, e)
	}
	kids = rest
	if len(epcs) > 0 {
		kids = append(kids, &hnode{name: "childEPCs", kids: epcs})
	}
	out := &hnode{name: n.name, text: n.text, kids: make([]*hnode, 0, len(kids))}
	for _, e := range kids {
		if e.name == "sourceList" || e.name == "destinationList" || e.name == "bizTransactionList" || e.isPair() {
			out.kids = append(out.kids, e)
			continue
		}
		c, err := correctStructure(e, lenient)
		if err != nil {
			return nil, err
		}
		out.kids = append(out.kids, c)
	}
	switch {
	case out.name == "inputEPC" || out.name == "outputEPC":
		out.name = "epc"
	case out.name == "inputQuantity" || out.name == "outputQuantity" || out.name == "childQuantity" ||
		(out.name == "quantity" && len(out.kids) > 0):
		out.name = "quantityElement"
	}
	return out, nil
}

// refJSONEvents reads the events of a JSON-LD document into the
// reference's tree, in document order.
//
// It is long because it follows the reference's steps in its order (clean @context,
// expand, namespaces, ignored fields, event list, reshape), each working on what the
// one before left.
func refJSONEvents(raw []byte, lenient bool) ([]*hnode, error) {
	doc, err := readJV(raw)
	if err != nil {
		return nil, fmt.Errorf("epcis: hash: JSON: %w", err)
	}
	if doc.kind != 'o' {
		return nil, errors.New("epcis: hash: JSON: the document is not an object")
	}
	ctx := doc.get("@context")
	if ctx == nil || ctx.kind != 'a' {
		return nil, errors.New("epcis: hash: JSON: @context must be a list (the reference reads no other form)")
	}
	clean := &jv{kind: 'a'}
	for _, e := range ctx.vals {
		if e.kind != 'o' || len(e.keys) > 0 {
			clean.vals = append(clean.vals, e)
		}
	}
	for i, k := range doc.keys {
		if k == "@context" {
			doc.vals[i] = clean
		}
	}
	expanded, err := expandedValues(doc)
	if err != nil {
		return nil, fmt.Errorf("epcis: hash: JSON-LD: %w", err)
	}
	replaceBareValues(doc, expanded)
	p := &jsonToPy{ns: map[string]string{}}
	for _, c := range clean.vals {
		switch c.kind {
		case 's':
			p.ns[c.s] = "{" + c.s + "}"
		case 'o':
			for i, k := range c.keys {
				if c.vals[i].kind != 's' {
					if lenient {
						continue
					}
					return nil, fmt.Errorf("epcis: hash: JSON: @context term %q is not a plain namespace (the reference cannot read it)", k)
				}
				p.ns[k] = "{" + c.vals[i].s + "}"
			}
		}
	}
	ignoreKey := ":ignoreFields"
	for k, v := range p.ns {
		if v == "{"+refIgnoreNS+"}" {
			ignoreKey = k + ignoreKey
			break
		}
	}
	body := doc.get("epcisBody")
	if body == nil {
		return nil, errors.New("epcis: hash: JSON: no epcisBody")
	}
	var events []*jv
	ignoreFrom := doc
	switch {
	case body.has("eventList"):
		events = body.get("eventList").vals
	case body.has("queryResults"):
		qr := body.get("queryResults")
		l := qr.get("resultsBody").get("eventList")
		if l == nil {
			return nil, errors.New("epcis: hash: JSON: no queryResults.resultsBody.eventList")
		}
		events, ignoreFrom = l.vals, qr
	case body.has("event"):
		events = []*jv{body.get("event")}
	case lenient:
	default:
		return nil, errors.New("epcis: hash: JSON: no eventList in epcisBody")
	}
	ignore := map[string]bool{}
	if l := ignoreFrom.get(ignoreKey); l != nil {
		for _, f := range l.vals {
			ignore[f.pyStr()] = true
		}
	}
	out := make([]*hnode, 0, len(events))
	for _, e := range events {
		n, err := correctStructure(p.convert(e, ignore), lenient)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
