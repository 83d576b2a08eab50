package epcis

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// The canonical pre-hash string of CBV 2.0 §8.9 as GS1's reference hash
// generator (RalphTro/epcis-event-hash-generator, hash_generator.py) builds
// it. The reference reads a document into a tree of (name, text, children)
// triples, the XML model (JSON-LD is first brought to the same shape), and
// walks that tree; this file ports the walk, quirks included, so that our
// hash IDs are the reference's on every document it can hash:
//
//   - the fields of propOrder come first, in that order, each group of equal
//     names sorted; a field is consumed only when all its children were;
//   - inside a field (not at the event's top level), children whose name
//     has a namespace ending in "/" ("{https://ns.example.com/epcis/}x")
//     are user extensions appended right after the field's own values;
//   - everything left (bizTransactionList, sourceList, destinationList,
//     ilmd, other extensions, children of fields not consumed) follows,
//     sorted as strings, except recordTime, eventID, type and
//     errorDeclaration, which never count;
//   - values: CBV URNs become web URIs, numbers are normalised, GS1 keys
//     become canonical Digital Link URIs; fields whose name contains "time"
//     (but not "offset") are time stamps in UTC with milliseconds.

// hnode is one (name, text, children) triple of the reference's tree, or,
// when pair is set, one of the (type, value) pairs it makes of a
// bizTransaction, source or destination.
type hnode struct {
	name, text string
	kids       []*hnode
	pair       []*hnode // two nodes when this is a pair
}

func (n *hnode) isPair() bool { return n.pair != nil }

// cmpNode orders nodes as Python orders the tuples (lexicographically:
// name, text, then children); a pair sorts before a triple (Python would
// refuse to compare them).
func cmpNode(a, b *hnode) int {
	switch {
	case a.isPair() && b.isPair():
		return cmpNodes(a.pair, b.pair)
	case a.isPair():
		return -1
	case b.isPair():
		return 1
	}
	if c := strings.Compare(a.name, b.name); c != 0 {
		return c
	}
	if c := strings.Compare(a.text, b.text); c != 0 {
		return c
	}
	return cmpNodes(a.kids, b.kids)
}

