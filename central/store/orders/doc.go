// Package orders is central's work orders and what they are granted:
// serial numbers from each product's scheme or imported list (never the
// same serial twice), SSCCs from the company prefixes' counters, and the
// skip after a restore. The line events that use the serials are applied
// by package store.
package orders

import (
	"log/slog"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
)

// Book is the work orders and grants of one sqldb.DB. It is safe for
// concurrent use.
type Book struct {
	db  *sqldb.DB
	log *slog.Logger
	// clock is central's clock for the rules about dates (an order's
	// shelf life).
	clock func() time.Time
}

// New returns the orders of db, judging dates by clock.
func New(db *sqldb.DB, clock func() time.Time) *Book {
	return &Book{db: db, log: db.Log(), clock: clock}
}
