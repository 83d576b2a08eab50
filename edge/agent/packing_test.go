package agent

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/internal/testkit"
)

func TestPackingConfig(t *testing.T) {
	cfg, err := LoadConfig(testkit.RepoFile(t, "configs/edge.yaml"))
	require.NoError(t, err)
	require.False(t, cfg.Packing.Enabled, "packing is off in the shipped file")
	require.Equal(t, defaultPacking().Printer.DPI, cfg.Packing.Printer.DPI)

	base := "printer:\n  transport: tcp:127.0.0.1:9100\nscanner:\n  transport: tcp:127.0.0.1:9004\nplc:\n  transport: tcp:127.0.0.1:5020\n"
	on := "packing:\n  enabled: true\n  company_prefix: \"9506000\"\n  case_size: 12\n  pallet_size: 4\n  pallet_extension: 1\n" +
		"  printer:\n    transport: tcp:127.0.0.1:9101\n  scanner:\n    transport: tcp:127.0.0.1:9005\n"
	cfg, err = ParseConfig(strings.NewReader(base + on))
	require.NoError(t, err)
	require.Equal(t, 12, cfg.Packing.CaseSize)
	pc := cfg.packingConfig()
	require.Equal(t, "9506000", pc.CompanyPrefix)
	require.Equal(t, 1, pc.PalletExtension)
	prn, err := cfg.casePrinterConfig()
	require.NoError(t, err)
	require.Equal(t, "R:SSCC.ZPL", prn.Layout.Name)
	cfg.Packing.LabelSymbology = "gs1-128"
	prn, err = cfg.casePrinterConfig()
	require.NoError(t, err)
	require.Equal(t, zpl.SymbolGS1128, prn.Layout.Symbology)

	tests := []struct {
		name, from, to, want string
	}{
		{"company prefix", `company_prefix: "9506000"`, `company_prefix: "95"`, "packing: company_prefix: AI (00)"},
		{"case size", "case_size: 12", "case_size: 0", "packing: case_size: must be 1 to 100000"},
		{"pallet extension", "pallet_extension: 1", "pallet_extension: 12", "packing: pallet_extension: "},
		{"printer dpi", "    transport: tcp:127.0.0.1:9101\n", "    transport: tcp:127.0.0.1:9101\n    dpi: 250\n", "packing: printer: dpi: must be 152, 203, 300 or 600"},
		{"printer transport", "tcp:127.0.0.1:9101", "usb:1", `packing: printer: printer "case-printer": transport`},
		{"scanner transport", "tcp:127.0.0.1:9005", "usb:2", `packing: scanner: `},
		{"unknown key", "case_size: 12", "case_sise: 12", `unknown key "packing.case_sise"`},
		{"label symbology", "case_size: 12", "case_size: 12\n  label_symbology: code39", `packing: label_symbology: must be datamatrix or gs1-128, got "code39"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := base + strings.Replace(on, tc.from, tc.to, 1)
			require.NotEqual(t, base+on, doc, "the case changes the document")
			_, err := ParseConfig(strings.NewReader(doc))
			require.ErrorContains(t, err, tc.want)
		})
	}
	// Off, the packing keys are not checked.
	_, err = ParseConfig(strings.NewReader(base + "packing:\n  enabled: false\n  case_size: 0\n"))
	require.NoError(t, err)
}
