package packing_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/label"
	"github.com/serialine/serialine/shared/wire"
)

// TestLabelConformance renders the case and pallet labels with the
// independent ZPL emulator (lint enforced) at every resolution, and has
// the symbol decoded by the independent decoder: GS1 mode, data (00)+SSCC,
// valid by the independent GS1 checker; and by our own decoder from the
// same pixels.
func TestLabelConformance(t *testing.T) {
	sscc, err := wire.SSCCPrefix{CompanyPrefix: "0614141", Extension: 1}.SSCC(234567890)
	require.NoError(t, err)
	order := wire.Order{ID: "WO-1", GTIN: "09506000134352", Lot: "LOT42", Expiry: "281231", Product: "Paracetamol 500 mg"}
	for _, dpmm := range []int{8, 12} {
		for _, ld := range []packing.LabelData{
			{Level: packing.LevelCase, SSCC: sscc, Order: order, Units: 24, Line: "L1"},
			{Level: packing.LevelPallet, SSCC: sscc, Order: order, Units: 480, Cases: 20, Line: "L1"},
		} {
			t.Run(strconv.Itoa(dpmm)+"/"+string(ld.Level), func(t *testing.T) {
				l := packing.LabelLayout(dpmm)
				require.NoError(t, l.Validate())
				f := ld.Fields()
				require.NoError(t, l.ValidateFields(f))
				require.Equal(t, "00"+string(sscc), f.Data)
				require.Equal(t, "(00)106141412345678908", f.Text[0], "human-readable SSCC")

				dir := t.TempDir()
				file := filepath.Join(dir, "label.zpl")
				require.NoError(t, os.WriteFile(file, l.Standalone(f), 0o600))
				prefix := filepath.Join(dir, "out")
				mm := func(dots int) string { return strconv.FormatFloat(float64(dots)/float64(dpmm), 'f', 3, 64) }
				out, code := testkit.RunValidator(t, "render-zpl", "--width-mm", mm(l.WidthDots), "--height-mm", mm(l.HeightDots),
					"--dpmm", strconv.Itoa(dpmm), "--out", prefix, "--lint-fail", file)
				require.Equal(t, 0, code, "render-zpl:\n%s", out)
				require.NotContains(t, out, "LINT")

				png := prefix + "-1.png"
				out, code = testkit.RunValidator(t, "decode-dm", "--json", "--require-gs1", "--validate", "--no-dmtx", png)
				require.Equal(t, 0, code, "decode-dm:\n%s", out)
				var res struct {
					Symbols []struct {
						GS1     bool   `json:"gs1"`
						DataHex string `json:"dataHex"`
						Data    string `json:"data"`
					} `json:"symbols"`
				}
				line := out[strings.Index(out, "{"):]
				require.NoError(t, json.Unmarshal([]byte(strings.SplitN(line, "\n", 2)[0]), &res), out)
				require.Len(t, res.Symbols, 1)
				require.True(t, res.Symbols[0].GS1)
				require.Contains(t, res.Symbols[0].Data, "00106141412345678908")

				d, err := label.DecodeFile(png)
				require.NoError(t, err)
				require.True(t, d.GS1)
				es, err := gs1.ParseTransmitted(d.Data)
				require.NoError(t, err)
				got, _ := es.Get("00")
				require.Equal(t, string(sscc), got)
			})
		}
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	good := packing.Config{Line: "L1", CompanyPrefix: "9506000", CaseExtension: 0, PalletExtension: 1, CaseSize: 10, PalletSize: 4}
	require.NoError(t, good.Validate())
	tests := []struct {
		name   string
		mutate func(*packing.Config)
		want   string
	}{
		{"line", func(c *packing.Config) { c.Line = "L 1" }, "packing: line: "},
		{"prefix missing", func(c *packing.Config) { c.CompanyPrefix = "" }, "packing: company_prefix: missing"},
		{"prefix short", func(c *packing.Config) { c.CompanyPrefix = "12345" }, "packing: company_prefix: AI (00)"},
		{"case extension", func(c *packing.Config) { c.CaseExtension = 10 }, "packing: case_extension: AI (00)"},
		{"pallet extension", func(c *packing.Config) { c.PalletExtension = -1 }, "packing: pallet_extension: AI (00)"},
		{"case size", func(c *packing.Config) { c.CaseSize = 0 }, "packing: case_size: must be 1 to 100000"},
		{"pallet size", func(c *packing.Config) { c.PalletSize = -1 }, "packing: pallet_size: "},
		{"request size", func(c *packing.Config) { c.RequestSize = 10_001 }, "packing: request_size: "},
		{"low water", func(c *packing.Config) { c.RequestSize, c.LowWater = 10, 11 }, "packing: low_water: must be 1 to request_size (10)"},
		{"request retry", func(c *packing.Config) { c.RequestRetry = -1 }, "packing: request_retry: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			require.ErrorContains(t, c.Validate(), tc.want)
		})
	}
}
