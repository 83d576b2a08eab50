// Package plcsim simulates a packaging line's PLC and its conveyor behind a
// Modbus TCP (and RTU) server that uses the drivers/plc register map: it
// raises product triggers, carries each unit to the reject station, rejects
// the units the edge asked for, keeps good/rejected counters, and takes
// faults (jam, e-stop, disconnect …) switched on and off at run time.
//
// The conveyor is modelled as distance in pitches (the nominal spacing of
// two products). In automatic mode (Speed > 0) it moves with the clock; in
// manual mode (Speed = 0) it moves only when a test calls Trigger and
// Advance, so tests need no sleeps.
package plcsim

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serialine/serialine/drivers/plc"
)

// Unit events, in the order a unit goes through them.
const (
	UnitEntered   EventKind = iota // product trigger at the print station; the counter went up
	UnitAtStation                  // the unit reached Event.Station
	UnitKept                       // the unit passed the reject station and counted good
	UnitRejected                   // the reject actuator removed the unit; counted rejected
)

// Faults. All but FaultDisconnect raise their alarm bit and stop the line
// while on.
const (
	FaultJam           Fault = "jam"
	FaultEStop         Fault = "e-stop"
	FaultRejectBinFull Fault = "reject-bin-full"
	FaultLowAir        Fault = "low-air"
	FaultGuardOpen     Fault = "guard-open"
	// FaultDisconnect drops every Modbus client and refuses new ones (TCP
	// connections are closed at once; RTU requests go unanswered).
	FaultDisconnect Fault = "disconnect"
	// FaultProgramStopped puts the PLC's CPU in STOP: it still answers
	// Modbus, but its program does not run, so the line stops and reject
	// requests stay unacknowledged (the coil stays set) until it runs again.
	FaultProgramStopped Fault = "program-stopped"
)

// State is a snapshot of the simulated PLC.
type State struct {
	Running      bool // conveyor moving
	RunRequest   bool // run-request coil
	Alarms       plc.AlarmWord
	StackLight   plc.StackLight
	Triggers     uint32 // trigger counter
	Good         uint32
	Rejected     uint32
	OnConveyor   []uint32 // units between the print and the reject station, oldest first
	Pending      []uint32 // latched reject requests not yet carried out
	Faults       []Fault
	Position     float64 // conveyor position in pitches
	Clients      int     // open Modbus TCP connections
	RejectMissed int     // reject requests that named a unit not on the conveyor
	Watchdog     WatchdogState
}

type unit struct {
	n     uint32
	entry float64 // conveyor position at the trigger
}

type station struct {
	name string
	at   float64
}

// Sim is a simulated line PLC. All methods are safe for concurrent use.
type Sim struct {
	cfg      Config
	log      *slog.Logger
	lookup   map[plc.Table]map[uint16]ref
	stations []station // user stations by position, then the reject station

	mu          sync.Mutex
	pos         float64
	nextTrigger float64 // automatic mode: position of the next product
	units       []unit
	nextAt      []int // per station: index in units of the next unit to arrive
	count       uint32
	good        uint32
	rejected    uint32
	runRequest  bool
	faults      map[Fault]bool
	latched     plc.AlarmWord // alarms kept until the edge resets them
	stack       plc.StackLight
	target      [2]uint16
	rejectCoil  bool // set by the edge, cleared by the program when it latches
	pending     map[uint32]bool
	missed      int
	rng         *rand.Rand
	lastTick    time.Time
	hooks       []func(Event)
	queue       []Event
	dispatching bool
	wd          watchdog // the edge watchdog and the PLC's heartbeat (watchdog.go)

	disconnected atomic.Bool
	wake         chan struct{}
	wdWake       chan struct{} // the watchdog's timer has changed
	wdOnce       sync.Once
	closed       chan struct{}
	closeOnce    sync.Once
	runnerOnce   sync.Once
	wg           sync.WaitGroup

	netMu     sync.Mutex
	conns     map[net.Conn]struct{}
	listeners map[net.Listener]struct{}
	unblocks  map[*func()]struct{} // RTU links' read unblockers
	addr      string
}

// New validates cfg and builds a simulator; it serves nothing until Start,
// Serve or ServeRTU.
func New(cfg Config, log *slog.Logger) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		return nil, errors.New("plc simulator: logger: missing")
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Sim{
		cfg:        cfg,
		log:        log,
		lookup:     buildLookup(cfg.Map),
		count:      cfg.InitialCount,
		runRequest: !cfg.StartStopped,
		faults:     map[Fault]bool{},
		pending:    map[uint32]bool{},
		rng:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		wake:       make(chan struct{}, 1),
		wdWake:     make(chan struct{}, 1),
		closed:     make(chan struct{}),
		conns:      map[net.Conn]struct{}{},
		listeners:  map[net.Listener]struct{}{},
		unblocks:   map[*func()]struct{}{},
	}
	for _, st := range cfg.Stations {
		s.stations = append(s.stations, station{st.Name, st.At})
	}
	sort.SliceStable(s.stations, func(i, j int) bool { return s.stations[i].at < s.stations[j].at })
	s.stations = append(s.stations, station{"reject", cfg.Travel}) // always last
	s.nextAt = make([]int, len(s.stations))
	s.nextTrigger = s.gap()
	s.wd = newWatchdog(time.Now())
	return s, nil
}

