package yamlconfig

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// CheckHostPort checks a listen or dial address: HOST:PORT with a host
// named (an interface, e.g. 127.0.0.1 or 0.0.0.0) and a port from 0 to
// 65535 (0 picks a free one when listening).
func CheckHostPort(addr string) error {
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

// CheckDialAddr is CheckHostPort for an address to dial (a printer's or a
// PLC's): port 0 names no server there.
func CheckDialAddr(addr string) error {
	if err := CheckHostPort(addr); err != nil {
		return err
	}
	if _, port, _ := net.SplitHostPort(addr); strings.Trim(port, "0") == "" {
		return fmt.Errorf("%q: port %q: a dial needs the server's port, 1 to 65535", addr, port)
	}
	return nil
}
