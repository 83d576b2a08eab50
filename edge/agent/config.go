package agent

import (
	"bytes"
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
	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/edge/outbox"
	"github.com/serialine/serialine/edge/pool"
	"github.com/serialine/serialine/edge/session"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/edge/ui/pin"
	"github.com/serialine/serialine/shared/wire"
)

// Config is the agent's configuration; configs/edge.yaml documents every
// key.
type Config struct {
	// Line is the line id (topics, events, serial requests).
	Line string `yaml:"line"`
	// DataDir holds the bbolt file (serial pool and outbox).
	DataDir string `yaml:"data_dir"`
	// HTTP is the listen address of /metrics, the state API and the
	// handlers mounted with Handle (the touchscreen).
	HTTP string `yaml:"http"`
	// HTTPServer bounds that server: timeouts and open connections.
	HTTPServer HTTPServerConfig `yaml:"http_server"`
	// Operator is put on the events when no operator is signed in at the
	// touchscreen (or for events the station emits; see edge/README.md).
	Operator string `yaml:"operator"`
	// Operators may sign in at the touchscreen with their PIN; every line
	// action needs a sign-in. None: the screen only shows the line.
	Operators []OperatorConfig `yaml:"operators"`
	// UI tunes the touchscreen's sign-in.
	UI UIConfig `yaml:"ui"`
	// StatusInterval is how often the retained status is republished.
	StatusInterval time.Duration  `yaml:"status_interval"`
	MQTT           MQTTConfig     `yaml:"mqtt"`
	Printer        PrinterConfig  `yaml:"printer"`
	Scanner        scanner.Config `yaml:"scanner"`
	PLC            plc.Config     `yaml:"plc"`
	Station        StationConfig  `yaml:"station"`
	Pool           PoolConfig     `yaml:"pool"`
	Outbox         OutboxConfig   `yaml:"outbox"`
	// Packing is the packing mode (aggregation at the line); see packing.go.
	Packing PackingConfig `yaml:"packing"`
	// Storage watches the free space of the data folder's disk.
	Storage StorageConfig `yaml:"storage"`
	// Log is the process log (stderr): level and format.
	Log yamlconfig.Log `yaml:"log"`
}

// StorageConfig is the free-space watermark of the data folder's disk:
// below WarnFreeMB the touchscreen warns; below StopFreeMB the line stops
// with an alarm before a record could fail to be saved.
type StorageConfig struct {
	WarnFreeMB float64       `yaml:"warn_free_mb"`
	StopFreeMB float64       `yaml:"stop_free_mb"`
	CheckEvery time.Duration `yaml:"check_every"`
}

// OperatorConfig is one operator of the touchscreen (edge/ui converts it
// to ui.OperatorConfig; the agent cannot import the screen, which drives it).
type OperatorConfig struct {
	Name string `yaml:"name"`
	// PINHash is the PIN's "pbkdf2-sha256$<iterations>$<salt>$<key>"
	// (serialine-edge pin-hash makes one); the PIN itself is never stored.
	PINHash string `yaml:"pin_hash"`
	// Role is what they may do at the line: operator (the default),
	// supervisor (also extends a reject allowance and acknowledges the
	// alarms that need a supervisor) or qa (everything, and releases the
	// line after a reject-missed alarm).
	Role station.Role `yaml:"role"`
}

// RoleOrDefault is o's role; operator when none is set.
func (o OperatorConfig) RoleOrDefault() station.Role {
	if o.Role == "" {
		return station.RoleOperator
	}
	return o.Role
}

// UIConfig is the touchscreen's sign-in (zero = the screen's default).
type UIConfig struct {
	// SessionIdle signs an operator out after this long without a touch.
	SessionIdle time.Duration `yaml:"session_idle"`
	// MaxPINFailures wrong PINs (within LockOut) at a screen that has
	// signed in before lock its PIN checks for LockOut;
	// MaxPINFailuresGlobal is the budget every other client shares,
	// whatever its address (edge/ui/pingate.go).
	MaxPINFailures       int           `yaml:"max_pin_failures"`
	MaxPINFailuresGlobal int           `yaml:"max_pin_failures_global"`
	LockOut              time.Duration `yaml:"lock_out"`
	// Hosts are the names (HOST or HOST:PORT) the screen is opened with;
	// other Host headers and Origins are refused. Empty: localhost,
	// 127.0.0.1, [::1] and the http: address, on its port.
	Hosts []string `yaml:"hosts"`
	// PoolWarnMinutes: the pool shows a warning when it will be empty
	// within this many minutes.
	PoolWarnMinutes float64 `yaml:"pool_warn_minutes"`
}

