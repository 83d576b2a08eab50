package line

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/serialine/serialine/shared/netaddr"
	"github.com/serialine/serialine/shared/yamlconfig"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/drivers/scanner"
	plcsim "github.com/serialine/serialine/simulators/plc"
)

// Limits checked by Validate.
const (
	MinSpeed      = 1
	MaxSpeed      = 100000
	MaxJitter     = 50
	MaxTravel     = 1000
	MaxLabelsKept = 200
)

// Config is one simulated packaging line. Its YAML form is
// configs/sim-line.yaml, where every key is explained.
type Config struct {
	// Line is the line id shown on the web page and in the logs.
	Line string `yaml:"line"`
	// Speed is the conveyor speed in units per minute.
	Speed int `yaml:"speed"`
	// Jitter varies the gap between two products by up to ± this percentage
	// of the pitch.
	Jitter float64 `yaml:"jitter"`
	// Seed seeds the pseudo-random generators (jitter and the faults drawn at
	// a rate), so that a run can be repeated.
	Seed uint64 `yaml:"seed"`
	// Units stops the infeed after this many products (a batch); 0 feeds
	// without end. The conveyor keeps running so the last units reach the
	// reject station.
	Units int `yaml:"units"`
	// Fast skips imaging: the printer does not rasterise and the scanner
	// reports the printed content without decoding pixels (load tests).
	Fast bool `yaml:"fast"`
	// Travel places the stations along the conveyor, in pitches.
	Travel Travel `yaml:"travel"`
	// Printer is the label printer at the print station.
	Printer PrinterConfig `yaml:"printer"`
	// Scanner is the vision scanner (the camera).
	Scanner ScannerConfig `yaml:"scanner"`
	// PLC is the line PLC (Modbus TCP server) with the reject station.
	PLC PLCConfig `yaml:"plc"`
	// HTTP is the technician web page's listen address, host:port.
	HTTP string `yaml:"http"`
	// PrintLog, if set, is a file that gets one JSON line per printed label.
	PrintLog string `yaml:"print_log"`
	// Log is the process log (stderr): level and format.
	Log yamlconfig.Log `yaml:"log"`
	// LabelsKept is how many of the last printed labels the web page shows.
	LabelsKept int `yaml:"labels_kept"`

	// Manual stops the conveyor's clock: products enter only by Line.Trigger
	// and the conveyor moves only by Line.Advance, so that tests and
	// benchmarks step the line deterministically. Not in the YAML form.
	Manual bool `yaml:"-"`
}

// Travel gives distances along the conveyor in pitches (the gap between two
// products), so that the layout scales with the speed.
type Travel struct {
	// PrintWindow is how many pitches a unit spends at the print station
	// after its trigger: a label printed later than that misses it.
	PrintWindow float64 `yaml:"print_window"`
	// PrinterToCamera is the distance from the print station (trigger) to the
	// camera.
	PrinterToCamera float64 `yaml:"printer_to_camera"`
	// CameraToReject is the distance from the camera to the reject station.
	CameraToReject float64 `yaml:"camera_to_reject"`
}

// PrinterConfig is the simulated label printer.
type PrinterConfig struct {
	// Listen is "tcp:HOST:PORT" (raw ZPL like port 9100) or "pty".
	Listen string `yaml:"listen"`
	// DPI is the print resolution: 152, 203, 300 or 600.
	DPI int `yaml:"dpi"`
	// Faults are switched on at start.
	Faults PrinterFaults `yaml:"faults"`
}

// ScannerConfig is the simulated vision scanner.
type ScannerConfig struct {
	// Listen is "tcp:HOST:PORT" or "pty".
	Listen string `yaml:"listen"`
	// Format is the result-line syntax (drivers/scanner.Format).
	Format scanner.Format `yaml:"format"`
	// Faults are switched on at start.
	Faults ScannerFaults `yaml:"faults"`
}

// PLCConfig is the simulated line PLC.
type PLCConfig struct {
	// Listen is the Modbus TCP address, host:port.
	Listen string `yaml:"listen"`
	// UnitID is the Modbus unit (slave) id the PLC answers to.
	UnitID uint8 `yaml:"unit_id"`
	// Map is the register map (drivers/plc.RegisterMap).
	Map plc.RegisterMap `yaml:"map"`
	// StartStopped leaves the run request off at start: the conveyor waits
	// for the edge (run_request coil) or the web page to start it.
	StartStopped bool `yaml:"start_stopped"`
	// Faults are switched on at start.
	Faults PLCFaults `yaml:"faults"`
	// Watchdog is how long the agent's heartbeat may stand still before the
	// PLC stops the line, raises edge-watchdog and rejects the units on the
	// conveyor (simulators/plc); it arms at the agent's first heartbeat.
	Watchdog time.Duration `yaml:"watchdog"`
}

