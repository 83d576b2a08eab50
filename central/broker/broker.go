// Package broker is central's embedded MQTT broker (mochi-mqtt), used by
// default so that a new user needs nothing else. It enforces the wire
// contract's logins and topic rules (Allowed), the same ones
// configs/mosquitto gives an external Mosquitto in production.
//
// Central's ingest connects to it with paho over TCP, exactly as it connects
// to an external broker, so that both modes run the same code. The broker
// also offers an in-process client (Publish, Subscribe) for the few places
// where a network hop buys nothing.
package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/serialine/serialine/central/metrics"
)

// ErrClosed is returned by Start and the in-process client once the broker
// has been closed.
var ErrClosed = errors.New("mqtt broker closed")

// ErrStarted is returned by a second Start.
var ErrStarted = errors.New("mqtt broker already started")

// ErrDenied is wrapped by the in-process client's errors for a topic or
// filter the service user may not use (see Allowed).
var ErrDenied = errors.New("not allowed for the service user")

// Broker is the embedded MQTT broker. New configures it, Start listens,
// Close stops it.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	srv    *mqtt.Server
	reg    *metrics.Registry
	keeper DropKeeper
	gate   *gate
	drops  *dropper
	ln     *listener
	cancel context.CancelFunc // ends the hook's context: pending credential checks give up
	done   <-chan struct{}
	subIDs atomic.Int64

	mu      sync.Mutex
	started bool
	closed  bool
	addr    string
}

// New checks cfg and prepares a broker that admits the service user and the
// lines creds accepts. It does not listen; Start does.
//
// WithDropKeeper has the messages it drops from lines kept as dead
// letters. Its figures are in Metrics.
func New(cfg Config, creds Credentials, log *slog.Logger, opts ...Option) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if creds == nil {
		return nil, errors.New("mqtt broker: credentials are nil")
	}
	if log == nil {
		return nil, errors.New("mqtt broker: logger is nil")
	}
	cfg = cfg.withDefaults()
	log = slog.New(namedHandler{log.Handler()}).With("component", "mqtt-broker")

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumInflight = uint16(cfg.mochiInflight())
	// The listener enforces each connection's own limit from the packet
	// header; this is mochi's backstop, the largest any user has.
	caps.MaximumPacketSize = serviceMaxPacket
	caps.MaximumClients = int64(cfg.MaxConnections)
	// Room in every client's send queue for its whole in-flight window
	// and then some, so that the queue is never what drops a message.
	caps.MaximumClientWritesPending = int32(cfg.mochiInflight() + 1024)
	srv := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       log,
		InlineClient: true,
	})
	b := &Broker{cfg: cfg, log: log, srv: srv}
	for _, o := range opts {
		o(b)
	}
	b.reg = metrics.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, ctx.Done()
	hook := &aclHook{
		serviceUser:     cfg.ServiceUser,
		servicePassword: []byte(cfg.ServicePassword),
		creds:           creds,
		authTimeout:     cfg.AuthTimeout,
		clients:         srv.Clients,
		ctx:             ctx,
		log:             log,
		rate:            newRateLog(log),
	}
	b.gate = newGate(cfg.MaxInflightPerLine, cfg.MaxInflight, srv.Clients, hook.isService, hook.lineOf)
	b.ln = newListener(cfg, log, hook.rate, nil, nil)
	m := newBrokerMetrics(b.reg, srv, b.gate, b.ln.counts)
	b.drops = newDropper(b.keeper, m, log, hook.rate)
	b.ln.m, b.ln.drops = m, b.drops
	hook.gate, hook.drops, hook.m = b.gate, b.drops, m
	if err := srv.AddHook(hook, nil); err != nil {
		cancel()
		b.drops.close()
		return nil, fmt.Errorf("mqtt broker: add ACL hook: %w", err)
	}
	return b, nil
}

