package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serialine/serialine/drivers/transport"
)

// DialFunc opens the byte link to a reader. Run calls it for every
// (re)connection; ctx ends the attempt.
type DialFunc func(ctx context.Context) (io.ReadWriteCloser, error)

// Config configures one reader.
type Config struct {
	// Name identifies the reader in logs and errors, e.g. "verifier-1".
	Name string `yaml:"name"`
	// Transport is a transport spec: "tcp:HOST:PORT" or
	// "serial:/dev/ttyX?baud=115200". Ignored when Dial is set.
	Transport string `yaml:"transport"`
	// Format is the result-line syntax the reader is set up to send.
	Format Format `yaml:"format"`
	// ReconnectMin and ReconnectMax bound the backoff between connection
	// attempts (defaults 100 ms and 10 s).
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// IdleTimeout, when set, treats a link that carries no byte for that
	// long as lost and reconnects. It catches half-open TCP links (a reader
	// powered off without closing); set it well above the longest line stop,
	// or leave it 0 (off) and rely on TCP keep-alive.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Dial, when set, opens the link instead of Transport (the line
	// simulator wires readers in-process this way).
	Dial DialFunc `yaml:"-"`
}

// Stats is a snapshot of a reader's counters.
type Stats struct {
	// Connected is true while the link is up.
	Connected bool
	// Lines counts terminated lines received, malformed ones included.
	Lines uint64
	// Results counts decoded results, no-reads included.
	Results uint64
	// NoReads counts results with NoRead set.
	NoReads uint64
	// Malformed counts lines that could not be decoded: bad syntax, binary
	// noise, lines over max_line, and partial lines cut off by a lost link.
	Malformed uint64
	// LastMalformed is the last malformed line (quoted, cut to 120 bytes) and
	// LastMalformedReason why it was rejected.
	LastMalformed       string
	LastMalformedReason string
	// Connects counts links established; Reconnects those after the first.
	Connects   uint64
	Reconnects uint64
	// DialFailures counts failed connection attempts.
	DialFailures uint64
	// LastLinkError is the last dial or read error, "" if none yet.
	LastLinkError string
}

// Scanner reads results from one reader. Create it with New and start it
// with Run.
type Scanner struct {
	name    string
	format  Format
	backoff transport.Backoff
	dial    DialFunc
	target  string // for logs: the transport spec or "custom dial"
	idle    time.Duration
	log     *slog.Logger
	running atomic.Bool

	mu    sync.Mutex
	stats Stats
}

// Validate checks cfg and names the first key that breaks a rule.
func (cfg Config) Validate() error {
	_, err := cfg.validate()
	return err
}

// validate also returns the parsed link (nil with a custom Dial) so New
// does not parse it twice.
func (cfg Config) validate() (*transport.Config, error) {
	if cfg.Name == "" {
		return nil, errors.New("scanner: name: missing")
	}
	if err := cfg.Format.Validate(); err != nil {
		return nil, fmt.Errorf("scanner %q: %w", cfg.Name, err)
	}
	if cfg.ReconnectMin < 0 || cfg.ReconnectMax < 0 {
		return nil, fmt.Errorf("scanner %q: reconnect_min %v, reconnect_max %v: must not be negative", cfg.Name, cfg.ReconnectMin, cfg.ReconnectMax)
	}
	if cfg.IdleTimeout < 0 {
		return nil, fmt.Errorf("scanner %q: idle_timeout %v: must not be negative", cfg.Name, cfg.IdleTimeout)
	}
	if cfg.ReconnectMin > 0 && cfg.ReconnectMax > 0 && cfg.ReconnectMax < cfg.ReconnectMin {
		return nil, fmt.Errorf("scanner %q: reconnect_max %v is below reconnect_min %v", cfg.Name, cfg.ReconnectMax, cfg.ReconnectMin)
	}
	if cfg.Dial != nil {
		return nil, nil
	}
	if cfg.Transport == "" {
		return nil, fmt.Errorf("scanner %q: transport: missing (want \"tcp:HOST:PORT\" or \"serial:/dev/ttyX?baud=N\")", cfg.Name)
	}
	tc, err := transport.ParseSpec(cfg.Transport)
	if err != nil {
		return nil, fmt.Errorf("scanner %q: %w", cfg.Name, err)
	}
	return &tc, nil
}

