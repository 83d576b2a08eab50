package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/serialine/serialine/shared/metrics"
	"github.com/serialine/serialine/shared/wire"
)

// Drop is a message the broker did not deliver.
type Drop struct {
	At    time.Time
	User  string // who published it
	Topic string // "" when unknown
	// Payload is the payload, or its first keptPayload bytes, or the part
	// of it the broker read; Size is the payload's full size and SHA256
	// its hash (hex; "" when the broker did not read it all).
	Payload []byte
	Size    int64
	SHA256  string
	Reason  string
}

// keptPayload is the most of a dropped payload held for keeping (what
// central's dead letters keep), so that the queue of drops stays small.
const keptPayload = 64 << 10

// DropKeeper keeps the messages the broker dropped from a line on its own
// topics, as dead letters (central's store). The broker calls it from a
// goroutine of its own, with batches.
type DropKeeper interface {
	KeepDrops(ctx context.Context, drops []Drop) error
}

// Option adjusts New.
type Option func(*Broker)

// WithDropKeeper has the messages dropped from lines on their own topics
// kept (dead-lettered) by k.
func WithDropKeeper(k DropKeeper) Option { return func(b *Broker) { b.keeper = k } }

// dropQueue bounds the drops waiting to be kept (at most keptPayload
// bytes each); past it they are only counted
// (serialine_mqtt_drops_not_kept_total).
const dropQueue = 1024

// dropBatch is the most drops kept in one call.
const dropBatch = 500

