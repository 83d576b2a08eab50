package broker

import (
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/serialine/serialine/shared/wire"
)

// Credentials checks the password a line presents at CONNECT (username =
// line id). Central's store implements it against stored hashes. An error
// means the check could not be made (e.g. the database is down); the
// connection is then refused and the error logged.
type Credentials interface {
	CheckLine(ctx context.Context, line, password string) (bool, error)
}

// StaticCredentials is a fixed table of line id → password, for tests and
// small setups configured by file.
type StaticCredentials struct {
	lines map[string][]byte
}

// NewStaticCredentials checks every line id and password and returns the table.
func NewStaticCredentials(lines map[string]string) (*StaticCredentials, error) {
	s := &StaticCredentials{lines: make(map[string][]byte, len(lines))}
	for line, pw := range lines {
		if err := wire.ValidateLine(line); err != nil {
			return nil, fmt.Errorf("static credentials: %w", err)
		}
		if pw == "" {
			return nil, fmt.Errorf("static credentials: line %q: password must not be empty", line)
		}
		s.lines[line] = []byte(pw)
	}
	return s, nil
}

// CheckLine reports whether password is line's. The comparison takes the
// same time whatever the password, so it leaks nothing through timing.
func (s *StaticCredentials) CheckLine(_ context.Context, line, password string) (bool, error) {
	want, ok := s.lines[line]
	if !ok {
		return false, nil
	}
	return subtle.ConstantTimeCompare(want, []byte(password)) == 1, nil
}
