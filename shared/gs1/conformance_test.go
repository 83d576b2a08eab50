package gs1_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
)

// conformanceCases stay within the AIs every engine of validate-gs1 knows
// (00, 01, 10, 11, 13, 15, 16, 17, 21), so that its verdict is a real one.
var conformanceCases = []struct {
	in    string
	valid bool
}{
	{"(01)09506000134352(17)201225(10)ABC123(21)XYZ", true},
	{"01095060001343521720122510ABC123" + gsc + "21XYZ", true},
	{"]d201095060001343521720122510ABC123" + gsc + "21XYZ", true},
	{"0109506000134352" + gsc + "17201225" + "21S", true}, // needless GS after a predefined field
	{"(01)09506000134352(17)250200(10)L(21)S", true},      // DD=00
	{"(01)09506000134352(17)240229", true},                // leap day
	{"(01)09506000134352(17)280229(21)1", true},
	{"(00)106141411234567897", true},
	{"(00)306141411234567891(01)09506000134352", true},
	{"(01)09506000134352(11)240101(13)240102(15)250200(16)250300", true},
	{"(01)09506000134352(10)ABCDEFGHIJKLMNOPQRST", true},
	{`(01)09506000134352(21)!"%&'*+,-./:;<=>?_`, true},
	{"(01)09506000134352(10)A(10)A", true}, // identical duplicate
	{"(01)06291041500213(21)0001", true},
	{"(01)09506000134353", false},                          // check digit
	{"(00)106141411234567898", false},                      // check digit
	{"(01)09506000134352(17)250229", false},                // 2025 not leap
	{"(01)09506000134352(17)251301", false},                // month 13
	{"(01)09506000134352(17)250231", false},                // 31 February
	{"(01)09506000134352(11)250431", false},                // 31 April
	{"(10)ABC", false},                                     // lot needs GTIN
	{"(21)S", false},                                       // serial needs GTIN
	{"(00)106141411234567897(17)251231", false},            // expiry needs GTIN
	{"(01)09506000134352(10)ABCDEFGHIJKLMNOPQRSTU", false}, // 21 characters
	{"(01)09506000134352(21)A B", false},                   // space
	{"(01)09506000134352(10)A(10)B", false},                // duplicate
	{"(01)0950600013435", false},                           // 13 digits
	{"(01)0950600013435A", false},                          // letter
	{"0109506000134352" + "10A B", false},
	{"]d2" + "0109506000134352" + "17250229", false},
	{"0109506000134352" + "21" + strings.Repeat("9", 21), false},
}

type validatorVerdict struct {
	Input   string `json:"input"`
	Valid   bool   `json:"valid"`
	Results []struct {
		Engine          string   `json:"engine"`
		Valid           bool     `json:"valid"`
		Reasons         []string `json:"reasons"`
		AIElementString *string  `json:"aiElementString"`
	} `json:"results"`
}

// TestConformanceWithValidateGS1 cross-checks our verdicts with GS1 element
// string validation written outside this project.
func TestConformanceWithValidateGS1(t *testing.T) {
	testkit.ValidatorsBin(t)
	args := []string{"--json"}
	var valid []string
	for _, tc := range conformanceCases {
		args = append(args, tc.in)
		if tc.valid {
			valid = append(valid, tc.in)
		}
	}
	out, code := testkit.RunValidator(t, "validate-gs1", args...)
	require.Equal(t, 1, code, "some cases are invalid, so validate-gs1 must exit 1:\n%s", out)

	var verdicts []validatorVerdict
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // e.g. a NOTE on which engine ran
		}
		var v validatorVerdict
		require.NoError(t, json.Unmarshal([]byte(line), &v), line)
		verdicts = append(verdicts, v)
	}
	require.Len(t, verdicts, len(conformanceCases), out)

	for i, tc := range conformanceCases {
		v := verdicts[i]
		t.Run(strings.ReplaceAll(tc.in, gsc, "<GS>"), func(t *testing.T) {
			require.Equal(t, tc.in, v.Input)
			got, err := gs1.Parse(tc.in)
			require.Equal(t, tc.valid, err == nil, "our verdict: %v", err)
			require.Equal(t, tc.valid, v.Valid, "validate-gs1's verdict: %+v", v.Results)
			if tc.valid {
				for _, r := range v.Results {
					if r.AIElementString != nil {
						require.Equal(t, *r.AIElementString, got.Bracketed(), "engine %s", r.Engine)
					}
				}
			}
		})
	}

	out, code = testkit.RunValidator(t, "validate-gs1", valid...)
	require.Equal(t, 0, code, out)
}

// TestConformanceOfOurOutput feeds what we emit for labels and scanners to
// validate-gs1.
func TestConformanceOfOurOutput(t *testing.T) {
	testkit.ValidatorsBin(t)
	sscc, err := gs1.NewSSCC(0, "0614141", 987654321)
	require.NoError(t, err)
	units := []gs1.ElementString{
		genSpecExample,
		es("01", "09506000134352", "21", "S-000001", "10", "LOT/7", "17", "270600"),
		es("00", string(sscc)),
	}
	var args []string
	for _, u := range units {
		args = append(args, u.Bracketed(), u.Transmitted(), "]d2"+u.Sorted().Transmitted())
	}
	out, code := testkit.RunValidator(t, "validate-gs1", args...)
	require.Equal(t, 0, code, out)
}
