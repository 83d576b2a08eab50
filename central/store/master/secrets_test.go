package master_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

const (
	secretK1  = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	secretK2  = "k2:1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
	gtinRand2 = "00312345678937"
)

func secretKeys(tb testing.TB, lines ...string) *sqldb.SecretKeys {
	tb.Helper()
	k, err := sqldb.ParseSecretKeys([]byte(strings.Join(lines, "\n")))
	require.NoError(tb, err)
	return k
}

// openWith opens the store at dsn (keys nil: no secrets key); the caller
// closes it.
func openWith(tb testing.TB, dsn string, keys *sqldb.SecretKeys) (*store.Store, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var opts []store.Option
	if keys != nil {
		opts = append(opts, store.WithDB(sqldb.WithSecretKeys(keys)))
	}
	return store.Open(ctx, dsn, testkit.Logger(tb), opts...)
}

// rawScheme reads a product's serial_scheme column as someone with the
// database (a backup, a read-only account, the file) sees it.
func rawScheme(tb testing.TB, dsn, gtin string) string {
	tb.Helper()
	ctx := storetest.Context(tb)
	var v string
	if strings.HasPrefix(dsn, "sqlite:") {
		require.NoError(tb, storetest.OpenRawSQLite(tb, dsn).QueryRowContext(ctx, "SELECT serial_scheme FROM products WHERE gtin = ?", gtin).Scan(&v))
		return v
	}
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(tb, err)
	defer conn.Close(context.Background())
	require.NoError(tb, conn.QueryRow(ctx, "SELECT serial_scheme::text FROM products WHERE gtin = $1", gtin).Scan(&v))
	return v
}

// TestSchemeKeysSealedAtRest: the key of a randomized scheme (all it takes
// to predict a product's serials) was stored in plaintext in the
// products table. With a secrets key it is sealed (AES-256-GCM, key id
// prefix), legacy plaintext keys are sealed at open, keys rotate, and a
// sealed key cannot be moved to another product.
func TestSchemeKeysSealedAtRest(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		ctx := storetest.Context(t)
		// A database of before: the key in plaintext.
		s, err := openWith(t, dsn, nil)
		require.NoError(t, err)
		require.NoError(t, s.PutProduct(ctx, storetest.Product(storetest.GTINRand, storetest.RandSpec)))
		require.Contains(t, rawScheme(t, dsn, storetest.GTINRand), storetest.TestKey, "without a secrets key the key stays readable (the demo)")
		s.Close()

		// A secrets key configured: the key is sealed at open, reads back,
		// and grants still carry it to the line.
		s, err = openWith(t, dsn, secretKeys(t, secretK1))
		require.NoError(t, err)
		raw := rawScheme(t, dsn, storetest.GTINRand)
		require.NotContains(t, raw, storetest.TestKey)
		require.Contains(t, raw, "enc:v1:k1:")
		p, err := s.Product(ctx, storetest.GTINRand)
		require.NoError(t, err)
		require.Equal(t, storetest.TestKey, p.Scheme.Key)
		f := storetest.Fixture{S: s, Ctx: ctx}
		require.NoError(t, s.PutLine(ctx, master.Line{ID: storetest.Line1, Name: "Line 1", PasswordHash: "pbkdf2$x"}))
		f.Order(t, "WO-R", storetest.GTINRand, storetest.Line1)
		g := f.Grant(t, "r1", storetest.Line1, "WO-R", storetest.GTINRand, 10)
		require.NotNil(t, g.Scheme)
		require.Equal(t, storetest.TestKey, g.Scheme.Key, "the grant carries the key in clear to the line (over TLS)")
		// A write re-seals; a new product is sealed from the start.
		p.Name = "Paracetamol 500 mg film-coated tablets"
		require.NoError(t, s.PutProduct(ctx, p))
		require.NotContains(t, rawScheme(t, dsn, storetest.GTINRand), storetest.TestKey)
		require.NoError(t, s.PutProduct(ctx, storetest.Product(gtinRand2, storetest.RandSpec)))
		raw2 := rawScheme(t, dsn, gtinRand2)
		require.NotContains(t, raw2, storetest.TestKey)
		s.Close()

		// Rotation: a new key first in the file; the old one still opens.
		s, err = openWith(t, dsn, secretKeys(t, secretK2, secretK1))
		require.NoError(t, err)
		require.Contains(t, rawScheme(t, dsn, storetest.GTINRand), "enc:v1:k2:", "re-sealed with the current key at open")
		p, err = s.Product(ctx, storetest.GTINRand)
		require.NoError(t, err)
		require.Equal(t, storetest.TestKey, p.Scheme.Key)
		s.Close()

		// Without the key, or with only the retired one, nothing reads.
		s, err = openWith(t, dsn, nil)
		require.NoError(t, err)
		_, err = s.Product(ctx, storetest.GTINRand)
		require.ErrorIs(t, err, sqldb.ErrNoSecretKey)
		require.ErrorContains(t, err, `product `+storetest.GTINRand+`: serial_scheme key: sealed with key "k2"`)
		s.Close()
		_, err = openWith(t, dsn, secretKeys(t, secretK1))
		require.ErrorIs(t, err, sqldb.ErrNoSecretKey, "a key still in use left out of the file")

		// A sealed key moved to another product's row does not open.
		s, err = openWith(t, dsn, secretKeys(t, secretK2, secretK1))
		require.NoError(t, err)
		defer s.Close()
		moved := rawScheme(t, dsn, storetest.GTINRand)
		if strings.HasPrefix(dsn, "sqlite:") {
			_, err = storetest.OpenRawSQLite(t, dsn).ExecContext(ctx, "UPDATE products SET serial_scheme = ? WHERE gtin = ?", moved, gtinRand2)
			require.NoError(t, err)
		} else {
			storetest.RawExec(t, dsn, []any{"UPDATE products SET serial_scheme = $1 WHERE gtin = $2", moved, gtinRand2})
		}
		_, err = s.Product(ctx, gtinRand2)
		require.ErrorContains(t, err, "does not open")
	})
}

func TestParseSecretKeys(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty", "# nothing\n\n", "no key in it"},
		{"no id", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "line 1: want ID:HEX"},
		{"short", "k1:0001", `line 1: key "k1": want 64 hex digits`},
		{"bad id", "k 1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", `key id "k 1"`},
		{"twice", secretK1 + "\n" + secretK1, `line 2: key id "k1" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqldb.ParseSecretKeys([]byte(tc.text))
			require.ErrorContains(t, err, tc.want)
		})
	}
	k, err := sqldb.ParseSecretKeys([]byte("# rotate: newest first\n" + secretK2 + "\n" + secretK1 + "\n"))
	require.NoError(t, err)
	require.Equal(t, "k2", k.CurrentID())
}
