// Package master is central's master data: products (with their serial
// schemes, sealed at rest), lines, sites, locations, trading partners and
// their endpoints. The other domains read it inside their own
// transactions through the Get functions.
package master

import (
	"log/slog"

	"github.com/serialine/serialine/central/store/sqldb"
)

// Data is the master data of one sqldb.DB. It is safe for concurrent use.
type Data struct {
	db  *sqldb.DB
	log *slog.Logger
}

// New returns the master data of db.
func New(db *sqldb.DB) *Data { return &Data{db: db, log: db.Log()} }
