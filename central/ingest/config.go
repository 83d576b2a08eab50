package ingest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/shared/wire"
)

// Defaults applied by New where a Config field is zero.
const (
	DefaultUsername       = "central"
	DefaultShareGroup     = "central"
	DefaultGapAlert       = 5 * time.Minute
	DefaultGapCheck       = 30 * time.Second
	DefaultMaxMergeEvents = 5000
	DefaultLineQueue      = 64
	DefaultConnectTimeout = 10 * time.Second
	DefaultRetries        = 8
)

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("invalid ingest config")

// ErrNotConnected is wrapped when a publish cannot be made because the
// MQTT connection is down (it is being re-established with backoff).
var ErrNotConnected = errors.New("mqtt: not connected")

// ErrClosed is returned once Close has been called.
var ErrClosed = errors.New("ingest closed")

// Config configures the MQTT side of central. Field names in errors are the
// keys of central's configuration file (mqtt.* and ingest.*).
type Config struct {
	// Broker is the broker's URL, tcp://host:port: the embedded broker's
	// address or an external one (Mosquitto, EMQX, HiveMQ); ssl://,
	// tls:// or mqtts:// connect over TLS.
	Broker string
	// TLS configures a TLS broker's connection (the CA to trust, central's
	// client certificate); nil uses the system's CAs and no certificate.
	TLS *tls.Config
	// Username and Password are central's service login (default user
	// "central"); an empty password logs in without one (an anonymous
	// test broker).
	Username string
	Password string
	// ClientID must be unique per replica; default "central-" + random.
	ClientID string
	// ShareGroup is the shared-subscription group of the events and
	// serial-request feeds: replicas in one group split the messages.
	ShareGroup string

	// GrantCap is the most serials one request may get (0 = orders.DefaultGrantCap).
	GrantCap uint64
	// GapAlert is how long a line may wait on missing seqs before its gap is
	// reported as stale (logged as a warning, flagged in Gaps and metrics).
	GapAlert time.Duration
	// GapCheck is how often gaps are re-read from the database (another
	// replica may have filled them) and checked for staleness.
	GapCheck time.Duration
	// MaxMergeEvents caps the events of one transaction when several of a
	// line's batches are queued and are applied together.
	MaxMergeEvents int
	// LineQueue is how many messages of one line may wait; a full queue
	// slows the MQTT connection down (backpressure) instead of dropping.
	LineQueue int
	// ConnectTimeout bounds one connection attempt and one publish.
	ConnectTimeout time.Duration
	// Retries is how often a failing database write (the database down, a
	// serialisation failure) is retried with backoff before the payload is
	// given up; an event batch given up is not acked, so the edge resends it.
	Retries int
}

// Validate checks every field and names the first that breaks its rule.
func (c Config) Validate() error {
	u, err := url.Parse(c.Broker)
	switch {
	case c.Broker == "":
		return configErr("mqtt.broker", "missing; give tcp://host:port")
	case err != nil:
		return configErr("mqtt.broker", "%q is not a URL: %v", c.Broker, err)
	case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "mqtts":
		return configErr("mqtt.broker", "%q: scheme %q is not supported; use tcp://host:port or ssl://host:port", c.Broker, u.Scheme)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" || u.Hostname() == "" {
		return configErr("mqtt.broker", "%q has no host:port", c.Broker)
	}
	if c.Username != "" {
		if err := wire.ValidateLine(c.Username); err != nil {
			return configErr("mqtt.service_user", "%v (the service user follows the line id rules)", err)
		}
	}
	if len(c.ClientID) > 128 {
		return configErr("mqtt.client_id", "has %d characters, at most 128", len(c.ClientID))
	}
	if c.ShareGroup != "" {
		if err := wire.ValidateLine(c.ShareGroup); err != nil {
			return configErr("mqtt.share_group", "%v (a share group follows the line id rules)", err)
		}
	}
	if c.MaxMergeEvents < 0 || c.MaxMergeEvents > 10*wire.MaxBatchEvents {
		return configErr("ingest.max_merge_events", "%d is outside 0..%d (0 means %d)", c.MaxMergeEvents, 10*wire.MaxBatchEvents, DefaultMaxMergeEvents)
	}
	if c.LineQueue < 0 || c.LineQueue > 100_000 {
		return configErr("ingest.line_queue", "%d is outside 0..100000 (0 means %d)", c.LineQueue, DefaultLineQueue)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"ingest.gap_alert", c.GapAlert}, {"ingest.gap_check", c.GapCheck}, {"mqtt.connect_timeout", c.ConnectTimeout}} {
		if d.v < 0 {
			return configErr(d.key, "%v is negative (0 means the default)", d.v)
		}
	}
	if c.Retries < 0 || c.Retries > 100 {
		return configErr("ingest.retries", "%d is outside 0..100 (0 means %d)", c.Retries, DefaultRetries)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Username == "" {
		c.Username = DefaultUsername
	}
	if c.ShareGroup == "" {
		c.ShareGroup = DefaultShareGroup
	}
	if c.GrantCap == 0 {
		c.GrantCap = orders.DefaultGrantCap
	}
	if c.GapAlert == 0 {
		c.GapAlert = DefaultGapAlert
	}
	if c.GapCheck == 0 {
		c.GapCheck = DefaultGapCheck
	}
	if c.MaxMergeEvents == 0 {
		c.MaxMergeEvents = DefaultMaxMergeEvents
	}
	if c.LineQueue == 0 {
		c.LineQueue = DefaultLineQueue
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	return c
}

func configErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, key, fmt.Sprintf(format, args...))
}
