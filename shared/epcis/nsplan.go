package epcis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Namespaces in JSON-LD documents of several events.
//
// A JSON-LD document declares its prefixes once, in its @context, but the
// events of one answer may come from documents that bound the same prefix to
// different namespaces ("example" to http://ns.example.com/epcis and to
// http://ns.example.com/epcis/), or that wrote "example:x" as plain text
// without declaring it. Event hash IDs depend on the namespaces (GS1's
// reference resolves keys and values through the document's @context), so
// each event keeps its own: where prefixes clash, one event's prefix is
// renamed (example2) in its keys and values, and no prefix an event writes
// as plain text is declared for another.

// gs1Prefixes are the prefixes GS1's (protected) context defines.
var gs1Prefixes = map[string]string{
	"epcis": "https://ref.gs1.org/epcis/", "cbv": "https://ref.gs1.org/cbv/", "cbvmda": "urn:epcglobal:cbv:mda:",
	"gs1": NSGS1, "rdfs": "http://www.w3.org/2000/01/rdf-schema#", "owl": "http://www.w3.org/2002/07/owl#",
	"xsd": "http://www.w3.org/2001/XMLSchema#", "dcterms": "http://purl.org/dc/terms/",
}

var (
	rePrefix       = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.\-]*):`)
	reSimplePrefix = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
)

// declared is what an event's @context declares: its own namespaces over the
// document's.
func declared(docNS map[string]string, e *Event) map[string]string {
	if len(e.Namespaces) == 0 {
		return docNS
	}
	if len(docNS) == 0 {
		return e.Namespaces
	}
	m := maps.Clone(docNS)
	maps.Copy(m, e.Namespaces)
	return m
}

// jsonNS says how a prefix is written in JSON-LD: dropped (ok false) when it
// is GS1's own up to a trailing "/", "#" or ":" (XML spells cbvmda without
// the colon), kept otherwise.
func jsonNS(p, iri string) (string, bool) {
	if g, ok := gs1Prefixes[p]; ok && g != iri && strings.TrimRight(g, ":#/") == strings.TrimRight(iri, ":#/") {
		return "", false
	}
	return iri, true
}

// nsPlan is the @context of a multi-event document and, per event, the
// prefixes renamed in it.
type nsPlan struct {
	ctx     []any
	renames []map[string]string
}

// planNamespaces builds the @context of a document of events (objs are their
// JSON objects) and each event's renamed prefixes, as the top of this file says.
//
// It is long because resolving clashes needs every event's declarations, the prefixes
// each writes literally and the prefixes taken so far, all at once.
func planNamespaces(docNS map[string]string, events []Event, objs []obj) (nsPlan, error) {
	plan := nsPlan{ctx: []any{ContextURL}, renames: make([]map[string]string, len(events))}
	decl := make([]map[string]string, len(events))
	same := true
	for i := range events {
		decl[i] = declared(docNS, &events[i])
		same = same && (i == 0 || maps.Equal(decl[i], decl[0]))
	}
	out := map[string]string{}
	var order []string
	add := func(p, iri string) {
		out[p] = iri
		order = append(order, p)
	}
	if len(events) == 0 {
		decl = []map[string]string{docNS}
	}
	if same || len(events) <= 1 {
		for _, p := range slices.Sorted(maps.Keys(decl[0])) {
			if iri, ok := jsonNS(p, decl[0][p]); ok {
				if g, isGS1 := gs1Prefixes[p]; isGS1 && g != iri {
					continue // never redefine GS1's protected terms
				}
				add(p, iri)
			}
		}
	} else {
		// Prefixes each event writes without declaring them.
		literal := make([]map[string]bool, len(events))
		for i := range objs {
			literal[i] = map[string]bool{}
			walkStrings(objs[i], func(s string) {
				if m := rePrefix.FindStringSubmatch(s); m != nil && decl[i][m[1]] == "" {
					literal[i][m[1]] = true
				}
			})
		}
		renamed := map[string]string{} // namespace → the prefix made up for it
		usedLiterally := func(p string, except int) bool {
			for j := range literal {
				if j != except && literal[j][p] {
					return true
				}
			}
			return false
		}
		for i := range events {
			for _, p := range slices.Sorted(maps.Keys(decl[i])) {
				iri, ok := jsonNS(p, decl[i][p])
				if !ok || out[p] == iri {
					continue
				}
				g, isGS1 := gs1Prefixes[p]
				if _, taken := out[p]; !taken && !usedLiterally(p, i) && (!isGS1 || g == iri) {
					add(p, iri)
					continue
				}
				n, reuse := renamed[iri]
				for k := 2; !reuse; k++ {
					// GS1's JSON Schema wants prefixes of letters and digits.
					base := p
					if !reSimplePrefix.MatchString(base) {
						base = "ns"
					}
					n = fmt.Sprintf("%s%d", base, k)
					if _, taken := out[n]; !taken && !usedLiterally(n, -1) && gs1Prefixes[n] == "" && decl[i][n] == "" {
						break
					}
				}
				if !reuse {
					add(n, iri)
					renamed[iri] = n
				}
				if plan.renames[i] == nil {
					plan.renames[i] = map[string]string{}
				}
				plan.renames[i][p] = n
			}
		}
	}
	slices.Sort(order)
	for _, p := range order {
		plan.ctx = append(plan.ctx, map[string]string{p: out[p]})
	}
	return plan, nil
}

// walkStrings calls fn on every key and string value of a JSON value as
// eventJSON builds it.
func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []string:
		for _, s := range x {
			fn(s)
		}
	case obj:
		for _, e := range x {
			fn(e.k)
			walkStrings(e.v, fn)
		}
	case []obj:
		for _, o := range x {
			walkStrings(o, fn)
		}
	case map[string]any:
		for k, e := range x {
			fn(k)
			walkStrings(e, fn)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	case []json.RawMessage:
		for _, r := range x {
			walkStrings(decodeAny(r), fn)
		}
	case json.RawMessage:
		walkStrings(decodeAny(x), fn)
	}
}

func decodeAny(r json.RawMessage) any {
	d := json.NewDecoder(bytes.NewReader(r))
	d.UseNumber()
	var v any
	_ = d.Decode(&v)
	return v
}

// renamePrefixes rewrites "p:" at the start of keys and string values.
func renamePrefixes(v any, ren map[string]string) any {
	re := func(s string) string {
		if m := rePrefix.FindStringSubmatch(s); m != nil {
			if n, ok := ren[m[1]]; ok {
				return n + s[len(m[1]):]
			}
		}
		return s
	}
	switch x := v.(type) {
	case string:
		return re(x)
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = re(s)
		}
		return out
	case obj:
		out := make(obj, len(x))
		for i, e := range x {
			out[i] = kv{re(e.k), renamePrefixes(e.v, ren)}
		}
		return out
	case []obj:
		out := make([]obj, len(x))
		for i, o := range x {
			out[i] = renamePrefixes(o, ren).(obj)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[re(k)] = renamePrefixes(e, ren)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = renamePrefixes(e, ren)
		}
		return out
	case []json.RawMessage:
		out := make([]any, len(x))
		for i, r := range x {
			out[i] = renamePrefixes(decodeAny(r), ren)
		}
		return out
	case json.RawMessage:
		return renamePrefixes(decodeAny(x), ren)
	}
	return v
}
