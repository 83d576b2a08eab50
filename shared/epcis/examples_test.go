package epcis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

// examplesDir holds GS1's EPCIS example documents in the validators kit
// beside the repository; gs1Copies holds the ones committed unchanged with
// their recorded hashes, so that the examples are read without the kit.
const (
	examplesDir = "../../../shared/validators/epcis/examples"
	gs1Copies   = "testdata/hashref/gs1"
)

// exampleFiles lists GS1's examples of one binding (sub "json" or "xml"):
// the committed copies, and those of the kit (when present) that are not
// committed (a master data document without events).
func exampleFiles(tb testing.TB, sub, pattern string) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(gs1Copies, pattern))
	require.NoError(tb, err)
	require.NotEmpty(tb, files, "no GS1 examples under %s", gs1Copies)
	have := map[string]bool{}
	for _, f := range files {
		have[filepath.Base(f)] = true
	}
	kit, err := filepath.Glob(filepath.Join(examplesDir, sub, pattern))
	require.NoError(tb, err)
	for _, f := range kit {
		if !have[filepath.Base(f)] {
			files = append(files, f)
		}
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
			t.Run("GS1 JSON Schema", func(t *testing.T) {
				p := testkit.WriteTemp(t, "out.jsonld", out)
				msg, code := testkit.RunValidator(t, "validate-epcis-json", "--schema", "modular", p)
				require.Equal(t, 0, code, "re-marshalled %s fails GS1's JSON Schema:\n%s\n%s", f, msg, out)
			})

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
