package broker

import (
	"log/slog"
	"sync"
	"time"
)

// logEvery is how often one kind of warning about one client is logged
// while it repeats; the repetitions in between are counted into the next.
const logEvery = 10 * time.Second

// rateLog logs a warning the first time it happens for a key, and then at
// most once per logEvery with the number it left out: a client flooding
// the broker with refused messages must not flood the log too (every one
// is counted in the metrics).
type rateLog struct {
	log *slog.Logger
	mu  sync.Mutex
	by  map[string]*rateEntry
}

type rateEntry struct {
	last    time.Time
	skipped int
}

func newRateLog(log *slog.Logger) *rateLog { return &rateLog{log: log, by: map[string]*rateEntry{}} }

// warn logs msg with args unless one for key was logged within logEvery.
func (r *rateLog) warn(key, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	e, ok := r.by[key]
	if !ok {
		if len(r.by) > 10_000 { // keys come from clients: keep the map bounded
			r.by = map[string]*rateEntry{}
		}
		e = &rateEntry{}
		r.by[key] = e
	}
	if ok && now.Sub(e.last) < logEvery {
		e.skipped++
		r.mu.Unlock()
		return
	}
	skipped := e.skipped
	e.last, e.skipped = now, 0
	r.mu.Unlock()
	if skipped > 0 {
		args = append(args, "repeated", skipped)
	}
	r.log.Warn(msg, args...)
}
