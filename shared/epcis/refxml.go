package epcis

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The XML side of the reference hash generator (xml_to_py.py): the
// document as ElementTree reads it, attributes and elements alike as
// children, names in {namespace}local form, each element's children sorted,
// bizTransaction/source/destination made (type, value) pairs, and "gs1:"
// and "cbv:" value prefixes expanded.

// xelem is an element as ElementTree sees it.
type xelem struct {
	tag   string
	attrs [][2]string // name ({ns}local when namespaced), value
	text  string      // text before the first child
	kids  []*xelem
}

const refIgnoreNS = "https://repository-x.example.com/"

// readRefXML parses an XML document the way ElementTree.fromstring does
// after the reference's textual clean-up.
func readRefXML(data []byte) (*xelem, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var stack []*xelem
	var root *xelem
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			e := &xelem{tag: clark(t.Name)}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				e.attrs = append(e.attrs, [2]string{clark(a.Name), a.Value})
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, e)
			} else if root == nil {
				root = e
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if n := len(stack); n > 0 && len(stack[n-1].kids) == 0 {
				stack[n-1].text += string(t)
			}
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	return root, nil
}

func clark(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

var refXMLClean = strings.NewReplacer("<extension>", "", "</extension>", "", "<baseExtension>", "", "</baseExtension>", "")

// refXMLEvents reads the events of an XML document into the reference's
// tree, in document order.
func refXMLEvents(raw []byte, lenient bool) ([]*hnode, error) {
	data := refXMLClean.Replace(string(raw))
	if p := ignorePrefixXML(raw); p != "" {
		data = strings.ReplaceAll(data, p+":", "")
	}
	root, err := readRefXML([]byte(data))
	if err != nil {
		return nil, fmt.Errorf("epcis: hash: XML: %w", err)
	}
	var list *xelem
	for _, c := range root.kids {
		for _, g := range c.kids {
			if g.tag == "EventList" && list == nil {
				list = g
			}
		}
	}
	if list == nil || len(list.kids) == 0 {
		list = findDeep(root)
	}
	if list == nil || len(list.kids) == 0 {
		if lenient {
			return nil, nil
		}
		return nil, errors.New("epcis: hash: XML: no EventList with events")
	}
	for _, ig := range root.kids {
		if ig.tag != "ignoreFields" {
			continue
		}
		for _, f := range ig.kids {
			for _, ev := range list.kids {
				for i, c := range ev.kids {
					if c.tag == f.tag {
						ev.kids = append(ev.kids[:i:i], ev.kids[i+1:]...)
						break
					}
				}
			}
		}
	}
	out := make([]*hnode, 0, len(list.kids))
	for _, ev := range list.kids {
		n, err := refXMLNode(ev, true, lenient)
		if err != nil {
			return nil, err
		}
		out = append(out, expandValuePrefix(n))
	}
	return out, nil
}

// findDeep is ElementTree's find('.//*EventList'): the first EventList
// below a child of root, in document order.
func findDeep(root *xelem) *xelem {
	var walk func(e *xelem, depth int) *xelem
	walk = func(e *xelem, depth int) *xelem {
		if depth >= 1 {
			for _, c := range e.kids {
				if c.tag == "EventList" {
					return c
				}
			}
		}
		for _, c := range e.kids {
			if r := walk(c, depth+1); r != nil {
				return r
			}
		}
		return nil
	}
	return walk(root, 0)
}

// ignorePrefixXML is the prefix the document binds to the reference's
// "fields to ignore" namespace on its root element, if any.
func ignorePrefixXML(raw []byte) string {
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == "xmlns" && a.Value == refIgnoreNS {
					return a.Name.Local
				}
			}
			return ""
		}
	}
}

// refXMLNode is _xml_to_py for one element.
func refXMLNode(e *xelem, sortKids, lenient bool) (*hnode, error) {
	n := &hnode{name: e.tag, text: pyStrip(e.text)}
	for _, a := range e.attrs {
		n.kids = append(n.kids, &hnode{name: a[0], text: a[1]})
	}
	for _, c := range e.kids {
		k, err := refXMLNode(c, true, lenient)
		if err != nil {
			return nil, err
		}
		n.kids = append(n.kids, k)
	}
	if sortKids {
		sortNodes(n.kids)
	}
	var pairs []*hnode
	for _, c := range n.kids {
		if !c.isPair() && (c.name == "bizTransaction" || c.name == "source" || c.name == "destination") {
			value := &hnode{name: c.name, text: c.text}
			switch {
			case len(c.kids) > 0 && (c.kids[0].name == "type" || lenient):
				pairs = append(pairs, &hnode{pair: []*hnode{c.kids[0], value}})
			case lenient:
				pairs = append(pairs, &hnode{pair: []*hnode{value}})
			default:
				return nil, fmt.Errorf("epcis: hash: XML: %s %q has no type attribute first (the reference cannot hash it)", c.name, c.text)
			}
		}
	}
	if len(pairs) > 0 {
		n.kids = pairs
	}
	return n, nil
}

// expandValuePrefix is _expand_value_prefix: "gs1:" and "cbv:" at the
// start of a value become their namespaces (every occurrence in the value
// is replaced, as str.replace does); in a pair only the type's "cbv:".
func expandValuePrefix(n *hnode) *hnode {
	if n.isPair() {
		for i, c := range n.pair {
			if c.name == "type" && strings.HasPrefix(c.text, "cbv:") {
				cp := *c
				cp.text = strings.ReplaceAll(c.text, "cbv:", "https://ref.gs1.org/cbv/")
				n.pair[i] = &cp
			}
		}
		return n
	}
	if strings.HasPrefix(n.text, "gs1:") {
		n.text = strings.ReplaceAll(n.text, "gs1:", NSGS1)
	}
	if strings.HasPrefix(n.text, "cbv:") {
		n.text = strings.ReplaceAll(n.text, "cbv:", "https://ref.gs1.org/cbv/")
	}
	for i, c := range n.kids {
		n.kids[i] = expandValuePrefix(c)
	}
	return n
}
