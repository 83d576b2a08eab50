// Package line simulates a whole packaging line on one machine: the PLC
// simulator's conveyor carries each product from the print station past the
// camera to the reject station; the printer simulator's labels go on the
// units at the print station; the scanner simulator reads each unit at the
// camera. The agent (or a test playing it) talks to the three devices over
// their real protocols — ZPL, scanner result lines, Modbus TCP — exactly as on
// a real line, and a technician switches faults on a small web page.
//
// Data flow. The PLC simulator runs in manual mode and the line drives it:
// a clock goroutine raises product triggers at the configured speed (with
// jitter) and moves the conveyor; the PLC reports each unit entering, leaving
// the print station, reaching the camera and passing the reject station.
// Printed labels go on the oldest unlabelled unit at the print station (or
// wait on the applicator for the next one) and, in imaging mode, are decoded
// by a small worker pool while the unit travels; the camera goroutine takes
// units strictly in conveyor order, waits for its decode if need be and hands
// the result to the scanner simulator, which applies its faults and sends the
// result line. So decoding runs on every core while the results keep the
// order of the units.
package line

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	scandrv "github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/label"
	plcsim "github.com/serialine/serialine/simulators/plc"
	printersim "github.com/serialine/serialine/simulators/printer"
	scannersim "github.com/serialine/serialine/simulators/scanner"
)

// Names of the PLC simulator's stations the line adds to the conveyor.
const (
	stationPrintExit = "print-exit"
	stationCamera    = "camera"
)

// Clock limits: the clock goroutine sleeps until the next product or station
// event, but at least minTick (timers are not finer) and at most maxTick (so
// a stop or start through Modbus is noticed quickly).
const (
	minTick = 200 * time.Microsecond
	maxTick = 50 * time.Millisecond
)

// ErrStarted is returned by Start when the line was started before.
var ErrStarted = errors.New("line already started")

// Line is one simulated packaging line. Its methods are safe for concurrent
// use.
type Line struct {
	cfg Config
	log *slog.Logger

	plc     *plcsim.Sim
	printer *printersim.Simulator
	scanner *scannersim.Simulator
	plog    *PrintLog
	blank   *cameraView // what the camera sees of a unit without a label
	jobs    chan *printedLabel

	faultMu sync.Mutex // serialises SetFault, so devices see changes in order

	mu         sync.Mutex
	state      runState
	faults     Faults
	c          Counters
	units      map[uint32]*unit
	atPrint    []*unit         // unlabelled units at the print station, oldest first
	held       []*printedLabel // labels waiting on the applicator, oldest first
	camera     []*unit         // units at the camera, not yet inspected
	recent     []*printedLabel // the last LabelsKept labels, oldest first
	devices    Devices
	changed    chan struct{} // closed and replaced whenever the counters change
	cameraWake chan struct{}
	clockWake  chan struct{}
	ctx        context.Context
	cancel     context.CancelFunc
	http       *http.Server
	wg         sync.WaitGroup
}

type runState int

const (
	stateNew runState = iota
	stateRunning
	stateClosed
)

// unit is one product on the conveyor.
type unit struct {
	n     uint32
	entry float64 // conveyor position (pitches) at its trigger
	stage int     // 0 at the print station, 1 on the way to the camera, 2 to the reject station
	label *printedLabel
}

// printedLabel is a label that came out of the printer.
type printedLabel struct {
	seq  int
	at   time.Time
	data string
	gs1  bool
	img  *image.Gray
	unit uint32 // the unit it went on, 0 while none
	png  []byte // encoded on first request
	// view is the camera's first read, set by a decode worker before done
	// is closed (imaging mode only).
	view *cameraView
	done chan struct{}
}

// cameraView is what the camera sees of a unit: the label's pixels, with the
// first read already made by a decode worker while the unit travelled to the
// camera. The scanner simulator gets it through cameraDecoder; a retry on
// other pixels (the scanner's binarised copy) is decoded there and then.
type cameraView struct {
	*image.Gray
	data string
	gs1  bool
	err  error
}

// cameraDecoder is the scanner simulator's Decoder: label.Decode, the real
// DataMatrix reader, or the read a worker already made of a cameraView.
type cameraDecoder struct{}