// Start listens on cfg.Listen and serves in the background until Close is
// called or ctx ends. Addr then reports the bound address.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return ErrClosed
	case b.started:
		return ErrStarted
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mqtt broker: start: %w", err)
	}
	l := b.ln
	if err := b.srv.AddListener(l); err != nil {
		return fmt.Errorf("mqtt broker: listen on %s: %w", b.cfg.Listen, err)
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("mqtt broker: serve on %s: %w", b.cfg.Listen, err)
	}
	b.started = true
	b.addr = l.Address()
	go func() {
		select {
		case <-ctx.Done():
			_ = b.Close()
		case <-b.done:
		}
	}()
	b.log.Info("mqtt broker listening", "addr", b.addr, "service_user", b.cfg.ServiceUser)
	return nil
}

// Metrics returns the broker's figures (drops by reason, refused
// connections, packets too large, backpressure by line, connections), to
// be included in the process's registry once the broker runs.
func (b *Broker) Metrics() *metrics.Registry { return b.reg }

// Addr returns the address the broker listens on (host:port with the real
// port), or "" before Start.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// Close disconnects every client and stops listening. It may be called more
// than once.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	started := b.started
	b.mu.Unlock()

	b.cancel()
	b.gate.close()
	if !started {
		b.drops.close()
		return nil
	}
	err := b.srv.Close()
	b.drops.close() // after the clients: what they caused is kept
	if err != nil {
		return fmt.Errorf("mqtt broker: close: %w", err)
	}
	b.log.Info("mqtt broker closed", "addr", b.Addr())
	return nil
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Publish publishes payload on topic from inside central, as the service
// user but without a network connection or login. Subscribers get it at
// most at qos; retain keeps it as the topic's retained message.
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if !Allowed(b.cfg.ServiceUser, true, topic, true) {
		return fmt.Errorf("mqtt broker: in-process publish to %q: %w", topic, ErrDenied)
	}
	if qos > 2 {
		return fmt.Errorf("mqtt broker: in-process publish to %q: qos %d is not 0, 1 or 2", topic, qos)
	}
	if b.isClosed() {
		return ErrClosed
	}
	if err := b.srv.Publish(topic, payload, retain, qos); err != nil {
		return fmt.Errorf("mqtt broker: in-process publish to %q: %w", topic, err)
	}
	return nil
}

// Message is one message delivered to an in-process subscription.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool // published with retain, e.g. sent from the retained store on subscribing
}

// Subscribe calls handler with every message on a topic matching filter,
// starting with the retained ones, and returns the function that ends the
// subscription. handler runs on the goroutine serving the publishing client,
// so it must be quick and never block. Shared subscriptions are refused:
// in-process there is nobody to share with.
func (b *Broker) Subscribe(filter string, handler func(Message)) (unsubscribe func() error, err error) {
	if strings.HasPrefix(filter, sharePrefix) {
		return nil, fmt.Errorf("mqtt broker: in-process subscribe to %q: shared subscriptions are for network clients", filter)
	}
	if !Allowed(b.cfg.ServiceUser, true, filter, false) {
		return nil, fmt.Errorf("mqtt broker: in-process subscribe to %q: %w", filter, ErrDenied)
	}
	if handler == nil {
		return nil, fmt.Errorf("mqtt broker: in-process subscribe to %q: handler is nil", filter)
	}
	if b.isClosed() {
		return nil, ErrClosed
	}
	id := int(b.subIDs.Add(1))
	err = b.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		// The packet's buffer belongs to the broker; the handler may keep the copy.
		handler(Message{Topic: pk.TopicName, Payload: bytes.Clone(pk.Payload), Retained: pk.FixedHeader.Retain})
	})
	if err != nil {
		return nil, fmt.Errorf("mqtt broker: in-process subscribe to %q: %w", filter, err)
	}
	return func() error {
		if err := b.srv.Unsubscribe(filter, id); err != nil {
			return fmt.Errorf("mqtt broker: in-process unsubscribe from %q: %w", filter, err)
		}
		return nil
	}, nil
}

// namedHandler gives a message to mochi's records that have none: mochi logs
// every connection that ends in an error (a refused login, a cut cable) as
// a warning with an empty message.
type namedHandler struct{ slog.Handler }

func (h namedHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "" {
		r.Message = "mqtt connection ended"
	}
	return h.Handler.Handle(ctx, r)
}

func (h namedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return namedHandler{h.Handler.WithAttrs(attrs)}
}

func (h namedHandler) WithGroup(name string) slog.Handler {
	return namedHandler{h.Handler.WithGroup(name)}
}
