package label

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
)

var packText = []string{"GTIN 09506000134352", "LOT ABC123", "EXP 2027-12-31", "SN XYZ1234567890"}

// locateSymbol finds the rendered symbol by its solid left edge (the first
// column with ink) and checks, module by module at module centres, that it is
// m drawn at px pixels a module. It returns the symbol's pixel rectangle.
func locateSymbol(tb testing.TB, img *image.Gray, m *Matrix, px int) image.Rectangle {
	tb.Helper()
	b := img.Bounds()
	x0, y0 := -1, -1
	for x := b.Min.X; x < b.Max.X && x0 < 0; x++ {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			if img.GrayAt(x, y).Y < 128 {
				x0, y0 = x, y
				break
			}
		}
	}
	require.GreaterOrEqual(tb, x0, 0, "no ink in the image")
	sym := image.Rect(x0, y0, x0+m.Cols*px, y0+m.Rows*px)
	require.True(tb, sym.In(b), "symbol %v inside image %v", sym, b)
	for my := 0; my < m.Rows; my++ {
		for mx := 0; mx < m.Cols; mx++ {
			// every pixel of the module, not just its centre: modules are whole pixels
			for dy := 0; dy < px; dy++ {
				for dx := 0; dx < px; dx++ {
					got := img.GrayAt(x0+mx*px+dx, y0+my*px+dy).Y
					want := uint8(255)
					if m.At(mx, my) {
						want = 0
					}
					require.Equal(tb, want, got, "module (%d,%d) pixel (%d,%d)", mx, my, dx, dy)
				}
			}
		}
	}
	return sym
}

// requireQuietZone checks that the ring of qz modules round sym is inside
// the image and pure white.
func requireQuietZone(tb testing.TB, img *image.Gray, sym image.Rectangle, qzPx int) {
	tb.Helper()
	ring := sym.Inset(-qzPx)
	require.True(tb, ring.In(img.Bounds()), "quiet zone %v inside image %v", ring, img.Bounds())
	for y := ring.Min.Y; y < ring.Max.Y; y++ {
		for x := ring.Min.X; x < ring.Max.X; x++ {
			if image.Pt(x, y).In(sym) {
				continue
			}
			require.Equal(tb, uint8(255), img.GrayAt(x, y).Y, "quiet zone pixel (%d,%d)", x, y)
		}
	}
}

func TestRenderRoundTrip(t *testing.T) {
	tests := []struct {
		dpi      int
		moduleMM float64
		wantPx   int
	}{
		{203, 0, 3},    // 0.4 mm at 203 dpi is 3.2 px
		{203, 0.6, 5},  // 4.8 px
		{300, 0, 5},    // 4.7 px
		{300, 0.25, 3}, // 2.95 px
		{300, 0.1, 3},  // 1.2 px, raised to the 3 px minimum
		{600, 0, 9},    // 9.4 px
		{600, 0.15, 4}, // 3.5 px
		{600, 0.127, 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%ddpi_%gmm", tt.dpi, tt.moduleMM), func(t *testing.T) {
			opt := Options{DPI: tt.dpi, ModuleMM: tt.moduleMM}
			require.Equal(t, tt.wantPx, opt.ModulePx())
			l := Label{Data: typicalGS1, GS1: true, Text: packText}
			img, err := Render(l, opt)
			require.NoError(t, err)

			m, err := EncodeDataMatrix(l.Data, true)
			require.NoError(t, err)
			sym := locateSymbol(t, img, m, tt.wantPx)
			requireQuietZone(t, img, sym, DefaultQuietZone*tt.wantPx)
			require.Greater(t, img.Bounds().Dx(), sym.Max.X+DefaultQuietZone*tt.wantPx, "text to the right of the quiet zone")

			d, err := Decode(img)
			require.NoError(t, err)
			require.Equal(t, Decoded{Data: l.Data, GS1: true, SymbologyID: "]d2"}, d)
		})
	}
}

func TestRenderWithoutTextIsSymbolAndQuietZone(t *testing.T) {
	for _, qz := range []int{2, 3, 6} {
		t.Run(fmt.Sprintf("quiet zone %d", qz), func(t *testing.T) {
			img, err := Render(Label{Data: typicalGS1, GS1: true}, Options{DPI: 300, QuietZone: qz})
			require.NoError(t, err)
			m, err := EncodeDataMatrix(typicalGS1, true)
			require.NoError(t, err)
			px := Options{DPI: 300}.ModulePx()
			require.Equal(t, image.Rect(0, 0, (m.Cols+2*qz)*px, (m.Rows+2*qz)*px), img.Bounds())
			sym := locateSymbol(t, img, m, px)
			require.Equal(t, image.Pt(qz*px, qz*px), sym.Min)
			requireQuietZone(t, img, sym, qz*px)
		})
	}
}

