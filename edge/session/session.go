// Package session is the line's MQTT session with central: it connects
// (and reconnects with backoff) as the line, keeps the retained status with
// an offline last will, subscribes to the line's acks, orders and grants,
// hands each valid payload to its handler, and publishes the line's event
// batches and serial requests, waiting for the broker's PUBACK.
//
// It holds nothing durable: the outbox (edge/outbox) owns the events and
// publishes them through the session, the pool (edge/pool) owns the serial
// requests. The session only moves payloads, and drops what does not
// validate against the contract (counted, logged), so no handler ever sees
// an invalid payload.
package session

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/serialine/serialine/shared/wire"
)

// ErrOffline is returned by the calls that need the broker while the
// session is down; the caller keeps what it sent and tries again.
var ErrOffline = errors.New("not connected to the MQTT broker")

// Defaults applied by Config.WithDefaults.
const (
	DefaultPublishTimeout = 10 * time.Second
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultReconnectMax   = 10 * time.Second
)

// Config is the line's broker and credentials.
type Config struct {
	// Line is the line id (topics, client id).
	Line string
	// Broker is the MQTT broker URL, e.g. "tcp://127.0.0.1:1883".
	Broker string
	// ClientID defaults to "serialine-edge-" + Line.
	ClientID string
	// Username and Password are the line's broker credentials.
	Username, Password string
	// TLS configures an ssl:// broker's connection (CA, client
	// certificate); nil uses the system's CAs and no certificate.
	TLS *tls.Config
	// KeepAlive, ConnectTimeout and ReconnectMax tune the session.
	KeepAlive, ConnectTimeout, ReconnectMax time.Duration
	// PublishTimeout bounds the wait for a PUBACK.
	PublishTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// WithDefaults fills unset fields.
func (c Config) WithDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = "serialine-edge-" + c.Line
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
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
		return fmt.Errorf("session: line: %w", err)
	}
	if c.Broker == "" {
		return errors.New("session: broker: missing")
	}
	for _, kv := range []struct {
		key string
		v   time.Duration
	}{{"publish_timeout", c.PublishTimeout}, {"keepalive", c.KeepAlive}, {"connect_timeout", c.ConnectTimeout}, {"reconnect_max", c.ReconnectMax}} {
		if kv.v < 0 {
			return fmt.Errorf("session: %s: must not be negative, got %v", kv.key, kv.v)
		}
	}
	return nil
}

// Handlers receive central's valid payloads and the session's news. They
// run on the MQTT client's goroutine: keep them short. Nil ones are not
// called.
type Handlers struct {
	Acks   func(wire.Ack)
	Orders func(wire.Orders)
	Grant  func(wire.SerialGrant)
	// Connected is told after each (re)connection, once subscribed.
	Connected func()
}

// Session is one line's MQTT session.
type Session struct {
	cfg    Config
	h      Handlers
	log    *slog.Logger
	topics struct{ events, acks, status, orders, request, grant string }

	connected atomic.Bool
	invalid   atomic.Uint64
	connects  atomic.Uint64

	mu         sync.Mutex
	client     mqtt.Client
	lastStatus []byte
}

// New checks cfg; nothing is dialled until Connect.
func New(cfg Config, h Handlers, log *slog.Logger) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("session: logger: missing")
	}
	s := &Session{cfg: cfg.WithDefaults(), h: h, log: log}
	for _, t := range []struct {
		dst  *string
		kind string
	}{{&s.topics.events, wire.KindEvents}, {&s.topics.acks, wire.KindAcks}, {&s.topics.status, wire.KindStatus},
		{&s.topics.orders, wire.KindOrders}, {&s.topics.request, wire.KindSerialRequest}, {&s.topics.grant, wire.KindSerialGrant}} {
		topic, err := wire.Topic(cfg.Line, t.kind)
		if err != nil {
			return nil, fmt.Errorf("session: %w", err)
		}
		*t.dst = topic
	}
	return s, nil
}

// Connect starts the session: it returns at once and keeps (re)connecting
// in the background with backoff.
func (s *Session) Connect() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return nil
	}
	will, err := json.Marshal(wire.Status{V: wire.Version, Line: s.cfg.Line, State: wire.LineOffline})
	if err != nil {
		return err
	}
	opts := mqtt.NewClientOptions().
		AddBroker(s.cfg.Broker).
		SetClientID(s.cfg.ClientID).
		SetUsername(s.cfg.Username).
		SetPassword(s.cfg.Password).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(s.cfg.ReconnectMax).
		SetKeepAlive(s.cfg.KeepAlive).
		SetPingTimeout(min(s.cfg.KeepAlive, 10*time.Second)).
		SetConnectTimeout(s.cfg.ConnectTimeout).
		SetWriteTimeout(s.cfg.PublishTimeout).
		SetBinaryWill(s.topics.status, will, 1, true).
		SetTLSConfig(s.cfg.TLS).
		SetOnConnectHandler(s.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			s.connected.Store(false)
			s.log.Warn("mqtt connection lost", "broker", s.cfg.Broker, "err", err)
			if s.h.Connected != nil {
				s.h.Connected() // the outbox looks again: now disconnected
			}
		})
	s.client = mqtt.NewClient(opts)
	s.client.Connect() // with ConnectRetry it keeps trying in the background
	s.log.Info("mqtt connecting", "broker", s.cfg.Broker, "client_id", s.cfg.ClientID)
	return nil
}

