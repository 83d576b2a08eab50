package epcis

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HashID returns the CBV 2.0 event hash ID of e:
// "ni:///sha-256;<hex>?ver=CBV2.0" over PreHashString(e).
func HashID(e Event) (string, error) {
	pre, err := PreHashString(e)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(pre))
	return "ni:///sha-256;" + hex.EncodeToString(sum[:]) + "?ver=CBV2.0", nil
}

// hashTime renders a time in UTC with milliseconds and "Z".
func hashTime(t time.Time) string {
	return t.UTC().Round(time.Millisecond).Format("2006-01-02T15:04:05.000Z")
}

// canonValue normalises a free value: CBV URNs to web URIs, numbers without
// trailing zeros, EPC URIs to Digital Link.
func canonValue(s string) string {
	s = strings.TrimSpace(s)
	s = cbvURNToWeb(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	if dl, ok := toDigitalLink(s); ok {
		return dl
	}
	return s
}

func canonEPC(s string) string {
	if dl, ok := toDigitalLink(strings.TrimSpace(s)); ok {
		return dl
	}
	return strings.TrimSpace(s)
}

func sortedJoin(parts []string) string {
	sort.Strings(parts)
	return strings.Join(parts, "")
}

func epcPart(name string, l []string) string {
	if len(l) == 0 {
		return ""
	}
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = "epc=" + canonEPC(x)
	}
	return name + sortedJoin(parts)
}

func qtyPart(name string, q []QuantityElement) string {
	if len(q) == 0 {
		return ""
	}
	parts := make([]string, len(q))
	for i, x := range q {
		p := "quantityElementepcClass=" + canonEPC(x.EPCClass)
		if x.Quantity != nil {
			p += "quantity=" + strconv.FormatFloat(*x.Quantity, 'f', -1, 64)
		}
		if x.UOM != "" {
			p += "uom=" + x.UOM
		}
		parts[i] = p
	}
	return name + sortedJoin(parts)
}

func kvPart(k, v string) string {
	if v == "" {
		return ""
	}
	return k + "=" + v
}

// nsIRI normalises a namespace so that JSON-LD ("…/epcis/") and XML ("…/epcis")
// spellings of the same namespace agree.
func nsIRI(s string) string { return strings.TrimRight(s, "/#:") }

// qname turns "prefix:local" into "{namespace}local".
func qname(k string, ns map[string]string) string {
	pre, local, ok := strings.Cut(k, ":")
	if !ok {
		return k
	}
	iri, found := ns[pre]
	if !found {
		iri, found = contextPrefixes[pre]
	}
	if !found {
		return k
	}
	return "{" + nsIRI(iri) + "}" + local
}

// genericPart renders a generic (extension) value: name=value for leaves,
// name followed by its sorted children otherwise.
func genericPart(name string, v any, ns map[string]string) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, 0, len(x))
		for _, i := range x {
			parts = append(parts, genericPart(name, i, ns))
		}
		return sortedJoin(parts)
	case map[string]any:
		parts := make([]string, 0, len(x))
		text := ""
		for k, c := range x {
			if k == "#text" {
				text = "=" + canonValue(fmt.Sprint(c))
				continue
			}
			if strings.HasPrefix(k, "@") {
				continue
			}
			parts = append(parts, genericPart(qname(k, ns), c, ns))
		}
		return name + text + sortedJoin(parts)
	case nil:
		return ""
	case float64:
		return name + "=" + strconv.FormatFloat(x, 'f', -1, 64)
	default:
		s := strings.TrimSpace(fmt.Sprint(x))
		if s == "" {
			return name
		}
		lname := strings.ToLower(name[strings.LastIndex(name, "}")+1:])
		if strings.Contains(lname, "time") && !strings.Contains(lname, "offset") {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return name + "=" + hashTime(t)
			}
		}
		return name + "=" + canonValue(s)
	}
}

var (
	sensorMetaOrder   = []string{"time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "bizRules"}
	sensorReportOrder = []string{"type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "time", "microorganism", "chemicalSubstance", "value", "component", "stringValue", "booleanValue", "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue", "uom", "coordinateReferenceSystem"}
)

func orderedPart(m map[string]any, order []string, ns map[string]string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, k := range order {
		seen[k] = true
		v, ok := m[k]
		if !ok {
			continue
		}
		s := fmt.Sprint(v)
		if f, ok := v.(float64); ok {
			s = strconv.FormatFloat(f, 'f', -1, 64)
		}
		switch {
		case strings.Contains(strings.ToLower(k), "time"):
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				s = hashTime(t)
			}
		case k == "type" || k == "exception":
			if !strings.Contains(s, ":") {
				s = "gs1:" + s
			}
			s = strings.Replace(s, "gs1:", NSGS1, 1)
		default:
			s = canonValue(s)
		}
		b.WriteString(k + "=" + s)
	}
	var rest []string
	for k, v := range m {
		if !seen[k] {
			rest = append(rest, genericPart(qname(k, ns), v, ns))
		}
	}
	return b.String() + sortedJoin(rest)
}

func sensorPart(l []json.RawMessage, ns map[string]string) (string, error) {
	if len(l) == 0 {
		return "", nil
	}
	parts := make([]string, len(l))
	for i, raw := range l {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return "", fmt.Errorf("epcis: hash: sensorElementList[%d]: %w", i, err)
		}
		p := "sensorElement"
		if md, ok := m["sensorMetadata"].(map[string]any); ok {
			p += "sensorMetadata" + orderedPart(md, sensorMetaOrder, ns)
		}
		var reps []string
		if rl, ok := m["sensorReport"].([]any); ok {
			for _, r := range rl {
				if rm, ok := r.(map[string]any); ok {
					reps = append(reps, "sensorReport"+orderedPart(rm, sensorReportOrder, ns))
				}
			}
		}
		p += sortedJoin(reps)
		var ext []string
		for k, v := range m {
			if k != "sensorMetadata" && k != "sensorReport" {
				ext = append(ext, genericPart(qname(k, ns), v, ns))
			}
		}
		parts[i] = p + sortedJoin(ext)
	}
	return "sensorElementList" + sortedJoin(parts), nil
}

