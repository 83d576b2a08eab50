// Package station is the line runtime of the edge agent: it turns PLC
// triggers into printed, verified, recorded units.
//
// Per product trigger it takes the next serial from the pool, fills the
// order's label template (preallocated buffers, no allocation, no I/O) and
// hands the ^XF job to the printer; the unit then waits in a FIFO keyed by
// its trigger number. Scanner results are matched to the units in conveyor
// order (see match.go); a good read of exactly the printed element string
// at or above the order's minimum grade commissions the unit, anything else
// rejects it through the PLC's shift register and decommissions its serial
// with the reason. Every event goes to the outbox through its hand-over
// channel, never on the trigger → print path.
//
// A fault of the printer, scanner or PLC, or an empty serial pool, stops
// the line with an alarm naming the device and the fault. Production
// resumes when the fault has cleared and the operator has acknowledged it.
package station

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/edge/pool"
	"github.com/serialine/serialine/shared/wire"
)

// Printer is the label printer (drivers/printer.Printer).
type Printer interface {
	Print(ctx context.Context, f zpl.Fields) error
	Status(ctx context.Context) (zpl.HostStatus, error)
}

// Scanner is the verifying camera (drivers/scanner.Scanner).
type Scanner interface {
	Run(ctx context.Context, out chan<- scanner.Result) error
	Stats() scanner.Stats
}

// PLC is the line PLC (drivers/plc.PLC).
type PLC interface {
	Triggers(ctx context.Context, out chan<- uint32) error
	TriggerCount(ctx context.Context) (uint32, error)
	Running(ctx context.Context) (bool, error)
	Reject(ctx context.Context, unit uint32) error
	Alarms(ctx context.Context) (plc.AlarmWord, error)
	ResetAlarms(ctx context.Context) error
	SetStackLight(ctx context.Context, s plc.StackLight) error
	SetRun(ctx context.Context, run bool) error
}

// Serials is the serial pool (edge/pool.Pool).
type Serials interface {
	Activate(order string) error
	Take(dst []byte) (pool.Unit, []byte, error)
	Level(order string) (pool.Level, error)
	// RecoveredSerials are the serials a crash may have left printed and
	// unapplied (voided at start).
	RecoveredSerials(order string) []string
	// Unfated lists the serials handed out whose fate is not durable yet.
	Unfated(order string, max int) ([]pool.Lost, int, error)
}

// Events is the outbox (edge/outbox.Outbox).
type Events interface {
	Append(ev wire.Event) error
}

// ErrRunning is returned by the calls that need the line stopped.
var ErrRunning = errors.New("the line is running")

// ErrAlarm is returned by StartLine while an alarm is active.
var ErrAlarm = errors.New("an alarm is active")

// Station runs one line. Create it with New, run it with Run; the
// operator's calls (StartLine, Pause, StopLine, Acknowledge...) are safe from any
// goroutine.
type Station struct {
	cfg  Config
	log  *slog.Logger
	prn  Printer
	scn  Scanner
	plc  PLC
	pool Serials
	out  Events
	// operator is put on the events; it changes at StartLineAs and is read
	// and written on the run loop only.
	operator string

	trig    chan uint32
	res     chan scanner.Result
	cmds    chan command
	health  chan healthReport
	rejects chan uint32
	outputs chan outputState

	// Owned by the run loop.
	fifo     *fifo
	recent   recentData
	tpl      *template
	want     wire.LineState // what the operator asked: running, paused, stopped
	last     uint32         // last trigger number seen
	tLast    int64          // when it was seen (unix ns)
	tau      float64        // time per pitch (ns), from the trigger intervals
	trigAt   [17]int64      // when the last triggers were seen (unix ns), a ring
	trigN    int
	tMoving  int64  // last time the PLC said the conveyor runs (unix ns)
	skip     int    // units to leave unprinted to absorb labels printed late
	skipMark uint32 // no new skip for units up to this trigger
	started  map[string]bool
	resetPLC bool      // the next outputs reset the PLC's latched alarms
	run      *orderRun // the order's governance (governance.go)
	qual     *quality
	qualFrom uint32 // units up to this trigger are not judged for quality (made before an acknowledgement)

	counts     counters
	inflight   atomic.Int64
	storageBad atomic.Bool // the record store fails: print nothing (external.go)
	running    atomic.Bool // Run has started: reports go through its loop
	lat        latencies
	rate       rateMeter

	mu        sync.Mutex
	state     wire.LineState
	wantCopy  wire.LineState // want, for Snapshot
	alarms    []Alarm
	history   []AlarmRecord
	nextAlarm uint64
	prod      *Production // run, for Snapshot
	devices   map[string]wire.DeviceHealth
	order     *wire.Order
	orders    map[string]wire.Order
	changed   chan struct{}
}

