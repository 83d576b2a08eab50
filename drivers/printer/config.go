package printer

import (
	"errors"
	"fmt"
	"time"

	"github.com/serialine/serialine/drivers/transport"
	"github.com/serialine/serialine/drivers/zpl"
)

// Defaults applied by Config.WithDefaults.
const (
	DefaultStatusInterval = time.Second
	DefaultTimeout        = 2 * time.Second
	DefaultReconnectMin   = transport.DefaultBackoffMin
	DefaultReconnectMax   = transport.DefaultBackoffMax
)

// Config describes one ZPL II label printer on the line.
type Config struct {
	// Name identifies the printer in errors and logs, e.g. "printer-1".
	Name string `yaml:"name"`
	// Transport is the link spec: "tcp:HOST:9100" or
	// "serial:/dev/ttyS0?baud=115200" (see transport.ParseSpec).
	Transport string `yaml:"transport"`
	// Layout of the unit label; the driver stores it in the printer once
	// (^DF) and recalls it per unit (^XF). The program sets it (the edge
	// agent from its dpi, module_mm and text_lines): it is no YAML key.
	Layout zpl.Layout `yaml:"-"`
	// StatusInterval is how often the background poller asks ~HS
	// (default 1 s; negative turns background polling off).
	StatusInterval time.Duration `yaml:"status_interval"`
	// Timeout bounds one write of a job and one ~HS round trip (default 2 s).
	Timeout time.Duration `yaml:"timeout"`
	// ReconnectMin and ReconnectMax bound the backoff between reconnection
	// attempts after a lost link (defaults 100 ms and 10 s).
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
}

// WithDefaults returns c with every unset duration given its default.
func (c Config) WithDefaults() Config {
	if c.StatusInterval == 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	return c
}

// Validate checks c (zero durations count as their defaults) and names the
// first key that breaks a rule.
func (c Config) Validate() error {
	_, err := c.validate()
	return err
}

// validate also returns the parsed link so New does not parse it twice.
func (c Config) validate() (transport.Config, error) {
	c = c.WithDefaults()
	if c.Name == "" {
		return transport.Config{}, errors.New("printer: name: missing")
	}
	wrap := func(key string, err error) error {
		return fmt.Errorf("printer %q: %s: %w", c.Name, key, err)
	}
	if c.Transport == "" {
		return transport.Config{}, wrap("transport", errors.New(`missing (want "tcp:HOST:9100" or "serial:/dev/ttyS0?baud=115200")`))
	}
	link, err := transport.ParseSpec(c.Transport)
	if err != nil {
		return transport.Config{}, wrap("transport", err)
	}
	if err := c.Layout.Validate(); err != nil {
		return transport.Config{}, wrap("layout", err)
	}
	if c.Timeout < 0 {
		return transport.Config{}, wrap("timeout", fmt.Errorf("%v must not be negative", c.Timeout))
	}
	if c.ReconnectMin < 0 {
		return transport.Config{}, wrap("reconnect_min", fmt.Errorf("%v must not be negative", c.ReconnectMin))
	}
	if c.ReconnectMax < c.ReconnectMin {
		return transport.Config{}, wrap("reconnect_max", fmt.Errorf("%v must not be below reconnect_min %v", c.ReconnectMax, c.ReconnectMin))
	}
	return link, nil
}
