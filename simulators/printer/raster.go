package printer

import (
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"

	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/shared/label"
)

// quietModules is the white margin kept around each symbol. Text that would
// run into it is cut off there, so a layout mistake shows on the label
// instead of silently breaking the code.
const quietModules = 2

// rasteriser turns parsed labels into pixels. Font faces are not safe for
// concurrent use, and the smudge PRNG is one sequence, hence the lock.
type rasteriser struct {
	defW, defH int // label size when the format sets none

	mu    sync.Mutex
	font  *sfnt.Font
	faces map[int]font.Face // by font height in dots
	rng   *rand.Rand
}

func newRasteriser(defW, defH int, rng *rand.Rand) (*rasteriser, error) {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse Go Regular: %w", err)
	}
	return &rasteriser{defW: defW, defH: defH, font: f, faces: make(map[int]font.Face), rng: rng}, nil
}

// face returns the text face whose line (ascent + descent) is h dots, like
// ZPL's scalable font 0 with ^A0N,h.
func (r *rasteriser) face(h int) (font.Face, error) {
	if f, ok := r.faces[h]; ok {
		return f, nil
	}
	probe, err := opentype.NewFace(r.font, &opentype.FaceOptions{Size: float64(h), DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return nil, err
	}
	m := probe.Metrics()
	line := float64(m.Ascent+m.Descent) / 64
	size := float64(h)
	if line > 0 {
		size = float64(h) * float64(h) / line
	}
	f, err := opentype.NewFace(r.font, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, err
	}
	r.faces[h] = f
	return f, nil
}

// symbol is one encoded DataMatrix placed on the label.
type symbol struct {
	m      *label.Matrix
	x, y   int
	module int
}

func (s symbol) rect() image.Rectangle {
	return image.Rect(s.x, s.y, s.x+s.m.Cols*s.module, s.y+s.m.Rows*s.module)
}

// rasterise draws l on white at its size: text first, then each symbol's
// quiet zone cleared and its modules drawn, then the smudge. Fields that
// cannot be drawn are skipped and reported together in the error.
func (r *rasteriser) rasterise(l zpl.Label, smudge float64) (*image.Gray, error) {
	w, h := l.WidthDots, l.HeightDots
	if w <= 0 {
		w = r.defW
	}
	if h <= 0 {
		h = r.defH
	}
	var errs []error
	if w*h > maxLabelPixels {
		errs = append(errs, fmt.Errorf("label %dx%d dots exceeds the raster limit; cut to the loaded stock %dx%d", w, h, r.defW, r.defH))
		w, h = r.defW, r.defH
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xFF
	}

	var syms []symbol
	for i, e := range l.Elements {
		if e.Kind != zpl.DataMatrix {
			continue
		}
		m, err := label.EncodeDataMatrix(e.Data, e.GS1)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %d (^BX at %d,%d): %w", i, e.X, e.Y, err))
			continue
		}
		syms = append(syms, symbol{m: m, x: e.X, y: e.Y, module: max(1, e.ModuleDots)})
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range l.Elements {
		if e.Kind != zpl.Text || e.Data == "" {
			continue
		}
		fh := e.FontHeight
		if fh <= 0 {
			fh = 30 // ^CF's power-on default for font 0 is about this size at 12 dpmm
		}
		face, err := r.face(fh)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %d (text at %d,%d): font: %w", i, e.X, e.Y, err))
			continue
		}
		d := font.Drawer{Dst: img, Src: image.Black, Face: face, Dot: fixed.P(e.X, e.Y+face.Metrics().Ascent.Ceil())}
		d.DrawString(e.Data)
	}
	for i, e := range l.Elements {
		if e.Kind != zpl.Code128 {
			continue
		}
		if err := drawCode128(img, e); err != nil {
			errs = append(errs, fmt.Errorf("field %d (^BC at %d,%d): %w", i, e.X, e.Y, err))
		}
	}
	for _, s := range syms {
		q := quietModules * s.module
		clearRect(img, s.rect().Inset(-q))
		label.DrawMatrix(img, s.m, s.x, s.y, s.module)
		if smudge > 0 {
			r.smudge(img, s, smudge)
		}
	}
	return img, errors.Join(errs...)
}

// drawCode128 draws a Code 128 (GS1-128 when e.GS1) with its bars' top
// left at e.X, e.Y, clearing its 10-module quiet zones first. The code
// sets are the encoder's own (drivers/zpl), which reads the same data.
func drawCode128(img *image.Gray, e zpl.Element) error {
	vals, err := zpl.EncodeCode128(e.Data, e.GS1)
	if err != nil {
		return err
	}
	m, h := max(1, e.ModuleDots), max(1, e.HeightDots)
	mods := zpl.Code128Modules(vals)
	clearRect(img, image.Rect(e.X-10*m, e.Y, e.X+(len(mods)+10)*m, e.Y+h))
	for i, dark := range mods {
		if !dark {
			continue
		}
		r := image.Rect(e.X+i*m, e.Y, e.X+(i+1)*m, e.Y+h).Intersect(img.Bounds())
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := img.Pix[img.PixOffset(r.Min.X, y):img.PixOffset(r.Max.X, y)]
			for k := range row {
				row[k] = 0
			}
		}
	}
	return nil
}

// smudge whitens each dark module of s with probability share.
func (r *rasteriser) smudge(img *image.Gray, s symbol, share float64) {
	for row := 0; row < s.m.Rows; row++ {
		for col := 0; col < s.m.Cols; col++ {
			if s.m.At(col, row) && r.rng.Float64() < share {
				x, y := s.x+col*s.module, s.y+row*s.module
				clearRect(img, image.Rect(x, y, x+s.module, y+s.module))
			}
		}
	}
}

// clearRect paints r white, clipped to img.
func clearRect(img *image.Gray, r image.Rectangle) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Pix[img.PixOffset(r.Min.X, y):img.PixOffset(r.Max.X, y)]
		for i := range row {
			row[i] = 0xFF
		}
	}
}
