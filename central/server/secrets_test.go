package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/serials"
)

// dbBytes is everything of a SQLite database on disk: what a copied file
// or a stolen backup gives away.
func dbBytes(tb testing.TB, db string) string {
	tb.Helper()
	var all []byte
	for _, f := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(f)
		if !os.IsNotExist(err) {
			require.NoError(tb, err)
		}
		all = append(all, b...)
	}
	return string(all)
}

// TestSchemeKeyEncryptedAtRest: with SERIALINE_KEY_FILE the key of a
// randomized scheme is nowhere in the database files; without a key it is
// (and central warns once).
func TestSchemeKeyEncryptedAtRest(t *testing.T) {
	const schemeKey = "5e11a1e5ec2e7000000000000000beef"
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "secrets.key")
	require.NoError(t, os.WriteFile(keyFile, []byte("k1:"+strings.Repeat("ab", 32)+"\n"), 0o600))
	put := func(r *running, gtin string) {
		t.Helper()
		ctx := sqldb.WithActor(context.Background(), "user:test")
		require.NoError(t, r.srv.Store().PutProduct(ctx, master.Product{GTIN: gtin, Name: "Paracetamol", CompanyPrefixLen: 7,
			NDC: "12345-678-" + gtin[11:13], Markets: []master.Market{master.MarketUSDSCSA},
			Scheme: serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetNumeric, Key: schemeKey}}))
	}

	for _, tc := range []struct {
		name      string
		env       map[string]string
		plaintext bool
	}{
		{"no key", nil, true},
		{"key file", map[string]string{"SERIALINE_KEY_FILE": keyFile}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "central.db")
			r := startMain(t, tc.env, "serve", "--http", "127.0.0.1:0", "--db", "sqlite:"+db, "--mqtt", "embedded:127.0.0.1:0")
			put(r, "00312345678906")
			require.Equal(t, 0, r.stop(t))
			require.Equal(t, tc.plaintext, strings.Contains(dbBytes(t, db), schemeKey), "the scheme key in the database files")
			require.Equal(t, tc.plaintext, strings.Count(r.log.String(), "no secrets key") == 1, "one warning without a key")
		})
	}

	_, stderr, code := runCLI(t, "", "serve", "--db", "sqlite:"+filepath.Join(t.TempDir(), "c.db"),
		"--config", writeConfig(t, "secrets:\n  key_file: "+filepath.Join(dir, "missing.key")+"\n"))
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "secrets.key_file: "+filepath.Join(dir, "missing.key")+": unreadable")
}
