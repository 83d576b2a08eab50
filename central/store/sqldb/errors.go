package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrNotFound is wrapped when a record does not exist; the message names it.
var ErrNotFound = errors.New("not found")

// ErrConflict is wrapped when a write clashes with what is stored: a
// duplicate key, a request id reused with other parameters, a serial scheme
// that can no longer change.
var ErrConflict = errors.New("conflict")

// ErrState is wrapped when a record is not in a state that allows the
// operation, e.g. a grant for a work order that is not released.
var ErrState = errors.New("not allowed in this state")

// ErrExhausted is wrapped when a product's serial space (or imported list)
// has fewer unused serials left than asked for.
var ErrExhausted = errors.New("serial space exhausted")

// ErrInvalid is matched (errors.Is) by every *ValidationError.
var ErrInvalid = errors.New("invalid")

// ValidationError is input that breaks a rule. Record names the record
// ("product 09506000134352"), Field the field by its JSON name.
type ValidationError struct {
	Record string
	Field  string
	Rule   string
}

func (e *ValidationError) Error() string {
	return e.Record + ": " + e.Field + ": " + e.Rule
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Invalid is a *ValidationError of record's field.
func Invalid(record, field, format string, args ...any) error {
	return &ValidationError{Record: record, Field: field, Rule: fmt.Sprintf(format, args...)}
}

// IsNoRows reports whether err says a query found no row.
func IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

type actorKey struct{}

// WithActor returns a context that attributes the store's writes to actor
// in the audit trail ("user:alice", "line:L1", "token:ERP"). Writes without
// an actor are attributed to "system".
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor set by WithActor, or "system".
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}
