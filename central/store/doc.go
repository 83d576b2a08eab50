// Package store is central's database: the truth about which serial
// numbers exist, which line got which, and what happened to every unit.
// One schema runs on PostgreSQL (production, several central replicas) and
// on an embedded SQLite file (the default); the same tests run on both.
//
// Open migrates the schema (embedded, versioned SQL files, applied once
// under a lock). Every write runs in one transaction together with its
// audit-trail entry, so nothing is half-written and nothing changes
// unrecorded (21 CFR Part 11 §11.10(e)); the audit trail itself is
// append-only, enforced by triggers.
//
// The line feed: ApplyEvents applies a batch of a line's events exactly
// once and in the line's seq order, holding events that arrive beyond a
// gap and dead-lettering (never dropping) events that are invalid, and
// returns the seq to acknowledge. Grant allocates serials to a released
// work order as counter ranges (idempotent by request id); Reconciliation
// accounts for every granted serial.
//
// Writes are attributed to the actor in the context (sqldb.WithActor). Errors
// name the record and wrap sqldb.ErrNotFound, sqldb.ErrConflict, sqldb.ErrState, sqldb.ErrExhausted
// or sqldb.ErrInvalid (*sqldb.ValidationError). See README.md for the schema and the
// apply algorithm.
package store
