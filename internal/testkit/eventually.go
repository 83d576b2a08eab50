package testkit

import (
	"testing"
	"time"
)

// pollEvery is how often Eventually looks again: short, since the
// conditions polled are cheap (a counter, a map lookup).
const pollEvery = 2 * time.Millisecond

// Eventually polls cond until it holds, and fails the test naming what was
// awaited when it does not hold within Wait. Use it only where the code under
// test offers no event to wait on.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	EventuallyWithin(tb, Wait, what, cond)
}

// EventuallyWithin is Eventually waiting at most d.
func EventuallyWithin(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v", what, d)
			return
		}
		time.Sleep(pollEvery)
	}
}
