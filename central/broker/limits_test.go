package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	centralmetrics "github.com/serialine/serialine/shared/metrics"
)

// keptDrops is a DropKeeper that records what it is given.
type keptDrops struct {
	mu      sync.Mutex
	drops   []Drop
	changed chan struct{}
}

func newKeptDrops() *keptDrops { return &keptDrops{changed: make(chan struct{})} }

func (k *keptDrops) KeepDrops(_ context.Context, ds []Drop) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.drops = append(k.drops, ds...)
	close(k.changed)
	k.changed = make(chan struct{})
	return nil
}

// await returns the drops kept once there are n.
func (k *keptDrops) await(tb testing.TB, n int) []Drop {
	tb.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		k.mu.Lock()
		got, changed := append([]Drop(nil), k.drops...), k.changed
		k.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("%d drops kept within %v, want %d: %+v", len(got), waitFor, n, got)
		}
	}
}

// startLimited starts a broker with cfg's limits, its metrics in a
// registry of their own and its drops kept by a recorder.
func startLimited(tb testing.TB, edit func(*Config)) (*Broker, *logSink, *centralmetrics.Registry, *keptDrops) {
	tb.Helper()
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	log, sink := newLogSink(tb)
	kept := newKeptDrops()
	b, err := New(cfg, staticCreds(tb), log, WithDropKeeper(kept))
	require.NoError(tb, err)
	reg := b.Metrics()
	require.NoError(tb, b.Start(context.Background()))
	tb.Cleanup(func() { require.NoError(tb, b.Close()) })
	return b, sink, reg, kept
}

// metricValue returns a series' value from the registry's text ("" labels:
// the whole series name with its labels, e.g. name{a="b"}).
func metricValue(tb testing.TB, reg *centralmetrics.Registry, series string) float64 {
	tb.Helper()
	var b strings.Builder
	require.NoError(tb, reg.WriteText(&b))
	for _, l := range strings.Split(b.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			var v float64
			_, err := fmt.Sscan(rest, &v)
			require.NoError(tb, err)
			return v
		}
	}
	return 0
}

// varint writes n as MQTT's variable byte integer.
func varint(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func mqttString(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// connectPacket is an MQTT 3.1.1 CONNECT with a login.
func connectPacket(id, user, password string) []byte {
	body := append(mqttString("MQTT"), 4, 0xC2, 0, 60) // level 4; username, password, clean session; keepalive 60 s
	body = append(body, mqttString(id)...)
	body = append(body, mqttString(user)...)
	body = append(body, mqttString(password)...)
	return append(append([]byte{0x10}, varint(len(body))...), body...)
}

// announce writes a packet header and then streams zeros up to send
// bytes, as fast as the broker reads them; it returns once the broker has
// closed the connection (an event: the read side sees EOF or a reset), or
// an error if it has not within waitFor. It may run on any goroutine.
func announce(c net.Conn, header []byte, send int) error {
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, c) // until the broker closes it
	}()
	if _, err := c.Write(header); err != nil {
		return err
	}
	chunk := make([]byte, 64<<10)
	for sent := 0; sent < send; sent += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			break // the broker closed the connection
		}
	}
	select {
	case <-closed:
		return nil
	case <-time.After(waitFor):
		return fmt.Errorf("the broker did not close the connection after %d bytes were sent within %v", send, waitFor)
	}
}

// attackAll runs one attacker per header on connections of its own, at
// once, and returns their errors.
func attackAll(addr string, headers [][]byte, send int) error {
	errs := make([]error, len(headers))
	var wg sync.WaitGroup
	for i, h := range headers {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, waitFor)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			errs[i] = announce(c, h, send)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// heapSampler records the largest heap of this process (the broker runs
// in it) while it runs: a measurement, not a wait.
type heapSampler struct {
	stop chan struct{}
	done chan uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan uint64)}
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) peak() uint64 {
	close(h.stop)
	return <-h.done
}

