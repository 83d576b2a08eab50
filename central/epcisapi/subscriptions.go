package epcisapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/utf8json"
)

// Webhook subscriptions. Each delivery is an EPCISQueryDocument (JSON-LD,
// queryName and subscriptionID set) POSTed to the subscriber's https dest,
// signed: GS1-Signature is base64(HMAC-SHA256(secret, body)), the secret
// (or signatureToken) being the subscriber's. The position of the last
// event delivered is kept in the database and moves only after a 2xx, so
// deliveries retry (with backoff) and continue after a restart with the
// next event: each matching event goes out once. A delivery cut by a crash
// between the subscriber's 2xx and that record would be sent again with
// the same Serialine-Delivery-ID header, for the subscriber to drop. With
// several central processes on one database, one delivers at a time (a
// lease in the database, taken over when its holder stops).

// Delivery tuning.
const (
	deliveryBatch = 500              // events per POST at most
	pollEvery     = 2 * time.Second  // new line events are found by polling
	maxBackoff    = 5 * time.Minute  // between retries of a failing dest
	webhookWait   = 30 * time.Second // per POST
	leaseFor      = 2 * webhookWait  // the delivery lease, renewed every pass
)

// SubscriptionRequest is the body of POST /epcis/queries/{name}/subscriptions.
type SubscriptionRequest struct {
	Dest string `json:"dest"`
	// Secret (EPCIS 2.0.0's name) or SignatureToken (later bindings')
	// signs each delivery; one is required.
	Secret            string            `json:"secret,omitempty"`
	SignatureToken    string            `json:"signatureToken,omitempty"`
	Stream            bool              `json:"stream,omitempty"`
	Schedule          map[string]string `json:"schedule,omitempty"`
	ReportIfEmpty     bool              `json:"reportIfEmpty,omitempty"`
	InitialRecordTime string            `json:"initialRecordTime,omitempty"`
}

// SubscriptionOut is a subscription as answered (never its secret).
type SubscriptionOut struct {
	SubscriptionID    string            `json:"subscriptionID"`
	QueryName         string            `json:"queryName"`
	Dest              string            `json:"dest"`
	CreatedAt         time.Time         `json:"createdAt"`
	InitialRecordTime time.Time         `json:"initialRecordTime"`
	Stream            bool              `json:"stream,omitempty"`
	Schedule          map[string]string `json:"schedule,omitempty"`
	ReportIfEmpty     bool              `json:"reportIfEmpty,omitempty"`
	// Delivery state: events delivered, failed attempts in a row and the
	// last error, the next scheduled run.
	Delivered int64      `json:"delivered"`
	Attempts  int        `json:"failedAttempts,omitempty"`
	LastError string     `json:"lastError,omitempty"`
	NextRun   *time.Time `json:"nextRun,omitempty"`
}

func subOut(s epcisdb.Subscription) SubscriptionOut {
	return SubscriptionOut{SubscriptionID: s.ID, QueryName: s.Query, Dest: s.Dest, CreatedAt: s.CreatedAt, InitialRecordTime: s.InitialRecordTime,
		Stream: s.Stream, Schedule: s.Schedule, ReportIfEmpty: s.ReportIfEmpty, Delivered: s.Delivered, Attempts: s.Attempts,
		LastError: s.LastError, NextRun: s.NextRun}
}

