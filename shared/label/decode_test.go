package label

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/serialine/serialine/internal/testkit"
)

var updateFixtures = flag.Bool("update-fixtures", false, "regenerate testdata/ from zint and bwip-js")

// The symbol the other encoders make: GTIN, expiry, lot, serial.
const (
	foreignAIs       = "[01]09506000134352[17]201225[10]ABC123[21]XYZ"
	foreignBracketed = "(01)09506000134352(17)201225(10)ABC123(21)XYZ"
	foreignData      = "0109506000134352" + "17201225" + "10ABC123\x1d" + "21XYZ"
	foreignPlain     = "Serialine 0123456789"
)

// zintImage runs Debian's zint CLI with args and returns its PNG, or skips.
func zintImage(tb testing.TB, args ...string) *image.Gray {
	tb.Helper()
	zint, err := exec.LookPath("zint")
	if err != nil {
		tb.Skip("SKIPPED: zint is not installed (Debian package zint)")
	}
	out := filepath.Join(tb.TempDir(), "zint.png")
	b, err := exec.Command(zint, append(args, "-o", out)...).CombinedOutput()
	require.NoError(tb, err, "zint %v: %s", args, b)
	return grayOf(readImage(tb, out))
}

// bwipScript renders one barcode with bwip-js: node bwip.js MODULE OPTIONS-JSON OUT.PNG
const bwipScript = `const bwipjs = require(process.argv[2]);
bwipjs.toBuffer(JSON.parse(process.argv[3]))
  .then(png => require('fs').writeFileSync(process.argv[4], png))
  .catch(e => { console.error(e); process.exit(1); });
`

// bwipImage renders opts with bwip-js (kept beside the validators), or skips.
func bwipImage(tb testing.TB, opts map[string]any) *image.Gray {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Skip("SKIPPED: node is not installed; bwip-js needs it")
	}
	module := filepath.Join(testkit.ValidatorsBin(tb), "..", "node_modules", "bwip-js")
	if _, err := os.Stat(module); err != nil {
		tb.Skipf("SKIPPED: bwip-js not found beside the validators: %v", err)
	}
	dir := tb.TempDir()
	script := filepath.Join(dir, "bwip.js")
	require.NoError(tb, os.WriteFile(script, []byte(bwipScript), 0o644))
	js, err := json.Marshal(opts)
	require.NoError(tb, err)
	out := filepath.Join(dir, "bwip.png")
	b, err := exec.Command(node, script, module, string(js), out).CombinedOutput()
	require.NoError(tb, err, "bwip-js %s: %s", js, b)
	return grayOf(readImage(tb, out))
}

func bwipGS1(scale int, extra map[string]any) map[string]any {
	opts := map[string]any{"bcid": "gs1datamatrix", "text": foreignBracketed, "scale": scale}
	for k, v := range extra {
		opts[k] = v
	}
	return opts
}

// foreignSymbols are the other encoders' GS1 DataMatrix symbols, at 3 px a
// module or more (zint draws 2 px a module at --scale=1, bwip-js 2 px at
// scale 1 and only whole scales), with and without their own quiet zone.
var foreignSymbols = []struct {
	name string
	make func(testing.TB) *image.Gray
}{
	{"zint-3px", func(tb testing.TB) *image.Gray {
		return zintImage(tb, "-b", "71", "--gs1", "-d", foreignAIs, "--scale=1.5")
	}},
	{"zint-4px-quietzones", func(tb testing.TB) *image.Gray {
		return zintImage(tb, "-b", "71", "--gs1", "-d", foreignAIs, "--scale=2", "--quietzones")
	}},
	{"zint-6px-whitespace", func(tb testing.TB) *image.Gray {
		return zintImage(tb, "-b", "71", "--gs1", "-d", foreignAIs, "--scale=3", "--whitesp=3", "--vwhitesp=3")
	}},
	{"bwipjs-4px", func(tb testing.TB) *image.Gray { return bwipImage(tb, bwipGS1(2, nil)) }},
	{"bwipjs-6px-padding", func(tb testing.TB) *image.Gray { return bwipImage(tb, bwipGS1(3, map[string]any{"padding": 4})) }},
}

// distortions are what a camera, a scanner or a worn print does to a symbol.
var distortions = []struct {
	name string
	do   func(tb testing.TB, img *image.Gray, seed uint64) image.Image
}{
	{"clean", func(_ testing.TB, img *image.Gray, _ uint64) image.Image { return img }},
	{"speckle-2.5%", func(_ testing.TB, img *image.Gray, seed uint64) image.Image { return flipNoise(img, 0.025, seed) }},
	{"gauss-40", func(_ testing.TB, img *image.Gray, seed uint64) image.Image { return gaussNoise(img, 40, seed) }},
	{"jpeg-75", func(tb testing.TB, img *image.Gray, _ uint64) image.Image { return jpegRoundTrip(tb, img, 75) }},
	{"speckle-2%-jpeg-75", func(tb testing.TB, img *image.Gray, seed uint64) image.Image {
		return jpegRoundTrip(tb, flipNoise(img, 0.02, seed), 75)
	}},
}

