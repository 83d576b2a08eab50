// Package epcisdb keeps central's EPCIS events: the ones captured from
// partners and the API, the ones projected from the lines' records and
// shipping, with their event and hash ids, and the named queries,
// subscriptions and capture jobs of the EPCIS 2.0 REST binding.
package epcisdb

import (
	"context"
	"log/slog"

	"github.com/serialine/serialine/central/store/sqldb"
)

// Repository is the EPCIS events of one sqldb.DB. It is safe for
// concurrent use.
type Repository struct {
	db  *sqldb.DB
	log *slog.Logger
	// sync brings the projection of the lines' records up to date before
	// a query answers (package store projects them).
	sync func(ctx context.Context) error
}

// New returns the EPCIS events of db; sync is called before each query
// (nil: nothing to bring up to date).
func New(db *sqldb.DB, sync func(ctx context.Context) error) *Repository {
	if sync == nil {
		sync = func(context.Context) error { return nil }
	}
	return &Repository{db: db, log: db.Log(), sync: sync}
}
