package plc

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/serialine/serialine/drivers/transport"
	"github.com/simonvetter/modbus"
)

// Config configures one line PLC.
type Config struct {
	// Name identifies the PLC in errors and logs (e.g. "line3-plc").
	Name string `yaml:"name"`
	// Transport is "tcp:HOST:PORT" (Modbus TCP) or
	// "rtu:/dev/ttyX[?baud=19200&parity=E&databits=8&stopbits=1]" (Modbus RTU;
	// 19200 baud, even parity by default).
	Transport string `yaml:"transport"`
	// UnitID is the Modbus unit (slave) id; 0 means 1. RTU allows 1-247.
	UnitID uint8 `yaml:"unit_id"`
	// Map places each signal; the zero map is DefaultRegisterMap().
	Map RegisterMap `yaml:"map"`
	// PollInterval is how often Triggers reads the counter; default 10 ms.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Timeout bounds each Modbus request, and Reject's wait for the
	// acknowledgement; default 1 s.
	Timeout time.Duration `yaml:"timeout"`
	// Reconnect spaces reconnection attempts (default 100 ms .. 10 s).
	Reconnect transport.Backoff `yaml:"reconnect"`
	// MaxTriggerJump: a counter step larger than this is taken for a PLC
	// restart (counter reset), not for products; default 100000.
	MaxTriggerJump uint32 `yaml:"max_trigger_jump"`
	// HeartbeatInterval: the edge writes a new edge_heartbeat at least this
	// often (default 500 ms); see README, "Watchdog".
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// PLCHeartbeatTimeout: PLCHeartbeat reports ErrPLCHeartbeatStopped when
	// the PLC's plc_heartbeat has not changed for this long (default 2 s).
	PLCHeartbeatTimeout time.Duration `yaml:"plc_heartbeat_timeout"`
	// NoHeartbeat is for a PLC program without the two heartbeat registers:
	// nothing is written or checked, and there is no watchdog either way.
	NoHeartbeat bool `yaml:"no_heartbeat"`
}

// WithDefaults returns c with every unset field given its default.
func (c Config) WithDefaults() Config {
	if c.UnitID == 0 {
		c.UnitID = DefaultUnitID
	}
	c.Map = c.Map.WithDefaults()
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxTriggerJump == 0 {
		c.MaxTriggerJump = DefaultMaxTriggerJump
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.PLCHeartbeatTimeout == 0 {
		c.PLCHeartbeatTimeout = DefaultPLCHeartbeatTimeout
	}
	return c
}

// Validate checks c (defaults applied) and names the key that breaks a rule.
func (c Config) Validate() error {
	_, err := c.WithDefaults().clientConfig()
	return err
}

// clientConfig validates c and builds the library's client configuration.
func (c Config) clientConfig() (modbus.ClientConfiguration, error) {
	var cc modbus.ClientConfiguration
	if strings.TrimSpace(c.Name) == "" {
		return cc, errors.New("plc: name: missing")
	}
	fail := func(format string, args ...any) (modbus.ClientConfiguration, error) {
		return cc, fmt.Errorf("plc %q: "+format, append([]any{c.Name}, args...)...)
	}
	if err := c.Map.Validate(); err != nil {
		return fail("%w", err)
	}
	if c.PollInterval < 0 {
		return fail("poll_interval %v: must be positive", c.PollInterval)
	}
	if c.Timeout < 0 {
		return fail("timeout %v: must be positive", c.Timeout)
	}
	if c.HeartbeatInterval < 0 || c.HeartbeatInterval > 10*time.Second {
		return fail("heartbeat_interval %v: must be more than 0 and at most 10s (the PLC's watchdog time is a few of these)", c.HeartbeatInterval)
	}
	if c.PLCHeartbeatTimeout < 0 || c.PLCHeartbeatTimeout > time.Minute {
		return fail("plc_heartbeat_timeout %v: must be more than 0 and at most 1m", c.PLCHeartbeatTimeout)
	}
	kind, rest, _ := strings.Cut(strings.TrimSpace(c.Transport), ":")
	switch strings.ToLower(kind) {
	case "tcp":
		tc, err := transport.ParseSpec(c.Transport)
		if err != nil {
			return fail("transport: %w", err)
		}
		cc.URL = "tcp://" + tc.Address
	case "rtu":
		tc, err := parseRTU(rest)
		if err != nil {
			return fail("transport %q: %w", c.Transport, err)
		}
		if c.UnitID > 247 {
			return fail("unit_id %d: Modbus RTU addresses are 1-247", c.UnitID)
		}
		cc.URL = "rtu://" + tc.Address
		cc.Speed = uint(tc.Baud)
		cc.DataBits = uint(tc.DataBits)
		cc.StopBits = uint(tc.StopBits)
		switch tc.Parity {
		case "E":
			cc.Parity = modbus.PARITY_EVEN
		case "O":
			cc.Parity = modbus.PARITY_ODD
		default:
			cc.Parity = modbus.PARITY_NONE
		}
	case "":
		return fail(`transport: missing (want "tcp:HOST:PORT" or "rtu:/dev/ttyX?baud=19200")`)
	default:
		return fail(`transport %q: want "tcp:HOST:PORT" or "rtu:/dev/ttyX?baud=19200"`, c.Transport)
	}
	cc.Timeout = c.Timeout
	return cc, nil
}

// parseRTU reads "/dev/ttyX?options" with the Modbus serial defaults.
func parseRTU(rest string) (transport.Config, error) {
	path, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return transport.Config{}, fmt.Errorf("options %q: %w", query, err)
	}
	if !q.Has("baud") {
		q.Set("baud", fmt.Sprint(DefaultRTUBaud))
	}
	if !q.Has("parity") {
		q.Set("parity", DefaultRTUParity)
	}
	return transport.ParseSpec("serial:" + path + "?" + q.Encode())
}
