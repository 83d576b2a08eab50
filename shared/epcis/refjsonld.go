package epcis

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
)

// JSON-LD expansion, as far as GS1's reference hash generator looks at it:
// the values under GS1's CBV and vocabulary namespaces that expanding a
// document with GS1's context (and the document's own) yields, so that
// bare CBV values can be replaced by their web URIs the way the reference
// does (refjson.go).

// The GS1 contexts the reference has copies of; any other remote context
// makes it fail (it would download it).
const (
	contextURLGitHub   = "https://gs1.github.io/EPCIS/epcis-context.jsonld"
	contextURLUnversio = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
)

//go:embed context/epcis-context.jsonld
var gs1ContextJSON []byte

// ldTerm is one JSON-LD term definition, as far as value expansion needs it.
type ldTerm struct {
	null   bool
	id     string
	typ    string
	scoped *jv
}

// ldCtx is an active context: its own terms over those of up.
type ldCtx struct {
	up       *ldCtx
	terms    map[string]*ldTerm
	vocab    string
	hasVocab bool
	derived  map[*ldTerm]*ldCtx // scoped contexts already applied
}

func (c *ldCtx) lookup(k string) *ldTerm {
	for x := c; x != nil; x = x.up {
		if t, ok := x.terms[k]; ok {
			return t
		}
	}
	return nil
}

func (c *ldCtx) vocabIRI() string {
	for x := c; x != nil; x = x.up {
		if x.hasVocab {
			return x.vocab
		}
	}
	return ""
}

func (c *ldCtx) apply(v *jv) (*ldCtx, error) {
	switch v.kind {
	case 'z':
		return &ldCtx{terms: map[string]*ldTerm{}}, nil
	case 's':
		switch v.s {
		case ContextURL, contextURLGitHub, contextURLUnversio:
			g, err := gs1Context()
			if err != nil {
				return nil, err
			}
			return c.apply(g.get("@context"))
		}
		return nil, fmt.Errorf("JSON-LD context %q is not available offline", v.s)
	case 'a':
		var err error
		for _, x := range v.vals {
			if c, err = c.apply(x); err != nil {
				return nil, err
			}
		}
		return c, nil
	case 'o':
		n := &ldCtx{up: c, terms: map[string]*ldTerm{}}
		for i, k := range v.keys {
			val := v.vals[i]
			switch k {
			case "@vocab":
				n.hasVocab, n.vocab = true, ""
				if val.kind == 's' {
					n.vocab = val.s
				}
				continue
			}
			if strings.HasPrefix(k, "@") {
				continue
			}
			t := &ldTerm{}
			switch val.kind {
			case 'z':
				t.null = true
			case 's':
				t.id = val.s
			case 'o':
				if id := val.get("@id"); id != nil && id.kind == 's' {
					t.id = id.s
				} else {
					t.id = k
				}
				if ty := val.get("@type"); ty != nil && ty.kind == 's' {
					t.typ = ty.s
				}
				t.scoped = val.get("@context")
			}
			n.terms[k] = t
		}
		return n, nil
	}
	return nil, errors.New("JSON-LD context: neither a URL, an object nor a list")
}

// scopedFor is c with t's property-scoped context applied.
func (c *ldCtx) scopedFor(t *ldTerm) (*ldCtx, error) {
	if t == nil || t.scoped == nil {
		return c, nil
	}
	if d, ok := c.derived[t]; ok {
		return d, nil
	}
	d, err := c.apply(t.scoped)
	if err != nil {
		return nil, err
	}
	if c.derived == nil {
		c.derived = map[*ldTerm]*ldCtx{}
	}
	c.derived[t] = d
	return d, nil
}

// expandIRI expands a value (vocab: as a vocabulary term, else as an IRI
// relative to the document) the way JSON-LD expansion does.
func (c *ldCtx) expandIRI(s string, vocab bool) string {
	for range 8 { // terms may name compact IRIs; a few levels at most
		if strings.HasPrefix(s, "@") {
			return s
		}
		if vocab {
			if t := c.lookup(s); t != nil {
				if t.null {
					return ""
				}
				if t.id != s {
					s = t.id
					continue
				}
			}
		}
		if pre, suf, ok := strings.Cut(s, ":"); ok {
			if pre == "_" || strings.HasPrefix(suf, "//") {
				return s
			}
			if t := c.lookup(pre); t != nil && !t.null && t.id != "" && t.id != pre {
				return c.expandIRI(t.id, true) + suf
			}
			return s
		}
		if vocab {
			if v := c.vocabIRI(); v != "" {
				return v + s
			}
		}
		return s
	}
	return s
}

// expandedValues collects the strings JSON-LD expansion of doc yields (as
// far as the reference looks at them: those under GS1's CBV and vocabulary
// namespaces).
func expandedValues(doc *jv) (map[string]bool, error) {
	out := map[string]bool{}
	var node func(c *ldCtx, o *jv) error
	var value func(c *ldCtx, v *jv, typ string) error
	node = func(c *ldCtx, o *jv) error {
		if ctx := o.get("@context"); ctx != nil {
			var err error
			if c, err = c.apply(ctx); err != nil {
				return err
			}
		}
		for i, k := range o.keys {
			if k == "@context" {
				continue
			}
			typ := ""
			var t *ldTerm
			switch {
			case k == "@id":
				typ = "@id"
			case k == "@type":
				typ = "@vocab"
			case strings.HasPrefix(k, "@"):
			default:
				t = c.lookup(k)
				switch {
				case t != nil && t.null:
					continue
				case t != nil && t.id == "@type":
					typ = "@vocab"
				case t != nil && t.id == "@id":
					typ = "@id"
				case t != nil:
					typ = t.typ
				case !strings.Contains(c.expandIRI(k, true), ":"):
					continue // an undefined term: expansion drops it
				}
			}
			vc, err := c.scopedFor(t)
			if err != nil {
				return err
			}
			if err := value(vc, o.vals[i], typ); err != nil {
				return err
			}
		}
		return nil
	}
	value = func(c *ldCtx, v *jv, typ string) error {
		switch v.kind {
		case 's':
			var x string
			switch typ {
			case "@vocab":
				x = c.expandIRI(v.s, true)
			case "@id":
				x = c.expandIRI(v.s, false)
			default:
				x = v.s
			}
			if strings.HasPrefix(x, "https://ref.gs1.org/cbv") || strings.HasPrefix(x, "https://gs1.org/voc") {
				out[x] = true
			}
		case 'a':
			for _, e := range v.vals {
				if err := value(c, e, typ); err != nil {
					return err
				}
			}
		case 'o':
			return node(c, v)
		}
		return nil
	}
	return out, node(&ldCtx{terms: map[string]*ldTerm{}}, doc)
}

// replaceBareValues is _replace_bare_string_values: every string of the
// document that exactly one expanded value ends with (after "-" or "/")
// becomes that value.
func replaceBareValues(doc *jv, expanded map[string]bool) {
	bySuffix := map[string][]string{}
	for x := range expanded {
		for i := 0; i < len(x); i++ {
			if x[i] == '-' || x[i] == '/' {
				bySuffix[x[i+1:]] = append(bySuffix[x[i+1:]], x)
			}
		}
	}
	var walk func(v *jv)
	walk = func(v *jv) {
		switch v.kind {
		case 's':
			if m := bySuffix[v.s]; len(m) == 1 {
				v.s = m[0]
			}
		case 'a', 'o':
			for _, e := range v.vals {
				walk(e)
			}
		}
	}
	walk(doc)
}