// New validates cfg and returns a reader that is not yet connected; Run
// connects.
func New(cfg Config, log *slog.Logger) (*Scanner, error) {
	tc, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if log == nil {
		return nil, fmt.Errorf("scanner %q: logger: missing", cfg.Name)
	}
	s := &Scanner{
		name:    cfg.Name,
		format:  cfg.Format,
		backoff: transport.Backoff{Min: cfg.ReconnectMin, Max: cfg.ReconnectMax},
		dial:    cfg.Dial,
		target:  "custom dial",
		idle:    cfg.IdleTimeout,
	}
	if tc != nil {
		s.dial = func(ctx context.Context) (io.ReadWriteCloser, error) { return transport.Dial(ctx, *tc) }
		s.target = tc.String()
	}
	s.log = log.With("scanner", cfg.Name, "link", s.target)
	return s, nil
}

// Name returns the configured name.
func (s *Scanner) Name() string { return s.name }

// Stats returns a snapshot of the counters.
func (s *Scanner) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run connects, reads result lines and sends each decoded Result to out until
// ctx ends; then it closes the link and returns nil. A lost or failed link is
// logged, shown in Stats and retried with backoff. Malformed lines are
// counted and skipped. Run blocks while out is full (give it a buffer); it
// returns an error only if it cannot start.
func (s *Scanner) Run(ctx context.Context, out chan<- Result) error {
	if out == nil {
		return fmt.Errorf("scanner %q: Run needs an output channel", s.name)
	}
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("scanner %q: already running", s.name)
	}
	defer s.running.Store(false)

	fr := newFramer(s.format.TerminatorBytes(), s.format.MaxLineBytes())
	attempt := 0  // backoff step
	failures := 0 // dial failures since the last connection
	for ctx.Err() == nil {
		conn, err := s.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.dialFailed(err, failures)
			failures++
			if s.backoff.Wait(ctx, attempt) != nil {
				break
			}
			attempt++
			continue
		}
		failures = 0
		s.linkUp()
		up := time.Now()
		gotData, err := s.read(ctx, conn, fr, out)
		fr.reset()
		if ctx.Err() != nil {
			s.linkDown(nil)
			break
		}
		s.linkDown(err)
		// A link that carried data, or stayed up a while, was healthy: start
		// the backoff afresh. One that drops at once (a device refusing
		// service) keeps backing off.
		if gotData || time.Since(up) > s.backoff.Delay(attempt) {
			attempt = 0
		}
		if s.backoff.Wait(ctx, attempt) != nil {
			break
		}
		attempt++
	}
	return nil
}

// read consumes one connection until it fails or ctx ends.
func (s *Scanner) read(ctx context.Context, conn io.ReadWriteCloser, fr *framer, out chan<- Result) (gotData bool, err error) {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() {
		stop()
		_ = conn.Close()
	}()
	deadline, err := s.idleDeadline(conn)
	if err != nil {
		return false, err
	}
	buf := make([]byte, 4096)
	warned := false
	var results []Result
	empty := 0 // successive reads with neither data nor error
	for {
		if err := deadline(); err != nil {
			return gotData, err
		}
		n, rerr := conn.Read(buf)
		if n > 0 {
			gotData = true
			at := time.Now()
			results = results[:0]
			fr.push(buf[:n], func(line []byte) {
				r, derr := s.format.Decode(line, at)
				if derr != nil {
					s.malformed(line, derr.Error(), &warned)
					return
				}
				s.counted(r)
				results = append(results, r)
			}, func(head []byte) {
				s.malformed(head, fmt.Sprintf("line longer than max_line %d bytes without terminator %q", s.format.MaxLineBytes(), s.format.terminator()), &warned)
			})
			for _, r := range results {
				select {
				case out <- r:
				case <-ctx.Done():
					return gotData, ctx.Err()
				}
			}
		}
		if rerr != nil {
			if p := fr.pending(); len(p) > 0 && ctx.Err() == nil {
				s.malformed(p, "link lost in the middle of a line", &warned)
			}
			switch {
			case rerr == io.EOF:
				rerr = errors.New("closed by the reader")
			case s.idle > 0 && errors.Is(rerr, os.ErrDeadlineExceeded):
				rerr = fmt.Errorf("no data for idle_timeout %v: %w", s.idle, rerr)
			}
			return gotData, rerr
		}
		if n == 0 {
			// A Read that returns neither data nor error must not spin.
			if empty++; empty >= 100 {
				return gotData, io.ErrNoProgress
			}
		} else {
			empty = 0
		}
	}
}

