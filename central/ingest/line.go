package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// message is one MQTT message as received.
type message struct {
	topic   string
	payload []byte
	at      time.Time
}

// job is work for a line's second queue: a serial request, or a payload to
// keep as a dead letter.
type job struct {
	msg    message
	kind   string
	reason string // set: dead-letter msg with it
}

// decoded is an events payload after decoding: its events, each with the
// result of its one validation, and the incarnation they belong to, or why
// the whole payload is a dead letter.
type decoded struct {
	msg    message
	inc    string
	events []wire.CheckedEvent
	dead   string
}

// maxDeadBatch caps the dead letters stored in one transaction: a line
// flooding junk is kept at the rate of batches, not of single commits.
const maxDeadBatch = 500

// lineWorker handles one line's messages: events in order (decode, then
// apply, two goroutines so that decoding overlaps the database), and
// serial requests and dead letters on a third.
type lineWorker struct {
	in      *Ingest
	line    string
	events  chan message
	decoded chan decoded
	jobs    chan job
	done    sync.WaitGroup
}

// dispatch is paho's handler for every message. It runs on paho's router
// goroutine in arrival order and only queues work, so one slow line never
// holds up another (unless its queue is full: then the connection waits).
func (in *Ingest) dispatch(_ paho.Client, pm paho.Message) {
	m := message{topic: pm.Topic(), payload: pm.Payload(), at: time.Now().UTC()}
	line, kind, err := wire.ParseTopic(m.topic)
	if err != nil {
		kind = "other"
	}
	in.m.messages.Inc(kind)

	in.inMu.RLock()
	defer in.inMu.RUnlock()
	if in.closing {
		return // not processed and so not acked: the edge resends it
	}
	switch {
	case err != nil:
		in.enqueueJob(in.worker(""), job{msg: m, kind: kind, reason: err.Error()})
	case kind == wire.KindEvents:
		w := in.worker(line)
		select {
		case w.events <- m:
		case <-in.stopping:
		}
	case kind == wire.KindSerialRequest:
		in.enqueueJob(in.worker(line), job{msg: m, kind: kind})
	case kind == wire.KindStatus:
		in.status(line, m)
	default:
		in.enqueueJob(in.worker(line), job{msg: m, kind: kind, reason: "central does not read " + kind + " topics"})
	}
}

func (in *Ingest) enqueueJob(w *lineWorker, j job) {
	select {
	case w.jobs <- j:
	case <-in.stopping:
	}
}

// worker returns the line's worker, starting it on the line's first message.
func (in *Ingest) worker(line string) *lineWorker {
	in.mu.Lock()
	defer in.mu.Unlock()
	if w, ok := in.workers[line]; ok {
		return w
	}
	w := &lineWorker{
		in:      in,
		line:    line,
		events:  make(chan message, in.cfg.LineQueue),
		decoded: make(chan decoded, in.cfg.LineQueue),
		jobs:    make(chan job, in.cfg.LineQueue),
	}
	in.workers[line] = w
	w.done.Add(3)
	go w.decodeLoop()
	go w.applyLoop()
	go w.jobLoop()
	return w
}

// stop ends the worker once its queues are drained; called only after
// dispatch can no longer send.
func (w *lineWorker) stop() {
	close(w.events)
	close(w.jobs)
}

func (w *lineWorker) wait() { w.done.Wait() }

func (w *lineWorker) decodeLoop() {
	defer w.done.Done()
	defer close(w.decoded)
	for m := range w.events {
		d := decoded{msg: m}
		b, checked, err := wire.DecodeCheckedBatch(m.payload)
		var be *wire.BatchError
		switch {
		case err != nil && !errors.As(err, &be):
			d.dead = "event batch: " + err.Error()
		case b.Line != w.line:
			// The broker's ACL stops this too; this is defence in depth.
			d.dead = fmt.Sprintf("event batch: line %q published on the topic of line %s", b.Line, w.line)
		default:
			// Events that break the wire rules (be) go to the store all
			// the same, with their check's result: it dead-letters each
			// with that reason and counts its seq as done, so that it
			// blocks nothing behind it.
			d.events, d.inc = checked, b.Incarnation
		}
		w.decoded <- d
	}
}

