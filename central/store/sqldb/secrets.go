package sqldb

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Secrets at rest: the key of a randomized serial scheme is all it takes
// to predict a product's serials, so the store keeps it encrypted with
// AES-256-GCM under a key from outside the database (a file or the
// environment: central's secrets.key_file). A sealed value reads
//
//	enc:v1:<key id>:<base64url(nonce || ciphertext)>
//
// and is bound to its row (the GTIN is the additional data), so a sealed
// key cannot be moved to another product. The key id lets keys rotate:
// the first key of the file seals, every key of it opens, and Open
// re-seals what an older key (or none) sealed.
const sealedPrefix = "enc:v1:"

// ErrNoSecretKey is wrapped when a sealed value is read by a store that
// has no key for it.
var ErrNoSecretKey = errors.New("no secrets key for it is configured (secrets.key_file)")

// SecretKeys are the keys that seal and open secrets at rest.
type SecretKeys struct {
	current string
	aeads   map[string]cipher.AEAD
}

// ParseSecretKeys reads a key file: one key per line, "ID:HEX" with 64
// hex digits (32 bytes); blank lines and lines starting with # are
// skipped. The first key seals; all of them open. IDs are 1 to 16 letters,
// digits, '-' or '_'.
func ParseSecretKeys(b []byte) (*SecretKeys, error) {
	k := &SecretKeys{aeads: map[string]cipher.AEAD{}}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, h, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want ID:HEX (e.g. k1: and 64 hex digits)", i+1)
		}
		if id == "" || len(id) > 16 || strings.IndexFunc(id, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) >= 0 {
			return nil, fmt.Errorf("line %d: key id %q: 1 to 16 letters, digits, '-' or '_'", i+1, id)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("line %d: key id %q appears twice", i+1, id)
		}
		raw, err := hex.DecodeString(h)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("line %d: key %q: want 64 hex digits (32 bytes, e.g. from `openssl rand -hex 32`)", i+1, id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.aeads[id] = aead
		if k.current == "" {
			k.current = id
		}
	}
	if k.current == "" {
		return nil, errors.New("no key in it")
	}
	return k, nil
}

// CurrentID is the id of the key that seals.
func (k *SecretKeys) CurrentID() string { return k.current }

// Seal encrypts plain under the current key, bound to bind (the
// additional data: the record it belongs to).
func (k *SecretKeys) Seal(plain, bind string) (string, error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := aead.Seal(nonce, nonce, []byte(plain), []byte(bind))
	return sealedPrefix + k.current + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

// IsSealed reports whether v is a sealed value, and under which key id.
func IsSealed(v string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(v, sealedPrefix)
	if !ok {
		return "", false
	}
	id, _, ok = strings.Cut(rest, ":")
	return id, ok
}

// Open returns the plaintext of a sealed value (k may be nil: then only a
// plaintext value reads).
func (k *SecretKeys) Open(v, bind string) (string, error) {
	id, ok := IsSealed(v)
	if !ok {
		return v, nil // stored before encryption at rest, or without a key
	}
	var aead cipher.AEAD
	if k != nil {
		aead = k.aeads[id]
	}
	if aead == nil {
		return "", fmt.Errorf("sealed with key %q: %w", id, ErrNoSecretKey)
	}
	ct, err := base64.RawURLEncoding.DecodeString(v[len(sealedPrefix)+len(id)+1:])
	if err != nil || len(ct) < aead.NonceSize() {
		return "", fmt.Errorf("sealed with key %q: malformed", id)
	}
	plain, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], []byte(bind))
	if err != nil {
		return "", fmt.Errorf("sealed with key %q: does not open (another key under the same id, or the value was altered or moved)", id)
	}
	return string(plain), nil
}