func TestRenderText(t *testing.T) {
	opt := Options{DPI: 300}
	px := opt.ModulePx()
	one, err := Render(Label{Data: typicalGS1, GS1: true, Text: packText[:1]}, opt)
	require.NoError(t, err)
	four, err := Render(Label{Data: typicalGS1, GS1: true, Text: packText}, opt)
	require.NoError(t, err)
	m, err := EncodeDataMatrix(typicalGS1, true)
	require.NoError(t, err)
	symRight := locateSymbol(t, four, m, px).Max.X + DefaultQuietZone*px

	// Ink right of the quiet zone, in as many bands as there are lines.
	bands := func(img *image.Gray) int {
		n, inBand := 0, false
		for y := 0; y < img.Bounds().Dy(); y++ {
			ink := false
			for x := symRight; x < img.Bounds().Dx() && !ink; x++ {
				ink = img.GrayAt(x, y).Y < 128
			}
			if ink && !inBand {
				n++
			}
			inBand = ink
		}
		return n
	}
	require.Equal(t, 1, bands(one))
	require.Equal(t, 4, bands(four))

	// Cap height about TextMM: "H" is one line of capitals only.
	h, err := Render(Label{Data: "A", Text: []string{"HHHH"}}, Options{DPI: 600, TextMM: 2})
	require.NoError(t, err)
	hm, err := EncodeDataMatrix("A", false)
	require.NoError(t, err)
	left := locateSymbol(t, h, hm, Options{DPI: 600}.ModulePx()).Max.X + 2*Options{DPI: 600}.ModulePx()
	top, bottom := -1, -1
	for y := 0; y < h.Bounds().Dy(); y++ {
		for x := left; x < h.Bounds().Dx(); x++ {
			if h.GrayAt(x, y).Y < 128 {
				if top < 0 {
					top = y
				}
				bottom = y
				break
			}
		}
	}
	capMM := float64(bottom-top+1) * 25.4 / 600
	require.InDelta(t, 2.0, capMM, 0.15, "cap height in mm")
}

func TestRenderErrors(t *testing.T) {
	ok := Label{Data: typicalGS1, GS1: true, Text: packText}
	tests := []struct {
		name    string
		l       Label
		opt     Options
		wantMsg string
	}{
		{"DPI too low", ok, Options{DPI: 50}, "DPI 50"},
		{"DPI negative", ok, Options{DPI: -300}, "DPI -300"},
		{"DPI too high", ok, Options{DPI: 4800}, "DPI 4800"},
		{"module size negative", ok, Options{ModuleMM: -0.4}, "ModuleMM -0.4"},
		{"module size too big", ok, Options{ModuleMM: 6}, "ModuleMM 6"},
		{"quiet zone of one module", ok, Options{QuietZone: 1}, "QuietZone 1 modules: must be at least 2"},
		{"quiet zone negative", ok, Options{QuietZone: -2}, "QuietZone -2"},
		{"text too small", ok, Options{TextMM: 0.2}, "TextMM 0.2"},
		{"empty data", Label{GS1: true}, Options{}, "empty"},
		{"GS1 data with a leading GS", Label{Data: "\x1d01", GS1: true}, Options{}, "starts with GS"},
		{"control character in text", Label{Data: "A", Text: []string{"LOT A\x1dB"}}, Options{}, "line 1 \"LOT A\\x1dB\": control character U+001D"},
		{"character the font lacks", Label{Data: "A", Text: []string{"ok", "批号 7"}}, Options{}, "line 2"},
		{"invalid UTF-8", Label{Data: "A", Text: []string{"\xff"}}, Options{}, "not valid UTF-8"},
		{"too many lines", Label{Data: "A", Text: make([]string, 33)}, Options{}, "33 lines"},
		{"too large", Label{Data: fillData(1558)}, Options{DPI: 2400, ModuleMM: 5}, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(tt.l, tt.opt)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantMsg)
			require.Error(t, RenderPNG(&bytes.Buffer{}, tt.l, tt.opt), "RenderPNG refuses it too")
		})
	}
}

func TestRenderPNG(t *testing.T) {
	var buf bytes.Buffer
	l := Label{Data: typicalGS1, GS1: true, Text: packText}
	require.NoError(t, RenderPNG(&buf, l, Options{DPI: 203}))
	img, err := png.Decode(&buf)
	require.NoError(t, err)
	require.Equal(t, color.GrayModel, img.ColorModel(), "8-bit grey PNG")
	want, err := Render(l, Options{DPI: 203})
	require.NoError(t, err)
	require.Equal(t, want.Pix, img.(*image.Gray).Pix)
}

