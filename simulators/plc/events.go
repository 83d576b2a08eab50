package plcsim

import (
	"fmt"

	"github.com/serialine/serialine/drivers/plc"
)

// EventKind says what happened to a unit.
type EventKind int

func (k EventKind) String() string {
	switch k {
	case UnitEntered:
		return "entered"
	case UnitAtStation:
		return "at-station"
	case UnitKept:
		return "kept"
	case UnitRejected:
		return "rejected"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one step of a unit's way down the conveyor.
type Event struct {
	Kind     EventKind
	Unit     uint32  // trigger number
	Station  string  // for UnitAtStation
	Position float64 // conveyor position (pitches) when it happened
}

// Fault is a failure a maintenance tech (or a test) can switch on and off.
type Fault string

// Faults lists every fault SetFault knows.
func Faults() []Fault {
	return []Fault{FaultJam, FaultEStop, FaultRejectBinFull, FaultLowAir, FaultGuardOpen, FaultDisconnect, FaultProgramStopped}
}

func (f Fault) alarm() plc.AlarmWord {
	switch f {
	case FaultJam:
		return plc.AlarmJam
	case FaultEStop:
		return plc.AlarmEStop
	case FaultRejectBinFull:
		return plc.AlarmRejectBinFull
	case FaultLowAir:
		return plc.AlarmLowAir
	case FaultGuardOpen:
		return plc.AlarmGuardOpen
	}
	return 0
}