// dropper counts every drop and hands those of lines' own topics to the
// keeper, in the background: a flood must never make the broker wait on
// the database.
type dropper struct {
	keeper DropKeeper
	m      *brokerMetrics
	log    *slog.Logger
	rate   *rateLog
	queue  chan Drop
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newDropper(k DropKeeper, m *brokerMetrics, log *slog.Logger, rate *rateLog) *dropper {
	d := &dropper{keeper: k, m: m, log: log, rate: rate, queue: make(chan Drop, dropQueue), stop: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d
}

// add counts a drop by reason and queues it for keeping when it is a
// line's message on its own topic.
func (d *dropper) add(drop Drop, reason string, service bool) {
	d.m.drops.inc(reason)
	line, _, err := wire.ParseTopic(drop.Topic)
	if service || err != nil || line != drop.User {
		return
	}
	if d.keeper == nil {
		d.m.notKept.Inc()
		return
	}
	if drop.SHA256 == "" && int64(len(drop.Payload)) == drop.Size {
		sum := sha256.Sum256(drop.Payload)
		drop.SHA256 = hex.EncodeToString(sum[:])
	}
	if len(drop.Payload) > keptPayload {
		drop.Payload = drop.Payload[:keptPayload:keptPayload]
	}
	drop.Payload = append([]byte(nil), drop.Payload...) // mochi's buffer is not ours to keep
	select {
	case d.queue <- drop:
	default:
		d.m.notKept.Inc()
		d.rate.warn("notkept\x00"+drop.User, "mqtt drop not kept as a dead letter: too many waiting", "user", drop.User, "topic", drop.Topic, "reason", drop.Reason)
	}
}

func (d *dropper) run() {
	defer close(d.done)
	for {
		var first Drop
		select {
		case first = <-d.queue:
		case <-d.stop:
			d.flush()
			return
		}
		batch := []Drop{first}
	more:
		for len(batch) < dropBatch {
			select {
			case x := <-d.queue:
				batch = append(batch, x)
			default:
				break more
			}
		}
		d.keep(batch)
	}
}

// flush keeps what is queued at close.
func (d *dropper) flush() {
	for {
		var batch []Drop
	more:
		for len(batch) < dropBatch {
			select {
			case x := <-d.queue:
				batch = append(batch, x)
			default:
				break more
			}
		}
		if len(batch) == 0 {
			return
		}
		d.keep(batch)
	}
}

func (d *dropper) keep(batch []Drop) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.keeper.KeepDrops(ctx, batch); err != nil {
		d.m.notKept.Add(float64(len(batch)))
		d.log.Error("mqtt drops not kept as dead letters", "count", len(batch), "err", err)
		return
	}
	d.m.kept.Add(float64(len(batch)))
}

func (d *dropper) close() {
	d.once.Do(func() { close(d.stop) })
	<-d.done
}

// brokerMetrics are the broker's figures on /metrics.
type brokerMetrics struct {
	drops    *reasonCounts
	tooLarge *metrics.Counter
	refused  *metrics.Counter
	kept     *metrics.Counter
	notKept  *metrics.Counter
	waits    *metrics.Counter
	waitSecs *metrics.Counter
}

// reasonCounts are counts by reason, merged at scrape with mochi's own.
type reasonCounts struct {
	mu sync.Mutex
	n  map[string]float64
}

func (r *reasonCounts) inc(reason string) {
	r.mu.Lock()
	r.n[reason]++
	r.mu.Unlock()
}

func newBrokerMetrics(reg *metrics.Registry, srv *mqtt.Server, gate *gate, l func() (open, pending int)) *brokerMetrics {
	m := &brokerMetrics{
		drops:    &reasonCounts{n: map[string]float64{}},
		tooLarge: reg.Counter("serialine_mqtt_packets_too_large_total", "Packets refused from their header for exceeding their size limit (the connection is closed), by packet (connect, publish, other).", "packet"),
		refused:  reg.Counter("serialine_mqtt_connections_refused_total", "Connections refused or closed by the broker's limits, by reason (max_connections, max_unauthenticated, max_connections_per_user, login_timeout, protocol, client_certificate).", "reason"),
		kept:     reg.Counter("serialine_mqtt_drops_dead_lettered_total", "Dropped messages of lines on their own topics kept as dead letters."),
		notKept:  reg.Counter("serialine_mqtt_drops_not_kept_total", "Dropped messages of lines on their own topics that could not be kept as dead letters (queue full, database failed); counted in serialine_mqtt_dropped_messages_total all the same."),
		waits:    reg.Counter("serialine_mqtt_backpressure_waits_total", "Publishes of a line held back (counted when the wait starts) until central acknowledged enough of its messages (max_inflight_per_line), by line.", "line"),
		waitSecs: reg.Counter("serialine_mqtt_backpressure_seconds_total", "Time a line's publishes were held back, by line.", "line"),
	}
	reg.CounterFunc("serialine_mqtt_dropped_messages_total", "Messages the broker did not deliver, by reason: too_large (packet over max_packet_size), denied (topic not allowed), qos0 (a line publishing at QoS 0 on its topics), "+
		"writes_pending (a client's send queue full), inflight_full (a client's in-flight window full), unacknowledged (in flight to a client whose session ended).", func() []metrics.Sample {
		// mochi drops a message to a client whose in-flight window is full
		// (or whose packet ids ran out) without a hook: its own counter.
		out := []metrics.Sample{{Labels: []string{"inflight_full"}, Value: float64(atomic.LoadInt64(&srv.Info.InflightDropped))}}
		m.drops.mu.Lock()
		defer m.drops.mu.Unlock()
		for r, v := range m.drops.n {
			out = append(out, metrics.Sample{Labels: []string{r}, Value: v})
		}
		return out
	}, "reason")
	reg.GaugeFunc("serialine_mqtt_line_inflight", "Messages of a line delivered to central and not yet acknowledged, by line.", func() []metrics.Sample {
		var out []metrics.Sample
		for line, n := range gate.inflight() {
			out = append(out, metrics.Sample{Labels: []string{line}, Value: float64(n)})
		}
		return out
	}, "line")
	reg.GaugeFunc("serialine_mqtt_connections", "Open connections to the embedded broker, by state (all, unauthenticated).", func() []metrics.Sample {
		open, pending := l()
		return []metrics.Sample{{Labels: []string{"all"}, Value: float64(open)}, {Labels: []string{"unauthenticated"}, Value: float64(pending)}}
	}, "state")
	return m
}
