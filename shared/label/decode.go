package label

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeFile reads JPEG photos and scans
	_ "image/png"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/datamatrix"
)

// ErrNoSymbol is returned when no DataMatrix is found in the image, or none
// that could be read.
var ErrNoSymbol = errors.New("no DataMatrix symbol found")

// Decoded is what a reader transmits for one DataMatrix.
type Decoded struct {
	// Data has FNC1 separators as GS (0x1D) and no prefix: neither the
	// symbology identifier nor the GS of a leading FNC1.
	Data string
	// GS1 is true when FNC1 came first, i.e. a GS1 DataMatrix.
	GS1 bool
	// SymbologyID is the AIM symbology identifier: "]d2" for GS1, "]d1" for
	// a plain symbol.
	SymbologyID string
}

// maxDecodePixels bounds the images DecodeFile accepts (a 48 MP photo).
const maxDecodePixels = 48_000_000

// DecodeFile reads a PNG or JPEG file, recognised by content whatever its
// name, and decodes the DataMatrix in it.
func DecodeFile(path string) (Decoded, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Decoded{}, fmt.Errorf("decode %s: %w", path, err)
	}
	d, err := DecodeReader(bytes.NewReader(b))
	if err != nil {
		return Decoded{}, fmt.Errorf("decode %s: %w", path, err)
	}
	return d, nil
}

// DecodeReader reads a PNG or JPEG image from r and decodes the DataMatrix
// in it.
func DecodeReader(r io.Reader) (Decoded, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Decoded{}, fmt.Errorf("read image: %w", err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return Decoded{}, errors.New("image: not a PNG or JPEG")
		}
		return Decoded{}, fmt.Errorf("image header: %w", err)
	}
	if format != "png" && format != "jpeg" {
		return Decoded{}, fmt.Errorf("image: format %s, want PNG or JPEG", format)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxDecodePixels {
		return Decoded{}, fmt.Errorf("image: %d×%d pixels, at most %d allowed", cfg.Width, cfg.Height, maxDecodePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return Decoded{}, fmt.Errorf("%s image: %w", format, err)
	}
	return Decode(img)
}

// Decode finds and decodes one DataMatrix in img. It tries, in turn, the
// whole image, then each dark region that could be a symbol (so that text or
// other marks beside it do not mislead the detector), each padded with a
// white border so that symbols printed without a quiet zone are found; then
// the same on a median-filtered copy (speckle noise); then its own grid
// reader, which votes over each module's pixels; then the first two turned
// by 90°, 180° and 270°.
func Decode(img image.Image) (Decoded, error) {
	g := toGray(img)
	if g.w == 0 || g.h == 0 {
		return Decoded{}, fmt.Errorf("decode empty image: %w", ErrNoSymbol)
	}
	r := reader{dm: datamatrix.NewDataMatrixReader()}
	// Upright first, plain then median-filtered (made only when needed).
	if d, ok := r.search(g, candidates(g)); ok {
		return d, nil
	}
	filtered := g.median3()
	regions := candidates(filtered)
	if d, ok := r.search(filtered, regions); ok {
		return d, nil
	}
	// Our own grid reader votes over each module's pixels, against speckle.
	for _, rect := range append([]image.Rectangle{image.Rect(0, 0, g.w, g.h)}, regions...) {
		if d, ok := readGrid(g.crop(rect), filtered.crop(rect)); ok {
			return d, nil
		}
	}
	// gozxing's detector misjudges some noisy symbols in one orientation
	// and reads them in another, so the quarter turns are tried too.
	plain := g
	for turn := 1; turn < 4; turn++ {
		plain, filtered = plain.rotate90(), filtered.rotate90()
		if d, ok := r.search(plain, candidates(plain)); ok {
			return d, nil
		}
		if d, ok := r.search(filtered, candidates(filtered)); ok {
			return d, nil
		}
	}
	if r.lastErr != nil {
		return Decoded{}, fmt.Errorf("decode %d×%d image (a candidate failed to read: %v): %w", g.w, g.h, r.lastErr, ErrNoSymbol)
	}
	return Decoded{}, fmt.Errorf("decode %d×%d image: %w", g.w, g.h, ErrNoSymbol)
}

// reader runs gozxing's DataMatrix reader over crops of one image.
type reader struct {
	dm      *datamatrix.DataMatrixReader
	lastErr error // the most telling failure, for the error message
}

// search tries the whole image and then each candidate region of it.
func (r *reader) search(g gray, regions []image.Rectangle) (Decoded, bool) {
	if d, ok := r.tryRegion(g, image.Rect(0, 0, g.w, g.h)); ok {
		return d, true
	}
	for _, c := range regions {
		if d, ok := r.tryRegion(g, c); ok {
			return d, true
		}
	}
	return Decoded{}, false
}

// tryRegion copies rect of g onto white with a border round it and decodes:
// first with the hybrid (local) binarizer, then the global-histogram one,
// which copes better with speckle and uneven print that confuse local
// thresholds, and last as a pure, axis-aligned symbol.
func (r *reader) tryRegion(g gray, rect image.Rectangle) (Decoded, bool) {
	border := max(10, min(rect.Dx(), rect.Dy())/8)
	src := newLumSource(g.pad(rect, border))
	attempts := []struct {
		bin   func(gozxing.LuminanceSource) gozxing.Binarizer
		hints map[gozxing.DecodeHintType]any
	}{
		{gozxing.NewHybridBinarizer, nil},
		{gozxing.NewGlobalHistgramBinarizer, nil},
		{gozxing.NewHybridBinarizer, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true}},
	}
	for _, a := range attempts {
		bmp, err := gozxing.NewBinaryBitmap(a.bin(src))
		if err != nil {
			continue
		}
		res, err := r.dm.Decode(bmp, a.hints)
		if err != nil {
			r.note(err)
			continue
		}
		return toDecoded(res), true
	}
	return Decoded{}, false
}