// counters are atomics so Snapshot can read them while the loop runs.
type counters struct {
	triggers, printed, good, blank, ghosts, voided, unmatched, missed, shifts atomic.Uint64
	rejected                                                                  [6]atomic.Uint64 // by reason, in wire.Reasons() order
	rejectsSent, rejectsFailed                                                atomic.Uint64
}

func reasonIndex(r wire.Reason) int {
	for i, v := range wire.Reasons() {
		if v == r {
			return i
		}
	}
	return 0
}

// New checks cfg and wires the station to its devices, pool and outbox.
// Nothing runs until Run.
func New(cfg Config, prn Printer, scn Scanner, p PLC, serials Serials, events Events, log *slog.Logger) (*Station, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if prn == nil || scn == nil || p == nil || serials == nil || events == nil || log == nil {
		return nil, errors.New("station: printer, scanner, plc, pool, outbox and logger are all needed")
	}
	cfg = cfg.WithDefaults()
	return &Station{
		cfg: cfg, log: log, prn: prn, scn: scn, plc: p, pool: serials, out: events, operator: cfg.Operator,
		trig:    make(chan uint32, cfg.FIFO),
		res:     make(chan scanner.Result, cfg.FIFO),
		cmds:    make(chan command),
		health:  make(chan healthReport, 16),
		rejects: make(chan uint32, cfg.FIFO),
		outputs: make(chan outputState, 1),
		fifo:    newFIFO(cfg.FIFO),
		want:    wire.LineStopped,
		started: map[string]bool{},
		state:   wire.LineStopped,
		devices: map[string]wire.DeviceHealth{},
		orders:  map[string]wire.Order{},
		changed: make(chan struct{}),
		lat:     latencies{d: make([]time.Duration, 0, latencyKeep)},
		qual:    newQuality(cfg.MaxConsecutiveRejects, cfg.MaxRejectRate, cfg.RejectRateWindow),
	}, nil
}

// Run runs the line until ctx ends. The PLC should be connected (its
// trigger counter tells which units were already on the conveyor).
func (s *Station) Run(ctx context.Context) error {
	s.running.Store(true)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	goRun := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	goRun(func() {
		if err := s.plc.Triggers(ctx, s.trig); err != nil && ctx.Err() == nil {
			s.log.Error("plc triggers stopped", "err", err)
		}
	})
	goRun(func() {
		if err := s.scn.Run(ctx, s.res); err != nil && ctx.Err() == nil {
			s.log.Error("scanner stopped", "err", err)
		}
	})
	goRun(func() { s.rejecter(ctx) })
	goRun(func() { s.actuator(ctx) })
	goRun(func() { s.monitor(ctx) })

	s.seedGhosts(ctx)
	s.applyState()
	for {
		// Results first: a result that arrived before a trigger belongs to
		// a unit entered before it.
		select {
		case r := <-s.res:
			s.onResult(r)
			continue
		default:
		}
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case r := <-s.res:
			s.onResult(r)
		case n := <-s.trig:
			s.drainResults()
			s.onTrigger(ctx, n)
		case c := <-s.cmds:
			c.reply <- c.fn()
		case h := <-s.health:
			s.onHealth(h)
		}
	}
}

