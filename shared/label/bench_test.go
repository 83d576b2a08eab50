package label

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchLabel is a typical pharmaceutical pack label.
var benchLabel = Label{
	Data: "0109506000134352" + "17271231" + "10ABC123\x1d" + "21XYZ1234567890",
	GS1:  true,
	Text: []string{"GTIN 09506000134352", "LOT ABC123", "EXP 2027-12-31", "SN XYZ1234567890"},
}

func BenchmarkRender(b *testing.B) {
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		require.NoError(b, RenderPNG(&buf, benchLabel, Options{DPI: 300}))
	}
	b.ReportMetric(float64(buf.Len()), "png-bytes")
}

func BenchmarkEncodeDataMatrix(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		m, err := EncodeDataMatrix(benchLabel.Data, true)
		require.NoError(b, err)
		require.Equal(b, 22, m.Cols)
	}
}

func BenchmarkDecode(b *testing.B) {
	img, err := Render(benchLabel, Options{DPI: 300})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		d, err := Decode(img)
		require.NoError(b, err)
		require.Equal(b, benchLabel.Data, d.Data)
	}
}
