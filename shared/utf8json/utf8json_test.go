package utf8json_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/utf8json"
)

func TestCheck(t *testing.T) {
	require.NoError(t, utf8json.Check([]byte(`{"name": "Zürich ✓"}`)))
	for _, c := range []struct {
		name, doc, field string
		key              bool
	}{
		{"top-level value", "{\"name\": \"Z\xfcrich\"}", "name", false},
		{"after other fields", "{\"a\": 1, \"b\": [true, null], \"lot\": \"L\xff\"}", "lot", false},
		{"nested", "{\"scheme\": {\"kind\": \"x\", \"key\": \"\xc3\"}}", "scheme.key", false},
		{"in an array", "{\"lines\": [{\"lot\": \"ok\"}, {\"gtin\": \"1\", \"lot\": \"\xe2\x82\"}]}", "lines[1].lot", false},
		{"array of strings", "{\"serials\": [\"a\", \"b\", \"\x80\"]}", "serials[2]", false},
		{"a key", "{\"ok\": 1, \"n\xe9\": 2}", "", true},
		{"a nested key", "{\"o\": {\"n\xe9\": 2}}", "o", true},
		{"broken JSON", "{\"x\": tru\xff}", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := utf8json.Check([]byte(c.doc))
			var ue *utf8json.Error
			require.True(t, errors.As(err, &ue), "%v", err)
			require.Equal(t, c.field, ue.Field)
			require.Equal(t, c.key, ue.Key)
			require.Contains(t, err.Error(), "not valid UTF-8")
		})
	}
}
