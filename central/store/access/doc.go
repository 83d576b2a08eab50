// Package access is who may use central: API tokens (for people's tools,
// partners and lines, only their hashes stored) and the web UI's
// server-side sessions.
package access

import (
	"log/slog"

	"github.com/serialine/serialine/central/store/sqldb"
)

// Registry is the tokens and sessions of one sqldb.DB. It is safe for
// concurrent use.
type Registry struct {
	db  *sqldb.DB
	log *slog.Logger
}

// New returns the tokens and sessions of db.
func New(db *sqldb.DB) *Registry { return &Registry{db: db, log: db.Log()} }
