// Package printer drives ZPL II label printers (Zebra and compatibles) over a
// serial line or raw TCP (port 9100).
//
// The unit label's format is stored in the printer once per connection
// (^DF) and each unit sends only its variable fields as an ^XF recall job,
// because a serial link is slow (see zpl.WireTime). After a lost link the
// driver reconnects with backoff and downloads the format again: a printer
// that was power-cycled has lost its DRAM (R:) formats.
//
// Status polling: asking ~HS before every unit would cost a round trip per
// unit (about 0.1 s at 9,600 baud), so a background poller asks every
// StatusInterval and Print refuses fast with the last known fault. Status
// always asks the printer and refreshes what Print knows, so a caller that
// saw a fault can call Status to learn that it has cleared without waiting
// for the next poll. A failed write or an unanswered ~HS drops the link and
// starts the reconnection. Jobs sent between a fault and the next poll are
// not lost: a Zebra buffers received formats while paused or out of media
// and prints them once the fault is cleared.
package printer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serialine/serialine/drivers/transport"
	"github.com/serialine/serialine/drivers/zpl"
)

// ErrPaperOut is returned (wrapped with the printer name) when the printer
// reports that its media has run out.
var ErrPaperOut = errors.New("paper out")

// ErrRibbonOut is returned (wrapped with the printer name) when the printer
// reports that its thermal-transfer ribbon has run out.
var ErrRibbonOut = errors.New("ribbon out")

// ErrHeadOpen is returned (wrapped with the printer name) when the printer
// reports that its print head is open.
var ErrHeadOpen = errors.New("head open")

// ErrPaused is returned (wrapped with the printer name) when the printer
// reports that it is paused; it buffers jobs but prints nothing until resumed.
var ErrPaused = errors.New("paused")

// ErrBufferFull is returned (wrapped with the printer name) when the printer
// reports that its receive buffer is full and it cannot take more jobs.
var ErrBufferFull = errors.New("receive buffer full")

// errClosed is wrapped into every error of a closed Printer.
var errClosed = errors.New("printer closed")

// FaultError maps a host status onto the typed errors above: nil when the
// printer can print, otherwise every fault it reports joined together, so
// that errors.Is finds each of them (a Zebra out of paper is usually also
// paused).
func FaultError(s zpl.HostStatus) error {
	var faults []error
	if s.HeadOpen {
		faults = append(faults, ErrHeadOpen)
	}
	if s.PaperOut {
		faults = append(faults, ErrPaperOut)
	}
	if s.RibbonOut {
		faults = append(faults, ErrRibbonOut)
	}
	if s.Paused {
		faults = append(faults, ErrPaused)
	}
	if s.BufferFull {
		faults = append(faults, ErrBufferFull)
	}
	switch len(faults) {
	case 0:
		return nil
	case 1:
		return faults[0]
	default:
		return errors.Join(faults...)
	}
}

// Printer is one ZPL II printer. Its methods are safe for concurrent use.
type Printer struct {
	cfg     Config
	link    transport.Config
	log     *slog.Logger
	backoff transport.Backoff
	format  []byte // the ^DF download, built once
	sample  int    // bytes of a representative recall job, until one is sent

	ctx    context.Context // ends at Close; bounds background work
	cancel context.CancelFunc
	wg     sync.WaitGroup // supervisor and link readers

	dialMu   sync.Mutex // one connection attempt at a time
	statusMu sync.Mutex // one ~HS exchange at a time (answers carry no id)
	io       sync.Mutex // serialises writes on the link; guards buf
	buf      []byte     // the job buffer Print reuses

	mu        sync.Mutex
	cur       *link // nil while the link is down
	status    zpl.HostStatus
	fault     error // FaultError(status) wrapped with the name; nil when ready
	closed    bool
	started   bool
	downloads int

	lastJob atomic.Int64
	wake    chan struct{} // cap 1: a lost link nudges the supervisor
}

