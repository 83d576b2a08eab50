package wire

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrVersion is wrapped by the error for a payload whose "v" is missing or
// not Version.
var ErrVersion = errors.New("unsupported payload version")

// ErrTooLarge is wrapped by the error for a payload over MaxPayloadBytes or
// a batch over MaxBatchEvents.
var ErrTooLarge = errors.New("payload too large")

// FieldError is a payload that breaks a rule of the contract. Field is the
// JSON path of the offending field ("events[3].gtin", "v"); Err says which
// rule, and is a *gs1.Error where a GS1 rule was broken.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the rule broken.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, err error) *FieldError {
	return &FieldError{Field: field, Err: err}
}

func fieldErrf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// under puts err below the path prefix: a *FieldError for "gtin" under
// "events[3]" becomes one for "events[3].gtin".
func under(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		sep := "."
		if strings.HasPrefix(fe.Field, "[") {
			sep = ""
		}
		return &FieldError{Field: prefix + sep + fe.Field, Err: fe.Err}
	}
	return &FieldError{Field: prefix, Err: err}
}

func index(name string, i int) string { return name + "[" + strconv.Itoa(i) + "]" }

// BatchError lists the invalid events of an EventBatch whose envelope (v,
// line, size) is valid. The other events are fine: central dead-letters the
// invalid ones and applies the rest, so that the line's sequence moves on.
type BatchError struct {
	// Invalid maps an event's index in EventBatch.Events to the reason, a
	// *FieldError whose Field starts with "events[i]".
	Invalid map[int]error
}

// Indexes returns the indexes of the invalid events, ascending.
func (e *BatchError) Indexes() []int {
	idx := make([]int, 0, len(e.Invalid))
	for i := range e.Invalid {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

func (e *BatchError) Error() string {
	idx := e.Indexes()
	if len(idx) == 0 {
		return "event batch: no invalid events"
	}
	msg := e.Invalid[idx[0]].Error()
	if len(idx) > 1 {
		msg += " (and " + strconv.Itoa(len(idx)-1) + " more invalid events)"
	}
	return msg
}

// Unwrap returns the reasons, in index order, for errors.Is and errors.As.
func (e *BatchError) Unwrap() []error {
	idx := e.Indexes()
	errs := make([]error, len(idx))
	for k, i := range idx {
		errs[k] = e.Invalid[i]
	}
	return errs
}
