package epcis

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func seed(f *testing.F, sub, pattern string) {
	for _, p := range exampleFiles(f, sub, pattern) {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
}

func FuzzParseJSONLD(f *testing.F) {
	seed(f, "json", "*.jsonld")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseJSONLD(b)
		if err != nil {
			return
		}
		out, err := MarshalJSONLD(d)
		require.NoError(t, err)
		_, err = ParseJSONLD(out)
		require.NoError(t, err, "re-marshalled document does not parse:\n%s", out)
	})
}

func FuzzParseXML(f *testing.F) {
	seed(f, "xml", "*.xml")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseXML(b)
		if err != nil {
			return
		}
		_, err = MarshalXML(d)
		require.NoError(t, err)
		_, err = MarshalJSONLD(d)
		require.NoError(t, err)
	})
}
