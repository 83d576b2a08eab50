package serials_test

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

	"github.com/serialine/serialine/shared/serials"
)

// BenchmarkRandomizedSerial measures one randomized serial (ns/op is
// ns/serial) in each mode of the permutation.
func BenchmarkRandomizedSerial(b *testing.B) {
	for _, tc := range []struct {
		name string
		spec serials.Spec
	}{
		{"numeric12", serials.Spec{Length: 12}},
		{"sgtin96-12", serials.Spec{Length: 12, SGTIN96: true}},
		{"alphanumeric20", serials.Spec{Length: 20, Alphabet: "alphanumeric"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tc.spec.Kind, tc.spec.Key = serials.KindRandomized, testKey
			s := mustNew(b, tc.spec)
			buf := make([]byte, 0, 32)
			var c uint64
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = s.Serial(buf[:0], c)
				c++
			}
		})
	}
}

func BenchmarkSequentialSerial(b *testing.B) {
	s := mustNew(b, serials.Spec{Kind: serials.KindSequential, Length: 12, Start: 1})
	buf := make([]byte, 0, 32)
	var c uint64
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.Serial(buf[:0], c)
		c++
	}
}

// BenchmarkGenerate500k is the time to produce 500,000 randomized serials
// (a day of a 400/min line is about 576,000), as one goroutine does.
func BenchmarkGenerate500k(b *testing.B) {
	const n = 500_000
	s := mustNew(b, serials.Spec{Kind: serials.KindRandomized, Length: 12, Key: testKey})
	out := make([]byte, 0, n*12)
	var err error
	for b.Loop() {
		out = out[:0]
		for c := range uint64(n) {
			if out, err = s.Serial(out, c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/500k")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "serials/s")
}

func BenchmarkParseList100k(b *testing.B) {
	const n = 100_000
	var csv bytes.Buffer
	csv.WriteString("gtin,serial,note\n")
	for i := range n {
		fmt.Fprintf(&csv, "09506000134352,%s,ok\n", strconv.FormatUint(uint64(i)*7919+100_000_000_000, 36))
	}
	data := csv.Bytes()
	spec := serials.ListSpec{GTIN: "09506000134352", Alphabet: "", Length: 0}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := serials.ParseList(bytes.NewReader(data), spec)
		if err != nil || len(got) != n {
			b.Fatalf("ParseList: %d serials, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/100k")
}