// idleDeadline arms the idle timeout on conn, if one is configured, and
// returns what to call before each Read: a transport link takes one
// SetReadTimeout, a net.Conn a fresh deadline per Read.
func (s *Scanner) idleDeadline(conn io.ReadWriteCloser) (func() error, error) {
	none := func() error { return nil }
	if s.idle <= 0 {
		return none, nil
	}
	switch c := conn.(type) {
	case interface{ SetReadTimeout(time.Duration) error }:
		if err := c.SetReadTimeout(s.idle); err != nil {
			return nil, fmt.Errorf("idle_timeout: %w", err)
		}
		return none, nil
	case interface{ SetReadDeadline(time.Time) error }:
		return func() error { return c.SetReadDeadline(time.Now().Add(s.idle)) }, nil
	default:
		s.log.Warn("scanner idle_timeout not supported by this link; ignored")
		return none, nil
	}
}

func (s *Scanner) counted(r Result) {
	s.mu.Lock()
	s.stats.Lines++
	s.stats.Results++
	if r.NoRead {
		s.stats.NoReads++
	}
	s.mu.Unlock()
}

// malformed counts a rejected line. The first one per connection is logged
// as a warning, the rest at debug level, so that a noisy line cannot flood
// the log; Stats keeps the count and the last one.
func (s *Scanner) malformed(line []byte, reason string, warned *bool) {
	shown := line
	if len(shown) > 120 {
		shown = shown[:120]
	}
	q := strconv.Quote(string(shown))
	s.mu.Lock()
	s.stats.Lines++
	s.stats.Malformed++
	s.stats.LastMalformed = q
	s.stats.LastMalformedReason = reason
	count := s.stats.Malformed
	s.mu.Unlock()
	level := slog.LevelDebug
	if !*warned {
		level = slog.LevelWarn
		*warned = true
	}
	s.log.Log(context.Background(), level, "scanner malformed line", "line", q, "reason", reason, "malformed_total", count)
}

func (s *Scanner) dialFailed(err error, failures int) {
	s.mu.Lock()
	s.stats.DialFailures++
	s.stats.LastLinkError = err.Error()
	s.mu.Unlock()
	// The first failure of a series is a warning; the retries that follow
	// are debug, so an unplugged reader does not flood the log.
	level := slog.LevelDebug
	if failures == 0 {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "scanner connect failed", "err", err, "attempt", failures+1)
}

func (s *Scanner) linkUp() {
	s.mu.Lock()
	s.stats.Connected = true
	s.stats.Connects++
	if s.stats.Connects > 1 {
		s.stats.Reconnects++
	}
	connects := s.stats.Connects
	s.mu.Unlock()
	s.log.Info("scanner link up", "connects", connects)
}

// linkDown records the end of a connection; err is nil when Run is stopping.
func (s *Scanner) linkDown(err error) {
	s.mu.Lock()
	s.stats.Connected = false
	if err != nil {
		s.stats.LastLinkError = err.Error()
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("scanner link down", "err", err)
		return
	}
	s.log.Info("scanner link closed")
}