// note keeps the last checksum or format failure: it says something like a
// symbol was there but could not be read. A plain not-found says nothing.
func (r *reader) note(err error) {
	var nf gozxing.NotFoundException
	if !errors.As(err, &nf) {
		r.lastErr = err
	}
}

func toDecoded(res *gozxing.Result) Decoded {
	sid, _ := res.GetResultMetadata()[gozxing.ResultMetadataType_SYMBOLOGY_IDENTIFIER].(string)
	return newDecoded(res.GetText(), sid)
}

// newDecoded builds the result from gozxing's text and symbology identifier.
// gozxing reports ]d2 for FNC1 in first position (or fifth, after a
// structured-append header) and transmits that FNC1 as a leading GS.
func newDecoded(text, sid string) Decoded {
	gs1 := sid == "]d2" || sid == "]d5"
	if gs1 {
		text = strings.TrimPrefix(text, "\x1d")
	}
	return Decoded{Data: text, GS1: gs1, SymbologyID: sid}
}

// gray is an 8-bit luminance image, 0 black to 255 white, stride = w.
type gray struct {
	w, h int
	pix  []byte
}

// toGray converts img to luminance, flattening transparency onto white as a
// label printer or a viewer on paper-white would.
func toGray(img image.Image) gray {
	b := img.Bounds()
	g := gray{w: b.Dx(), h: b.Dy(), pix: make([]byte, b.Dx()*b.Dy())}
	switch src := img.(type) {
	case *image.Gray:
		for y := 0; y < g.h; y++ {
			i := src.PixOffset(b.Min.X, b.Min.Y+y)
			copy(g.pix[y*g.w:(y+1)*g.w], src.Pix[i:i+g.w])
		}
	case *image.YCbCr:
		for y := 0; y < g.h; y++ {
			i := src.YOffset(b.Min.X, b.Min.Y+y)
			copy(g.pix[y*g.w:(y+1)*g.w], src.Y[i:i+g.w])
		}
	case *image.NRGBA:
		for y := 0; y < g.h; y++ {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < g.w; x++ {
				p := row[4*x : 4*x+4]
				lum := (299*uint32(p[0]) + 587*uint32(p[1]) + 114*uint32(p[2])) / 1000
				a := uint32(p[3])
				g.pix[y*g.w+x] = byte((lum*a + 255*(255-a)) / 255)
			}
		}
	case *image.RGBA: // premultiplied: white shows through as 255-a
		for y := 0; y < g.h; y++ {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < g.w; x++ {
				p := row[4*x : 4*x+4]
				lum := (299*uint32(p[0]) + 587*uint32(p[1]) + 114*uint32(p[2])) / 1000
				g.pix[y*g.w+x] = byte(min(255, lum+255-uint32(p[3])))
			}
		}
	default:
		for y := 0; y < g.h; y++ {
			for x := 0; x < g.w; x++ {
				r, gg, bb, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				lum := (299*r + 587*gg + 114*bb) / 1000
				g.pix[y*g.w+x] = byte(min(0xFFFF, lum+0xFFFF-a) >> 8)
			}
		}
	}
	return g
}

