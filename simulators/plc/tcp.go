package plcsim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// Start listens on addr (e.g. "127.0.0.1:0", or ":502" on a line PC) and
// serves Modbus TCP in the background until Close.
func (s *Sim) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("plcsim: listen %s: %w", addr, err)
	}
	if err := s.addListener(ln); err != nil {
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.serve(context.Background(), ln); err != nil {
			s.log.Error("plc sim server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// Addr returns the address of the last listener started or served
// ("127.0.0.1:40123"), or "" before any.
func (s *Sim) Addr() string {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	return s.addr
}

// Serve serves Modbus TCP on ln until ctx ends or Close; it closes ln. It
// returns nil then, or the error that stopped the listener.
func (s *Sim) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.addListener(ln); err != nil {
		return err
	}
	return s.serve(ctx, ln)
}

func (s *Sim) addListener(ln net.Listener) error {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	select {
	case <-s.closed:
		_ = ln.Close()
		return errors.New("plcsim: closed")
	default:
	}
	s.listeners[ln] = struct{}{}
	s.addr = ln.Addr().String()
	s.startRunner()
	return nil
}

func (s *Sim) serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer func() {
		s.netMu.Lock()
		delete(s.listeners, ln)
		s.netMu.Unlock()
		_ = ln.Close()
	}()
	s.log.Info("plc sim serving modbus tcp", "addr", ln.Addr().String(), "unit", s.cfg.UnitID)
	for {
		conn, err := ln.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return nil
			default:
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("plcsim: accept on %s: %w", ln.Addr(), err)
		}
		if !s.track(conn) {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(conn)
			s.serveConn(conn)
		}()
	}
}

// track registers an accepted connection, or closes it at once while the
// disconnect fault is on or the simulator is closing.
func (s *Sim) track(c net.Conn) bool {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	select {
	case <-s.closed:
		_ = c.Close()
		return false
	default:
	}
	if s.disconnected.Load() {
		_ = c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Sim) untrack(c net.Conn) {
	s.netMu.Lock()
	delete(s.conns, c)
	s.netMu.Unlock()
	_ = c.Close()
}

// setDisconnected switches the disconnect fault: on drops every client.
func (s *Sim) setDisconnected(on bool) {
	s.disconnected.Store(on)
	if !on {
		return
	}
	s.netMu.Lock()
	defer s.netMu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}

// serveConn answers MBAP-framed requests on one connection, in order.
func (s *Sim) serveConn(c net.Conn) {
	hdr := make([]byte, 7)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		txn, proto, length, unitID := hdr[0:2], binary.BigEndian.Uint16(hdr[2:4]), binary.BigEndian.Uint16(hdr[4:6]), hdr[6]
		if length < 2 || length > 254 {
			s.log.Warn("plc sim: bad MBAP length; dropping client", "length", length, "client", c.RemoteAddr().String())
			return
		}
		pdu := make([]byte, length-1)
		if _, err := io.ReadFull(c, pdu); err != nil {
			return
		}
		if proto != 0 {
			continue // not Modbus: ignore, as the spec says
		}
		if s.disconnected.Load() {
			return // the fault came on while this request was in flight
		}
		var resp []byte
		if unitID == s.cfg.UnitID || unitID == 0 || unitID == 0xFF {
			resp = s.handlePDU(pdu)
		} else {
			resp = exception(pdu[0], exGatewayNoResponse)
		}
		out := make([]byte, 0, 7+len(resp))
		out = append(out, txn...)
		out = binary.BigEndian.AppendUint16(out, 0)
		out = binary.BigEndian.AppendUint16(out, uint16(len(resp)+1))
		out = append(out, unitID)
		out = append(out, resp...)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
