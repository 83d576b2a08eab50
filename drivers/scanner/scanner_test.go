package scanner

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		log  *slog.Logger
		want string
	}{
		{"no name", Config{Transport: "tcp:127.0.0.1:1"}, testkit.Discard(), "scanner: name: missing"},
		{"no logger", Config{Name: "v1", Transport: "tcp:127.0.0.1:1"}, nil, `scanner "v1": logger: missing`},
		{"no transport", Config{Name: "v1"}, testkit.Discard(), `scanner "v1": transport: missing`},
		{"bad transport", Config{Name: "v1", Transport: "usb:/dev/x"}, testkit.Discard(), `kind "usb"`},
		{"bad baud", Config{Name: "v1", Transport: "serial:/dev/ttyS0?baud=1234"}, testkit.Discard(), "baud 1234"},
		{"bad format", Config{Name: "v1", Transport: "tcp:127.0.0.1:1", Format: Format{Grade: "x"}}, testkit.Discard(), `scanner "v1": format: grade "x"`},
		{"negative backoff", Config{Name: "v1", Transport: "tcp:127.0.0.1:1", ReconnectMin: -1}, testkit.Discard(), "must not be negative"},
		{"max below min", Config{Name: "v1", Transport: "tcp:127.0.0.1:1", ReconnectMin: time.Second, ReconnectMax: time.Millisecond}, testkit.Discard(), "reconnect_max 1ms is below reconnect_min 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, tt.log)
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, s)
		})
	}
	t.Run("valid, no dialling", func(t *testing.T) {
		// Nothing listens on port 1; New must succeed because it never dials.
		s, err := New(Config{Name: "v1", Transport: "tcp:127.0.0.1:1"}, testkit.Discard())
		require.NoError(t, err)
		require.Equal(t, "v1", s.Name())
		require.Equal(t, Stats{}, s.Stats())
	})
}

// TestRunOverTCP runs the driver through the real transport against a
// loopback server that sends well-formed and malformed lines.
func TestRunOverTCP(t *testing.T) {
	ln, conns := listen(t)
	log, rec := newLogRecorder()
	s, err := New(Config{Name: "v1", Transport: "tcp:" + ln.Addr().String(), Format: Format{Grade: GradeLetter}}, log)
	require.NoError(t, err)
	out := make(chan Result, 16)
	run(t, s, out)

	c := accept(t, conns)
	testkit.Eventually(t, "driver connected", func() bool { return s.Stats().Connected })
	before := time.Now()
	_, err = c.Write([]byte(pharmaData + ";A\r\nNOREAD;F\r\ngarbage-without-grade\r\n\x00\x01\x02;A\r\nSECOND;3\r\n"))
	require.NoError(t, err)

	r := next(t, out)
	require.Equal(t, pharmaData, r.Data)
	require.Equal(t, GradeA, r.Grade)
	require.False(t, r.At.Before(before), "At is the arrival time")
	require.Equal(t, Result{NoRead: true, Grade: GradeF}, withoutAt(next(t, out)))
	require.Equal(t, Result{Data: "SECOND", Grade: GradeB}, withoutAt(next(t, out)))

	st := s.Stats()
	require.Equal(t, uint64(5), st.Lines)
	require.Equal(t, uint64(3), st.Results)
	require.Equal(t, uint64(1), st.NoReads)
	require.Equal(t, uint64(2), st.Malformed)
	require.Equal(t, `"\x00\x01\x02;A"`, st.LastMalformed)
	require.Contains(t, st.LastMalformedReason, "byte 0x00")
	require.Equal(t, 1, rec.count("scanner link up"))
	require.Equal(t, 1, rec.count("WARN scanner malformed line"), "only the first malformed line per link is a warning")
	require.Equal(t, 1, rec.count("DEBUG scanner malformed line"))
}

func withoutAt(r Result) Result {
	r.At = time.Time{}
	return r
}

