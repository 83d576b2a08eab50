package line

import (
	"strconv"
	"time"
)

// Status is a snapshot of the line: GET /api/status.
type Status struct {
	Line    string `json:"line"`
	Fast    bool   `json:"fast"`
	Running bool   `json:"running"`
	Speed   int    `json:"speed"` // units/min
	// PLCAlarms names the PLC's alarms (drivers/plc.AlarmWord), e.g.
	// "edge-watchdog" when the agent's heartbeat stopped.
	PLCAlarms []string `json:"plc_alarms"`
	Devices   Devices  `json:"devices"`
	Counters  Counters `json:"counters"`
	Faults    Faults   `json:"faults"`
	// Labels are the last printed labels, newest first.
	Labels []LabelInfo `json:"labels"`
}

// Devices says what the agent should connect to.
type Devices struct {
	// Printer is "tcp:HOST:PORT" or "serial:/dev/pts/N".
	Printer string `json:"printer"`
	// Scanner is "tcp:HOST:PORT" or "serial:/dev/pts/N".
	Scanner string `json:"scanner"`
	// PLC is the Modbus TCP host:port.
	PLC       string `json:"plc"`
	PLCUnitID uint8  `json:"plc_unit_id"`
	// HTTP is the technician page's URL.
	HTTP string `json:"http"`
}

// Counters count what happened on the line since it started.
type Counters struct {
	// Triggers counts products that entered the print station.
	Triggers uint64 `json:"triggers"`
	// Printed counts labels the printer produced (dropped jobs excluded).
	Printed uint64 `json:"printed"`
	// Dropped counts jobs the printer accepted and did not print (the drop
	// fault).
	Dropped uint64 `json:"dropped"`
	// Applied counts labels put on a unit. Held is the number of printed
	// labels waiting on the applicator because no unlabelled unit was at the
	// print station; the next units to enter take them.
	Applied uint64 `json:"applied"`
	Held    int    `json:"held"`
	// Blank counts units that left the print station without a label.
	Blank uint64 `json:"blank"`
	// Scanned counts units the camera inspected (one result line each,
	// while the scanner is online); NoReads counts the no-read results
	// among them, Misreads the reads whose data differ from the label.
	Scanned  uint64 `json:"scanned"`
	NoReads  uint64 `json:"no_reads"`
	Misreads uint64 `json:"misreads"`
	// Unsent counts units the camera inspected while the scanner was
	// offline: no result line went out.
	Unsent uint64 `json:"unsent"`
	// Good and Rejected count units that passed the reject station.
	Good     uint64 `json:"good"`
	Rejected uint64 `json:"rejected"`
	// InFlight is the number of units on the conveyor between the print
	// station and the reject station.
	InFlight int `json:"in_flight"`
}

// counterRow is one line of the page's counter table.
type counterRow struct {
	Key, Name, Value string
}

// Rows lists the counters for the page, keyed like the JSON.
func (c Counters) Rows() []counterRow {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	return []counterRow{
		{"triggers", "triggers (units in)", u(c.Triggers)},
		{"printed", "labels printed", u(c.Printed)},
		{"dropped", "jobs dropped by the printer", u(c.Dropped)},
		{"applied", "labels applied", u(c.Applied)},
		{"held", "labels waiting on the applicator", strconv.Itoa(c.Held)},
		{"blank", "units left blank", u(c.Blank)},
		{"scanned", "units scanned", u(c.Scanned)},
		{"no_reads", "no-reads", u(c.NoReads)},
		{"misreads", "misreads", u(c.Misreads)},
		{"unsent", "results not sent (scanner offline)", u(c.Unsent)},
		{"good", "good", u(c.Good)},
		{"rejected", "rejected", u(c.Rejected)},
		{"in_flight", "on the conveyor", strconv.Itoa(c.InFlight)},
	}
}

// LabelInfo describes one of the last printed labels.
type LabelInfo struct {
	// Seq is the printer's label number; the image is at PNG.
	Seq int `json:"seq"`
	// Unit is the trigger number of the unit the label went on, 0 if none.
	Unit uint32    `json:"unit,omitempty"`
	At   time.Time `json:"at"`
	// Data is the symbol's content in transmitted form (GS separators);
	// ElementString its bracketed form when it is valid GS1.
	Data          string `json:"data"`
	ElementString string `json:"element_string,omitempty"`
	// PNG is the image's URL path; empty in fast mode (nothing rasterised).
	PNG string `json:"png,omitempty"`
}
