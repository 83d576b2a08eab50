package label

import (
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"math"
	"unicode"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// Label is what Render prints: one DataMatrix and its human-readable text.
type Label struct {
	// Data is the transmitted form: AIs with GS (0x1D) separators, no
	// FNC1 or symbology prefix.
	Data string
	// GS1 is true for a GS1 DataMatrix (the default use), false for a plain
	// DataMatrix.
	GS1 bool
	// Text holds the human-readable lines printed beside the symbol, e.g.
	// "GTIN 09506000134352", "LOT ABC123", "EXP 2027-12-31", "SN 12345".
	Text []string
}

// Options sets the resolution and sizes of a rendered label. Zero values take
// the defaults.
type Options struct {
	// DPI is the resolution in dots per inch (default 300; 72 to 2400).
	DPI int
	// ModuleMM is the module size in millimetres (default 0.4), rounded to
	// whole pixels and never below MinModulePx.
	ModuleMM float64
	// QuietZone is the light margin round the symbol, in modules (default 2,
	// at least 2).
	QuietZone int
	// TextMM is the cap height of the human-readable text in millimetres
	// (default 2).
	TextMM float64
}

// Defaults and limits of Options.
const (
	DefaultDPI       = 300
	DefaultModuleMM  = 0.4
	DefaultQuietZone = 2
	DefaultTextMM    = 2.0
	// MinModulePx is the smallest module Render draws: below 3 pixels a
	// scan or a printer's dot gain makes the grid unreliable.
	MinModulePx = 3

	minDPI, maxDPI          = 72, 2400
	maxModuleMM             = 5.0
	minTextMM, maxTextMM    = 0.5, 20.0
	maxRenderPx             = 20000 // per side; guards against runaway sizes
	maxTextLines            = 32
	textGapMM, textMarginMM = 1.5, 1.0
	lineSpacing             = 1.6 // line pitch over cap height
	mmPerInch               = 25.4
	fontProbePPEM           = 1000 // size at which the font's cap height is measured
)

// resolved fills in the defaults and checks the ranges.
func (o Options) resolved() (Options, error) {
	if o.DPI == 0 {
		o.DPI = DefaultDPI
	}
	if o.ModuleMM == 0 {
		o.ModuleMM = DefaultModuleMM
	}
	if o.QuietZone == 0 {
		o.QuietZone = DefaultQuietZone
	}
	if o.TextMM == 0 {
		o.TextMM = DefaultTextMM
	}
	switch {
	case o.DPI < minDPI || o.DPI > maxDPI:
		return o, fmt.Errorf("label options: DPI %d: must be %d to %d", o.DPI, minDPI, maxDPI)
	case !(o.ModuleMM > 0 && o.ModuleMM <= maxModuleMM):
		return o, fmt.Errorf("label options: ModuleMM %g: must be above 0 and at most %g mm", o.ModuleMM, maxModuleMM)
	case o.QuietZone < DefaultQuietZone:
		return o, fmt.Errorf("label options: QuietZone %d modules: must be at least %d", o.QuietZone, DefaultQuietZone)
	case !(o.TextMM >= minTextMM && o.TextMM <= maxTextMM):
		return o, fmt.Errorf("label options: TextMM %g: must be %g to %g mm", o.TextMM, minTextMM, maxTextMM)
	}
	return o, nil
}

// ModulePx is the module size in whole pixels that Render uses for these
// options: ModuleMM at DPI, rounded to whole pixels, at least MinModulePx.
func (o Options) ModulePx() int {
	r, _ := o.resolved() // out-of-range options are refused by Render, not here
	return max(MinModulePx, int(math.Round(r.ModuleMM*float64(r.DPI)/mmPerInch)))
}

func (o Options) mmToPx(mm float64) int { return int(math.Round(mm * float64(o.DPI) / mmPerInch)) }

// DrawMatrix paints m into dst with its top-left module at (x, y), each
// module px×px pixels: dark modules black, light ones left as they are.
func DrawMatrix(dst draw.Image, m *Matrix, x, y, px int) {
	if m == nil || px <= 0 {
		return
	}
	for row := 0; row < m.Rows; row++ {
		for col := 0; col < m.Cols; {
			if !m.At(col, row) {
				col++
				continue
			}
			end := col + 1
			for end < m.Cols && m.At(end, row) {
				end++
			}
			fillBlack(dst, image.Rect(x+col*px, y+row*px, x+end*px, y+(row+1)*px))
			col = end
		}
	}
}

// fillBlack paints r black, writing *image.Gray pixels directly because
// labels are rendered into one and draw.Draw's generic path is slow.
func fillBlack(dst draw.Image, r image.Rectangle) {
	r = r.Intersect(dst.Bounds())
	if r.Empty() {
		return
	}
	if g, ok := dst.(*image.Gray); ok {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			clear(g.Pix[g.PixOffset(r.Min.X, y):g.PixOffset(r.Max.X, y)])
		}
		return
	}
	draw.Draw(dst, r, image.Black, image.Point{}, draw.Src)
}

