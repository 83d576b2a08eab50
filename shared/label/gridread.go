package label

import (
	"image"
	"slices"
	"strconv"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/datamatrix/decoder"
)

// readGrid reads an upright (or quarter-turned) symbol that fills most of
// plain: it takes the symbol's bounding box from filtered (the same pixels
// through a median filter), tries every ECC 200 size that fits the box with
// square modules, samples each module by majority vote over its inner
// pixels, and decodes the best fits to the finder and clock patterns.
//
// gozxing samples one pixel per module, so speckle of a few per cent flips
// as many modules and beats the error correction of a small symbol; a vote
// over the module's pixels does not.
func readGrid(plain, filtered gray) (Decoded, bool) {
	thr := otsu(filtered)
	box := filtered.inkBox(thr)
	if box.Dx() < 8 || box.Dy() < 8 {
		return Decoded{}, false
	}
	type fit struct {
		score float64
		m     *Matrix
	}
	var fits []fit
	for _, s := range symbolSizes {
		dims := [][2]int{{s.rows, s.cols}}
		if s.rows != s.cols { // a rectangle may lie either way
			dims = append(dims, [2]int{s.cols, s.rows})
		}
		for _, dim := range dims {
			rows, cols := dim[0], dim[1]
			mw, mh := float64(box.Dx())/float64(cols), float64(box.Dy())/float64(rows)
			if mw < 1.5 || mh < 1.5 || mw > 1.2*mh || mh > 1.2*mw {
				continue
			}
			grid := sampleGrid(plain, box, rows, cols, thr)
			for turn := 0; turn < 4; turn++ {
				if sc := finderScore(grid); sc >= 0.8 {
					fits = append(fits, fit{sc, grid})
				}
				grid = grid.rotate90()
			}
		}
	}
	slices.SortStableFunc(fits, func(a, b fit) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	dec := decoder.NewDecoder()
	for i, f := range fits {
		if i == 4 {
			break
		}
		bm, err := gozxing.NewBitMatrix(f.m.Cols, f.m.Rows)
		if err != nil {
			continue
		}
		for y := 0; y < f.m.Rows; y++ {
			for x := 0; x < f.m.Cols; x++ {
				if f.m.At(x, y) {
					bm.Set(x, y)
				}
			}
		}
		res, err := dec.Decode(bm)
		if err != nil {
			continue
		}
		return newDecoded(res.GetText(), "]d"+strconv.Itoa(res.GetSymbologyModifier())), true
	}
	return Decoded{}, false
}

// sampleGrid divides box into rows×cols modules and calls each dark when
// most of its inner pixels (the middle 70 %, away from blurred edges) are.
func sampleGrid(g gray, box image.Rectangle, rows, cols int, thr uint8) *Matrix {
	m := &Matrix{Cols: cols, Rows: rows, bits: make([]bool, rows*cols)}
	mw, mh := float64(box.Dx())/float64(cols), float64(box.Dy())/float64(rows)
	span := func(start, size float64) (int, int) {
		lo, hi := int(start+0.15*size+0.5), int(start+0.85*size+0.5) // pixel centres inside
		if hi <= lo {
			hi = lo + 1
		}
		return lo, hi
	}
	for r := 0; r < rows; r++ {
		y0, y1 := span(float64(box.Min.Y)+float64(r)*mh, mh)
		for c := 0; c < cols; c++ {
			x0, x1 := span(float64(box.Min.X)+float64(c)*mw, mw)
			dark, n := 0, 0
			for y := y0; y < y1 && y < g.h; y++ {
				for x := x0; x < x1 && x < g.w; x++ {
					n++
					if g.pix[y*g.w+x] < thr {
						dark++
					}
				}
			}
			m.set(c, r, 2*dark > n)
		}
	}
	return m
}

// finderScore is the share of border modules that match an upright ECC 200
// symbol: solid left and bottom edges, clock tracks along the top and down
// the right. Sizes that are not ECC 200 score 0.
func finderScore(m *Matrix) float64 {
	if _, err := chooseSize(0, m.Rows, m.Cols); err != nil {
		return 0
	}
	ok, n := 0, 0
	check := func(x, y int, want bool) {
		n++
		if m.At(x, y) == want {
			ok++
		}
	}
	for y := 0; y < m.Rows; y++ {
		check(0, y, true)
		check(m.Cols-1, y, y%2 == 1 || y == m.Rows-1)
	}
	for x := 1; x < m.Cols-1; x++ {
		check(x, m.Rows-1, true)
		check(x, 0, x%2 == 0)
	}
	return float64(ok) / float64(n)
}

// rotate90 turns m a quarter clockwise.
func (m *Matrix) rotate90() *Matrix {
	out := &Matrix{Cols: m.Rows, Rows: m.Cols, bits: make([]bool, len(m.bits))}
	for y := 0; y < m.Rows; y++ {
		for x := 0; x < m.Cols; x++ {
			out.set(m.Rows-1-y, x, m.At(x, y))
		}
	}
	return out
}

// otsu returns the threshold that best splits g's histogram in two.
func otsu(g gray) uint8 {
	var hist [256]int
	for _, v := range g.pix {
		hist[v]++
	}
	total := len(g.pix)
	var sum float64
	for i, c := range hist {
		sum += float64(i * c)
	}
	var sumB, best float64
	wB, thr := 0, 128
	for i, c := range hist {
		wB += c
		if wB == 0 {
			continue
		}
		wF := total - wB
		if wF == 0 {
			break
		}
		sumB += float64(i * c)
		mB, mF := sumB/float64(wB), (sum-sumB)/float64(wF)
		if v := float64(wB) * float64(wF) * (mB - mF) * (mB - mF); v > best {
			best, thr = v, i+1
		}
	}
	return uint8(min(thr, 255))
}

// inkBox is the bounding box of pixels darker than thr.
func (g gray) inkBox(thr uint8) image.Rectangle {
	minX, minY, maxX, maxY := g.w, g.h, -1, -1
	for y := 0; y < g.h; y++ {
		row := g.pix[y*g.w : (y+1)*g.w]
		for x, v := range row {
			if v < thr {
				minX, maxX = min(minX, x), max(maxX, x)
				minY, maxY = min(minY, y), max(maxY, y)
			}
		}
	}
	if maxX < 0 {
		return image.Rectangle{}
	}
	return image.Rect(minX, minY, maxX+1, maxY+1)
}

// crop copies rect of g.
func (g gray) crop(rect image.Rectangle) gray {
	rect = rect.Intersect(image.Rect(0, 0, g.w, g.h))
	out := gray{w: rect.Dx(), h: rect.Dy(), pix: make([]byte, rect.Dx()*rect.Dy())}
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		copy(out.pix[(y-rect.Min.Y)*out.w:(y-rect.Min.Y+1)*out.w], g.pix[y*g.w+rect.Min.X:y*g.w+rect.Max.X])
	}
	return out
}