func heapNow() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestOversizedPacketsKeepHeapBounded is issue 15's memory exhaustion:
// four raw connections that never log in announce CONNECT packets of
// 200 MiB, two more start with a 200 MiB PUBLISH, and a logged-in line
// announces a 200 MiB PUBLISH. Each is refused from its header and its
// connection closed; the heap of this process, where the broker runs,
// stays bounded (a broker buffering them would take 1.4 GiB); the line's
// message is counted and kept as a dead letter with its topic, size and
// the beginning of its payload.
func TestOversizedPacketsKeepHeapBounded(t *testing.T) {
	b, _, reg, kept := startLimited(t, nil)
	const announced = 200 << 20
	base := heapNow()
	sampler := sampleHeap()

	var headers [][]byte
	for range 4 {
		headers = append(headers, append([]byte{0x10}, varint(announced)...)) // CONNECT
	}
	for range 2 {
		headers = append(headers, append([]byte{0x32}, varint(announced)...)) // PUBLISH QoS 1 before any CONNECT
	}
	require.NoError(t, attackAll(b.Addr(), headers, 8<<20))

	// A line logged in, publishing 200 MiB on its events topic.
	c, err := net.DialTimeout("tcp", b.Addr(), waitFor)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(connectPacket("edge-L1", "L1", testLines()["L1"]))
	require.NoError(t, err)
	connack := make([]byte, 4)
	_, err = io.ReadFull(c, connack)
	require.NoError(t, err)
	require.Equal(t, []byte{0x20, 2, 0, 0}, connack, "CONNACK accepted")
	topic := topic("L1", "events")
	head := append(mqttString(topic), 0, 1) // topic, packet id 1
	payload := []byte(`{"v":1,"line":"L1","events":[`)
	header := append(append([]byte{0x32}, varint(len(head)+announced)...), head...)
	require.NoError(t, announce(c, append(header, payload...), 8<<20))

	peak := sampler.peak()
	require.Less(t, peak, base+32<<20, "heap peaked at %d MiB above its %d MiB before the attack", (peak-base)>>20, base>>20)

	require.Equal(t, 4.0, metricValue(t, reg, `serialine_mqtt_packets_too_large_total{packet="connect"}`))
	require.Equal(t, 1.0, metricValue(t, reg, `serialine_mqtt_packets_too_large_total{packet="publish"}`))
	require.Equal(t, 2.0, metricValue(t, reg, `serialine_mqtt_connections_refused_total{reason="protocol"}`), "PUBLISH before CONNECT")
	require.Equal(t, 1.0, metricValue(t, reg, `serialine_mqtt_dropped_messages_total{reason="too_large"}`))
	d := kept.await(t, 1)
	require.Len(t, d, 1)
	require.Equal(t, "L1", d[0].User)
	require.Equal(t, topic, d[0].Topic)
	require.Equal(t, int64(announced), d[0].Size)
	require.True(t, bytes.HasPrefix(d[0].Payload, payload), "the beginning of the payload: %q", d[0].Payload[:min(len(d[0].Payload), 40)])
	require.LessOrEqual(t, len(d[0].Payload), dropPrefix)
	require.Contains(t, d[0].Reason, "maximum packet size of 1048576 bytes")
	require.Equal(t, 1.0, metricValue(t, reg, `serialine_mqtt_drops_dead_lettered_total`))

	// The broker serves on: a line within the limits is welcome.
	sub := mustDial(t, b.Addr(), "svc", serviceUser, testServicePassword)
	sub.mustSubscribe(t, "serialine/v1/lines/+/events")
	l1 := mustDial(t, b.Addr(), "edge-L1b", "L1", testLines()["L1"])
	l1.publish(t, topic, strings.Repeat("x", 512<<10), false)
	require.Len(t, sub.next(t).payload, 512<<10)
}

