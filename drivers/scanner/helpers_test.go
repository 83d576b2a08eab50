package scanner

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// waitFor is how long a test awaits an event before it fails.
const waitFor = 5 * time.Second

// pharmaData is a typical GS1 pack code: GTIN, expiry, lot, serial.
const pharmaData = "0109501101530003" + "17261231" + "10LOT42A\x1d" + "21SER0000001"

// logRecorder is a slog.Handler that keeps the messages, so tests can await
// and assert what the driver logged.
type logRecorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newLogRecorder() (*slog.Logger, *logRecorder) {
	r := &logRecorder{mu: &sync.Mutex{}, msgs: &[]string{}}
	return slog.New(r), r
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	r.mu.Lock()
	*r.msgs = append(*r.msgs, b.String())
	r.mu.Unlock()
	return nil
}

// count returns how many messages contain s.
func (r *logRecorder) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range *r.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// listen starts a TCP listener on loopback that hands every accepted
// connection to the returned channel.
func listen(tb testing.TB) (net.Listener, <-chan net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	conns := make(chan net.Conn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		<-done
		for {
			select {
			case c := <-conns:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return ln, conns
}

// accept awaits the next connection.
func accept(tb testing.TB, conns <-chan net.Conn) net.Conn {
	tb.Helper()
	select {
	case c := <-conns:
		tb.Cleanup(func() { _ = c.Close() })
		return c
	case <-time.After(waitFor):
		tb.Fatal("no connection from the driver")
		return nil
	}
}

// run starts s.Run and stops it when the test ends, failing the test if Run
// does not return.
func run(tb testing.TB, s *Scanner, out chan Result) context.CancelFunc {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, out) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(tb, err)
		case <-time.After(waitFor):
			tb.Error("Run did not return after cancel")
		}
	})
	return cancel
}

// next awaits one result.
func next(tb testing.TB, out <-chan Result) Result {
	tb.Helper()
	select {
	case r := <-out:
		return r
	case <-time.After(waitFor):
		tb.Fatal("no result from the driver")
		return Result{}
	}
}
