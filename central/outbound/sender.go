// Package outbound delivers documents to trading partners from central's
// persistent outbound queue (store.EnqueueOutbound): DSCSA EPCIS
// documents now, EU FMD data sets later. A Sender claims due messages one
// at a time (one sender per message across replicas), builds the document
// once with the kind's Builder, POSTs it over HTTPS with the partner's
// authentication, and records the outcome: delivered on 2xx, else retried
// with backoff until the give-up window has passed, then failed. Every
// connection goes through Policy, which refuses loopback, private,
// link-local and metadata addresses at connect time (see policy.go).
package outbound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/sqldb"
)

// Document is a built document to send.
type Document struct {
	Body        []byte
	ContentType string
	// ID identifies the document to the partner (the SBDH instance
	// identifier of an EPCIS document).
	ID string
}

// Builder builds the document of a queued message of its kind: ref is the
// message's reference (a shipment id), partner the receiving GLN.
type Builder interface {
	Build(ctx context.Context, ref, partner string) (Document, error)
}

// Queue is what the sender needs of the store (store.Store has it).
type Queue interface {
	DueOutbound(ctx context.Context, at time.Time, limit int) ([]int64, error)
	ClaimOutbound(ctx context.Context, id int64, owner string, at, leaseUntil time.Time) (messages.OutboundMessage, error)
	RecordOutbound(ctx context.Context, id int64, owner string, r messages.OutboundResult) (messages.OutboundMessage, error)
	PartnerEndpoint(ctx context.Context, gln, kind string) (master.PartnerEndpoint, error)
}

// Config tunes a Sender. Zero values take the defaults.
type Config struct {
	// RetryInitial is the wait after the first failed attempt; it doubles
	// with each failure up to RetryMax (defaults 1 min and 15 min: the
	// DSCSA networks retry at least every 15 minutes).
	RetryInitial time.Duration
	RetryMax     time.Duration
	// GiveUpAfter is how long after a message was queued (or resent) it
	// is retried before it is marked failed (default 2 h).
	GiveUpAfter time.Duration
	// Timeout bounds one attempt: connect, TLS, request and answer
	// (default 30 s).
	Timeout time.Duration
	// Poll is how often the queue is read for due messages (default 5 s);
	// Wake reads it at once.
	Poll time.Duration
	// Owner names this sender in leases and attempts (default host name
	// and a random suffix: unique per replica and start).
	Owner string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultRetryInitial = time.Minute
	DefaultRetryMax     = 15 * time.Minute
	DefaultGiveUpAfter  = 2 * time.Hour
	DefaultTimeout      = 30 * time.Second
	DefaultPoll         = 5 * time.Second
)

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.RetryInitial, DefaultRetryInitial)
	def(&c.RetryMax, DefaultRetryMax)
	def(&c.GiveUpAfter, DefaultGiveUpAfter)
	def(&c.Timeout, DefaultTimeout)
	def(&c.Poll, DefaultPoll)
	if c.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Owner = host + "-" + hex.EncodeToString(b[:])
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks the timings (after WithDefaults); the error starts
// with the field's configuration key (retry_initial, retry_max, ...).
func (c Config) Validate() error {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"retry_initial", c.RetryInitial}, {"retry_max", c.RetryMax}, {"give_up_after", c.GiveUpAfter}, {"timeout", c.Timeout}, {"poll", c.Poll}} {
		if d.v < 0 {
			return fmt.Errorf("%s: %v is negative", d.key, d.v)
		}
	}
	switch {
	case c.RetryInitial > c.RetryMax:
		return fmt.Errorf("retry_initial: %v is longer than retry_max %v", c.RetryInitial, c.RetryMax)
	case c.RetryMax > 15*time.Minute:
		return fmt.Errorf("retry_max: %v: partners expect an attempt at least every 15 minutes", c.RetryMax)
	case c.GiveUpAfter < c.RetryMax:
		return fmt.Errorf("give_up_after: %v is shorter than retry_max %v", c.GiveUpAfter, c.RetryMax)
	}
	return nil
}

// Sender delivers the outbound queue.
type Sender struct {
	q        Queue
	builders map[string]Builder
	policy   Policy
	cfg      Config
	log      *slog.Logger
	wake     chan struct{}
}

