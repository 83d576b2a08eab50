// Package scanner simulates a vision verifier (Cognex DataMan-, Keyence-class)
// on a packaging line: it reads the DataMatrix in each unit's image with an
// injected Decoder (or takes the printed content as it is, in fast mode),
// grades it, and sends one result line per unit, in the line format of
// drivers/scanner, to every TCP client and pseudo-terminal it serves. Faults
// (no-reads, wrong codes, grade drops, offline) can be switched at run time.
package scanner

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	scandrv "github.com/serialine/serialine/drivers/scanner"
)

// Decoder reads a DataMatrix from an image. The line simulator wires in
// shared/label's Decode; any error counts as "no symbol found".
type Decoder interface {
	Decode(img image.Image) (data string, gs1 bool, err error)
}

// ErrOffline is returned by Inspect and InspectData while the Offline fault
// is set: the unit was inspected but nothing was sent.
var ErrOffline = errors.New("scanner simulator offline")

// DefaultQueue is the number of lines buffered per client by default.
const DefaultQueue = 256

// Faults are the failures a technician can switch on. Rates are
// probabilities per unit, drawn from the simulator's seeded generator, so a
// run with the same seed and the same units reports the same results.
type Faults struct {
	// NoReadRate is the share of units reported as no-read (0..1).
	NoReadRate float64 `yaml:"no_read_rate"`
	// WrongCodeRate is the share of reads reported with the last character
	// of the data changed, as if another pack had been read (0..1).
	WrongCodeRate float64 `yaml:"wrong_code_rate"`
	// GradeDropRate is the share of reads reported with grade GradeDrop
	// instead of the normal one (0..1).
	GradeDropRate float64 `yaml:"grade_drop_rate"`
	// GradeDrop is the grade a drop reports; default D.
	GradeDrop scandrv.Grade `yaml:"grade_drop"`
	// Offline closes every TCP client and refuses new ones until cleared;
	// over a pseudo-terminal the reader just falls silent, as a serial device
	// does (a serial line has no link state to lose).
	Offline bool `yaml:"offline"`
}

// Validate checks the rates and the grade, naming the key at fault.
func (f Faults) Validate() error {
	for _, kv := range []struct {
		key string
		v   float64
	}{{"no_read_rate", f.NoReadRate}, {"wrong_code_rate", f.WrongCodeRate}, {"grade_drop_rate", f.GradeDropRate}} {
		if math.IsNaN(kv.v) || kv.v < 0 || kv.v > 1 {
			return fmt.Errorf("faults: %s %v: want a probability from 0 to 1", kv.key, kv.v)
		}
	}
	if f.GradeDrop != scandrv.GradeNone && !f.GradeDrop.Valid() {
		return fmt.Errorf("faults: grade_drop %v: want A, B, C, D or F", f.GradeDrop)
	}
	return nil
}

func (f Faults) dropGrade() scandrv.Grade {
	if f.GradeDrop == scandrv.GradeNone {
		return scandrv.GradeD
	}
	return f.GradeDrop
}

// Config configures a simulated reader.
type Config struct {
	// Name identifies the reader in logs, e.g. "verifier-1".
	Name string `yaml:"name"`
	// Format is the line format the reader sends (see drivers/scanner).
	Format scandrv.Format `yaml:"format"`
	// Seed seeds the generator behind the fault rates.
	Seed uint64 `yaml:"seed"`
	// Faults are the faults active from the start.
	Faults Faults `yaml:"faults"`
	// Queue is the number of lines buffered per client (default 256). A TCP
	// client that falls that far behind is disconnected; a pseudo-terminal
	// nobody reads drops lines (counted in Stats.Dropped).
	Queue int `yaml:"queue"`
	// Decoder reads the symbol in Inspect's images; InspectData needs none.
	Decoder Decoder `yaml:"-"`
}

// Stats counts what the simulator did.
type Stats struct {
	Inspected  uint64 // units inspected
	NoReads    uint64 // no-reads reported (decode failures and injected)
	Retries    uint64 // reads that needed the second attempt (grade C)
	WrongCodes uint64 // reads reported with changed data
	GradeDrops uint64 // reads reported with the dropped grade
	Sent       uint64 // lines queued to clients (one per client per unit)
	Dropped    uint64 // lines not sent: offline, or a client's queue full
	Clients    int    // TCP clients and pseudo-terminals being served
}

// Simulator is one simulated reader. It is safe for concurrent use.
type Simulator struct {
	name    string
	format  scandrv.Format
	queue   int
	decoder Decoder
	log     *slog.Logger

	mu     sync.Mutex
	rng    *rand.Rand
	faults Faults
	sinks  map[*sink]struct{}
	stats  Stats
	buf    []byte
}

