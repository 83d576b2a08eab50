// Package netaddr checks the HOST:PORT addresses of the configuration files:
// one rule for an address to listen on and one for an address to dial, in
// one place, for every program and driver.
package netaddr

import (
	"fmt"
	"net"
	"strconv"
)

// CheckListen checks an address to listen on: HOST:PORT with the host
// named (an interface, e.g. 127.0.0.1 or 0.0.0.0) and a port from 0 to
// 65535 (0 picks a free one).
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT", addr)
	}
	if host == "" {
		return fmt.Errorf("%q has no host; name the interface, e.g. 127.0.0.1:%s or 0.0.0.0:%s", addr, port, port)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// CheckDial checks an address to dial (a printer, a PLC, a broker):
// HOST:PORT with the server's host and a port from 1 to 65535.
func CheckDial(addr string) error {
	if addr == "" {
		return fmt.Errorf("missing (want HOST:PORT)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT", addr)
	}
	if host == "" {
		return fmt.Errorf("%q has no host; name the server, e.g. 10.0.0.21:%s", addr, port)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535", addr, port)
	}
	return nil
}
