package epcis

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAppendJSONAsEncodingJSON: the one-pass writer writes what
// encoding/json writes.
func TestAppendJSONAsEncodingJSON(t *testing.T) {
	for _, v := range []any{
		"plain", "quote\" back\\slash", "<tag>&amp;", "tab\tnl\ncr\r\x01\x1f", "ünïcödé ✓", "bad\xffutf8", "line\u2028sep\u2029",
		[]string{"a", "b"}, map[string]any{"b": 1.5, "a": []any{true, nil, "x", json.Number("12.50")}, "c": map[string]any{"d": "e"}},
		json.RawMessage(`{"z": 1,  "a": [1, 2]}`), map[string]string{"y": "1", "x": "2"},
	} {
		var b bytes.Buffer
		require.NoError(t, appendJSON(&b, v))
		want, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, string(want), b.String(), "%#v", v)
	}
	var b bytes.Buffer
	require.Error(t, appendJSON(&b, json.Number("1x")))
	require.Error(t, appendJSON(&b, json.RawMessage(`{`)))
}
