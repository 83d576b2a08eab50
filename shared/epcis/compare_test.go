package epcis

import (
	"time"
)

// canonicalEventJSON normalises a generic JSON event the way the standard
// says two spellings are equal: CBV values bare, times as instants, readPoint
// strings as {id}, no @context.
func canonicalEventJSON(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch k {
		case "@context":
			continue
		case "isA":
			k = "type"
		case "bizStep":
			v = bizSteps.bare(v.(string))
		case "disposition":
			v = dispositions.bare(v.(string))
		case "eventTime", "recordTime":
			v = instant(v)
		case "readPoint", "bizLocation":
			if s, ok := v.(string); ok {
				v = map[string]any{"id": s}
			}
		case "errorDeclaration":
			ed := map[string]any{}
			for ek, ev := range v.(map[string]any) {
				switch ek {
				case "declarationTime":
					ev = instant(ev)
				case "reason":
					ev = errReasons.bare(ev.(string))
				}
				ed[ek] = ev
			}
			v = ed
		case "bizTransactionList", "sourceList", "destinationList":
			var l []any
			for _, x := range v.([]any) {
				xm := map[string]any{}
				for xk, xv := range x.(map[string]any) {
					if xk == "type" {
						xv = bizTxTypes.bare(sdTypes.bare(xv.(string)))
					}
					xm[xk] = xv
				}
				l = append(l, xm)
			}
			v = l
		case "persistentDisposition":
			pd := map[string]any{}
			for pk, pv := range v.(map[string]any) {
				var l []any
				for _, x := range pv.([]any) {
					l = append(l, dispositions.bare(x.(string)))
				}
				pd[pk] = l
			}
			v = pd
		}
		out[k] = v
	}
	return out
}

func instant(v any) any {
	t, err := time.Parse(time.RFC3339Nano, v.(string))
	if err != nil {
		return v
	}
	return t.UTC().Format(time.RFC3339Nano)
}
