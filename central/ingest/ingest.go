package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/shared/metrics"
	"github.com/serialine/serialine/shared/wire"
)

// Store is what ingest needs of central's database; *store.Store
// implements it.
type Store interface {
	ApplyEventsOf(ctx context.Context, line, incarnation string, events []wire.CheckedEvent) (lineevents.ApplyResult, error)
	Grant(ctx context.Context, req wire.SerialRequest, limit uint64) (wire.SerialGrant, error)
	AddDeadLetters(ctx context.Context, ds []lineevents.DeadLetter) error
	LineOrders(ctx context.Context, line string) (wire.Orders, error)
	LineSeq(ctx context.Context, line string) (lineevents.LineSeq, error)
	Lines(ctx context.Context) ([]master.Line, error)
}

// LineStatus is the last status a line published (retained, and its last
// will when it dropped off), with when central received it.
type LineStatus struct {
	wire.Status
	// LastSeen is when central received the status. A retained status is
	// received on every (re)subscribe, so Status.At says when it was taken.
	LastSeen time.Time `json:"last_seen"`
}

// Online reports whether the line's last status is anything but its last
// will (offline).
func (s LineStatus) Online() bool { return s.State != wire.LineOffline }

// LineGap is a line whose events wait behind missing seqs (of one
// incarnation of its event store).
type LineGap struct {
	Line        string              `json:"line"`
	Incarnation string              `json:"incarnation,omitempty"`
	Acked       uint64              `json:"acked"` // highest contiguous seq committed
	Gaps        []lineevents.SeqGap `json:"gaps"`
	// Missing is the number of seqs in Gaps.
	Missing uint64 `json:"missing"`
	// Since is when the line's acked seq stopped moving with events held.
	Since time.Time `json:"since"`
	// Stale is true once the gap is older than Config.GapAlert: the edge
	// has not resent the missing events, so an operator should look (and
	// may close it with store.SkipGap).
	Stale bool `json:"stale"`
}

// Ingest is central's MQTT client. New configures it, Start connects,
// Close disconnects. It is safe for concurrent use.
type Ingest struct {
	cfg    Config
	st     Store
	log    *slog.Logger
	m      *ingestMetrics
	client paho.Client

	ctx    context.Context // ends at Close: aborts retries and database calls
	cancel context.CancelFunc

	// inMu orders message dispatch (read side) against Close (write side):
	// once closing is set no message reaches a worker.
	inMu     sync.RWMutex
	closing  bool
	stopping chan struct{} // closed when Close starts: unblocks dispatch
	stopOnce sync.Once

	mu       sync.Mutex
	started  bool
	workers  map[string]*lineWorker
	statuses map[string]LineStatus
	badState map[string]string // last invalid status payload per line, so a retained one is dead-lettered once
	gaps     map[gapKey]*LineGap
	wg       sync.WaitGroup // workers, ack watcher, gap checker

	ready     chan struct{} // closed at the first subscription
	readyOnce sync.Once
	connected atomic.Bool
	acks      chan pendingAck
}

type pendingAck struct {
	line string
	seq  uint64
	tok  paho.Token
}

// gapKey is a line and an incarnation of its event store.
type gapKey struct{ line, inc string }

