package server_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireOwnerOnly checks that every file that exists of paths is 0600;
// must lists those that must exist.
func requireOwnerOnly(tb testing.TB, paths []string, must ...string) {
	tb.Helper()
	for _, p := range must {
		require.FileExists(tb, p)
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(tb, err)
		require.Equal(tb, os.FileMode(0o600), st.Mode().Perm(), "%s is readable by others", p)
	}
}

// TestSQLiteFilesOwnerOnly: central.db holds the lines' password hashes and
// the randomized-scheme keys. Another local user could read it: it was
// created 0644 (and its -wal, -shm with it).
func TestSQLiteFilesOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "central.db")
	files := []string{db, db + "-wal", db + "-shm"}
	args := []string{"serve", "--http", "127.0.0.1:0", "--db", "sqlite:" + db, "--mqtt", "embedded:127.0.0.1:0"}

	r := startMain(t, nil, args...)
	requireOwnerOnly(t, files, db, db+"-wal")
	require.Equal(t, 0, r.stop(t))

	// A database made by an older version (0644) is narrowed at start.
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			require.NoError(t, os.Chmod(f, 0o644))
		}
	}
	r = startMain(t, nil, args...)
	requireOwnerOnly(t, files, db, db+"-wal")
	require.Contains(t, r.log.String(), "database file was readable by others; made it 0600")
}
