// Package pin is the operators' PIN format: the rule a PIN follows and the
// salted PBKDF2 hash the edge configuration stores instead of the PIN. It
// imports nothing of Serialine, so both the touchscreen (edge/ui) and the
// agent's configuration check (edge/agent) use it.
package pin

import (
	"bufio"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// PIN rules: digits only, so the on-screen keypad can enter every PIN.
const (
	MinLength = 4
	MaxLength = 8
	// RecommendedLength: the screen allows 5 wrong PINs a minute, so a
	// 4-digit PIN falls within a day of trying, a 6-digit one not in months.
	RecommendedLength = 6
	// DefaultIterations is the PBKDF2 iteration count Hash uses. Sign-in
	// checks every operator's hash, so this bounds the cost of one attempt
	// (about 30 ms per operator on a line PC).
	DefaultIterations = 100_000
	// MinIterations is the fewest iterations a configured hash may use.
	MinIterations = 1000
	scheme        = "pbkdf2-sha256"
)

// ErrBadPIN is returned for a PIN the keypad cannot enter or that is too
// short or too long.
var ErrBadPIN = errors.New("pin must be 4 to 8 digits")

// Validate checks that pin is 4 to 8 digits.
func Validate(pin string) error {
	if len(pin) < MinLength || len(pin) > MaxLength {
		return ErrBadPIN
	}
	for _, c := range pin {
		if c < '0' || c > '9' {
			return ErrBadPIN
		}
	}
	return nil
}

// Hash makes an operator's pin_hash:
// "pbkdf2-sha256$<iterations>$<salt, base64>$<key, base64>" (PBKDF2-HMAC-SHA256,
// random 16-byte salt, unpadded standard base64). iterations ≤ 0 means
// DefaultIterations.
func Hash(pin string, iterations int) (string, error) {
	if err := Validate(pin); err != nil {
		return "", err
	}
	if iterations <= 0 {
		iterations = DefaultIterations
	}
	if iterations < MinIterations {
		return "", fmt.Errorf("pin hash: iterations: must be ≥ %d, got %d", MinIterations, iterations)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("pin hash: salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, pin, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("pin hash: %w", err)
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", scheme, iterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Hashed is a parsed pin_hash.
type Hashed struct {
	iter      int
	salt, key []byte
}

// Parse reads a pin_hash as Hash makes it; the error names the part that
// is wrong.
func Parse(s string) (Hashed, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != scheme {
		return Hashed{}, fmt.Errorf("want %s$<iterations>$<salt>$<key> (serialine-edge pin-hash makes one)", scheme)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < MinIterations {
		return Hashed{}, fmt.Errorf("iterations %q: must be a number ≥ %d", parts[1], MinIterations)
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[2])
	if err != nil || len(salt) < 8 {
		return Hashed{}, errors.New("salt: must be base64 (no padding) of at least 8 bytes")
	}
	key, err := enc.DecodeString(parts[3])
	if err != nil || len(key) != sha256.Size {
		return Hashed{}, errors.New("key: must be base64 (no padding) of 32 bytes")
	}
	return Hashed{iter: iter, salt: salt, key: key}, nil
}

// Matches reports whether pin is the PIN h was made from (constant time
// in the key comparison).
func (h Hashed) Matches(pin string) bool {
	if len(h.key) == 0 {
		return false
	}
	k, err := pbkdf2.Key(sha256.New, pin, h.salt, h.iter, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(k, h.key) == 1
}

// Command is `serialine-edge pin-hash [--iterations N]`: it reads one PIN
// from the first line of stdin (so it stays out of the shell history and
// the process list) and prints its pin_hash. It returns the exit code.
func Command(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pin-hash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: serialine-edge pin-hash [--iterations N] < pin\n"+
			"  reads a 4-8 digit PIN (6 or more recommended) from the first line of stdin and prints the pin_hash for configs/edge.yaml\n")
		fs.PrintDefaults()
	}
	iter := fs.Int("iterations", DefaultIterations, "PBKDF2 iterations")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serialine-edge pin-hash: unexpected argument %q (the PIN is read from stdin)\n", fs.Arg(0))
		return 2
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 256)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "serialine-edge pin-hash: stdin: %v\n", err)
		return 1
	}
	p := strings.TrimSpace(line)
	h, err := Hash(p, *iter)
	if err != nil {
		fmt.Fprintf(stderr, "serialine-edge pin-hash: %v\n", err)
		return 2
	}
	if len(p) < RecommendedLength {
		fmt.Fprintf(stderr, "serialine-edge pin-hash: warning: a %d-digit PIN can be guessed at the screen within a day "+
			"at the lock-out's 5 tries a minute; use %d digits or more\n", len(p), RecommendedLength)
	}
	fmt.Fprintln(stdout, h)
	return 0
}
