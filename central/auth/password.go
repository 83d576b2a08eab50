package auth

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
)

// Line MQTT passwords are stored as PBKDF2-HMAC-SHA256 (OWASP's 600,000
// iterations, a 16-byte salt), so that a stolen database does not open
// the broker. The format carries its parameters:
// "pbkdf2-sha256$ITERATIONS$SALT$KEY" (unpadded base64).
const (
	passwordScheme     = "pbkdf2-sha256"
	passwordIterations = 600_000
	maxIterations      = 10_000_000 // refuse stored hashes that would stall CONNECT
	saltBytes          = 16
	keyBytes           = 32
)

// Password length rules: a line password is a machine secret.
const (
	MinPasswordLen = 16
	MaxPasswordLen = 256
)

// ErrBadHash is wrapped when a stored password hash is not in the format
// HashPassword writes.
var ErrBadHash = errors.New("malformed password hash")

// CheckPassword returns why pw is not acceptable as a line password, or nil.
func CheckPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return errors.New("is not valid UTF-8")
	case n < MinPasswordLen:
		return fmt.Errorf("has %d characters, at least %d are needed (or leave it out to have one generated)", n, MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("has %d bytes, at most %d", len(pw), MaxPasswordLen)
	}
	return nil
}

// GeneratePassword returns a random 256-bit line password (43 characters).
func GeneratePassword() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashPassword returns the stored form of a line's MQTT password.
func HashPassword(pw string) (string, error) {
	var salt [saltBytes]byte
	_, _ = rand.Read(salt[:])
	key, err := pbkdf2.Key(sha256.New, pw, salt[:], passwordIterations, keyBytes)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	enc := base64.RawStdEncoding
	return passwordScheme + "$" + strconv.Itoa(passwordIterations) + "$" + enc.EncodeToString(salt[:]) + "$" + enc.EncodeToString(key), nil
}

// VerifyPassword reports whether pw matches hash (from HashPassword), in
// time independent of where they differ. A malformed hash is an error
// wrapping ErrBadHash.
func VerifyPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != passwordScheme {
		return false, fmt.Errorf("%w: want %s$iterations$salt$key", ErrBadHash, passwordScheme)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > maxIterations {
		return false, fmt.Errorf("%w: iterations %q", ErrBadHash, parts[1])
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) == 0 || len(want) == 0 {
		return false, fmt.Errorf("%w: salt or key is not base64", ErrBadHash)
	}
	got, err := pbkdf2.Key(sha256.New, pw, salt, iter, len(want))
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// LineStore finds a line with its password hash (store.Store does).
type LineStore interface {
	Line(ctx context.Context, id string) (master.Line, error)
}

// LineCredentials checks the MQTT password a line presents against the
// hash stored with the line; it implements central/broker's Credentials.
type LineCredentials struct {
	lines LineStore
}

// NewLineCredentials returns credentials backed by lines.
func NewLineCredentials(lines LineStore) *LineCredentials {
	return &LineCredentials{lines: lines}
}

// CheckLine reports whether password is line's. An unknown line or a line
// without a password is refused (false, nil); an error means the check
// could not be made.
func (c *LineCredentials) CheckLine(ctx context.Context, line, password string) (bool, error) {
	l, err := c.lines.Line(ctx, line)
	if errors.Is(err, sqldb.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("line %q credentials: %w", line, err)
	}
	if l.PasswordHash == "" {
		return false, nil
	}
	ok, err := VerifyPassword(l.PasswordHash, password)
	if err != nil {
		return false, fmt.Errorf("line %q credentials: %w", line, err)
	}
	return ok, nil
}
