// Package testcentral plays central's side of the MQTT contract in the edge
// tests: a small paho client that acks events, answers serial requests with
// grants (idempotent by request id) and publishes retained orders. The real
// central joins in the system tests; this one only follows shared/wire.
//
// It also runs an embedded broker (mochi-mqtt) on 127.0.0.1 for tests that
// need to stop and restart one.
package testcentral

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mqttsrv "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// Mosquitto is the broker the project's machines run (anonymous access).
const Mosquitto = "tcp://127.0.0.1:1883"

// Wait bounds every wait here; a deadline against hangs, not a measure.
const Wait = 60 * time.Second

// LineID returns a fresh line id, so tests on the shared broker never see
// each other's retained messages.
func LineID(prefix string) string {
	return fmt.Sprintf("t-%s-%08x", prefix, rand.Uint32())
}

// Broker is an embedded MQTT broker on 127.0.0.1.
type Broker struct {
	srv  *mqttsrv.Server
	Addr string // host:port
}

// StartBroker starts a broker on addr ("127.0.0.1:0" for a free port, or
// the Addr of a stopped one to restart it in place).
func StartBroker(tb testing.TB, addr string) *Broker {
	tb.Helper()
	srv := mqttsrv.New(&mqttsrv.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(tb, srv.AddHook(new(auth.AllowHook), nil))
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: addr})
	require.NoError(tb, srv.AddListener(l))
	go func() { _ = srv.Serve() }()
	b := &Broker{srv: srv, Addr: l.Address()}
	tb.Cleanup(func() { b.Stop() })
	return b
}

// URL is the broker's tcp:// URL.
func (b *Broker) URL() string { return "tcp://" + b.Addr }

// Stop closes the broker (idempotent).
func (b *Broker) Stop() {
	if b.srv != nil {
		_ = b.srv.Close()
		b.srv = nil
	}
}

// Cut drops a client's connection without a DISCONNECT, as a crash or a
// pulled cable would: the broker publishes its last will.
func (b *Broker) Cut(clientID string) bool {
	cl, ok := b.srv.Clients.Get(clientID)
	if !ok {
		return false
	}
	cl.Stop(fmt.Errorf("cut by test"))
	return true
}

// Options tune the fake central.
type Options struct {
	// NoAck leaves events unacknowledged (Ack acks by hand).
	NoAck bool
	// Scheme is the grants' scheme (default: sequential, 12 digits).
	Scheme *serials.Spec
	// GrantCap caps a grant's count (0: as requested).
	GrantCap uint64
	// RefuseGrants answers requests with an error.
	RefuseGrants string
}

// Central is the fake central of one line.
type Central struct {
	tb   testing.TB
	line string
	opts Options
	c    mqtt.Client

	mu sync.Mutex
	// inc is the event store incarnation of the events by seq; past holds
	// the events of earlier incarnations, and incs every incarnation seen.
	inc      string
	past     []wire.Event
	incs     []string
	events   map[uint64]wire.Event // by seq
	ids      map[string]uint64
	dupes    int // events received again (resends)
	batches  int
	contig   uint64
	acked    uint64
	grants   map[string]wire.SerialGrant
	requests []wire.SerialRequest
	next     map[string]uint64 // next counter per GTIN
	statuses []wire.Status
	changed  chan struct{}
}

// New connects a fake central for line to broker (a tcp:// URL).
func New(tb testing.TB, broker, line string, opts Options) *Central {
	tb.Helper()
	if opts.Scheme == nil {
		opts.Scheme = &serials.Spec{Kind: serials.KindSequential, Length: 12, Alphabet: serials.AlphabetNumeric, Start: 1}
	}
	c := &Central{tb: tb, line: line, opts: opts, events: map[uint64]wire.Event{}, ids: map[string]uint64{},
		grants: map[string]wire.SerialGrant{}, next: map[string]uint64{}, changed: make(chan struct{})}
	topic := func(kind string) string {
		t, err := wire.Topic(line, kind)
		require.NoError(tb, err)
		return t
	}
	subscribed := make(chan struct{}, 1)
	subscribe := func(cl mqtt.Client) {
		tok := cl.SubscribeMultiple(map[string]byte{topic(wire.KindEvents): 1, topic(wire.KindSerialRequest): 1, topic(wire.KindStatus): 1}, c.dispatch)
		if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			select {
			case subscribed <- struct{}{}:
			default:
			}
		}
	}
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("central-%s-%x", line, rand.Uint32())).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(50 * time.Millisecond).
		SetMaxReconnectInterval(200 * time.Millisecond).SetOnConnectHandler(subscribe)
	c.c = mqtt.NewClient(o)
	tok := c.c.Connect()
	require.True(tb, tok.WaitTimeout(Wait), "central: connect to %s", broker)
	require.NoError(tb, tok.Error())
	// The connect handler subscribes: wait for it, so nothing published
	// after New returns is missed.
	select {
	case <-subscribed:
	case <-time.After(Wait):
		tb.Fatalf("central: no subscription within %v", Wait)
	}
	tb.Cleanup(c.Close)
	return c
}

