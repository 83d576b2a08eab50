package epcis

import (
	"encoding/json"
	"strings"
	"sync"
)

// gs1SensorTerms holds, for a sensorReport's "type" and "exception", the
// bare names GS1's context defines as terms ("Temperature" for
// gs1:Temperature). Only these may be written bare in JSON-LD: any other
// bare name ("Humidity") is no GS1 value there and fails GS1's JSON Schema,
// so an XML "gs1:Humidity" must stay as written.
var gs1SensorTerms = sync.OnceValue(func() map[string]map[string]bool {
	out := map[string]map[string]bool{"type": {}, "exception": {}}
	var root map[string]any
	if err := json.Unmarshal(gs1ContextJSON, &root); err != nil {
		return out // the embedded context is valid JSON (the hash tests read it)
	}
	obj := func(v any, k string) map[string]any {
		m, _ := v.(map[string]any)
		x, _ := m[k].(map[string]any)
		return x
	}
	report := obj(obj(obj(obj(root, "@context"), "sensorElementList"), "@context"), "sensorReport")
	for field := range out {
		for name, v := range obj(obj(obj(report, "@context"), field), "@context") {
			if s, ok := v.(string); ok && s == "gs1:"+name {
				out[field][name] = true
			}
		}
	}
	return out
})

// bareSensorValue is how a sensorReport's type or exception read from XML
// is kept: bare where GS1's context has the term, else as written.
func bareSensorValue(field, v string) string {
	if bare, ok := strings.CutPrefix(v, "gs1:"); ok && gs1SensorTerms()[field][bare] {
		return bare
	}
	return v
}
