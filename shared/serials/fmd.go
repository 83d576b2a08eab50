package serials

import (
	"errors"
	"fmt"
	"math/bits"
)

// ErrNotFMD is wrapped by CheckFMD when a scheme cannot serve a product
// under the EU Falsified Medicines Directive.
var ErrNotFMD = errors.New("not EU FMD compliant")

// fmdOdds is the EU FMD bound: the probability of guessing a serial must be
// below 1/fmdOdds (Delegated Regulation 2016/161 art. 4(c)).
const fmdOdds = 10_000

// CheckFMD refuses a scheme that cannot serve an EU FMD product for
// plannedVolume serials (the serials the product will ever have under this
// scheme). A randomized scheme passes when plannedVolume ÷ serial space is
// below 1/10,000 (Delegated Regulation 2016/161 art. 4(c)); sequential
// schemes are refused, because the next serial follows from the last one
// (art. 4(b) asks for a randomisation algorithm). A fixed-length list is
// held to the same bound over its alphabet^length; the randomness of a
// list is the marketing-authorisation holder's to vouch for, and a
// variable-length list is not bounded here. Errors wrap ErrNotFMD, or are a
// *SpecError for an invalid spec.
func CheckFMD(s Spec, plannedVolume uint64) error {
	c, err := s.compile()
	if err != nil {
		return err
	}
	if plannedVolume == 0 {
		return errors.New("serial scheme: planned volume: must be at least 1 serial")
	}
	switch {
	case s.Kind == KindSequential:
		return fmt.Errorf("serial scheme: kind: %w: sequential serials are guessable (each follows from the one before); "+
			"EU FMD (Delegated Regulation 2016/161 art. 4(b), 4(c)) needs serials from a randomisation algorithm "+
			"with a guess probability below 1/10,000: use kind %q", ErrNotFMD, KindRandomized)
	case s.Kind == KindList && s.Length == 0:
		return nil
	case fmdSafe(c, plannedVolume):
		return nil
	}
	hi, lo := serialSpace(c)
	space := float64(hi)*0x1p64 + float64(lo)
	msg := fmt.Sprintf("%d serials out of %.4g possible %s serials of %d characters "+
		"give a guess probability of %.3g, not below 1/10,000 (EU FMD Delegated Regulation 2016/161 art. 4(c))",
		plannedVolume, space, alphabetName(c), s.Length, float64(plannedVolume)/space)
	if n := minFMDLength(c, plannedVolume); n > 0 {
		msg += fmt.Sprintf("; a length of %d or more would do", n)
	} else if s.SGTIN96 {
		msg += "; no SGTIN-96-safe length is enough: drop sgtin96 (SGTIN-198 carries 20 characters)"
	} else {
		msg += "; no length up to 20 is enough with this alphabet: widen it"
	}
	return fmt.Errorf("serial scheme: length: %w: %s", ErrNotFMD, msg)
}

// fmdSafe reports planned ÷ space < 1/10,000, exactly: planned·10,000 < space.
func fmdSafe(c *compiled, planned uint64) bool {
	sh, sl := serialSpace(c)
	ph, pl := bits.Mul64(planned, fmdOdds)
	return ph < sh || (ph == sh && pl < sl)
}

// minFMDLength returns the shortest length at which c would pass for
// planned serials, or 0 when none does.
func minFMDLength(c *compiled, planned uint64) int {
	maxLen := MaxLength
	if c.SGTIN96 {
		maxLen = sgtin96Digits
	}
	for n := c.Length + 1; n <= maxLen; n++ {
		c2 := *c
		c2.Length = n
		if fmdSafe(&c2, planned) {
			return n
		}
	}
	return 0
}

func alphabetName(c *compiled) string {
	switch {
	case c.SGTIN96:
		return "SGTIN-96-safe numeric"
	case c.alpha == nil:
		return "CSET 82"
	}
	return c.alpha.name
}

// serialSpace returns how many distinct serials c can produce, as a
// 128-bit number (hi, lo): alphabet^length (82^20 < 2^128), or the
// SGTIN-96-safe numbers of that length.
func serialSpace(c *compiled) (hi, lo uint64) {
	if c.SGTIN96 {
		first, limit := sequentialBounds(c.Length, true)
		return 0, limit - first
	}
	radix := uint64(cset82Size)
	if c.alpha != nil {
		radix = uint64(len(c.alpha.chars))
	}
	lo = 1
	for range c.Length {
		carry, l := bits.Mul64(lo, radix)
		hi, lo = hi*radix+carry, l
	}
	return hi, lo
}

// cset82Size is the number of characters in GS1 AI encodable character set 82.
const cset82Size = 82
