package plcsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// pollable puts f in non-blocking mode so that Go's poller, not a blocked
// system call, waits for its data: read deadlines then work and a read can
// be stopped. github.com/creack/pty hands out its master in blocking mode
// (its ioctls go through File.Fd), where SetReadDeadline is accepted but
// never fires. SyscallConn's Control does not switch the file back.
func pollable(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { _ = syscall.SetNonblock(int(fd), true) })
}

// deadliner is a link whose reads can be cut short (an *os.File on a pty
// master, a net.Conn).
type deadliner interface {
	SetReadDeadline(time.Time) error
}

// ServeRTU answers Modbus RTU requests on a serial link until ctx ends,
// Close is called, or the link fails. Give it the device side of the link:
// the master of a pseudo-terminal pair (the driver opens the slave), or a
// real port opened with transport.Dial. An *os.File is switched to
// non-blocking mode so that its reads can be cut short. To stop a blocked
// read it sets a read deadline if rw has SetReadDeadline, else closes rw if
// it is an io.Closer. It returns nil when stopped that way.
//
// A pty master reads EIO while no process holds the slave open; ServeRTU
// then waits for a client to open it again.
//
// Requests to other unit ids are ignored; broadcasts (unit 0) are carried
// out without an answer; a frame with a bad CRC is dropped, as on a real
// bus. While FaultDisconnect is on, requests go unanswered.
//
// It is long because the unblock hook and the read loop share stopped: each read error
// (unknown function, bad CRC, bad frame, EIO from a pty without a client) is told from a
// stop by it and recovers its own way.
func (s *Sim) ServeRTU(ctx context.Context, rw io.ReadWriter) error {
	select {
	case <-s.closed:
		return errors.New("plcsim: closed")
	default:
	}
	if f, ok := rw.(*os.File); ok {
		pollable(f)
	}
	stopped := make(chan struct{})
	unblock := func() {
		select {
		case <-stopped:
			return
		default:
			close(stopped)
		}
		if d, ok := rw.(deadliner); ok && d.SetReadDeadline(time.Now()) == nil {
			return
		}
		if c, ok := rw.(io.Closer); ok {
			_ = c.Close()
		}
	}
	s.netMu.Lock()
	s.unblocks[&unblock] = struct{}{}
	s.netMu.Unlock()
	defer func() {
		s.netMu.Lock()
		delete(s.unblocks, &unblock)
		s.netMu.Unlock()
	}()
	s.startRunner()
	stop := context.AfterFunc(ctx, func() {
		s.netMu.Lock()
		defer s.netMu.Unlock()
		unblock()
	})
	defer stop()

	s.log.Info("plc sim serving modbus rtu", "unit", s.cfg.UnitID)
	r := &rtuReader{r: rw}
	for {
		frame, err := r.next()
		if err != nil {
			select {
			case <-stopped:
				return nil
			default:
			}
			var unknown unknownFunction
			if errors.As(err, &unknown) {
				// Answer "illegal function" once the rest of the frame is gone.
				r.resync(rw, stopped)
				if unknown.unit == s.cfg.UnitID && !s.disconnected.Load() {
					if _, err := rw.Write(appendCRC([]byte{unknown.unit, unknown.fc | 0x80, exIllegalFunction})); err != nil {
						return fmt.Errorf("plcsim: rtu write: %w", err)
					}
				}
				continue
			}
			if errors.Is(err, errBadCRC) {
				s.log.Debug("plc sim rtu: dropped frame", "err", err)
				continue // read to its end already: the next byte starts a frame
			}
			if errors.Is(err, errBadFrame) {
				s.log.Debug("plc sim rtu: dropped frame", "err", err)
				r.resync(rw, stopped)
				continue
			}
			if errors.Is(err, syscall.EIO) {
				// A pty master reads EIO while nobody holds the slave open:
				// the bus has no client right now. Wait for one.
				r = &rtuReader{r: rw}
				t := time.NewTimer(10 * time.Millisecond)
				select {
				case <-stopped:
					t.Stop()
					return nil
				case <-t.C:
				}
				continue
			}
			return fmt.Errorf("plcsim: rtu read: %w", err)
		}
		unitID, pdu := frame[0], frame[1:len(frame)-2]
		if (unitID != s.cfg.UnitID && unitID != 0) || s.disconnected.Load() {
			continue // not for us, or the PLC is off the bus
		}
		resp := s.handlePDU(pdu)
		if unitID == 0 {
			continue // broadcasts are never answered
		}
		out := append([]byte{unitID}, resp...)
		out = appendCRC(out)
		if _, err := rw.Write(out); err != nil {
			select {
			case <-stopped:
				return nil
			default:
			}
			return fmt.Errorf("plcsim: rtu write: %w", err)
		}
	}
}