// TestRunMalformed feeds each kind of bad input, then a good line: the bad
// input is counted with its reason and the good line still comes through.
func TestRunMalformed(t *testing.T) {
	tests := []struct {
		name      string
		format    Format
		bad       string
		malformed uint64
		reason    string
	}{
		{"garbage", Format{Prefix: "\x02"}, "hello world\r\n", 1, "does not start with the prefix"},
		{"binary noise with terminators", Format{}, "\xde\xad\r\n\xbe\xef\x00\r\n", 2, "neither printable ASCII nor GS"},
		{"over-long line", Format{MaxLine: 64}, strings.Repeat("A", 65) + "\r\n", 1, "line longer than max_line 64 bytes"},
		{"megabyte of noise without terminator", Format{MaxLine: 256}, strings.Repeat("\x00\xff\x1b[", 1<<18) + "\r\n", 1, "line longer than max_line 256"},
		{"blank line", Format{}, "\r\n", 1, "empty data"},
		{"CR-only terminator from a misconfigured reader", Format{Terminator: "\n"}, "ABC\r\n", 1, "byte 0x0D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, conns := listen(t)
			s, err := New(Config{Name: "v1", Transport: "tcp:" + ln.Addr().String(), Format: tt.format}, testkit.Discard())
			require.NoError(t, err)
			out := make(chan Result, 4)
			run(t, s, out)
			c := accept(t, conns)
			good := tt.format.Encode(nil, Result{Data: "GOOD"})
			go func() { _, _ = c.Write(append([]byte(tt.bad), good...)) }()
			require.Equal(t, "GOOD", next(t, out).Data)
			st := s.Stats()
			require.Equal(t, tt.malformed, st.Malformed)
			require.Equal(t, uint64(1), st.Results)
			require.Contains(t, st.LastMalformedReason, tt.reason)
			require.LessOrEqual(t, len(st.LastMalformed), 2+4*120, "the kept copy is cut")
		})
	}
}

// TestRunReconnects drops the link twice: the driver reports it, logs it,
// and comes back by itself.
func TestRunReconnects(t *testing.T) {
	ln, conns := listen(t)
	log, rec := newLogRecorder()
	s, err := New(Config{Name: "v1", Transport: "tcp:" + ln.Addr().String(), ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond}, log)
	require.NoError(t, err)
	out := make(chan Result, 4)
	run(t, s, out)

	for i, data := range []string{"FIRST", "SECOND", "THIRD"} {
		c := accept(t, conns)
		_, err := c.Write([]byte(data + "\r\n"))
		require.NoError(t, err)
		require.Equal(t, data, next(t, out).Data)
		require.Equal(t, uint64(i), s.Stats().Reconnects)
		if i == 2 {
			break
		}
		_, err = c.Write([]byte("HALF-A-LI")) // cut off by the close
		require.NoError(t, err)
		require.NoError(t, c.Close())
		testkit.Eventually(t, "link down logged", func() bool { return rec.count("scanner link down") == i+1 })
	}
	st := s.Stats()
	require.True(t, st.Connected)
	require.Equal(t, uint64(3), st.Connects)
	require.Equal(t, uint64(2), st.Malformed, "each half line lost with a link is counted")
	require.Equal(t, "link lost in the middle of a line", st.LastMalformedReason)
	require.Contains(t, st.LastLinkError, "link lost")
}

// TestRunReportsDisconnect checks that Stats shows the link down while the
// reader is away and the failed attempts to reach it.
func TestRunReportsDisconnect(t *testing.T) {
	var attempts atomic.Int32
	peers := make(chan net.Conn, 1)
	refuse := make(chan struct{}) // closed: refuse; open: accept
	dial := func(ctx context.Context) (io.ReadWriteCloser, error) {
		attempts.Add(1)
		select {
		case <-refuse:
			return nil, errors.New("connection refused (test)")
		default:
		}
		a, b := net.Pipe()
		peers <- b
		return a, nil
	}
	log, rec := newLogRecorder()
	s, err := New(Config{Name: "v1", Dial: dial, ReconnectMin: time.Millisecond, ReconnectMax: 2 * time.Millisecond}, log)
	require.NoError(t, err)
	out := make(chan Result, 1)
	run(t, s, out)

	peer := <-peers
	testkit.Eventually(t, "connected", func() bool { return s.Stats().Connected })
	close(refuse)
	require.NoError(t, peer.Close())
	testkit.Eventually(t, "disconnected, retrying", func() bool { st := s.Stats(); return !st.Connected && st.DialFailures >= 3 })
	st := s.Stats()
	require.Equal(t, "connection refused (test)", st.LastLinkError)
	require.Equal(t, 1, rec.count("WARN scanner connect failed"), "the first failure warns, retries are debug")
	require.GreaterOrEqual(t, rec.count("DEBUG scanner connect failed"), 2)
	require.Equal(t, 1, rec.count("WARN scanner link down"))
}

