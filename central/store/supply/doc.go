// Package supply is central's supply chain after the line: sales orders,
// shipments (picking, confirmation, the DSCSA documents they queue),
// returns and receipts from partners, recalls and investigations, the
// trace of a unit's transactions, and the facts verification answers
// with.
package supply

import (
	"log/slog"

	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
)

// Chain is the supply chain records of one sqldb.DB. It is safe for
// concurrent use.
type Chain struct {
	db  *sqldb.DB
	log *slog.Logger
	// The domains it writes with or reads from outside its own tables.
	master *master.Data
	epcis  *epcisdb.Repository
	fmd    *eufmd.Register
	access *access.Registry
}

// New returns the supply chain records of db, which work with the other
// domains of the same database.
func New(db *sqldb.DB, md *master.Data, ev *epcisdb.Repository, fmd *eufmd.Register, ac *access.Registry) *Chain {
	return &Chain{db: db, log: db.Log(), master: md, epcis: ev, fmd: fmd, access: ac}
}