var (
	errBadFrame = errors.New("bad rtu frame")
	errBadCRC   = errors.New("rtu frame with bad crc")
)

// unknownFunction is a request whose function code the simulator does not
// serve; its length is unknown, so the frame cannot be read to its end.
type unknownFunction struct{ unit, fc byte }

func (e unknownFunction) Error() string {
	return fmt.Sprintf("rtu: function code %#02x not served", e.fc)
}

type rtuReader struct {
	r   io.Reader
	buf [256]byte
}

// next reads one request frame. RTU frames have no length field, so the
// length follows from the function code; the rest is framed by CRC.
func (r *rtuReader) next() ([]byte, error) {
	b := r.buf[:]
	if _, err := io.ReadFull(r.r, b[:2]); err != nil {
		return nil, err
	}
	var n int
	switch b[1] {
	case fcReadCoils, fcReadDiscreteInputs, fcReadHoldingRegisters, fcReadInputRegisters,
		fcWriteSingleCoil, fcWriteSingleRegister:
		n = 2 + 4 + 2
	case fcWriteMultipleCoils, fcWriteMultipleRegisters:
		if _, err := io.ReadFull(r.r, b[2:7]); err != nil {
			return nil, err
		}
		n = 7 + int(b[6]) + 2
		if n > len(b) {
			return nil, fmt.Errorf("%w: byte count %d too large", errBadFrame, b[6])
		}
		if _, err := io.ReadFull(r.r, b[7:n]); err != nil {
			return nil, err
		}
		return r.check(b[:n])
	default:
		return nil, unknownFunction{b[0], b[1]}
	}
	if _, err := io.ReadFull(r.r, b[2:n]); err != nil {
		return nil, err
	}
	return r.check(b[:n])
}

func (r *rtuReader) check(frame []byte) ([]byte, error) {
	body := frame[:len(frame)-2]
	want := crc16(body)
	if frame[len(frame)-2] != byte(want) || frame[len(frame)-1] != byte(want>>8) {
		return nil, errBadCRC
	}
	return append([]byte(nil), frame...), nil
}

// resync drops what is left of a bad frame: bytes keep coming until the
// line falls silent (a read deadline expires). Without read deadlines it
// cannot tell, and relies on the CRC to reject frames until it is back in
// step.
func (r *rtuReader) resync(rw io.ReadWriter, stopped <-chan struct{}) {
	d, ok := rw.(deadliner)
	if !ok {
		return
	}
	var sink [64]byte
	for {
		if d.SetReadDeadline(time.Now().Add(5*time.Millisecond)) != nil {
			return
		}
		if _, err := rw.Read(sink[:]); err != nil {
			break
		}
	}
	_ = d.SetReadDeadline(time.Time{})
	select {
	case <-stopped: // stopped meanwhile: put back the deadline that stops ServeRTU
		_ = d.SetReadDeadline(time.Now())
	default:
	}
}

// crc16 is the Modbus CRC (polynomial 0xA001 reflected, initial 0xFFFF).
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// appendCRC appends the CRC, low byte first as RTU sends it.
func appendCRC(b []byte) []byte {
	c := crc16(b)
	return append(b, byte(c), byte(c>>8))
}