func (w *lineWorker) applyLoop() {
	defer w.done.Done()
	maxEvents := w.in.cfg.MaxMergeEvents
	var next *decoded
	open := true
	for {
		if next == nil {
			if !open {
				return
			}
			d, ok := <-w.decoded
			if !ok {
				return
			}
			next = &d
		}
		// Batches that queued up while the last transaction ran are
		// applied together (fewer, larger transactions), and payloads that
		// are dead letters are stored together.
		var group []decoded
		var mg *merge
		var dead []job
		take := func(d decoded) bool {
			switch {
			case d.dead != "":
				dead = append(dead, job{msg: d.msg, kind: wire.KindEvents, reason: d.dead})
			case mg == nil:
				mg = newMerge(d.inc, d.events)
				group = append(group, d)
			case len(mg.events)+len(d.events) > maxEvents || mg.conflicts(d.inc, d.events):
				return false
			default:
				mg.add(d.events)
				group = append(group, d)
			}
			return true
		}
		take(*next)
		next = nil
	drain:
		for open && len(dead) < maxDeadBatch && (mg == nil || len(mg.events) < maxEvents) {
			select {
			case d2, ok := <-w.decoded:
				if !ok {
					open = false
					break drain
				}
				if !take(d2) {
					next = &d2
					break drain
				}
			default:
				break drain
			}
		}
		if len(dead) > 0 {
			w.deadLetters(dead)
		}
		if mg != nil {
			w.apply(group, mg.inc, mg.events)
		}
	}
}

// merge concatenates batches of one line and incarnation. Two batches that
// give one id two seqs, or one seq two ids, are not merged: the store
// judges such events differently inside one batch than across batches.
type merge struct {
	inc    string
	events []wire.CheckedEvent
	ids    map[string]uint64
	seqs   map[uint64]string
}

func newMerge(inc string, events []wire.CheckedEvent) *merge {
	m := &merge{inc: inc, ids: make(map[string]uint64, len(events)), seqs: make(map[uint64]string, len(events))}
	m.add(events)
	return m
}

func (m *merge) conflicts(inc string, events []wire.CheckedEvent) bool {
	if inc != m.inc {
		return true
	}
	for _, c := range events {
		e := c.Event()
		if seq, ok := m.ids[e.ID]; ok && seq != e.Seq {
			return true
		}
		if id, ok := m.seqs[e.Seq]; ok && id != e.ID {
			return true
		}
	}
	return false
}

func (m *merge) add(events []wire.CheckedEvent) {
	m.events = append(m.events, events...)
	for _, c := range events {
		e := c.Event()
		m.ids[e.ID] = e.Seq
		m.seqs[e.Seq] = e.ID
	}
}

// apply applies events (the batches of group, all of incarnation inc) in
// one transaction and acks the line after the commit.
func (w *lineWorker) apply(group []decoded, inc string, events []wire.CheckedEvent) {
	in := w.in
	ctx := sqldb.WithActor(in.ctx, "line:"+w.line)
	start := time.Now()
	var res lineevents.ApplyResult
	err := in.retry(ctx, "apply events", w.line, func() error {
		var err error
		res, err = in.st.ApplyEventsOf(ctx, w.line, inc, events)
		return err
	})
	in.m.applySeconds.Add(time.Since(start).Seconds())
	switch {
	case err == nil:
	case permanent(err):
		// E.g. a line central does not know: nothing of it can be applied.
		dead := make([]job, len(group))
		for i, d := range group {
			dead[i] = job{msg: d.msg, kind: wire.KindEvents, reason: "event batch: " + err.Error()}
		}
		w.deadLetters(dead)
		return
	case len(group) > 1 && ctx.Err() == nil:
		// Apply them one by one, so that one payload cannot fail the others.
		for _, d := range group {
			w.apply([]decoded{d}, d.inc, d.events)
		}
		return
	default:
		// Not acked, so the edge resends the batch; nothing is lost.
		in.m.notApplied.Add(float64(len(events)))
		in.log.Error("event batch not applied; the line will resend it", "line", w.line, "incarnation", inc, "events", len(events), "err", err)
		return
	}
	in.m.transactions.Inc()
	in.m.events.Add(float64(res.Applied), "applied")
	in.m.events.Add(float64(res.DeadLettered), "dead_letter")
	in.m.events.Add(float64(res.Duplicates), "duplicate")
	in.m.events.Add(float64(res.Held), "held")
	in.m.ackedSeq.Set(float64(res.Acked), w.line)
	in.setGaps(w.line, res.Incarnation, res.Acked, res.Gaps)
	w.ack(res)
	if len(res.OrdersChanged) > 0 {
		// An allowance extended, an order closed at the line: the line's
		// retained orders changed (a failure is republished at reconnect).
		if err := in.PublishOrders(ctx, w.line); err != nil {
			in.log.Warn("orders not republished", "line", w.line, "orders", res.OrdersChanged, "err", err)
		}
	}
}

