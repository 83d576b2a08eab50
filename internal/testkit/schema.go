package testkit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// Schema compiles the JSON schema at rel (from the module root) with
// santhosh-tekuri/jsonschema, an implementation independent of ours, with
// formats asserted.
func Schema(tb testing.TB, rel string) *jsonschema.Schema {
	tb.Helper()
	b, err := os.ReadFile(RepoFile(tb, rel))
	require.NoError(tb, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(tb, err, "schema %s", rel)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	name := filepath.Base(rel)
	require.NoError(tb, c.AddResource(name, doc), "schema %s", rel)
	sc, err := c.Compile(name)
	require.NoError(tb, err, "schema %s", rel)
	return sc
}

// RequireSchemaValid fails the test, showing body, unless body is JSON valid
// against the schema at rel (from the module root).
func RequireSchemaValid(tb testing.TB, rel string, body []byte) {
	tb.Helper()
	sc := Schema(tb, rel)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(tb, err, "%s", body)
	require.NoError(tb, sc.Validate(doc), "%s", body)
}
