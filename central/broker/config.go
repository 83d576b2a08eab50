package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/serialine/serialine/shared/netaddr"
	"github.com/serialine/serialine/shared/wire"
)

// Defaults applied by New where a Config key is zero.
const (
	DefaultMaxInflight           = 8192
	DefaultAuthTimeout           = 5 * time.Second
	DefaultMaxPacketSize         = 1 << 20
	DefaultMaxConnections        = 1024
	DefaultMaxUnauthenticated    = 64
	DefaultMaxConnectionsPerUser = 4
	DefaultLoginTimeout          = 10 * time.Second
	DefaultMaxInflightPerLine    = 32
)

// Bounds of the packet sizes. A CONNECT (client id, login, last will) is
// small; bounding it by its own limit keeps what unauthenticated clients
// can make the broker hold to MaxUnauthenticated × connectMaxPacket.
// Central's service user may publish a whole wire payload (a list grant of
// 100,000 serials), whatever max_packet_size says of the lines.
const (
	minPacketSize     = 4 << 10
	connectMaxPacket  = 64 << 10
	serviceMaxPacket  = wire.MaxPayloadBytes + 64<<10
	maxConnectionsCap = 100_000
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
	// offline). Toward central's service clients the lines' publishes are
	// held back before it is reached (MaxInflightPerLine), so nothing is
	// dropped there; past it toward a line, messages are dropped and
	// counted, and central sends them again. 0 means DefaultMaxInflight.
	MaxInflight int `yaml:"max_inflight"`
	// AuthTimeout bounds one Credentials.CheckLine call at CONNECT. 0 means
	// DefaultAuthTimeout.
	AuthTimeout time.Duration `yaml:"auth_timeout"`

	// MaxPacketSize is the largest MQTT packet (fixed header included) a
	// line may send, in bytes. It is enforced from the packet's header,
	// before the broker reads or buffers its body: a larger packet closes
	// the connection, is counted and, on a line's own topic, dead-lettered
	// with what was read of it. Before login a CONNECT may have at most
	// 64 KiB (or MaxPacketSize, if smaller); central's service user may
	// send a whole wire payload (8 MiB) whatever this says. 0 means
	// DefaultMaxPacketSize.
	MaxPacketSize int `yaml:"max_packet_size"`
	// MaxConnections caps open connections, logged in or not. 0 means
	// DefaultMaxConnections.
	MaxConnections int `yaml:"max_connections"`
	// MaxUnauthenticated caps connections that have not completed their
	// login; LoginTimeout is how long one may take to send its CONNECT.
	// 0 means DefaultMaxUnauthenticated, DefaultLoginTimeout.
	MaxUnauthenticated int           `yaml:"max_unauthenticated"`
	LoginTimeout       time.Duration `yaml:"login_timeout"`
	// MaxConnectionsPerUser caps the connections of one line (a
	// reconnecting edge may briefly hold two). The service user is not
	// capped (one per replica). 0 means DefaultMaxConnectionsPerUser.
	MaxConnectionsPerUser int `yaml:"max_connections_per_user"`
	// MaxInflightPerLine is the most messages of one line delivered to
	// central and not yet acknowledged by it. A line past it waits: the
	// broker stops reading its connection until central catches up
	// (backpressure), so that a line flooding the broker holds up itself
	// and never makes the broker drop another line's messages. 0 means
	// DefaultMaxInflightPerLine.
	MaxInflightPerLine int `yaml:"max_inflight_per_line"`

	// TLSListen, host:port, adds a TLS listener under the same limits as
	// Listen, serving TLS (which must then be set). When TLS asks for
	// client certificates (ClientAuth RequireAndVerifyClientCert), a
	// client on it must present one whose common name is its username.
	TLSListen string      `yaml:"tls_listen"`
	TLS       *tls.Config `yaml:"-"`
}

// Validate checks every key and returns an error naming the first one that
// breaks its rule.
func (c Config) Validate() error {
	if err := netaddr.CheckListen(c.Listen); err != nil {
		return configErr("listen", "%v", err)
	}
	if err := c.validateTLS(); err != nil {
		return err
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
	if c.MaxPacketSize != 0 && (c.MaxPacketSize < minPacketSize || c.MaxPacketSize > serviceMaxPacket) {
		return configErr("max_packet_size", "%d bytes is outside %d..%d (0 means %d)", c.MaxPacketSize, minPacketSize, serviceMaxPacket, DefaultMaxPacketSize)
	}
	for _, k := range []struct {
		key    string
		v, max int
		def    int
	}{
		{"max_connections", c.MaxConnections, maxConnectionsCap, DefaultMaxConnections},
		{"max_unauthenticated", c.MaxUnauthenticated, maxConnectionsCap, DefaultMaxUnauthenticated},
		{"max_connections_per_user", c.MaxConnectionsPerUser, maxConnectionsCap, DefaultMaxConnectionsPerUser},
		{"max_inflight_per_line", c.MaxInflightPerLine, maxPacketIDs, DefaultMaxInflightPerLine},
	} {
		if k.v < 0 || k.v > k.max {
			return configErr(k.key, "%d is outside 0..%d (0 means %d)", k.v, k.max, k.def)
		}
	}
	if c.LoginTimeout < 0 {
		return configErr("login_timeout", "%v is negative (0 means %v)", c.LoginTimeout, DefaultLoginTimeout)
	}
	if d := c.withDefaults(); d.MaxInflightPerLine > d.MaxInflight {
		return configErr("max_inflight_per_line", "%d is more than max_inflight (%d), the window of all lines together", d.MaxInflightPerLine, d.MaxInflight)
	}
	return nil
}

// mochiInflight is the in-flight window mochi keeps per client: the
// configured one, and room above it for the lines' messages passing the
// gate at the same moment (each connection one), so that mochi never
// drops a line's message toward central for a full window.
func (c Config) mochiInflight() int { return min(c.MaxInflight+c.MaxConnections, maxPacketIDs) }

// linePacketLimit is the largest packet a line may send.
func (c Config) linePacketLimit() int { return c.MaxPacketSize }

// connectPacketLimit is the largest CONNECT before login.
func (c Config) connectPacketLimit() int { return min(connectMaxPacket, c.MaxPacketSize) }

// withDefaults returns c with zero keys set to their defaults.
func (c Config) withDefaults() Config {
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.AuthTimeout == 0 {
		c.AuthTimeout = DefaultAuthTimeout
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxPacketSize, DefaultMaxPacketSize)
	def(&c.MaxConnections, DefaultMaxConnections)
	def(&c.MaxUnauthenticated, DefaultMaxUnauthenticated)
	def(&c.MaxConnectionsPerUser, DefaultMaxConnectionsPerUser)
	def(&c.MaxInflightPerLine, DefaultMaxInflightPerLine)
	if c.LoginTimeout == 0 {
		c.LoginTimeout = DefaultLoginTimeout
	}
	return c
}

func configErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, key, fmt.Sprintf(format, args...))
}
