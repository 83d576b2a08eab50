package server

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/netutil"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/shared/httpjson"
)

// Defaults of the HTTP hardening keys.
const (
	DefaultHTTPReadTimeout    = 60 * time.Second
	DefaultHTTPWriteTimeout   = 5 * time.Minute
	DefaultHTTPIdleTimeout    = 2 * time.Minute
	DefaultHTTPMaxConnections = 1024
)

// securityHeaders go on every answer of central: pages, static files, the
// API. Scripts and styles come from central's own files only (no inline
// script or style), nothing may frame central (clickjacking), types are
// not sniffed and other sites learn no URLs from the Referer.
var securityHeaders = [][2]string{
	{"Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "DENY"},
	{"Referrer-Policy", "same-origin"},
}

func (h HTTPConfig) guardDefaults() HTTPConfig {
	if h.ReadTimeout == 0 {
		h.ReadTimeout = DefaultHTTPReadTimeout
	}
	if h.WriteTimeout == 0 {
		h.WriteTimeout = DefaultHTTPWriteTimeout
	}
	if h.IdleTimeout == 0 {
		h.IdleTimeout = DefaultHTTPIdleTimeout
	}
	if h.MaxConnections == 0 {
		h.MaxConnections = DefaultHTTPMaxConnections
	}
	return h
}

func (h HTTPConfig) validateGuard() error {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"http.read_timeout", h.ReadTimeout}, {"http.write_timeout", h.WriteTimeout}, {"http.idle_timeout", h.IdleTimeout}} {
		if d.v < 0 {
			return configErr(d.key, "%v is negative", d.v)
		}
	}
	if h.ReadTimeout > 0 && h.ReadHeaderTimeout > h.ReadTimeout {
		return configErr("http.read_header_timeout", "%v is longer than http.read_timeout (%v), which covers the headers too", h.ReadHeaderTimeout, h.ReadTimeout)
	}
	if h.MaxConnections < 0 || h.MaxConnections > 1_000_000 {
		return configErr("http.max_connections", "%d is outside 1..1000000 (0 means %d)", h.MaxConnections, DefaultHTTPMaxConnections)
	}
	for i, name := range h.Hosts {
		if err := checkHostName(name); err != nil {
			return configErr(fmt.Sprintf("http.hosts[%d]", i), "%v", err)
		}
	}
	return nil
}

// checkHostName accepts a name as a Host header carries it: NAME,
// NAME:PORT, IP, IP:PORT or [IPv6]:PORT, without scheme or path.
func checkHostName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\\@?#* \t") || strings.Contains(name, "://") {
		return fmt.Errorf("%q: want a host name or address, optionally :PORT (no scheme, path or wildcard)", name)
	}
	host, port := splitHost(name)
	if host == "" {
		return fmt.Errorf("%q has no host", name)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port must be 1 to 65535", name)
		}
	}
	return nil
}

// splitHost splits "host[:port]" (IPv6 in brackets) into a lower-case
// host and the port, "" when there is none.
func splitHost(hostport string) (host, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(h), p
	}
	return strings.ToLower(strings.Trim(hostport, "[]")), ""
}

// hostSet is the names central answers to. A name with a port matches
// that port only; without one, any port (a TLS proxy's 443, say).
type hostSet struct {
	exact   map[string]bool // "host:port"
	anyPort map[string]bool // "host"
	list    []string
}

// allowedHosts is the configured http.hosts, or, when there are none, the
// address central listens on with its localhost forms (and for a wildcard
// listen address, the machine's name and addresses).
func allowedHosts(configured []string, addr net.Addr) hostSet {
	hs := hostSet{exact: map[string]bool{}, anyPort: map[string]bool{}}
	add := func(name string) {
		h, p := splitHost(name)
		if p == "" {
			hs.anyPort[h] = true
		} else {
			hs.exact[net.JoinHostPort(h, p)] = true
		}
		hs.list = append(hs.list, name)
	}
	if len(configured) > 0 {
		for _, n := range configured {
			add(n)
		}
		return hs
	}
	host, port, _ := net.SplitHostPort(addr.String())
	names := []string{host, "localhost", "127.0.0.1", "::1"}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil {
			names = append(names, name)
		}
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					names = append(names, n.IP.String())
				}
			}
		}
	}
	for _, n := range names {
		add(net.JoinHostPort(n, port))
	}
	return hs
}

func (hs hostSet) allows(hostport string) bool {
	h, p := splitHost(hostport)
	if p != "" && hs.exact[net.JoinHostPort(h, p)] {
		return true
	}
	return hs.anyPort[h]
}

// guard wraps every answer of central: the security headers, the Host
// check (DNS rebinding: a page of attacker.example whose name now points
// at central must not reach it), the Origin check of state-changing
// requests against central's names (not against the Host the request
// claims), and the write deadline of CSV downloads, extended while they
// progress.
func (s *Server) guard(hosts hostSet, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		for _, kv := range securityHeaders {
			hd.Set(kv[0], kv[1])
		}
		if !hosts.allows(r.Host) {
			s.log.Warn("request refused: host", "host", r.Host, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			httpjson.WriteError(w, http.StatusMisdirectedRequest, httpjson.Error{Code: "wrong_host", Field: "Host",
				Message: fmt.Sprintf("host %q is not a name of this server; use one of %s (http.hosts)", r.Host, strings.Join(hosts.list, ", "))})
			return
		}
		if unsafeMethod(r.Method) {
			if o := r.Header.Get("Origin"); o != "" {
				u, err := url.Parse(o)
				if err != nil || u.Host == "" || !hosts.allows(u.Host) {
					s.log.Warn("request refused: origin", "origin", o, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
					httpjson.WriteError(w, http.StatusForbidden, httpjson.Error{Code: auth.CodeCSRF, Field: "Origin",
						Message: fmt.Sprintf("origin %q is not this server; a state-changing request must come from one of %s (http.hosts)", o, strings.Join(hosts.list, ", "))})
					return
				}
			}
		}
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".csv") {
			w = &progressWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: s.cfg.HTTP.WriteTimeout}
		}
		next.ServeHTTP(w, r)
	})
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// progressWriter is a long download's writer: every write moves the
// write deadline on, so a download of any size completes while a client
// that stops reading is still cut off after the write timeout.
type progressWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (p *progressWriter) Write(b []byte) (int, error) {
	if p.timeout > 0 {
		_ = p.rc.SetWriteDeadline(time.Now().Add(p.timeout))
	}
	return p.ResponseWriter.Write(b)
}

func (p *progressWriter) Flush() { _ = p.rc.Flush() }

// Unwrap gives http.ResponseController the underlying writer.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// limitListener serves at most n connections at once; further ones wait
// in the listen queue until one closes.
func limitListener(ln net.Listener, n int) net.Listener { return netutil.LimitListener(ln, n) }
