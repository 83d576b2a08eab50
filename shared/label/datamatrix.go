package label

import (
	"errors"
	"fmt"
)

// ErrDataTooLong is returned when the data does not fit the largest symbol
// allowed (144×144 modules, or the size asked for).
var ErrDataTooLong = errors.New("data too long for the DataMatrix symbol")

// Codewords with a meaning of their own in ECC 200 ASCII encodation
// (ISO/IEC 16022, 5.2.3).
const (
	cwPad        = 129 // first pad codeword; later pads are randomised
	cwDigitPair  = 130 // 130 + 00..99
	cwFNC1       = 232
	cwUpperShift = 235
	asciiGS      = 0x1D
)

// Matrix is an encoded DataMatrix: a square or rectangular grid of dark
// (true) modules, finder and clock patterns included, without quiet zone.
type Matrix struct {
	Cols, Rows int
	bits       []bool // row-major, Rows*Cols
}

// At reports whether the module in column x, row y is dark. Outside the
// symbol it is light, as the quiet zone is.
func (m *Matrix) At(x, y int) bool {
	if x < 0 || y < 0 || x >= m.Cols || y >= m.Rows {
		return false
	}
	return m.bits[y*m.Cols+x]
}

func (m *Matrix) set(x, y int, dark bool) { m.bits[y*m.Cols+x] = dark }

// symbolSize is one ECC 200 symbol size (ISO/IEC 16022 Table 7).
type symbolSize struct {
	rows, cols       int // whole symbol, finder patterns included
	regRows, regCols int // one data region
	dataCW, eccCW    int // totals over all blocks
	blocks           int // interleaved Reed-Solomon blocks
}

func (s symbolSize) regionsV() int { return s.rows / (s.regRows + 2) }
func (s symbolSize) regionsH() int { return s.cols / (s.regCols + 2) }

// symbolSizes lists every ECC 200 size, squares first in ascending capacity,
// then the six rectangles.
var symbolSizes = [...]symbolSize{
	{10, 10, 8, 8, 3, 5, 1},
	{12, 12, 10, 10, 5, 7, 1},
	{14, 14, 12, 12, 8, 10, 1},
	{16, 16, 14, 14, 12, 12, 1},
	{18, 18, 16, 16, 18, 14, 1},
	{20, 20, 18, 18, 22, 18, 1},
	{22, 22, 20, 20, 30, 20, 1},
	{24, 24, 22, 22, 36, 24, 1},
	{26, 26, 24, 24, 44, 28, 1},
	{32, 32, 14, 14, 62, 36, 1},
	{36, 36, 16, 16, 86, 42, 1},
	{40, 40, 18, 18, 114, 48, 1},
	{44, 44, 20, 20, 144, 56, 1},
	{48, 48, 22, 22, 174, 68, 1},
	{52, 52, 24, 24, 204, 84, 2},
	{64, 64, 14, 14, 280, 112, 2},
	{72, 72, 16, 16, 368, 144, 4},
	{80, 80, 18, 18, 456, 192, 4},
	{88, 88, 20, 20, 576, 224, 4},
	{96, 96, 22, 22, 696, 272, 4},
	{104, 104, 24, 24, 816, 336, 6},
	{120, 120, 18, 18, 1050, 408, 6},
	{132, 132, 20, 20, 1304, 496, 8},
	{144, 144, 22, 22, 1558, 620, 10},
	{8, 18, 6, 16, 5, 7, 1},
	{8, 32, 6, 14, 10, 11, 1},
	{12, 26, 10, 24, 16, 14, 1},
	{12, 36, 10, 16, 22, 18, 1},
	{16, 36, 14, 16, 32, 24, 1},
	{16, 48, 14, 22, 49, 28, 1},
}

// EncodeDataMatrix encodes data as the smallest square ECC 200 symbol.
// With gs1=true the first codeword is FNC1 (232) and each GS (0x1D) in data
// becomes an FNC1 separator; data must then not start with GS.
func EncodeDataMatrix(data string, gs1 bool) (*Matrix, error) {
	return EncodeDataMatrixSize(data, gs1, 0, 0)
}

// EncodeDataMatrixSize is EncodeDataMatrix with a chosen symbol size in
// modules: rows=cols=0 picks the smallest square, rows=cols=-1 the smallest
// rectangle (8×18 … 16×48), anything else must be an ECC 200 size
// (10×10 … 144×144, 8×18, 8×32, 12×26, 12×36, 16×36, 16×48) that holds the
// data. A printer's ^BX with columns and rows set needs the exact size.
func EncodeDataMatrixSize(data string, gs1 bool, rows, cols int) (*Matrix, error) {
	cw, err := encodeASCII(data, gs1)
	if err != nil {
		return nil, err
	}
	size, err := chooseSize(len(cw), rows, cols)
	if err != nil {
		return nil, err
	}
	cw = addPadding(cw, size.dataCW)
	cw = appendECC(cw, size)
	return placeSymbol(cw, size), nil
}