func (cameraDecoder) Decode(img image.Image) (string, bool, error) {
	if v, ok := img.(*cameraView); ok {
		return v.data, v.gs1, v.err
	}
	d, err := label.Decode(img)
	return d.Data, d.GS1, err
}

// New validates cfg and builds the line's devices; nothing listens until
// Start.
func New(cfg Config, log *slog.Logger) (*Line, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("line: %w", err)
	}
	if log == nil {
		return nil, errors.New("line: logger: missing")
	}
	log = log.With("line", cfg.Line)
	l := &Line{
		cfg:        cfg,
		log:        log,
		faults:     Faults{Printer: cfg.Printer.Faults, Scanner: cfg.Scanner.Faults, PLC: cfg.PLC.Faults, Line: LineFaults{Speed: cfg.Speed, Run: !cfg.PLC.StartStopped}},
		units:      make(map[uint32]*unit),
		changed:    make(chan struct{}),
		cameraWake: make(chan struct{}, 1),
		clockWake:  make(chan struct{}, 1),
		jobs:       make(chan *printedLabel, 1024),
	}
	blank := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range blank.Pix {
		blank.Pix[i] = 0xff
	}
	l.blank = &cameraView{Gray: blank, err: label.ErrNoSymbol}

	var err error
	l.plc, err = plcsim.New(plcsim.Config{
		UnitID: cfg.PLC.UnitID,
		Map:    cfg.PLC.Map,
		Speed:  0, // manual: the line's clock moves the conveyor, so speed can change at run time
		Travel: cfg.Travel.PrinterToCamera + cfg.Travel.CameraToReject,
		Stations: []plcsim.Station{
			{Name: stationPrintExit, At: cfg.Travel.PrintWindow},
			{Name: stationCamera, At: cfg.Travel.PrinterToCamera},
		},
		StartStopped: cfg.PLC.StartStopped,
		Seed:         cfg.Seed,
		Watchdog:     cfg.PLC.Watchdog,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("line: plc: %w", err)
	}
	l.plc.OnEvent(l.onPLCEvent)

	l.printer, err = printersim.New(printersim.Config{
		Name:    cfg.Line + "-printer",
		DPI:     cfg.Printer.DPI,
		Fast:    cfg.Fast,
		Seed:    cfg.Seed,
		OnPrint: l.onPrinted,
	}, log)
	if err != nil {
		_ = l.plc.Close()
		return nil, fmt.Errorf("line: printer: %w", err)
	}
	l.scanner, err = scannersim.New(scannersim.Config{
		Name:    cfg.Line + "-scanner",
		Format:  cfg.Scanner.Format,
		Seed:    cfg.Seed,
		Faults:  scannerFaults(cfg.Scanner.Faults),
		Decoder: cameraDecoder{},
	}, log)
	if err != nil {
		_ = l.plc.Close()
		_ = l.printer.Close()
		return nil, fmt.Errorf("line: scanner: %w", err)
	}
	l.printer.SetFaults(printerFaults(cfg.Printer.Faults))
	return l, nil
}

func printerFaults(f PrinterFaults) printersim.Faults {
	return printersim.Faults{
		PaperOut:  f.PaperOut,
		RibbonOut: f.RibbonOut,
		HeadOpen:  f.HeadOpen,
		Paused:    f.Pause,
		Slow:      time.Duration(f.SlowMS) * time.Millisecond,
		Drop:      f.Drop,
		Smudge:    f.Smudge,
	}
}

func scannerFaults(f ScannerFaults) scannersim.Faults {
	sf := scannersim.Faults{NoReadRate: f.NoReadRate, WrongCodeRate: f.WrongCodeRate, Offline: f.Offline}
	if f.GradeDrop {
		sf.GradeDropRate, sf.GradeDrop = 1, scandrv.GradeD
	}
	return sf
}