// TestConnectionLimits: connections that do not log in are capped and
// closed after the login timeout; a line's connections are capped; and so
// are connections in all. Each refusal is counted by its reason.
func TestConnectionLimits(t *testing.T) {
	b, sink, reg, _ := startLimited(t, func(c *Config) {
		c.MaxUnauthenticated, c.MaxConnections, c.MaxConnectionsPerUser, c.LoginTimeout = 2, 4, 1, 300*time.Millisecond
	})
	dialRaw := func() net.Conn {
		c, err := net.DialTimeout("tcp", b.Addr(), waitFor)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	// awaitClosed waits for the broker to close c.
	awaitClosed := func(c net.Conn) {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "the broker kept the connection open: %v", err)
	}

	idle := []net.Conn{dialRaw(), dialRaw()}
	sink.await(t, "mqtt connection refused", "reason", "login_timeout") // the first idle one's timeout
	awaitClosed(idle[0])
	awaitClosed(idle[1])
	require.Equal(t, 2.0, metricValue(t, reg, `serialine_mqtt_connections_refused_total{reason="login_timeout"}`))
	// The broker counts them out after the client sees the close.
	testkit.Eventually(t, "no unauthenticated connection left", func() bool {
		return metricValue(t, reg, `serialine_mqtt_connections{state="unauthenticated"}`) == 0
	})

	// Two idle at once is the limit; a third is closed at once.
	idle = []net.Conn{dialRaw(), dialRaw()}
	testkit.Eventually(t, "two unauthenticated connections", func() bool {
		return metricValue(t, reg, `serialine_mqtt_connections{state="unauthenticated"}`) == 2
	})
	third := dialRaw()
	awaitClosed(third)
	require.Equal(t, 1.0, metricValue(t, reg, `serialine_mqtt_connections_refused_total{reason="max_unauthenticated"}`))
	awaitClosed(idle[0])
	awaitClosed(idle[1])

	// One connection per line.
	mustDial(t, b.Addr(), "edge-L2", "L2", testLines()["L2"])
	_, err := dial(t, b.Addr(), "edge-L2-again", "L2", testLines()["L2"])
	require.True(t, refused(err), "a second connection of L2: %v", err)
	sink.await(t, "mqtt connect refused", "user", "L2")
	require.Equal(t, 1.0, metricValue(t, reg, `serialine_mqtt_connections_refused_total{reason="max_connections_per_user"}`))

	// Four in all: L2, L3, central and an idle one; a fifth is refused.
	// The refused second L2 is counted out only after its client saw the
	// refusal: wait for it, or the idle one below could be the one refused.
	testkit.Eventually(t, "the refused connection counted out", func() bool {
		return metricValue(t, reg, `serialine_mqtt_connections{state="all"}`) == 1
	})
	mustDial(t, b.Addr(), "edge-L3", "L3", testLines()["L3"])
	mustDial(t, b.Addr(), "svc", serviceUser, testServicePassword)
	dialRaw()
	testkit.Eventually(t, "four connections", func() bool { return metricValue(t, reg, `serialine_mqtt_connections{state="all"}`) == 4 })
	require.Equal(t, 1.0, metricValue(t, reg, `serialine_mqtt_connections{state="unauthenticated"}`), "the idle one is admitted")
	require.Zero(t, metricValue(t, reg, `serialine_mqtt_connections_refused_total{reason="max_connections"}`))
	awaitClosed(dialRaw())
	require.Equal(t, 1.0, metricValue(t, reg, `serialine_mqtt_connections_refused_total{reason="max_connections"}`))
}

