package labeltool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
)

// run calls the tool as the command line does and returns exit status and outputs.
func run(tb testing.TB, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errb bytes.Buffer
	code = Run(args, &out, &errb)
	return code, out.String(), errb.String()
}

type unitCase struct {
	name                      string
	gtin, lot, expiry, serial string
	extra                     []string
	wantAIs                   map[string]string
}

var unitCases = []unitCase{
	{name: "typical pack", gtin: "09506000134352", lot: "ABC123", expiry: "271231", serial: "10000000000001",
		wantAIs: map[string]string{"01": "09506000134352", "17": "271231", "10": "ABC123", "21": "10000000000001"}},
	{name: "GTIN-13 padded, day 00, CSET 82 punctuation", gtin: "9506000134352", lot: `L7/"%&'()*+,.:;<=>?_`, expiry: "280200", serial: "Ab!9",
		wantAIs: map[string]string{"01": "09506000134352", "17": "280200", "10": `L7/"%&'()*+,.:;<=>?_`, "21": "Ab!9"}},
	{name: "20-character serial, Portuguese AIM number", gtin: "05601234000016", lot: "X", expiry: "320229" /* 2032 is a leap year */, serial: "ABCDEFGHIJ0123456789",
		extra:   []string{"--nhrn", "714=5440987"},
		wantAIs: map[string]string{"01": "05601234000016", "17": "320229", "10": "X", "21": "ABCDEFGHIJ0123456789", "714": "5440987"}},
	{name: "US pack with NDC text", gtin: "00312345678906", lot: "LOT42", expiry: "290630", serial: "274877906943",
		extra:   []string{"--ndc", "12345-678-90", "--name", "Ibuprofen ^200~mg"},
		wantAIs: map[string]string{"01": "00312345678906", "17": "290630", "10": "LOT42", "21": "274877906943"}},
}

func renderArgs(c unitCase, format, out string) []string {
	args := []string{"render", "--gtin", c.gtin, "--lot", c.lot, "--expiry", c.expiry, "--serial", c.serial, "--format", format, "-o", out}
	return append(args, c.extra...)
}

// validatorKnows tells whether validate-gs1 can judge these AIs: without the
// GS1 Syntax Engine binary (not packaged for this machine) it falls back to a
// minimal checker that knows only a few AIs. Our own parser still checks all.
func validatorKnows(ais map[string]string) bool {
	for ai := range ais {
		switch ai {
		case "00", "01", "10", "11", "13", "15", "16", "17", "21":
		default:
			return false
		}
	}
	return true
}

type dmReport struct {
	ExitCode int `json:"exitCode"`
	Symbols  []struct {
		SymbologyIdentifier string `json:"symbologyIdentifier"`
		Data                string `json:"data"`
		QuietZone           struct {
			OK            bool               `json:"ok"`
			MarginModules map[string]float64 `json:"marginModules"`
		} `json:"quietZone"`
	} `json:"symbols"`
}

// independentDecode reads a label with the validators' decoders and returns
// the AIs they found.
func independentDecode(tb testing.TB, png string, ais map[string]string) (dmReport, map[string]string) {
	tb.Helper()
	args := []string{"--json", "--require-gs1", png}
	if validatorKnows(ais) {
		args = append(args, "--validate")
	}
	out, code := testkit.RunValidator(tb, "decode-dm", args...)
	require.Equal(tb, 0, code, "decode-dm %s:\n%s", png, out)
	var rep dmReport
	require.NoError(tb, json.Unmarshal([]byte(strings.TrimSpace(out)), &rep), out)
	require.Len(tb, rep.Symbols, 1, out)
	require.Equal(tb, "]d2", rep.Symbols[0].SymbologyIdentifier, "GS1 DataMatrix must have FNC1 first")
	es, err := gs1.ParseTransmitted(strings.ReplaceAll(rep.Symbols[0].Data, "<GS>", "\x1d"))
	require.NoError(tb, err, "decode-dm data %q", rep.Symbols[0].Data)
	return rep, es.Map()
}

func TestRenderPNGReadByIndependentDecoders(t *testing.T) {
	testkit.ValidatorsBin(t)
	for _, c := range unitCases {
		t.Run(c.name, func(t *testing.T) {
			png := filepath.Join(t.TempDir(), "unit.png")
			code, _, stderr := run(t, renderArgs(c, "png", png)...)
			require.Equal(t, ExitOK, code, stderr)

			rep, ais := independentDecode(t, png, c.wantAIs)
			require.Equal(t, c.wantAIs, ais)
			for side, m := range rep.Symbols[0].QuietZone.MarginModules {
				require.GreaterOrEqual(t, m, 2.0, "quiet zone %s", side)
			}

			// Our own decoder agrees.
			code, stdout, stderr := run(t, "decode", png)
			require.Equal(t, ExitOK, code, stderr)
			var got Report
			require.NoError(t, json.Unmarshal([]byte(stdout), &got))
			require.True(t, got.GS1)
			require.Equal(t, "]d2", got.SymbologyID)
			require.Equal(t, c.wantAIs, got.AIs)
		})
	}
}

