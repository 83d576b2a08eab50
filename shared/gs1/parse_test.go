package gs1_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

// The GS1 General Specifications' and GS1 Digital Link standard's example
// element string: GTIN 09506000134352, expiry 20-12-25, lot ABC123, serial XYZ.
var genSpecExample = es("01", "09506000134352", "17", "201225", "10", "ABC123", "21", "XYZ")

func TestParseThreeForms(t *testing.T) {
	cases := []struct {
		name, in string
		want     gs1.ElementString
	}{
		{"bracketed", "(01)09506000134352(17)201225(10)ABC123(21)XYZ", genSpecExample},
		{"transmitted", "01095060001343521720122510ABC123" + gsc + "21XYZ", genSpecExample},
		{"transmitted ]d2", "]d201095060001343521720122510ABC123" + gsc + "21XYZ", genSpecExample},
		{"transmitted ]C1 (GS1-128)", "]C101095060001343521720122510ABC123" + gsc + "21XYZ", genSpecExample},
		{"transmitted ]Q3 (QR)", "]Q301095060001343521720122510ABC123" + gsc + "21XYZ", genSpecExample},
		{"transmitted ]e0 (DataBar)", "]e001095060001343521720122510ABC123" + gsc + "21XYZ", genSpecExample},
		{"transmitted leading GS", gsc + "01095060001343521720122510ABC123" + gsc + "21XYZ", genSpecExample},
		{"transmitted GS after fixed field tolerated", "0109506000134352" + gsc + "1720122510ABC123" + gsc + "21XYZ", genSpecExample},
		{"Digital Link", "https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ?17=201225",
			es("01", "09506000134352", "10", "ABC123", "21", "XYZ", "17", "201225")},
		{"Digital Link with stem and GTIN-13", "https://example.com/x/01/9506000134352/10/ABC123/21/XYZ?17=201225",
			es("01", "09506000134352", "10", "ABC123", "21", "XYZ", "17", "201225")},
		{"serial last, lot unterminated", "(01)09506000134352(21)XYZ(10)ABC123", es("01", "09506000134352", "21", "XYZ", "10", "ABC123")},
		{"SSCC alone", "(00)106141411234567897", es("00", "106141411234567897")},
		{"DSCSA NDC national number", "(01)00312345678906(17)270531(10)L1(21)S1(715)1234567890",
			es("01", "00312345678906", "17", "270531", "10", "L1", "21", "S1", "715", "1234567890")},
		{"logistic unit", "(00)106141411234567897(02)09506000134352(37)120(10)LOT7",
			es("00", "106141411234567897", "02", "09506000134352", "37", "120", "10", "LOT7")},
		{"ITIP with serial", "(8006)095060001343520102(21)X1", es("8006", "095060001343520102", "21", "X1")},
		{"expiry date and time", "(01)09506000134352(7003)2512312359", es("01", "09506000134352", "7003", "2512312359")},
		{"net weight", "(01)09506000134352(3103)000195", es("01", "09506000134352", "3103", "000195")},
		{"escaped bracket", `(01)09506000134352(10)A\(1)`, es("01", "09506000134352", "10", "A(1)")},
		{"identical duplicate tolerated", "(01)09506000134352(10)A(10)A", es("01", "09506000134352", "10", "A", "10", "A")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gs1.Parse(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseTransmittedSeparators(t *testing.T) {
	cases := []struct {
		name, in string
		want     gs1.ElementString
	}{
		// 8006 is 18 digits but not of predefined length: it needs a GS.
		{"non-predefined fixed size", "8006095060001343520102" + gsc + "21X", es("8006", "095060001343520102", "21", "X")},
		{"variable then fixed", "0109506000134352" + "10L1" + gsc + "17251231", es("01", "09506000134352", "10", "L1", "17", "251231")},
		{"all predefined, no separators", "0109506000134352" + "17251231" + "11240101", es("01", "09506000134352", "17", "251231", "11", "240101")},
		{"3-digit AI", "0109506000134352" + "235TPX1", es("01", "09506000134352", "235", "TPX1")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gs1.ParseTransmitted(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseDigitalLink(t *testing.T) {
	cases := []struct {
		name, in string
		want     gs1.ElementString
	}{
		// Examples of the GS1 Digital Link standard.
		{"GTIN only", "https://id.gs1.org/01/09520123456788", es("01", "09520123456788")},
		{"GTIN-13 on brand domain", "https://brand.example.com/01/9520123456788", es("01", "09520123456788")},
		{"stem", "https://brand.example.com/some-extra/pathinfo/01/9520123456788", es("01", "09520123456788")},
		{"CPV", "https://id.gs1.org/01/09520123456788/22/2A", es("01", "09520123456788", "22", "2A")},
		{"lot", "https://id.gs1.org/01/09520123456788/10/ABC123", es("01", "09520123456788", "10", "ABC123")},
		{"serial", "https://id.gs1.org/01/09520123456788/21/12345", es("01", "09520123456788", "21", "12345")},
		{"lot serial expiry", "https://id.gs1.org/01/09520123456788/10/ABC1/21/12345?17=180426",
			es("01", "09520123456788", "10", "ABC1", "21", "12345", "17", "180426")},
		{"weight and expiry", "https://example.com/01/9520123456788?3103=000195&17=201225",
			es("01", "09520123456788", "3103", "000195", "17", "201225")},
		{"SSCC with content", "https://id.gs1.org/00/106141411234567897?02=09520123456788&37=25&10=ABC123",
			es("00", "106141411234567897", "02", "09520123456788", "37", "25", "10", "ABC123")},
		{"GTIN-12", "https://a.example/01/416000336108", es("01", "00416000336108")},
		{"GTIN-8", "https://a.example/01/02345673", es("01", "00000002345673")},
		{"http and fragment", "http://a.example/01/09520123456788#frag", es("01", "09520123456788")},
		{"percent-decoding", "https://a.example/01/09520123456788/10/AB%2F1%25?17=201225", es("01", "09520123456788", "10", "AB/1%", "17", "201225")},
		{"lower-case hex", "https://a.example/01/09520123456788/10/AB%2f1", es("01", "09520123456788", "10", "AB/1")},
		{"non-numeric params ignored", "https://a.example/01/09520123456788?linkType=gs1:pip&17=201225&x", es("01", "09520123456788", "17", "201225")},
		{"extra ampersands", "https://a.example/01/09520123456788?&&17=201225&&", es("01", "09520123456788", "17", "201225")},
		{"fake key in stem", "https://a.example/00/faux/01/09520123456788", es("01", "09520123456788")},
		{"TPX qualifier", "https://a.example/01/09520123456788/235/TPX1", es("01", "09520123456788", "235", "TPX1")},
		{"GLN with extension", "https://a.example/414/0614141123452/254/DOCK%2D3", es("414", "0614141123452", "254", "DOCK-3")},
		{"ITIP", "https://a.example/8006/095201234567880102/21/S1", es("8006", "095201234567880102", "21", "S1")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gs1.ParseDigitalLink(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestTransmittedForm(t *testing.T) {
	cases := []struct {
		name string
		in   gs1.ElementString
		want string
	}{
		{"GS only between variable fields", genSpecExample, "01095060001343521720122510ABC123" + gsc + "21XYZ"},
		{"GS after a variable field before a fixed one", es("01", "09506000134352", "10", "ABC", "17", "201225"),
			"010950600013435210ABC" + gsc + "17201225"},
		{"no GS after last", es("01", "09506000134352", "21", "S"), "010950600013435221S"},
		{"GS after non-predefined fixed-size AI", es("8006", "095060001343520102", "21", "X"), "8006095060001343520102" + gsc + "21X"},
		{"predefined run", es("00", "106141411234567897", "02", "09506000134352", "37", "10"), "0010614141123456789702095060001343523710"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.in.Transmitted())
			require.Equal(t, tc.want, string(tc.in.AppendTransmitted(nil)))
			require.Equal(t, "]d2"+tc.want, string(tc.in.AppendTransmitted([]byte("]d2"))))
		})
	}
}

func TestBracketedForm(t *testing.T) {
	require.Equal(t, "(01)09506000134352(17)201225(10)ABC123(21)XYZ", genSpecExample.Bracketed())
	require.Equal(t, `(01)09506000134352(10)A\(B)`, es("01", "09506000134352", "10", "A(B)").Bracketed())
}

func TestSorted(t *testing.T) {
	in := es("01", "09506000134352", "10", "ABC", "21", "S1", "17", "201225", "715", "N1", "11", "240101")
	got := in.Sorted()
	require.Equal(t, es("01", "09506000134352", "17", "201225", "11", "240101", "10", "ABC", "21", "S1", "715", "N1"), got)
	require.Equal(t, "01095060001343521720122511240101"+"10ABC"+gsc+"21S1"+gsc+"715N1", got.Transmitted())
	require.Less(t, len(got.Transmitted()), len(in.Transmitted()))
	// The input is left as it was.
	require.Equal(t, "10", in[1].AI)
}

func TestGetAndMap(t *testing.T) {
	v, ok := genSpecExample.Get("10")
	require.True(t, ok)
	require.Equal(t, "ABC123", v)
	_, ok = genSpecExample.Get("22")
	require.False(t, ok)
	require.Equal(t, map[string]string{"01": "09506000134352", "17": "201225", "10": "ABC123", "21": "XYZ"}, genSpecExample.Map())
}

func TestDigitalLinkForm(t *testing.T) {
	cases := []struct {
		name, base string
		in         gs1.ElementString
		want       string
	}{
		{"default resolver, qualifiers ordered 22,10,21, expiry in query", "",
			es("01", "09506000134352", "17", "201225", "21", "XYZ", "10", "ABC123"),
			"https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ?17=201225"},
		{"own domain with stem, trailing slash", "https://example.com/dl/",
			genSpecExample, "https://example.com/dl/01/09506000134352/10/ABC123/21/XYZ?17=201225"},
		{"CPV first", "", es("01", "09506000134352", "21", "S", "22", "V1"), "https://id.gs1.org/01/09506000134352/22/V1/21/S"},
		{"escaping", "", es("01", "09506000134352", "10", "A/B", "21", "x%y&z?"),
			"https://id.gs1.org/01/09506000134352/10/A%2FB/21/x%25y%26z%3F"},
		{"several attributes in order", "", es("01", "09506000134352", "17", "201225", "3103", "000195", "715", "N1"),
			"https://id.gs1.org/01/09506000134352?17=201225&3103=000195&715=N1"},
		{"SSCC", "", es("00", "106141411234567897", "02", "09506000134352", "37", "25"),
			"https://id.gs1.org/00/106141411234567897?02=09506000134352&37=25"},
		{"TPX", "", es("01", "09506000134352", "235", "T1", "10", "L"),
			"https://id.gs1.org/01/09506000134352/235/T1?10=L"},
		{"GLN extension", "", es("414", "0614141123452", "254", "D3"), "https://id.gs1.org/414/0614141123452/254/D3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.DigitalLink(tc.base)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestDigitalLinkFormRejects(t *testing.T) {
	_, err := es("01", "09506000134353").DigitalLink("")
	requireRule(t, err, "01", gs1.RuleCheckDigit)

	_, err = es("8004", "0614141ASSET1", "410", "0614141123452").DigitalLink("")
	require.NoError(t, err)

	_, err = es("410", "0614141123452").DigitalLink("")
	requireRule(t, err, "", gs1.RuleSyntax)

	_, err = genSpecExample.DigitalLink("not a uri")
	requireRule(t, err, "", gs1.RuleSyntax)

	_, err = genSpecExample.DigitalLink("https://example.com/?q=1")
	requireRule(t, err, "", gs1.RuleSyntax)
}

func TestParseDetectsForm(t *testing.T) {
	// A lot may hold "://": transmitted data starts with digits, a URI with a letter.
	got, err := gs1.Parse("010950600013435210http://x")
	require.NoError(t, err)
	require.Equal(t, es("01", "09506000134352", "10", "http://x"), got)

	_, err = gs1.Parse("")
	requireRule(t, err, "", gs1.RuleSyntax)
}
