package epcis

import (
	"strings"
)

// vocab describes one CBV 2.0 vocabulary: its URN prefix, its web URI prefix
// and the standard values.
type vocab struct {
	name   string // what Validate calls it: "business step"
	urn    string // "urn:epcglobal:cbv:bizstep:"
	web    string // "https://ref.gs1.org/cbv/BizStep-"
	values map[string]bool
}

func set(vals ...string) map[string]bool {
	m := make(map[string]bool, len(vals))
	for _, v := range vals {
		m[v] = true
	}
	return m
}

// The CBV 2.0 vocabularies. They are read-only after initialisation.
var (
	bizSteps = vocab{"business step", "urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-", set(
		"accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
		"creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
		"disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
		"installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
		"repackaging", "repairing", "replacing", "reserving", "retail_selling", "sampling",
		"sensor_reporting", "shipping", "staging_outbound", "stock_taking", "stocking", "storing",
		"transporting", "unloading", "unpacking", "void_shipping")}
	dispositions = vocab{"disposition", "urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-", set(
		"active", "available", "completeness_inferred", "completeness_verified", "conformant",
		"container_closed", "container_open", "damaged", "destroyed", "dispensed", "disposed",
		"encoded", "expired", "in_progress", "in_transit", "inactive", "mismatch_instance",
		"mismatch_class", "mismatch_quantity", "needs_replacement", "no_pedigree_match",
		"non_conformant", "non_sellable_other", "partially_dispensed", "recalled", "reserved",
		"retail_sold", "returned", "sellable_accessible", "sellable_not_accessible", "stolen",
		"unavailable", "unknown")}
	bizTxTypes = vocab{"business transaction type", "urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-", set(
		"bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv", "rma",
		"testprd", "testres", "upevt")}
	sdTypes = vocab{"source/destination type", "urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-", set(
		"owning_party", "possessing_party", "location")}
	errReasons = vocab{"error reason", "urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-", set(
		"did_not_occur", "incorrect_data")}
)

// webAliases are older web-URI spellings GS1 published before CBV 2.0
// final, and misspellings in GS1's own examples.
var webAliases = []struct{ from, to string }{
	{"https://ns.gs1.org/cbv/BizStep-", "https://ref.gs1.org/cbv/BizStep-"},
	{"https://ns.gs1.org/cbv/Disp-", "https://ref.gs1.org/cbv/Disp-"},
	{"https://ns.gs1.org/cbv/BTT-", "https://ref.gs1.org/cbv/BTT-"},
	{"https://ns.gs1.org/cbv/SDT-", "https://ref.gs1.org/cbv/SDT-"},
	{"https://ns.gs1.org/cbv/ER-", "https://ref.gs1.org/cbv/ER-"},
	{"https://gs1.org/voc/BizStep-", "https://ref.gs1.org/cbv/BizStep-"},
	// GS1's SensorDataExamples.xml spells it so.
	{"https://ref.gs1.org/cbv/Bizstep-", "https://ref.gs1.org/cbv/BizStep-"},
	{"https://gs1.org/voc/Disp-", "https://ref.gs1.org/cbv/Disp-"},
}

// bare turns any spelling of a CBV value (bare, URN, web URI, "cbv:" CURIE)
// into its bare form. Values that are not of this vocabulary (private URIs)
// come back unchanged.
func (v *vocab) bare(s string) string {
	s = strings.TrimSpace(s)
	for _, a := range webAliases {
		if strings.HasPrefix(s, a.from) {
			s = a.to + s[len(a.from):]
		}
	}
	switch {
	case strings.HasPrefix(s, v.urn):
		return s[len(v.urn):]
	case strings.HasPrefix(s, v.web):
		return s[len(v.web):]
	case strings.HasPrefix(s, "cbv:"+v.web[len("https://ref.gs1.org/cbv/"):]):
		return s[len("cbv:")+len(v.web)-len("https://ref.gs1.org/cbv/"):]
	}
	return s
}

// canon is the form values are kept in: bare for the exact URN, web URI
// and "cbv:" forms (which hash alike in both bindings), anything else as
// written (older web spellings included, so that their hash IDs survive).
func (v *vocab) canon(s string) string {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, v.urn):
		return s[len(v.urn):]
	case strings.HasPrefix(s, v.web):
		return s[len(v.web):]
	case strings.HasPrefix(s, "cbv:"+v.web[len("https://ref.gs1.org/cbv/"):]):
		return s[len("cbv:")+len(v.web)-len("https://ref.gs1.org/cbv/"):]
	}
	return s
}

// isBare reports whether s looks like a bare vocabulary word (no scheme).
func isBare(s string) bool { return s != "" && !strings.Contains(s, ":") }

// urnOf gives the URN form for XML; private URIs pass through.
func (v *vocab) urnOf(s string) string {
	if isBare(s) {
		return v.urn + s
	}
	return s
}

// check reports why s is not acceptable in this vocabulary, or "".
func (v *vocab) check(s string) string {
	b := v.bare(s)
	if isBare(b) {
		if !v.values[b] {
			return "is not a CBV 2.0 " + v.name
		}
		return ""
	}
	// A private vocabulary must be an absolute URI outside GS1's own spaces.
	if strings.HasPrefix(b, "urn:epcglobal:cbv:") || strings.HasPrefix(b, "https://ref.gs1.org/cbv/") {
		return "is not a CBV 2.0 " + v.name
	}
	if !isAbsURI(b) {
		return "is neither a CBV 2.0 " + v.name + " nor an absolute URI"
	}
	return ""
}

func isAbsURI(s string) bool {
	i := strings.IndexByte(s, ':')
	if i < 1 || i == len(s)-1 || strings.ContainsAny(s, " \t\r\n<>\"{}|\\^`") {
		return false
	}
	for j, c := range s[:i] {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')
		if !ok {
			return false
		}
	}
	return true
}
