package access

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
)

// APIToken is a bearer token of the HTTP API. The store keeps only a hash
// of the token (the caller hashes, e.g. SHA-256 of a random secret).
type APIToken struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	// Partner is the trading partner's GLN a partner token is bound to
	// ("" for the tokens of our own people and systems).
	Partner   string     `json:"partner,omitempty"`
	Hash      string     `json:"-"`
	CreatedAt time.Time  `json:"created_at,omitzero"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// RolePartner is the role of a token bound to a trading partner's GLN
// (central/auth's partner role).
const RolePartner = "partner"

// CreateAPIToken stores a new token and returns it with its id. A token
// of role RolePartner needs CreatePartnerToken (it is bound to a GLN).
func (s *Registry) CreateAPIToken(ctx context.Context, name, role, hash string) (APIToken, error) {
	if role == RolePartner {
		return APIToken{}, sqldb.Invalid("api token "+name, "partner", "missing; a partner token is bound to the trading partner's GLN")
	}
	return s.createToken(ctx, APIToken{Name: name, Role: role, Hash: hash})
}

// CreatePartnerToken stores a new token of role RolePartner bound to the
// trading partner gln, which must exist.
func (s *Registry) CreatePartnerToken(ctx context.Context, name, gln, hash string) (APIToken, error) {
	return s.createToken(ctx, APIToken{Name: name, Role: RolePartner, Partner: gln, Hash: hash})
}

func (s *Registry) createToken(ctx context.Context, t APIToken) (APIToken, error) {
	name, role, hash := t.Name, t.Role, t.Hash
	rec := "api token " + name
	if err := check.Text(rec, "name", name, true); err != nil {
		return APIToken{}, err
	}
	if role == "" || len(role) > 32 || !check.IsRoleName(role) {
		return APIToken{}, sqldb.Invalid(rec, "role", "must be 1 to 32 characters of a-z, 0-9 and -, got %q", role)
	}
	if len(hash) < 16 || len(hash) > 256 {
		return APIToken{}, sqldb.Invalid(rec, "hash", "must be 16 to 256 characters (a hash of the token, never the token)")
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	t.ID, t.CreatedAt = hex.EncodeToString(id[:]), sqldb.Now()
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		if t.Partner != "" {
			if _, err := master.GetPartner(ctx, tx, t.Partner); err != nil {
				if errors.Is(err, sqldb.ErrNotFound) {
					return sqldb.Invalid(rec, "partner", "%v: a partner token is bound to a known trading partner", err)
				}
				return err
			}
		}
		_, err := tx.Exec(ctx, "INSERT INTO api_tokens (id, hash, role, name, created_at, partner_gln) VALUES ($1, $2, $3, $4, $5, $6)",
			t.ID, t.Hash, t.Role, t.Name, t.CreatedAt, t.Partner)
		if err != nil {
			return fmt.Errorf("%s: %w (a token with the same hash exists?)", rec, err)
		}
		return audit.Record(ctx, tx, "create", "api_token", t.ID, nil, t)
	})
	if err != nil {
		return APIToken{}, err
	}
	return t, nil
}

const TokenCols = "id, name, role, partner_gln, hash, created_at, revoked_at"

func ScanToken(r interface{ Scan(...any) error }) (APIToken, error) {
	var t APIToken
	var revoked sql.NullTime
	if err := r.Scan(&t.ID, &t.Name, &t.Role, &t.Partner, &t.Hash, &t.CreatedAt, &revoked); err != nil {
		return t, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.RevokedAt = sqldb.NullTime(revoked)
	return t, nil
}

// APITokenByHash returns the token with hash. A revoked token is not
// found (sqldb.ErrNotFound), so that a caller cannot forget to check.
func (s *Registry) APITokenByHash(ctx context.Context, hash string) (APIToken, error) {
	var t APIToken
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		t, err = ScanToken(q.QueryRow(ctx, "SELECT "+TokenCols+" FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL", hash))
		return err
	})
	if sqldb.IsNoRows(err) {
		return t, fmt.Errorf("api token: %w", sqldb.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("api token: %w", err)
	}
	return t, nil
}

// APITokens lists every token, revoked ones included, oldest first.
func (s *Registry) APITokens(ctx context.Context) ([]APIToken, error) {
	var out []APIToken
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.Query(ctx, "SELECT "+TokenCols+" FROM api_tokens ORDER BY created_at, id")
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			t, err := ScanToken(r)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("api tokens: %w", err)
	}
	return out, nil
}

// RevokeAPIToken revokes the token with id; revoking twice is an sqldb.ErrState.
func (s *Registry) RevokeAPIToken(ctx context.Context, id string) error {
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		before, err := ScanToken(tx.QueryRow(ctx, "SELECT "+TokenCols+" FROM api_tokens WHERE id = $1"+s.db.Dialect().ForUpdate(), id))
		if sqldb.IsNoRows(err) {
			return fmt.Errorf("api token %s: %w", id, sqldb.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("api token %s: %w", id, err)
		}
		if before.RevokedAt != nil {
			return fmt.Errorf("api token %s: %w: revoked at %s already", id, sqldb.ErrState, before.RevokedAt.Format(time.RFC3339))
		}
		t := sqldb.Now()
		if _, err := tx.Exec(ctx, "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1", id, t); err != nil {
			return fmt.Errorf("api token %s: %w", id, err)
		}
		if err := deleteWebSessionsOfToken(ctx, tx, id); err != nil {
			return err
		}
		after := before
		after.RevokedAt = &t
		return audit.Record(ctx, tx, "revoke", "api_token", id, before, after)
	})
}
