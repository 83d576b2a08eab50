// Package audit is the audit trail of central's records (21 CFR Part 11
// §11.10(e)): Record appends an entry inside the transaction that makes
// the change, so the two commit together; Trail reads the entries.
package audit

import (
	"log/slog"

	"github.com/serialine/serialine/central/store/sqldb"
)

// Trail reads the audit trail of one sqldb.DB. It is safe for concurrent
// use.
type Trail struct {
	db  *sqldb.DB
	log *slog.Logger
}

// New returns the audit trail of db.
func New(db *sqldb.DB) *Trail { return &Trail{db: db, log: db.Log()} }
