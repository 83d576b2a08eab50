package testkit

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Logger returns a logger at level Debug that writes through tb.Log, so its
// lines show with the test that wrote them (with -v or when it fails). Once
// the test's cleanups have run, lines are dropped: a goroutine that outlives
// its test would otherwise make tb.Log panic.
func Logger(tb testing.TB) *slog.Logger {
	return LoggerAt(tb, slog.LevelDebug)
}

// LoggerAt is Logger from level up: for benchmarks and allocation tests,
// where formatting every Debug line would be measured with the code.
func LoggerAt(tb testing.TB, level slog.Level) *slog.Logger {
	w := &tbWriter{tb: tb}
	tb.Cleanup(w.close) // registered first, so it runs after the cleanups that stop servers
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// Discard returns a logger that drops everything, for code under test whose
// logging is noise (benchmarks, table rows that only check validation).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

type tbWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Helper()
		w.tb.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tbWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