// PrinterFaults are the printer's switchable faults.
type PrinterFaults struct {
	PaperOut  bool    `yaml:"paper_out" json:"paper_out"`
	RibbonOut bool    `yaml:"ribbon_out" json:"ribbon_out"`
	HeadOpen  bool    `yaml:"head_open" json:"head_open"`
	Pause     bool    `yaml:"pause" json:"pause"`
	SlowMS    int     `yaml:"slow_ms" json:"slow_ms"` // extra milliseconds per label
	Drop      bool    `yaml:"drop" json:"drop"`       // accept jobs, print nothing
	Smudge    float64 `yaml:"smudge" json:"smudge"`   // share of dark modules erased, 0..1
}

// ScannerFaults are the scanner's switchable faults.
type ScannerFaults struct {
	NoReadRate    float64 `yaml:"no_read_rate" json:"no_read_rate"`       // 0..1
	WrongCodeRate float64 `yaml:"wrong_code_rate" json:"wrong_code_rate"` // 0..1
	GradeDrop     bool    `yaml:"grade_drop" json:"grade_drop"`
	Offline       bool    `yaml:"offline" json:"offline"`
}

// PLCFaults are the PLC's switchable faults.
type PLCFaults struct {
	Stop       bool `yaml:"stop" json:"stop"` // jam: conveyor stopped, alarm bit set
	Disconnect bool `yaml:"disconnect" json:"disconnect"`
}

// MaxSlowMS bounds the printer's slow fault.
const MaxSlowMS = 60000

// DefaultConfig is the configuration a missing key falls back to.
func DefaultConfig() Config {
	return Config{
		Line:   "L1",
		Speed:  300,
		Jitter: 5,
		Seed:   1,
		Travel: Travel{PrintWindow: 2, PrinterToCamera: 4, CameraToReject: 3},
		Printer: PrinterConfig{
			Listen: "tcp:127.0.0.1:9100",
			DPI:    300,
		},
		Scanner: ScannerConfig{Listen: "tcp:127.0.0.1:9004"},
		PLC: PLCConfig{
			Listen:   "127.0.0.1:5020",
			UnitID:   1,
			Map:      plc.DefaultRegisterMap(),
			Watchdog: plcsim.DefaultWatchdog,
		},
		HTTP:       "127.0.0.1:0",
		LabelsKept: 12,
	}
}

// LoadConfig reads a YAML configuration file; see ParseConfig.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig reads a YAML configuration over DefaultConfig and validates it.
// An unknown key is an error naming it (with its full path, e.g.
// "scanner.format.prefx"), and so is a value of the wrong type.
func ParseConfig(r io.Reader) (Config, error) {
	return yamlconfig.Parse(r, DefaultConfig())
}

