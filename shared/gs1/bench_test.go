package gs1_test

import (
	"testing"

	"github.com/serialine/serialine/shared/gs1"
)

// A typical pharma pack as a DataMatrix reader sends it: GTIN, expiry, lot,
// serial.
const benchScan = "]d2" + "0109506000134352" + "17270531" + "10LOT2025-07A" + gsc + "21K7QX2M9P4R"

func BenchmarkParseTransmitted(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gs1.ParseTransmitted(benchScan); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseBracketed(b *testing.B) {
	s := "(01)09506000134352(17)270531(10)LOT2025-07A(21)K7QX2M9P4R"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gs1.ParseBracketed(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendTransmitted builds one unit's element string into a reused
// buffer, as the print path does: no allocation.
func BenchmarkAppendTransmitted(b *testing.B) {
	unit := gs1.ElementString{
		{AI: "01", Value: "09506000134352"},
		{AI: "17", Value: "270531"},
		{AI: "10", Value: "LOT2025-07A"},
		{AI: "21", Value: "K7QX2M9P4R"},
	}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = unit.AppendTransmitted(buf[:0])
	}
	if len(buf) != 50 {
		b.Fatalf("built %d bytes: %q", len(buf), buf)
	}
}

func BenchmarkDigitalLink(b *testing.B) {
	unit := gs1.ElementString{
		{AI: "01", Value: "09506000134352"},
		{AI: "17", Value: "270531"},
		{AI: "10", Value: "LOT2025-07A"},
		{AI: "21", Value: "K7QX2M9P4R"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unit.DigitalLink(""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDigitalLink(b *testing.B) {
	uri := "https://id.gs1.org/01/09506000134352/10/LOT2025-07A/21/K7QX2M9P4R?17=270531"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gs1.ParseDigitalLink(uri); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckDigit(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gs1.CheckDigit("0950600013435"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSGTINURI(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gs1.SGTINURI("09506000134352", "K7QX2M9P4R", 7); err != nil {
			b.Fatal(err)
		}
	}
}
