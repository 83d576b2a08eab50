// Package server puts central together: the store, the MQTT broker
// (embedded unless an external one is configured), the ingest, and the
// HTTP server with the API (/api/v1/), the web UI (/), /metrics and
// /healthz. Main is the serialine-central command line.
package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/broker"
	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/epcisapi"
	"github.com/serialine/serialine/central/fmd"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/lmvs"
	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/web"
	"github.com/serialine/serialine/shared/metrics"
)

// Environment variables read at start.
const (
	// EnvAdminToken, when set, is the bootstrap admin token (stored as its
	// hash if no token with that hash exists yet).
	EnvAdminToken = "SERIALINE_ADMIN_TOKEN"
	// EnvMQTTPassword overrides mqtt.service_password.
	EnvMQTTPassword = "SERIALINE_MQTT_PASSWORD"
)

// ErrStarted is returned by a second Start.
var ErrStarted = errors.New("server already started")

// Server is a running central. New checks the configuration, Start
// starts everything, Shutdown stops it in reverse order.
type Server struct {
	cfg    Config
	log    *slog.Logger
	out    io.Writer
	getenv func(string) string
	reg    *metrics.Registry

	mu      sync.Mutex
	started bool
	st      *store.Store
	br      *broker.Broker
	in      *ingest.Ingest
	httpSrv *http.Server
	httpLn  net.Listener
	sender  *outbound.Sender
	stopOut context.CancelFunc
	outDone chan struct{}
	epcis   *epcisapi.Handler
	served  chan error
	mqttURL string
}

// Option adjusts New.
type Option func(*Server)

// WithOutput is where the bootstrap admin token is printed (default
// os.Stdout).
func WithOutput(w io.Writer) Option { return func(s *Server) { s.out = w } }

// WithEnv replaces os.Getenv for the variables central reads.
func WithEnv(getenv func(string) string) Option { return func(s *Server) { s.getenv = getenv } }

// New checks cfg (defaults applied) and returns a server that has not
// started anything.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("server: a logger is required")
	}
	s := &Server{cfg: cfg, log: log, out: os.Stdout, getenv: os.Getenv, reg: metrics.NewRegistry()}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Start opens the database (migrating it), makes sure there is an admin
// token, starts the embedded broker (if configured), connects the ingest
// and starts serving HTTP. On error, whatever started is stopped again.
func (s *Server) Start(ctx context.Context) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrStarted
	}
	s.started = true
	defer func() {
		if err != nil {
			s.stop(context.WithoutCancel(ctx))
		}
	}()
	if err := s.openStore(ctx); err != nil {
		return err
	}
	if err := s.bootstrapAdmin(ctx); err != nil {
		return err
	}
	if err := s.startMQTT(ctx); err != nil {
		return err
	}
	if err := s.startOutbound(ctx); err != nil {
		return err
	}
	return s.startHTTP()
}

// startOutbound starts the sender of the outbound queue. Every replica
// runs one; each message is claimed by one sender at a time.
func (s *Server) startOutbound(ctx context.Context) error {
	policy, cfg, err := s.cfg.senderConfig()
	if err != nil {
		return err
	}
	sender, err := outbound.New(s.st, map[string]outbound.Builder{master.EndpointDSCSA: dscsa.Builder{Store: s.st},
		master.EndpointFMD: fmd.Builder{Store: s.st}}, policy, cfg, s.log)
	if err != nil {
		return err
	}
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.sender, s.stopOut, s.outDone = sender, cancel, make(chan struct{})
	go func() {
		defer close(s.outDone)
		sender.Run(run)
	}()
	return nil
}

func (s *Server) openStore(ctx context.Context) error {
	dsn := s.cfg.Database.URL
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return fmt.Errorf("database.url: %w", err)
		}
		if err := secureSQLiteFiles(path, s.log); err != nil {
			return err
		}
	}
	keys, err := s.secretKeys()
	if err != nil {
		return err
	}
	opts := []store.Option{store.WithDB(sqldb.WithPostgresConns(s.cfg.Database.PostgresConns)), store.WithFutureSkew(s.cfg.Ingest.FutureSkew),
		store.WithFMDReversalWindow(s.cfg.FMD.ReversalWindow)}
	if keys != nil {
		opts = append(opts, store.WithDB(sqldb.WithSecretKeys(keys)))
	}
	st, err := store.Open(ctx, dsn, s.log, opts...)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	s.st = st
	s.log.Info("database open", "dialect", st.Dialect(), "url", redact(dsn))
	return nil
}