// Start opens the devices' listeners and pseudo-terminals, the web page and
// the print log, and starts the conveyor. It returns once everything
// listens. When ctx ends the line stops moving and serving; Close must still
// be called (it also flushes the print log).
func (l *Line) Start(ctx context.Context) (err error) {
	l.mu.Lock()
	if l.state != stateNew {
		l.mu.Unlock()
		return fmt.Errorf("line %q: %w", l.cfg.Line, ErrStarted)
	}
	l.state = stateRunning
	l.ctx, l.cancel = context.WithCancel(ctx)
	l.mu.Unlock()
	defer func() {
		if err != nil {
			err = fmt.Errorf("line %q: %w", l.cfg.Line, err)
		}
	}()
	runCtx := l.ctx

	if l.cfg.PrintLog != "" {
		if l.plog, err = OpenPrintLog(l.cfg.PrintLog); err != nil {
			return err
		}
	}
	var d Devices
	if d.Printer, err = l.listenPrinter(runCtx); err != nil {
		return err
	}
	if d.Scanner, err = l.listenScanner(runCtx); err != nil {
		return err
	}
	if err = l.plc.Start(l.cfg.PLC.Listen); err != nil {
		return fmt.Errorf("plc: %w", err)
	}
	d.PLC, d.PLCUnitID = "tcp:"+l.plc.Addr(), l.cfg.PLC.UnitID
	if err = l.applyPLCFaults(PLCFaults{}, l.cfg.PLC.Faults); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", l.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	d.HTTP = "http://" + ln.Addr().String() + "/"
	l.http = &http.Server{Handler: l.handler(), ReadHeaderTimeout: 5 * time.Second}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := l.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.log.Error("web page stopped", "err", err)
		}
	}()
	l.mu.Lock()
	l.devices = d
	l.mu.Unlock()

	workers := max(1, runtime.GOMAXPROCS(0))
	if l.cfg.Fast {
		workers = 0
	}
	for range workers {
		l.wg.Add(1)
		go l.decodeWorker(runCtx)
	}
	l.wg.Add(1)
	go l.cameraLoop(runCtx)
	if !l.cfg.Manual {
		l.wg.Add(1)
		go l.clock(runCtx)
	}
	l.log.Info("line simulator started", "printer", d.Printer, "scanner", d.Scanner, "plc", d.PLC,
		"plc_unit_id", d.PLCUnitID, "web", d.HTTP, "speed", l.cfg.Speed, "fast", l.cfg.Fast, "manual", l.cfg.Manual)
	return nil
}

func (l *Line) listenPrinter(ctx context.Context) (string, error) {
	lis, _ := ParseListen(l.cfg.Printer.Listen) // validated by New
	if lis.PTY {
		path, err := l.printer.ServePTY(ctx)
		if err != nil {
			return "", fmt.Errorf("printer: %w", err)
		}
		return "serial:" + path, nil
	}
	ln, err := net.Listen("tcp", lis.Addr)
	if err != nil {
		return "", fmt.Errorf("printer: %w", err)
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := l.printer.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			l.log.Error("printer simulator stopped", "err", err)
		}
	}()
	return "tcp:" + ln.Addr().String(), nil
}

func (l *Line) listenScanner(ctx context.Context) (string, error) {
	lis, _ := ParseListen(l.cfg.Scanner.Listen) // validated by New
	if lis.PTY {
		p, err := l.scanner.ServePTY(ctx)
		if err != nil {
			return "", fmt.Errorf("scanner: %w", err)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			<-p.Done()
		}()
		return "serial:" + p.Path, nil
	}
	ln, err := net.Listen("tcp", lis.Addr)
	if err != nil {
		return "", fmt.Errorf("scanner: %w", err)
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := l.scanner.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			l.log.Error("scanner simulator stopped", "err", err)
		}
	}()
	return "tcp:" + ln.Addr().String(), nil
}

// Run starts the line, runs it until ctx ends and closes it.
func (l *Line) Run(ctx context.Context) error {
	if err := l.Start(ctx); err != nil {
		_ = l.Close()
		return err
	}
	<-ctx.Done()
	return l.Close()
}

// Close stops the conveyor and the devices, waits for every goroutine and
// flushes the print log, so that the log is complete when it returns. It is
// safe to call more than once.
func (l *Line) Close() error {
	l.mu.Lock()
	if l.state == stateClosed {
		l.mu.Unlock()
		return nil
	}
	started := l.state == stateRunning
	l.state = stateClosed
	srv := l.http
	l.mu.Unlock()

	var errs []error
	if started {
		l.cancel() // stops the clock, the camera, the workers and the servers
	}
	errs = append(errs, l.plc.Close())
	errs = append(errs, l.printer.Close()) // no label is printed after this
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		errs = append(errs, srv.Shutdown(ctx))
		cancel()
	}
	l.wg.Wait()
	if l.plog != nil {
		errs = append(errs, l.plog.Close())
	}
	l.log.Info("line simulator stopped")
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("line %q: close: %w", l.cfg.Line, err)
	}
	return nil
}