// ack publishes the highest contiguous committed seq of the incarnation
// the batch belonged to, and, while that incarnation replaced another that
// QA has not resolved, what it replaced: the line raises its alarm. The
// broker's PUBACK is awaited by watchAcks, so the worker moves on at once.
func (w *lineWorker) ack(res lineevents.ApplyResult) {
	in := w.in
	seq := res.Acked
	topic, err := wire.Topic(w.line, wire.KindAcks)
	if err != nil {
		in.log.Error("ack: bad topic", "line", w.line, "err", err)
		return
	}
	a := wire.Ack{V: wire.Version, Line: w.line, Seq: seq, Incarnation: res.Incarnation}
	if r := res.Replaced; r != nil && res.Incarnation != "" {
		// (A line naming no incarnation cannot be told: the contract
		// carries Replaced only with a named one.)
		a.Replaced = &wire.Replaced{Incarnation: r.Incarnation, Seq: r.Seq, At: r.At}
	}
	if len(res.Gaps) > 0 && res.Gaps[0].From == seq+1 {
		// The line resends what it still keeps of the gap (a central
		// restored from a backup lacks events it once acknowledged).
		a.Missing = &wire.SeqRange{From: res.Gaps[0].From, To: res.Gaps[0].To}
	}
	payload, err := wire.Encode(a)
	if err != nil {
		in.log.Error("ack: encode", "line", w.line, "err", err)
		return
	}
	in.m.acks.Inc() // before the publish, so a test that has the ack sees it counted
	tok := in.client.Publish(topic, 1, false, payload)
	select {
	case in.acks <- pendingAck{line: w.line, seq: seq, tok: tok}:
	case <-in.ctx.Done():
	}
}

func (w *lineWorker) jobLoop() {
	defer w.done.Done()
	var dead []job
	for j := range w.jobs {
		if j.reason == "" {
			w.grant(j.msg)
			continue
		}
		// Dead letters queued right behind this one are stored with it.
		dead = append(dead[:0], j)
		var after *job
	more:
		for len(dead) < maxDeadBatch {
			select {
			case j2, ok := <-w.jobs:
				switch {
				case !ok:
					break more
				case j2.reason == "":
					after = &j2
					break more
				}
				dead = append(dead, j2)
			default:
				break more
			}
		}
		w.deadLetters(dead)
		if after != nil {
			w.grant(after.msg)
		}
	}
}

// grant answers a serial request.
func (w *lineWorker) grant(m message) {
	in := w.in
	req, err := wire.DecodeSerialRequest(m.payload)
	if err == nil && req.Line != w.line {
		err = fmt.Errorf("line %q published on the topic of line %s", req.Line, w.line)
	}
	if err != nil {
		reason := "serial request: " + err.Error()
		w.deadLetters([]job{{msg: m, kind: wire.KindSerialRequest, reason: reason}})
		// Answer whenever the request can be identified, so that the edge
		// learns why instead of retrying blindly.
		var loose wire.SerialRequest
		_ = json.Unmarshal(m.payload, &loose)
		loose.V, loose.Line = wire.Version, w.line
		w.publishGrant(orders.Refusal(loose, errors.New(reason)), false)
		return
	}
	ctx := sqldb.WithActor(in.ctx, "line:"+w.line)
	var g wire.SerialGrant
	err = in.retry(ctx, "grant", w.line, func() error {
		var err error
		g, err = in.grantFor(ctx, req)
		return err
	})
	if err != nil {
		if !refusal(err) {
			// No answer: the edge retries with the same request id, which
			// never allocates twice.
			in.m.grants.Inc("failed")
			in.log.Error("serial request not answered; the line will retry it", "line", w.line, "request", req.RequestID, "err", err)
			return
		}
		w.deadLetters([]job{{msg: m, kind: wire.KindSerialRequest, reason: "serial request refused: " + err.Error()}})
		w.publishGrant(orders.Refusal(req, err), false)
		return
	}
	w.publishGrant(g, true)
}

