package ui

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PIN rules: digits only, so the on-screen keypad can enter every PIN.
const (
	MinPINLength = 4
	MaxPINLength = 8
	// DefaultPINIterations is the PBKDF2 iteration count HashPIN uses.
	// Sign-in checks every operator's hash, so this bounds the cost of
	// one attempt (about 30 ms per operator on a line PC).
	DefaultPINIterations = 100_000
	hashScheme           = "pbkdf2-sha256"
)

// ErrBadPIN is returned by ValidatePIN for a PIN the keypad cannot enter
// or that is too short or too long.
var ErrBadPIN = errors.New("pin must be 4 to 8 digits")

// OperatorConfig is one operator in the edge configuration.
type OperatorConfig struct {
	Name string `yaml:"name"`
	// PINHash is "pbkdf2-sha256$<iterations>$<salt, base64>$<key, base64>",
	// as HashPIN makes it. PINs are never stored in clear.
	PINHash string `yaml:"pin_hash"`
}

// ValidatePIN checks that pin is 4 to 8 digits.
func ValidatePIN(pin string) error {
	if len(pin) < MinPINLength || len(pin) > MaxPINLength {
		return ErrBadPIN
	}
	for _, c := range pin {
		if c < '0' || c > '9' {
			return ErrBadPIN
		}
	}
	return nil
}

// HashPIN makes the pin_hash of an operator: PBKDF2-HMAC-SHA256 with a
// random 16-byte salt. iterations ≤ 0 means DefaultPINIterations.
func HashPIN(pin string, iterations int) (string, error) {
	if err := ValidatePIN(pin); err != nil {
		return "", err
	}
	if iterations <= 0 {
		iterations = DefaultPINIterations
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
	return fmt.Sprintf("%s$%d$%s$%s", hashScheme, iterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

type pinHash struct {
	iter      int
	salt, key []byte
}

func parsePINHash(s string) (pinHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return pinHash{}, fmt.Errorf("want %s$<iterations>$<salt>$<key>", hashScheme)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1000 {
		return pinHash{}, fmt.Errorf("iterations %q: must be a number ≥ 1000", parts[1])
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[2])
	if err != nil || len(salt) < 8 {
		return pinHash{}, errors.New("salt: must be base64 (no padding) of at least 8 bytes")
	}
	key, err := enc.DecodeString(parts[3])
	if err != nil || len(key) != sha256.Size {
		return pinHash{}, errors.New("key: must be base64 (no padding) of 32 bytes")
	}
	return pinHash{iter: iter, salt: salt, key: key}, nil
}

func (h pinHash) matches(pin string) bool {
	k, err := pbkdf2.Key(sha256.New, pin, h.salt, h.iter, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(k, h.key) == 1
}

// StaticOperators is the Operators list from the configuration.
type StaticOperators struct {
	ops []staticOperator
}

type staticOperator struct {
	name string
	hash pinHash
}

// NewOperators checks the configured operators: each needs a unique name
// and a well-formed pin_hash.
func NewOperators(cfg []OperatorConfig) (*StaticOperators, error) {
	if len(cfg) == 0 {
		return nil, errors.New("operators: none configured; add at least one with a name and a pin_hash")
	}
	s := &StaticOperators{}
	seen := map[string]bool{}
	for i, c := range cfg {
		name := strings.TrimSpace(c.Name)
		if name == "" {
			return nil, fmt.Errorf("operators[%d].name: missing", i)
		}
		if seen[name] {
			return nil, fmt.Errorf("operators[%d].name: %q appears twice", i, name)
		}
		seen[name] = true
		h, err := parsePINHash(c.PINHash)
		if err != nil {
			return nil, fmt.Errorf("operators[%d] (%s).pin_hash: %w", i, name, err)
		}
		s.ops = append(s.ops, staticOperator{name: name, hash: h})
	}
	return s, nil
}

// Check returns the operator whose PIN is pin. Sign-in is by PIN alone,
// so a PIN shared by two operators identifies nobody and is refused.
// Every hash is computed whatever matches, so the time taken does not
// tell which operator came first.
func (s *StaticOperators) Check(pin string) (string, bool) {
	if ValidatePIN(pin) != nil {
		return "", false
	}
	var name string
	n := 0
	for _, o := range s.ops {
		if o.hash.matches(pin) {
			name = o.name
			n++
		}
	}
	if n != 1 {
		return "", false
	}
	return name, true
}
