package plc

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Table is one of the four Modbus data tables.
type Table string

// The Modbus tables, by the names used in configs.
const (
	Coils            Table = "coil"     // read/write bits (FC01, FC05, FC15)
	DiscreteInputs   Table = "discrete" // read-only bits (FC02)
	InputRegisters   Table = "input"    // read-only 16-bit words (FC04)
	HoldingRegisters Table = "holding"  // read/write 16-bit words (FC03, FC06, FC16)
)

func (t Table) describe() string {
	switch t {
	case Coils:
		return "coil"
	case DiscreteInputs:
		return "discrete input"
	case InputRegisters:
		return "input register"
	case HoldingRegisters:
		return "holding register"
	}
	return string(t)
}

// WordOrder says how a 32-bit value is split over two 16-bit registers.
// Each register itself is big-endian, as Modbus mandates.
type WordOrder string

// Word orders.
const (
	HighWordFirst WordOrder = "high_first" // the first register holds bits 31..16 ("ABCD"; Modicon, mbpoll -B)
	LowWordFirst  WordOrder = "low_first"  // the first register holds bits 15..0 ("CDAB"; many Siemens/AB setups)
)

// Uint32 joins two registers read from the PLC.
func (o WordOrder) Uint32(regs []uint16) uint32 {
	if o == LowWordFirst {
		return uint32(regs[1])<<16 | uint32(regs[0])
	}
	return uint32(regs[0])<<16 | uint32(regs[1])
}

// Registers splits v into the two registers to write to the PLC.
func (o WordOrder) Registers(v uint32) [2]uint16 {
	hi, lo := uint16(v>>16), uint16(v)
	if o == LowWordFirst {
		return [2]uint16{lo, hi}
	}
	return [2]uint16{hi, lo}
}

// Keys of the register map, as in YAML. Item.Key holds one of them.
const (
	KeyTriggerCounter  = "trigger_counter"
	KeyGoodCounter     = "good_counter"
	KeyRejectedCounter = "rejected_counter"
	KeyRunning         = "running"
	KeyRejectRequest   = "reject_request"
	KeyRunRequest      = "run_request"
	KeyRejectTarget    = "reject_target"
	KeyStackLight      = "stack_light"
	KeyAlarms          = "alarms"
	KeyEdgeHeartbeat   = "edge_heartbeat"
	KeyPLCHeartbeat    = "plc_heartbeat"
)

// RegisterMap says where the line PLC keeps each signal. Addresses are
// 0-based protocol (PDU) addresses: holding register 3 is "40004" in
// Modicon notation and `mbpoll -r 4` (or `-0 -r 3`).
//
// The zero RegisterMap means DefaultRegisterMap(); when decoded from YAML
// every key left out keeps its default.
type RegisterMap struct {
	// CounterTable holds the three 32-bit counters the PLC keeps:
	// "input" (default; read-only to the edge) or "holding".
	CounterTable Table `yaml:"counter_table"`
	// TriggerCounter: products that entered the print station; wraps at 2^32.
	TriggerCounter uint16 `yaml:"trigger_counter"`
	// GoodCounter: units that passed the reject station and were kept.
	GoodCounter uint16 `yaml:"good_counter"`
	// RejectedCounter: units the reject actuator removed.
	RejectedCounter uint16 `yaml:"rejected_counter"`

	// RunningTable holds the line-running bit: "discrete" (default) or "coil".
	RunningTable Table `yaml:"running_table"`
	// Running is true while the conveyor runs.
	Running uint16 `yaml:"running"`

	// RejectRequest (coil): the edge sets it after writing RejectTarget; the
	// PLC latches the target and clears the coil as acknowledgement.
	RejectRequest uint16 `yaml:"reject_request"`
	// RunRequest (coil): written by the edge, true = run, false = stop.
	RunRequest uint16 `yaml:"run_request"`

	// RejectTarget (two holding registers): trigger number of the unit to reject.
	RejectTarget uint16 `yaml:"reject_target"`
	// StackLight (holding register): written by the edge, see StackLight.
	StackLight uint16 `yaml:"stack_light"`
	// Alarms (holding register): bit per alarm, see AlarmWord. The edge may
	// write it to reset alarms whose cause has gone.
	Alarms uint16 `yaml:"alarms"`

	// EdgeHeartbeat (holding register): the edge writes a new value (1 ..
	// 65535, never 0) at least every heartbeat_interval; the PLC stops the
	// line when it has not changed for its watchdog time (AlarmEdgeWatchdog).
	// 0 means the edge left on purpose with the line stopped. See README.
	EdgeHeartbeat uint16 `yaml:"edge_heartbeat"`
	// PLCHeartbeat (in CounterTable, like the counters): the PLC program
	// changes it every cycle or so; the edge raises an alarm when it has not
	// changed for plc_heartbeat_timeout.
	PLCHeartbeat uint16 `yaml:"plc_heartbeat"`

	// WordOrder of every 32-bit value: "high_first" (default) or "low_first".
	WordOrder WordOrder `yaml:"word_order"`
}