// New returns a sender (it does not start: see Run and SendDue).
func New(q Queue, builders map[string]Builder, policy Policy, cfg Config, log *slog.Logger) (*Sender, error) {
	if q == nil || log == nil {
		return nil, errors.New("outbound: a queue and a logger are required")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	return &Sender{q: q, builders: builders, policy: policy, cfg: cfg, log: log.With("component", "outbound"), wake: make(chan struct{}, 1)}, nil
}

// Policy is the sender's outbound policy (for checking URLs early).
func (s *Sender) Policy() Policy { return s.policy }

// Wake makes Run read the queue now (after an enqueue or a resend).
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers due messages until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := s.SendDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("outbound queue", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// SendDue makes one attempt at every message due now and returns how
// many it attempted. A message another sender claimed first is skipped.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	ids, err := s.q.DueOutbound(ctx, s.cfg.Now(), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		ok, err := s.attempt(ctx, id)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// attempt claims message id and makes one delivery attempt.
func (s *Sender) attempt(ctx context.Context, id int64) (bool, error) {
	start := s.cfg.Now()
	// The lease outlives the attempt (bounded by Timeout) with room for
	// building the document and recording the outcome.
	m, err := s.q.ClaimOutbound(ctx, id, s.cfg.Owner, start, start.Add(2*s.cfg.Timeout+time.Minute))
	if errors.Is(err, messages.ErrNotClaimed) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	res := messages.OutboundResult{Outcome: messages.AttemptRetry}
	doc := Document{Body: m.Document, ContentType: m.ContentType, ID: m.DocumentID}
	var answer Answer
	var sendErr error
	ep, err := s.q.PartnerEndpoint(ctx, m.Partner, m.Kind)
	switch {
	case errors.Is(err, sqldb.ErrNotFound):
		answer.Summary = fmt.Sprintf("partner %s has no %s endpoint", m.Partner, m.Kind)
	case err != nil:
		return false, err
	default:
		res.Endpoint = ep.URL
		if doc.Body == nil {
			b, ok := s.builders[m.Kind]
			if !ok {
				answer.Summary = fmt.Sprintf("no document builder for kind %q", m.Kind)
				break
			}
			built, err := b.Build(ctx, m.Ref, m.Partner)
			if err != nil {
				answer.Summary = "the document could not be built: " + err.Error()
				break
			}
			doc = built
			res.Document, res.DocumentID, res.ContentType = built.Body, built.ID, built.ContentType
		}
		answer, sendErr = s.policy.post(ctx, ep, s.cfg.Timeout, doc)
	}
	end := s.cfg.Now()
	res.At, res.Duration, res.Status, res.Summary = end, end.Sub(start), answer.Status, answer.Summary
	switch {
	case sendErr == nil && answer.Status >= 200 && answer.Status < 300:
		res.Outcome = messages.AttemptDelivered
	case sendErr == nil && permanent(answer.Status):
		res.Outcome = messages.AttemptFailed
		res.Summary += " (the partner refused the document; fix it and resend)"
	case !end.Before(m.ArmedAt.Add(s.cfg.GiveUpAfter)):
		res.Outcome = messages.AttemptFailed
		res.Summary += fmt.Sprintf(" (no success within %v: failed)", s.cfg.GiveUpAfter)
	default:
		res.NextAttempt = s.next(m, end)
	}
	rec, err := s.q.RecordOutbound(ctx, id, s.cfg.Owner, res)
	if errors.Is(err, messages.ErrNotClaimed) {
		s.log.Warn("outbound attempt outlived its lease; another sender's result counts", "message", id)
		return true, nil
	}
	if err != nil {
		return true, err
	}
	s.log.Info("outbound attempt", "message", id, "kind", m.Kind, "ref", m.Ref, "partner", m.Partner, "attempt", m.Attempts,
		"status", res.Status, "outcome", res.Outcome, "state", rec.State, "summary", res.Summary)
	return true, nil
}

// permanent reports a status that says the document itself is refused:
// sending it again cannot help.
func permanent(status int) bool {
	switch status {
	case 400, 405, 410, 411, 413, 414, 415, 422:
		return true
	}
	return false
}

// next is when to try a message again after its failed attempt at t:
// RetryInitial doubled per attempt so far, at most RetryMax, and no later
// than the end of the give-up window (so that the last try is made).
func (s *Sender) next(m messages.OutboundMessage, t time.Time) time.Time {
	d := s.cfg.RetryInitial
	for i := 1; i < m.Attempts && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	at, end := t.Add(min(d, s.cfg.RetryMax)), m.ArmedAt.Add(s.cfg.GiveUpAfter)
	if at.After(end) {
		return end
	}
	return at
}