// Render draws l on white: the symbol inside its quiet zone at the left,
// the text lines to its right, both centred vertically.
func Render(l Label, opt Options) (*image.Gray, error) {
	opt, err := opt.resolved()
	if err != nil {
		return nil, err
	}
	m, err := EncodeDataMatrix(l.Data, l.GS1)
	if err != nil {
		return nil, fmt.Errorf("label: %w", err)
	}
	px := opt.ModulePx()
	qz := opt.QuietZone * px
	symW, symH := m.Cols*px, m.Rows*px
	width, height := symW+2*qz, symH+2*qz

	var txt *textBlock
	if len(l.Text) > 0 {
		if txt, err = layoutText(l.Text, opt); err != nil {
			return nil, err
		}
		gap := max(qz, opt.mmToPx(textGapMM)) // beyond the quiet zone, never inside it
		margin := opt.mmToPx(textMarginMM)
		width = qz + symW + gap + txt.width + margin
		height = max(height, txt.height+2*margin)
		txt.x = qz + symW + gap
		txt.y = (height - txt.height) / 2
	}
	if width > maxRenderPx || height > maxRenderPx {
		return nil, fmt.Errorf("label: rendered size %d×%d px exceeds %d px per side; lower DPI or ModuleMM", width, height, maxRenderPx)
	}

	img := image.NewGray(image.Rect(0, 0, width, height))
	for i := range img.Pix {
		img.Pix[i] = 0xFF
	}
	DrawMatrix(img, m, qz, (height-symH)/2, px)
	if txt != nil {
		txt.draw(img)
	}
	return img, nil
}

// RenderPNG renders l and writes it to w as an 8-bit grey PNG.
func RenderPNG(w io.Writer, l Label, opt Options) error {
	img, err := Render(l, opt)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(w, img); err != nil {
		return fmt.Errorf("label: write PNG: %w", err)
	}
	return nil
}

// textBlock is the laid-out human-readable text.
type textBlock struct {
	face          font.Face
	lines         []string
	ascent, pitch int
	width, height int
	x, y          int // top-left, set by the caller
}

// layoutText checks the lines and sizes them in Go Mono, a monospaced face
// in which 0/O and 1/l stay distinct, with the cap height at opt.TextMM.
func layoutText(lines []string, opt Options) (*textBlock, error) {
	if len(lines) > maxTextLines {
		return nil, fmt.Errorf("label text: %d lines, at most %d", len(lines), maxTextLines)
	}
	f, err := opentype.Parse(gomono.TTF)
	if err != nil {
		return nil, fmt.Errorf("label text: parse Go Mono: %w", err)
	}
	var buf sfnt.Buffer
	for i, line := range lines {
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("label text line %d: not valid UTF-8", i+1)
		}
		for _, r := range line {
			if unicode.IsControl(r) {
				return nil, fmt.Errorf("label text line %d %q: control character %U not allowed", i+1, line, r)
			}
			if gi, err := f.GlyphIndex(&buf, r); err != nil || gi == 0 {
				return nil, fmt.Errorf("label text line %d %q: character %q has no glyph in the label font", i+1, line, r)
			}
		}
	}

	capPx := max(7, opt.mmToPx(opt.TextMM))
	probe, err := f.Metrics(&buf, fixed.I(fontProbePPEM), font.HintingNone)
	if err != nil || probe.CapHeight <= 0 {
		return nil, fmt.Errorf("label text: Go Mono has no cap height: %v", err)
	}
	ppem := float64(capPx) * fontProbePPEM / (float64(probe.CapHeight) / 64)
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: ppem, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("label text: font face: %w", err)
	}
	met := face.Metrics()
	t := &textBlock{
		face:   face,
		lines:  lines,
		ascent: met.Ascent.Ceil(),
		pitch:  int(math.Round(float64(capPx) * lineSpacing)),
	}
	for _, line := range lines {
		t.width = max(t.width, font.MeasureString(face, line).Ceil())
	}
	t.height = (len(lines)-1)*t.pitch + t.ascent + met.Descent.Ceil()
	return t, nil
}

func (t *textBlock) draw(dst draw.Image) {
	d := font.Drawer{Dst: dst, Src: image.Black, Face: t.face}
	for i, line := range t.lines {
		d.Dot = fixed.P(t.x, t.y+t.ascent+i*t.pitch)
		d.DrawString(line)
	}
}
