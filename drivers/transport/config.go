// Package transport opens the byte links between the line PC and its devices:
// TCP sockets and RS-232 serial ports (real ports or pseudo-terminals). The
// printer and scanner drivers speak their protocols over what Dial returns;
// the PLC driver borrows the spec syntax and the backoff.
package transport

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/shared/netaddr"
)

// Kinds of link.
const (
	KindTCP    = "tcp"
	KindSerial = "serial"
)

// Defaults applied by WithDefaults (and so by ParseSpec and Dial).
const (
	DefaultBaud        = 115200
	DefaultDataBits    = 8
	DefaultParity      = "N"
	DefaultStopBits    = 1
	DefaultDialTimeout = 5 * time.Second
)

// ErrNotConnected is returned (wrapped with the device name) when a device is
// used while its link is down, and by a Conn whose peer went away.
var ErrNotConnected = errors.New("not connected")

// standardBauds lists the rates every UART and termios supports; other rates
// need driver-specific ioctls that pseudo-terminals and many USB adapters lack.
const standardBauds = "300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600"

// Config chooses how to reach a device. Zero values mean the defaults above.
type Config struct {
	Kind        string        `yaml:"kind"`         // "tcp" or "serial"
	Address     string        `yaml:"address"`      // "host:port" for tcp; device path for serial (/dev/ttyUSB0, /dev/pts/5)
	Baud        int           `yaml:"baud"`         // serial: default 115200
	DataBits    int           `yaml:"data_bits"`    // serial: 5..8, default 8
	Parity      string        `yaml:"parity"`       // serial: "N", "E" or "O", default "N"
	StopBits    int           `yaml:"stop_bits"`    // serial: 1 or 2, default 1
	DialTimeout time.Duration `yaml:"dial_timeout"` // default 5 s
}

// WithDefaults returns c with every unset field given its default. Serial
// settings are only filled in for serial links.
func (c Config) WithDefaults() Config {
	c.Kind = strings.ToLower(strings.TrimSpace(c.Kind))
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Kind != KindSerial {
		return c
	}
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	if c.DataBits == 0 {
		c.DataBits = DefaultDataBits
	}
	if c.Parity == "" {
		c.Parity = DefaultParity
	}
	c.Parity = strings.ToUpper(c.Parity)
	if c.StopBits == 0 {
		c.StopBits = DefaultStopBits
	}
	return c
}

// Validate checks c (zero fields count as their defaults) and names the
// first field that breaks a rule.
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch c.Kind {
	case KindTCP:
		if err := netaddr.CheckDial(c.Address); err != nil {
			return fmt.Errorf("transport: address: %w", err)
		}
	case KindSerial:
		if c.Address == "" {
			return errors.New("transport: address: a serial link needs a device path such as /dev/ttyUSB0")
		}
		if err := checkSerialPath(c.Address); err != nil { // serialpath_*.go
			return fmt.Errorf("transport: address %q: %w", c.Address, err)
		}
		if !isStandardBaud(c.Baud) {
			return fmt.Errorf("transport: baud %d: not a standard rate (one of %s)", c.Baud, standardBauds)
		}
		if c.DataBits < 5 || c.DataBits > 8 {
			return fmt.Errorf("transport: data_bits %d: must be 5, 6, 7 or 8", c.DataBits)
		}
		if c.Parity != "N" && c.Parity != "E" && c.Parity != "O" {
			return fmt.Errorf("transport: parity %q: must be N, E or O", c.Parity)
		}
		if c.StopBits != 1 && c.StopBits != 2 {
			return fmt.Errorf("transport: stop_bits %d: must be 1 or 2", c.StopBits)
		}
	case "":
		return errors.New(`transport: kind: missing (want "tcp" or "serial")`)
	default:
		return fmt.Errorf(`transport: kind %q: want "tcp" or "serial"`, c.Kind)
	}
	if c.DialTimeout < 0 {
		return fmt.Errorf("transport: dial_timeout %v: must not be negative", c.DialTimeout)
	}
	return nil
}

func isStandardBaud(b int) bool {
	switch b {
	case 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600:
		return true
	}
	return false
}

// ParseSpec parses "tcp:HOST:PORT[?timeout=2s]" or
// "serial:/dev/ttyX[?baud=9600&databits=7&parity=E&stopbits=2&timeout=2s]"
// (the form used by configs and CLI flags). The result has its defaults
// filled in and is valid.
func ParseSpec(spec string) (Config, error) {
	kind, rest, ok := strings.Cut(strings.TrimSpace(spec), ":")
	if !ok {
		return Config{}, fmt.Errorf(`transport spec %q: want "tcp:HOST:PORT" or "serial:/dev/ttyX?baud=N"`, spec)
	}
	c := Config{Kind: strings.ToLower(kind)}
	if c.Kind != KindTCP && c.Kind != KindSerial {
		return Config{}, fmt.Errorf(`transport spec %q: kind %q: want "tcp" or "serial"`, spec, kind)
	}
	addr, query, _ := strings.Cut(rest, "?")
	c.Address = addr
	if err := c.applyQuery(query); err != nil {
		return Config{}, fmt.Errorf("transport spec %q: %w", spec, err)
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("transport spec %q: %w", spec, err)
	}
	return c, nil
}

// applyQuery reads the serial options of a spec.
func (c *Config) applyQuery(query string) error {
	if query == "" {
		return nil
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return fmt.Errorf("options %q: %w", query, err)
	}
	for key, vals := range values {
		v := vals[len(vals)-1]
		if c.Kind == KindTCP && key != "timeout" {
			return fmt.Errorf("option %q: a tcp link takes only timeout", key)
		}
		var err error
		switch key {
		case "baud":
			c.Baud, err = strconv.Atoi(v)
		case "databits":
			c.DataBits, err = strconv.Atoi(v)
		case "parity":
			c.Parity = strings.ToUpper(v)
		case "stopbits":
			c.StopBits, err = strconv.Atoi(v)
		case "timeout":
			c.DialTimeout, err = time.ParseDuration(v)
		default:
			return fmt.Errorf("option %q: unknown (want baud, databits, parity, stopbits or timeout)", key)
		}
		if err != nil {
			return fmt.Errorf("option %s=%q: %w", key, v, err)
		}
	}
	return nil
}

// String renders c as a spec that ParseSpec reads back to the same Config.
func (c Config) String() string {
	c = c.WithDefaults()
	if c.Kind != KindSerial {
		s := c.Kind + ":" + c.Address
		if c.DialTimeout != DefaultDialTimeout {
			s += "?timeout=" + c.DialTimeout.String()
		}
		return s
	}
	s := fmt.Sprintf("serial:%s?baud=%d&databits=%d&parity=%s&stopbits=%d",
		c.Address, c.Baud, c.DataBits, c.Parity, c.StopBits)
	if c.DialTimeout != DefaultDialTimeout {
		s += "&timeout=" + c.DialTimeout.String()
	}
	return s
}
