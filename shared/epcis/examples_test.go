package epcis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

const examplesDir = "../../../shared/validators/epcis/examples"

func exampleFiles(tb testing.TB, sub, pattern string) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, sub, pattern))
	require.NoError(tb, err)
	if len(files) == 0 {
		tb.Skipf("SKIPPED: GS1 examples not found under %s", examplesDir)
	}
	return files
}

// normalise decodes JSON into generic values so that key order and number
// spelling do not matter when comparing.
func normalise(tb testing.TB, b []byte) any {
	tb.Helper()
	var v any
	require.NoError(tb, json.Unmarshal(b, &v))
	return v
}

func TestGS1JSONExamplesRoundTrip(t *testing.T) {
	for _, f := range exampleFiles(t, "json", "*.jsonld") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			d, err := ParseJSONLD(src)
			require.NoError(t, err)
			require.NotEmpty(t, d.Events)

			out, err := MarshalJSONLD(d)
			require.NoError(t, err)
			p := testkit.WriteTemp(t, "out.jsonld", out)
			msg, code := testkit.RunValidator(t, "validate-epcis-json", "--schema", "modular", p)
			require.Equal(t, 0, code, "re-marshalled %s fails GS1's JSON Schema:\n%s\n%s", f, msg, out)

			// JSON -> Event -> JSON keeps every event field.
			back, err := ParseJSONLD(out)
			require.NoError(t, err)
			require.Equal(t, len(d.Events), len(back.Events))
			for i := range d.Events {
				a, _ := json.Marshal(eventJSON(&d.Events[i]))
				b, _ := json.Marshal(eventJSON(&back.Events[i]))
				require.Equal(t, normalise(t, a), normalise(t, b), "event %d", i)
			}
			orig := eventsOf(t, src)
			again := eventsOf(t, out)
			for i := range orig {
				require.Equal(t, canonicalEventJSON(orig[i]), canonicalEventJSON(again[i]), "event %d differs from GS1's original", i)
			}
		})
	}
}

// eventsOf pulls the generic event objects out of a document.
func eventsOf(tb testing.TB, b []byte) []map[string]any {
	tb.Helper()
	root := normalise(tb, b).(map[string]any)
	body := root["epcisBody"].(map[string]any)
	list, ok := body["eventList"].([]any)
	if !ok {
		list = body["queryResults"].(map[string]any)["resultsBody"].(map[string]any)["eventList"].([]any)
	}
	out := make([]map[string]any, len(list))
	for i, x := range list {
		out[i] = x.(map[string]any)
	}
	return out
}