// New validates cfg and returns a Printer that is not yet connected; it
// never dials.
func New(cfg Config, log *slog.Logger) (*Printer, error) {
	cfg = cfg.WithDefaults()
	link, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if log == nil {
		return nil, fmt.Errorf("printer %q: logger: missing", cfg.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Printer{
		cfg:     cfg,
		link:    link,
		log:     log.With("printer", cfg.Name),
		backoff: transport.Backoff{Min: cfg.ReconnectMin, Max: cfg.ReconnectMax},
		format:  cfg.Layout.Format(),
		ctx:     ctx,
		cancel:  cancel,
		wake:    make(chan struct{}, 1),
	}
	p.sample = cfg.Layout.RecallSize(sampleFields(cfg.Layout))
	p.buf = make([]byte, 0, 2*p.sample)
	return p, nil
}

// sampleFields is a representative US/EU unit (GTIN, expiry, a 10-character
// lot and a 20-character serial, one text line per layout line), used to
// size BytesPerUnit before the first job has gone out.
func sampleFields(l zpl.Layout) zpl.Fields {
	f := zpl.Fields{Data: "0109506000134352172712311012345ABCDE\x1d2112345678901234567890"}
	lines := []string{"GTIN 09506000134352", "NDC 12345-678-90", "LOT 12345ABCDE", "EXP 2027-12-31", "SN 12345678901234567890"}
	for i := 0; i < l.TextLines; i++ {
		f.Text = append(f.Text, lines[i%len(lines)])
	}
	return f
}

// Name returns the configured printer name.
func (p *Printer) Name() string { return p.cfg.Name }

// Connect dials the printer, downloads the label format (^DF) and checks
// ~HS. It returns the typed fault if the printer reports one (the link stays
// up). Whatever the first attempt's outcome, the printer keeps its link up
// from then on: it polls status every StatusInterval and reconnects with
// backoff after a loss, until Close.
func (p *Printer) Connect(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("printer %q: connect: %w", p.cfg.Name, errClosed)
	}
	start := !p.started
	p.started = true
	p.mu.Unlock()

	err := p.establish(ctx)
	if start {
		p.wg.Add(1)
		go p.supervise()
	}
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault
}

// establish opens the link, downloads the format and reads the status. It is
// a no-op while a link is up.
func (p *Printer) establish(ctx context.Context) error {
	p.dialMu.Lock()
	defer p.dialMu.Unlock()
	if p.current() != nil {
		return nil
	}
	rwc, err := transport.Dial(ctx, p.link)
	if err != nil {
		return fmt.Errorf("printer %q: connect: %w: %w", p.cfg.Name, transport.ErrNotConnected, err)
	}
	l, err := p.newLink(rwc)
	if err != nil {
		return fmt.Errorf("printer %q: connect: %w", p.cfg.Name, err)
	}

	// Ask first: a device that answers ~HS is powered and listening, so the
	// format that follows is not lost to a printer still booting (on a
	// serial line nothing else tells the driver).
	if _, err := p.exchange(ctx, l); err != nil {
		l.close()
		return fmt.Errorf("printer %q: connect: %w: %w", p.cfg.Name, transport.ErrNotConnected, err)
	}
	p.io.Lock()
	err = p.writeAll(ctx, l, p.format)
	p.io.Unlock()
	if err != nil {
		l.close()
		return fmt.Errorf("printer %q: connect: download format %s: %w: %w", p.cfg.Name, p.cfg.Layout.Name, transport.ErrNotConnected, err)
	}
	// The second answer proves the printer has read the ^DF before it.
	st, err := p.exchange(ctx, l)
	if err != nil {
		l.close()
		return fmt.Errorf("printer %q: connect: %w: %w", p.cfg.Name, transport.ErrNotConnected, err)
	}

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.close()
		return fmt.Errorf("printer %q: connect: %w", p.cfg.Name, errClosed)
	}
	p.cur = l
	p.downloads++
	p.setStatusLocked(st)
	p.mu.Unlock()
	p.log.Info("printer connected", "link", p.link.String(), "format", p.cfg.Layout.Name, "format_bytes", len(p.format))
	return nil
}

