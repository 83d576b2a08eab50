package dbcheck

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStoreOwnerOnly: the store is created 0600, and one made readable by
// others (copied, restored) is narrowed to 0600 when opened.
func TestStoreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(path, Options{}, logTo(new(bytes.Buffer)))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "a new store")

	require.NoError(t, os.Chmod(path, 0o644))
	var logs bytes.Buffer
	db, err = Open(path, Options{}, logTo(&logs))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	st, err = os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "a store that was 0644")
	require.Contains(t, logs.String(), "store file was readable by others")
}
