package transport

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff defaults.
const (
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 10 * time.Second
)

// Backoff spaces reconnection attempts: exponential with jitter between Min
// and Max (zero values mean 100 ms and 10 s). The jitter keeps a line's
// devices from all redialling in step after a shared network blip.
type Backoff struct {
	Min time.Duration `yaml:"min"`
	Max time.Duration `yaml:"max"`
}

func (b Backoff) bounds() (lo, hi time.Duration) {
	lo, hi = b.Min, b.Max
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi <= 0 {
		hi = DefaultBackoffMax
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// Delay returns how long to wait before retry number attempt (0 for the
// first retry). The ceiling doubles per attempt from Min up to Max; the delay
// is drawn uniformly from the upper half of it, never below Min.
func (b Backoff) Delay(attempt int) time.Duration {
	lo, hi := b.bounds()
	ceil := lo
	for i := 0; i < attempt && ceil < hi; i++ {
		ceil *= 2
	}
	if ceil > hi {
		ceil = hi
	}
	half := ceil / 2
	d := half + rand.N(half+1)
	if d < lo {
		d = lo
	}
	return d
}

// Wait blocks for Delay(attempt) or until ctx ends, whichever is first, and
// returns ctx's error in the latter case.
func (b Backoff) Wait(ctx context.Context, attempt int) error {
	t := time.NewTimer(b.Delay(attempt))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
