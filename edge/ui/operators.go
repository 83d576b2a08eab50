package ui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/edge/ui/pin"
)

// PIN rules: digits only, so the on-screen keypad can enter every PIN.
// The format lives in edge/ui/pin, which the agent's configuration check
// shares; these names stay for the screen's callers.
const (
	MinPINLength = pin.MinLength
	MaxPINLength = pin.MaxLength
	// DefaultPINIterations is the PBKDF2 iteration count HashPIN uses.
	DefaultPINIterations = pin.DefaultIterations
)

// ErrBadPIN is returned by ValidatePIN for a PIN the keypad cannot enter
// or that is too short or too long.
var ErrBadPIN = pin.ErrBadPIN

// OperatorConfig is one operator in the edge configuration.
type OperatorConfig struct {
	Name string `yaml:"name"`
	// PINHash is "pbkdf2-sha256$<iterations>$<salt, base64>$<key, base64>",
	// as HashPIN makes it. PINs are never stored in clear.
	PINHash string `yaml:"pin_hash"`
	// Role is operator (the default), supervisor or qa.
	Role station.Role `yaml:"role"`
}

// Person is who a PIN signs in: a name and what they may do.
type Person struct {
	Name string       `json:"name"`
	Role station.Role `json:"role"`
}

// ValidatePIN checks that p is 4 to 8 digits.
func ValidatePIN(p string) error { return pin.Validate(p) }

// HashPIN makes the pin_hash of an operator: PBKDF2-HMAC-SHA256 with a
// random 16-byte salt. iterations ≤ 0 means DefaultPINIterations.
func HashPIN(p string, iterations int) (string, error) { return pin.Hash(p, iterations) }

// StaticOperators is the Operators list from the configuration.
type StaticOperators struct {
	ops []staticOperator
}

type staticOperator struct {
	Person
	hash pin.Hashed
}

// NewOperators checks the configured operators: each needs a unique name,
// a well-formed pin_hash and a known role (none: operator).
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
		h, err := pin.Parse(c.PINHash)
		if err != nil {
			return nil, fmt.Errorf("operators[%d] (%s).pin_hash: %w", i, name, err)
		}
		role := c.Role
		if role == "" {
			role = station.RoleOperator
		}
		if !role.Valid() {
			return nil, fmt.Errorf("operators[%d] (%s).role: must be operator, supervisor or qa, got %q", i, name, c.Role)
		}
		s.ops = append(s.ops, staticOperator{Person: Person{Name: name, Role: role}, hash: h})
	}
	return s, nil
}

// Check returns the person whose PIN is p. Sign-in is by PIN alone,
// so a PIN shared by two operators identifies nobody and is refused.
// Every hash is computed whatever matches, so the time taken does not
// tell which operator came first.
func (s *StaticOperators) Check(p string) (Person, bool) {
	if ValidatePIN(p) != nil {
		return Person{}, false
	}
	var who Person
	n := 0
	for _, o := range s.ops {
		if o.hash.Matches(p) {
			who = o.Person
			n++
		}
	}
	if n != 1 {
		return Person{}, false
	}
	return who, true
}
