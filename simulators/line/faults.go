package line

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// FaultChange switches one fault: the body of POST /api/faults, e.g.
// {"device": "printer", "fault": "paper_out", "value": true} or
// {"device": "scanner", "fault": "no_read_rate", "value": 0.1} or
// {"device": "line", "fault": "speed", "value": 1200}.
type FaultChange struct {
	Device string          `json:"device"`
	Fault  string          `json:"fault"`
	Value  json.RawMessage `json:"value"`
}

// Faults is the state of every switchable fault.
type Faults struct {
	Printer PrinterFaults `json:"printer"`
	Scanner ScannerFaults `json:"scanner"`
	PLC     PLCFaults     `json:"plc"`
	Line    LineFaults    `json:"line"`
}

// LineFaults are the conveyor's run-time settings a technician changes.
type LineFaults struct {
	// Speed is the conveyor speed in units/min.
	Speed int `json:"speed"`
	// Run is the run request, as the panel's start/stop buttons or the
	// edge's run_request coil set it (the PLC still stops on a jam).
	Run bool `json:"run"`
	// Starved stops the infeed: no product arrives while the conveyor keeps
	// running, as when the line upstream runs dry.
	Starved bool `json:"starved"`
}

// FaultError says which field of a FaultChange is wrong and why; the web API
// answers it with 400.
type FaultError struct {
	Field  string // "device", "fault" or "value"
	Reason string
}

func (e *FaultError) Error() string { return e.Field + ": " + e.Reason }

// valueKind is what a fault's value must look like.
type valueKind int

const (
	kindBool  valueKind = iota // true/false
	kindRate                   // number 0..1
	kindMS                     // whole milliseconds 0..MaxSlowMS
	kindSpeed                  // whole units/min MinSpeed..MaxSpeed
)

// faultDef is one switchable fault: its value kind and how it is stored.
type faultDef struct {
	kind valueKind
	set  func(f *Faults, b bool, n float64)
}

// faultTable lists every fault by device and name; the names are the JSON and
// YAML keys. A function rather than a package variable, so nothing can change
// it.
func faultTable() map[string]map[string]faultDef {
	return map[string]map[string]faultDef{
		"printer": {
			"paper_out":  {kindBool, func(f *Faults, b bool, _ float64) { f.Printer.PaperOut = b }},
			"ribbon_out": {kindBool, func(f *Faults, b bool, _ float64) { f.Printer.RibbonOut = b }},
			"head_open":  {kindBool, func(f *Faults, b bool, _ float64) { f.Printer.HeadOpen = b }},
			"pause":      {kindBool, func(f *Faults, b bool, _ float64) { f.Printer.Pause = b }},
			"slow_ms":    {kindMS, func(f *Faults, _ bool, n float64) { f.Printer.SlowMS = int(n) }},
			"drop":       {kindBool, func(f *Faults, b bool, _ float64) { f.Printer.Drop = b }},
			"smudge":     {kindRate, func(f *Faults, _ bool, n float64) { f.Printer.Smudge = n }},
		},
		"scanner": {
			"no_read_rate":    {kindRate, func(f *Faults, _ bool, n float64) { f.Scanner.NoReadRate = n }},
			"wrong_code_rate": {kindRate, func(f *Faults, _ bool, n float64) { f.Scanner.WrongCodeRate = n }},
			"grade_drop":      {kindBool, func(f *Faults, b bool, _ float64) { f.Scanner.GradeDrop = b }},
			"offline":         {kindBool, func(f *Faults, b bool, _ float64) { f.Scanner.Offline = b }},
		},
		"plc": {
			"stop":       {kindBool, func(f *Faults, b bool, _ float64) { f.PLC.Stop = b }},
			"disconnect": {kindBool, func(f *Faults, b bool, _ float64) { f.PLC.Disconnect = b }},
		},
		"line": {
			"speed":   {kindSpeed, func(f *Faults, _ bool, n float64) { f.Line.Speed = int(n) }},
			"starved": {kindBool, func(f *Faults, b bool, _ float64) { f.Line.Starved = b }},
			"run":     {kindBool, func(f *Faults, b bool, _ float64) { f.Line.Run = b }},
		},
	}
}

func names[V any](m map[string]V) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// apply checks c and applies it to f. It changes nothing when c is invalid.
func (c FaultChange) apply(f *Faults) error {
	table := faultTable()
	dev, ok := table[c.Device]
	if !ok {
		return &FaultError{"device", fmt.Sprintf("want one of %s, got %q", names(table), c.Device)}
	}
	def, ok := dev[c.Fault]
	if !ok {
		return &FaultError{"fault", fmt.Sprintf("%s has %s, got %q", c.Device, names(dev), c.Fault)}
	}
	raw := bytes.TrimSpace(c.Value)
	if len(raw) == 0 {
		return &FaultError{"value", fmt.Sprintf("missing for %s %s", c.Device, c.Fault)}
	}
	if def.kind == kindBool {
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return &FaultError{"value", fmt.Sprintf("%s %s is switched with true or false, got %s", c.Device, c.Fault, raw)}
		}
		def.set(f, b, 0)
		return nil
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err != nil || math.IsNaN(n) {
		return &FaultError{"value", fmt.Sprintf("%s %s takes a number, got %s", c.Device, c.Fault, raw)}
	}
	var lo, hi float64
	var unit string
	whole := true
	switch def.kind {
	case kindRate:
		lo, hi, unit, whole = 0, 1, "(a rate)", false
	case kindMS:
		lo, hi, unit = 0, MaxSlowMS, "ms"
	case kindSpeed:
		lo, hi, unit = MinSpeed, MaxSpeed, "units/min"
	}
	if n < lo || n > hi || (whole && n != math.Trunc(n)) {
		what := "a number"
		if whole {
			what = "a whole number"
		}
		return &FaultError{"value", fmt.Sprintf("%s %s must be %s between %v and %v %s, got %s", c.Device, c.Fault, what, lo, hi, unit, raw)}
	}
	def.set(f, false, n)
	return nil
}

// decodeFaultChange reads a FaultChange from a request body, rejecting
// unknown fields so that a typo is reported rather than ignored.
func decodeFaultChange(body []byte) (FaultChange, error) {
	var c FaultChange
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var ue *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ue) && ue.Field != "":
			return c, &FaultError{ue.Field, fmt.Sprintf("must be a %s, got %s", ue.Type, ue.Value)}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return c, &FaultError{f, "unknown field; want device, fault and value"}
		default:
			return c, &FaultError{"body", "not valid JSON: " + err.Error()}
		}
	}
	return c, nil
}