// supervise polls status while the link is up and reconnects with backoff
// while it is down.
func (p *Printer) supervise() {
	defer p.wg.Done()
	var tick <-chan time.Time
	if p.cfg.StatusInterval > 0 {
		t := time.NewTicker(p.cfg.StatusInterval)
		defer t.Stop()
		tick = t.C
	}
	attempt := 0
	for {
		if p.ctx.Err() != nil {
			return
		}
		if p.current() == nil {
			err := p.establish(p.ctx)
			if err == nil {
				attempt = 0
				continue
			}
			if p.ctx.Err() != nil {
				return
			}
			delay := p.backoff.Delay(attempt)
			p.log.Warn("printer reconnect failed", "attempt", attempt+1, "retry_in", delay, "err", err)
			attempt++
			t := time.NewTimer(delay)
			select {
			case <-p.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		select {
		case <-p.ctx.Done():
			return
		case <-p.wake:
		case <-tick:
			if _, err := p.Status(p.ctx); err != nil && errors.Is(err, transport.ErrNotConnected) {
				p.log.Warn("printer status poll failed", "err", err)
			}
		}
	}
}

// Print hands one unit's ^XF recall job to the printer. It refuses fast,
// without sending, while the link is down (transport.ErrNotConnected) or the
// last known status reports a fault (ErrPaperOut, ErrPaused, ...). A job
// that could not be written completely within Timeout is an error and drops
// the link; the caller must treat that unit as not printed.
func (p *Printer) Print(ctx context.Context, f zpl.Fields) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("printer %q: print: %w", p.cfg.Name, err)
	}
	if err := p.cfg.Layout.ValidateFields(f); err != nil {
		return fmt.Errorf("printer %q: print: %w", p.cfg.Name, err)
	}
	p.io.Lock()
	defer p.io.Unlock()
	p.mu.Lock()
	l, fault, closed := p.cur, p.fault, p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("printer %q: print: %w: %w", p.cfg.Name, transport.ErrNotConnected, errClosed)
	case l == nil:
		return fmt.Errorf("printer %q: print: %w", p.cfg.Name, transport.ErrNotConnected)
	case fault != nil:
		return fault
	}
	p.buf = p.cfg.Layout.AppendRecall(p.buf[:0], f)
	if err := p.writeAll(ctx, l, p.buf); err != nil {
		p.lost(l, err)
		return fmt.Errorf("printer %q: print: job of %d bytes not handed over: %w: %w", p.cfg.Name, len(p.buf), transport.ErrNotConnected, err)
	}
	p.lastJob.Store(int64(len(p.buf)))
	return nil
}

