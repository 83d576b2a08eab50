package agent

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPServerConfig bounds the agent's HTTP server (/metrics, the state API
// and the touchscreen), so that a slow or idle client cannot hold a
// connection for ever and many cannot starve the screen.
type HTTPServerConfig struct {
	// ReadHeaderTimeout: the request's headers must arrive within it.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout: the whole request, body included (a sign-in is a
	// few bytes).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout: the whole answer. The touchscreen's event stream
	// extends its own deadline before every event.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConnections open at once (each open screen holds one for its
	// event stream); one more is answered 503 and closed.
	MaxConnections int `yaml:"max_connections"`
}

// DefaultHTTPServer is what the http_server keys left out fall back to.
func DefaultHTTPServer() HTTPServerConfig {
	return HTTPServerConfig{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 60 * time.Second, MaxConnections: 64}
}

// Validate names the first bad key.
func (c HTTPServerConfig) Validate() error {
	for _, kv := range []struct {
		key string
		v   time.Duration
	}{{"read_header_timeout", c.ReadHeaderTimeout}, {"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout}, {"idle_timeout", c.IdleTimeout}} {
		if kv.v <= 0 {
			return fmt.Errorf("http_server.%s: must be positive, got %v", kv.key, kv.v)
		}
	}
	if c.ReadHeaderTimeout > c.ReadTimeout {
		return fmt.Errorf("http_server.read_header_timeout: must not exceed read_timeout (%v), got %v", c.ReadTimeout, c.ReadHeaderTimeout)
	}
	if c.MaxConnections < 1 {
		return fmt.Errorf("http_server.max_connections: must be at least 1, got %d", c.MaxConnections)
	}
	return nil
}

// NewHTTPServer is the server for h with c's timeouts, and ln wrapped so
// that at most c.MaxConnections are open at once.
func NewHTTPServer(c HTTPServerConfig, h http.Handler, ln net.Listener, log *slog.Logger) (*http.Server, net.Listener) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return srv, &limitListener{Listener: ln, free: make(chan struct{}, c.MaxConnections), log: log}
}

// limitListener refuses a connection beyond its limit at once (503 and
// close) rather than leaving it in the backlog: the client learns, and
// the screen's EventSource retries.
type limitListener struct {
	net.Listener
	free chan struct{} // one token per open connection
	log  *slog.Logger
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.free <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.free }}, nil
		default:
			l.log.Warn("http: connection refused: too many open", "client", c.RemoteAddr().String(), "max_connections", cap(l.free))
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			const body = "too many connections open (http_server.max_connections)\n"
			_, _ = fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"+
				"Connection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			_ = c.Close()
		}
	}
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
