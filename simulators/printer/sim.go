// Package printer simulates a ZPL II label printer (Zebra and compatibles)
// that really prints pixels: it reads ZPL from raw TCP (like port 9100) or a
// pseudo-terminal (like an RS-232 port), keeps stored formats (^DF) like a
// printer's DRAM, rasterises each label with the real DataMatrix modules and
// hands it to a callback, so that a whole-line simulator can put it on the
// conveyor in front of a simulated scanner. It answers ~HS host status
// requests like a Zebra, and its faults (paper out, ribbon out, head open,
// pause, slow, drop, smudge, link loss, power off) can be switched at run
// time.
//
// The ZPL codec is drivers/zpl, the same one the driver builds its jobs
// with; the symbol encoding and module drawing are shared/label's.
package printer

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/serialine/serialine/drivers/zpl"
)

// Defaults applied by Config.WithDefaults.
const (
	DefaultDPI          = 300
	DefaultWidthMM      = 60
	DefaultHeightMM     = 25
	DefaultBufferLabels = 64
)

// maxLabelPixels bounds the raster of one label (a 600 dpi label 6.8 x 6.8
// inches), so that a stray ^PW32000^LL32000 cannot exhaust memory.
const maxLabelPixels = 4096 * 4096

// Config describes the simulated printer.
type Config struct {
	// Name identifies the printer in logs.
	Name string `yaml:"name"`
	// DPI is the print resolution: 152, 203, 300 or 600 (default 300). Label
	// coordinates are in dots; the resolution sets the default label size.
	DPI int `yaml:"dpi"`
	// WidthMM and HeightMM are the loaded label stock, used when a format
	// sets no ^PW / ^LL (defaults 60 x 25 mm).
	WidthMM  float64 `yaml:"width_mm"`
	HeightMM float64 `yaml:"height_mm"`
	// BufferLabels is how many received labels the printer holds while it
	// cannot print (paused, paper out, ...); beyond it the receive buffer is
	// full and further labels are refused (default 64).
	BufferLabels int `yaml:"buffer_labels"`
	// Fast skips rasterising: Printed carries Data and GS1 but no Image.
	// For load tests where the scanner simulator takes the data as read.
	Fast bool `yaml:"fast"`
	// Seed seeds the smudge fault's random choice of modules, so a test run
	// is repeatable.
	Seed uint64 `yaml:"seed"`
	// OnPrint receives every printed label, in print order, from the print
	// engine's goroutine. A slow callback slows the printer, as a full
	// conveyor would. Nil discards the output.
	OnPrint func(Printed) `yaml:"-"`
}

// WithDefaults returns c with every unset field given its default.
func (c Config) WithDefaults() Config {
	if c.Name == "" {
		c.Name = "printer-sim"
	}
	if c.DPI == 0 {
		c.DPI = DefaultDPI
	}
	if c.WidthMM == 0 {
		c.WidthMM = DefaultWidthMM
	}
	if c.HeightMM == 0 {
		c.HeightMM = DefaultHeightMM
	}
	if c.BufferLabels == 0 {
		c.BufferLabels = DefaultBufferLabels
	}
	return c
}

// Validate checks c (zero fields count as their defaults) and names the
// first key that breaks a rule.
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch c.DPI {
	case 152, 203, 300, 600:
	default:
		return fmt.Errorf("printer simulator %q: dpi %d: must be 152, 203, 300 or 600", c.Name, c.DPI)
	}
	if c.WidthMM < 0 || c.HeightMM < 0 {
		return fmt.Errorf("printer simulator %q: width_mm/height_mm %gx%g: must not be negative", c.Name, c.WidthMM, c.HeightMM)
	}
	if w, h := c.dots(c.WidthMM), c.dots(c.HeightMM); w*h > maxLabelPixels {
		return fmt.Errorf("printer simulator %q: width_mm/height_mm %gx%g: %dx%d dots exceed the %d-pixel raster limit", c.Name, c.WidthMM, c.HeightMM, w, h, maxLabelPixels)
	}
	if c.BufferLabels < 0 {
		return fmt.Errorf("printer simulator %q: buffer_labels %d: must not be negative", c.Name, c.BufferLabels)
	}
	return nil
}

// dots converts millimetres to dots at the configured resolution.
func (c Config) dots(mm float64) int { return int(mm*float64(c.DPI)/25.4 + 0.5) }