// Validate checks every key and names the first bad one and the rule it
// breaks, e.g. `speed: must be between 1 and 100000 units/min, got 0`.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Line) == "" {
		return errors.New("line: must name the line (e.g. L1), got an empty id")
	}
	if c.Speed < MinSpeed || c.Speed > MaxSpeed {
		return fmt.Errorf("speed: must be between %d and %d units/min, got %d", MinSpeed, MaxSpeed, c.Speed)
	}
	if !inRange(c.Jitter, 0, MaxJitter) {
		return fmt.Errorf("jitter: must be between 0 and %d %% of the pitch, got %v", MaxJitter, c.Jitter)
	}
	if c.Units < 0 {
		return fmt.Errorf("units: must be 0 (no limit) or a number of products, got %d", c.Units)
	}
	if err := c.Travel.validate(); err != nil {
		return err
	}
	if _, err := ParseListen(c.Printer.Listen); err != nil {
		return fmt.Errorf("printer.listen: %w", err)
	}
	switch c.Printer.DPI {
	case 152, 203, 300, 600:
	default:
		return fmt.Errorf("printer.dpi: must be 152, 203, 300 or 600, got %d", c.Printer.DPI)
	}
	if err := c.Printer.Faults.validate("printer.faults."); err != nil {
		return err
	}
	if _, err := ParseListen(c.Scanner.Listen); err != nil {
		return fmt.Errorf("scanner.listen: %w", err)
	}
	if err := c.Scanner.Format.Validate(); err != nil {
		return fmt.Errorf("scanner.%w", err)
	}
	if err := c.Scanner.Faults.validate("scanner.faults."); err != nil {
		return err
	}
	if err := netaddr.CheckListen(c.PLC.Listen); err != nil {
		return fmt.Errorf("plc.listen: %w", err)
	}
	if c.PLC.UnitID == 0 || c.PLC.UnitID > 247 {
		return fmt.Errorf("plc.unit_id: must be between 1 and 247 (Modbus unit id), got %d", c.PLC.UnitID)
	}
	if err := c.PLC.Map.Validate(); err != nil {
		return fmt.Errorf("plc.%w", err)
	}
	if c.PLC.Watchdog < 100*time.Millisecond || c.PLC.Watchdog > time.Hour {
		return fmt.Errorf("plc.watchdog: must be between 100ms and 1h, got %v", c.PLC.Watchdog)
	}
	if err := netaddr.CheckListen(c.HTTP); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	if err := c.Log.Validate("log"); err != nil {
		return err
	}
	if c.PrintLog != "" && strings.TrimSpace(c.PrintLog) != c.PrintLog {
		return fmt.Errorf("print_log: %q has leading or trailing spaces", c.PrintLog)
	}
	if c.LabelsKept < 1 || c.LabelsKept > MaxLabelsKept {
		return fmt.Errorf("labels_kept: must be between 1 and %d, got %d", MaxLabelsKept, c.LabelsKept)
	}
	return nil
}

func (t Travel) validate() error {
	for _, kv := range []struct {
		key string
		v   float64
	}{
		{"travel.print_window", t.PrintWindow},
		{"travel.printer_to_camera", t.PrinterToCamera},
		{"travel.camera_to_reject", t.CameraToReject},
	} {
		if !inRange(kv.v, 0, MaxTravel) || kv.v == 0 {
			return fmt.Errorf("%s: must be more than 0 and at most %d pitches, got %v", kv.key, MaxTravel, kv.v)
		}
	}
	if t.PrintWindow > t.PrinterToCamera {
		return fmt.Errorf("travel.print_window: must not exceed travel.printer_to_camera (%v pitches): a unit leaves the print station before it reaches the camera, got %v", t.PrinterToCamera, t.PrintWindow)
	}
	return nil
}

func (f PrinterFaults) validate(prefix string) error {
	if f.SlowMS < 0 || f.SlowMS > MaxSlowMS {
		return fmt.Errorf("%sslow_ms: must be between 0 and %d ms per label, got %d", prefix, MaxSlowMS, f.SlowMS)
	}
	if !inRange(f.Smudge, 0, 1) {
		return fmt.Errorf("%ssmudge: must be a share between 0 and 1, got %v", prefix, f.Smudge)
	}
	return nil
}

func (f ScannerFaults) validate(prefix string) error {
	if !inRange(f.NoReadRate, 0, 1) {
		return fmt.Errorf("%sno_read_rate: must be a rate between 0 and 1, got %v", prefix, f.NoReadRate)
	}
	if !inRange(f.WrongCodeRate, 0, 1) {
		return fmt.Errorf("%swrong_code_rate: must be a rate between 0 and 1, got %v", prefix, f.WrongCodeRate)
	}
	return nil
}

func inRange(v, lo, hi float64) bool {
	return !math.IsNaN(v) && v >= lo && v <= hi
}

// Listen is a parsed device listen spec.
type Listen struct {
	// PTY is true for "pty": the simulator makes a pseudo-terminal pair and
	// the agent opens its slave path like a serial port.
	PTY bool
	// Addr is the TCP host:port when PTY is false.
	Addr string
}

// String gives the spec form back.
func (l Listen) String() string {
	if l.PTY {
		return "pty"
	}
	return "tcp:" + l.Addr
}

// ParseListen parses "tcp:HOST:PORT" or "pty".
func ParseListen(spec string) (Listen, error) {
	if spec == "pty" {
		return Listen{PTY: true}, nil
	}
	addr, ok := strings.CutPrefix(spec, "tcp:")
	if !ok {
		return Listen{}, fmt.Errorf("must be tcp:HOST:PORT or pty, got %q", spec)
	}
	if err := netaddr.CheckListen(addr); err != nil {
		return Listen{}, err
	}
	return Listen{Addr: addr}, nil
}