// DefaultRegisterMap is the map of the Serialine reference PLC program and
// of the PLC simulator.
//
//	coil 0            reject_request      holding 0-1   reject_target
//	coil 1            run_request         holding 2     stack_light
//	discrete input 0  running             holding 3     alarms
//	input 0-1         trigger_counter     holding 4     edge_heartbeat
//	input 2-3         good_counter        input 6       plc_heartbeat
//	input 4-5         rejected_counter
func DefaultRegisterMap() RegisterMap {
	return RegisterMap{
		CounterTable:    InputRegisters,
		TriggerCounter:  0,
		GoodCounter:     2,
		RejectedCounter: 4,
		RunningTable:    DiscreteInputs,
		Running:         0,
		RejectRequest:   0,
		RunRequest:      1,
		RejectTarget:    0,
		StackLight:      2,
		Alarms:          3,
		EdgeHeartbeat:   4,
		PLCHeartbeat:    6,
		WordOrder:       HighWordFirst,
	}
}

// UnmarshalYAML starts from DefaultRegisterMap so that a config names only
// the addresses that differ.
func (m *RegisterMap) UnmarshalYAML(n *yaml.Node) error {
	type plain RegisterMap
	p := plain(DefaultRegisterMap())
	if err := n.Decode(&p); err != nil {
		return err
	}
	*m = RegisterMap(p)
	return nil
}

// WithDefaults returns the default map for a zero map, and fills the
// tables and word order left empty.
func (m RegisterMap) WithDefaults() RegisterMap {
	if m == (RegisterMap{}) {
		return DefaultRegisterMap()
	}
	if m.CounterTable == "" {
		m.CounterTable = InputRegisters
	}
	if m.RunningTable == "" {
		m.RunningTable = DiscreteInputs
	}
	if m.WordOrder == "" {
		m.WordOrder = HighWordFirst
	}
	return m
}

// Item is one signal of the map.
type Item struct {
	Key        string // YAML key, one of the Key… constants
	Table      Table
	Address    uint16
	Width      uint16 // registers (or bits) used: 2 for 32-bit values
	EdgeWrites bool   // written by the edge; otherwise only the PLC writes it
}

// Last is the highest address the item uses.
func (it Item) Last() uint16 { return it.Address + it.Width - 1 }

func (it Item) String() string {
	if it.Width == 1 {
		return fmt.Sprintf("%s (%s %d)", it.Key, it.Table.describe(), it.Address)
	}
	return fmt.Sprintf("%s (%s %d-%d)", it.Key, it.Table.describe(), it.Address, int(it.Address)+int(it.Width)-1)
}

// Items lists every signal of the map (defaults applied), ordered by table
// and address.
func (m RegisterMap) Items() []Item {
	m = m.WithDefaults()
	items := []Item{
		{KeyTriggerCounter, m.CounterTable, m.TriggerCounter, 2, false},
		{KeyGoodCounter, m.CounterTable, m.GoodCounter, 2, false},
		{KeyRejectedCounter, m.CounterTable, m.RejectedCounter, 2, false},
		{KeyRunning, m.RunningTable, m.Running, 1, false},
		{KeyRejectRequest, Coils, m.RejectRequest, 1, true},
		{KeyRunRequest, Coils, m.RunRequest, 1, true},
		{KeyRejectTarget, HoldingRegisters, m.RejectTarget, 2, true},
		{KeyStackLight, HoldingRegisters, m.StackLight, 1, true},
		{KeyAlarms, HoldingRegisters, m.Alarms, 1, true},
		{KeyEdgeHeartbeat, HoldingRegisters, m.EdgeHeartbeat, 1, true},
		{KeyPLCHeartbeat, m.CounterTable, m.PLCHeartbeat, 1, false},
	}
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Table != items[j].Table {
			return items[i].Table < items[j].Table
		}
		return items[i].Address < items[j].Address
	})
	return items
}

