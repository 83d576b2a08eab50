package outbound

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrDestination is wrapped when central refuses to connect to an
// address: one of its own or its network's, not a partner's.
var ErrDestination = errors.New("destination not allowed")

// denied are the networks a partner endpoint may not resolve to unless
// the configuration allows them: this host, private networks, link-local
// (cloud metadata services live there), carrier-grade NAT, multicast and
// the reserved ranges. Each with the reason given in the refusal.
var denied = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (carrier-grade NAT)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "private (unique local, cloud metadata)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64 (may embed a private IPv4 address)"},
	{netip.MustParsePrefix("2002::/16"), "6to4 (may embed a private IPv4 address)"},
}

// Policy decides which addresses central may connect to for a partner:
// every public address, and the networks an operator allows (a partner
// reached over a private link, a test's loopback server).
type Policy struct {
	allow []netip.Prefix
}

// NewPolicy returns the policy allowing the given networks (CIDR, e.g.
// "10.20.0.0/16" or "127.0.0.0/8") besides the public Internet; each
// error names the entry.
func NewPolicy(allow []string) (Policy, error) {
	var p Policy
	for i, s := range allow {
		pr, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return Policy{}, fmt.Errorf("allowed network %d (%q): %w", i+1, s, err)
		}
		if pr.Bits() == 0 {
			return Policy{}, fmt.Errorf("allowed network %d (%q): allowing every address defeats the check; list the networks", i+1, s)
		}
		p.allow = append(p.allow, pr.Masked())
	}
	return p, nil
}

// Allowed returns nil for an address central may connect to, else an
// error wrapping ErrDestination that says why.
func (p Policy) Allowed(a netip.Addr) error {
	a = a.Unmap()
	for _, pr := range p.allow {
		if pr.Contains(a) {
			return nil
		}
	}
	for _, d := range denied {
		if d.prefix.Contains(a) {
			return fmt.Errorf("%w: %s is %s (allow its network in central's outbound.allow_networks if a partner really is there)", ErrDestination, a, d.why)
		}
	}
	if !a.IsGlobalUnicast() {
		return fmt.Errorf("%w: %s is not a global unicast address", ErrDestination, a)
	}
	return nil
}

// control checks the address a dialer is about to connect to: the one
// the name resolved to for this very connection, so a name that resolves
// to a public address when checked and to a private one when used (DNS
// rebinding) is caught, as is every address of a name tried in turn.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read the address %q: %v", ErrDestination, address, err)
	}
	return p.Allowed(ap.Addr())
}

// CheckURL refuses, before anything is dialled, an endpoint URL whose
// host is an IP address central may not connect to; a name is checked
// when it is dialled (it may resolve differently then).
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		return p.Allowed(a)
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil {
		a, _ := netip.AddrFromSlice(ip)
		return p.Allowed(a)
	}
	return nil
}
