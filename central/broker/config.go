package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/serialine/serialine/shared/wire"
)

// Defaults applied by New where a Config key is zero.
const (
	DefaultMaxInflight = 8192
	DefaultAuthTimeout = 5 * time.Second
)

// maxPacketIDs bounds MaxInflight: an MQTT packet identifier is 16 bits, so a
// client can never have more QoS 1/2 messages in flight.
const maxPacketIDs = 65535

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("invalid broker config")

// Config configures the embedded broker. The yaml keys are the ones named in
// Validate's errors.
type Config struct {
	// Listen is the TCP address to listen on, host:port. Port 0 picks a free
	// port (tests); Broker.Addr reports the one bound.
	Listen string `yaml:"listen"`
	// ServiceUser and ServicePassword are central's own MQTT login. The name
	// is reserved: no line may use it. It follows the line id rules so that
	// the same name works in a Mosquitto password file.
	ServiceUser     string `yaml:"service_user"`
	ServicePassword string `yaml:"service_password"`
	// MaxInflight caps the QoS 1/2 messages the broker holds for one client
	// while awaiting its acknowledgement (also while a persistent session is
	// offline). Past it, messages to that client are dropped and logged; the
	// edge's outbox and central's acks make that safe. 0 means
	// DefaultMaxInflight.
	MaxInflight int `yaml:"max_inflight"`
	// AuthTimeout bounds one Credentials.CheckLine call at CONNECT. 0 means
	// DefaultAuthTimeout.
	AuthTimeout time.Duration `yaml:"auth_timeout"`
}

// Validate checks every key and returns an error naming the first one that
// breaks its rule.
func (c Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return configErr("listen", "%q is not host:port (e.g. 127.0.0.1:1883): %v", c.Listen, err)
	}
	if host == "" {
		return configErr("listen", "%q has no host; name the interface, e.g. 127.0.0.1:1883 or 0.0.0.0:1883", c.Listen)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return configErr("listen", "%q: port %q is not a number from 0 to 65535", c.Listen, port)
	}
	if err := wire.ValidateLine(c.ServiceUser); err != nil {
		return configErr("service_user", "%v (the service user follows the line id rules)", err)
	}
	if c.ServicePassword == "" {
		return configErr("service_password", "must not be empty")
	}
	if c.MaxInflight < 0 || c.MaxInflight > maxPacketIDs {
		return configErr("max_inflight", "%d is outside 0..%d (0 means %d)", c.MaxInflight, maxPacketIDs, DefaultMaxInflight)
	}
	if c.AuthTimeout < 0 {
		return configErr("auth_timeout", "%v is negative (0 means %v)", c.AuthTimeout, DefaultAuthTimeout)
	}
	return nil
}

// withDefaults returns c with zero keys set to their defaults.
func (c Config) withDefaults() Config {
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.AuthTimeout == 0 {
		c.AuthTimeout = DefaultAuthTimeout
	}
	return c
}

func configErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, key, fmt.Sprintf(format, args...))
}