// Config returns the configuration in force (defaults applied).
func (s *Sim) Config() Config { return s.cfg }

// OnEvent registers fn to receive every unit event. Events reach the hooks
// in the order they happened, from one goroutine at a time; a hook may call
// any Sim method (events it causes are delivered after it returns). Events
// caused by Trigger or Advance are delivered before those calls return,
// unless another goroutine is delivering at that moment.
func (s *Sim) OnEvent(fn func(Event)) {
	s.mu.Lock()
	s.hooks = append(s.hooks, fn)
	s.mu.Unlock()
}

// unlockAndDispatch queues events, releases s.mu and delivers the queue
// unless another goroutine is already delivering it.
func (s *Sim) unlockAndDispatch(events []Event) {
	s.queue = append(s.queue, events...)
	if s.dispatching || len(s.queue) == 0 {
		s.mu.Unlock()
		return
	}
	s.dispatching = true
	for len(s.queue) > 0 {
		batch, hooks := s.queue, slices.Clone(s.hooks)
		s.queue = nil
		s.mu.Unlock()
		for _, ev := range batch {
			for _, h := range hooks {
				h(ev)
			}
		}
		s.mu.Lock()
	}
	s.dispatching = false
	s.mu.Unlock()
}

// gap draws the distance to the next product.
func (s *Sim) gap() float64 {
	if s.cfg.Jitter == 0 {
		return 1
	}
	return 1 + s.cfg.Jitter/100*(2*s.rng.Float64()-1)
}

func (s *Sim) alarmsLocked() plc.AlarmWord {
	a := s.latched
	for f, on := range s.faults {
		if on {
			a |= f.alarm()
		}
	}
	return a
}

func (s *Sim) runningLocked() bool {
	return s.runRequest && s.alarmsLocked()&plc.AlarmStopsLine == 0 && !s.faults[FaultProgramStopped]
}

// syncLocked moves the conveyor up to now in automatic mode; call it before
// anything that changes whether the line runs.
//
// The edge watchdog is judged here too, so that nothing moves after its
// deadline: the conveyor moves up to the deadline, stops, and only then up
// to now (not at all: the line stopped).
func (s *Sim) syncLocked() []Event {
	now := time.Now()
	var events []Event
	if at, due := s.watchdogDueLocked(now); due {
		events = s.moveLocked(at)
		s.tripLocked(at)
	}
	return append(events, s.moveLocked(now)...)
}

// moveLocked moves the conveyor in automatic mode up to t.
func (s *Sim) moveLocked(t time.Time) []Event {
	var events []Event
	if s.cfg.Speed > 0 && s.runningLocked() && !s.lastTick.IsZero() && t.After(s.lastTick) {
		target := s.pos + t.Sub(s.lastTick).Minutes()*s.cfg.Speed
		events = s.advanceLocked(target, true)
	}
	if t.After(s.lastTick) {
		s.lastTick = t
	}
	return events
}

// advanceLocked moves the conveyor to target, raising automatic triggers
// (if auto) and station arrivals in position order. At equal positions a
// unit reaching a station goes before a new product entering.
func (s *Sim) advanceLocked(target float64, auto bool) []Event {
	var events []Event
	for {
		best, which := target, -2 // -2: none, -1: trigger, i: station i
		for i, st := range s.stations {
			if k := s.nextAt[i]; k < len(s.units) {
				if p := s.units[k].entry + st.at; p <= best && (which == -2 || p < best) {
					best, which = p, i
				}
			}
		}
		if auto && s.nextTrigger <= best && (which == -2 || s.nextTrigger < best) {
			best, which = s.nextTrigger, -1
		}
		if which == -2 {
			break
		}
		s.pos = max(s.pos, best)
		if which == -1 {
			events = append(events, s.enterLocked())
			s.nextTrigger += s.gap()
			continue
		}
		events = append(events, s.arriveLocked(which))
	}
	s.pos = max(s.pos, target)
	return events
}

func (s *Sim) enterLocked() Event {
	s.count++
	s.units = append(s.units, unit{s.count, s.pos})
	return Event{Kind: UnitEntered, Unit: s.count, Position: s.pos}
}

func (s *Sim) arriveLocked(i int) Event {
	u := s.units[s.nextAt[i]]
	s.nextAt[i]++
	if i < len(s.stations)-1 {
		return Event{Kind: UnitAtStation, Unit: u.n, Station: s.stations[i].name, Position: s.pos}
	}
	// The reject station is the last one: the unit leaves the tracked part
	// of the conveyor (it is always the oldest).
	s.units = s.units[1:]
	for j := range s.nextAt {
		s.nextAt[j]--
	}
	if s.pending[u.n] {
		delete(s.pending, u.n)
		s.rejected++
		return Event{Kind: UnitRejected, Unit: u.n, Position: s.pos}
	}
	s.good++
	return Event{Kind: UnitKept, Unit: u.n, Position: s.pos}
}

