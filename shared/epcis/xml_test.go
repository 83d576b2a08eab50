package epcis

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

func TestGS1XMLExamplesRoundTrip(t *testing.T) {
	for _, f := range exampleFiles(t, "xml", "*.xml") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			d, err := ParseXML(src)
			require.NoError(t, err)

			out, err := MarshalXML(d)
			require.NoError(t, err)
			t.Run("GS1 XSD", func(t *testing.T) {
				msg, code := testkit.RunValidator(t, "validate-epcis-xml", testkit.WriteTemp(t, "out.xml", out))
				require.Equal(t, 0, code, "re-marshalled XML fails GS1's XSD:\n%s\n%s", msg, out)
			})

			back, err := ParseXML(out)
			require.NoError(t, err)
			require.Len(t, back.Events, len(d.Events))
			for i := range d.Events {
				a, err := HashID(d.Events[i])
				require.NoError(t, err)
				b, err := HashID(back.Events[i])
				require.NoError(t, err)
				require.Equal(t, a, b, "event %d changed in the XML round trip", i)
			}
		})
	}
}