// PreHashString returns the canonical pre-hash string of e (CBV 2.0 §8.9).
func PreHashString(e Event) (string, error) {
	if e.EventTime.IsZero() {
		return "", fmt.Errorf("epcis: hash: eventTime is required")
	}
	ns := e.Namespaces
	var b strings.Builder
	b.WriteString("eventType=" + string(e.Type))
	b.WriteString("eventTime=" + hashTime(e.EventTime))
	b.WriteString("eventTimeZoneOffset=" + tzOffset(&e))
	b.WriteString(epcPart("epcList", e.EPCList))
	b.WriteString(kvPart("parentID", canonEPC(e.ParentID)))
	b.WriteString(epcPart("inputEPCList", e.InputEPCList))
	b.WriteString(epcPart("childEPCs", e.ChildEPCs))
	b.WriteString(qtyPart("quantityList", e.QuantityList))
	b.WriteString(qtyPart("childQuantityList", e.ChildQuantityList))
	b.WriteString(qtyPart("inputQuantityList", e.InputQuantityList))
	b.WriteString(epcPart("outputEPCList", e.OutputEPCList))
	b.WriteString(qtyPart("outputQuantityList", e.OutputQuantityList))
	b.WriteString(kvPart("action", e.Action))
	b.WriteString(kvPart("transformationID", canonValue(e.TransformationID)))
	if e.BizStep != "" {
		b.WriteString("bizStep=" + bizSteps.webOf(e.BizStep))
	}
	if e.Disposition != "" {
		b.WriteString("disposition=" + dispositions.webOf(e.Disposition))
	}
	if pd := e.PersistentDisposition; pd != nil && len(pd.Set)+len(pd.Unset) > 0 {
		var set, unset []string
		for _, s := range pd.Set {
			set = append(set, "set="+dispositions.webOf(s))
		}
		for _, s := range pd.Unset {
			unset = append(unset, "unset="+dispositions.webOf(s))
		}
		b.WriteString("persistentDisposition" + sortedJoin(set) + sortedJoin(unset))
	}
	if e.ReadPoint != "" {
		b.WriteString("readPointid=" + canonEPC(e.ReadPoint))
	}
	if e.BizLocation != "" {
		b.WriteString("bizLocationid=" + canonEPC(e.BizLocation))
	}
	if len(e.BizTransactionList) > 0 {
		parts := make([]string, len(e.BizTransactionList))
		for i, t := range e.BizTransactionList {
			p := ""
			if t.Type != "" {
				p = "type=" + bizTxTypes.webOf(t.Type)
			}
			parts[i] = p + "bizTransaction=" + canonValue(t.Value)
		}
		b.WriteString("bizTransactionList" + sortedJoin(parts))
	}
	// GS1's reference implementation emits destinations before sources.
	for _, sd := range []struct {
		list, item string
		v          []SourceDest
	}{{"destinationList", "destination", e.DestinationList}, {"sourceList", "source", e.SourceList}} {
		if len(sd.v) == 0 {
			continue
		}
		parts := make([]string, len(sd.v))
		for i, s := range sd.v {
			parts[i] = "type=" + sdTypes.webOf(s.Type) + sd.item + "=" + canonEPC(s.Value)
		}
		b.WriteString(sd.list + sortedJoin(parts))
	}
	sp, err := sensorPart(e.SensorElementList, ns)
	if err != nil {
		return "", err
	}
	b.WriteString(sp)

	// Everything else, sorted: errorDeclaration, ilmd, user extensions.
	var rest []string
	if ed := e.ErrorDeclaration; ed != nil {
		p := "errorDeclarationdeclarationTime=" + hashTime(ed.DeclarationTime)
		var inner []string
		if ed.Reason != "" {
			inner = append(inner, "reason="+errReasons.webOf(ed.Reason))
		}
		if len(ed.CorrectiveEventIDs) > 0 {
			ids := make([]string, len(ed.CorrectiveEventIDs))
			for i, id := range ed.CorrectiveEventIDs {
				ids[i] = "correctiveEventID=" + strings.TrimSpace(id)
			}
			inner = append(inner, "correctiveEventIDs"+sortedJoin(ids))
		}
		for k, v := range ed.Extensions {
			inner = append(inner, genericPart(qname(k, ns), v, ns))
		}
		rest = append(rest, p+sortedJoin(inner))
	}
	if len(e.ILMD) > 0 {
		var inner []string
		for k, v := range e.ILMD {
			inner = append(inner, genericPart(qname(k, ns), v, ns))
		}
		rest = append(rest, "ilmd"+sortedJoin(inner))
	}
	for k, v := range e.Extensions {
		rest = append(rest, genericPart(qname(k, ns), v, ns))
	}
	b.WriteString(sortedJoin(rest))
	return b.String(), nil
}
