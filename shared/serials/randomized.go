package serials

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// The permutation below is version 1 of the randomized scheme. Serials
// already issued depend on every detail of it (key derivation, block layout,
// rounds, split, rendering): changing any of them would reissue old serials
// under new counters, so a change needs a new version, never an edit.
const (
	feistelRounds = 10
	kdfLabel      = "serialine/serials/v1 randomized\x00"
	// rangeModeMax is the largest serial space permuted as one integer
	// domain; P*Q (at most n + sqrt(n)) then stays far from overflow.
	rangeModeMax = 1 << 62
)

// randomized is a keyed pseudo-random permutation of the serial space:
// counter → serial, format-preserving, with a Feistel network whose round
// function is AES-256 under a key derived from the secret.
//
// The domain is a product [0,P) × [0,Q). Each round adds a pseudo-random
// function of one half to the other, modulo that half's size; the halves
// take turns. Each round is invertible whatever P and Q are, so the whole
// is a bijection of [0,P·Q) — the unbalanced, modular-addition Feistel of
// NIST SP 800-38G's FF1.
//
//   - Range mode (serial space n ≤ 2^62): P = ⌈√n⌉, Q = ⌈n/P⌉, so P·Q ≥ n
//     by less than Q. The counter is a point of [0,P·Q); if its image falls
//     at or above n, the permutation is applied again (cycle walking) until
//     it lands below n. That stays a bijection of [0,n) because a cycle of
//     the permutation that leaves [0,n) returns to it. Serial = lo + image
//     (SGTIN-96) or the image written in the alphabet with Length digits.
//   - Wide mode (larger spaces: 20 numeric digits, 13+ alphanumeric): the
//     serial's digits split into a high half of ⌊L/2⌋ digits and a low half
//     of ⌈L/2⌉ digits, P = r^⌊L/2⌋ and Q = r^⌈L/2⌉ (each < 2^64 since
//     82^10 < 2^64). The domain is exactly the serial space, no walking;
//     counters (< 2^64) enter as A = c / Q, B = c mod Q.
type randomized struct {
	block  cipher.Block
	alpha  *alphabet
	length int
	sgtin  bool
	wide   bool
	p, q   uint64
	n      uint64 // range mode: size of the serial space
	lo     uint64 // SGTIN-96: the smallest serial (no leading zero)
	space  uint64
}

func newRandomized(c *compiled) *randomized {
	r := &randomized{alpha: c.alpha, length: c.Length, sgtin: c.SGTIN96}

	// A derived key per (alphabet, length, SGTIN-96) makes schemes sharing a
	// secret independent permutations, like an FF1 tweak.
	mac := hmac.New(sha256.New, c.secret)
	mac.Write([]byte(kdfLabel))
	fmt.Fprintf(mac, "alphabet=%s\x00length=%d\x00sgtin96=%t", c.alpha.chars, c.Length, c.SGTIN96)
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		panic("serials: AES-256 with a 32-byte key: " + err.Error()) // cannot happen
	}
	r.block = block

	radix := uint64(len(c.alpha.chars))
	if c.SGTIN96 {
		lo, limit := sequentialBounds(c.Length, true)
		r.lo, r.n = lo, limit-lo
	} else {
		r.n = powSat(radix, c.Length)
	}
	if r.n <= rangeModeMax {
		r.p = isqrtCeil(r.n)
		r.q = (r.n + r.p - 1) / r.p
		r.space = r.n
		return r
	}
	r.wide = true
	u := c.Length / 2
	r.p, r.q = powSat(radix, u), powSat(radix, c.Length-u)
	r.space = r.n // saturated at math.MaxUint64 when the space is larger
	return r
}

func (r *randomized) Kind() Kind    { return KindRandomized }
func (r *randomized) Space() uint64 { return r.space }

func (r *randomized) Serial(dst []byte, counter uint64) ([]byte, error) {
	if counter >= r.space {
		return dst, outOfRange(KindRandomized, counter, r.space)
	}
	// One scratch buffer per call: the cipher.Block interface makes it
	// escape, and sharing one would make the scheme unsafe for goroutines.
	buf := new([32]byte)
	if r.wide {
		a, b := r.permute(counter/r.q, counter%r.q, buf)
		u := r.length / 2
		dst = appendDigits(dst, a, u, r.alpha.chars)
		return appendDigits(dst, b, r.length-u, r.alpha.chars), nil
	}
	x := counter
	for {
		a, b := r.permute(x/r.q, x%r.q, buf)
		x = a*r.q + b
		if x < r.n {
			break
		}
	}
	if r.sgtin {
		return strconv.AppendUint(dst, r.lo+x, 10), nil
	}
	return appendDigits(dst, x, r.length, r.alpha.chars), nil
}

// permute runs the Feistel rounds on a ∈ [0,P), b ∈ [0,Q).
func (r *randomized) permute(a, b uint64, buf *[32]byte) (uint64, uint64) {
	for i := range feistelRounds {
		if i%2 == 0 {
			a = addMod(a, r.round(i, b, r.p, buf), r.p)
		} else {
			b = addMod(b, r.round(i, a, r.q, buf), r.q)
		}
	}
	return a, b
}

// round is the pseudo-random function of round i: AES of the block
// (i, 0…0, x as 8 big-endian bytes), read as a 128-bit number, modulo m.
// Reducing 128 bits modulo m < 2^64 leaves a bias below 2^-64.
func (r *randomized) round(i int, x, m uint64, buf *[32]byte) uint64 {
	in, out := buf[:16], buf[16:]
	in[0] = byte(i) // in[1:8] stay zero
	binary.BigEndian.PutUint64(in[8:], x)
	r.block.Encrypt(out, in)
	return bits.Rem64(binary.BigEndian.Uint64(out[:8]), binary.BigEndian.Uint64(out[8:]), m)
}

// addMod returns (a + f) mod m for a, f < m, without overflow.
func addMod(a, f, m uint64) uint64 {
	s := a + f
	if s < a || s >= m { // wrapped past 2^64, or past m
		s -= m
	}
	return s
}

// isqrtCeil returns ⌈√n⌉ for 1 ≤ n ≤ 2^62.
func isqrtCeil(n uint64) uint64 {
	s := uint64(math.Sqrt(float64(n)))
	for s*s < n {
		s++
	}
	for s > 1 && (s-1)*(s-1) >= n {
		s--
	}
	return s
}
