package serials

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Scheme turns counter values 0..Space()-1 into serial strings, bijectively
// (no two counters give the same serial). Implementations are immutable and
// safe for concurrent use.
type Scheme interface {
	// Serial appends the serial of counter to dst. A counter outside
	// 0..Space()-1 is an error wrapping ErrOutOfRange.
	Serial(dst []byte, counter uint64) ([]byte, error)
	// Space is the number of counters the scheme can turn into serials. A
	// serial space larger than a uint64 is reported as math.MaxUint64.
	Space() uint64
	Kind() Kind
}

// ErrOutOfRange is wrapped by Serial when the counter is not below Space():
// the scheme has no serial for it.
var ErrOutOfRange = errors.New("counter outside the scheme's space")

// New validates s and builds its scheme. A list scheme needs its serials:
// build it with NewList.
func New(s Spec) (Scheme, error) {
	c, err := s.compile()
	if err != nil {
		return nil, err
	}
	switch s.Kind {
	case KindSequential:
		return newSequential(c), nil
	case KindRandomized:
		return newRandomized(c), nil
	default: // KindList
		return nil, specErr("kind", "a list scheme is built from its imported serials with NewList")
	}
}

func outOfRange(k Kind, counter, space uint64) error {
	return fmt.Errorf("serial scheme %s: counter %d: %w (space %d)", k, counter, ErrOutOfRange, space)
}

// sequential gives Start+counter, zero-padded to the length unless SGTIN-96
// (which forbids a leading zero; Validate made Start full width instead).
type sequential struct {
	start, space uint64
	length       int
	pad          bool
}

func newSequential(c *compiled) *sequential {
	_, limit := sequentialBounds(c.Length, c.SGTIN96)
	return &sequential{start: c.Start, space: limit - c.Start, length: c.Length, pad: !c.SGTIN96}
}

func (s *sequential) Kind() Kind    { return KindSequential }
func (s *sequential) Space() uint64 { return s.space }

func (s *sequential) Serial(dst []byte, counter uint64) ([]byte, error) {
	if counter >= s.space {
		return dst, outOfRange(KindSequential, counter, s.space)
	}
	v := s.start + counter
	if !s.pad {
		return strconv.AppendUint(dst, v, 10), nil
	}
	return appendDigits(dst, v, s.length, digits), nil
}

// appendDigits appends x written in the base len(chars) with exactly width
// digits (the caller guarantees x fits), most significant first.
func appendDigits(dst []byte, x uint64, width int, chars string) []byte {
	var tmp [MaxLength]byte
	r := uint64(len(chars))
	for i := width - 1; i >= 0; i-- {
		tmp[i] = chars[x%r]
		x /= r
	}
	return append(dst, tmp[:width]...)
}

// GuessProbability is the chance that a guessed serial is one of used
// serials issued from a space of space possible serials: used ÷ space,
// capped at 1 (also for an empty space).
func GuessProbability(used, space uint64) float64 {
	if space == 0 || used >= space {
		return 1
	}
	return float64(used) / float64(space)
}

// powSat returns base^exp, or math.MaxUint64 when it does not fit.
func powSat(base uint64, exp int) uint64 {
	p := uint64(1)
	for range exp {
		if p > math.MaxUint64/base {
			return math.MaxUint64
		}
		p *= base
	}
	return p
}
