package serials

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"

	"github.com/serialine/serialine/shared/gs1"
)

// Kind names a serial-number scheme.
type Kind string

// The scheme kinds a product can use.
const (
	KindSequential Kind = "sequential" // Start, Start+1, ... zero-padded to Length
	KindRandomized Kind = "randomized" // keyed permutation of the counter over the whole serial space
	KindList       Kind = "list"       // serials imported from the marketing-authorisation holder
)

// Alphabet names understood by Spec.Alphabet; any other value is a custom
// set of CSET 82 characters, in the order of their digit values.
const (
	AlphabetNumeric      = "numeric"      // 0-9
	AlphabetAlphanumeric = "alphanumeric" // 0-9A-Z
)

// MaxLength is the longest serial AI 21 holds.
const MaxLength = 20

// minKeyBytes is the shortest randomized key: 128 bits.
const minKeyBytes = 16

// Spec is how a product's serial scheme is configured and carried in a
// grant. Validate names the field (by its JSON name) and the rule it breaks.
//
// Key is the secret of a randomized scheme. It travels in grants (the edge
// needs it to generate serials offline) but String, GoString and LogValue
// redact it, so a Spec can be logged without leaking it.
type Spec struct {
	Kind Kind `json:"kind" yaml:"kind"`
	// Length is the serial length in characters: 1..20. Sequential and
	// randomized serials all have this length; for a list, 0 means any
	// length from 1 to 20.
	Length int `json:"length" yaml:"length"`
	// Alphabet is "numeric" (0-9, the default), "alphanumeric" (0-9A-Z) or a
	// custom set of at least two distinct CSET 82 characters, lowest digit
	// first. For a list, empty means any CSET 82 character. Sequential
	// serials are numeric.
	Alphabet string `json:"alphabet" yaml:"alphabet"`
	// Start is the first sequential value, e.g. 1, or 100000000 so that all
	// serials have the same width without padding. Sequential only.
	Start uint64 `json:"start" yaml:"start"`
	// Key is the hex secret (at least 128 bits) of a randomized scheme.
	Key string `json:"key,omitempty" yaml:"key,omitempty"`
	// SGTIN96 asks for serials an SGTIN-96 RFID tag can carry: numeric, no
	// leading zero, at most 274877906943 (so at most 12 digits).
	SGTIN96 bool `json:"sgtin96" yaml:"sgtin96"`
}

// SpecError is a Spec (or ListSpec) that breaks a rule. Field is the JSON
// name of the offending field.
type SpecError struct {
	Field string
	Rule  string
}

func (e *SpecError) Error() string {
	return "serial scheme: " + e.Field + ": " + e.Rule
}

func specErr(field, format string, args ...any) *SpecError {
	return &SpecError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// String describes the spec with its key redacted.
func (s Spec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s length=%d alphabet=%q", s.Kind, s.Length, s.Alphabet)
	if s.Kind == KindSequential || s.Start != 0 {
		fmt.Fprintf(&b, " start=%d", s.Start)
	}
	if s.SGTIN96 {
		b.WriteString(" sgtin96")
	}
	if s.Key != "" {
		b.WriteString(" key=REDACTED")
	}
	return b.String()
}

// GoString keeps %#v from printing the key.
func (s Spec) GoString() string { return "serials.Spec{" + s.String() + "}" }

// LogValue keeps slog from printing the key.
func (s Spec) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("kind", string(s.Kind)),
		slog.Int("length", s.Length),
		slog.String("alphabet", s.Alphabet),
		slog.Uint64("start", s.Start),
		slog.Bool("sgtin96", s.SGTIN96),
	}
	if s.Key != "" {
		attrs = append(attrs, slog.String("key", "REDACTED"))
	}
	return slog.GroupValue(attrs...)
}

// Validate checks the spec and returns a *SpecError naming the first field
// that breaks a rule, or nil.
func (s Spec) Validate() error {
	if _, err := s.compile(); err != nil {
		return err
	}
	return nil
}

// compiled is a validated Spec with its derived values.
type compiled struct {
	Spec
	alpha  *alphabet // nil for a list that takes any CSET 82 character
	secret []byte    // decoded key (randomized only)
}