// sink is one destination of result lines: a TCP client or a pty.
type sink struct {
	name  string
	lines chan []byte
	// kick makes a full queue disconnect the client instead of dropping the
	// line, and makes the Offline fault disconnect it.
	kick bool
	done chan struct{}
	once sync.Once
}

func (k *sink) close() { k.once.Do(func() { close(k.done) }) }

// New validates cfg and returns a simulator serving nothing yet.
func New(cfg Config, log *slog.Logger) (*Simulator, error) {
	if cfg.Name == "" {
		return nil, errors.New("scanner simulator: name: missing")
	}
	if log == nil {
		return nil, fmt.Errorf("scanner simulator %q: logger: missing", cfg.Name)
	}
	if err := cfg.Format.Validate(); err != nil {
		return nil, fmt.Errorf("scanner simulator %q: %w", cfg.Name, err)
	}
	if err := cfg.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("scanner simulator %q: %w", cfg.Name, err)
	}
	if cfg.Queue < 0 {
		return nil, fmt.Errorf("scanner simulator %q: queue %d: must not be negative", cfg.Name, cfg.Queue)
	}
	if cfg.Queue == 0 {
		cfg.Queue = DefaultQueue
	}
	return &Simulator{
		name:    cfg.Name,
		format:  cfg.Format,
		queue:   cfg.Queue,
		decoder: cfg.Decoder,
		log:     log.With("scanner_sim", cfg.Name),
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		faults:  cfg.Faults,
		sinks:   make(map[*sink]struct{}),
	}, nil
}

// Faults returns the faults in effect.
func (s *Simulator) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetFaults switches faults at run time. Going offline disconnects every TCP
// client.
func (s *Simulator) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("scanner simulator %q: %w", s.name, err)
	}
	s.mu.Lock()
	was := s.faults.Offline
	s.faults = f
	if f.Offline {
		for k := range s.sinks {
			if k.kick {
				k.close()
			}
		}
	}
	s.mu.Unlock()
	if f.Offline != was {
		s.log.Info("scanner simulator offline fault", "offline", f.Offline)
	}
	s.log.Debug("scanner simulator faults set", "no_read_rate", f.NoReadRate, "wrong_code_rate", f.WrongCodeRate,
		"grade_drop_rate", f.GradeDropRate, "grade_drop", f.dropGrade().String(), "offline", f.Offline)
	return nil
}

// SetOffline sets or clears the Offline fault, leaving the others as they are.
func (s *Simulator) SetOffline(offline bool) {
	f := s.Faults()
	f.Offline = offline
	_ = s.SetFaults(f) // f came from a validated state
}

// Stats returns a snapshot of the counters.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Clients = len(s.sinks)
	return st
}

// Inspect images one unit: it decodes img with the Decoder and reports the
// result to every client. The first attempt decodes the image as it is; if
// that fails, the image is binarized (threshold halfway between its darkest
// and lightest pixel) and decoded once more, and a read on that retry is
// graded C instead of A. No read on either attempt is a no-read (grade F).
// The returned Result is what was reported; its Grade is GradeNone when the
// format sends no grades. While offline it returns ErrOffline.
func (s *Simulator) Inspect(ctx context.Context, img image.Image) (scandrv.Result, error) {
	if err := ctx.Err(); err != nil {
		return scandrv.Result{}, fmt.Errorf("scanner simulator %q: %w", s.name, err)
	}
	if s.decoder == nil {
		return scandrv.Result{}, fmt.Errorf("scanner simulator %q: Inspect needs a Decoder in the config (InspectData needs none)", s.name)
	}
	if img == nil {
		return scandrv.Result{}, fmt.Errorf("scanner simulator %q: Inspect: nil image", s.name)
	}
	data, gs1, err := s.decoder.Decode(img)
	retried := false
	if err != nil {
		if err := ctx.Err(); err != nil {
			return scandrv.Result{}, fmt.Errorf("scanner simulator %q: %w", s.name, err)
		}
		retried = true
		data, gs1, err = s.decoder.Decode(binarize(img))
	}
	return s.report(data, gs1, err == nil, retried)
}

// InspectData reports a unit whose content is known (fast mode: the printed
// data, no imaging); it is read first time, grade A, unless a fault says
// otherwise. While offline it returns ErrOffline.
func (s *Simulator) InspectData(data string, gs1 bool) (scandrv.Result, error) {
	return s.report(data, gs1, true, false)
}

