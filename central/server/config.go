package server

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/broker"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/lmvs"
	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/netaddr"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/shared/yamlconfig"
)

// Defaults of the configuration (configs/central.yaml documents each key).
const (
	DefaultHTTPListen      = "127.0.0.1:8080"
	DefaultDatabase        = "sqlite:data/central.db"
	DefaultMQTT            = "embedded"
	DefaultEmbeddedListen  = "127.0.0.1:1883"
	DefaultShutdownTimeout = 15 * time.Second
	// embeddedPortTries is how many ports from 1883 up the default embedded
	// broker tries when the one before is taken (e.g. by a Mosquitto).
	embeddedPortTries = 20
)

// ErrInvalidConfig is wrapped by every configuration error; the message
// names the key and the rule it broke.
var ErrInvalidConfig = errors.New("invalid configuration")

// Config is central's configuration: the YAML file (configs/central.yaml),
// with flags overriding it. Zero values mean the documented default.
type Config struct {
	HTTP     HTTPConfig     `yaml:"http"`
	Database DatabaseConfig `yaml:"database"`
	MQTT     MQTTConfig     `yaml:"mqtt"`
	Ingest   IngestConfig   `yaml:"ingest"`
	Web      WebConfig      `yaml:"web"`
	Outbound OutboundConfig `yaml:"outbound"`
	// Verification is LMVS: the responder partners call and the
	// requester of our returns desk (central/lmvs).
	Verification VerificationConfig `yaml:"verification"`
	// FMD is the EU FMD data set (central/fmd).
	FMD FMDConfig `yaml:"fmd"`
	// Secrets is the key that seals secrets at rest (secrets.go).
	Secrets SecretsConfig  `yaml:"secrets"`
	Log     yamlconfig.Log `yaml:"log"`
}

// VerificationConfig is LMVS (central/lmvs).
type VerificationConfig struct {
	// ResponderGLN is our GLN in LMVS answers; "" takes our first site's.
	ResponderGLN string `yaml:"responder_gln"`
	// RequesterGLN is the reqGLN our returns desk sends; "" takes
	// ResponderGLN, and with neither there is no requester.
	RequesterGLN string `yaml:"requester_gln"`
	// RouterGLN is the trading partner whose verification endpoint is our
	// VRS router; "" routes by company prefix only.
	RouterGLN string `yaml:"router_gln"`
	// Timeout bounds one verification request we send (0 = 20s).
	Timeout time.Duration `yaml:"timeout"`
}

// FMDConfig is the EU FMD data set.
type FMDConfig struct {
	// ReversalWindow is how long after a status update its reversal is
	// accepted (0 = 240h: art. 13's 10 days).
	ReversalWindow time.Duration `yaml:"reversal_window"`
}

// OutboundConfig is the outbound queue that delivers documents to
// trading partners (central/outbound).
type OutboundConfig struct {
	// AllowNetworks lists networks (CIDR) central may connect to for a
	// partner although they are loopback, private or link-local: a
	// partner on a private link. Empty: public addresses only.
	AllowNetworks []string `yaml:"allow_networks"`
	// RetryInitial doubles per failed attempt up to RetryMax (at most
	// 15m); a message is failed when GiveUpAfter has passed since it was
	// queued or resent.
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	GiveUpAfter  time.Duration `yaml:"give_up_after"`
	// Timeout bounds one attempt; Poll is how often the queue is read.
	Timeout time.Duration `yaml:"timeout"`
	Poll    time.Duration `yaml:"poll"`
}

// senderConfig is the outbound part of c for outbound.New.
func (c Config) senderConfig() (outbound.Policy, outbound.Config, error) {
	o := c.Outbound
	policy, err := outbound.NewPolicy(o.AllowNetworks)
	if err != nil {
		return policy, outbound.Config{}, configErr("outbound.allow_networks", "%v", err)
	}
	sc := outbound.Config{RetryInitial: o.RetryInitial, RetryMax: o.RetryMax, GiveUpAfter: o.GiveUpAfter, Timeout: o.Timeout, Poll: o.Poll}.WithDefaults()
	if err := sc.Validate(); err != nil {
		return policy, sc, fmt.Errorf("%w: outbound.%v", ErrInvalidConfig, err)
	}
	return policy, sc, nil
}

// requester is the LMVS requester the configuration asks for: nil when
// neither verification.requester_gln nor responder_gln is set.
func (c Config) requester(st *store.Store, policy outbound.Policy, log *slog.Logger) (*lmvs.Requester, error) {
	v := c.Verification
	gln := v.RequesterGLN
	if gln == "" {
		gln = v.ResponderGLN
	}
	if gln == "" {
		return nil, nil
	}
	r, err := lmvs.NewRequester(st, policy, lmvs.RequesterConfig{RequesterGLN: gln, RouterGLN: v.RouterGLN, Timeout: v.Timeout}, log)
	if err != nil {
		return nil, configErr("verification", "%v", err)
	}
	return r, nil
}