func (w *lineWorker) publishGrant(g wire.SerialGrant, granted bool) {
	in := w.in
	topic, err := wire.Topic(w.line, wire.KindSerialGrant)
	if err != nil {
		in.log.Error("grant: bad topic", "line", w.line, "err", err)
		return
	}
	payload, err := wire.Encode(g)
	if err != nil {
		// Only a refusal of an unidentifiable request gets here; it is
		// kept as a dead letter already.
		in.log.Warn("serial request cannot be answered", "line", w.line, "request", g.RequestID, "err", err)
		return
	}
	if err := in.publish(in.ctx, topic, payload, false); err != nil {
		in.m.grants.Inc("failed")
		in.log.Error("grant not published; the line will retry the request", "line", w.line, "request", g.RequestID, "err", err)
		return
	}
	if granted {
		in.m.grants.Inc("granted")
		in.log.Info("serials granted", "line", w.line, "request", g.RequestID, "order", g.Order, "count", g.Count())
	} else {
		in.m.grants.Inc("refused")
		in.log.Warn("serial request refused", "line", w.line, "request", g.RequestID, "reason", g.Error)
	}
}

// status keeps a line's status. It runs on paho's goroutine: a map write;
// only a dead letter goes to the line's worker.
func (in *Ingest) status(line string, m message) {
	if len(m.payload) == 0 {
		// An empty retained message clears the topic.
		in.mu.Lock()
		delete(in.statuses, line)
		in.mu.Unlock()
		return
	}
	st, err := wire.DecodeStatus(m.payload)
	if err == nil && st.Line != line {
		err = fmt.Errorf("line %q published on the topic of line %s", st.Line, line)
	}
	in.mu.Lock()
	if err != nil {
		// A retained bad status comes again with every subscription: keep
		// it once.
		repeat := in.badState[line] == string(m.payload)
		in.badState[line] = string(m.payload)
		in.mu.Unlock()
		if !repeat {
			in.enqueueJob(in.worker(line), job{msg: m, kind: wire.KindStatus, reason: "status: " + err.Error()})
		}
		return
	}
	delete(in.badState, line)
	in.statuses[line] = LineStatus{Status: st, LastSeen: m.at}
	in.mu.Unlock()
}

// deadLetters keeps payloads that cannot be applied, with their reasons,
// in one transaction.
func (w *lineWorker) deadLetters(jobs []job) {
	in := w.in
	ds := make([]lineevents.DeadLetter, len(jobs))
	for i, j := range jobs {
		ds[i] = lineevents.DeadLetter{ReceivedAt: j.msg.at, Topic: j.msg.topic, Line: w.line, Payload: j.msg.payload, Reason: j.reason}
	}
	err := in.retry(in.ctx, "dead letter", w.line, func() error {
		return in.st.AddDeadLetters(in.ctx, ds)
	})
	if err != nil {
		in.m.deadLetterErrors.Add(float64(len(jobs)))
		in.log.Error("dead letters not stored", "line", w.line, "count", len(jobs), "topic", jobs[0].msg.topic, "reason", jobs[0].reason, "err", err)
		return
	}
	for _, j := range jobs {
		in.m.deadLetters.Inc(j.kind)
	}
}

// permanent reports whether a store error will not go away by retrying.
func permanent(err error) bool {
	return errors.Is(err, sqldb.ErrInvalid) || errors.Is(err, sqldb.ErrNotFound)
}

// refusal reports whether a Grant error is an answer for the line (rather
// than central failing to decide).
func refusal(err error) bool {
	var fe *wire.FieldError
	return errors.As(err, &fe) || permanent(err) || errors.Is(err, sqldb.ErrState) ||
		errors.Is(err, sqldb.ErrConflict) || errors.Is(err, sqldb.ErrExhausted)
}

// retry runs fn until it succeeds, fails for good (permanent, a refusal)
// or Config.Retries attempts failed, with exponential backoff.
func (in *Ingest) retry(ctx context.Context, what, line string, fn func() error) error {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || refusal(err) || ctx.Err() != nil || attempt >= in.cfg.Retries {
			return err
		}
		in.m.retries.Inc()
		in.log.Warn("database write failed; retrying", "what", what, "line", line, "attempt", attempt, "in", delay, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
