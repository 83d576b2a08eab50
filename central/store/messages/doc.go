// Package messages is central's queue of outbound messages to partners
// (DSCSA documents, EU hub uploads, webhooks): enqueued inside the
// transaction that makes them due, claimed under a lease by one sender
// at a time, with every attempt recorded.
package messages

import (
	"log/slog"

	"github.com/serialine/serialine/central/store/sqldb"
)

// Queue is the outbound messages of one sqldb.DB. It is safe for
// concurrent use.
type Queue struct {
	db  *sqldb.DB
	log *slog.Logger
}

// New returns the outbound queue of db.
func New(db *sqldb.DB) *Queue { return &Queue{db: db, log: db.Log()} }