func (s Spec) compile() (*compiled, *SpecError) {
	c := &compiled{Spec: s}
	switch s.Kind {
	case KindSequential, KindRandomized, KindList:
	case "":
		return nil, specErr("kind", "missing; use %q, %q or %q", KindSequential, KindRandomized, KindList)
	default:
		return nil, specErr("kind", "%q is not a scheme; use %q, %q or %q", s.Kind, KindSequential, KindRandomized, KindList)
	}

	minLen := 1
	if s.Kind == KindList {
		minLen = 0 // any length
	}
	if s.Length < minLen || s.Length > MaxLength {
		if s.Kind == KindList {
			return nil, specErr("length", "must be 0 (any length) or 1 to %d characters, got %d", MaxLength, s.Length)
		}
		return nil, specErr("length", "must be 1 to %d characters, got %d", MaxLength, s.Length)
	}

	alpha, err := parseAlphabet(s.Alphabet, s.Kind == KindList)
	if err != nil {
		return nil, err
	}
	c.alpha = alpha
	if s.Kind == KindSequential && alpha.chars != digits {
		return nil, specErr("alphabet", "sequential serials are numeric; use %q or a randomized scheme", AlphabetNumeric)
	}

	if s.SGTIN96 {
		if alpha == nil { // a list in any CSET 82: SGTIN-96 narrows it to digits
			alpha = newAlphabet(AlphabetNumeric, digits)
			c.alpha = alpha
		}
		if alpha.chars != digits {
			return nil, specErr("alphabet", "SGTIN-96 serials are numeric; use %q", AlphabetNumeric)
		}
		if s.Length > sgtin96Digits {
			return nil, specErr("length", "SGTIN-96 serials have at most %d digits (largest %d), got %d", sgtin96Digits, uint64(gs1.MaxSGTIN96Serial), s.Length)
		}
	}

	if s.Kind == KindSequential {
		lo, limit := sequentialBounds(s.Length, s.SGTIN96)
		switch {
		case s.Start >= limit && s.SGTIN96 && limit == gs1.MaxSGTIN96Serial+1:
			return nil, specErr("start", "%d exceeds %d, the largest SGTIN-96 serial", s.Start, uint64(gs1.MaxSGTIN96Serial))
		case s.Start >= limit:
			return nil, specErr("start", "%d has more than %d digits (length)", s.Start, s.Length)
		case s.Start < lo:
			return nil, specErr("start", "%d has fewer than %d digits; SGTIN-96 serials are not zero-padded (no leading zero), so start at %d or above", s.Start, s.Length, lo)
		}
	} else if s.Start != 0 {
		return nil, specErr("start", "only sequential schemes take a start, this one is %s", s.Kind)
	}

	if s.Kind == KindRandomized {
		secret, err := parseKey(s.Key)
		if err != nil {
			return nil, err
		}
		c.secret = secret
	} else if s.Key != "" {
		return nil, specErr("key", "only randomized schemes take a key, this one is %s; remove it so the secret is not spread", s.Kind)
	}
	return c, nil
}

// parseKey decodes a randomized key. Errors never quote the key.
func parseKey(key string) ([]byte, *SpecError) {
	if key == "" {
		return nil, specErr("key", "missing; a randomized scheme needs a secret of at least %d hex digits (128 bits)", 2*minKeyBytes)
	}
	secret, err := hex.DecodeString(key)
	if err != nil {
		return nil, specErr("key", "must be hex digits (0-9, a-f) of even count: %s", redactHexErr(err))
	}
	if len(secret) < minKeyBytes {
		return nil, specErr("key", "has %d bits, at least 128 bits (%d hex digits) are needed", 8*len(secret), 2*minKeyBytes)
	}
	zero := true
	for _, b := range secret {
		if b != 0 {
			zero = false
			break
		}
	}
	if zero {
		return nil, specErr("key", "is all zeros, a placeholder rather than a secret")
	}
	return secret, nil
}

// redactHexErr describes a hex decoding error without the offending byte,
// which would be part of the secret.
func redactHexErr(err error) string {
	if err == hex.ErrLength {
		return "odd number of digits"
	}
	return "invalid character"
}

// sgtin96Digits is the number of digits of the largest SGTIN-96 serial.
const sgtin96Digits = 12

// sequentialBounds returns the smallest allowed start and the exclusive
// upper bound of sequential values of length digits.
func sequentialBounds(length int, sgtin96 bool) (lo, limit uint64) {
	limit = math.MaxUint64 // length 20: every uint64 has at most 20 digits
	if length < 20 {
		limit = pow10(length)
	}
	if sgtin96 {
		limit = min(limit, gs1.MaxSGTIN96Serial+1)
		if length > 1 {
			lo = pow10(length - 1)
		}
	}
	return lo, limit
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

const (
	digits       = "0123456789"
	alphanumeric = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// alphabet is a validated set of serial characters; a character's position
// is its digit value.
type alphabet struct {
	name  string // as configured, for messages
	chars string
	in    [256]bool
}

func newAlphabet(name, chars string) *alphabet {
	a := &alphabet{name: name, chars: chars}
	for i := 0; i < len(chars); i++ {
		a.in[chars[i]] = true
	}
	return a
}

// firstOutside returns the index of the first byte of s not in a, or -1.
func (a *alphabet) firstOutside(s string) int {
	for i := 0; i < len(s); i++ {
		if !a.in[s[i]] {
			return i
		}
	}
	return -1
}

// parseAlphabet resolves Spec.Alphabet. For a list, empty means any CSET 82
// character (nil alphabet); otherwise empty means numeric.
func parseAlphabet(name string, list bool) (*alphabet, *SpecError) {
	switch name {
	case "":
		if list {
			return nil, nil
		}
		return newAlphabet(AlphabetNumeric, digits), nil
	case AlphabetNumeric:
		return newAlphabet(name, digits), nil
	case AlphabetAlphanumeric:
		return newAlphabet(name, alphanumeric), nil
	}
	// A misspelt name would otherwise pass as a custom set of its letters.
	if l := strings.ToLower(strings.TrimSpace(name)); l == AlphabetNumeric || l == AlphabetAlphanumeric {
		return nil, specErr("alphabet", "%q: the names are lower case, write %q", name, l)
	}
	if len(name) < 2 {
		return nil, specErr("alphabet", "a custom alphabet needs at least 2 characters, got %q", name)
	}
	var seen [256]bool
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !gs1.IsCSET82(name[i : i+1]) {
			return nil, specErr("alphabet", "custom alphabet %q: character %s at position %d is not in CSET 82", name, quoteByte(c), i+1)
		}
		if seen[c] {
			return nil, specErr("alphabet", "custom alphabet %q: character %s at position %d appears twice", name, quoteByte(c), i+1)
		}
		seen[c] = true
	}
	return newAlphabet(name, name), nil
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("0x%02X", c)
}