// onConnect subscribes, republishes the last status and tells the
// Connected handler.
func (s *Session) onConnect(c mqtt.Client) {
	subs := map[string]mqtt.MessageHandler{
		s.topics.acks:   s.handleAck,
		s.topics.orders: s.handleOrders,
		s.topics.grant:  s.handleGrant,
	}
	for topic, h := range subs {
		tok := c.Subscribe(topic, 1, h)
		if !tok.WaitTimeout(s.cfg.PublishTimeout) || tok.Error() != nil {
			s.log.Error("mqtt subscribe failed; reconnecting", "topic", topic, "err", tok.Error())
			return
		}
	}
	s.mu.Lock()
	st := s.lastStatus
	s.mu.Unlock()
	if st != nil {
		c.Publish(s.topics.status, 1, true, st)
	}
	s.connects.Add(1)
	s.connected.Store(true)
	s.log.Info("mqtt connected", "broker", s.cfg.Broker)
	if s.h.Connected != nil {
		s.h.Connected()
	}
}

func (s *Session) mqttClient() mqtt.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

// Connected reports whether the session is up.
func (s *Session) Connected() bool { return s.connected.Load() }

// PublishEvents publishes an events payload (an EventBatch the outbox
// wrote) and waits for the broker's PUBACK.
func (s *Session) PublishEvents(ctx context.Context, payload []byte) error {
	c := s.mqttClient()
	if c == nil || !s.connected.Load() {
		return ErrOffline
	}
	return s.await(ctx, c.Publish(s.topics.events, 1, false, payload), "event batch")
}

// RequestSerials publishes a serial request and waits for the broker's
// PUBACK (the pool resends the same id until the grant comes).
func (s *Session) RequestSerials(ctx context.Context, req wire.SerialRequest) error {
	b, err := wire.Encode(req)
	if err != nil {
		return fmt.Errorf("session %q: serial request: %w", s.cfg.Line, err)
	}
	c := s.mqttClient()
	if c == nil || !s.connected.Load() {
		return fmt.Errorf("session %q: serial request %s: %w", s.cfg.Line, req.RequestID, ErrOffline)
	}
	return s.await(ctx, c.Publish(s.topics.request, 1, false, b), "serial request "+req.RequestID)
}

func (s *Session) await(ctx context.Context, tok mqtt.Token, what string) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.cfg.PublishTimeout):
		return fmt.Errorf("session %q: %s: no PUBACK within %v", s.cfg.Line, what, s.cfg.PublishTimeout)
	}
}

// PublishStatus publishes st retained (and keeps it for the next
// reconnect, since the broker then holds the offline will).
func (s *Session) PublishStatus(st wire.Status) error {
	st.V, st.Line = wire.Version, s.cfg.Line
	b, err := wire.Encode(st)
	if err != nil {
		return fmt.Errorf("session %q: status: %w", s.cfg.Line, err)
	}
	s.mu.Lock()
	s.lastStatus = b
	c := s.client
	s.mu.Unlock()
	if c != nil && s.connected.Load() {
		c.Publish(s.topics.status, 1, true, b)
	}
	return nil
}

func (s *Session) invalidPayload(topic string, payload []byte, err error) {
	s.invalid.Add(1)
	s.log.Error("invalid payload from central ignored", "topic", topic, "bytes", len(payload), "err", err)
}

// ours checks that a decoded payload of topic is this line's, or counts
// it invalid.
func (s *Session) ours(m mqtt.Message, line string, err error) bool {
	if err == nil && line != s.cfg.Line {
		err = fmt.Errorf("line: %q is not this line %q", line, s.cfg.Line)
	}
	if err != nil {
		s.invalidPayload(m.Topic(), m.Payload(), err)
		return false
	}
	return true
}

func (s *Session) handleAck(_ mqtt.Client, m mqtt.Message) {
	a, err := wire.DecodeAck(m.Payload())
	if s.ours(m, a.Line, err) && s.h.Acks != nil {
		s.h.Acks(a)
	}
}

func (s *Session) handleOrders(_ mqtt.Client, m mqtt.Message) {
	if len(m.Payload()) == 0 {
		return // retained message cleared
	}
	o, err := wire.DecodeOrders(m.Payload())
	if s.ours(m, o.Line, err) && s.h.Orders != nil {
		s.h.Orders(o)
	}
}

func (s *Session) handleGrant(_ mqtt.Client, m mqtt.Message) {
	g, err := wire.DecodeSerialGrant(m.Payload())
	if s.ours(m, g.Line, err) && s.h.Grant != nil {
		s.h.Grant(g)
	}
}

// Stats is a snapshot of the session.
type Stats struct {
	Connected bool   `json:"connected"`
	Connects  uint64 `json:"connects"` // sessions established
	Invalid   uint64 `json:"invalid"`  // invalid payloads received from central
}

// Stats returns the counters.
func (s *Session) Stats() Stats {
	return Stats{Connected: s.connected.Load(), Connects: s.connects.Load(), Invalid: s.invalid.Load()}
}

// Close publishes the offline status (when connected) and ends the
// session.
func (s *Session) Close() {
	c := s.mqttClient()
	if c == nil {
		return
	}
	if s.connected.Load() {
		if b, err := json.Marshal(wire.Status{V: wire.Version, Line: s.cfg.Line, State: wire.LineOffline, At: s.cfg.Now()}); err == nil {
			c.Publish(s.topics.status, 1, true, b).WaitTimeout(time.Second)
		}
	}
	c.Disconnect(250)
	s.connected.Store(false)
}