func subProblem(w http.ResponseWriter, field, format string, args ...any) {
	writeProblem(w, Problem{Type: "epcisException:SubscriptionControlsException", Status: http.StatusBadRequest, Detail: field,
		Title: field + ": " + fmt.Sprintf(format, args...)})
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// subscribe answers POST /epcis/queries/{queryName}/subscriptions.
//
// It is long because it checks the request's fields in turn (dest, secret, stream or
// schedule, initialRecordTime), each refusal naming its field, before the one store write.
func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	nq, ok := h.namedQuery(w, r)
	if !ok {
		return
	}
	var in SubscriptionRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueryBody))
	if err == nil {
		err = utf8json.Check(body) // json would turn invalid bytes into U+FFFD
	}
	if err == nil {
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		err = d.Decode(&in)
	}
	if err != nil {
		subProblem(w, "body", "not a subscription {\"dest\", \"secret\", \"stream\" | \"schedule\"}: %v", err)
		return
	}
	u, err := url.Parse(in.Dest)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		subProblem(w, "dest", "%q is not an https URL (deliveries are signed but must not travel in clear)", in.Dest)
		return
	}
	if err := h.Outbound.CheckURL(in.Dest); err != nil {
		subProblem(w, "dest", "%q: %v", in.Dest, err)
		return
	}
	secret := in.SignatureToken
	if secret == "" {
		secret = in.Secret
	}
	if secret == "" || len(secret) > 512 {
		subProblem(w, "secret", "1 to 512 characters are required (or signatureToken): each delivery is signed with it")
		return
	}
	switch {
	case in.Stream && in.Schedule != nil:
		subProblem(w, "stream", "stream and schedule exclude each other")
		return
	case !in.Stream && in.Schedule == nil:
		subProblem(w, "stream", "set stream to true (every new matching event) or give a schedule")
		return
	}
	sub := epcisdb.Subscription{ID: newID(), Query: nq.Name, Dest: in.Dest, Secret: secret, Stream: in.Stream, Schedule: in.Schedule,
		ReportIfEmpty: in.ReportIfEmpty}
	now := time.Now().UTC()
	if in.Schedule != nil {
		sch, err := parseSchedule(in.Schedule)
		if err != nil {
			subProblem(w, "schedule", "%v", err)
			return
		}
		next, ok := sch.next(now)
		if !ok {
			subProblem(w, "schedule", "never comes")
			return
		}
		sub.NextRun = &next
	}
	if sub.InitialRecordTime, err = timeOr(in.InitialRecordTime, now); err != nil {
		subProblem(w, "initialRecordTime", "%q is not an RFC 3339 time", in.InitialRecordTime)
		return
	}
	if in.InitialRecordTime == "" {
		// New events only: those stored from now on.
		if sub.LastID, err = h.Events.EPCISLastID(r.Context()); err != nil {
			h.internal(w, "subscribing", err)
			return
		}
	}
	p, _ := auth.PrincipalFrom(r.Context())
	sub.CreatedBy = p.Name
	if err := h.Events.CreateSubscription(r.Context(), sub); err != nil {
		h.internal(w, "subscribing", err)
		return
	}
	saved, err := h.Events.SubscriptionByID(r.Context(), nq.Name, sub.ID)
	if err != nil {
		h.internal(w, "subscribing", err)
		return
	}
	h.log.Info("EPCIS subscription", "query", nq.Name, "subscription", sub.ID, "dest", sub.Dest, "stream", sub.Stream, "who", p.Name)
	h.subs.wake()
	w.Header().Set("Location", Prefix+"queries/"+url.PathEscape(nq.Name)+"/subscriptions/"+sub.ID)
	httpjson.Write(w, http.StatusCreated, subOut(saved))
}

func (h *Handler) getSubscription(w http.ResponseWriter, r *http.Request) {
	s, err := h.Events.SubscriptionByID(r.Context(), r.PathValue("queryName"), r.PathValue("subscriptionID"))
	if errors.Is(err, sqldb.ErrNotFound) {
		problem(w, http.StatusNotFound, "epcisException:NoSuchNameException", "no such subscription of this query")
		return
	}
	if err != nil {
		h.internal(w, "subscription", err)
		return
	}
	httpjson.Write(w, http.StatusOK, subOut(s))
}

