// Package eufmd is central's EU FMD records: each product's EU master data
// and its uploads, the batch data of the orders, and the status updates
// (withdrawal, theft, destruction, recall and their reversal) sent to the
// EU hub through the outbound queue.
package eufmd

import (
	"log/slog"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
)

// MaxSerials bounds the serial list of one status update.
const MaxSerials = 1_000_000

// Register is the EU FMD records of one sqldb.DB. It is safe for
// concurrent use.
type Register struct {
	db  *sqldb.DB
	log *slog.Logger
	// clock is central's clock; window how long a status update may be
	// reversed.
	clock  func() time.Time
	window time.Duration
}

// New returns the EU FMD records of db.
func New(db *sqldb.DB, clock func() time.Time, window time.Duration) *Register {
	return &Register{db: db, log: db.Log(), clock: clock, window: window}
}
