package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// hostConn is one link to a host: a TCP connection or a pty master.
type hostConn struct {
	rw        io.ReadWriteCloser
	peer      string
	droppable bool // Disconnect closes it (TCP); a pty stays
	once      sync.Once
}

func (c *hostConn) close() { c.once.Do(func() { _ = c.rw.Close() }) }

// register adds c to the live connections, or refuses it after Close.
func (s *Simulator) register(c *hostConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.stats.Connections++
	return true
}

func (s *Simulator) unregister(c *hostConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.close()
}

// Serve accepts hosts on ln (raw TCP, like a printer's port 9100) until ctx
// ends or the simulator is closed, then closes ln and the connections it
// accepted and returns nil. Any other accept error is returned.
func (s *Simulator) Serve(ctx context.Context, ln net.Listener) error {
	if s.isClosed() {
		_ = ln.Close()
		return errClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopDone := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stopDone()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.log.Info("printer simulator listening", "addr", ln.Addr().String())

	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("printer simulator %q: accept on %s: %w", s.cfg.Name, ln.Addr(), err)
		}
		c := &hostConn{rw: nc, peer: nc.RemoteAddr().String(), droppable: true}
		if ctx.Err() != nil || !s.register(c) {
			c.close()
			return nil
		}
		if s.isOffline() {
			s.log.Info("printer offline: connection refused", "peer", c.peer)
			s.unregister(c)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			stop := context.AfterFunc(ctx, c.close)
			defer stop()
			s.handle(c)
		}()
	}
}

// ServePTY makes a pseudo-terminal pair, serves the host on its master side
// until ctx ends or the simulator is closed, and returns the slave's path
// (e.g. /dev/pts/7): the "serial port" the driver opens. The pty is put in
// raw mode so that CR and LF pass untranslated and nothing is echoed.
func (s *Simulator) ServePTY(ctx context.Context) (string, error) {
	master, slave, err := pty.Open()
	if err != nil {
		return "", fmt.Errorf("printer simulator %q: open pty: %w", s.cfg.Name, err)
	}
	path := slave.Name()
	fail := func(step string, err error) (string, error) {
		_ = master.Close()
		_ = slave.Close()
		return "", fmt.Errorf("printer simulator %q: pty %s: %s: %w", s.cfg.Name, path, step, err)
	}
	if err := makeRaw(slave); err != nil {
		return fail("raw mode", err)
	}
	// creack/pty leaves the master in blocking mode, where Close does not
	// interrupt a pending Read; a non-blocking duplicate goes through Go's
	// poller and can be closed from another goroutine.
	m, err := pollable(master)
	if err != nil {
		return fail("master", err)
	}
	_ = master.Close()
	c := &hostConn{rw: m, peer: path}
	if !s.register(c) {
		c.close()
		_ = slave.Close()
		return "", errClosed
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// The slave stays open here too: with no slave open, reads on the
		// master fail with EIO whenever the host closes its port.
		defer slave.Close()
		stop := context.AfterFunc(ctx, c.close)
		defer stop()
		s.handle(c)
	}()
	s.log.Info("printer simulator serial port ready: open the pty slave", "path", path)
	return path, nil
}

// makeRaw sets the terminal like cfmakeraw(3): 8 bits, no echo, no line
// editing, no CR/LF translation, no signals.
func makeRaw(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = sc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err != nil {
		return err
	}
	return ioErr
}

// pollable returns a non-blocking duplicate of f registered with Go's
// poller.
func pollable(f *os.File) (*os.File, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var dup int
	var dupErr error
	if err := sc.Control(func(fd uintptr) { dup, dupErr = unix.Dup(int(fd)) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	unix.CloseOnExec(dup)
	if err := unix.SetNonblock(dup, true); err != nil {
		_ = unix.Close(dup)
		return nil, err
	}
	return os.NewFile(uintptr(dup), f.Name()), nil
}

// handle reads ZPL from one host until the link ends: labels go to the
// receive buffer, ~HS is answered at once on the same link.
func (s *Simulator) handle(c *hostConn) {
	defer s.unregister(c)
	s.log.Info("printer host connected", "peer", c.peer)
	buf := make([]byte, 4096)
	var df dfCounter
	for {
		n, err := c.rw.Read(buf)
		if n > 0 {
			if !s.feed(c, buf[:n], &df) {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				s.log.Info("printer host disconnected", "peer", c.peer)
			} else {
				s.log.Warn("printer host link failed", "peer", c.peer, "err", err)
			}
			return
		}
	}
}

// feed parses b and acts on it; false when the link can no longer answer.
func (s *Simulator) feed(c *hostConn, b []byte, df *dfCounter) bool {
	if s.isOffline() {
		return true // switched off: the bytes fall on the floor
	}
	s.parseMu.Lock()
	labels, cmds, err := s.parser.Feed(b)
	s.parseMu.Unlock()
	if err != nil {
		s.log.Warn("printer dropped malformed ZPL", "peer", c.peer, "err", err)
	}
	if n := df.count(b); n > 0 {
		s.mu.Lock()
		s.stats.FormatDownloads += n
		s.mu.Unlock()
	}
	// Labels first: an ~HS behind a job in the stream counts that job as
	// buffered, as it would be in a printer.
	for _, l := range labels {
		s.enqueue(l)
	}
	for _, cmd := range cmds {
		answer := s.command(cmd)
		if answer == nil {
			continue
		}
		if _, err := c.rw.Write(answer); err != nil {
			s.log.Warn("printer could not answer", "peer", c.peer, "command", cmd.Code, "err", err)
			return false
		}
	}
	return true
}

// dfCounter counts ^DF commands in a stream split anywhere, for Stats.
type dfCounter struct{ last [2]byte }

func (d *dfCounter) count(b []byte) int {
	n := 0
	for _, c := range b {
		if d.last[0] == '^' && upper(d.last[1]) == 'D' && upper(c) == 'F' {
			n++
		}
		d.last[0], d.last[1] = d.last[1], c
	}
	return n
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