func cmpNodes(a, b []*hnode) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := cmpNode(a[i], b[i]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

func sortNodes(l []*hnode) { slices.SortStableFunc(l, cmpNode) }

// propOrder is the reference's PROP_ORDER. A nil sub order means a leaf.
type propOrder struct {
	name string
	sub  []propOrder
}

// pairOrder stands for the reference's (("type", None), (item, None))
// entries: their name is a tuple, so no child ever matches it.
var pairOrder = []propOrder{{name: "\x00pair"}}

var (
	quantityOrder = []propOrder{{"quantityElement", []propOrder{{"epcClass", nil}, {"quantity", nil}, {"uom", nil}}}}
	epcOrder      = []propOrder{{"epc", nil}}
	refPropOrder  = []propOrder{
		{"eventTime", nil},
		{"eventTimeZoneOffset", nil},
		{"certificationInfo", nil},
		{"parentID", nil},
		{"epcList", epcOrder},
		{"inputEPCList", epcOrder},
		{"childEPCs", epcOrder},
		{"quantityList", quantityOrder},
		{"childQuantityList", quantityOrder},
		{"inputQuantityList", quantityOrder},
		{"outputEPCList", epcOrder},
		{"outputQuantityList", quantityOrder},
		{"action", nil},
		{"transformationID", nil},
		{"bizStep", nil},
		{"disposition", nil},
		{"persistentDisposition", []propOrder{{"set", nil}, {"unset", nil}}},
		{"readPoint", []propOrder{{"id", nil}}},
		{"bizLocation", []propOrder{{"id", nil}}},
		{"bizTransactionList", pairOrder},
		{"sourceList", pairOrder},
		{"destinationList", pairOrder},
		{"sensorElementList", []propOrder{{"sensorElement", []propOrder{
			{"sensorMetadata", leaves("time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData",
				"dataProcessingMethod", "bizRules")},
			{"sensorReport", leaves("type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
				"time", "microorganism", "chemicalSubstance", "value", "component", "stringValue", "booleanValue",
				"hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue", "uom",
				"coordinateReferenceSystem")},
		}}}},
	}
)

func leaves(names ...string) []propOrder {
	out := make([]propOrder, len(names))
	for i, n := range names {
		out[i] = propOrder{name: n}
	}
	return out
}

// canonValueRef is the reference's _canonize_value.
func canonValueRef(text string) (string, error) {
	text = refWebVocab.Replace(text)
	text, err := refNumeric(text)
	if err != nil {
		return "", err
	}
	if dl := refDigitalLink(text); dl != "" {
		return dl, nil
	}
	return text, nil
}

// refWebVocab replaces CBV 1.x URN prefixes anywhere in a value, as
// _try_format_web_vocabulary does.
var refWebVocab = strings.NewReplacer(
	"urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-",
	"urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-",
	"urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-",
	"urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-",
	"urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-")

// prehasher holds the first error met while walking (the reference gives
// up on the event).
type prehasher struct {
	lenient bool
	err     error
}

func (p *prehasher) canon(text string) string {
	s, err := canonValueRef(text)
	if err != nil {
		if p.lenient {
			return text
		}
		if p.err == nil {
			p.err = err
		}
	}
	return s
}

func (p *prehasher) time(text string) string {
	s, err := refTime(text)
	if err != nil {
		if p.lenient {
			return lenientTime(text)
		}
		if p.err == nil {
			p.err = err
		}
	}
	return s
}

func (p *prehasher) child(c *hnode, sub []propOrder) string {
	grand := ""
	if sub != nil {
		grand = p.inOrder(&c.kids, sub)
	}
	text := ""
	if c.text != "" {
		text = pyStrip(c.text)
		low := strings.ToLower(c.name)
		if strings.Contains(low, "time") && !strings.Contains(low, "offset") {
			text = p.time(text)
		} else {
			text = p.canon(text)
		}
		if text != "" {
			text = "=" + text
		}
	}
	if text != "" || grand != "" {
		return c.name + text + grand
	}
	return ""
}

func removeNode(l *[]*hnode, n *hnode) {
	if i := slices.Index(*l, n); i >= 0 {
		*l = slices.Delete(*l, i, i+1)
	}
}

// userExtensions takes the children that are user extensions of an
// enclosing field (not of the event itself) out of l.
func userExtensions(l *[]*hnode) []*hnode {
	if len(*l) <= 1 {
		return nil
	}
	for _, c := range *l {
		if c.isPair() {
			if c.pair[0].name == "eventTime" || c.pair[0].text == "eventTime" || c.pair[0].name == "action" || c.pair[0].text == "action" {
				return nil
			}
			continue
		}
		if strings.Contains(c.name, "eventTime") || strings.Contains(c.name, "action") {
			return nil
		}
	}
	var ext []*hnode
	for _, c := range *l {
		if !c.isPair() && strings.Contains(c.name, "{") && strings.Contains(c.name, "/}") {
			ext = append(ext, c)
		}
	}
	for _, c := range ext {
		removeNode(l, c)
	}
	return ext
}

func (p *prehasher) inOrder(l *[]*hnode, order []propOrder) string {
	pre := ""
	ext := userExtensions(l)
	for _, o := range order {
		var same []*hnode
		for _, c := range *l {
			if !c.isPair() && c.name == o.name {
				same = append(same, c)
			}
		}
		var vals []string
		for _, c := range same {
			if s := p.child(c, o.sub); s != "" {
				vals = append(vals, s)
			}
			if len(c.kids) == 0 {
				removeNode(l, c)
			}
		}
		slices.Sort(vals)
		if strings.Join(vals, "") != "" {
			pre += strings.Join(vals, "")
		}
	}
	if len(ext) > 0 {
		pre += p.generic(ext)
	}
	return pre
}

func (p *prehasher) generic(l []*hnode) string {
	vals := make([]string, 0, len(l))
	for _, c := range l {
		if c.isPair() {
			vals = append(vals, p.generic(c.pair))
			continue
		}
		text := pyStrip(c.text)
		if text != "" {
			text = "=" + p.canon(text)
		}
		vals = append(vals, c.name+text+p.generic(c.kids))
	}
	if len(l) > 1 && shouldSort(l) {
		slices.Sort(vals)
	}
	return strings.Join(vals, "")
}

func shouldSort(l []*hnode) bool {
	for _, c := range l {
		if !c.isPair() && (c.name == "bizTransaction" || c.name == "source" || c.name == "destination") {
			return false
		}
	}
	return true
}

// refPreHash builds the pre-hash string of one event of the reference's
// tree; ev is consumed.
func refPreHash(ev *hnode, lenient bool) (string, error) {
	p := &prehasher{lenient: lenient}
	s := "eventType=" + ev.name + p.inOrder(&ev.kids, refPropOrder)
	var rest []*hnode
	for _, c := range ev.kids {
		if c.isPair() || (c.name != "recordTime" && c.name != "eventID" && c.name != "type" && c.name != "errorDeclaration") {
			rest = append(rest, c)
		}
	}
	if len(rest) > 0 {
		s += p.generic(rest)
	}
	if p.err != nil {
		return "", fmt.Errorf("epcis: hash: %w", p.err)
	}
	return s, nil
}

// hashOf is the ni URI of a pre-hash string.
func hashOf(pre string) string {
	sum := sha256.Sum256([]byte(pre))
	return "ni:///sha-256;" + hex.EncodeToString(sum[:]) + "?ver=CBV2.0"
}