func TestDrawMatrix(t *testing.T) {
	m, err := EncodeDataMatrix(typicalGS1, true)
	require.NoError(t, err)
	const px = 3
	tests := []struct {
		name string
		dst  func(w, h int) draw.Image
	}{
		{"gray", func(w, h int) draw.Image { return image.NewGray(image.Rect(0, 0, w, h)) }},
		{"rgba", func(w, h int) draw.Image { return image.NewRGBA(image.Rect(0, 0, w, h)) }},
		{"paletted", func(w, h int) draw.Image {
			return image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.Gray{Y: 200}, color.White})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h := m.Cols*px+20, m.Rows*px+20
			dst := tt.dst(w, h)
			mid := color.Gray{Y: 200}
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					dst.Set(x, y, mid)
				}
			}
			DrawMatrix(dst, m, 7, 5, px)
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					got := color.GrayModel.Convert(dst.At(x, y)).(color.Gray)
					want := mid // light modules and outside keep what was there
					if x >= 7 && y >= 5 && m.At((x-7)/px, (y-5)/px) {
						want = color.Gray{}
					}
					require.Equal(t, want, got, "pixel (%d,%d)", x, y)
				}
			}
		})
	}

	t.Run("clipped at the edges", func(t *testing.T) {
		dst := whiteGray(10, 10)
		DrawMatrix(dst, m, -5, -5, px) // must not panic
		require.Equal(t, uint8(0), dst.GrayAt(0, 9).Y, "part of the symbol's solid left edge is visible")
	})
}

// TestRenderConformance has the independent decoders (zxing-cpp, libdmtx)
// and GS1 checker read our labels. The 600 dpi label goes without text:
// libdmtx spends seconds searching large text areas for further symbols.
func TestRenderConformance(t *testing.T) {
	testkit.ValidatorsBin(t)
	dir := t.TempDir()
	cases := []struct {
		dpi  int
		text []string
	}{{203, packText}, {300, packText}, {600, nil}}
	var files []string
	for _, c := range cases {
		path := filepath.Join(dir, fmt.Sprintf("label-%ddpi.png", c.dpi))
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, RenderPNG(f, Label{Data: typicalGS1, GS1: true, Text: c.text}, Options{DPI: c.dpi}))
		require.NoError(t, f.Close())
		files = append(files, path)
	}

	out, code := testkit.RunValidator(t, "decode-dm", append([]string{"--require-gs1", "--validate", "--json"}, files...)...)
	require.Equal(t, 0, code, out)
	reports := parseDecodeDM(t, out)
	require.Len(t, reports, len(files), out)
	for i, r := range reports {
		t.Run(filepath.Base(files[i]), func(t *testing.T) {
			require.Equal(t, files[i], r.File)
			require.Len(t, r.Symbols, 1, out)
			sym := r.Symbols[0]
			require.Equal(t, "]d2", sym.SymbologyIdentifier)
			require.Equal(t, typicalGS1, sym.Data)
			require.NotNil(t, sym.GS1Validation, out)
			require.True(t, sym.GS1Validation.Valid, out)
			require.NotNil(t, sym.QuietZone, out)
			require.True(t, sym.QuietZone.OK, out)
			require.GreaterOrEqual(t, sym.QuietZone.MinMarginModules, 2.0, "quiet zone in modules")
			require.True(t, r.DecodersAgree, out)
			require.NotNil(t, r.Dmtx, out)
			require.NotNil(t, r.Dmtx.FirstDataCodeword, out)
			require.Equal(t, 232, *r.Dmtx.FirstDataCodeword, "libdmtx sees FNC1 first")
			require.Empty(t, r.Warnings, out)
		})
	}
}

func TestRenderPlainDataMatrix(t *testing.T) {
	const data = "Serialine test, line 4"
	img, err := Render(Label{Data: data}, Options{})
	require.NoError(t, err)
	d, err := Decode(img)
	require.NoError(t, err)
	require.Equal(t, Decoded{Data: data, GS1: false, SymbologyID: "]d1"}, d)

	testkit.ValidatorsBin(t)
	path := filepath.Join(t.TempDir(), "plain.png")
	testkit.WritePNG(t, path, img)
	out, code := testkit.RunValidator(t, "decode-dm", "--require-gs1", "--json", path)
	require.Equal(t, 4, code, "decode-dm refuses a plain symbol as GS1: %s", out)
	r := parseDecodeDM(t, out)
	require.Len(t, r, 1)
	require.Len(t, r[0].Symbols, 1)
	require.Equal(t, "]d1", r[0].Symbols[0].SymbologyIdentifier)
	require.Equal(t, data, r[0].Symbols[0].Data)
	require.True(t, r[0].DecodersAgree, out)
}