func (s *Station) drainResults() {
	for {
		select {
		case r := <-s.res:
			s.onResult(r)
		default:
			return
		}
	}
}

// seedGhosts puts the units that may still be between print station and
// camera into the FIFO, so their results (from a previous run) are not
// taken for ours. They are rejected if the camera reports them.
func (s *Station) seedGhosts(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	b, err := s.plc.TriggerCount(cctx)
	if err != nil {
		s.log.Warn("trigger counter unknown at start: units already on the conveyor are not tracked", "err", err)
		return
	}
	g := uint32(math.Ceil(s.cfg.PrinterToCamera / (1 - s.cfg.Jitter/100)))
	if g > b {
		g = b
	}
	for n := b - g + 1; g > 0 && n != b+1; n++ {
		sl := s.fifo.push()
		sl.n, sl.kind = n, ghost
	}
	s.last, s.qualFrom = b, b
	if g > 0 {
		s.log.Info("units on the conveyor at start will be rejected if seen", "from", b-g+1, "to", b)
	}
}

// onTrigger is the hot path: serial, label, print job. No disk, no
// network but the printer's link, no allocation.
func (s *Station) onTrigger(ctx context.Context, n uint32) {
	t0 := time.Now()
	s.counts.triggers.Add(1)
	s.last = n
	// The PLC's baseline may trail the counter read at start.
	for s.fifo.len() > 0 && s.fifo.back().kind == ghost && int32(s.fifo.back().n-n) >= 0 {
		s.fifo.dropBack()
	}
	s.track(t0.UnixNano())
	s.expire(t0.UnixNano())
	if s.fifo.full() {
		s.raise("station", AlarmTrackingFull, fmt.Sprintf("more than %d units between printer and camera", s.cfg.FIFO), false)
		s.decide(s.fifo.front(), nil)
	}
	sl := s.fifo.push()
	sl.n, sl.kind, sl.at = n, blank, t0.UnixNano()
	s.inflight.Store(int64(s.fifo.len()))
	s.rate.add(t0)

	tpl := s.tpl
	if s.state != wire.LineRunning || tpl == nil || s.storageBad.Load() {
		return
	}
	if s.skip > 0 {
		s.skip--
		s.skipMark = n
		return // left blank on purpose: a late label takes its place
	}
	if s.run != nil && !s.run.needsLabel() {
		return // the order needs no more labels than those in flight
	}
	data := append(sl.data[:0], tpl.prefix...)
	u, data, err := s.pool.Take(data)
	if err != nil {
		s.takeFailed(err)
		return
	}
	sl.ndata, sl.serial = len(data), len(tpl.prefix)
	sn := append(sl.sn[:0], "SN "...)
	sn = append(sn, data[sl.serial:]...)
	sl.nsn = len(sn)
	copy(sl.text[:], tpl.text)
	sl.text[tpl.snLine] = unsafeString(sl.sn[:sl.nsn])
	sl.tpl, sl.unit = tpl, unitRef{position: u.Position, counter: u.Counter}
	err = s.prn.Print(ctx, zpl.Fields{Data: sl.dataString(), Text: sl.text[:len(tpl.text)]})
	s.lat.add(time.Since(t0))

	if err != nil {
		// Refused or not handed over: nothing printed, the serial is void.
		s.emit(s.unitEvent(sl, wire.Voided, ""))
		s.counts.voided.Add(1)
		sl.kind, sl.tpl = blank, nil
		if ctx.Err() == nil {
			s.raise("printer", printerCode(err), err.Error(), true)
		}
		return
	}
	sl.kind = printed
	s.counts.printed.Add(1)
	if s.run != nil {
		s.run.inflight++
	}
}

func (s *Station) takeFailed(err error) {
	switch {
	case errors.Is(err, pool.ErrEmpty):
		s.raise("serials", AlarmSerialsEmpty, fmt.Sprintf("%v: waiting for central's grant (the line never invents a serial)", err), true)
	default:
		s.raise("serials", AlarmSerialsEmpty, err.Error(), true)
	}
}

