package wholeline_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// validFMD checks an EU FMD data set document against the schema we
// publish (docs/schemas/eu-fmd-dataset.schema.json), compiled by
// santhosh-tekuri/jsonschema (not our code), and returns it parsed.
func validFMD[T any](tb testing.TB, body []byte) T {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "schemas", "eu-fmd-dataset.schema.json"))
	require.NoError(tb, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(tb, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(tb, c.AddResource("eu-fmd-dataset.schema.json", doc))
	sc, err := c.Compile("eu-fmd-dataset.schema.json")
	require.NoError(tb, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(tb, err, "%s", body)
	require.NoError(tb, sc.Validate(inst), "%s", body)
	var out T
	require.NoError(tb, json.Unmarshal(body, &out))
	return out
}