// report applies the faults, encodes the result and queues it to every sink.
func (s *Simulator) report(data string, gs1, read, retried bool) (scandrv.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Three draws per unit whatever the faults, so that the sequence of
	// results for a seed does not shift when a rate changes.
	dNoRead, dWrong, dGrade := s.rng.Float64(), s.rng.Float64(), s.rng.Float64()
	f := s.faults
	s.stats.Inspected++
	r := scandrv.Result{At: time.Now()}
	switch {
	case !read || dNoRead < f.NoReadRate:
		r.NoRead = true
		r.Grade = scandrv.GradeF
		s.stats.NoReads++
	default:
		r.Data, r.GS1, r.Grade = data, gs1, scandrv.GradeA
		if retried {
			r.Grade = scandrv.GradeC
			s.stats.Retries++
		}
		if dWrong < f.WrongCodeRate {
			r.Data = wrongCode(r.Data)
			s.stats.WrongCodes++
		}
		if dGrade < f.GradeDropRate && f.dropGrade().Worse(r.Grade) {
			r.Grade = f.dropGrade()
			s.stats.GradeDrops++
		}
	}
	if s.format.Grade != scandrv.GradeLetter && s.format.Grade != scandrv.GradeNumber {
		r.Grade = scandrv.GradeNone
	}
	if f.Offline {
		s.stats.Dropped++
		return r, fmt.Errorf("scanner simulator %q: %w", s.name, ErrOffline)
	}
	s.buf = s.format.Encode(s.buf[:0], r)
	for k := range s.sinks {
		select {
		case <-k.done:
			continue // being removed
		default:
		}
		line := append([]byte(nil), s.buf...)
		select {
		case k.lines <- line:
			s.stats.Sent++
		default:
			s.stats.Dropped++
			if k.kick {
				s.log.Warn("scanner simulator client too slow; disconnecting", "client", k.name, "queue", s.queue)
				k.close()
			}
		}
	}
	return r, nil
}

// wrongCode changes the last character of data (usually the serial
// number's) to a different one of the same kind, never to GS.
func wrongCode(data string) string {
	if data == "" {
		return "X"
	}
	b := []byte(data)
	i := len(b) - 1
	for i > 0 && b[i] == 0x1d {
		i--
	}
	switch c := b[i]; {
	case c >= '0' && c <= '9':
		b[i] = '0' + (c-'0'+1)%10
	case c >= 'A' && c <= 'Z':
		b[i] = 'A' + (c-'A'+1)%26
	case c >= 'a' && c <= 'z':
		b[i] = 'a' + (c-'a'+1)%26
	default:
		b[i] = 'X'
	}
	return string(b)
}

// binarize returns a black-and-white copy of img, thresholded halfway
// between its darkest and lightest pixel: the simplest of the contrast
// corrections a reader tries before giving up.
func binarize(img image.Image) image.Image {
	b := img.Bounds()
	gray := image.NewGray(b)
	lo, hi := uint8(255), uint8(0)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			v := color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y
			gray.SetGray(x, y, color.Gray{Y: v})
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	mid := uint8((int(lo) + int(hi) + 1) / 2)
	for i, v := range gray.Pix {
		if v >= mid {
			gray.Pix[i] = 255
		} else {
			gray.Pix[i] = 0
		}
	}
	return gray
}

// addSink registers a destination; it returns nil when a kickable sink is
// refused because the reader is offline.
func (s *Simulator) addSink(name string, kick bool) *sink {
	s.mu.Lock()
	defer s.mu.Unlock()
	if kick && s.faults.Offline {
		return nil
	}
	k := &sink{name: name, lines: make(chan []byte, s.queue), kick: kick, done: make(chan struct{})}
	s.sinks[k] = struct{}{}
	return k
}

func (s *Simulator) removeSink(k *sink) {
	s.mu.Lock()
	delete(s.sinks, k)
	s.mu.Unlock()
	k.close()
}

// Serve accepts TCP clients on ln until ctx ends, then closes ln and every
// client and returns nil. Every client gets every result line. Input from
// clients is read and ignored. While offline, new clients are disconnected
// at once.
func (s *Simulator) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	s.log.Info("scanner simulator listening", "addr", ln.Addr().String())
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("scanner simulator %q: accept on %s: %w", s.name, ln.Addr(), err)
		}
		k := s.addSink(conn.RemoteAddr().String(), true)
		if k == nil {
			s.log.Debug("scanner simulator offline; client refused", "client", conn.RemoteAddr().String())
			_ = conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, conn, k)
		}()
	}
}

func (s *Simulator) serveConn(ctx context.Context, conn net.Conn, k *sink) {
	s.log.Info("scanner simulator client connected", "client", k.name)
	defer func() {
		s.removeSink(k)
		_ = conn.Close()
		s.log.Info("scanner simulator client disconnected", "client", k.name)
	}()
	// Closing the socket is what unblocks a Write to a client that stopped
	// reading, when it is kicked, the reader goes offline or ctx ends.
	go func() {
		select {
		case <-ctx.Done():
		case <-k.done:
		}
		_ = conn.Close()
	}()
	// Drain what the client sends (triggers, keep-alives) and notice it going away.
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				k.close()
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.done:
			return
		case line := <-k.lines:
			if _, err := conn.Write(line); err != nil {
				s.log.Debug("scanner simulator write failed", "client", k.name, "err", err)
				return
			}
		}
	}
}