// New checks cfg and prepares the client; it does not connect (Start
// does). reg receives the ingest metrics; nil keeps them private. Store
// writes are attributed to the line (sqldb.WithActor "line:{id}").
func New(cfg Config, st Store, reg *metrics.Registry, log *slog.Logger) (*Ingest, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("ingest: store is nil")
	}
	if log == nil {
		return nil, errors.New("ingest: logger is nil")
	}
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	cfg = cfg.withDefaults()
	if cfg.ClientID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.ClientID = "central-" + hex.EncodeToString(b[:])
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &Ingest{
		cfg:      cfg,
		st:       st,
		log:      log.With("component", "ingest", "client", cfg.ClientID),
		ctx:      ctx,
		cancel:   cancel,
		workers:  make(map[string]*lineWorker),
		statuses: make(map[string]LineStatus),
		badState: make(map[string]string),
		gaps:     make(map[gapKey]*LineGap),
		ready:    make(chan struct{}),
		stopping: make(chan struct{}),
		acks:     make(chan pendingAck, 4096),
	}
	in.m = newIngestMetrics(reg, in)
	o := paho.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetProtocolVersion(4).
		// Clean session: a replica that restarts must not receive a backlog
		// kept for its old session; the edges' outboxes resend what is not acked.
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(30 * time.Second).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetWriteTimeout(cfg.ConnectTimeout).
		SetKeepAlive(30 * time.Second).
		// The handler only queues the message for its line's worker, so
		// in-order dispatch costs nothing and keeps each line's order.
		SetOrderMatters(true).
		SetDefaultPublishHandler(in.dispatch).
		SetOnConnectHandler(in.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			in.connected.Store(false)
			in.m.connected.Set(0)
			in.log.Warn("mqtt connection lost; reconnecting", "broker", cfg.Broker, "err", err)
		})
	if cfg.TLS != nil {
		o.SetTLSConfig(cfg.TLS)
	}
	in.client = paho.NewClient(o)
	return in, nil
}

// Start connects to the broker in the background, retrying with backoff
// until Close, and on every connect subscribes and republishes every
// line's orders. WaitReady tells when the first subscription is in place.
func (in *Ingest) Start(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.ctx.Err() != nil {
		return ErrClosed
	}
	if in.started {
		return errors.New("ingest: already started")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ingest: start: %w", err)
	}
	in.started = true
	in.log.Info("mqtt connecting", "broker", in.cfg.Broker, "user", in.cfg.Username)
	// With ConnectRetry the token completes only once connected; nobody
	// needs to wait for it here.
	in.client.Connect()
	in.wg.Add(2)
	go in.watchAcks()
	go in.checkGaps()
	return nil
}

// WaitReady waits until ingest is connected and subscribed for the first
// time, or ctx ends.
func (in *Ingest) WaitReady(ctx context.Context) error {
	select {
	case <-in.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ingest: waiting for the mqtt subscription at %s: %w", in.cfg.Broker, ctx.Err())
	case <-in.ctx.Done():
		return ErrClosed
	}
}

// Connected reports whether the MQTT connection is up and subscribed.
func (in *Ingest) Connected() bool { return in.connected.Load() }

// ClientID is the MQTT client id in use.
func (in *Ingest) ClientID() string { return in.cfg.ClientID }