// startMQTT starts the embedded broker if configured and connects the
// ingest to whichever broker it is.
func (s *Server) startMQTT(ctx context.Context) error {
	m := s.cfg.MQTT
	password := m.ServicePassword
	if pw := s.getenv(EnvMQTTPassword); pw != "" {
		password = pw
	}
	addr, fallback, err := m.parseBroker()
	if err != nil {
		return err // Validate has checked it
	}
	brokerURL := m.Broker
	if addr != "" {
		if password == "" {
			// Only central itself logs in as the service user.
			var b [24]byte
			_, _ = rand.Read(b[:])
			password = hex.EncodeToString(b[:])
		}
		if err := s.startBroker(ctx, addr, fallback, password); err != nil {
			return err
		}
		brokerURL = "tcp://" + s.br.Addr()
	}
	s.mqttURL = brokerURL
	ic := s.cfg.ingestConfig(brokerURL, password)
	if ic.TLS, err = s.cfg.mqttClientTLS(); err != nil {
		return err
	}
	in, err := ingest.New(ic, s.st, s.reg, s.log)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if err := in.Start(ctx); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	s.in = in
	if s.br != nil {
		// In-process broker: there is no reason to wait long.
		wait, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := in.WaitReady(wait); err != nil {
			return err
		}
	} else {
		// An external broker may be down now; ingest reconnects with
		// backoff and the API serves meanwhile.
		s.log.Info("connecting to the external mqtt broker in the background", "broker", brokerURL)
	}
	return nil
}

// startBroker starts the embedded broker on addr, or with fallback on the
// next free port after it.
func (s *Server) startBroker(ctx context.Context, addr string, fallback bool, password string) error {
	host, portS, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portS)
	tries := 1
	if fallback {
		tries = embeddedPortTries
	}
	creds := auth.NewLineCredentials(s.st)
	var lastErr, err error
	for i := range tries {
		listen := net.JoinHostPort(host, strconv.Itoa(port+i))
		bcfg := s.cfg.MQTT.embeddedConfig(listen, password)
		if bcfg.TLS, err = s.cfg.brokerTLS(); err != nil {
			return err
		}
		if bcfg.TLS != nil {
			bcfg.TLSListen = s.cfg.MQTT.TLSListen
		}
		br, err := broker.New(bcfg, creds, s.log, broker.WithDropKeeper(ingest.DropKeeper(s.st)))
		if err != nil {
			return fmt.Errorf("mqtt: %w", err)
		}
		// The broker outlives ctx: Shutdown closes it after the ingest has
		// published its last acks.
		err = br.Start(context.WithoutCancel(ctx))
		if err == nil {
			if i > 0 {
				s.log.Warn("mqtt port taken; the embedded broker listens on the next free port",
					"wanted", addr, "listen", br.Addr())
			}
			s.br = br
			s.reg.Include(br.Metrics())
			return nil
		}
		_ = br.Close()
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	if fallback {
		return fmt.Errorf("mqtt: embedded broker: no free port from %s up (%d tried): %w", addr, tries, lastErr)
	}
	return fmt.Errorf("mqtt.broker: embedded broker on %s: %w", addr, lastErr)
}

// handler builds central's HTTP routes: the LMVS paths (/01/, /gtin/,
// /checkConnectivity) go to the responder before the mux, never to the web
// UI's sign-in; then the API, EPCIS, metrics, health and the web UI.
func (s *Server) handler() (http.Handler, error) {
	sessions, err := auth.NewSessions(s.st, auth.SessionConfig{
		MaxAge:   s.cfg.Web.SessionMaxAge,
		Idle:     s.cfg.Web.SessionIdle,
		Insecure: !s.secureCookie(),
	}, s.log)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	ui, err := web.New(web.Deps{
		Store: s.st, Sessions: sessions, Lines: s.in, Gaps: s.in, Orders: s.in,
		StaleAfter: s.cfg.Web.StaleAfter, Refresh: s.cfg.Web.Refresh,
	}, s.log)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	responder, err := lmvs.NewResponder(s.st, lmvs.Config{ResponderGLN: s.cfg.Verification.ResponderGLN}, s.log)
	if err != nil {
		return nil, fmt.Errorf("verification: %w", err)
	}
	deps := api.Deps{Store: s.st, Orders: s.in, Statuses: s.in, Outbound: s.sender, OutboundPolicy: s.sender.Policy()}
	if r, err := s.cfg.requester(s.st, s.sender.Policy(), s.log); err != nil {
		return nil, err
	} else if r != nil {
		deps.Verifier = r
	}
	apiHandler, err := api.New(deps, s.log)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(api.Prefix, apiHandler)
	// Subscription deliveries go where partner documents go: through the outbound policy.
	if s.epcis, err = epcisapi.New(epcisapi.Deps{Events: s.st.Repository, Tokens: s.st, Outbound: s.sender.Policy()}, s.log.With("part", "epcis")); err != nil {
		return nil, err
	}
	mux.Handle(epcisapi.Prefix, s.epcis)
	mux.Handle("GET /metrics", s.reg.Handler())
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("/", ui)
	return lmvs.Route(responder, mux), nil
}