func TestDecodeForeignEncoders(t *testing.T) {
	for _, sym := range foreignSymbols {
		t.Run(sym.name, func(t *testing.T) {
			made := sym.make(t)
			seed := uint64(0)
			for _, zone := range []string{"as-made", "cropped"} {
				base := made
				if zone == "cropped" {
					base = cropToInk(t, made)
				}
				for turn := 0; turn < 4; turn++ {
					turned := rotateQuarter(base, turn)
					for _, d := range distortions {
						seed++
						img := d.do(t, turned, seed)
						t.Run(fmt.Sprintf("%s/rot%d/%s", zone, 90*turn, d.name), func(t *testing.T) {
							got, err := Decode(img)
							require.NoError(t, err)
							require.Equal(t, Decoded{Data: foreignData, GS1: true, SymbologyID: "]d2"}, got)
						})
					}
				}
			}
		})
	}
}

func TestDecodeForeignPlain(t *testing.T) {
	img := zintImage(t, "-b", "71", "-d", foreignPlain, "--scale=1.5")
	for turn := 0; turn < 4; turn++ {
		got, err := Decode(rotateQuarter(img, turn))
		require.NoError(t, err, "rotated %d°", 90*turn)
		require.Equal(t, Decoded{Data: foreignPlain, GS1: false, SymbologyID: "]d1"}, got)
	}
}

// fixtures were generated by zint and bwip-js (go test -run TestDecodeFixtures
// -update-fixtures) so that the decode tests also run where neither exists.
var fixtures = []struct {
	file string
	want Decoded
	make func(testing.TB) []byte
}{
	{"zint-gs1-3px.png", Decoded{foreignData, true, "]d2"}, func(tb testing.TB) []byte {
		return pngBytes(tb, foreignSymbols[0].make(tb))
	}},
	{"zint-gs1-4px-quietzones-rot90-speckle.png", Decoded{foreignData, true, "]d2"}, func(tb testing.TB) []byte {
		return pngBytes(tb, flipNoise(rotateQuarter(foreignSymbols[1].make(tb), 1), 0.025, 90))
	}},
	{"zint-gs1-rect-16x48-3px.png", Decoded{foreignData, true, "]d2"}, func(tb testing.TB) []byte {
		return pngBytes(tb, zintImage(tb, "-b", "71", "--gs1", "--vers=30", "-d", foreignAIs, "--scale=1.5", "--quietzones"))
	}},
	{"zint-plain-3px.png", Decoded{foreignPlain, false, "]d1"}, func(tb testing.TB) []byte {
		return pngBytes(tb, zintImage(tb, "-b", "71", "-d", foreignPlain, "--scale=1.5"))
	}},
	{"bwipjs-gs1-4px-rot180.jpg", Decoded{foreignData, true, "]d2"}, func(tb testing.TB) []byte {
		return jpegBytes(tb, rotateQuarter(foreignSymbols[3].make(tb), 2), 75)
	}},
	{"bwipjs-gs1-6px-cropped-rot270-gauss.png", Decoded{foreignData, true, "]d2"}, func(tb testing.TB) []byte {
		return pngBytes(tb, gaussNoise(rotateQuarter(cropToInk(tb, foreignSymbols[4].make(tb)), 3), 40, 270))
	}},
}

func pngBytes(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "f.png")
	testkit.WritePNG(tb, path, img)
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	return b
}

func TestDecodeFixtures(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.file, func(t *testing.T) {
			path := filepath.Join("testdata", f.file)
			if *updateFixtures {
				require.NoError(t, os.WriteFile(path, f.make(t), 0o644))
			}
			got, err := DecodeFile(path)
			require.NoError(t, err)
			require.Equal(t, f.want, got)
		})
	}
}

func TestDecodeFile(t *testing.T) {
	img, err := Render(Label{Data: typicalGS1, GS1: true, Text: packText}, Options{DPI: 203})
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	want := Decoded{Data: typicalGS1, GS1: true, SymbologyID: "]d2"}

	tests := []struct {
		name    string
		path    string
		wantErr string
		errIs   error
	}{
		{"PNG", write("label.png", pngBytes(t, img)), "", nil},
		{"JPEG", write("label.jpg", jpegBytes(t, img, 75)), "", nil},
		{"JPEG named .png: content decides", write("photo.png", jpegBytes(t, img, 90)), "", nil},
		{"PNG without extension", write("scan", pngBytes(t, img)), "", nil},
		{"not an image", write("notes.png", []byte("GTIN 09506000134352\n")), "not a PNG or JPEG", nil},
		{"truncated PNG", write("cut.png", pngBytes(t, img)[:200]), "png image", nil},
		{"missing file", filepath.Join(dir, "absent.png"), "absent.png", fs.ErrNotExist},
		{"white page", write("white.png", pngBytes(t, whiteGray(300, 200))), "white.png", ErrNoSymbol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFile(tt.path)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, want, got)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
			if tt.errIs != nil {
				require.ErrorIs(t, err, tt.errIs)
			} else {
				require.NotErrorIs(t, err, ErrNoSymbol, "a bad file is not a missing symbol")
			}
		})
	}

	t.Run("reader", func(t *testing.T) {
		got, err := DecodeReader(bytes.NewReader(pngBytes(t, img)))
		require.NoError(t, err)
		require.Equal(t, want, got)
	})
}