// pad copies rect of g onto a white canvas with border pixels all round.
func (g gray) pad(rect image.Rectangle, border int) gray {
	rect = rect.Intersect(image.Rect(0, 0, g.w, g.h))
	out := gray{w: rect.Dx() + 2*border, h: rect.Dy() + 2*border}
	out.pix = make([]byte, out.w*out.h)
	for i := range out.pix {
		out.pix[i] = 0xFF
	}
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		dst := (y-rect.Min.Y+border)*out.w + border
		copy(out.pix[dst:dst+rect.Dx()], g.pix[y*g.w+rect.Min.X:y*g.w+rect.Max.X])
	}
	return out
}

// median3 is g through a 3×3 median filter, which removes isolated flipped
// pixels (speckle) but keeps modules of 3 pixels and more.
func (g gray) median3() gray {
	out := gray{w: g.w, h: g.h, pix: make([]byte, len(g.pix))}
	copy(out.pix, g.pix)
	var win [9]byte
	for y := 1; y < g.h-1; y++ {
		for x := 1; x < g.w-1; x++ {
			k := 0
			for dy := -1; dy <= 1; dy++ {
				i := (y+dy)*g.w + x - 1
				win[k], win[k+1], win[k+2] = g.pix[i], g.pix[i+1], g.pix[i+2]
				k += 3
			}
			out.pix[y*g.w+x] = median9(&win)
		}
	}
	return out
}

// median9 returns the median of nine values by partial insertion sort.
func median9(v *[9]byte) byte {
	for i := 1; i < 9; i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
	return v[4]
}

// rotate90 turns g a quarter clockwise.
func (g gray) rotate90() gray {
	out := gray{w: g.h, h: g.w, pix: make([]byte, len(g.pix))}
	for y := 0; y < g.h; y++ {
		for x := 0; x < g.w; x++ {
			out.pix[x*out.w+(g.h-1-y)] = g.pix[y*g.w+x]
		}
	}
	return out
}

// candidates returns the bounding boxes, with a small margin, of dark
// regions that could be a symbol, largest first. Dark pixels are grouped on
// grids of growing cell size, so that at some scale a symbol's modules join
// into one region while the quiet zone still parts it from the text beside it.
func candidates(g gray) []image.Rectangle {
	dark := darkMask(g)
	var out []image.Rectangle
	for cell := 1; cell <= max(g.w, g.h)/8; cell *= 2 {
		if (g.w/cell)*(g.h/cell) > 2_000_000 {
			continue // too fine for a big photo; coarser cells follow
		}
		for _, r := range regions(dark, g.w, g.h, cell) {
			r = r.Inset(-cell).Intersect(image.Rect(0, 0, g.w, g.h))
			if plausible(r, dark, g.w) && !nearDuplicate(out, r) {
				out = append(out, r)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b image.Rectangle) int {
		return b.Dx()*b.Dy() - a.Dx()*a.Dy()
	})
	const maxCandidates = 48
	if len(out) > maxCandidates {
		out = out[:maxCandidates]
	}
	return out
}

// darkMask thresholds g with gozxing's hybrid binarizer (local thresholds
// cope with uneven lighting in photos).
func darkMask(g gray) []bool {
	mask := make([]bool, g.w*g.h)
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(newLumSource(g)))
	if err != nil {
		return mask
	}
	bm, err := bmp.GetBlackMatrix()
	if err != nil {
		return mask
	}
	for y := 0; y < g.h; y++ {
		for x := 0; x < g.w; x++ {
			mask[y*g.w+x] = bm.Get(x, y)
		}
	}
	return mask
}