// Printed is one label that came out of the printer.
type Printed struct {
	// Seq counts printed labels from 1.
	Seq int
	// At is when the label was printed.
	At time.Time
	// Image is the label at the printer's resolution (nil in Fast mode).
	Image *image.Gray
	// Data is what the label's DataMatrix encodes, in transmitted form (GS
	// between fields, no FNC1 prefix); empty if the label has no symbol.
	Data string
	// GS1 is true when the symbol starts with FNC1.
	GS1 bool
	// Format is the recalled stored format, if any (e.g. "R:SERIALINE.ZPL").
	Format string
}

// Faults are the run-time switchable faults. The zero value is a healthy
// printer.
type Faults struct {
	// PaperOut, RibbonOut and HeadOpen stop printing; received labels are
	// buffered and ~HS reports the flag, like a Zebra.
	PaperOut, RibbonOut, HeadOpen bool
	// Paused stops printing; received labels are buffered (up to
	// BufferLabels, then refused with the buffer-full flag) and printed once
	// resumed (clearing the fault, or ~PS).
	Paused bool
	// Slow is the time to print one label (0: as fast as the host sends).
	Slow time.Duration
	// Drop makes the printer accept every job and print nothing: a unit goes
	// down the line unlabelled and the scanner sees a missing code.
	Drop bool
	// Smudge is the share (0..1) of dark modules whitened on each label, as a
	// dirty print head or a smear would do; chosen by a seeded PRNG.
	Smudge float64
}

// stopped reports whether a fault keeps the engine from printing.
func (f Faults) stopped() bool { return f.PaperOut || f.RibbonOut || f.HeadOpen || f.Paused }

// Stats counts what the printer has done since New.
type Stats struct {
	// Received counts labels parsed from the hosts (one per ^XA..^XZ).
	Received int
	// Printed counts labels that came out (copies of ^PQ included).
	Printed int
	// Dropped counts labels lost to the Drop fault.
	Dropped int
	// Refused counts labels refused while the receive buffer was full.
	Refused int
	// Canceled counts buffered labels discarded by ~JA or lost when the
	// printer went offline.
	Canceled int
	// Queued is the number of labels waiting to print now.
	Queued int
	// FormatDownloads counts formats stored with ^DF.
	FormatDownloads int
	// Connections counts host connections accepted (TCP and pty).
	Connections int
}

// Simulator is one simulated printer. Its methods are safe for concurrent
// use.
type Simulator struct {
	cfg Config
	log *slog.Logger
	rr  *rasteriser

	mu      sync.Mutex
	faults  Faults
	queue   []zpl.Label
	stats   Stats
	seq     int
	conns   map[*hostConn]struct{}
	closed  bool
	offline bool // switched off: see SetOffline

	// parser is the printer's ZPL interpreter and format memory (DRAM),
	// shared by every host link as in a printer.
	parseMu sync.Mutex
	parser  *zpl.Parser

	kick chan struct{} // cap 1: the engine has something to look at
	done chan struct{} // closed by Close
	wg   sync.WaitGroup
}

// New validates cfg and starts the print engine; Close stops it.
func New(cfg Config, log *slog.Logger) (*Simulator, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("printer simulator: logger: missing")
	}
	rr, err := newRasteriser(cfg.dots(cfg.WidthMM), cfg.dots(cfg.HeightMM), rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9E3779B97F4A7C15)))
	if err != nil {
		return nil, fmt.Errorf("printer simulator %q: %w", cfg.Name, err)
	}
	s := &Simulator{
		cfg:   cfg,
		log:   log.With("printer_sim", cfg.Name),
		rr:    rr,
		conns: make(map[*hostConn]struct{}),
		kick:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	if s.parser, err = zpl.NewParser(s.log); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.engine()
	return s, nil
}

// SetFaults replaces every fault at once.
func (s *Simulator) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
	s.log.Info("printer faults set", "paper_out", f.PaperOut, "ribbon_out", f.RibbonOut, "head_open", f.HeadOpen,
		"paused", f.Paused, "slow", f.Slow, "drop", f.Drop, "smudge", f.Smudge)
	s.nudge()
}

