package zpl

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "image/png"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
)

// code128Data are element strings in transmitted form: an SSCC (all set C),
// odd digit runs, CSET 82 punctuation with ">" (ZPL's invocation character)
// and lower case, and several fields.
var code128Data = []string{
	"00095060000000000086",
	"0109506000134352" + "10" + "A1>b" + "\x1d" + "21" + "123456",
	"00195060000000000083",
	"0109506000134352" + "10" + "L>?\"%&'()*+,-./:;<x", // ">" not last: the emulator drops the last character after >0
	"0209506000134352" + "37" + "24",
}

// sscc128Layout is a GS1-128 layout like the case label's at dpmm, with a
// 0.25 mm module so the longer test strings fit.
func sscc128Layout(dpmm int) Layout {
	l := Layout{Name: "R:SSCC128.ZPL", DPMM: dpmm, ModuleDots: dpmm / 4, WidthDots: 100 * dpmm, HeightDots: 50 * dpmm,
		SymbolX: 6 * dpmm, SymbolY: 28 * dpmm, Symbology: SymbolGS1128, BarHeightDots: 18 * dpmm,
		TextX: 4 * dpmm, TextY: 3 * dpmm, TextHeight: 4 * dpmm, TextLines: 1}
	return l
}

// bars draws modules, module pixels each, with 10-module quiet zones.
func bars(modules []bool, module, height int) *image.Gray {
	w := (len(modules) + 20) * module
	img := image.NewGray(image.Rect(0, 0, w, height))
	for i := range img.Pix {
		img.Pix[i] = 0xFF
	}
	for i, dark := range modules {
		if !dark {
			continue
		}
		for y := range height {
			for x := (10 + i) * module; x < (11+i)*module; x++ {
				img.Pix[y*img.Stride+x] = 0
			}
		}
	}
	return img
}

// TestCode128 encodes element strings as GS1-128 and has gozxing read the
// bars back; the builder's ^BC field data parses back to the same data.
func TestCode128(t *testing.T) {
	for i, data := range code128Data {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			vals, err := EncodeCode128(data, true)
			require.NoError(t, err)
			require.Equal(t, c128FNC1, vals[1], "FNC1 right after the start")
			require.Equal(t, "]C1"+data, testkit.Read128(t, bars(Code128Modules(vals), 3, 40)))

			l := sscc128Layout(8)
			require.NoError(t, l.Validate())
			require.NoError(t, l.ValidateFields(Fields{Data: data}))
			p, _ := newTestParser(t)
			labels, _, err := p.Feed(l.Standalone(Fields{Data: data, Text: []string{"x"}}))
			require.NoError(t, err)
			require.Len(t, labels, 1)
			el := labels[0].Elements[0]
			require.Equal(t, Code128, el.Kind)
			require.True(t, el.GS1)
			require.Equal(t, data, el.Data)
			require.Equal(t, l.ModuleDots, el.ModuleDots)
			require.Equal(t, l.BarHeightDots, el.HeightDots)
		})
	}
	// All digits, even: start C, FNC1, pairs; no switch.
	vals, err := EncodeCode128("00095060000000000086", true)
	require.NoError(t, err)
	require.Equal(t, c128StartC, vals[0])
	require.Len(t, vals, 2+10+2)
	b, err := appendCode128Data(nil, "00095060000000000086", true)
	require.NoError(t, err)
	require.Equal(t, ">;>800095060000000000086", string(b))
	b, err = appendCode128Data(nil, "10A>1"+"\x1d"+"211234", true)
	require.NoError(t, err)
	require.Equal(t, ">:>810A>01>8211234", string(b), "two digits then a letter: set B, and B to the end")
	b, err = appendCode128Data(nil, "0109506000134352"+"10A"+"\x1d"+"17281231", true)
	require.NoError(t, err)
	require.Equal(t, ">;>8010950600013435210>6A>817281231", string(b), "C for the 18 leading digits, then B to the end")
}

func TestCode128Errors(t *testing.T) {
	_, err := EncodeCode128("01é", true)
	require.ErrorIs(t, err, ErrCode128)
	require.ErrorContains(t, err, "data[2]")
	_, err = EncodeCode128("", true)
	require.ErrorIs(t, err, ErrCode128)

	l := sscc128Layout(8)
	for _, tc := range []struct {
		name string
		data string
		want string
	}{
		{"too long", strings.Repeat("1", 49), "at most 48"},
		{"not encodable", "10ABC\x7f\xff", "data[6]"},
		{"wider than the label", "10" + strings.Repeat("Ab", 20), "beyond the label's width"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := l.ValidateFields(Fields{Data: tc.data})
			require.True(t, errors.Is(err, ErrInvalidLayout), "%v", err)
			require.ErrorContains(t, err, tc.want)
		})
	}
	for _, tc := range []struct {
		name string
		edit func(*Layout)
		want string
	}{
		{"module", func(l *Layout) { l.ModuleDots = 11 }, "ModuleDots 11"},
		{"bar height", func(l *Layout) { l.BarHeightDots = 400 }, "BarHeightDots 400"},
		{"quiet zone", func(l *Layout) { l.SymbolX = 10 }, "quiet zone"},
		{"symbology", func(l *Layout) { l.Symbology = 7 }, "Symbology 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := sscc128Layout(8)
			tc.edit(&l)
			require.ErrorContains(t, l.Validate(), tc.want)
		})
	}
}

// TestCode128Conformance has the independent ZPL emulator render the
// GS1-128 labels (stored format and recall, lint enforced) and gozxing
// read the bars from its pixels. decode-dm reads DataMatrix only, so the
// 1D read is gozxing's.
func TestCode128Conformance(t *testing.T) {
	for _, dpmm := range []int{8, 12} {
		t.Run(strconv.Itoa(dpmm), func(t *testing.T) {
			l := sscc128Layout(dpmm)
			require.NoError(t, l.Validate())
			job := l.Format()
			for _, d := range code128Data {
				f := Fields{Data: d, Text: []string{"(00) test"}}
				require.NoError(t, l.ValidateFields(f))
				job = l.AppendRecall(job, f)
			}
			dir := t.TempDir()
			file := filepath.Join(dir, "label.zpl")
			require.NoError(t, os.WriteFile(file, job, 0o600))
			prefix := filepath.Join(dir, "out")
			out, code := testkit.RunValidator(t, "render-zpl", "--width-mm", "100", "--height-mm", "50", "--dpmm", strconv.Itoa(dpmm),
				"--out", prefix, "--lint-fail", file)
			require.Equal(t, 0, code, "render-zpl:\n%s\nZPL:\n%s", out, job)
			require.NotContains(t, out, "LINT")
			for i, d := range code128Data {
				f, err := os.Open(prefix + "-" + strconv.Itoa(i+1) + ".png")
				require.NoError(t, err)
				img, _, err := image.Decode(f)
				f.Close()
				require.NoError(t, err)
				require.Equal(t, "]C1"+d, testkit.Read128(t, img), "label %d", i+1)
			}
		})
	}
}
