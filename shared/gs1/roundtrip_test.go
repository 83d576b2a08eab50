package gs1_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

var roundTripCases = []struct {
	name string
	es   gs1.ElementString
}{
	{"GenSpec example", genSpecExample},
	{"EU FMD pack with PZN", es("01", "04150123456782", "21", "A1B2C3D4E5", "10", "L-2025/07", "17", "270600", "710", "12345678")},
	{"DSCSA pack with NDC", es("01", "00312345678906", "17", "270531", "10", "LOT1", "21", "100000000001", "715", "1234567890")},
	{"CSET 82 punctuation", es("01", "09506000134352", "10", `!"%&'()*+,-./:;<=>?_`, "21", "(x)")},
	{"maximum lengths", es("01", "09506000134352", "10", "ABCDEFGHIJKLMNOPQRST", "21", "12345678901234567890")},
	{"lot last", es("01", "09506000134352", "21", "S", "17", "251200", "10", "L")},
	{"SSCC logistic unit", es("00", "106141411234567897", "02", "09506000134352", "37", "120", "10", "L1", "17", "280100")},
	{"SSCC alone", es("00", "306141411234567891")},
	{"ITIP", es("8006", "095060001343520102", "21", "S1", "10", "L")},
	{"TPX", es("01", "09506000134352", "235", "TPX0001", "17", "251231")},
	{"CPV", es("01", "09506000134352", "22", "V2", "10", "L", "21", "S")},
	{"GLN with extension", es("414", "0614141123452", "254", "DOCK-3")},
	{"GIAI", es("8004", "0614141ASSET/9")},
	{"GRAI with serial", es("8003", "00614141123452S7")},
	{"measures", es("01", "09506000134352", "3103", "000195", "3302", "001200", "10", "L")},
	{"expiry time", es("01", "09506000134352", "7003", "2512312359", "10", "L")},
	{"all qualifier kinds with attributes", es("01", "09506000134352", "11", "240229", "15", "250200", "30", "12", "240", "ADD", "91", "internal", "21", "S")},
}

// Every form writes what its parser reads back: the bracketed and the
// transmitted forms give exactly the same list, the Digital Link form the
// same elements with the path (key and qualifiers) first.
func TestRoundTrips(t *testing.T) {
	for _, tc := range roundTripCases {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.es.Validate())

			got, err := gs1.Parse(tc.es.Bracketed())
			require.NoError(t, err)
			require.Equal(t, tc.es, got)

			got, err = gs1.Parse(tc.es.Transmitted())
			require.NoError(t, err)
			require.Equal(t, tc.es, got)

			got, err = gs1.Parse("]d2" + tc.es.Sorted().Transmitted())
			require.NoError(t, err)
			require.Equal(t, tc.es.Sorted(), got)

			dl, err := tc.es.DigitalLink("")
			require.NoError(t, err)
			got, err = gs1.Parse(dl)
			require.NoError(t, err)
			require.Equal(t, tc.es.Map(), got.Map())
			require.Len(t, got, len(tc.es))

			dl2, err := got.DigitalLink("https://example.com/p")
			require.NoError(t, err)
			again, err := gs1.ParseDigitalLink(dl2)
			require.NoError(t, err)
			require.Equal(t, got, again)
		})
	}
}