func TestDecodeNoSymbol(t *testing.T) {
	text := whiteGray(600, 300)
	d := font.Drawer{Dst: text, Src: image.Black, Face: basicfont.Face7x13}
	for i := 0; i < 15; i++ {
		d.Dot = fixed.P(10, 20+i*18)
		d.DrawString("GTIN 09506000134352  LOT ABC123  EXP 2027-12-31  SN XYZ")
	}
	random := image.NewGray(image.Rect(0, 0, 300, 300))
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range random.Pix {
		random.Pix[i] = uint8(rng.IntN(256))
	}
	squares := whiteGray(300, 300) // solid blocks: ink, but no finder pattern
	for i := 0; i < 4; i++ {
		draw.Draw(squares, image.Rect(20+70*i, 40, 70+70*i, 90+40*i), image.Black, image.Point{}, draw.Src)
	}
	// A real symbol with a quarter of it wiped out: found, but unreadable.
	m, err := EncodeDataMatrix(typicalGS1, true)
	require.NoError(t, err)
	damaged := matrixImage(m, 4, 2)
	draw.Draw(damaged, image.Rect(8, 8, 8+m.Cols*2, 8+m.Rows*2), image.White, image.Point{}, draw.Src)

	tests := []struct {
		name string
		img  image.Image
	}{
		{"empty", image.NewGray(image.Rect(0, 0, 0, 0))},
		{"one pixel", image.NewGray(image.Rect(0, 0, 1, 1))},
		{"white", whiteGray(640, 480)},
		{"black", image.NewGray(image.Rect(0, 0, 200, 200))},
		{"text only", text},
		{"random grey", random},
		{"black squares", squares},
		{"symbol with a quarter wiped", damaged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.img)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrNoSymbol), "errors.Is(%v, ErrNoSymbol)", err)
		})
	}
}

// TestDecodeOwnLabelDistorted reads our own rendered label (symbol and text)
// turned, noisy and as a JPEG, at the smallest module size.
func TestDecodeOwnLabelDistorted(t *testing.T) {
	for _, dpi := range []int{203, 300} {
		img, err := Render(Label{Data: typicalGS1, GS1: true, Text: packText}, Options{DPI: dpi, ModuleMM: 0.1})
		require.NoError(t, err)
		seed := uint64(dpi)
		for turn := 0; turn < 4; turn++ {
			for _, d := range distortions {
				seed++
				distorted := d.do(t, rotateQuarter(img, turn), seed)
				t.Run(fmt.Sprintf("%ddpi/rot%d/%s", dpi, 90*turn, d.name), func(t *testing.T) {
					got, err := Decode(distorted)
					require.NoError(t, err)
					require.Equal(t, Decoded{Data: typicalGS1, GS1: true, SymbologyID: "]d2"}, got)
				})
			}
		}
	}
}

// TestDecodeImageTypes feeds the same label as each image type the standard
// decoders produce, with an offset origin and (for NRGBA) transparency that
// must count as white.
func TestDecodeImageTypes(t *testing.T) {
	src, err := Render(Label{Data: typicalGS1, GS1: true}, Options{DPI: 203})
	require.NoError(t, err)
	b := src.Bounds()
	offset := b.Add(image.Pt(13, 7))

	nrgba := image.NewNRGBA(offset) // transparent background, black modules
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			if src.GrayAt(x, y).Y < 128 {
				nrgba.Set(offset.Min.X+x, offset.Min.Y+y, image.Black.C)
			}
		}
	}
	rgba := image.NewRGBA(offset)
	draw.Draw(rgba, offset, src, b.Min, draw.Src)
	gray16 := image.NewGray16(offset)
	draw.Draw(gray16, offset, src, b.Min, draw.Src)
	subGray := image.NewGray(offset)
	draw.Draw(subGray, offset, src, b.Min, draw.Src)
	ycbcr := jpegRoundTrip(t, src, 95)

	for name, img := range map[string]image.Image{
		"NRGBA transparent": nrgba, "RGBA": rgba, "Gray16": gray16, "Gray offset": subGray, "YCbCr": ycbcr,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Decode(img)
			require.NoError(t, err)
			require.Equal(t, typicalGS1, got.Data)
			require.True(t, got.GS1)
		})
	}
}
