package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/require"
)

// generous bounds how long a test waits for something that should happen
// at once; it only guards against hangs and never measures speed.
const generous = 10 * time.Second

// tcpPeer listens on loopback and hands the test the server side of the
// single connection Dial makes.
func tcpPeer(tb testing.TB) (Config, <-chan net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		tb.Cleanup(func() { _ = c.Close() })
		accepted <- c
	}()
	return Config{Kind: KindTCP, Address: ln.Addr().String()}, accepted
}

// ptyPeer opens a pseudo-terminal pair and returns a serial Config for the
// slave side (what a driver opens) and the master (the "device").
func ptyPeer(tb testing.TB) (Config, *os.File) {
	tb.Helper()
	master, slave, err := pty.Open()
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = master.Close() })
	// Our own handle on the slave is only needed to learn its path: the
	// driver opens it again by name, as it would a real /dev/ttyUSB0.
	name := slave.Name()
	require.NoError(tb, slave.Close())
	return Config{Kind: KindSerial, Address: name, Baud: 9600}, master
}

func dialConn(tb testing.TB, cfg Config) *Conn {
	tb.Helper()
	rwc, err := Dial(context.Background(), cfg)
	require.NoError(tb, err)
	c, ok := rwc.(*Conn)
	require.True(tb, ok, "Dial returns a *Conn, got %T", rwc)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func receive[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(generous):
		tb.Fatalf("%s: nothing within %v", what, generous)
		var zero T
		return zero
	}
}

type readResult struct {
	n   int
	err error
}

// blockedRead starts a Read in the background and reports its outcome.
func blockedRead(c *Conn) <-chan readResult {
	done := make(chan readResult, 1)
	go func() {
		n, err := c.Read(make([]byte, 16))
		done <- readResult{n, err}
	}()
	return done
}

func TestTCPRoundTrip(t *testing.T) {
	cfg, accepted := tcpPeer(t)
	c := dialConn(t, cfg)
	srv := receive(t, accepted, "accept")
	require.NotNil(t, srv)

	_, err := c.Write([]byte("~HS\r\n"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = io.ReadFull(srv, buf)
	require.NoError(t, err)
	require.Equal(t, "~HS\r\n", string(buf))

	_, err = srv.Write([]byte("ok"))
	require.NoError(t, err)
	_, err = io.ReadFull(c, buf[:2])
	require.NoError(t, err)
	require.Equal(t, "ok", string(buf[:2]))
	require.Equal(t, cfg.WithDefaults(), c.Config())
}

func TestTCPReadTimeout(t *testing.T) {
	cfg, accepted := tcpPeer(t)
	c := dialConn(t, cfg)
	receive(t, accepted, "accept")

	require.NoError(t, c.SetReadTimeout(20*time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NotErrorIs(t, err, ErrNotConnected, "a timeout leaves the link up")
	require.Contains(t, err.Error(), cfg.Address)
}

func TestTCPPeerGone(t *testing.T) {
	tests := []struct {
		name string
		kill func(net.Conn)
	}{
		{"close", func(c net.Conn) { _ = c.Close() }},
		{"reset", func(c net.Conn) {
			_ = c.(*net.TCPConn).SetLinger(0) // RST instead of FIN
			_ = c.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, accepted := tcpPeer(t)
			c := dialConn(t, cfg)
			srv := receive(t, accepted, "accept")
			read := blockedRead(c)
			tt.kill(srv)

			res := receive(t, read, "read after the peer went away")
			require.ErrorIs(t, res.err, ErrNotConnected)
			require.ErrorIs(t, res.err, io.EOF)
		})
	}
}

func TestTCPCloseUnblocksRead(t *testing.T) {
	cfg, accepted := tcpPeer(t)
	c := dialConn(t, cfg)
	receive(t, accepted, "accept")

	read := blockedRead(c)
	require.NoError(t, c.Close())
	res := receive(t, read, "blocked read after Close")
	require.ErrorIs(t, res.err, net.ErrClosed)

	_, err := c.Write([]byte("x"))
	require.ErrorIs(t, err, net.ErrClosed)
	require.NoError(t, c.Close(), "second Close is a no-op")
}

func TestDialErrors(t *testing.T) {
	// A port that was just free: connecting to it is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := ln.Addr().String()
	require.NoError(t, ln.Close())

	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		ctx     context.Context
		cfg     Config
		wantErr string
		wantIs  error
	}{
		{"invalid config", context.Background(), Config{Kind: "tcp"}, "address", nil},
		{"refused", context.Background(), Config{Kind: "tcp", Address: refused}, refused, nil},
		{"no such device", context.Background(), Config{Kind: "serial", Address: "/dev/serialine-no-such-tty"}, "/dev/serialine-no-such-tty", nil},
		{"not a tty", context.Background(), Config{Kind: "serial", Address: os.DevNull}, os.DevNull, nil},
		{"canceled", canceled, Config{Kind: "tcp", Address: "127.0.0.1:9"}, "127.0.0.1:9", context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rwc, err := Dial(tt.ctx, tt.cfg)
			require.Error(t, err)
			require.Nil(t, rwc)
			require.Contains(t, err.Error(), tt.wantErr)
			if tt.wantIs != nil {
				require.ErrorIs(t, err, tt.wantIs)
			}
		})
	}
}

func TestSerialOverPty(t *testing.T) {
	cfg, master := ptyPeer(t)
	c := dialConn(t, cfg)

	_, err := master.Write([]byte("]d2010950110153000317"))
	require.NoError(t, err)
	buf := make([]byte, 21)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, "]d2010950110153000317", string(buf), "raw mode: bytes pass unchanged")

	// Control bytes a terminal would interpret (GS, CR, ^C) must pass raw too.
	_, err = c.Write([]byte{0x1d, '\r', 0x03, '\n'})
	require.NoError(t, err)
	_, err = io.ReadFull(master, buf[:4])
	require.NoError(t, err)
	require.Equal(t, []byte{0x1d, '\r', 0x03, '\n'}, buf[:4])
}

func TestSerialReadTimeout(t *testing.T) {
	cfg, _ := ptyPeer(t)
	c := dialConn(t, cfg)

	require.NoError(t, c.SetReadTimeout(20*time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NotErrorIs(t, err, ErrNotConnected)
	require.Contains(t, err.Error(), cfg.Address)
}

func TestSerialCloseUnblocksRead(t *testing.T) {
	cfg, _ := ptyPeer(t)
	c := dialConn(t, cfg)

	read := blockedRead(c) // no read timeout: would wait for ever
	require.NoError(t, c.Close())
	res := receive(t, read, "blocked serial read after Close")
	require.ErrorIs(t, res.err, net.ErrClosed)

	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestSerialDeviceGone(t *testing.T) {
	cfg, master := ptyPeer(t)
	c := dialConn(t, cfg)

	read := blockedRead(c)
	require.NoError(t, master.Close()) // the USB adapter is pulled out
	res := receive(t, read, "blocked serial read after the device went away")
	require.ErrorIs(t, res.err, ErrNotConnected)
	require.ErrorIs(t, res.err, io.EOF)

	_, err := c.Write([]byte("x"))
	require.ErrorIs(t, err, ErrNotConnected)
}

func TestBackoffWaitEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Backoff{Min: time.Hour}.Wait(ctx, 0)
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
}