// Devices returns the addresses the agent should connect to (valid after
// Start).
func (l *Line) Devices() Devices {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.devices
}

// PLC is the line's simulated PLC, for what the web page does not switch
// (its program stopped, the edge watchdog's state).
func (l *Line) PLC() *plcsim.Sim { return l.plc }

// Trigger raises one product trigger now: a product enters the print
// station. It returns its trigger number, or false while the line is stopped.
// For Manual lines (on a running clock it adds a product).
func (l *Line) Trigger() (uint32, bool) { return l.plc.Trigger() }

// Advance moves the conveyor by pitches, delivering every station event on
// the way; false while the line is stopped. For Manual lines.
func (l *Line) Advance(pitches float64) bool { return l.plc.Advance(pitches) }

// Wait blocks until cond holds for the counters, and returns them; or until
// ctx ends.
func (l *Line) Wait(ctx context.Context, cond func(Counters) bool) (Counters, error) {
	for {
		l.mu.Lock()
		c, ch := l.countersLocked(), l.changed
		l.mu.Unlock()
		if cond(c) {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return c, fmt.Errorf("line %q: wait: %w", l.cfg.Line, ctx.Err())
		case <-ch:
		}
	}
}

// notifyLocked wakes every Wait.
func (l *Line) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *Line) countersLocked() Counters {
	c := l.c
	c.Held = len(l.held)
	c.InFlight = len(l.units)
	return c
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// onPLCEvent follows a unit down the conveyor. It runs on the PLC
// simulator's dispatching goroutine, so it never blocks.
func (l *Line) onPLCEvent(ev plcsim.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev.Kind {
	case plcsim.UnitEntered:
		u := &unit{n: ev.Unit, entry: ev.Position}
		l.units[ev.Unit] = u
		l.c.Triggers++
		if len(l.held) > 0 {
			pl := l.held[0]
			l.held = l.held[1:]
			l.applyLocked(u, pl)
		} else {
			l.atPrint = append(l.atPrint, u)
		}
	case plcsim.UnitAtStation:
		u := l.units[ev.Unit]
		if u == nil {
			return
		}
		switch ev.Station {
		case stationPrintExit:
			u.stage = 1
			if u.label == nil {
				l.c.Blank++
				for i, v := range l.atPrint {
					if v == u {
						l.atPrint = append(l.atPrint[:i], l.atPrint[i+1:]...)
						break
					}
				}
			}
		case stationCamera:
			u.stage = 2
			l.camera = append(l.camera, u)
			wake(l.cameraWake)
		}
	case plcsim.UnitKept:
		l.c.Good++
		delete(l.units, ev.Unit)
	case plcsim.UnitRejected:
		l.c.Rejected++
		delete(l.units, ev.Unit)
	}
	l.notifyLocked()
}

func (l *Line) applyLocked(u *unit, pl *printedLabel) {
	u.label = pl
	pl.unit = u.n
	l.c.Applied++
}

// onPrinted takes a label from the printer simulator's engine: it goes into
// the print log, onto the oldest unlabelled unit at the print station (or
// onto the applicator to wait for the next unit), and to a decode worker.
func (l *Line) onPrinted(p printersim.Printed) {
	pl := &printedLabel{seq: p.Seq, at: p.At, data: p.Data, gs1: p.GS1, img: p.Image, done: make(chan struct{})}
	if l.plog != nil {
		if err := l.plog.Append(p.At, p.Data); err != nil {
			l.log.Error("print log", "seq", p.Seq, "err", err)
		}
	}
	l.mu.Lock()
	l.c.Printed++
	l.recent = append(l.recent, pl)
	if n := len(l.recent) - l.cfg.LabelsKept; n > 0 {
		l.recent = append(l.recent[:0], l.recent[n:]...)
	}
	if len(l.atPrint) > 0 {
		u := l.atPrint[0]
		l.atPrint = l.atPrint[1:]
		l.applyLocked(u, pl)
	} else {
		l.held = append(l.held, pl)
	}
	l.notifyLocked()
	ctx := l.ctx
	l.mu.Unlock()
	if pl.img == nil {
		close(pl.done)
		return
	}
	// A full queue holds the printer back, as a busy camera would.
	select {
	case l.jobs <- pl:
	case <-ctx.Done():
	}
}

// decodeWorker makes the camera's first read of each label ahead of time.
func (l *Line) decodeWorker(ctx context.Context) {
	defer l.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case pl := <-l.jobs:
			d, err := label.Decode(pl.img)
			pl.view = &cameraView{Gray: pl.img, data: d.Data, gs1: d.GS1, err: err}
			close(pl.done)
		}
	}
}