// Status asks the printer for its host status (~HS) and returns it, with the
// typed fault error when it reports one. The answer also refreshes the
// status Print checks. An unanswered request drops the link.
func (p *Printer) Status(ctx context.Context) (zpl.HostStatus, error) {
	l := p.current()
	if l == nil {
		return zpl.HostStatus{}, fmt.Errorf("printer %q: status: %w", p.cfg.Name, transport.ErrNotConnected)
	}
	st, err := p.exchange(ctx, l)
	if err != nil {
		if ctx.Err() != nil {
			return zpl.HostStatus{}, fmt.Errorf("printer %q: status: %w", p.cfg.Name, err)
		}
		p.lost(l, err)
		return zpl.HostStatus{}, fmt.Errorf("printer %q: status: %w: %w", p.cfg.Name, transport.ErrNotConnected, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == l {
		p.setStatusLocked(st)
	}
	if fault := FaultError(st); fault != nil {
		return st, fmt.Errorf("printer %q: %w", p.cfg.Name, fault)
	}
	return st, nil
}

// setStatusLocked records st and logs a change of fault state. p.mu is held.
func (p *Printer) setStatusLocked(st zpl.HostStatus) {
	fault := FaultError(st)
	was := p.fault
	p.status = st
	p.fault = nil
	if fault != nil {
		p.fault = fmt.Errorf("printer %q: %w", p.cfg.Name, fault)
	}
	switch {
	case fault != nil && (was == nil || was.Error() != p.fault.Error()):
		p.log.Warn("printer fault", "fault", fault.Error())
	case fault == nil && was != nil:
		p.log.Info("printer ready again")
	}
}

// BytesPerUnit returns the size of the last job sent, or of a representative
// job (GTIN, expiry, lot, 20-character serial and the text lines) before the
// first one.
func (p *Printer) BytesPerUnit() int {
	if n := p.lastJob.Load(); n > 0 {
		return int(n)
	}
	return p.sample
}

// WireTime returns how long one unit's job occupies a serial link at the
// configured baud rate (10 bits per byte); 0 on TCP, where it is negligible.
func (p *Printer) WireTime() time.Duration {
	if p.link.Kind != transport.KindSerial {
		return 0
	}
	return zpl.WireTime(p.BytesPerUnit(), p.link.Baud)
}

// Downloads returns how many times the label format has been downloaded
// (once per established connection).
func (p *Printer) Downloads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.downloads
}

// Close drops the link and stops the background work. Later calls fail with
// transport.ErrNotConnected. Closing twice is a no-op.
func (p *Printer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	l := p.cur
	p.cur = nil
	p.mu.Unlock()
	p.cancel()
	if l != nil {
		l.close()
	}
	p.wg.Wait()
	return nil
}

func (p *Printer) current() *link {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// lost takes l out of service after err and nudges the supervisor to
// reconnect.
func (p *Printer) lost(l *link, err error) {
	p.mu.Lock()
	was := p.cur == l
	if was {
		p.cur = nil
	}
	closed := p.closed
	p.mu.Unlock()
	l.close()
	if was && !closed {
		p.log.Warn("printer link lost", "err", err)
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// hostStatusRequest is the ~HS command.
const hostStatusRequest = "~HS"

// exchange sends ~HS on l and waits up to Timeout for the three-string answer.
func (p *Printer) exchange(ctx context.Context, l *link) (zpl.HostStatus, error) {
	p.statusMu.Lock()
	defer p.statusMu.Unlock()
	// An answer that arrived after an earlier exchange gave up is stale.
	select {
	case <-l.answers:
	default:
	}
	p.io.Lock()
	err := p.writeAll(ctx, l, []byte(hostStatusRequest))
	p.io.Unlock()
	if err != nil {
		return zpl.HostStatus{}, fmt.Errorf("send ~HS: %w", err)
	}
	t := time.NewTimer(p.cfg.Timeout)
	defer t.Stop()
	select {
	case a := <-l.answers:
		st, err := zpl.ParseHostStatus(a)
		if err != nil {
			return zpl.HostStatus{}, fmt.Errorf("~HS answer %q: %w", a, err)
		}
		return st, nil
	case <-l.dead:
		return zpl.HostStatus{}, fmt.Errorf("awaiting ~HS answer: %w", l.err)
	case <-t.C:
		return zpl.HostStatus{}, fmt.Errorf("no ~HS answer within %v", p.cfg.Timeout)
	case <-ctx.Done():
		return zpl.HostStatus{}, fmt.Errorf("awaiting ~HS answer: %w", ctx.Err())
	}
}

// writeAll writes b completely or fails. A watchdog closes the link when the
// write overruns Timeout (or ctx's deadline): neither a TCP socket nor a
// serial port blocked by a stalled peer otherwise returns.
func (p *Printer) writeAll(ctx context.Context, l *link, b []byte) error {
	limit := p.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d < limit {
			limit = d
		}
	}
	if limit <= 0 {
		return context.DeadlineExceeded
	}
	l.watchdog.Reset(limit)
	total := len(b)
	for len(b) > 0 {
		n, err := l.rwc.Write(b)
		b = b[n:]
		if err == nil && n == 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			if !l.watchdog.Stop() {
				return fmt.Errorf("write timed out after %v with %d of %d bytes sent: %w", limit, total-len(b), total, err)
			}
			return fmt.Errorf("write failed with %d of %d bytes sent: %w", total-len(b), total, err)
		}
	}
	if !l.watchdog.Stop() {
		// The watchdog fired just as the write finished: the link is closed
		// under us, so the printer's side is in doubt.
		return fmt.Errorf("write timed out after %v: %w", limit, net.ErrClosed)
	}
	return nil
}

// link is one established connection with its reader.
type link struct {
	rwc       io.ReadWriteCloser
	answers   chan []byte   // complete ~HS answers (cap 1)
	dead      chan struct{} // closed when the reader has stopped
	err       error         // why the reader stopped; valid after dead
	watchdog  *time.Timer
	closeOnce sync.Once
}

// newLink starts the reader of a freshly dialled connection; it fails once
// the Printer is closed (Close waits for every reader it has started).
func (p *Printer) newLink(rwc io.ReadWriteCloser) (*link, error) {
	l := &link{rwc: rwc, answers: make(chan []byte, 1), dead: make(chan struct{})}
	l.watchdog = time.AfterFunc(time.Hour, l.close)
	l.watchdog.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		l.close()
		return nil, errClosed
	}
	p.wg.Add(1)
	go p.readLoop(l)
	return l, nil
}

func (l *link) close() {
	l.closeOnce.Do(func() { _ = l.rwc.Close() })
}

// ~HS answers are framed by these control characters.
const (
	stx = 0x02
	etx = 0x03
)

// readLoop collects ~HS answers (three STX…ETX strings) from the printer;
// a printer sends nothing else unasked. A read error ends the link.
func (p *Printer) readLoop(l *link) {
	defer p.wg.Done()
	buf := make([]byte, 256)
	var acc []byte
	frames := 0
	for {
		n, err := l.rwc.Read(buf)
		for _, c := range buf[:n] {
			if len(acc) == 0 && c != stx {
				continue // CR LF after an ETX, or line noise
			}
			acc = append(acc, c)
			if c == etx {
				frames++
			}
			if frames == 3 {
				answer := bytes.Clone(acc)
				select {
				case <-l.answers: // nobody took the previous one
				default:
				}
				l.answers <- answer
				acc, frames = acc[:0], 0
			}
			if len(acc) > 4096 {
				acc, frames = acc[:0], 0 // garbage, not an answer
			}
		}
		if err != nil {
			l.err = err
			close(l.dead)
			p.lost(l, err)
			return
		}
	}
}