// decide settles the front unit with its result (nil: none came) and
// removes it from the FIFO.
func (s *Station) decide(sl *slot, r *scanner.Result) {
	defer func() {
		s.fifo.pop()
		s.inflight.Store(int64(s.fifo.len()))
	}()
	switch sl.kind {
	case ghost:
		if r != nil {
			s.reject(sl.n)
			s.counts.ghosts.Add(1)
		}
		return
	case blank:
		s.reject(sl.n)
		s.counts.blank.Add(1)
		return
	}
	s.recent.add(sl.data[:sl.ndata])
	var reason wire.Reason
	shifted := false
	switch {
	case r == nil || r.NoRead:
		reason = wire.ReasonNoRead
	case !r.GS1 || r.Data != sl.dataString():
		reason = wire.ReasonMismatch
		// Another unit's label: a label shift, which the station
		// corrects (see lateLabel), not a fault of print or camera.
		shifted = r.GS1 && (s.recent.has(r.Data) || s.fifo.find(r.Data) > 0)
	case r.Grade.Worse(sl.tpl.minGrade):
		reason = wire.ReasonLowGrade
	}
	if reason == "" {
		s.counts.good.Add(1)
		s.emit(s.unitEvent(sl, wire.Commissioned, ""))
	} else {
		s.reject(sl.n)
		s.counts.rejected[reasonIndex(reason)].Add(1)
		s.emit(s.unitEvent(sl, wire.Decommissioned, reason))
	}
	s.verdict(sl.n, sl.tpl.order.ID, reason, shifted)
}

func (s *Station) unitEvent(sl *slot, typ wire.EventType, reason wire.Reason) wire.Event {
	o := sl.tpl.order
	c := sl.unit.counter
	return wire.Event{Type: typ, At: time.Now(), Order: o.ID, GTIN: o.GTIN, Serial: sl.serialString(), Lot: o.Lot,
		Expiry: o.Expiry, Counter: &c, Reason: reason, Operator: s.operator}
}

// emit hands an event to the outbox. A refusal is a bug (the station
// builds valid events), logged loudly; the serial stays unaccounted and is
// voided at the next start or order close.
func (s *Station) emit(ev wire.Event) {
	if err := s.out.Append(ev); err != nil {
		s.log.Error("event not recorded", "type", ev.Type, "serial", ev.Serial, "err", err)
		s.raise("outbox", AlarmRecordRefused, err.Error(), false)
	}
}

func (s *Station) reject(n uint32) {
	select {
	case s.rejects <- n:
	default:
		s.counts.rejectsFailed.Add(1)
		s.raise("plc-reject", AlarmRejectFailed, fmt.Sprintf("reject queue full: unit %d not rejected; remove it by hand", n), false)
	}
}

// rejecter sends reject requests to the PLC in order, off the run loop.
func (s *Station) rejecter(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-s.rejects:
			if err := s.plc.Reject(ctx, n); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.counts.rejectsFailed.Add(1)
				s.report(healthReport{latch: &alarmNote{device: "plc-reject", code: AlarmRejectFailed, fault: fmt.Sprintf("unit %d not rejected (%v): remove it by hand", n, err)}})
				continue
			}
			s.counts.rejectsSent.Add(1)
		}
	}
}

func (s *Station) report(h healthReport) {
	select {
	case s.health <- h:
	default:
		// The loop is behind; the monitor reports again soon. A latched
		// note must not be lost, so wait for it; an outside report is
		// delivered in the background, since its sender (the outbox's
		// writer) must not wait on a loop that may wait on it.
		switch {
		case h.latch != nil:
			s.health <- h
		case h.ext != nil:
			go func() { s.health <- h }()
		}
	}
}

func (s *Station) shutdown() {
	s.setState(wire.LineStopped)
}