// HTTPConfig is the HTTP server: API, web UI, /metrics, /healthz.
type HTTPConfig struct {
	Listen            string        `yaml:"listen"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	// Hardening (httpguard.go): the names clients may use (Host, and
	// Origin of a state-changing request; empty = the listen address and
	// its localhost forms), timeouts of a whole request, of writing an
	// answer (CSV downloads extend it while they progress) and of an idle
	// keep-alive connection, and the most connections served at once.
	Hosts          []string      `yaml:"hosts"`
	ReadTimeout    time.Duration `yaml:"read_timeout"`
	WriteTimeout   time.Duration `yaml:"write_timeout"`
	IdleTimeout    time.Duration `yaml:"idle_timeout"`
	MaxConnections int           `yaml:"max_connections"`
	// TLSCert and TLSKey (PEM files, both or neither) make central serve
	// HTTPS; the embedded broker's TLS listener presents the same
	// certificate. See docs/operations.md (TLS).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// DatabaseConfig names the store.
type DatabaseConfig struct {
	// URL is sqlite:PATH or postgres://user@host:port/db?sslmode=...
	URL           string `yaml:"url"`
	PostgresConns int    `yaml:"postgres_conns"`
}

// MQTTConfig is the broker: embedded (in-process) or external.
type MQTTConfig struct {
	// Broker is "embedded" (127.0.0.1:1883, or the next free port),
	// "embedded:HOST:PORT" (exactly there; port 0 = any free port) or
	// "tcp://HOST:PORT" for an external broker, "ssl://HOST:PORT" (also
	// tls:// or mqtts://) for one over TLS.
	Broker string `yaml:"broker"`
	// CAFile, CertFile and KeyFile are the TLS files of central's
	// connection to an external ssl:// broker: the CA to trust (empty:
	// the system's) and central's client certificate (both or neither).
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// TLSListen (HOST:PORT) adds a TLS listener to the embedded broker,
	// with http.tls_cert's certificate. With TLSClientCA set, a client
	// on it must present a certificate issued by that CA whose common
	// name is its MQTT username.
	TLSListen   string `yaml:"tls_listen"`
	TLSClientCA string `yaml:"tls_client_ca"`
	// ServiceUser and ServicePassword are central's login. For the
	// embedded broker an empty password is replaced by a random one (only
	// central itself logs in as the service user). The environment
	// variable SERIALINE_MQTT_PASSWORD overrides the file.
	ServiceUser     string `yaml:"service_user"`
	ServicePassword string `yaml:"service_password"`
	// ClientID must differ between replicas; default central-<random>.
	ClientID string `yaml:"client_id"`
	// ShareGroup is the shared-subscription group the replicas share.
	ShareGroup     string        `yaml:"share_group"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// The embedded broker's limits (see broker.Config): in-flight windows,
	// the line password check, packet size, connections.
	MaxInflight           int           `yaml:"max_inflight"`
	MaxInflightPerLine    int           `yaml:"max_inflight_per_line"`
	AuthTimeout           time.Duration `yaml:"auth_timeout"`
	MaxPacketSize         int           `yaml:"max_packet_size"`
	MaxConnections        int           `yaml:"max_connections"`
	MaxConnectionsPerUser int           `yaml:"max_connections_per_user"`
	MaxUnauthenticated    int           `yaml:"max_unauthenticated"`
	LoginTimeout          time.Duration `yaml:"login_timeout"`
}

// embeddedConfig is the embedded broker's configuration on listen.
func (m MQTTConfig) embeddedConfig(listen, password string) broker.Config {
	return broker.Config{
		Listen: listen, ServiceUser: m.ServiceUser, ServicePassword: password,
		MaxInflight: m.MaxInflight, MaxInflightPerLine: m.MaxInflightPerLine, AuthTimeout: m.AuthTimeout,
		MaxPacketSize: m.MaxPacketSize, MaxConnections: m.MaxConnections, MaxConnectionsPerUser: m.MaxConnectionsPerUser,
		MaxUnauthenticated: m.MaxUnauthenticated, LoginTimeout: m.LoginTimeout,
	}
}

// IngestConfig tunes the MQTT ingest (see ingest.Config).
type IngestConfig struct {
	GrantCap       uint64        `yaml:"grant_cap"`
	GapAlert       time.Duration `yaml:"gap_alert"`
	GapCheck       time.Duration `yaml:"gap_check"`
	MaxMergeEvents int           `yaml:"max_merge_events"`
	LineQueue      int           `yaml:"line_queue"`
	Retries        int           `yaml:"retries"`
	// FutureSkew: events stamped further ahead of central's clock are
	// applied and flagged future-time for QA (store.WithFutureSkew).
	FutureSkew time.Duration `yaml:"future_skew"`
}

