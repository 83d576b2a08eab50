package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/stretchr/testify/require"
)

// waitFor bounds every wait for an event in these tests. It is a deadline
// against hangs, never a measure of speed.
const waitFor = 10 * time.Second

// --- log capture -------------------------------------------------------

// logRec is one captured slog record with its attributes flattened to text.
type logRec struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r logRec) String() string { return fmt.Sprintf("%s %q %v", r.level, r.msg, r.attrs) }

// logSink captures the records of a logger so tests can await them.
type logSink struct {
	mu      sync.Mutex
	recs    []logRec
	changed chan struct{} // closed and replaced on every record
}

// newLogSink returns a logger writing into a sink; the records are printed
// if the test fails.
func newLogSink(tb testing.TB) (*slog.Logger, *logSink) {
	tb.Helper()
	s := &logSink{changed: make(chan struct{})}
	tb.Cleanup(func() {
		if tb.Failed() {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, r := range s.recs {
				tb.Log(r)
			}
		}
	})
	return slog.New(&sinkHandler{sink: s}), s
}

func (s *logSink) add(r logRec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
	close(s.changed)
	s.changed = make(chan struct{})
}

// find returns the first record matching msg and every key=value in kv.
func (s *logSink) find(msg string, kv ...string) (logRec, bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
next:
	for _, r := range s.recs {
		if r.msg != msg {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if r.attrs[kv[i]] != kv[i+1] {
				continue next
			}
		}
		return r, true, nil
	}
	return logRec{}, false, s.changed
}

// await returns the first record with msg and the attributes kv, waiting
// for it to be logged.
func (s *logSink) await(tb testing.TB, msg string, kv ...string) logRec {
	tb.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		r, ok, changed := s.find(msg, kv...)
		if ok {
			return r
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("no log record %q with %v within %v", msg, kv, waitFor)
		}
	}
}

type sinkHandler struct {
	sink  *logSink
	attrs []slog.Attr
}

func (h *sinkHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *sinkHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRec{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.sink.add(rec)
	return nil
}

func (h *sinkHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &sinkHandler{sink: h.sink, attrs: append(append([]slog.Attr{}, h.attrs...), attrs...)}
}

func (h *sinkHandler) WithGroup(string) slog.Handler { return h }

// --- MQTT clients --------------------------------------------------------

// msg is a message a test client received.
type msg struct {
	topic    string
	payload  string
	retained bool
}

// client is a paho MQTT 3.1.1 client under test with every message it
// receives in inbox, in arrival order.
type client struct {
	paho.Client
	id    string
	inbox chan msg

	mu   sync.Mutex
	conn net.Conn // the TCP connection, so a test can cut it like a power loss
}

type clientOpt func(*paho.ClientOptions)

// withWill sets a retained QoS 1 last will.
func withWill(topic, payload string) clientOpt {
	return func(o *paho.ClientOptions) { o.SetWill(topic, payload, 1, true) }
}

// dial connects a client to addr with user/password; the returned error is
// the CONNECT's. The client is disconnected when the test ends.
func dial(tb testing.TB, addr, id, user, password string, opts ...clientOpt) (*client, error) {
	tb.Helper()
	c := &client{id: id, inbox: make(chan msg, 4096)}
	o := paho.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetUsername(user).
		SetPassword(password).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(waitFor).
		SetWriteTimeout(waitFor).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			c.inbox <- msg{topic: m.Topic(), payload: string(m.Payload()), retained: m.Retained()}
		}).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			conn, err := net.DialTimeout("tcp", u.Host, waitFor)
			if err != nil {
				return nil, err
			}
			c.mu.Lock()
			c.conn = conn
			c.mu.Unlock()
			return conn, nil
		})
	for _, opt := range opts {
		opt(o)
	}
	c.Client = paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(waitFor) {
		return nil, fmt.Errorf("client %s: no CONNACK within %v", id, waitFor)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	tb.Cleanup(func() { c.Disconnect(250) })
	return c, nil
}

func mustDial(tb testing.TB, addr, id, user, password string, opts ...clientOpt) *client {
	tb.Helper()
	c, err := dial(tb, addr, id, user, password, opts...)
	require.NoError(tb, err, "connect %s as %q", id, user)
	return c
}

// refused reports whether err is a CONNACK refusing the login. Mosquitto
// answers "not authorised", mochi "bad user name or password".
func refused(err error) bool {
	return errors.Is(err, packets.ErrorRefusedNotAuthorised) || errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword)
}

// subscribe subscribes at QoS 1 and returns the SUBACK return code.
func (c *client) subscribe(tb testing.TB, filter string) byte {
	tb.Helper()
	tok := c.Subscribe(filter, 1, nil)
	require.True(tb, tok.WaitTimeout(waitFor), "%s: no SUBACK for %q", c.id, filter)
	require.NoError(tb, tok.Error(), "%s: subscribe %q", c.id, filter)
	// One filter, one code; paho keys it by the filter without "$share/{group}/".
	res := tok.(*paho.SubscribeToken).Result()
	require.Len(tb, res, 1, "%s: SUBACK codes for %q", c.id, filter)
	for _, code := range res {
		return code
	}
	return 0
}

// mustSubscribe subscribes and requires the broker to grant it.
func (c *client) mustSubscribe(tb testing.TB, filter string) {
	tb.Helper()
	code := c.subscribe(tb, filter)
	require.LessOrEqual(tb, code, byte(2), "%s: SUBACK for %q refused it (0x%02x)", c.id, filter, code)
}

// publish publishes at QoS 1 and waits for the PUBACK.
func (c *client) publish(tb testing.TB, topic, payload string, retain bool) {
	tb.Helper()
	tok := c.Publish(topic, 1, retain, payload)
	require.True(tb, tok.WaitTimeout(waitFor), "%s: no PUBACK for %q", c.id, topic)
	require.NoError(tb, tok.Error(), "%s: publish %q", c.id, topic)
}

// next returns the next message received.
func (c *client) next(tb testing.TB) msg {
	tb.Helper()
	select {
	case m := <-c.inbox:
		return m
	case <-time.After(waitFor):
		tb.Fatalf("%s: no message within %v", c.id, waitFor)
		return msg{}
	}
}

// until returns the messages received up to and including the first one
// with payload.
func (c *client) until(tb testing.TB, payload string) []msg {
	tb.Helper()
	var got []msg
	for {
		m := c.next(tb)
		got = append(got, m)
		if m.payload == payload {
			return got
		}
	}
}

// cut closes the client's TCP connection without DISCONNECT, as a power
// cut or a pulled cable would: the broker must publish the last will.
func (c *client) cut(tb testing.TB) {
	tb.Helper()
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	require.NotNil(tb, conn, "%s: no connection to cut", c.id)
	require.NoError(tb, conn.Close())
}

// topic returns the contract topic of kind for line.
func topic(line, kind string) string {
	return "serialine/v1/lines/" + line + "/" + kind
}

// payloads lists the payloads of msgs.
func payloads(msgs []msg) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.topic + " " + m.payload
	}
	return out
}
