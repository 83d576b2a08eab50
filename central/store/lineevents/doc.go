// Package lineevents is central's record of what the lines did: their
// event batches applied into units, unit history, containers and order
// counts (exactly once, in each line's seq order, across incarnations of
// a line's event store), with flags, dead letters and the skip of a lost
// gap; the units and counts read back; and the projection of the lines'
// records into EPCIS events.
package lineevents

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
)

// Records is the lines' records of one sqldb.DB. It is safe for
// concurrent use.
type Records struct {
	db  *sqldb.DB
	log *slog.Logger

	// skew: events stamped further ahead of the clock are flagged
	// FlagFutureTime.
	skew time.Duration

	// Units applied since New and the count at which PostgreSQL's
	// statistics are refreshed next (see refreshStats).
	applied     atomic.Int64
	nextAnalyze atomic.Int64
}

// DefaultFutureSkew is how far ahead of central's clock an event may be
// stamped before it is flagged FlagFutureTime.
const DefaultFutureSkew = 10 * time.Minute

// New returns the lines' records of db; skew is how far ahead of the
// clock an event may be stamped (0: DefaultFutureSkew).
func New(db *sqldb.DB, skew time.Duration) *Records {
	if skew <= 0 {
		skew = DefaultFutureSkew
	}
	return &Records{db: db, log: db.Log(), skew: skew}
}