// WebConfig is the web UI's session.
type WebConfig struct {
	// SecureCookie is "auto" (Secure with http.tls_cert or unless
	// http.listen is a loopback address), "true" or "false". Without
	// http.tls_cert central serves plain HTTP: in production serve HTTPS
	// (or put a TLS proxy in front) and keep the cookie Secure.
	SecureCookie  string        `yaml:"secure_cookie"`
	SessionMaxAge time.Duration `yaml:"session_max_age"`
	// SessionIdle ends a session unused for this long (0 = 30m, at most
	// session_max_age).
	SessionIdle time.Duration `yaml:"session_idle"`
	// StaleAfter marks a line status older than this as stale.
	StaleAfter time.Duration `yaml:"stale_after"`
	// Refresh is how often the lines page refreshes.
	Refresh time.Duration `yaml:"refresh"`
}

// LoadConfig reads a YAML configuration file. Unknown keys are errors, so
// that a typo never silently leaves a default in place.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig reads a YAML configuration with the loader every program
// uses (shared/yamlconfig): an unknown key anywhere is an error naming its
// full path, a value of the wrong type names its key and line. An empty
// document is the defaults.
func ParseConfig(b []byte) (Config, error) {
	var cfg Config
	if err := yamlconfig.Decode(b, &cfg); err != nil && !errors.Is(err, yamlconfig.ErrEmpty) {
		return Config{}, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return cfg, nil
}

// WithDefaults returns c with every unset key at its default.
func (c Config) WithDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.HTTP.Listen, DefaultHTTPListen)
	c.HTTP = c.HTTP.guardDefaults()
	if c.HTTP.ReadHeaderTimeout == 0 {
		c.HTTP.ReadHeaderTimeout = min(10*time.Second, c.HTTP.ReadTimeout)
	}
	if c.HTTP.ShutdownTimeout == 0 {
		c.HTTP.ShutdownTimeout = DefaultShutdownTimeout
	}
	def(&c.Database.URL, DefaultDatabase)
	def(&c.MQTT.Broker, DefaultMQTT)
	def(&c.MQTT.ServiceUser, ingest.DefaultUsername)
	def(&c.MQTT.ShareGroup, ingest.DefaultShareGroup)
	def(&c.Web.SecureCookie, "auto")
	c.Log = c.Log.WithDefaults()
	return c
}

