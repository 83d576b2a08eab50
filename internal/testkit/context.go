package testkit

import (
	"context"
	"testing"
	"time"
)

// Wait bounds how long a test waits for anything (a context, a condition):
// long enough for the shared 2-core CI machine under a full run, short
// enough that a hang fails with a message instead of the go test timeout.
const Wait = 60 * time.Second

// Context returns a context cancelled when the test ends, with a deadline
// of Wait.
func Context(tb testing.TB) context.Context {
	return ContextFor(tb, Wait)
}

// ContextFor is Context with a deadline of d, for the long system tests.
func ContextFor(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