// Faults returns the faults in force.
func (s *Simulator) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// update changes one fault under the lock.
func (s *Simulator) update(name string, value any, f func(*Faults)) {
	s.mu.Lock()
	f(&s.faults)
	s.mu.Unlock()
	s.log.Info("printer fault set", "fault", name, "value", value)
	s.nudge()
}

// SetPaperOut switches the paper-out fault.
func (s *Simulator) SetPaperOut(on bool) {
	s.update("paper_out", on, func(f *Faults) { f.PaperOut = on })
}

// SetRibbonOut switches the ribbon-out fault.
func (s *Simulator) SetRibbonOut(on bool) {
	s.update("ribbon_out", on, func(f *Faults) { f.RibbonOut = on })
}

// SetHeadOpen switches the head-open fault.
func (s *Simulator) SetHeadOpen(on bool) {
	s.update("head_open", on, func(f *Faults) { f.HeadOpen = on })
}

// SetPaused pauses or resumes the printer (the front-panel PAUSE key).
func (s *Simulator) SetPaused(on bool) {
	s.update("paused", on, func(f *Faults) { f.Paused = on })
}

// SetSlow sets the time to print one label (0 turns the fault off).
func (s *Simulator) SetSlow(perLabel time.Duration) {
	s.update("slow", perLabel, func(f *Faults) { f.Slow = max(0, perLabel) })
}

// SetDrop makes the printer accept jobs and print nothing (false: print again).
func (s *Simulator) SetDrop(on bool) {
	s.update("drop", on, func(f *Faults) { f.Drop = on })
}

// SetSmudge sets the share (0..1) of dark modules erased on each label.
func (s *Simulator) SetSmudge(share float64) {
	share = min(1, max(0, share))
	s.update("smudge", share, func(f *Faults) { f.Smudge = share })
}

// Disconnect closes every TCP host connection, as a network blip would;
// hosts may connect again at once. With forgetFormats the stored formats
// are cleared too (DRAM lost). A pty link stays open: a serial cable has no
// connection to lose (use SetOffline).
func (s *Simulator) Disconnect(forgetFormats bool) {
	conns := s.droppableConns()
	if forgetFormats {
		s.resetMemory()
	}
	s.log.Info("printer disconnecting hosts", "connections", len(conns), "forget_formats", forgetFormats)
	for _, c := range conns {
		c.close()
	}
}

// SetOffline switches the printer off (true) or on again (false). Off, it
// closes its TCP hosts and refuses new ones, and ignores whatever arrives
// on a pty, answering nothing, as a powered-down printer on a serial line.
// Switching off loses the stored formats and the buffered labels, as a
// power cycle loses DRAM.
func (s *Simulator) SetOffline(off bool) {
	s.mu.Lock()
	s.offline = off
	if off {
		s.stats.Canceled += len(s.queue)
		s.queue = s.queue[:0]
	}
	s.mu.Unlock()
	s.log.Info("printer power", "offline", off)
	if !off {
		return
	}
	s.resetMemory()
	for _, c := range s.droppableConns() {
		c.close()
	}
}

func (s *Simulator) isOffline() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offline
}

func (s *Simulator) droppableConns() []*hostConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var conns []*hostConn
	for c := range s.conns {
		if c.droppable {
			conns = append(conns, c)
		}
	}
	return conns
}

// resetMemory forgets stored formats and any partly received format.
func (s *Simulator) resetMemory() {
	p, err := zpl.NewParser(s.log)
	if err != nil {
		return // not reached: New refused a nil logger
	}
	s.parseMu.Lock()
	s.parser = p
	s.parseMu.Unlock()
}

// Stats returns the counters.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Queued = len(s.queue)
	return st
}

// HostStatus is what the printer answers to ~HS now.
func (s *Simulator) HostStatus() zpl.HostStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostStatusLocked()
}

func (s *Simulator) hostStatusLocked() zpl.HostStatus {
	f := s.faults
	return zpl.HostStatus{
		PaperOut:        f.PaperOut,
		Paused:          f.Paused,
		HeadOpen:        f.HeadOpen,
		RibbonOut:       f.RibbonOut,
		BufferFull:      len(s.queue) >= s.cfg.BufferLabels,
		FormatsInBuffer: min(len(s.queue), 999),
		LabelsRemaining: len(s.queue),
		LabelLengthDots: s.cfg.dots(s.cfg.HeightMM),
		ThermalTransfer: true,
		PrintMode:       2, // tear-off
	}
}