// TestRunStops checks that Run returns promptly on cancel from each place it
// can wait: dialling, reading a silent link, a full output channel, backoff.
func TestRunStops(t *testing.T) {
	tests := []struct {
		name  string
		dial  func(peers chan<- net.Conn) DialFunc
		setup func(t *testing.T, peers <-chan net.Conn, s *Scanner)
	}{
		{"blocked in dial", func(chan<- net.Conn) DialFunc {
			return func(ctx context.Context) (io.ReadWriteCloser, error) { <-ctx.Done(); return nil, ctx.Err() }
		}, func(*testing.T, <-chan net.Conn, *Scanner) {}},
		{"reading a silent link", pipeDial, func(t *testing.T, _ <-chan net.Conn, s *Scanner) {
			testkit.Eventually(t, "connected", func() bool { return s.Stats().Connected })
		}},
		{"output channel full", pipeDial, func(t *testing.T, peers <-chan net.Conn, s *Scanner) {
			peer := <-peers
			go func() { _, _ = peer.Write([]byte("A\r\nB\r\nC\r\n")) }()
			testkit.Eventually(t, "results decoded, not taken", func() bool { return s.Stats().Results == 3 })
		}},
		{"backing off", func(chan<- net.Conn) DialFunc {
			return func(context.Context) (io.ReadWriteCloser, error) { return nil, errors.New("down") }
		}, func(t *testing.T, _ <-chan net.Conn, s *Scanner) {
			testkit.Eventually(t, "failed once", func() bool { return s.Stats().DialFailures >= 1 })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peers := make(chan net.Conn, 1)
			s, err := New(Config{Name: "v1", Dial: tt.dial(peers), ReconnectMin: time.Hour, ReconnectMax: time.Hour}, testkit.Discard())
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx, make(chan Result)) }()
			tt.setup(t, peers, s)
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(waitFor):
				t.Fatal("Run did not return after cancel")
			}
			require.False(t, s.Stats().Connected)
		})
	}
}

func pipeDial(peers chan<- net.Conn) DialFunc {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		a, b := net.Pipe()
		peers <- b
		return a, nil
	}
}

func TestRunMisuse(t *testing.T) {
	s, err := New(Config{Name: "v1", Dial: func(ctx context.Context) (io.ReadWriteCloser, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}, testkit.Discard())
	require.NoError(t, err)
	require.ErrorContains(t, s.Run(context.Background(), nil), `scanner "v1": Run needs an output channel`)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, make(chan Result)) }()
	require.Eventually(t, func() bool { return s.running.Load() }, waitFor, time.Millisecond)
	require.ErrorContains(t, s.Run(ctx, make(chan Result)), "already running")
	cancel()
	require.NoError(t, <-done)
}

// TestRunDialError shows a refused TCP connection through the real
// transport: counted, with the transport's error text.
func TestRunDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	s, err := New(Config{Name: "v1", Transport: "tcp:" + addr, ReconnectMin: time.Millisecond, ReconnectMax: time.Millisecond}, testkit.Discard())
	require.NoError(t, err)
	run(t, s, make(chan Result))
	testkit.Eventually(t, "dial failures counted", func() bool { return s.Stats().DialFailures >= 2 })
	require.Contains(t, s.Stats().LastLinkError, "dial "+"tcp:"+addr)
	require.False(t, s.Stats().Connected)
}

// TestRunIdleTimeout: a link silent for idle_timeout is dropped and dialled
// again, over the transport's Conn and over a plain net.Conn.
func TestRunIdleTimeout(t *testing.T) {
	ln, conns := listen(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"transport link", Config{Transport: "tcp:" + ln.Addr().String()}},
		{"net.Conn", Config{Dial: func(ctx context.Context) (io.ReadWriteCloser, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", ln.Addr().String())
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Name, cfg.IdleTimeout, cfg.ReconnectMin, cfg.ReconnectMax = "v1", 20*time.Millisecond, time.Millisecond, time.Millisecond
			log, rec := newLogRecorder()
			s, err := New(cfg, log)
			require.NoError(t, err)
			run(t, s, make(chan Result))
			accept(t, conns) // kept open and silent: half-open from the driver's view
			accept(t, conns)
			testkit.Eventually(t, "reconnected after the idle timeout", func() bool { return s.Stats().Connects >= 2 })
			require.Contains(t, s.Stats().LastLinkError, "no data for idle_timeout 20ms")
			require.GreaterOrEqual(t, rec.count("WARN scanner link down"), 1)
		})
	}
	_, err := New(Config{Name: "v1", Transport: "tcp:127.0.0.1:1", IdleTimeout: -time.Second}, testkit.Discard())
	require.ErrorContains(t, err, "idle_timeout -1s: must not be negative")
}
