package master

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/serials"
)

// A randomized scheme's key is all it takes to predict a product's
// serials: it is sealed at rest with the database's secret keys
// (sqldb.SecretKeys), bound to its product's GTIN so that it cannot be
// moved to another product.

// schemeBind is the additional data a product's scheme key is sealed with.
func schemeBind(gtin string) string { return "serialine/products/" + gtin + "/serial_scheme.key" }

// sealScheme is spec as stored: its key sealed when the store has keys.
func sealScheme(q sqldb.Tx, gtin string, spec serials.Spec) (string, error) {
	if k := q.Secrets(); k != nil && spec.Key != "" {
		sealed, err := k.Seal(spec.Key, schemeBind(gtin))
		if err != nil {
			return "", fmt.Errorf("product %s: serial_scheme: seal the key: %w", gtin, err)
		}
		spec.Key = sealed
	}
	b, err := json.Marshal(spec)
	return string(b), err
}

// OpenScheme reads a stored scheme, opening its key.
func OpenScheme(q sqldb.Tx, gtin, stored string) (serials.Spec, error) {
	var spec serials.Spec
	if err := json.Unmarshal([]byte(stored), &spec); err != nil {
		return spec, fmt.Errorf("product %s: serial_scheme: %w", gtin, err)
	}
	key, err := q.Secrets().Open(spec.Key, schemeBind(gtin))
	if err != nil {
		return spec, fmt.Errorf("product %s: serial_scheme key: %w", gtin, err)
	}
	spec.Key = key
	return spec, nil
}

// ResealSecrets seals every scheme key stored in plaintext or under a key
// other than the current one: after a key is configured for the first
// time, or a new one put first in the key file. It returns how many it
// sealed.
func (s *Data) ResealSecrets(ctx context.Context) (int, error) {
	if s.db.Secrets() == nil {
		return 0, nil
	}
	n := 0
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		r, err := tx.Query(ctx, "SELECT gtin, serial_scheme FROM products ORDER BY gtin")
		if err != nil {
			return err
		}
		type row struct{ gtin, scheme string }
		var stale []row
		for r.Next() {
			var x row
			if err := r.Scan(&x.gtin, &x.scheme); err != nil {
				r.Close()
				return err
			}
			var spec serials.Spec
			if err := json.Unmarshal([]byte(x.scheme), &spec); err != nil {
				r.Close()
				return fmt.Errorf("product %s: serial_scheme: %w", x.gtin, err)
			}
			if id, sealed := sqldb.IsSealed(spec.Key); spec.Key != "" && (!sealed || id != s.db.Secrets().CurrentID()) {
				stale = append(stale, x)
			}
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		for _, x := range stale {
			spec, err := OpenScheme(tx, x.gtin, x.scheme)
			if err != nil {
				return err
			}
			sealed, err := sealScheme(tx, x.gtin, spec)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "UPDATE products SET serial_scheme = $2 WHERE gtin = $1", x.gtin, sealed); err != nil {
				return fmt.Errorf("product %s: %w", x.gtin, err)
			}
		}
		n = len(stale)
		return nil
	})
	return n, err
}