// Close stops the engine and closes every connection. Labels still queued
// are discarded. Closing twice is a no-op.
func (s *Simulator) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*hostConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	close(s.done)
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
	return nil
}

func (s *Simulator) nudge() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// enqueue takes a received label into the receive buffer, or refuses it
// when the buffer is full, as a Zebra does.
func (s *Simulator) enqueue(l zpl.Label) {
	s.mu.Lock()
	s.stats.Received++
	if len(s.queue) >= s.cfg.BufferLabels {
		s.stats.Refused++
		n := len(s.queue)
		s.mu.Unlock()
		s.log.Warn("printer receive buffer full: label refused", "queued", n)
		return
	}
	s.queue = append(s.queue, l)
	s.mu.Unlock()
	s.nudge()
}

// command acts on an immediate (~) command and returns the answer to send,
// if any.
func (s *Simulator) command(c zpl.Command) []byte {
	switch c.Code {
	case "~HS":
		return s.HostStatus().Marshal()
	case "~JA": // cancel all buffered labels
		s.mu.Lock()
		n := len(s.queue)
		s.stats.Canceled += n
		s.queue = s.queue[:0]
		s.mu.Unlock()
		s.log.Info("printer cancelled all buffered labels (~JA)", "canceled", n)
	case "~PS": // print start: resume from pause
		s.SetPaused(false)
	default:
		s.log.Info("printer ignored immediate command", "command", c.Code, "params", c.Params)
	}
	return nil
}

// engine prints queued labels one at a time while no fault stops it.
func (s *Simulator) engine() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		f := s.faults
		var l zpl.Label
		ready := len(s.queue) > 0 && !f.stopped()
		if ready {
			l = s.queue[0]
			s.queue[0] = zpl.Label{}
			s.queue = s.queue[1:]
		}
		s.mu.Unlock()
		if !ready {
			select {
			case <-s.done:
				return
			case <-s.kick:
			}
			continue
		}
		if f.Slow > 0 {
			t := time.NewTimer(f.Slow)
			select {
			case <-s.done:
				t.Stop()
				return
			case <-t.C:
			}
		}
		if f.Drop {
			s.mu.Lock()
			s.stats.Dropped++
			s.mu.Unlock()
			s.log.Warn("printer dropped a label (drop fault)", "format", l.Format)
			continue
		}
		s.print(l, f.Smudge)
	}
}

// maxCopies bounds one label's ^PQ copies, so that a stray ^PQ99999999
// cannot keep the engine busy for hours.
const maxCopies = 1000

// print renders l (Quantity copies) and hands each copy to OnPrint.
func (s *Simulator) print(l zpl.Label, smudge float64) {
	copies := max(1, l.Quantity)
	if copies > maxCopies {
		s.log.Warn("printer simulator caps ^PQ copies", "quantity", copies, "max", maxCopies)
		copies = maxCopies
	}
	data, gs1 := symbolData(l)
	for range copies {
		select {
		case <-s.done:
			return
		default:
		}
		var img *image.Gray
		if !s.cfg.Fast {
			var err error
			img, err = s.rr.rasterise(l, smudge)
			if err != nil {
				// A real printer prints what it can; we say why it is blank.
				s.log.Warn("printer could not render a field", "err", err)
			}
		}
		s.mu.Lock()
		s.seq++
		s.stats.Printed++
		p := Printed{Seq: s.seq, At: time.Now(), Image: img, Data: data, GS1: gs1, Format: l.Format}
		s.mu.Unlock()
		s.log.Debug("printer printed a label", "seq", p.Seq, "format", l.Format)
		if s.cfg.OnPrint != nil {
			s.cfg.OnPrint(p)
		}
	}
}

// symbolData is the first DataMatrix's content.
func symbolData(l zpl.Label) (string, bool) {
	for _, e := range l.Elements {
		if e.Kind == zpl.DataMatrix {
			return e.Data, e.GS1
		}
	}
	return "", false
}

// Rasterise draws one label as the printer would, without faults; for
// tools and benchmarks.
func (s *Simulator) Rasterise(l zpl.Label) (*image.Gray, error) {
	return s.rr.rasterise(l, 0)
}

// errClosed is returned by Serve and ServePTY after Close.
var errClosed = errors.New("printer simulator closed")

func (s *Simulator) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