// regions groups dark pixels into cells of cell×cell pixels and returns the
// pixel bounding box of each 8-connected group of dark cells.
func regions(dark []bool, w, h, cell int) []image.Rectangle {
	cw, ch := (w+cell-1)/cell, (h+cell-1)/cell
	on := make([]bool, cw*ch)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if dark[y*w+x] {
				on[(y/cell)*cw+x/cell] = true
			}
		}
	}
	seen := make([]bool, len(on))
	var out []image.Rectangle
	var stack []int
	for start := range on {
		if !on[start] || seen[start] {
			continue
		}
		seen[start] = true
		stack = append(stack[:0], start)
		minX, minY, maxX, maxY := cw, ch, -1, -1
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			x, y := i%cw, i/cw
			minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= cw || ny >= ch {
						continue
					}
					if j := ny*cw + nx; on[j] && !seen[j] {
						seen[j] = true
						stack = append(stack, j)
					}
				}
			}
		}
		out = append(out, image.Rect(minX*cell, minY*cell, min(w, (maxX+1)*cell), min(h, (maxY+1)*cell)))
	}
	return out
}

// plausible rejects regions no DataMatrix could fill: too small (10 modules
// of at least one pixel), too elongated (the longest rectangle is 8×48), or
// too empty or too full of ink.
func plausible(r image.Rectangle, dark []bool, w int) bool {
	dx, dy := r.Dx(), r.Dy()
	if dx < 8 || dy < 8 || dx > 7*dy || dy > 7*dx {
		return false
	}
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if dark[y*w+x] {
				n++
			}
		}
	}
	fill := float64(n) / float64(dx*dy)
	return fill > 0.15 && fill < 0.9
}

// nearDuplicate reports whether r is almost the same box as one in rs.
func nearDuplicate(rs []image.Rectangle, r image.Rectangle) bool {
	for _, o := range rs {
		in := o.Intersect(r)
		union := o.Dx()*o.Dy() + r.Dx()*r.Dy() - in.Dx()*in.Dy()
		if union > 0 && float64(in.Dx()*in.Dy()) > 0.9*float64(union) {
			return true
		}
	}
	return false
}

// lumSource serves a gray image to gozxing without the per-pixel interface
// calls of its image.Image adapter.
type lumSource struct {
	gozxing.LuminanceSourceBase
	pix []byte
}

func newLumSource(g gray) *lumSource {
	return &lumSource{LuminanceSourceBase: gozxing.LuminanceSourceBase{Width: g.w, Height: g.h}, pix: g.pix}
}

func (s *lumSource) GetRow(y int, row []byte) ([]byte, error) {
	if y < 0 || y >= s.Height {
		return nil, fmt.Errorf("luminance row %d outside 0..%d", y, s.Height-1)
	}
	if cap(row) < s.Width {
		row = make([]byte, s.Width)
	}
	row = row[:s.Width]
	copy(row, s.pix[y*s.Width:(y+1)*s.Width])
	return row, nil
}

func (s *lumSource) GetMatrix() []byte { return s.pix }

func (s *lumSource) Invert() gozxing.LuminanceSource { return gozxing.LuminanceSourceInvert(s) }

func (s *lumSource) String() string { return gozxing.LuminanceSourceString(s) }
