package server

import (
	"fmt"
	"os"

	"github.com/serialine/serialine/central/store/sqldb"
)

// EnvKeyFile overrides secrets.key_file.
const EnvKeyFile = "SERIALINE_KEY_FILE"

// SecretsConfig is the key that seals the secrets central keeps in its
// database (the keys of randomized serial schemes) with AES-256-GCM.
type SecretsConfig struct {
	// KeyFile holds the keys, one per line as ID:64 hex digits; the first
	// seals, all open (rotation: put a new key first, restart). Empty:
	// the secrets are stored in plaintext, with a warning at start.
	KeyFile string `yaml:"key_file"`
}

func loadSecretKeys(path string) (*sqldb.SecretKeys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: unreadable: %w", path, err)
	}
	k, err := sqldb.ParseSecretKeys(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// secretKeys are the keys of secrets.key_file (or the file the
// environment names), nil with a warning when none is configured.
func (s *Server) secretKeys() (*sqldb.SecretKeys, error) {
	key, path := "secrets.key_file", s.cfg.Secrets.KeyFile
	if p := s.getenv(EnvKeyFile); p != "" {
		key, path = EnvKeyFile, p
	}
	if path == "" {
		s.log.Warn("no secrets key: the keys of randomized serial schemes are stored in plaintext in the database; set secrets.key_file or " + EnvKeyFile + " (docs/operations.md, TLS)")
		return nil, nil
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		s.log.Warn("the secrets key file is readable by others; make it 0600", "file", path, "mode", st.Mode().Perm().String())
	}
	k, err := loadSecretKeys(path)
	if err != nil {
		return nil, configErr(key, "%v", err)
	}
	return k, nil
}
