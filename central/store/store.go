package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
)

// Store is central's records, one domain package each over one sqldb.DB
// (PostgreSQL in production, an embedded SQLite file by default): the
// lines' events, orders and grants, master data, the supply chain, EPCIS,
// EU FMD, the outbound queue, access and the audit trail. It embeds them,
// so a caller that needs many domains (the server, the tests) has one
// value; packages that need one or two take that domain's type or an
// interface of their own. It is safe for concurrent use; several Stores
// (several central replicas) may share one PostgreSQL database.
type Store struct {
	*lineevents.Records
	*orders.Book
	*master.Data
	*supply.Chain
	*epcisdb.Repository
	*eufmd.Register
	*messages.Queue
	*access.Registry
	*audit.Trail

	db *sqldb.DB
}

// Option adjusts Open.
type Option func(*options)

type options struct {
	clock func() time.Time
	skew  time.Duration
	// fmdWindow: WithFMDReversalWindow.
	fmdWindow time.Duration
	// db: the database's own options.
	db []sqldb.Option
}

// WithDB passes options to the database core (sqldb.WithPostgresConns,
// sqldb.WithSecretKeys, sqldb.WithMigrationsUpTo).
func WithDB(opts ...sqldb.Option) Option {
	return func(o *options) { o.db = append(o.db, opts...) }
}

// WithClock sets the clock the store judges dates by (an order's expiry
// against today and the product's shelf life); default time.Now. Record
// timestamps always come from the system clock.
func WithClock(clock func() time.Time) Option {
	return func(o *options) {
		if clock != nil {
			o.clock = clock
		}
	}
}

// WithFutureSkew sets how far ahead of central's clock an event may be
// stamped before it is applied flagged FlagFutureTime (default
// lineevents.DefaultFutureSkew; 0 keeps the default).
func WithFutureSkew(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.skew = d
		}
	}
}

// WithFMDReversalWindow sets how long after an EU FMD status update its
// reversal is accepted (default DefaultFMDReversalWindow; 0 keeps it).
func WithFMDReversalWindow(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.fmdWindow = d
		}
	}
}

// Open opens the database named by dsn (see sqldb.Open: "sqlite:PATH" or
// a postgres:// URL), brings its schema up to date and seals the scheme
// keys stored in plaintext when secret keys are configured.
func Open(ctx context.Context, dsn string, log *slog.Logger, opts ...Option) (*Store, error) {
	if log == nil {
		return nil, errors.New("store: a logger is required")
	}
	o := options{clock: time.Now, skew: lineevents.DefaultFutureSkew, fmdWindow: eufmd.DefaultFMDReversalWindow}
	for _, opt := range opts {
		opt(&o)
	}
	db, err := sqldb.Open(ctx, dsn, log, append([]sqldb.Option{sqldb.WithMigrationHook("dead_letter_bounds", lineevents.BoundDeadLetters)}, o.db...)...)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db,
		Records:  lineevents.New(db, o.skew),
		Book:     orders.New(db, o.clock),
		Data:     master.New(db),
		Register: eufmd.New(db, o.clock, o.fmdWindow),
		Queue:    messages.New(db),
		Registry: access.New(db),
		Trail:    audit.New(db),
	}
	// EPCIS queries first bring the projection of the lines' records up
	// to date.
	s.Repository = epcisdb.New(db, s.SyncLineEPCIS)
	s.Chain = supply.New(db, s.Data, s.Repository, s.Register, s.Registry)
	if n, err := s.ResealSecrets(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: seal the scheme keys: %w", err)
	} else if n > 0 {
		log.Info("scheme keys sealed with the current secrets key", "products", n, "key_id", db.Secrets().CurrentID())
	}
	return s, nil
}

// DB is the database core the store runs on.
func (s *Store) DB() *sqldb.DB { return s.db }

// Close releases the database connections.
func (s *Store) Close() { s.db.Close() }

// Dialect returns "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.db.Dialect().String() }

// SchemaVersion returns the highest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) { return s.db.SchemaVersion(ctx) }
