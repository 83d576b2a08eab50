package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// secureSQLiteFiles makes the SQLite database file the owner's only
// before SQLite opens it: it holds the lines' password hashes, the tokens'
// hashes and the randomized-scheme keys. A new file is created 0600 (SQLite
// gives its -wal and -shm files the database file's mode); an existing one
// with a looser mode, and its -wal and -shm, are narrowed to 0600.
func secureSQLiteFiles(path string, log *slog.Logger) error {
	if strings.ContainsAny(path, "?#") {
		return nil // the store refuses the path, naming it
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("database.url: create %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("database.url: %w", err)
		}
		if st.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("database.url: %s is readable by others (%v) and cannot be made 0600: %w", p, st.Mode().Perm(), err)
		}
		log.Warn("database file was readable by others; made it 0600", "file", p, "was", st.Mode().Perm().String())
	}
	return nil
}
