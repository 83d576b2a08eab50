package ui

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/serialine/serialine/shared/httpjson"
)

// DNS rebinding: a page on attacker.example whose name is made to resolve
// to 127.0.0.1 talks to the screen as its own origin (Host and Origin both
// attacker.example), so comparing Origin with Host proves nothing. The
// screen answers only to the names it is opened with (ui.hosts), and an
// action's Origin must be one of those names too.

// hostName is one name the screen answers to; port "" is the port the
// request came in on.
type hostName struct{ host, port string }

// parseHosts checks the configured names: a host name or IP address,
// optionally with :port.
func parseHosts(list []string) ([]hostName, error) {
	out := make([]hostName, 0, len(list))
	for i, s := range list {
		h, err := parseHost(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("ui: hosts[%d]: %q: %w", i, s, err)
		}
		out = append(out, h)
	}
	return out, nil
}

func parseHost(s string) (hostName, error) {
	if s == "" {
		return hostName{}, fmt.Errorf("empty; want a name the screen is opened with, e.g. line1-hmi or 10.1.2.3:8081")
	}
	if strings.ContainsAny(s, "/@?#") {
		return hostName{}, fmt.Errorf("want HOST or HOST:PORT, no scheme or path")
	}
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return hostName{}, fmt.Errorf("port %q: must be 1-65535", p)
		}
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if net.ParseIP(host) == nil {
		for _, c := range host {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				return hostName{}, fmt.Errorf("host %q: letters, digits, '-' and '.' only (or an IP address)", host)
			}
		}
	}
	return hostName{host: strings.ToLower(host), port: port}, nil
}

// localPort is the port r came in on ("" if unknown).
func localPort(r *http.Request) string {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return ""
	}
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return ""
	}
	return p
}

// allowedHost reports whether hostport (a Host header, or an Origin's
// host with defPort when it has none) is a name the screen answers to.
func (u *UI) allowedHost(r *http.Request, hostport, defPort string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), defPort
	}
	host = strings.ToLower(host)
	local := localPort(r)
	if len(u.hosts) == 0 {
		if port != local || local == "" {
			return false
		}
		switch host { // the loopback names
		case "localhost", "127.0.0.1", "::1":
			return true
		}
		// The address the request came to (the listen address, or the
		// interface of a listener on 0.0.0.0): an IP literal cannot be
		// rebound to another site.
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if h, _, err := net.SplitHostPort(a.String()); err == nil && strings.EqualFold(h, host) {
				return true
			}
		}
		return false
	}
	for _, n := range u.hosts {
		want := n.port
		if want == "" {
			want = local
		}
		if host == n.host && port == want && want != "" {
			return true
		}
	}
	return false
}

// checkHost answers 421 to a request whose Host is not one of the
// screen's names, and 403 to an action (any method but GET and HEAD)
// whose Origin is not; it reports whether the request may go on.
func (u *UI) checkHost(w http.ResponseWriter, r *http.Request) bool {
	defPort := "80"
	if r.TLS != nil {
		defPort = "443"
	}
	if !u.allowedHost(r, r.Host, defPort) {
		u.log.Warn("request for another host refused", "host", r.Host, "client", r.RemoteAddr, "path", r.URL.Path)
		httpjson.Write(w, http.StatusMisdirectedRequest, errBody{Field: "host",
			Error: fmt.Sprintf("host %q: not a name of this touchscreen; open it by one of its names, or add this one to ui.hosts in the edge configuration", r.Host)})
		return false
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	o := r.Header.Get("Origin")
	if o == "" { // not a browser's cross-site request (curl, the tests)
		return true
	}
	ou, err := url.Parse(o)
	ok := err == nil && (ou.Scheme == "http" || ou.Scheme == "https") && ou.Host != "" && ou.Path == "" && ou.User == nil
	if ok {
		def := "80"
		if ou.Scheme == "https" {
			def = "443"
		}
		ok = u.allowedHost(r, ou.Host, def)
	}
	if !ok {
		u.log.Warn("cross-site action refused", "origin", o, "client", r.RemoteAddr, "path", r.URL.Path)
		httpjson.Write(w, http.StatusForbidden, errBody{Error: fmt.Sprintf("origin %q: cross-site request refused; actions come from the screen's own page", o)})
		return false
	}
	return true
}
