package zpl

import (
	"testing"
)

// BenchmarkAppendRecall builds one unit's print job into a reused buffer and
// reports the bytes per unit and their wire time at 115,200 and 9,600 baud.
func BenchmarkAppendRecall(b *testing.B) {
	l := DefaultLayout(8)
	f := sampleFields()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = l.AppendRecall(buf[:0], f)
	}
	n := len(buf)
	b.SetBytes(int64(n))
	b.ReportMetric(float64(n), "bytes/unit")
	b.ReportMetric(float64(WireTime(n, 115200).Microseconds())/1000, "wire-ms@115200")
	b.ReportMetric(float64(WireTime(n, 9600).Microseconds())/1000, "wire-ms@9600")
	b.ReportMetric(float64(len(l.Standalone(f))), "bytes/standalone-label")
}

// BenchmarkParse parses one unit's recall job against a stored format, as the
// printer simulator does per unit.
func BenchmarkParse(b *testing.B) {
	l := DefaultLayout(8)
	p := quietParser(b)
	if _, _, err := p.Feed(l.Format()); err != nil {
		b.Fatal(err)
	}
	job := l.AppendRecall(nil, sampleFields())
	b.SetBytes(int64(len(job)))
	b.ReportAllocs()
	for b.Loop() {
		labels, _, err := p.Feed(job)
		if err != nil || len(labels) != 1 {
			b.Fatalf("labels %d, err %v", len(labels), err)
		}
	}
}

// BenchmarkParseStandalone parses a whole self-contained label.
func BenchmarkParseStandalone(b *testing.B) {
	l := DefaultLayout(8)
	p := quietParser(b)
	label := l.Standalone(sampleFields())
	b.SetBytes(int64(len(label)))
	b.ReportAllocs()
	for b.Loop() {
		labels, _, err := p.Feed(label)
		if err != nil || len(labels) != 1 {
			b.Fatalf("labels %d, err %v", len(labels), err)
		}
	}
}
