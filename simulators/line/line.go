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
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	scandrv "github.com/serialine/serialine/drivers/scanner"
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