// Close stops reading, lets the line workers finish what they hold until
// ctx ends (then aborts them: what was not committed is not acked, so the
// edges resend it), and disconnects. It may be called more than once.
func (in *Ingest) Close(ctx context.Context) error {
	in.stopOnce.Do(func() { close(in.stopping) })
	in.inMu.Lock()
	already := in.closing
	in.closing = true
	in.inMu.Unlock()
	if already {
		return nil
	}
	in.mu.Lock()
	workers := slices.Collect(maps.Values(in.workers))
	in.mu.Unlock()
	for _, w := range workers {
		w.stop()
	}
	done := make(chan struct{})
	go func() {
		for _, w := range workers {
			w.wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		in.log.Warn("ingest: closing before the queued messages were applied; the edges will resend them", "err", ctx.Err())
	}
	in.cancel()
	<-done
	close(in.acks)
	in.wg.Wait()
	in.client.Disconnect(250)
	in.connected.Store(false)
	in.m.connected.Set(0)
	in.log.Info("mqtt disconnected", "broker", in.cfg.Broker)
	return nil
}

// onConnect runs on its own goroutine at every (re)connection: with a clean
// session the subscriptions are gone, and a restarted broker may have lost
// the retained orders.
func (in *Ingest) onConnect(c paho.Client) {
	filters := map[string]byte{}
	for _, f := range []struct {
		kind   string
		shared bool
	}{
		{wire.KindEvents, true},
		{wire.KindSerialRequest, true},
		// Status is retained and every replica shows every line, so it is
		// not shared (a shared subscription gets no retained messages).
		{wire.KindStatus, false},
	} {
		var filter string
		var err error
		if f.shared {
			filter, err = wire.SharedFilter(in.cfg.ShareGroup, f.kind)
		} else {
			filter, err = wire.Filter(f.kind)
		}
		if err != nil {
			in.log.Error("mqtt subscribe: bad filter", "kind", f.kind, "err", err)
			return
		}
		filters[filter] = 1
	}
	delay := time.Second
	for !in.subscribe(c, filters) {
		// The connection stays; a refused subscription is a broker
		// configuration error that an operator may fix while we wait.
		select {
		case <-in.ctx.Done():
			return
		case <-time.After(delay):
		}
		if !c.IsConnectionOpen() {
			return // onConnect runs again after the reconnection
		}
		delay = min(2*delay, 30*time.Second)
	}
	in.connected.Store(true)
	in.m.connected.Set(1)
	in.log.Info("mqtt connected and subscribed", "broker", in.cfg.Broker, "filters", slices.Sorted(maps.Keys(filters)))
	in.readyOnce.Do(func() { close(in.ready) })
	in.publishAllOrders()
}

// subscribe subscribes to filters and reports whether the broker granted
// every one.
func (in *Ingest) subscribe(c paho.Client, filters map[string]byte) bool {
	tok := c.SubscribeMultiple(filters, nil)
	if !tok.WaitTimeout(in.cfg.ConnectTimeout) || tok.Error() != nil {
		in.log.Error("mqtt subscribe failed; retrying", "filters", slices.Sorted(maps.Keys(filters)), "err", tokErr(tok))
		return false
	}
	for f, code := range tok.(*paho.SubscribeToken).Result() {
		if code > 2 {
			in.log.Error("mqtt subscription refused by the broker; check the service user's ACL; retrying", "filter", f, "code", code)
			return false
		}
	}
	return true
}

func tokErr(t paho.Token) error {
	if err := t.Error(); err != nil {
		return err
	}
	return errors.New("timed out")
}

// publishAllOrders republishes every line's retained orders.
func (in *Ingest) publishAllOrders() {
	ctx, cancel := context.WithTimeout(in.ctx, time.Minute)
	defer cancel()
	lines, err := in.st.Lines(ctx)
	if err != nil {
		in.log.Error("orders not republished: reading the lines failed", "err", err)
		return
	}
	for _, l := range lines {
		if err := in.PublishOrders(ctx, l.ID); err != nil {
			in.log.Error("orders not republished", "line", l.ID, "err", err)
		}
	}
}

// PublishOrders publishes line's released work orders (store.LineOrders)
// as the retained message of its orders topic and waits for the broker's
// acknowledgement. The API calls it after releasing or closing an order.
func (in *Ingest) PublishOrders(ctx context.Context, line string) error {
	topic, err := wire.Topic(line, wire.KindOrders)
	if err != nil {
		return fmt.Errorf("orders of line %q: %w", line, err)
	}
	if !in.client.IsConnectionOpen() {
		// Republished at the next connect anyway.
		return fmt.Errorf("orders of line %s: %w (broker %s)", line, ErrNotConnected, in.cfg.Broker)
	}
	orders, err := in.st.LineOrders(ctx, line)
	if err != nil {
		return fmt.Errorf("orders of line %s: %w", line, err)
	}
	payload, err := wire.Encode(orders)
	if err != nil {
		return fmt.Errorf("orders of line %s: %w", line, err)
	}
	if err := in.publish(ctx, topic, payload, true); err != nil {
		return fmt.Errorf("orders of line %s: %w", line, err)
	}
	in.m.ordersPublished.Inc()
	in.log.Info("orders published", "line", line, "orders", len(orders.Orders))
	return nil
}

// publish sends a QoS 1 message and waits for the PUBACK.
func (in *Ingest) publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	if in.ctx.Err() != nil {
		return ErrClosed
	}
	if !in.client.IsConnectionOpen() {
		return fmt.Errorf("publish to %s: %w (broker %s)", topic, ErrNotConnected, in.cfg.Broker)
	}
	tok := in.client.Publish(topic, 1, retain, payload)
	wait, cancel := context.WithTimeout(ctx, in.cfg.ConnectTimeout)
	defer cancel()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
		return nil
	case <-wait.Done():
		return fmt.Errorf("publish to %s: no PUBACK: %w", topic, wait.Err())
	}
}

