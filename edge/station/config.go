package station

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/shared/wire"
)

// Defaults applied by Config.WithDefaults.
const (
	DefaultCameraGuard  = 0.3
	DefaultMonitorEvery = 250 * time.Millisecond
	DefaultPrinterPoll  = time.Second
	DefaultFIFO         = 4096
)

// Config describes the line's geometry and the station's checks.
type Config struct {
	// Line is the line id.
	Line string
	// PrinterToCamera and CameraToReject are distances along the conveyor
	// in pitches (the gap between two products): from the trigger (print
	// station) to the camera, and from the camera to the reject station.
	PrinterToCamera, CameraToReject float64
	// PrintWindow is how long, in pitches, a unit stays at the print
	// station (default 0.8: a print-and-apply head labels each unit before
	// the next one comes). Below one pitch a late label ends up on the next
	// unit, and the station leaves a unit unprinted to take it up.
	PrintWindow float64
	// Jitter is the variation of the pitch, in percent.
	Jitter float64
	// CameraGuard is the tolerance, in pitches, of the position checks that
	// match results to units (see match.go): default 0.3.
	CameraGuard float64
	// TriggerLag is how late a trigger may reach the station after the
	// product passed the photo-eye (the PLC poll interval).
	TriggerLag time.Duration
	// MinGrade is the lowest acceptable print grade when the order names
	// none (default C).
	MinGrade scanner.Grade
	// TextLines is the label layout's number of text lines.
	TextLines int
	// MonitorEvery is how often device health is checked; PrinterPoll how
	// often the printer is asked for its status (~HS).
	MonitorEvery, PrinterPoll time.Duration
	// FIFO is the most units tracked between print station and camera.
	FIFO int
	// Operator is put on the events (who is logged in at the line).
	Operator string

	// MaxConsecutiveRejects rejected units in a row stop the line (5).
	MaxConsecutiveRejects int
	// MaxRejectRate (percent, default 5) of the last RejectRateWindow
	// units (200) rejected stop the line.
	MaxRejectRate    float64
	RejectRateWindow int
	// Overrun is how many units beyond the order's quantity may be
	// printed while units are in flight (0: an order ends with exactly its
	// quantity commissioned).
	Overrun uint64
	// AllowancePercent of the quantity, at least AllowanceMin units, is
	// the reject allowance of an order that does not carry one (5 %, 50).
	AllowancePercent float64
	AllowanceMin     uint64
	// Now is the line PC's clock (time.Now); expiry is judged by it.
	Now func() time.Time
}

// WithDefaults fills unset fields.
func (c Config) WithDefaults() Config {
	if c.CameraGuard == 0 {
		c.CameraGuard = DefaultCameraGuard
	}
	if c.PrintWindow == 0 {
		c.PrintWindow = 0.8
	}
	if c.MinGrade == scanner.GradeNone {
		c.MinGrade = scanner.GradeC
	}
	if c.TextLines == 0 {
		c.TextLines = 5
	}
	if c.MonitorEvery == 0 {
		c.MonitorEvery = DefaultMonitorEvery
	}
	if c.PrinterPoll == 0 {
		c.PrinterPoll = DefaultPrinterPoll
	}
	if c.FIFO == 0 {
		c.FIFO = DefaultFIFO
	}
	if c.MaxConsecutiveRejects == 0 {
		c.MaxConsecutiveRejects = DefaultMaxConsecutiveRejects
	}
	if c.MaxRejectRate == 0 {
		c.MaxRejectRate = DefaultMaxRejectRate
	}
	if c.RejectRateWindow == 0 {
		c.RejectRateWindow = DefaultRejectRateWindow
	}
	if c.AllowancePercent == 0 {
		c.AllowancePercent = DefaultAllowancePercent
	}
	if c.AllowanceMin == 0 {
		c.AllowanceMin = DefaultAllowanceMin
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate names the first bad key.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if err := wire.ValidateLine(c.Line); err != nil {
		return fmt.Errorf("station: line: %w", err)
	}
	for _, kv := range []struct {
		key string
		v   float64
	}{{"printer_to_camera", c.PrinterToCamera}, {"camera_to_reject", c.CameraToReject}, {"camera_guard", c.CameraGuard}, {"print_window", c.PrintWindow}} {
		if math.IsNaN(kv.v) || kv.v <= 0 || kv.v > 1000 {
			return fmt.Errorf("station: %s: must be more than 0 and at most 1000 pitches, got %v", kv.key, kv.v)
		}
	}
	if c.PrintWindow > c.PrinterToCamera {
		return fmt.Errorf("station: print_window: must not exceed printer_to_camera (%v pitches), got %v", c.PrinterToCamera, c.PrintWindow)
	}
	if c.Jitter < 0 || c.Jitter >= 50 || math.IsNaN(c.Jitter) {
		return fmt.Errorf("station: jitter: must be 0 to under 50 %%, got %v", c.Jitter)
	}
	if late := c.PrinterToCamera*c.Jitter/(100-c.Jitter) + c.CameraGuard; late >= c.CameraToReject {
		return fmt.Errorf("station: camera_to_reject: a unit with no result is known to have passed the camera %.2f pitches after it could have, so the reject station must be farther than that, got %v", late, c.CameraToReject)
	}
	if c.TriggerLag < 0 {
		return fmt.Errorf("station: trigger_lag: must not be negative, got %v", c.TriggerLag)
	}
	if !c.MinGrade.Valid() || c.MinGrade == scanner.GradeF {
		return fmt.Errorf("station: min_grade: want A, B, C or D, got %v", c.MinGrade)
	}
	if c.TextLines < 1 || c.TextLines > maxText {
		return fmt.Errorf("station: text_lines: must be 1..%d, got %d", maxText, c.TextLines)
	}
	if c.MonitorEvery < 0 || c.PrinterPoll < 0 {
		return errors.New("station: monitor_every, printer_poll: must not be negative")
	}
	if c.FIFO < 16 {
		return fmt.Errorf("station: fifo: must be at least 16 units, got %d", c.FIFO)
	}
	if c.MaxConsecutiveRejects < 1 || c.MaxConsecutiveRejects > 1000 {
		return fmt.Errorf("station: max_consecutive_rejects: must be 1..1000 units, got %d", c.MaxConsecutiveRejects)
	}
	if math.IsNaN(c.MaxRejectRate) || c.MaxRejectRate <= 0 || c.MaxRejectRate > 100 {
		return fmt.Errorf("station: max_reject_rate: must be more than 0 and at most 100 %%, got %v", c.MaxRejectRate)
	}
	if c.RejectRateWindow < 10 || c.RejectRateWindow > 100000 {
		return fmt.Errorf("station: reject_rate_window: must be 10..100000 units, got %d", c.RejectRateWindow)
	}
	if c.Overrun > 1000 {
		return fmt.Errorf("station: overrun: must be 0..1000 units, got %d", c.Overrun)
	}
	if math.IsNaN(c.AllowancePercent) || c.AllowancePercent < 0 || c.AllowancePercent > 100 {
		return fmt.Errorf("station: reject_allowance_percent: must be 0 to 100 %%, got %v", c.AllowancePercent)
	}
	return nil
}
