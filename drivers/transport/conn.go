package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"go.bug.st/serial"
)

// Conn is the link Dial returns: a TCP socket or a serial port behind one
// set of error rules, so that drivers handle both alike.
//
//   - A Read that waits longer than the read timeout fails with an error
//     matching os.ErrDeadlineExceeded (the link is still usable).
//   - A link whose peer went away (TCP close or reset, serial device
//     unplugged, pty master closed) fails with an error matching both
//     ErrNotConnected and, for reads, io.EOF. It never hangs.
//   - Close unblocks a pending Read, which then fails with an error matching
//     net.ErrClosed; so does every later call.
//
// Write and Close may be called while a Read is blocked in another
// goroutine. Set the read timeout between reads, not during one (the serial
// library keeps it unsynchronised), and order concurrent Reads (or Writes)
// yourself.
type Conn struct {
	cfg         Config
	sock        net.Conn    // tcp
	port        serial.Port // serial
	readTimeout atomic.Int64
	closed      atomic.Bool
}

// Dial opens one connection (an io.ReadWriteCloser whose dynamic type is
// *Conn) — no retries. A serial port is opened in raw mode with the
// configured line settings and its DTR/RTS lines left as they are.
func Dial(ctx context.Context, c Config) (io.ReadWriteCloser, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial %s: %w", c, err)
	}
	switch c.Kind {
	case KindTCP:
		d := net.Dialer{Timeout: c.DialTimeout}
		sock, err := d.DialContext(ctx, "tcp", c.Address)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", c, err)
		}
		return &Conn{cfg: c, sock: sock}, nil
	default:
		port, err := serial.Open(c.Address, serialMode(c))
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", c, err)
		}
		return &Conn{cfg: c, port: port}, nil
	}
}

// serialMode leaves InitialStatusBits nil on purpose: setting DTR/RTS needs
// the TIOCMGET/TIOCMSET ioctls, which fail on a pseudo-terminal, and the
// devices we drive use no hardware handshake.
func serialMode(c Config) *serial.Mode {
	m := &serial.Mode{BaudRate: c.Baud, DataBits: c.DataBits, StopBits: serial.OneStopBit}
	switch c.Parity {
	case "E":
		m.Parity = serial.EvenParity
	case "O":
		m.Parity = serial.OddParity
	default:
		m.Parity = serial.NoParity
	}
	if c.StopBits == 2 {
		m.StopBits = serial.TwoStopBits
	}
	return m
}

// Config returns the settings the link was opened with (defaults filled in).
func (c *Conn) Config() Config { return c.cfg }

// String names the link, e.g. "tcp:127.0.0.1:9100".
func (c *Conn) String() string { return c.cfg.String() }

// SetReadTimeout bounds how long each later Read waits for the first byte;
// zero or less waits for ever (until data, loss of the link, or Close).
func (c *Conn) SetReadTimeout(d time.Duration) error {
	if d < 0 {
		d = 0
	}
	c.readTimeout.Store(int64(d))
	if c.port != nil {
		t := serial.NoTimeout
		if d > 0 {
			t = d
		}
		if err := c.port.SetReadTimeout(t); err != nil {
			return fmt.Errorf("%s: set read timeout: %w", c.cfg, err)
		}
	}
	return nil
}

// Read reads up to len(p) bytes; see Conn for the errors.
func (c *Conn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.closedErr("read")
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.sock != nil {
		return c.readTCP(p)
	}
	return c.readSerial(p)
}

func (c *Conn) readTCP(p []byte) (int, error) {
	var deadline time.Time
	if d := time.Duration(c.readTimeout.Load()); d > 0 {
		deadline = time.Now().Add(d)
	}
	if err := c.sock.SetReadDeadline(deadline); err != nil {
		return 0, c.lost("read", err)
	}
	n, err := c.sock.Read(p)
	if err == nil {
		return n, nil
	}
	if c.closed.Load() {
		return n, c.closedErr("read")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, fmt.Errorf("%s: read: %w", c.cfg, err)
	}
	return n, c.lost("read", err)
}

func (c *Conn) readSerial(p []byte) (int, error) {
	n, err := c.port.Read(p)
	if err == nil && n > 0 {
		return n, nil
	}
	if c.closed.Load() {
		return n, c.closedErr("read")
	}
	if err == nil {
		// go.bug.st/serial reports an expired read timeout as (0, nil).
		return 0, fmt.Errorf("%s: read: no data within %v: %w", c.cfg,
			time.Duration(c.readTimeout.Load()), os.ErrDeadlineExceeded)
	}
	// EIO (device gone, pty master closed) or PortClosed without our Close.
	return n, c.lost("read", err)
}

// Write writes p; see Conn for the errors.
func (c *Conn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.closedErr("write")
	}
	var (
		n   int
		err error
	)
	if c.sock != nil {
		n, err = c.sock.Write(p)
	} else {
		n, err = c.port.Write(p)
	}
	if err == nil {
		return n, nil
	}
	if c.closed.Load() {
		return n, c.closedErr("write")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, fmt.Errorf("%s: write: %w", c.cfg, err)
	}
	return n, c.lost("write", err)
}

// Close closes the link and unblocks a pending Read. Closing twice is a no-op.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	var err error
	if c.sock != nil {
		err = c.sock.Close()
	} else {
		err = c.port.Close()
	}
	if err != nil {
		return fmt.Errorf("%s: close: %w", c.cfg, err)
	}
	return nil
}

func (c *Conn) closedErr(op string) error {
	return fmt.Errorf("%s: %s: %w", c.cfg, op, net.ErrClosed)
}

// lost wraps the cause of a dead link so callers can test for
// ErrNotConnected (and io.EOF on reads) whatever the link kind.
func (c *Conn) lost(op string, cause error) error {
	if op == "read" && !errors.Is(cause, io.EOF) {
		return fmt.Errorf("%s: %s: link lost: %w: %w (%w)", c.cfg, op, ErrNotConnected, io.EOF, cause)
	}
	return fmt.Errorf("%s: %s: link lost: %w (%w)", c.cfg, op, ErrNotConnected, cause)
}
