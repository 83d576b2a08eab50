package scanner

import (
	"testing"
)

// benchFormat is a common verifier set-up: ]d2 identifier, GS shown as
// <GS>, letter grade appended.
var benchFormat = Format{GS: "<GS>", SymbologyID: true, Grade: GradeLetter}

func BenchmarkDecodeLine(b *testing.B) {
	for _, bc := range []struct {
		name   string
		format Format
	}{
		{"raw-GS", Format{}},
		{"symid-substGS-grade", benchFormat},
	} {
		line := bc.format.Encode(nil, Result{Data: pharmaData, GS1: true, Grade: GradeB})
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				r, err := bc.format.Decode(line, at)
				if err != nil || r.Data != pharmaData {
					b.Fatal(r, err)
				}
			}
		})
	}
}

func BenchmarkEncodeLine(b *testing.B) {
	for _, bc := range []struct {
		name   string
		format Format
	}{
		{"raw-GS", Format{}},
		{"symid-substGS-grade", benchFormat},
	} {
		r := Result{Data: pharmaData, GS1: true, Grade: GradeB}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 128)
			for b.Loop() {
				buf = bc.format.Encode(buf[:0], r)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
