package line

import (
	"bytes"
	"fmt"
	"image"
	"image/png"

	"github.com/serialine/serialine/shared/gs1"
	plcsim "github.com/serialine/serialine/simulators/plc"
)

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