// encodeASCII turns data into ASCII-encodation codewords: digit pairs in one
// codeword, bytes above 127 behind an upper shift. ASCII alone keeps the
// encoder small and suits GS1 data, which is mostly digits.
func encodeASCII(data string, gs1 bool) ([]byte, error) {
	if data == "" {
		return nil, errors.New("datamatrix data: empty")
	}
	if gs1 && data[0] == asciiGS {
		return nil, errors.New("datamatrix data: starts with GS (0x1D); in GS1 mode the leading FNC1 is added by the encoder")
	}
	cw := make([]byte, 0, len(data)+1)
	if gs1 {
		cw = append(cw, cwFNC1)
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case gs1 && c == asciiGS:
			cw = append(cw, cwFNC1)
		case isDigit(c) && i+1 < len(data) && isDigit(data[i+1]):
			cw = append(cw, cwDigitPair+(c-'0')*10+(data[i+1]-'0'))
			i++
		case c < 128:
			cw = append(cw, c+1)
		default:
			cw = append(cw, cwUpperShift, c-128+1)
		}
	}
	return cw, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func chooseSize(n, rows, cols int) (symbolSize, error) {
	switch {
	case rows == 0 && cols == 0, rows == -1 && cols == -1:
		rect := rows == -1
		for _, s := range symbolSizes {
			if (s.rows != s.cols) == rect && s.dataCW >= n {
				return s, nil
			}
		}
		largest := symbolSizes[23] // 144×144
		if rect {
			largest = symbolSizes[len(symbolSizes)-1] // 16×48
		}
		return symbolSize{}, fmt.Errorf("datamatrix: %d data codewords, the largest %d×%d symbol holds %d: %w",
			n, largest.rows, largest.cols, largest.dataCW, ErrDataTooLong)
	}
	for _, s := range symbolSizes {
		if s.rows == rows && s.cols == cols {
			if s.dataCW < n {
				return symbolSize{}, fmt.Errorf("datamatrix: %d data codewords, a %d×%d symbol holds %d: %w",
					n, rows, cols, s.dataCW, ErrDataTooLong)
			}
			return s, nil
		}
	}
	return symbolSize{}, fmt.Errorf("datamatrix size %d×%d (rows×cols): not an ECC 200 size", rows, cols)
}

// addPadding fills the data capacity: one plain pad, then pads randomised by
// their position (ISO/IEC 16022, 5.2.3, the 253-state algorithm).
func addPadding(cw []byte, capacity int) []byte {
	if len(cw) < capacity {
		cw = append(cw, cwPad)
	}
	for len(cw) < capacity {
		pos := len(cw) + 1
		v := cwPad + (149*pos)%253 + 1
		if v > 254 {
			v -= 254
		}
		cw = append(cw, byte(v))
	}
	return cw
}

// placeSymbol lays the codewords out in the mapping matrix (ISO/IEC 16022
// Annex F) and wraps each data region in its finder and clock patterns.
func placeSymbol(cw []byte, s symbolSize) *Matrix {
	nrow := s.regionsV() * s.regRows
	ncol := s.regionsH() * s.regCols
	p := placement{nrow: nrow, ncol: ncol, cw: cw, bits: make([]int8, nrow*ncol)}
	for i := range p.bits {
		p.bits[i] = -1
	}
	p.place()

	m := &Matrix{Cols: s.cols, Rows: s.rows, bits: make([]bool, s.rows*s.cols)}
	for ry := 0; ry < s.regionsV(); ry++ {
		for rx := 0; rx < s.regionsH(); rx++ {
			top, left := ry*(s.regRows+2), rx*(s.regCols+2)
			bottom, right := top+s.regRows+1, left+s.regCols+1
			for x := left; x <= right; x++ {
				m.set(x, top, (x-left)%2 == 0) // clock track along the top
				m.set(x, bottom, true)         // solid bottom edge of the L
			}
			for y := top; y <= bottom; y++ {
				m.set(left, y, true)            // solid left edge of the L
				m.set(right, y, (y-top)%2 == 1) // clock track down the right
			}
		}
	}
	for r := 0; r < nrow; r++ {
		y := r/s.regRows*(s.regRows+2) + 1 + r%s.regRows
		for c := 0; c < ncol; c++ {
			x := c/s.regCols*(s.regCols+2) + 1 + c%s.regCols
			m.set(x, y, p.bits[r*ncol+c] == 1)
		}
	}
	return m
}

// placement is the ECC 200 module placement of ISO/IEC 16022 Annex F.
type placement struct {
	nrow, ncol int
	cw         []byte
	bits       []int8 // -1 unset, 0 light, 1 dark
}