// watchAcks waits for the broker to take the acks published by the
// workers, so that the workers need not wait, and counts failures.
func (in *Ingest) watchAcks() {
	defer in.wg.Done()
	for a := range in.acks {
		if !a.tok.WaitTimeout(in.cfg.ConnectTimeout) || a.tok.Error() != nil {
			// The edge resends what stays unacked and gets a fresh ack then.
			in.m.ackErrors.Inc()
			in.log.Warn("ack not delivered to the broker", "line", a.line, "seq", a.seq, "err", tokErr(a.tok))
			continue
		}
	}
}

// Statuses returns the last status of every line heard of, by line id.
func (in *Ingest) Statuses() map[string]LineStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	return maps.Clone(in.statuses)
}

// Gaps returns the lines whose events wait behind missing seqs, by line
// id, as last seen by this replica (re-read from the database every
// GapCheck, so a gap another replica filled disappears).
func (in *Ingest) Gaps() []LineGap {
	in.mu.Lock()
	defer in.mu.Unlock()
	now := time.Now()
	out := make([]LineGap, 0, len(in.gaps))
	for _, g := range in.gaps {
		c := *g
		c.Gaps = slices.Clone(g.Gaps)
		c.Stale = now.Sub(g.Since) > in.cfg.GapAlert
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b LineGap) int {
		if c := strings.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return strings.Compare(a.Incarnation, b.Incarnation)
	})
	return out
}

// setGaps records an incarnation's sequence state after a commit.
func (in *Ingest) setGaps(line, inc string, acked uint64, gaps []lineevents.SeqGap) {
	in.mu.Lock()
	defer in.mu.Unlock()
	k := gapKey{line, inc}
	if len(gaps) == 0 {
		if _, had := in.gaps[k]; had {
			in.log.Info("gap filled", "line", line, "incarnation", inc, "acked", acked)
		}
		delete(in.gaps, k)
		return
	}
	var missing uint64
	for _, g := range gaps {
		missing += g.To - g.From + 1
	}
	g, ok := in.gaps[k]
	if !ok || g.Acked != acked {
		g = &LineGap{Line: line, Incarnation: inc, Since: time.Now()}
		in.gaps[k] = g
	}
	g.Acked, g.Gaps, g.Missing = acked, slices.Clone(gaps), missing
}

// checkGaps re-reads the lines with gaps from the database and warns about
// stale ones, once per gap.
func (in *Ingest) checkGaps() {
	defer in.wg.Done()
	t := time.NewTicker(in.cfg.GapCheck)
	defer t.Stop()
	warned := map[gapKey]time.Time{} // Since of the gap warned about
	for {
		select {
		case <-in.ctx.Done():
			return
		case <-t.C:
		}
		lines := map[string]bool{}
		for _, g := range in.Gaps() {
			lines[g.Line] = true
		}
		for line := range lines {
			ctx, cancel := context.WithTimeout(in.ctx, in.cfg.ConnectTimeout)
			ls, err := in.st.LineSeq(ctx, line)
			cancel()
			if err != nil {
				in.log.Warn("gap check: reading the line's seq failed", "line", line, "err", err)
				continue
			}
			for _, i := range ls.Incarnations {
				in.setGaps(line, i.Incarnation, i.Acked, i.Gaps)
			}
		}
		for _, g := range in.Gaps() {
			k := gapKey{g.Line, g.Incarnation}
			if g.Stale && !warned[k].Equal(g.Since) {
				warned[k] = g.Since
				in.log.Warn("gap persists: events wait behind missing seqs that the line has not resent",
					"line", g.Line, "incarnation", g.Incarnation, "acked", g.Acked, "gaps", g.Gaps, "missing", g.Missing, "since", g.Since)
			}
		}
	}
}