// MQTTConfig is the broker session.
type MQTTConfig struct {
	Broker       string        `yaml:"broker"`
	ClientID     string        `yaml:"client_id"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	KeepAlive    time.Duration `yaml:"keepalive"`
	Connect      time.Duration `yaml:"connect_timeout"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`

	// CAFile, CertFile and KeyFile are the TLS files of an ssl:// broker:
	// the CA to trust (empty: the system's) and the line's client
	// certificate (both or neither; its common name is the line id).
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// PrinterConfig is the label printer: the driver's own configuration (its
// keys inline, see drivers/printer) and what the unit label's layout is
// made from.
type PrinterConfig struct {
	printer.Config `yaml:",inline"`
	DPI            int     `yaml:"dpi"`
	ModuleMM       float64 `yaml:"module_mm"`
	TextLines      int     `yaml:"text_lines"`
}

// StationConfig is the line geometry and the checks.
type StationConfig struct {
	PrinterToCamera float64       `yaml:"printer_to_camera"`
	CameraToReject  float64       `yaml:"camera_to_reject"`
	PrintWindow     float64       `yaml:"print_window"`
	Jitter          float64       `yaml:"jitter"`
	CameraGuard     float64       `yaml:"camera_guard"`
	MinGrade        scanner.Grade `yaml:"min_grade"`
	MonitorEvery    time.Duration `yaml:"monitor_every"`
	PrinterPoll     time.Duration `yaml:"printer_poll"`
	FIFO            int           `yaml:"fifo"`
	// Quality limits: each stops the line with an alarm naming it.
	MaxConsecutiveRejects int     `yaml:"max_consecutive_rejects"`
	MaxRejectRate         float64 `yaml:"max_reject_rate"`
	RejectRateWindow      int     `yaml:"reject_rate_window"`
	// Overrun is how many units beyond the order's quantity may be
	// printed while units are in flight (0: exactly the quantity).
	Overrun uint64 `yaml:"overrun"`
	// The reject allowance of an order that central sent none for.
	RejectAllowancePercent float64 `yaml:"reject_allowance_percent"`
	RejectAllowanceMin     uint64  `yaml:"reject_allowance_min"`
}

// PoolConfig is the serial pool.
type PoolConfig struct {
	ReserveBlock    uint64        `yaml:"reserve_block"`
	LowWaterMinutes float64       `yaml:"low_water_minutes"`
	RefillMinutes   float64       `yaml:"refill_minutes"`
	MinRequest      uint64        `yaml:"min_request"`
	MaxRequest      uint64        `yaml:"max_request"`
	NominalRate     float64       `yaml:"nominal_rate"`
	RequestRetry    time.Duration `yaml:"request_retry"`
}

// OutboxConfig is the event outbox.
type OutboxConfig struct {
	BatchMax    int           `yaml:"batch_max"`
	Linger      time.Duration `yaml:"linger"`
	Window      uint64        `yaml:"window"`
	ResendAfter time.Duration `yaml:"resend_after"`
	CommitMax   int           `yaml:"commit_max"`
	Queue       int           `yaml:"queue"`
	KeepAcked   uint64        `yaml:"keep_acked"`
}

// DefaultConfig is what a key left out falls back to.
func DefaultConfig() Config {
	return Config{
		Line:           "L1",
		DataDir:        "/var/lib/serialine-edge",
		HTTP:           "127.0.0.1:8081",
		HTTPServer:     DefaultHTTPServer(),
		StatusInterval: 5 * time.Second,
		MQTT:           MQTTConfig{Broker: "tcp://127.0.0.1:1883"},
		Printer:        PrinterConfig{Config: printer.Config{Name: "printer"}, DPI: 300, TextLines: 5},
		Scanner:        scanner.Config{Name: "scanner", Format: scanner.Format{Grade: scanner.GradeLetter, AssumeGS1: true}},
		PLC:            plc.Config{Name: "plc", Map: plc.DefaultRegisterMap()},
		Station:        StationConfig{PrinterToCamera: 4, CameraToReject: 3, PrintWindow: 0.8, Jitter: 5, CameraGuard: station.DefaultCameraGuard, MinGrade: scanner.GradeC},
		Packing:        defaultPacking(),
		Storage:        StorageConfig{WarnFreeMB: 512, StopFreeMB: 64, CheckEvery: 5 * time.Second},
		Outbox:         OutboxConfig{KeepAcked: outbox.DefaultKeepAcked},
		Log:            yamlconfig.Log{}.WithDefaults(),
	}
}

// LoadConfig reads a YAML file; see ParseConfig.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(bytes.NewReader(b))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig reads YAML over DefaultConfig and validates the result. An
// unknown key is named with its full path (scanner.format.prefx), and so
// is a value of the wrong type; then Validate names the key whose value
// breaks a rule. Nothing is dialled.
func ParseConfig(r io.Reader) (Config, error) {
	return yamlconfig.Parse(r, DefaultConfig())
}

// Validate checks every key and names the first bad one and its rule.
func (c Config) Validate() error {
	if err := wire.ValidateLine(c.Line); err != nil {
		return fmt.Errorf("line: %w", err)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return errors.New("data_dir: missing (the folder of the serial pool and the outbox)")
	}
	if err := c.Log.Validate("log"); err != nil {
		return err
	}
	if err := netaddr.CheckListen(c.HTTP); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	if err := c.HTTPServer.Validate(); err != nil {
		return err
	}
	if c.StatusInterval <= 0 {
		return fmt.Errorf("status_interval: must be positive, got %v", c.StatusInterval)
	}
	if st := c.Storage; math.IsNaN(st.StopFreeMB) || st.StopFreeMB < 0 || math.IsNaN(st.WarnFreeMB) || st.WarnFreeMB < st.StopFreeMB {
		return fmt.Errorf("storage: warn_free_mb, stop_free_mb: want 0 <= stop_free_mb <= warn_free_mb, got %v and %v", st.StopFreeMB, st.WarnFreeMB)
	}
	if c.Storage.CheckEvery <= 0 {
		return fmt.Errorf("storage: check_every: must be positive, got %v", c.Storage.CheckEvery)
	}
	if err := c.validateMQTT(); err != nil {
		return err
	}
	if err := c.validateOperators(); err != nil {
		return err
	}
	if _, err := c.printerConfig(); err != nil {
		return fmt.Errorf("printer: %w", err)
	}
	if err := c.Scanner.Validate(); err != nil {
		return fmt.Errorf("scanner: %w", err)
	}
	if err := c.PLC.Validate(); err != nil {
		return fmt.Errorf("plc: %w", err)
	}
	if err := c.stationConfig().Validate(); err != nil {
		return err
	}
	if err := c.poolConfig().Validate(); err != nil {
		return err
	}
	if err := c.outboxConfig().Validate(); err != nil {
		return err
	}
	return c.validatePacking()
}

func (c Config) validateMQTT() error {
	m := c.MQTT
	if m.Broker != "" {
		scheme, hostport, ok := strings.Cut(m.Broker, "://")
		switch {
		case !ok:
			return fmt.Errorf("mqtt.broker: want tcp://HOST:PORT (or ssl://, ws://), got %q", m.Broker)
		case scheme != "tcp" && scheme != "ssl" && scheme != "tls" && scheme != "ws" && scheme != "wss" && scheme != "mqtt" && scheme != "mqtts":
			return fmt.Errorf("mqtt.broker: unknown scheme %q in %q", scheme, m.Broker)
		}
		if err := netaddr.CheckDial(hostport); err != nil {
			return fmt.Errorf("mqtt.broker: %w", err)
		}
	}
	if m.Password != "" && m.PasswordFile != "" {
		return errors.New("mqtt.password_file: set either password or password_file, not both")
	}
	if err := m.validateTLS(); err != nil {
		return err
	}
	for _, kv := range []struct {
		key string
		v   time.Duration
	}{{"mqtt.keepalive", m.KeepAlive}, {"mqtt.connect_timeout", m.Connect}, {"mqtt.reconnect_max", m.ReconnectMax}} {
		if kv.v < 0 {
			return fmt.Errorf("%s: must not be negative, got %v", kv.key, kv.v)
		}
	}
	return nil
}

// validateOperators checks the operators (unique, non-empty names; PIN
// hashes in the screen's format) and the ui: keys.
func (c Config) validateOperators() error {
	seen := make(map[string]bool, len(c.Operators))
	for i, o := range c.Operators {
		name := strings.TrimSpace(o.Name)
		if name == "" {
			return fmt.Errorf("operators[%d].name: missing", i)
		}
		if seen[name] {
			return fmt.Errorf("operators[%d].name: %q appears twice; names must be unique", i, name)
		}
		seen[name] = true
		if _, err := pin.Parse(o.PINHash); err != nil {
			return fmt.Errorf("operators[%d].pin_hash (%s): %w", i, name, err)
		}
		if !o.RoleOrDefault().Valid() {
			return fmt.Errorf("operators[%d].role (%s): must be operator, supervisor or qa, got %q", i, name, o.Role)
		}
	}
	u := c.UI
	for _, kv := range []struct {
		key string
		v   time.Duration
	}{{"ui.session_idle", u.SessionIdle}, {"ui.lock_out", u.LockOut}} {
		if kv.v < 0 {
			return fmt.Errorf("%s: must not be negative, got %v", kv.key, kv.v)
		}
	}
	if u.MaxPINFailures < 0 {
		return fmt.Errorf("ui.max_pin_failures: must not be negative, got %d", u.MaxPINFailures)
	}
	if u.MaxPINFailuresGlobal < 0 {
		return fmt.Errorf("ui.max_pin_failures_global: must not be negative, got %d", u.MaxPINFailuresGlobal)
	}
	for i, h := range u.Hosts {
		if strings.TrimSpace(h) == "" || strings.ContainsAny(h, "/@?# ") {
			return fmt.Errorf("ui.hosts[%d]: want HOST or HOST:PORT (a name the screen is opened with), got %q", i, h)
		}
	}
	if u.PoolWarnMinutes < 0 {
		return fmt.Errorf("ui.pool_warn_minutes: must not be negative, got %v", u.PoolWarnMinutes)
	}
	return nil
}

// password returns the broker password, reading password_file if set.
func (c Config) password() (string, error) {
	if c.MQTT.PasswordFile == "" {
		return c.MQTT.Password, nil
	}
	b, err := os.ReadFile(c.MQTT.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("mqtt.password_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (c Config) layout() (zpl.Layout, error) {
	switch c.Printer.DPI {
	case 152, 203, 300, 600:
	default:
		return zpl.Layout{}, fmt.Errorf("dpi: must be 152, 203, 300 or 600, got %d", c.Printer.DPI)
	}
	if c.Printer.TextLines < 1 || c.Printer.TextLines > 8 {
		return zpl.Layout{}, fmt.Errorf("text_lines: must be 1..8, got %d", c.Printer.TextLines)
	}
	l, err := zpl.LayoutFor(c.Printer.DPI, c.Printer.ModuleMM, c.Printer.TextLines)
	if err != nil {
		return zpl.Layout{}, fmt.Errorf("module_mm: %w", err)
	}
	return l, nil
}

func (c Config) printerConfig() (printer.Config, error) {
	l, err := c.layout()
	if err != nil {
		return printer.Config{}, err
	}
	pc := c.Printer.Config
	pc.Layout = l
	return pc, pc.Validate()
}

func (c Config) stationConfig() station.Config {
	s := c.Station
	return station.Config{Line: c.Line, PrinterToCamera: s.PrinterToCamera, CameraToReject: s.CameraToReject, PrintWindow: s.PrintWindow, Jitter: s.Jitter,
		CameraGuard: s.CameraGuard, TriggerLag: c.PLC.WithDefaults().PollInterval, MinGrade: s.MinGrade, TextLines: c.Printer.TextLines,
		MonitorEvery: s.MonitorEvery, PrinterPoll: s.PrinterPoll, FIFO: s.FIFO, Operator: c.Operator,
		MaxConsecutiveRejects: s.MaxConsecutiveRejects, MaxRejectRate: s.MaxRejectRate, RejectRateWindow: s.RejectRateWindow,
		Overrun: s.Overrun, AllowancePercent: s.RejectAllowancePercent, AllowanceMin: s.RejectAllowanceMin}
}

func (c Config) poolConfig() pool.Config {
	p := c.Pool
	return pool.Config{Line: c.Line, ReserveBlock: p.ReserveBlock, LowWaterMinutes: p.LowWaterMinutes, RefillMinutes: p.RefillMinutes,
		MinRequest: p.MinRequest, MaxRequest: p.MaxRequest, NominalRate: p.NominalRate, RequestRetry: p.RequestRetry}
}

func (c Config) outboxConfig() outbox.Config {
	o := c.Outbox
	return outbox.Config{Line: c.Line, BatchMax: o.BatchMax, Linger: o.Linger, Window: o.Window, ResendAfter: o.ResendAfter,
		CommitMax: o.CommitMax, Queue: o.Queue, KeepAcked: o.KeepAcked}
}

func (c Config) sessionConfig() session.Config {
	return session.Config{Line: c.Line, Broker: c.MQTT.Broker, ClientID: c.MQTT.ClientID, Username: c.MQTT.Username,
		KeepAlive: c.MQTT.KeepAlive, ConnectTimeout: c.MQTT.Connect, ReconnectMax: c.MQTT.ReconnectMax}
}