func (c *Central) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Central) topic(kind string) string {
	t, _ := wire.Topic(c.line, kind)
	return t
}

func (c *Central) dispatch(cl mqtt.Client, m mqtt.Message) {
	_, kind, err := wire.ParseTopic(m.Topic())
	if err != nil {
		c.tb.Errorf("central: %v", err)
		return
	}
	switch kind {
	case wire.KindEvents:
		c.onEvents(cl, m)
	case wire.KindSerialRequest:
		c.onRequest(cl, m)
	case wire.KindStatus:
		c.onStatus(cl, m)
	}
}

func (c *Central) onEvents(_ mqtt.Client, m mqtt.Message) {
	b, err := wire.DecodeEventBatch(m.Payload())
	if err != nil {
		c.tb.Errorf("central: invalid event batch: %v", err)
		return
	}
	c.mu.Lock()
	c.batches++
	if b.Incarnation != c.inc {
		if b.Incarnation != "" && slices.Contains(c.incs, b.Incarnation) {
			c.mu.Unlock()
			return // a late batch of an earlier incarnation: nothing new
		}
		// A new incarnation numbers its events from 1 again.
		seqs := make([]uint64, 0, len(c.events))
		for s := range c.events {
			seqs = append(seqs, s)
		}
		slices.Sort(seqs)
		for _, s := range seqs {
			c.past = append(c.past, c.events[s])
		}
		c.inc, c.incs = b.Incarnation, append(c.incs, b.Incarnation)
		c.events, c.ids, c.contig, c.acked = map[uint64]wire.Event{}, map[string]uint64{}, 0, 0
	}
	for _, e := range b.Events {
		if s, ok := c.ids[e.ID]; ok {
			if s != e.Seq {
				c.tb.Errorf("central: event %s came with seq %d and %d", e.ID, s, e.Seq)
			}
			c.dupes++
			continue
		}
		if prev, ok := c.events[e.Seq]; ok {
			c.tb.Errorf("central: seq %d came as %s and %s", e.Seq, prev.ID, e.ID)
		}
		c.events[e.Seq] = e
		c.ids[e.ID] = e.Seq
	}
	for {
		if _, ok := c.events[c.contig+1]; !ok {
			break
		}
		c.contig++
	}
	ack := c.contig
	auto := !c.opts.NoAck
	c.notifyLocked()
	c.mu.Unlock()
	if auto {
		c.Ack(ack)
	}
}

// Ack publishes an ack up to seq of the current incarnation.
func (c *Central) Ack(seq uint64) {
	c.mu.Lock()
	inc := c.inc
	c.mu.Unlock()
	c.AckRaw(wire.Ack{V: wire.Version, Line: c.line, Seq: seq, Incarnation: inc})
	c.mu.Lock()
	if inc == c.inc {
		c.acked = max(c.acked, seq)
	}
	c.notifyLocked()
	c.mu.Unlock()
}

// AckRaw publishes a (of any incarnation, with anything replaced).
func (c *Central) AckRaw(a wire.Ack) {
	b, err := wire.Encode(a)
	require.NoError(c.tb, err)
	tok := c.c.Publish(c.topic(wire.KindAcks), 1, false, b)
	require.True(c.tb, tok.WaitTimeout(Wait))
}