// Trigger raises one product trigger now (the product enters the print
// station at the current position) and returns its trigger number. It
// returns false, and counts nothing, while the line is stopped.
func (s *Sim) Trigger() (uint32, bool) {
	s.mu.Lock()
	events := s.syncLocked()
	if !s.runningLocked() {
		s.unlockAndDispatch(events)
		return 0, false
	}
	ev := s.enterLocked()
	events = append(events, ev)
	events = append(events, s.advanceLocked(s.pos, false)...) // a station at 0
	s.unlockAndDispatch(events)
	return ev.Unit, true
}

// Advance moves the conveyor forward by pitches, delivering the units that
// reach a station on the way (and, in automatic mode, the products that
// enter). It returns false, and moves nothing, while the line is stopped.
func (s *Sim) Advance(pitches float64) bool {
	s.mu.Lock()
	events := s.syncLocked()
	if !s.runningLocked() || pitches < 0 {
		s.unlockAndDispatch(events)
		return false
	}
	events = append(events, s.advanceLocked(s.pos+pitches, s.cfg.Speed > 0)...)
	s.unlockAndDispatch(events)
	return true
}

// SetFault switches a fault on or off.
func (s *Sim) SetFault(f Fault, on bool) error {
	if !slices.Contains(Faults(), f) {
		return fmt.Errorf("plcsim: fault %q: unknown (want one of %v)", f, Faults())
	}
	if f == FaultDisconnect {
		s.setDisconnected(on)
	}
	s.mu.Lock()
	events := s.syncLocked()
	if f == FaultProgramStopped {
		s.plcBeatLocked(time.Now()) // counted up to now, then frozen or resumed
	}
	if on {
		s.faults[f] = true
	} else {
		delete(s.faults, f)
	}
	if f == FaultProgramStopped && !on && s.rejectCoil {
		// The program runs again and sees the request that waited.
		s.rejectCoil = false
		s.latchRejectLocked()
	}
	if f == FaultProgramStopped && !on {
		s.programStartedLocked(time.Now())
	}
	s.kick()
	s.unlockAndDispatch(events)
	s.log.Info("plc sim fault", "fault", string(f), "on", on)
	return nil
}

// SetRunRequest sets the run-request coil as the edge (or the panel's
// start/stop buttons) would.
func (s *Sim) SetRunRequest(run bool) {
	s.mu.Lock()
	events := s.syncLocked()
	s.runRequest = run
	s.kick()
	s.unlockAndDispatch(events)
}

// StackLight returns the stack-light register as the edge last wrote it.
func (s *Sim) StackLight() plc.StackLight {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stack
}

// State returns a snapshot.
func (s *Sim) State() State {
	s.mu.Lock()
	events := s.syncLocked()
	st := State{
		Running:      s.runningLocked(),
		RunRequest:   s.runRequest,
		Alarms:       s.alarmsLocked(),
		StackLight:   s.stack,
		Triggers:     s.count,
		Good:         s.good,
		Rejected:     s.rejected,
		Position:     s.pos,
		RejectMissed: s.missed,
		Watchdog:     s.watchdogStateLocked(),
	}
	for _, u := range s.units {
		st.OnConveyor = append(st.OnConveyor, u.n)
	}
	for n := range s.pending {
		st.Pending = append(st.Pending, n)
	}
	slices.Sort(st.Pending)
	for _, f := range Faults() {
		if s.faults[f] {
			st.Faults = append(st.Faults, f)
		}
	}
	s.unlockAndDispatch(events)
	s.netMu.Lock()
	st.Clients = len(s.conns)
	s.netMu.Unlock()
	return st
}

// latchRejectLocked takes the reject request for the unit in the target
// registers, as the PLC program does when the edge sets the coil.
func (s *Sim) latchRejectLocked() {
	n := s.cfg.Map.WordOrder.Uint32(s.target[:])
	if len(s.units) > 0 && n-s.units[0].n < uint32(len(s.units)) {
		s.pending[n] = true
		s.log.Debug("plc sim reject latched", "unit", n)
		return
	}
	s.latched |= plc.AlarmRejectMissed
	s.missed++
	s.log.Warn("plc sim reject request for a unit not on the conveyor", "unit", n, "triggers", s.count)
}

// Close stops the conveyor and every server, and closes every connection.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.netMu.Lock()
		for ln := range s.listeners {
			_ = ln.Close()
		}
		for c := range s.conns {
			_ = c.Close()
		}
		for u := range s.unblocks {
			(*u)()
		}
		s.netMu.Unlock()
	})
	s.wg.Wait()
	return nil
}