func TestRenderZPLReadByIndependentEmulator(t *testing.T) {
	testkit.ValidatorsBin(t)
	for _, c := range unitCases {
		for _, dpi := range []int{203, 300} {
			t.Run(fmt.Sprintf("%s/%d dpi", c.name, dpi), func(t *testing.T) {
				if strings.Contains(c.lot+c.serial, "_") {
					// ZPL writes a literal "_" in ^BX data as "__" (ZPL II manual, ^BX
					// escape sequences); the emulator (zebrash) renders both underscores.
					// drivers/zpl's own tests cover "_" against the manual.
					t.Skip("SKIPPED: the independent ZPL emulator mishandles \"__\" in ^BX data")
				}
				dir := t.TempDir()
				file := filepath.Join(dir, "unit.zpl")
				code, _, stderr := run(t, append(renderArgs(c, "zpl", file), "--dpi", strconv.Itoa(dpi))...)
				require.Equal(t, ExitOK, code, stderr)

				n := len(c.extra)/2 + 4 // text lines: one per optional flag, plus GTIN, LOT, EXP, SN
				layout, err := zpl.LayoutFor(dpi, 0, n)
				require.NoError(t, err)
				dpmm := layout.DPMM
				args := []string{"--lint-fail"}
				if validatorKnows(c.wantAIs) {
					args = append(args, "--decode") // decode-dm --validate on each rendered label
				}
				out, code := testkit.RunValidator(t, "render-zpl", append(args,
					"--width-mm", strconv.FormatFloat(float64(layout.WidthDots)/float64(dpmm), 'f', 2, 64),
					"--height-mm", strconv.FormatFloat(float64(layout.HeightDots)/float64(dpmm), 'f', 2, 64),
					"--dpmm", strconv.Itoa(dpmm), "--out", filepath.Join(dir, "r"), file)...)
				require.Equal(t, 0, code, "render-zpl:\n%s", out)
				_, ais := independentDecode(t, filepath.Join(dir, "r-1.png"), c.wantAIs)
				require.Equal(t, c.wantAIs, ais)
			})
		}
	}
}

func TestParse(t *testing.T) {
	want := map[string]string{"01": "09506000134352", "17": "271231", "10": "ABC123", "21": "XYZ"}
	cases := []struct{ name, data string }{
		{"bracketed", "(01)09506000134352(17)271231(10)ABC123(21)XYZ"},
		{"transmitted with ]d2", "]d2010950600013435217271231" + "10ABC123\x1d21XYZ"},
		{"transmitted with <GS> typed", "010950600013435217271231" + "10ABC123<GS>21XYZ"},
		{"transmitted with leading GS", "\x1d010950600013435217271231" + "10ABC123\x1d21XYZ"},
		{"digital link", "https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ?17=271231"},
		{"digital link, other host, GTIN-13", "https://pharma.example.com/dl/01/9506000134352/10/ABC123/21/XYZ?17=271231"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "parse", c.data, "--gcp-length", "7")
			require.Equal(t, ExitOK, code, stderr)
			var got Report
			require.NoError(t, json.Unmarshal([]byte(stdout), &got))
			require.True(t, got.GS1)
			require.Equal(t, want, got.AIs)
			require.Equal(t, "(01)09506000134352(17)271231(10)ABC123(21)XYZ", got.ElementString)
			require.Equal(t, "https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ?17=271231", got.DigitalLink)
			require.Equal(t, "urn:epc:id:sgtin:9506000.013435.XYZ", got.EPC)
		})
	}
}

func TestParseSSCC(t *testing.T) {
	code, stdout, stderr := run(t, "parse", "(00)106141412345678908", "--gcp-length", "7")
	require.Equal(t, ExitOK, code, stderr)
	var got Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	require.Equal(t, "urn:epc:id:sscc:0614141.1234567890", got.EPC)
}