func (s *Server) startHTTP() error {
	h, err := s.handler()
	if err != nil {
		return err
	}
	// EPCIS: close the capture jobs the last stop left running, start the
	// subscription deliveries.
	startCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = s.epcis.Start(startCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("epcis: %w", err)
	}
	tlsCfg, err := s.cfg.httpTLS()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	hosts := allowedHosts(s.cfg.HTTP.Hosts, ln.Addr())
	ln = limitListener(ln, s.cfg.HTTP.MaxConnections)
	s.httpLn = ln
	s.httpSrv = &http.Server{
		Handler:           s.countRequests(s.guard(hosts, h)),
		ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.HTTP.ReadTimeout,
		WriteTimeout:      s.cfg.HTTP.WriteTimeout,
		IdleTimeout:       s.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.served = make(chan error, 1)
	// The goroutine keeps its own reference: Shutdown clears s.httpSrv.
	hs, served, scheme := s.httpSrv, s.served, "http://"
	if tlsCfg != nil {
		// Plain HTTP to this port gets Go's 400 "client sent an HTTP
		// request to an HTTPS server", and nothing else.
		hs.TLSConfig, scheme = tlsCfg, "https://"
		go func() { served <- hs.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- hs.Serve(ln) }()
	}
	attrs := []any{"http", scheme + ln.Addr().String(), "mqtt", s.mqttURL, "embedded_broker", s.br != nil}
	if s.br != nil && s.br.TLSAddr() != "" {
		attrs = append(attrs, "mqtt_tls", "ssl://"+s.br.TLSAddr())
	}
	s.log.Info("central serving", attrs...)
	return nil
}

// secureCookie decides the session cookie's Secure attribute.
func (s *Server) secureCookie() bool {
	switch s.cfg.Web.SecureCookie {
	case "true":
		return true
	case "false":
		return false
	}
	if s.cfg.HTTP.TLSCert != "" {
		return true
	}
	host, _, _ := net.SplitHostPort(s.cfg.HTTP.Listen)
	ip := net.ParseIP(host)
	return !(host == "localhost" || ip != nil && ip.IsLoopback())
}

// healthz answers 200 when the database answers and the broker connection
// is up, 503 otherwise, with the reason.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, err := s.st.SchemaVersion(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "database: %v\n", err)
		return
	}
	if !s.in.Connected() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "mqtt: not connected to %s\n", s.mqttURL)
		return
	}
	fmt.Fprintln(w, "ok")
}

// countRequests counts HTTP requests by method and status class.
func (s *Server) countRequests(next http.Handler) http.Handler {
	c := s.reg.Counter("serialine_http_requests_total", "HTTP requests served, by method and status class.", "method", "code")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			method = "other" // keep the label set small whatever clients send
		}
		c.Inc(method, strconv.Itoa(sw.status/100)+"xx")
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Hijack lets the EPCIS WebSocket subscriptions take the connection.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.status, w.wrote = http.StatusSwitchingProtocols, true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Flush lets streaming handlers (the lines page's live refresh) flush.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// HTTPAddr is the address the HTTP server listens on ("" before Start).
func (s *Server) HTTPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// MQTTURL is the broker central is connected to, tcp://HOST:PORT.
func (s *Server) MQTTURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mqttURL
}

// Store is the database (nil before Start).
func (s *Server) Store() *store.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Ingest is the MQTT side (nil before Start).
func (s *Server) Ingest() *ingest.Ingest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in
}

// Metrics is the registry behind /metrics.
func (s *Server) Metrics() *metrics.Registry { return s.reg }

// Wait returns when the HTTP server stops serving on its own (an error),
// or ctx ends.
func (s *Server) Wait(ctx context.Context) error {
	s.mu.Lock()
	served := s.served
	s.mu.Unlock()
	if served == nil {
		return errors.New("server: not started")
	}
	select {
	case err := <-served:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// Shutdown stops taking requests and lets those running finish, then
// stops the ingest (what is queued is applied, or else left unacked for
// the edges to resend), the broker and the database, within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stop(ctx)
}

func (s *Server) stop(ctx context.Context) error {
	var errs []error
	if s.httpSrv != nil {
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
			_ = s.httpSrv.Close()
		}
		s.httpSrv = nil
	} else if s.httpLn != nil {
		_ = s.httpLn.Close()
	}
	s.httpLn = nil
	if s.stopOut != nil {
		// An attempt in flight is cut off; its lease runs out and it is
		// tried again (here after a restart, or by another replica).
		s.stopOut()
		select {
		case <-s.outDone:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("outbound sender: %w", ctx.Err()))
		}
		s.stopOut = nil
	}
	if s.epcis != nil {
		if err := s.epcis.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		s.epcis = nil
	}
	if s.in != nil {
		if err := s.in.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		s.in = nil
	}
	if s.br != nil {
		if err := s.br.Close(); err != nil {
			errs = append(errs, err)
		}
		s.br = nil
	}
	if s.st != nil {
		s.st.Close()
		s.st = nil
		s.log.Info("central stopped")
	}
	return errors.Join(errs...)
}