// TestQoS0FromLineDropped: the contract has lines publish at QoS 1; a
// QoS 0 message of a line is dropped (no window could hold a flood of
// them back), counted and kept as a dead letter.
func TestQoS0FromLineDropped(t *testing.T) {
	b, _, reg, kept := startLimited(t, nil)
	sub := mustDial(t, b.Addr(), "svc", serviceUser, testServicePassword)
	sub.mustSubscribe(t, "serialine/v1/lines/+/events")
	l4 := mustDial(t, b.Addr(), "edge-L4", "L4", testLines()["L4"])
	tok := l4.Publish(topic("L4", "events"), 0, false, "at most once")
	require.True(t, tok.WaitTimeout(waitFor))
	l4.publish(t, topic("L4", "events"), "sentinel", false)
	require.Equal(t, "sentinel", sub.next(t).payload, "the QoS 0 message never reached central")
	d := kept.await(t, 1)
	require.Equal(t, "at most once", string(d[0].Payload))
	require.Equal(t, int64(len("at most once")), d[0].Size)
	require.Len(t, d[0].SHA256, 64)
	require.Contains(t, d[0].Reason, "QoS 0")
	require.Equal(t, 1.0, metricValue(t, reg, `serialine_mqtt_dropped_messages_total{reason="qos0"}`))

	// A denied publish is counted; on another line's topic it is not
	// written under that line's name.
	l4.publish(t, topic("L5", "events"), "not mine", false)
	l4.publish(t, topic("L4", "acks"), "not a line's to send", false)
	l4.publish(t, topic("L4", "events"), "sentinel 2", false)
	require.Equal(t, "sentinel 2", sub.next(t).payload)
	d = kept.await(t, 2)
	require.Equal(t, topic("L4", "acks"), d[1].Topic)
	require.Equal(t, 2.0, metricValue(t, reg, `serialine_mqtt_dropped_messages_total{reason="denied"}`))
}

// TestBackpressureInsteadOfDrops is issue 15's flood at the broker: central
// stops acknowledging (its handler blocks), line L6 publishes 300 messages
// and line L7 five, through a broker whose window toward a client is only
// 64. The lines are held back (L6 at 8 in flight), nothing is dropped, and
// once central goes on it gets every message of both, in order.
func TestBackpressureInsteadOfDrops(t *testing.T) {
	b, _, reg, _ := startLimited(t, func(c *Config) { c.MaxInflight, c.MaxInflightPerLine = 64, 8 })
	release := make(chan struct{})
	got := make(chan msg, 1000)
	o := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("svc").SetUsername(serviceUser).SetPassword(testServicePassword).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			<-release // central busy: no PUBACK until it goes on
			got <- msg{topic: m.Topic(), payload: string(m.Payload())}
		})
	svc := paho.NewClient(o)
	tok := svc.Connect()
	require.True(t, tok.WaitTimeout(waitFor))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { svc.Disconnect(100) })
	sub := svc.Subscribe("$share/central/serialine/v1/lines/+/events", 1, nil)
	require.True(t, sub.WaitTimeout(waitFor))
	require.NoError(t, sub.Error())

	l6 := mustDial(t, b.Addr(), "edge-L6", "L6", testLines()["L6"])
	l7 := mustDial(t, b.Addr(), "edge-L7", "L7", testLines()["L7"])
	var toks []paho.Token
	for i := range 300 {
		toks = append(toks, l6.Publish(topic("L6", "events"), 1, false, fmt.Sprintf("L6 %d", i)))
	}
	for i := range 5 {
		toks = append(toks, l7.Publish(topic("L7", "events"), 1, false, fmt.Sprintf("L7 %d", i)))
	}
	testkit.Eventually(t, "L6 held back", func() bool { return metricValue(t, reg, `serialine_mqtt_backpressure_waits_total{line="L6"}`) >= 1 })
	require.LessOrEqual(t, metricValue(t, reg, `serialine_mqtt_line_inflight{line="L6"}`), 8.0)

	close(release)
	want := map[string]int{"L6": 0, "L7": 0}
	for range 305 {
		select {
		case m := <-got:
			line, n := "", 0
			_, err := fmt.Sscanf(m.payload, "%s %d", &line, &n)
			require.NoError(t, err)
			require.Equal(t, want[line], n, "in order")
			want[line]++
		case <-time.After(waitFor):
			t.Fatalf("central got %v within %v, want 300 of L6 and 5 of L7", want, waitFor)
		}
	}
	for _, tk := range toks {
		require.True(t, tk.WaitTimeout(waitFor))
		require.NoError(t, tk.Error())
	}
	for _, r := range []string{"inflight_full", "writes_pending", "too_large", "denied", "qos0"} {
		require.Zero(t, metricValue(t, reg, `serialine_mqtt_dropped_messages_total{reason="`+r+`"}`), r)
	}
}