func TestInvalidInputNamesAIAndRule(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		ai     string
		rule   gs1.Rule
		output bool // render: the output file must not exist afterwards
	}{
		{"parse: wrong GTIN check digit", []string{"parse", "(01)09506000134353(21)X"}, "01", gs1.RuleCheckDigit, false},
		{"parse: 29 February 2025", []string{"parse", "(01)09506000134352(17)250229(21)X"}, "17", gs1.RuleDate, false},
		{"parse: space in serial", []string{"parse", "(01)09506000134352(21)A B"}, "21", gs1.RuleCharset, false},
		{"parse: serial without GTIN", []string{"parse", "(21)ABC"}, "21", gs1.RulePairing, false},
		{"parse: serial too long", []string{"parse", "(01)09506000134352(21)ABCDEFGHIJ01234567890"}, "21", gs1.RuleLength, false},
		{"render: wrong GTIN check digit", []string{"render", "--gtin", "09506000134353", "--lot", "L", "--expiry", "271231", "--serial", "1"}, "01", gs1.RuleCheckDigit, true},
		{"render: month 13", []string{"render", "--gtin", "09506000134352", "--lot", "L", "--expiry", "271331", "--serial", "1"}, "17", gs1.RuleDate, true},
		{"render: lot with a space", []string{"render", "--gtin", "09506000134352", "--lot", "L 1", "--expiry", "271231", "--serial", "1"}, "10", gs1.RuleCharset, true},
		{"render: serial of 21 characters", []string{"render", "--gtin", "09506000134352", "--lot", "L", "--expiry", "271231", "--serial", "123456789012345678901"}, "21", gs1.RuleLength, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			out := filepath.Join(t.TempDir(), "label.png")
			if c.output {
				args = append(args, "-o", out)
			}
			code, stdout, stderr := run(t, args...)
			require.Equal(t, ExitInvalid, code, "stdout %q stderr %q", stdout, stderr)
			require.Empty(t, stdout)
			require.Equal(t, 1, strings.Count(stderr, "\n"), "one line on stderr: %q", stderr)
			require.Contains(t, stderr, "("+c.ai+")", "names the AI")
			require.Contains(t, stderr, string(c.rule), "names the rule")
			if c.output {
				_, err := os.Stat(out)
				require.True(t, os.IsNotExist(err), "no label written for invalid data")
				entries, err := os.ReadDir(filepath.Dir(out))
				require.NoError(t, err)
				require.Empty(t, entries, "no temporary file left behind")
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"parse"},
		{"parse", "a", "b"},
		{"parse", "(01)09506000134352", "--gcp-length", "3"},
		{"render", "--gtin", "09506000134352"},
		{"render", "--gtin", "09506000134352", "--lot", "L", "--expiry", "271231", "--serial", "1", "--format", "pdf", "-o", "x"},
		{"render", "--bogus"},
		{"decode"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, stderr := run(t, args...)
			require.Equal(t, ExitUsage, code, stderr)
			require.Contains(t, stderr, "usage:")
		})
	}
}

func TestDecodeMissingFile(t *testing.T) {
	code, _, stderr := run(t, "decode", filepath.Join(t.TempDir(), "nope.png"))
	require.Equal(t, ExitInvalid, code)
	require.Contains(t, stderr, "nope.png")
}

func TestValidateNDC(t *testing.T) {
	for _, ok := range []string{"1234-5678-90", "12345-678-90", "12345-6789-0", "12345-6789-01", "1234567890"} {
		require.NoError(t, ValidateNDC(ok), ok)
	}
	for _, bad := range []string{"123-45-6789", "12345-678-9a", "", "123456789"} {
		require.Error(t, ValidateNDC(bad), bad)
	}
}

// Symbols made by other encoders (zint, bwip-js), turned, cropped to no quiet
// zone, noisy, or JPEG, as a technician's photos are. shared/label generates
// hundreds more at test time; these fixtures prove the command line path.
func TestDecodeOtherEncoders(t *testing.T) {
	want := map[string]string{"01": "09506000134352", "17": "201225", "10": "ABC123", "21": "XYZ"}
	files, err := filepath.Glob("../../shared/label/testdata/*gs1*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, stdout, stderr := run(t, "decode", f)
			require.Equal(t, ExitOK, code, stderr)
			var got Report
			require.NoError(t, json.Unmarshal([]byte(stdout), &got))
			require.True(t, got.GS1)
			require.Equal(t, "]d2", got.SymbologyID)
			if !strings.Contains(f, "rect") {
				require.Equal(t, want, got.AIs)
			} else {
				require.Equal(t, "09506000134352", got.AIs["01"])
			}
		})
	}
	t.Run("plain DataMatrix", func(t *testing.T) {
		code, stdout, stderr := run(t, "decode", "../../shared/label/testdata/zint-plain-3px.png")
		require.Equal(t, ExitOK, code, stderr)
		var got Report
		require.NoError(t, json.Unmarshal([]byte(stdout), &got))
		require.False(t, got.GS1)
		require.Equal(t, "]d1", got.SymbologyID)
		require.NotEmpty(t, got.Data)
		require.Nil(t, got.AIs)
	})
}