func (h *Handler) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	nq, ok := h.namedQuery(w, r)
	if !ok {
		return
	}
	pg, ok := h.paging(w, r, nil)
	if !ok {
		return
	}
	subs, last, more, err := h.Events.Subscriptions(r.Context(), nq.Name, pg.afterID(), pg.perPage)
	if err != nil {
		h.internal(w, "subscriptions", err)
		return
	}
	out := make([]SubscriptionOut, len(subs))
	for i, s := range subs {
		out[i] = subOut(s)
	}
	if more {
		pg.link(w, r, pageToken{ID: last})
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	err := h.Events.DeleteSubscription(r.Context(), r.PathValue("queryName"), r.PathValue("subscriptionID"))
	if errors.Is(err, sqldb.ErrNotFound) {
		problem(w, http.StatusNotFound, "epcisException:NoSuchNameException", "no such subscription of this query")
		return
	}
	if err != nil {
		h.internal(w, "unsubscribing", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// subscriptions runs the webhook deliveries and wakes WebSocket
// subscribers when events may have come.
type subscriptions struct {
	h *Handler

	mu      sync.Mutex
	changed chan struct{} // closed and replaced by wake
	dropped map[string]chan struct{}

	holder  string // this process, for the delivery lease
	stopCh  chan struct{}
	done    chan struct{}
	sendCtx context.Context // deliveries in flight; cancelled only if Close runs out of time
	cancel  context.CancelFunc
}

func newSubscriptions(h *Handler) *subscriptions {
	s := &subscriptions{h: h, changed: make(chan struct{}), dropped: map[string]chan struct{}{}, holder: newID()}
	s.sendCtx, s.cancel = context.WithCancel(context.Background())
	return s
}

// wake tells the deliveries and WebSocket subscribers that events came.
func (s *subscriptions) wake() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// waitChan is closed at the next wake.
func (s *subscriptions) waitChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// droppedChan is closed when the query is deleted.
func (s *subscriptions) droppedChan(query string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.dropped[query]
	if !ok {
		c = make(chan struct{})
		s.dropped[query] = c
	}
	return c
}

func (s *subscriptions) dropQuery(query string) {
	s.mu.Lock()
	if c, ok := s.dropped[query]; ok {
		close(c)
		delete(s.dropped, query)
	}
	s.mu.Unlock()
}

func (s *subscriptions) start(context.Context) error {
	s.stopCh, s.done = make(chan struct{}), make(chan struct{})
	go s.run()
	return nil
}

// stop ends the delivery loop after the delivery in flight.
func (s *subscriptions) stop() {
	if s.stopCh == nil {
		s.cancel()
		return
	}
	close(s.stopCh)
	select {
	case <-s.done:
	case <-time.After(webhookWait + time.Second):
		s.cancel()
		<-s.done
	}
	s.cancel()
	s.stopCh = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.h.Events.ReleaseDeliveryLease(ctx, s.holder); err != nil {
		s.h.log.Warn("subscription delivery lease not released", "err", err)
	}
}

func (s *subscriptions) run() {
	defer close(s.done)
	log := s.h.log.With("part", "subscriptions")
	for {
		wake := s.waitChan()
		next := s.deliverAll(log)
		wait := time.Until(next)
		if wait > pollEvery || next.IsZero() {
			wait = pollEvery
		}
		timer := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-s.stopCh:
			timer.Stop()
			return
		case <-wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// deliverAll delivers what is due and returns when something is due next
// (zero when nothing is scheduled).
func (s *subscriptions) deliverAll(log interface{ Warn(string, ...any) }) time.Time {
	ctx := s.sendCtx
	// One process delivers (replicas share the database).
	if ok, err := s.h.Events.DeliveryLease(ctx, s.holder, leaseFor); err != nil || !ok {
		if err != nil {
			log.Warn("subscription delivery lease", "err", err)
		}
		return time.Time{}
	}
	subs, _, _, err := s.h.Events.Subscriptions(ctx, "", 0, 0)
	if err != nil {
		log.Warn("subscriptions not read", "err", err)
		return time.Time{}
	}
	var next time.Time
	soonest := func(t *time.Time) {
		if t != nil && (next.IsZero() || t.Before(next)) {
			next = *t
		}
	}
	for _, sub := range subs {
		select {
		case <-s.stopCh:
			return next
		default:
		}
		now := time.Now()
		if sub.NextAttempt != nil && now.Before(*sub.NextAttempt) {
			soonest(sub.NextAttempt)
			continue
		}
		if !sub.Stream && (sub.NextRun == nil || now.Before(*sub.NextRun)) {
			soonest(sub.NextRun)
			continue
		}
		if err := s.deliver(ctx, sub); err != nil {
			backoff := min(time.Second<<min(sub.Attempts, 16), maxBackoff)
			at := time.Now().Add(backoff)
			log.Warn("subscription delivery failed", "subscription", sub.ID, "dest", sub.Dest, "attempt", sub.Attempts+1, "retry_in", backoff, "err", err)
			if ferr := s.h.Events.FailedSubscription(ctx, sub.ID, at, err.Error()); ferr != nil {
				log.Warn("subscription failure not recorded", "subscription", sub.ID, "err", ferr)
			}
			soonest(&at)
		}
	}
	return next
}

// deliver sends a subscription what is due: for a stream, every event
// after its position; for a schedule, the same at its run (an empty
// document when there is none and reportIfEmpty), then its next run.
func (s *subscriptions) deliver(ctx context.Context, sub epcisdb.Subscription) error {
	nq, err := s.h.Events.EPCISQueryByName(ctx, sub.Query)
	if err != nil {
		return err
	}
	q, err := parsedQuery(nq)
	if err != nil {
		return err
	}
	q.GERecordTime = sub.InitialRecordTime
	last, sent := sub.LastID, 0
	for {
		p, err := s.h.Events.QueryEPCISPage(ctx, q.EPCISQuery, epcisdb.EPCISPageRequest{Order: epcisdb.ByRecordTime,
			After: &epcisdb.EPCISCursor{ID: last}, Size: deliveryBatch})
		if err != nil {
			return err
		}
		if len(p.Events) == 0 && (sub.Stream || sent > 0 || !sub.ReportIfEmpty) {
			break
		}
		to := last
		if p.Last != nil {
			to = p.Last.ID
		}
		if err := s.post(ctx, sub, p.Events, fmt.Sprintf("%s:%d-%d", sub.ID, last, to)); err != nil {
			return err
		}
		var nextRun *time.Time
		if !sub.Stream && !p.More {
			nextRun = s.nextRun(sub)
		}
		if err := s.h.Events.DeliveredSubscription(ctx, sub.ID, to, len(p.Events), nextRun); err != nil {
			return err
		}
		last, sent = to, sent+1
		if !p.More {
			return nil
		}
	}
	if !sub.Stream {
		return s.h.Events.DeliveredSubscription(ctx, sub.ID, last, 0, s.nextRun(sub))
	}
	return nil
}

// nextRun is a scheduled subscription's run after now.
func (s *subscriptions) nextRun(sub epcisdb.Subscription) *time.Time {
	sch, err := parseSchedule(sub.Schedule)
	if err != nil {
		far := time.Now().AddDate(100, 0, 0)
		return &far
	}
	t, ok := sch.next(time.Now())
	if !ok {
		t = time.Now().AddDate(100, 0, 0)
	}
	return &t
}

// post sends one signed delivery.
func (s *subscriptions) post(ctx context.Context, sub epcisdb.Subscription, evs []epcis.Event, deliveryID string) error {
	body, err := epcis.MarshalQueryDocumentJSONLD(evs, sub.Query, sub.ID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, webhookWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Dest, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/ld+json")
	req.Header.Set("GS1-EPCIS-Version", epcisVersion)
	req.Header.Set("GS1-CBV-Version", cbvVersion)
	req.Header.Set("GS1-Signature", Sign(sub.Secret, body))
	req.Header.Set("Serialine-Delivery-ID", deliveryID)
	client, err := s.h.webhookClient(sub.Dest)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", sub.Dest, strconv.Itoa(resp.StatusCode))
	}
	return nil
}

// Sign is the GS1-Signature of a delivery: base64(HMAC-SHA256(secret, body)).
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