func (c *Central) onRequest(_ mqtt.Client, m mqtt.Message) {
	r, err := wire.DecodeSerialRequest(m.Payload())
	if err != nil {
		c.tb.Errorf("central: invalid serial request: %v", err)
		return
	}
	c.mu.Lock()
	c.requests = append(c.requests, r)
	g, ok := c.grants[r.RequestID]
	if !ok {
		g = wire.SerialGrant{V: wire.Version, RequestID: r.RequestID, Line: r.Line, Order: r.Order, GTIN: r.GTIN}
		switch {
		case c.opts.RefuseGrants != "":
			g.Error = c.opts.RefuseGrants
		default:
			n := r.Count
			if c.opts.GrantCap > 0 {
				n = min(n, c.opts.GrantCap)
			}
			spec := *c.opts.Scheme
			g.Scheme = &spec
			g.Ranges = []wire.CounterRange{{Start: c.next[r.GTIN], Count: n}}
			c.next[r.GTIN] += n
		}
		c.grants[r.RequestID] = g
	}
	c.notifyLocked()
	c.mu.Unlock()
	b, err := wire.Encode(g)
	require.NoError(c.tb, err)
	c.c.Publish(c.topic(wire.KindSerialGrant), 1, false, b)
}

func (c *Central) onStatus(_ mqtt.Client, m mqtt.Message) {
	if len(m.Payload()) == 0 {
		return
	}
	s, err := wire.DecodeStatus(m.Payload())
	if err != nil {
		c.tb.Errorf("central: invalid status: %v", err)
		return
	}
	c.mu.Lock()
	c.statuses = append(c.statuses, s)
	c.notifyLocked()
	c.mu.Unlock()
}

// PublishOrders publishes the line's orders, retained.
func (c *Central) PublishOrders(orders ...wire.Order) {
	b, err := wire.Encode(wire.Orders{V: wire.Version, Line: c.line, Orders: orders})
	require.NoError(c.tb, err)
	tok := c.c.Publish(c.topic(wire.KindOrders), 1, true, b)
	require.True(c.tb, tok.WaitTimeout(Wait))
	require.NoError(c.tb, tok.Error())
}

// PublishRaw publishes payload on the line's topic of kind.
func (c *Central) PublishRaw(kind string, retained bool, payload []byte) {
	tok := c.c.Publish(c.topic(kind), 1, retained, payload)
	require.True(c.tb, tok.WaitTimeout(Wait))
}

// Close clears the retained messages of the line and disconnects.
func (c *Central) Close() {
	if c.c.IsConnectionOpen() {
		c.c.Publish(c.topic(wire.KindOrders), 1, true, []byte{}).WaitTimeout(time.Second)
		c.c.Publish(c.topic(wire.KindStatus), 1, true, []byte{}).WaitTimeout(time.Second)
	}
	c.c.Disconnect(100)
}

// Snapshot is what central has seen.
type Snapshot struct {
	// Events are the events of earlier incarnations, then the current
	// one's by seq.
	Events []wire.Event
	// Incarnation is the current incarnation, Incarnations all seen.
	Incarnation  string
	Incarnations []string
	Contiguous   uint64
	Acked        uint64
	Dupes        int
	Batches      int
	Requests     []wire.SerialRequest
	Grants       map[string]wire.SerialGrant
	Statuses     []wire.Status
}

// Snapshot returns a copy of what central has seen.
func (c *Central) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshotLocked()
}

func (c *Central) snapshotLocked() Snapshot {
	s := Snapshot{Contiguous: c.contig, Acked: c.acked, Dupes: c.dupes, Batches: c.batches,
		Requests: append([]wire.SerialRequest(nil), c.requests...), Grants: map[string]wire.SerialGrant{},
		Statuses: append([]wire.Status(nil), c.statuses...), Incarnation: c.inc, Incarnations: append([]string(nil), c.incs...)}
	for _, e := range c.events {
		s.Events = append(s.Events, e)
	}
	sort.Slice(s.Events, func(i, j int) bool { return s.Events[i].Seq < s.Events[j].Seq })
	s.Events = append(append([]wire.Event(nil), c.past...), s.Events...)
	for k, v := range c.grants {
		s.Grants[k] = v
	}
	return s
}

// WaitFor blocks until cond holds for what central has seen.
func (c *Central) WaitFor(ctx context.Context, what string, cond func(Snapshot) bool) Snapshot {
	c.tb.Helper()
	for {
		c.mu.Lock()
		s, ch := c.snapshotLocked(), c.changed
		c.mu.Unlock()
		if cond(s) {
			return s
		}
		select {
		case <-ch:
		case <-ctx.Done():
			c.tb.Fatalf("central: waiting for %s: %v (contiguous %d, %d events, %d requests, %d statuses)", what, ctx.Err(), s.Contiguous, len(s.Events), len(s.Requests), len(s.Statuses))
			return s
		}
	}
}

// Marshal is json.Marshal for tests that publish raw payloads.
func Marshal(tb testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(tb, err)
	return b
}
