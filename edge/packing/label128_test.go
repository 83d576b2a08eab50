package packing_test

import (
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
	printersim "github.com/serialine/serialine/simulators/printer"

	_ "image/png"
)

// TestLabelGS1128 prints the case label with label_symbology gs1-128 at
// every resolution: the independent ZPL emulator (lint enforced) and the
// printer simulator both draw bars that gozxing reads as "]C1" + (00) +
// the SSCC.
func TestLabelGS1128(t *testing.T) {
	sscc, err := gs1.NewSSCC(0, prefix, 42)
	require.NoError(t, err)
	ld := packing.LabelData{Level: packing.LevelCase, SSCC: sscc, Units: 24, Line: "L1",
		Order: wire.Order{ID: "WO-1", GTIN: gtin, Lot: lot, Expiry: expiry, Product: "Paracetamol 500 mg"}}
	want := "]C100" + string(sscc)
	for _, dpmm := range []int{6, 8, 12, 24} {
		t.Run(strconv.Itoa(dpmm), func(t *testing.T) {
			l := packing.LabelLayoutGS1128(dpmm)
			require.NoError(t, l.Validate())
			f := ld.Fields()
			require.NoError(t, l.ValidateFields(f))
			job := l.AppendRecall(l.Format(), f)

			// Our printer simulator, through its ZPL parser.
			sim, err := printersim.New(printersim.Config{Name: "p", DPI: map[int]int{6: 152, 8: 203, 12: 300, 24: 600}[dpmm], WidthMM: 100, HeightMM: 50}, testkit.Discard())
			require.NoError(t, err)
			p := zplParser(t)
			labels, _, err := p.Feed(job)
			require.NoError(t, err)
			require.Len(t, labels, 1)
			img, err := sim.Rasterise(labels[0])
			require.NoError(t, err)
			require.Equal(t, want, testkit.Read128(t, img))

			if dpmm == 24 {
				return // the emulator at 600 dpi takes long and adds nothing
			}
			dir := t.TempDir()
			file := filepath.Join(dir, "label.zpl")
			require.NoError(t, os.WriteFile(file, job, 0o600))
			out, code := testkit.RunValidator(t, "render-zpl", "--width-mm", "100", "--height-mm", "50", "--dpmm", strconv.Itoa(dpmm),
				"--out", filepath.Join(dir, "out"), "--lint-fail", file)
			require.Equal(t, 0, code, "render-zpl:\n%s", out)
			require.NotContains(t, out, "LINT")
			fh, err := os.Open(filepath.Join(dir, "out-1.png"))
			require.NoError(t, err)
			defer fh.Close()
			png, _, err := image.Decode(fh)
			require.NoError(t, err)
			require.Equal(t, want, testkit.Read128(t, png), "the independent emulator's pixels")
		})
	}
}

// zplParser is a ZPL parser whose log the test does not look at.
func zplParser(tb testing.TB) *zpl.Parser {
	tb.Helper()
	p, err := zpl.NewParser(slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	return p
}
