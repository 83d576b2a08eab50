//go:build linux

package scanner

import (
	"context"
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal the simulator serves, standing in for the serial
// port of a reader. Open Path as a serial device (e.g. transport spec
// "serial:/dev/pts/7?baud=115200").
type PTY struct {
	// Path is the slave device the agent opens, e.g. /dev/pts/7.
	Path string
	done chan struct{}
}

// Done is closed once the pseudo-terminal has been closed after ctx ended.
func (p *PTY) Done() <-chan struct{} { return p.done }

// ServePTY opens a pseudo-terminal pair, logs the slave's path and returns
// it; every result line is written to the master until ctx ends, when both
// ends are closed. The line discipline is set to raw, so that \r\n and
// control characters pass unchanged. The simulator keeps the slave open
// itself, so the pair survives the agent closing and reopening it. Lines
// nobody reads pile up in the pty's buffer; once the simulator's queue is
// full too, further lines are dropped (Stats.Dropped).
func (s *Simulator) ServePTY(ctx context.Context) (*PTY, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("scanner simulator %q: open pty: %w", s.name, err)
	}
	master, err := prepare(ptmx, tty)
	if err != nil {
		_ = ptmx.Close()
		_ = tty.Close()
		return nil, fmt.Errorf("scanner simulator %q: pty %s: %w", s.name, tty.Name(), err)
	}
	p := &PTY{Path: tty.Name(), done: make(chan struct{})}
	k := s.addSink("pty "+p.Path, false)
	stop := context.AfterFunc(ctx, func() { _ = master.Close() })
	go func() {
		// Drain what the agent writes, so its writes never block.
		buf := make([]byte, 512)
		for {
			if _, err := master.Read(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		defer close(p.done)
		defer func() {
			stop()
			s.removeSink(k)
			_ = master.Close()
			_ = tty.Close()
			s.log.Info("scanner simulator pty closed", "path", p.Path)
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case line := <-k.lines:
				if _, err := master.Write(line); err != nil {
					if ctx.Err() == nil {
						s.log.Warn("scanner simulator pty write failed", "path", p.Path, "err", err)
					}
					return
				}
			}
		}
	}()
	s.log.Info("scanner simulator pty ready", "path", p.Path)
	return p, nil
}

// prepare sets the pair to raw mode and returns a copy of the master that
// Go's poller manages (pty.Open hands it over in blocking mode), so that
// Close unblocks a Write stuck on a full buffer. It closes ptmx on success.
func prepare(ptmx, tty *os.File) (*os.File, error) {
	if err := makeRaw(int(tty.Fd())); err != nil {
		return nil, fmt.Errorf("raw mode: %w", err)
	}
	fd, err := unix.Dup(int(ptmx.Fd()))
	if err != nil {
		return nil, fmt.Errorf("dup master: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("non-blocking master: %w", err)
	}
	_ = ptmx.Close()
	return os.NewFile(uintptr(fd), "/dev/ptmx"), nil
}

// makeRaw does what cfmakeraw(3) does: no echo, no line editing, no CR/LF
// translation, no signals, 8 data bits.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