func (p *placement) place() {
	pos, row, col := 0, 4, 0
	for {
		if row == p.nrow && col == 0 {
			p.corner1(pos)
			pos++
		}
		if row == p.nrow-2 && col == 0 && p.ncol%4 != 0 {
			p.corner2(pos)
			pos++
		}
		if row == p.nrow-2 && col == 0 && p.ncol%8 == 4 {
			p.corner3(pos)
			pos++
		}
		if row == p.nrow+4 && col == 2 && p.ncol%8 == 0 {
			p.corner4(pos)
			pos++
		}
		for { // sweep up and right
			if row < p.nrow && col >= 0 && p.bits[row*p.ncol+col] < 0 {
				p.utah(row, col, pos)
				pos++
			}
			row -= 2
			col += 2
			if row < 0 || col >= p.ncol {
				break
			}
		}
		row++
		col += 3
		for { // sweep down and left
			if row >= 0 && col < p.ncol && p.bits[row*p.ncol+col] < 0 {
				p.utah(row, col, pos)
				pos++
			}
			row += 2
			col -= 2
			if row >= p.nrow || col < 0 {
				break
			}
		}
		row += 3
		col++
		if row >= p.nrow && col >= p.ncol {
			break
		}
	}
	// Sizes whose mapping area is not a multiple of 8 leave the lower
	// right 2×2 corner unset; it gets a fixed pattern.
	if p.bits[p.nrow*p.ncol-1] < 0 {
		p.bits[p.nrow*p.ncol-1] = 1
		p.bits[p.nrow*p.ncol-2] = 0
		p.bits[(p.nrow-1)*p.ncol-1] = 0
		p.bits[(p.nrow-1)*p.ncol-2] = 1
	}
}

// module sets bit (1 = most significant) of codeword pos at (row, col),
// wrapping negative coordinates round the mapping matrix.
func (p *placement) module(row, col, pos, bit int) {
	if row < 0 {
		row += p.nrow
		col += 4 - (p.nrow+4)%8
	}
	if col < 0 {
		col += p.ncol
		row += 4 - (p.ncol+4)%8
	}
	var v int8
	if p.cw[pos]&(1<<(8-bit)) != 0 {
		v = 1
	}
	p.bits[row*p.ncol+col] = v
}

func (p *placement) utah(row, col, pos int) {
	p.module(row-2, col-2, pos, 1)
	p.module(row-2, col-1, pos, 2)
	p.module(row-1, col-2, pos, 3)
	p.module(row-1, col-1, pos, 4)
	p.module(row-1, col, pos, 5)
	p.module(row, col-2, pos, 6)
	p.module(row, col-1, pos, 7)
	p.module(row, col, pos, 8)
}

func (p *placement) corner1(pos int) {
	p.module(p.nrow-1, 0, pos, 1)
	p.module(p.nrow-1, 1, pos, 2)
	p.module(p.nrow-1, 2, pos, 3)
	p.module(0, p.ncol-2, pos, 4)
	p.module(0, p.ncol-1, pos, 5)
	p.module(1, p.ncol-1, pos, 6)
	p.module(2, p.ncol-1, pos, 7)
	p.module(3, p.ncol-1, pos, 8)
}

func (p *placement) corner2(pos int) {
	p.module(p.nrow-3, 0, pos, 1)
	p.module(p.nrow-2, 0, pos, 2)
	p.module(p.nrow-1, 0, pos, 3)
	p.module(0, p.ncol-4, pos, 4)
	p.module(0, p.ncol-3, pos, 5)
	p.module(0, p.ncol-2, pos, 6)
	p.module(0, p.ncol-1, pos, 7)
	p.module(1, p.ncol-1, pos, 8)
}

func (p *placement) corner3(pos int) {
	p.module(p.nrow-3, 0, pos, 1)
	p.module(p.nrow-2, 0, pos, 2)
	p.module(p.nrow-1, 0, pos, 3)
	p.module(0, p.ncol-2, pos, 4)
	p.module(0, p.ncol-1, pos, 5)
	p.module(1, p.ncol-1, pos, 6)
	p.module(2, p.ncol-1, pos, 7)
	p.module(3, p.ncol-1, pos, 8)
}

func (p *placement) corner4(pos int) {
	p.module(p.nrow-1, 0, pos, 1)
	p.module(p.nrow-1, p.ncol-1, pos, 2)
	p.module(0, p.ncol-3, pos, 3)
	p.module(0, p.ncol-2, pos, 4)
	p.module(0, p.ncol-1, pos, 5)
	p.module(1, p.ncol-3, pos, 6)
	p.module(1, p.ncol-2, pos, 7)
	p.module(1, p.ncol-1, pos, 8)
}