// Validate checks every key (of c.WithDefaults()) and names the first one
// that breaks its rule.
//
// It is long because it is a flat list of per-key checks (some handed to the broker's
// and ingest's own Validate); each is a few lines and the first failure names its key.
func (c Config) Validate() error {
	if err := netaddr.CheckListen(c.HTTP.Listen); err != nil {
		return configErr("http.listen", "%v", err)
	}
	if err := c.HTTP.validateGuard(); err != nil {
		return err
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"http.read_header_timeout", c.HTTP.ReadHeaderTimeout}, {"http.shutdown_timeout", c.HTTP.ShutdownTimeout},
		{"web.session_max_age", c.Web.SessionMaxAge}, {"web.session_idle", c.Web.SessionIdle}, {"web.stale_after", c.Web.StaleAfter}, {"web.refresh", c.Web.Refresh},
	} {
		if d.v < 0 {
			return configErr(d.key, "%v is negative", d.v)
		}
	}
	switch u := c.Database.URL; {
	case strings.HasPrefix(u, "sqlite:"):
		if strings.TrimPrefix(u, "sqlite:") == "" {
			return configErr("database.url", "sqlite: needs a file path, e.g. sqlite:data/central.db")
		}
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		if _, err := url.Parse(u); err != nil {
			return configErr("database.url", "not a PostgreSQL URL: %v", err)
		}
	default:
		return configErr("database.url", "%q: want sqlite:PATH or postgres://user@host:port/db", redact(u))
	}
	if c.Database.PostgresConns < 0 || c.Database.PostgresConns > 1000 {
		return configErr("database.postgres_conns", "%d is outside 0..1000 (0 means 8)", c.Database.PostgresConns)
	}
	if _, _, err := c.MQTT.parseBroker(); err != nil {
		return configErr("mqtt.broker", "%v", err)
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if err := wire.ValidateLine(c.MQTT.ServiceUser); err != nil {
		return configErr("mqtt.service_user", "%v (the service user follows the line id rules)", err)
	}
	// The embedded broker's keys are checked by the broker itself.
	if err := c.MQTT.embeddedConfig("127.0.0.1:0", "x").Validate(); err != nil {
		return fmt.Errorf("%w: mqtt.%s", ErrInvalidConfig, strings.TrimPrefix(err.Error(), broker.ErrInvalidConfig.Error()+": "))
	}
	if c.Ingest.FutureSkew < 0 {
		return configErr("ingest.future_skew", "%v is negative (0 means %v)", c.Ingest.FutureSkew, lineevents.DefaultFutureSkew)
	}
	// The ingest keys are checked by ingest itself, with a stand-in broker.
	ic := c.ingestConfig("tcp://127.0.0.1:1883", "")
	if err := ic.Validate(); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.TrimPrefix(err.Error(), ingest.ErrInvalidConfig.Error()+": "))
	}
	if _, _, err := c.senderConfig(); err != nil {
		return err
	}
	for _, g := range []struct{ key, v string }{{"verification.responder_gln", c.Verification.ResponderGLN},
		{"verification.requester_gln", c.Verification.RequesterGLN}, {"verification.router_gln", c.Verification.RouterGLN}} {
		if g.v == "" {
			continue
		}
		if _, err := gs1.ParseGLN(g.v); err != nil {
			return configErr(g.key, "%v", err)
		}
	}
	if c.Verification.Timeout < 0 || c.Verification.Timeout > 5*time.Minute {
		return configErr("verification.timeout", "%v is outside 0..5m (0 means 20s)", c.Verification.Timeout)
	}
	if c.Secrets.KeyFile != "" {
		if _, err := loadSecretKeys(c.Secrets.KeyFile); err != nil {
			return configErr("secrets.key_file", "%v", err)
		}
	}
	if c.FMD.ReversalWindow < 0 {
		return configErr("fmd.reversal_window", "%v is negative (0 means %v)", c.FMD.ReversalWindow, eufmd.DefaultFMDReversalWindow)
	}
	switch c.Web.SecureCookie {
	case "auto", "true", "false":
	default:
		return configErr("web.secure_cookie", "%q: use auto, true or false", c.Web.SecureCookie)
	}
	if c.Web.SessionMaxAge != 0 && c.Web.SessionMaxAge < time.Minute {
		return configErr("web.session_max_age", "%v is shorter than a minute", c.Web.SessionMaxAge)
	}
	if c.Web.SessionIdle != 0 && c.Web.SessionIdle < time.Minute {
		return configErr("web.session_idle", "%v is shorter than a minute", c.Web.SessionIdle)
	}
	if maxAge := cmp.Or(c.Web.SessionMaxAge, auth.DefaultSessionAge); c.Web.SessionIdle > maxAge {
		return configErr("web.session_idle", "%v is longer than web.session_max_age (%v)", c.Web.SessionIdle, maxAge)
	}
	if err := c.Log.Validate("log"); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// parseBroker splits mqtt.broker into the embedded broker's listen address
// (and whether it may move to the next free port) or an external URL.
func (m MQTTConfig) parseBroker() (embeddedAddr string, fallback bool, err error) {
	switch b := m.Broker; {
	case b == "embedded":
		return DefaultEmbeddedListen, true, nil
	case strings.HasPrefix(b, "embedded:"):
		addr := strings.TrimPrefix(b, "embedded:")
		if err := netaddr.CheckListen(addr); err != nil {
			return "", false, fmt.Errorf("%q: %v", b, err)
		}
		return addr, false, nil
	case strings.HasPrefix(b, "tcp://"), isTLSBroker(b):
		u, err := url.Parse(b)
		if err != nil || u.Path != "" || u.User != nil {
			return "", false, fmt.Errorf("%q: want tcp://HOST:PORT or ssl://HOST:PORT (credentials go in mqtt.service_user/service_password)", b)
		}
		if err := netaddr.CheckDial(u.Host); err != nil {
			return "", false, fmt.Errorf("%q: %v", b, err)
		}
		return "", false, nil
	default:
		return "", false, fmt.Errorf("%q: use embedded, embedded:HOST:PORT, tcp://HOST:PORT or ssl://HOST:PORT", b)
	}
}

// ingestConfig is the ingest part of c for a broker URL.
func (c Config) ingestConfig(brokerURL, password string) ingest.Config {
	return ingest.Config{
		Broker:         brokerURL,
		Username:       c.MQTT.ServiceUser,
		Password:       password,
		ClientID:       c.MQTT.ClientID,
		ShareGroup:     c.MQTT.ShareGroup,
		GrantCap:       c.Ingest.GrantCap,
		GapAlert:       c.Ingest.GapAlert,
		GapCheck:       c.Ingest.GapCheck,
		MaxMergeEvents: c.Ingest.MaxMergeEvents,
		LineQueue:      c.Ingest.LineQueue,
		ConnectTimeout: c.MQTT.ConnectTimeout,
		Retries:        c.Ingest.Retries,
	}
}

func configErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, key, fmt.Sprintf(format, args...))
}

// redact hides a password in a URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