// cameraLoop inspects the units in the order they reach the camera.
func (l *Line) cameraLoop(ctx context.Context) {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		for len(l.camera) == 0 {
			l.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-l.cameraWake:
			}
			l.mu.Lock()
		}
		u := l.camera[0]
		l.camera[0] = nil
		l.camera = l.camera[1:]
		pl := u.label
		l.mu.Unlock()

		var r scandrv.Result
		var err error
		switch {
		case pl == nil, pl.img == nil && !l.cfg.Fast: // no label, or one the printer could not render
			r, err = l.scanner.Inspect(ctx, l.blank)
		case l.cfg.Fast:
			r, err = l.scanner.InspectData(pl.data, pl.gs1)
		default:
			select {
			case <-pl.done:
			case <-ctx.Done():
				return
			}
			r, err = l.scanner.Inspect(ctx, pl.view)
		}
		if err != nil && ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		switch {
		case errors.Is(err, scannersim.ErrOffline):
			l.c.Unsent++
		case err != nil:
			l.c.Unsent++
			l.log.Error("camera", "unit", u.n, "err", err)
		default:
			l.c.Scanned++
			switch {
			case r.NoRead:
				l.c.NoReads++
			case pl == nil || r.Data != pl.data || r.GS1 != pl.gs1:
				l.c.Misreads++
			}
		}
		l.notifyLocked()
		l.mu.Unlock()
	}
}

// clock moves the conveyor with time at the current speed and raises a
// product trigger every pitch (± jitter). The PLC simulator reports the
// station events on the way.
func (l *Line) clock(ctx context.Context) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(l.cfg.Seed, l.cfg.Seed^0x5851f42d4c957f2d))
	gap := func() float64 { return 1 + l.cfg.Jitter/100*(2*rng.Float64()-1) }
	pos, next := 0.0, gap()
	fed := 0
	last := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.clockWake:
		}
		l.mu.Lock()
		speed := float64(l.faults.Line.Speed)
		feeding := !l.faults.Line.Starved && (l.cfg.Units == 0 || fed < l.cfg.Units)
		l.mu.Unlock()
		now := time.Now()
		target := pos + now.Sub(last).Minutes()*speed
		last = now
		moving := true // false while the PLC keeps the line stopped
		for feeding && next <= target {
			if !l.plc.Advance(max(0, next-pos)) {
				moving = false
				break
			}
			pos = next
			if _, ok := l.plc.Trigger(); ok {
				fed++
			}
			next += gap()
			feeding = l.cfg.Units == 0 || fed < l.cfg.Units
		}
		if moving && !l.plc.Advance(target-pos) {
			moving = false
		}
		if !moving {
			t.Reset(maxTick) // stopped: look again soon; a fault change wakes us at once
			continue
		}
		pos = target
		if !feeding {
			next = pos + 1 // the next product comes a pitch after the infeed resumes
		}
		// Sleep until the next product or station event.
		nextPos := math.Inf(1)
		if feeding {
			nextPos = next
		}
		nextPos = min(nextPos, l.nextStationPos())
		wait := maxTick
		if !math.IsInf(nextPos, 1) {
			wait = time.Duration((nextPos - pos) / speed * float64(time.Minute))
		}
		t.Reset(min(max(wait, minTick), maxTick))
	}
}

