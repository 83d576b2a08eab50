package label

// ECC 200 Reed-Solomon over GF(256) with the prime polynomial
// x^8+x^5+x^3+x^2+1 (301) and generator roots α^1…α^n (ISO/IEC 16022, 5.7).

// gf256 holds the field's log and antilog tables; they never change after
// newGF256 fills them.
type gf256 struct {
	exp [512]byte
	log [256]byte
}

func newGF256() *gf256 {
	var g gf256
	x := 1
	for i := 0; i < 255; i++ {
		g.exp[i] = byte(x)
		g.log[x] = byte(i)
		x <<= 1
		if x >= 256 {
			x ^= 301
		}
	}
	for i := 255; i < 512; i++ {
		g.exp[i] = g.exp[i-255]
	}
	return &g
}

func (g *gf256) mul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return g.exp[int(g.log[a])+int(g.log[b])]
}

// generator returns the coefficients of (x-α^1)…(x-α^n), highest degree
// first, without the leading 1.
func (g *gf256) generator(n int) []byte {
	p := make([]byte, n+1)
	p[0] = 1
	for i := 1; i <= n; i++ {
		root := g.exp[i]
		for j := i; j > 0; j-- {
			p[j] ^= g.mul(root, p[j-1])
		}
	}
	return p[1:]
}

// appendECC appends the error-correction codewords for data, interleaving
// data and check codewords over the size's blocks: data codeword i belongs to
// block i mod blocks, and so (but for 144×144) does check codeword i.
func appendECC(data []byte, s symbolSize) []byte {
	g := newGF256()
	eccPerBlock := s.eccCW / s.blocks
	gen := g.generator(eccPerBlock)
	out := make([]byte, len(data)+s.eccCW)
	copy(out, data)
	ecc := make([]byte, eccPerBlock)
	for b := 0; b < s.blocks; b++ {
		clear(ecc)
		for i := b; i < len(data); i += s.blocks {
			fb := data[i] ^ ecc[0]
			copy(ecc, ecc[1:])
			ecc[eccPerBlock-1] = 0
			if fb != 0 {
				for j, c := range gen {
					ecc[j] ^= g.mul(fb, c)
				}
			}
		}
		slot := b
		if s.rows == 144 {
			// The 144×144 symbol, whose last two blocks hold one data
			// codeword less, has its check codewords interleaved starting
			// with block 9: zint, BWIPP and the ZXing readers agree on
			// this; a plain reading of ISO/IEC 16022 (libdmtx) does not.
			slot = (b + 2) % s.blocks
		}
		for j, c := range ecc {
			out[len(data)+j*s.blocks+slot] = c
		}
	}
	return out
}
