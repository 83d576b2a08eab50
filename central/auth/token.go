package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/sqldb"
)

// TokenPrefix starts every token, so that secret scanners and people
// recognise one in a log or a paste.
const TokenPrefix = "slt_"

// tokenBytes is the token's entropy: 256 bits.
const tokenBytes = 32

// tokenLen is the length of a token: prefix + unpadded base64url.
var tokenLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

// NewToken returns a fresh random token and the hash to store for it.
func NewToken() (token, hash string) {
	var b [tokenBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is the stored form of a token: hex SHA-256. A fast hash is
// right here, unlike for passwords: the token is 256 random bits, so
// there is nothing to guess.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormed reports whether s can be a token at all, so that garbage
// costs no database lookup.
func wellFormed(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	for i := len(TokenPrefix); i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// TokenIssuer stores new tokens (store.Store does).
type TokenIssuer interface {
	CreateAPIToken(ctx context.Context, name, role, hash string) (access.APIToken, error)
}

// PartnerTokenIssuer stores new partner tokens (store.Store does).
type PartnerTokenIssuer interface {
	CreatePartnerToken(ctx context.Context, name, gln, hash string) (access.APIToken, error)
}

// IssuePartnerToken creates a token of the partner role bound to the
// trading partner gln (which must exist) and returns the secret (shown
// once) with the stored record; audited like IssueToken.
func IssuePartnerToken(ctx context.Context, tokens PartnerTokenIssuer, name, gln string) (string, access.APIToken, error) {
	secret, hash := NewToken()
	rec, err := tokens.CreatePartnerToken(ctx, name, gln, hash)
	if err != nil {
		return "", access.APIToken{}, fmt.Errorf("issue partner token %q: %w", name, err)
	}
	return secret, rec, nil
}

// IssueToken creates a token for name with role and returns the secret
// (to show once; it is not stored) with the stored record. The store
// audits the creation under the context's actor. A partner token needs
// IssuePartnerToken (it is bound to a GLN).
func IssueToken(ctx context.Context, tokens TokenIssuer, name string, role Role) (string, access.APIToken, error) {
	if !role.Valid() {
		_, err := ParseRole(string(role))
		return "", access.APIToken{}, &sqldb.ValidationError{Record: "api token " + name, Field: "role", Rule: err.Error()}
	}
	if role == RolePartner {
		return "", access.APIToken{}, &sqldb.ValidationError{Record: "api token " + name, Field: "partner",
			Rule: "missing; a partner token is bound to the trading partner's GLN"}
	}
	secret, hash := NewToken()
	rec, err := tokens.CreateAPIToken(ctx, name, string(role), hash)
	if err != nil {
		return "", access.APIToken{}, fmt.Errorf("issue token %q: %w", name, err)
	}
	return secret, rec, nil
}