// Validate checks the map (defaults applied) and names the key that breaks
// a rule.
func (m RegisterMap) Validate() error {
	m = m.WithDefaults()
	if m.CounterTable != InputRegisters && m.CounterTable != HoldingRegisters {
		return fmt.Errorf("map: counter_table %q: want %q or %q", m.CounterTable, InputRegisters, HoldingRegisters)
	}
	if m.RunningTable != DiscreteInputs && m.RunningTable != Coils {
		return fmt.Errorf("map: running_table %q: want %q or %q", m.RunningTable, DiscreteInputs, Coils)
	}
	if m.WordOrder != HighWordFirst && m.WordOrder != LowWordFirst {
		return fmt.Errorf("map: word_order %q: want %q or %q", m.WordOrder, HighWordFirst, LowWordFirst)
	}
	items := m.Items()
	for i, a := range items {
		if int(a.Address)+int(a.Width)-1 > 0xFFFF {
			return fmt.Errorf("map: %s: a 32-bit value needs two registers; the last address is 65535", a.Key)
		}
		for _, b := range items[:i] {
			if a.Table == b.Table && a.Address <= b.Last() && b.Address <= a.Last() {
				return fmt.Errorf("map: %s overlaps %s", a, b)
			}
		}
	}
	return nil
}

// AlarmWord is the PLC's alarm register, one bit per alarm.
type AlarmWord uint16

// Alarm bits. Every bit but AlarmRejectMissed stops the line.
const (
	AlarmJam           AlarmWord = 1 << 0 // conveyor jam: line stopped
	AlarmEStop         AlarmWord = 1 << 1 // emergency stop pressed
	AlarmRejectBinFull AlarmWord = 1 << 2 // reject bin full: no unit may be rejected
	AlarmLowAir        AlarmWord = 1 << 3 // compressed air below minimum: reject actuator unusable
	AlarmGuardOpen     AlarmWord = 1 << 4 // guard door open
	AlarmRejectMissed  AlarmWord = 1 << 5 // a reject request named a unit not on the conveyor (too late or unknown)
	// AlarmEdgeWatchdog: the edge's heartbeat stopped changing for the PLC's
	// watchdog time; the PLC stopped the line and rejects the units that were
	// on the conveyor. Latched until the heartbeat is back and the edge resets it.
	AlarmEdgeWatchdog AlarmWord = 1 << 6
)

// AlarmStopsLine is the set of alarms during which the PLC keeps the line stopped.
const AlarmStopsLine = AlarmJam | AlarmEStop | AlarmRejectBinFull | AlarmLowAir | AlarmGuardOpen | AlarmEdgeWatchdog

// alarmNames is a function rather than a package variable so that nothing
// can change the table at run time.
func alarmNames() []struct {
	bit  AlarmWord
	name string
} {
	return []struct {
		bit  AlarmWord
		name string
	}{
		{AlarmJam, "jam"},
		{AlarmEStop, "e-stop"},
		{AlarmRejectBinFull, "reject-bin-full"},
		{AlarmLowAir, "low-air"},
		{AlarmGuardOpen, "guard-open"},
		{AlarmRejectMissed, "reject-missed"},
		{AlarmEdgeWatchdog, "edge-watchdog"},
	}
}

// Has reports whether every bit of b is set.
func (a AlarmWord) Has(b AlarmWord) bool { return a&b == b }

// Names lists the alarms set, unknown bits as "bit N".
func (a AlarmWord) Names() []string {
	var names []string
	known := AlarmWord(0)
	for _, n := range alarmNames() {
		known |= n.bit
		if a&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	for bit := 0; bit < 16; bit++ {
		if a&^known&(1<<bit) != 0 {
			names = append(names, fmt.Sprintf("bit %d", bit))
		}
	}
	return names
}

func (a AlarmWord) String() string {
	if a == 0 {
		return "none"
	}
	return strings.Join(a.Names(), "|")
}

// StackLight is the stack-light register: a colour in bits 0-1, and
// StackBlink (bit 8) to make it flash.
type StackLight uint16

// Stack-light values.
const (
	StackOff   StackLight = 0
	StackGreen StackLight = 1
	StackAmber StackLight = 2
	StackRed   StackLight = 3
	StackBlink StackLight = 1 << 8
)

// Colour returns s without the blink bit.
func (s StackLight) Colour() StackLight { return s & 3 }

// Blinking reports whether the blink bit is set.
func (s StackLight) Blinking() bool { return s&StackBlink != 0 }

// Validate rejects bits outside the colour and blink fields.
func (s StackLight) Validate() error {
	if s&^(StackBlink|3) != 0 {
		return fmt.Errorf("stack light %#04x: only bits 0-1 (colour) and 8 (blink) may be set", uint16(s))
	}
	return nil
}

func (s StackLight) String() string {
	name := [...]string{"off", "green", "amber", "red"}[s.Colour()]
	if s.Blinking() {
		name += " blinking"
	}
	if s&^(StackBlink|3) != 0 {
		name += fmt.Sprintf(" (invalid %#04x)", uint16(s))
	}
	return name
}