// nextStationPos is the conveyor position of the next station event.
func (l *Line) nextStationPos() float64 {
	at := [...]float64{l.cfg.Travel.PrintWindow, l.cfg.Travel.PrinterToCamera, l.cfg.Travel.PrinterToCamera + l.cfg.Travel.CameraToReject}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := math.Inf(1)
	for _, u := range l.units {
		p = min(p, u.entry+at[u.stage])
	}
	return p
}

// SetFault switches one fault (or changes the speed) at run time. A bad
// change is a *FaultError naming the field; nothing changes then.
func (l *Line) SetFault(c FaultChange) error {
	l.faultMu.Lock()
	defer l.faultMu.Unlock()
	l.mu.Lock()
	old := l.faults
	f := old
	if err := c.apply(&f); err != nil {
		l.mu.Unlock()
		return err
	}
	l.faults = f
	l.mu.Unlock()
	switch c.Device {
	case "printer":
		l.printer.SetFaults(printerFaults(f.Printer))
	case "scanner":
		if err := l.scanner.SetFaults(scannerFaults(f.Scanner)); err != nil {
			return err
		}
	case "plc":
		if err := l.applyPLCFaults(old.PLC, f.PLC); err != nil {
			return err
		}
	case "line":
		if c.Fault == "run" {
			l.plc.SetRunRequest(f.Line.Run)
		}
		wake(l.clockWake)
	}
	l.log.Info("fault set", "device", c.Device, "fault", c.Fault, "value", string(c.Value))
	return nil
}

func (l *Line) applyPLCFaults(old, f PLCFaults) error {
	if old.Stop != f.Stop {
		if err := l.plc.SetFault(plcsim.FaultJam, f.Stop); err != nil {
			return fmt.Errorf("plc: %w", err)
		}
	}
	if old.Disconnect != f.Disconnect {
		if err := l.plc.SetFault(plcsim.FaultDisconnect, f.Disconnect); err != nil {
			return fmt.Errorf("plc: %w", err)
		}
	}
	wake(l.clockWake)
	return nil
}

// Status returns a snapshot for the web page and GET /api/status.
func (l *Line) Status() Status {
	ps, pf := l.printer.Stats(), l.printer.Faults()
	st := l.plc.State()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Status{
		Line:      l.cfg.Line,
		Fast:      l.cfg.Fast,
		Running:   st.Running && l.state == stateRunning,
		Speed:     l.faults.Line.Speed,
		Devices:   l.devices,
		PLCAlarms: st.Alarms.Names(),
		Counters:  l.countersLocked(),
		Faults:    l.faults,
		Labels:    make([]LabelInfo, 0, len(l.recent)),
	}
	s.Counters.Dropped = uint64(ps.Dropped)
	// The hosts change some of these too: the edge writes the run-request
	// coil, a ~PS command ends a pause.
	s.Faults.Line.Run = st.RunRequest
	s.Faults.Printer.Pause = pf.Paused
	for i := len(l.recent) - 1; i >= 0; i-- {
		pl := l.recent[i]
		li := LabelInfo{Seq: pl.seq, Unit: pl.unit, At: pl.at, Data: pl.data}
		if es, err := gs1.ParseTransmitted(pl.data); err == nil {
			li.ElementString = es.Bracketed()
		}
		if pl.img != nil {
			li.PNG = fmt.Sprintf("/api/labels/%d.png", pl.seq)
		}
		s.Labels = append(s.Labels, li)
	}
	return s
}

// LabelPNG returns one of the last printed labels as PNG, by its printer
// sequence number.
func (l *Line) LabelPNG(seq int) ([]byte, error) {
	l.mu.Lock()
	var pl *printedLabel
	for _, r := range l.recent {
		if r.seq == seq {
			pl = r
		}
	}
	l.mu.Unlock()
	switch {
	case pl == nil:
		return nil, fmt.Errorf("label %d: not among the last %d printed labels", seq, l.cfg.LabelsKept)
	case pl.img == nil:
		return nil, fmt.Errorf("label %d: no image (fast mode does not rasterise)", seq)
	}
	l.mu.Lock()
	b := pl.png
	l.mu.Unlock()
	if b != nil {
		return b, nil
	}
	b, err := encodePNG(pl.img)
	if err != nil {
		return nil, fmt.Errorf("label %d: %w", seq, err)
	}
	l.mu.Lock()
	pl.png = b
	l.mu.Unlock()
	return b, nil
}

func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
