package labeltool

import (
	"strconv"
	"testing"

	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/shared/gs1"
)

// BenchmarkUnitPrintJob builds one unit's print job as the line does per
// trigger: the element string with the next serial, the human-readable lines
// and the ZPL recall job. Target: under 20 µs.
func BenchmarkUnitPrintJob(b *testing.B) {
	layout, err := zpl.LayoutFor(300, 0, 4)
	if err != nil {
		b.Fatal(err)
	}
	es := gs1.ElementString{{AI: "01", Value: "09506000134352"}, {AI: "17", Value: "271231"}, {AI: "10", Value: "ABC123"}, {AI: "21", Value: ""}}
	text := []string{"GTIN 09506000134352", "LOT ABC123", "EXP 2027-12-31", ""}
	var data, sn, job []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		sn = strconv.AppendInt(sn[:0], int64(100000000+i), 10)
		es[3].Value = string(sn)
		text[3] = "SN " + es[3].Value
		data = es.AppendTransmitted(data[:0])
		job = layout.AppendRecall(job[:0], zpl.Fields{Data: string(data), Text: text})
	}
	b.ReportMetric(float64(len(job)), "bytes/job")
}
