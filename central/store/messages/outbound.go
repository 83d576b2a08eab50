package messages

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
)

// Outbound message states.
const (
	OutboundPending   = "pending"   // waiting for its next attempt
	OutboundSending   = "sending"   // claimed by a sender (lease)
	OutboundDelivered = "delivered" // the partner answered 2xx
	OutboundFailed    = "failed"    // refused, or no success within the give-up window
)

// Attempt outcomes.
const (
	AttemptDelivered = "delivered"
	AttemptRetry     = "retry"
	AttemptFailed    = "failed"
)

// OutboundMessage is one document to a trading partner in the outbound
// queue, with its attempts. Document holds the bytes sent (built at the
// first attempt, then kept), so that every retry and resend sends the
// same document.
type OutboundMessage struct {
	ID            int64             `json:"id"`
	Kind          string            `json:"kind"`
	Ref           string            `json:"ref"`
	Partner       string            `json:"partner"`
	State         string            `json:"state"`
	Attempts      int               `json:"attempts"`
	ArmedAt       time.Time         `json:"armed_at"`
	NextAttemptAt *time.Time        `json:"next_attempt_at,omitempty"`
	DocumentID    string            `json:"document_id,omitempty"`
	ContentType   string            `json:"content_type,omitempty"`
	Bytes         int               `json:"bytes"`
	Endpoint      string            `json:"endpoint,omitempty"`
	LastStatus    int               `json:"last_status,omitempty"`
	LastSummary   string            `json:"last_summary,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	DeliveredAt   *time.Time        `json:"delivered_at,omitempty"`
	History       []OutboundAttempt `json:"attempts_made"`
	Document      []byte            `json:"-"`
}

// OutboundAttempt is one try to deliver a message.
type OutboundAttempt struct {
	N        int       `json:"n"`
	At       time.Time `json:"at"`
	Endpoint string    `json:"endpoint"`
	// Status is the partner's HTTP status, 0 when no answer came (the
	// connection failed or was refused by central's outbound policy).
	Status     int    `json:"status"`
	Summary    string `json:"summary"`
	Outcome    string `json:"outcome"`
	DurationMS int64  `json:"duration_ms"`
	Sender     string `json:"sender"`
}

// OutboundResult is what a sender reports after an attempt: the outcome
// and, for a retry, when to try again. Document, DocumentID and
// ContentType are stored with the first attempt that built them.
type OutboundResult struct {
	At          time.Time
	Endpoint    string
	Status      int
	Summary     string
	Outcome     string
	Duration    time.Duration
	NextAttempt time.Time // for AttemptRetry
	Document    []byte
	DocumentID  string
	ContentType string
}

// maxSummary bounds a stored summary of a partner's answer.
const maxSummary = 240

// EnqueueOutbound queues a document of kind about ref for the partner
// gln, due at once. A message of the same kind and ref that is still
// pending or sending is returned instead of a second one. Audited.
func (s *Queue) EnqueueOutbound(ctx context.Context, kind, ref, gln string) (OutboundMessage, error) {
	var m OutboundMessage
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		var err error
		m, err = EnqueueOutbound(ctx, tx, kind, ref, gln)
		return err
	})
	return m, err
}

func EnqueueOutbound(ctx context.Context, tx sqldb.Tx, kind, ref, gln string) (OutboundMessage, error) {
	rec := "outbound " + kind + " " + ref
	if kind == "" || ref == "" {
		return OutboundMessage{}, sqldb.Invalid(rec, "kind", "kind and ref are required")
	}
	if _, err := master.GetPartner(ctx, tx, gln); err != nil {
		return OutboundMessage{}, err
	}
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM outbound_messages WHERE kind = $1 AND ref = $2 AND partner_gln = $3
		AND state IN ('pending', 'sending') ORDER BY id LIMIT 1`, kind, ref, gln).Scan(&id)
	switch {
	case err == nil:
		return getOutbound(ctx, tx, id)
	case !sqldb.IsNoRows(err):
		return OutboundMessage{}, fmt.Errorf("%s: %w", rec, err)
	}
	t := sqldb.Now()
	if err := tx.QueryRow(ctx, `INSERT INTO outbound_messages (kind, ref, partner_gln, state, armed_at, next_attempt_at, created_at, updated_at)
		VALUES ($1, $2, $3, 'pending', $4, $4, $4, $4) RETURNING id`, kind, ref, gln, t).Scan(&id); err != nil {
		return OutboundMessage{}, fmt.Errorf("%s: %w", rec, err)
	}
	m, err := getOutbound(ctx, tx, id)
	if err != nil {
		return m, err
	}
	return m, audit.Record(ctx, tx, "enqueue", "outbound", strconv.FormatInt(id, 10), nil, m)
}

const outboundCols = `id, kind, ref, partner_gln, state, attempts, armed_at, next_attempt_at, document_id, content_type,
	COALESCE(LENGTH(document), 0), endpoint, last_status, last_summary, created_at, updated_at, delivered_at`

func scanOutbound(r interface{ Scan(...any) error }) (OutboundMessage, error) {
	var m OutboundMessage
	var next, delivered sql.NullTime
	err := r.Scan(&m.ID, &m.Kind, &m.Ref, &m.Partner, &m.State, &m.Attempts, &m.ArmedAt, &next, &m.DocumentID, &m.ContentType,
		&m.Bytes, &m.Endpoint, &m.LastStatus, &m.LastSummary, &m.CreatedAt, &m.UpdatedAt, &delivered)
	m.ArmedAt, m.CreatedAt, m.UpdatedAt = m.ArmedAt.UTC(), m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	m.NextAttemptAt, m.DeliveredAt = sqldb.NullTime(next), sqldb.NullTime(delivered)
	return m, err
}

func getOutbound(ctx context.Context, q sqldb.Tx, id int64) (OutboundMessage, error) {
	m, err := scanOutbound(q.QueryRow(ctx, "SELECT "+outboundCols+" FROM outbound_messages WHERE id = $1", id))
	if sqldb.IsNoRows(err) {
		return m, fmt.Errorf("outbound message %d: %w", id, sqldb.ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("outbound message %d: %w", id, err)
	}
	m.History, err = sqldb.QueryAll(ctx, q, `SELECT n, at, endpoint, status, summary, outcome, duration_ms, sender
		FROM outbound_attempts WHERE message_id = $1 ORDER BY n`, []any{id}, func(r sqldb.Rows) (OutboundAttempt, error) {
		var a OutboundAttempt
		err := r.Scan(&a.N, &a.At, &a.Endpoint, &a.Status, &a.Summary, &a.Outcome, &a.DurationMS, &a.Sender)
		a.At = a.At.UTC()
		return a, err
	})
	if err != nil {
		return m, fmt.Errorf("outbound message %d: attempts: %w", id, err)
	}
	if m.History == nil {
		m.History = []OutboundAttempt{}
	}
	return m, nil
}

// OutboundMessage returns a message with its attempts (not its document).
func (s *Queue) OutboundMessage(ctx context.Context, id int64) (OutboundMessage, error) {
	var m OutboundMessage
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		var err error
		m, err = getOutbound(ctx, q, id)
		return err
	})
	return m, err
}

// OutboundDocument returns the bytes a message sent (or will send), and
// sqldb.ErrNotFound while it has not been built.
func (s *Queue) OutboundDocument(ctx context.Context, id int64) (doc []byte, contentType string, err error) {
	err = s.db.Read(ctx, func(q sqldb.Tx) error {
		return q.QueryRow(ctx, "SELECT document, content_type FROM outbound_messages WHERE id = $1", id).Scan(&doc, &contentType)
	})
	if sqldb.IsNoRows(err) {
		return nil, "", fmt.Errorf("outbound message %d: %w", id, sqldb.ErrNotFound)
	}
	if err == nil && doc == nil {
		err = fmt.Errorf("outbound message %d: document not built yet: %w", id, sqldb.ErrNotFound)
	}
	return doc, contentType, err
}

// OutboundFilter selects messages; zero fields select everything.
type OutboundFilter struct {
	Kind, Ref, Partner, State string
	Limit                     int // 0: 100
}

// OutboundMessages lists messages with their attempts, newest first.
func (s *Queue) OutboundMessages(ctx context.Context, f OutboundFilter) ([]OutboundMessage, error) {
	var where sqldb.Where
	where.Eq("kind", f.Kind)
	where.Eq("ref", f.Ref)
	where.Eq("partner_gln", f.Partner)
	where.Eq("state", f.State)
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := "SELECT id FROM outbound_messages" + where.SQL() + " ORDER BY id DESC LIMIT " + strconv.Itoa(limit)
	out := []OutboundMessage{}
	err := s.db.ReadTx(ctx, func(db sqldb.Tx) error {
		ids, err := sqldb.QueryAll(ctx, db, q, where.Args(), func(r sqldb.Rows) (int64, error) {
			var id int64
			return id, r.Scan(&id)
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			m, err := getOutbound(ctx, db, id)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbound messages: %w", err)
	}
	return out, nil
}

// DueOutbound returns the ids of messages due at now: pending with their
// next attempt reached, or sending with a lease that ran out (their
// sender died), oldest first.
func (s *Queue) DueOutbound(ctx context.Context, at time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		ids, err = sqldb.QueryAll(ctx, q, `SELECT id FROM outbound_messages
			WHERE (state = 'pending' AND next_attempt_at <= $1) OR (state = 'sending' AND lease_until < $1)
			ORDER BY next_attempt_at, id LIMIT `+strconv.Itoa(max(limit, 1)), []any{sqldb.TS(at)}, func(r sqldb.Rows) (int64, error) {
			var id int64
			return id, r.Scan(&id)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("due outbound messages: %w", err)
	}
	return ids, nil
}

// ErrNotClaimed is returned by ClaimOutbound when the message is not due
// (any more): another sender has it, or it is done.
var ErrNotClaimed = errors.New("not claimed")

// ClaimOutbound makes owner the message's sender until leaseUntil, if the
// message is still due at now: one conditional UPDATE, so that of two
// replicas exactly one wins. It counts the attempt and returns the
// message with its document (nil before the first build).
func (s *Queue) ClaimOutbound(ctx context.Context, id int64, owner string, at, leaseUntil time.Time) (OutboundMessage, error) {
	var m OutboundMessage
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		n, err := tx.Exec(ctx, `UPDATE outbound_messages SET state = 'sending', lease_owner = $2, lease_until = $4,
			attempts = attempts + 1, updated_at = $3
			WHERE id = $1 AND ((state = 'pending' AND next_attempt_at <= $3) OR (state = 'sending' AND lease_until < $3))`,
			id, owner, sqldb.TS(at), sqldb.TS(leaseUntil))
		if err != nil {
			return fmt.Errorf("claim outbound message %d: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("outbound message %d: %w", id, ErrNotClaimed)
		}
		if m, err = getOutbound(ctx, tx, id); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT document FROM outbound_messages WHERE id = $1", id).Scan(&m.Document)
	})
	return m, err
}

// RecordOutbound stores an attempt's result for the sender owner, which
// must still hold the lease (else ErrNotClaimed: another sender took the
// message over, and its result counts). The attempt, the message's new
// state and the audit entry ("send") commit together.
func (s *Queue) RecordOutbound(ctx context.Context, id int64, owner string, r OutboundResult) (OutboundMessage, error) {
	summary := r.Summary
	if len(summary) > maxSummary {
		summary = summary[:maxSummary]
	}
	var m OutboundMessage
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		var state, lease string
		var attempts int
		if err := tx.QueryRow(ctx, "SELECT state, lease_owner, attempts FROM outbound_messages WHERE id = $1"+s.db.Dialect().ForUpdate(), id).
			Scan(&state, &lease, &attempts); err != nil {
			if sqldb.IsNoRows(err) {
				return fmt.Errorf("outbound message %d: %w", id, sqldb.ErrNotFound)
			}
			return fmt.Errorf("outbound message %d: %w", id, err)
		}
		if state != OutboundSending || lease != owner {
			return fmt.Errorf("outbound message %d: %w (state %s, sender %q)", id, ErrNotClaimed, state, lease)
		}
		if r.Document != nil {
			if _, err := tx.Exec(ctx, `UPDATE outbound_messages SET document = $2, document_id = $3, content_type = $4
				WHERE id = $1 AND document IS NULL`, id, r.Document, r.DocumentID, r.ContentType); err != nil {
				return fmt.Errorf("outbound message %d: document: %w", id, err)
			}
		}
		at := sqldb.TS(r.At)
		var next, delivered any
		newState := OutboundPending
		switch r.Outcome {
		case AttemptDelivered:
			newState, delivered = OutboundDelivered, at
		case AttemptRetry:
			next = sqldb.TS(r.NextAttempt)
		case AttemptFailed:
			newState = OutboundFailed
		default:
			return sqldb.Invalid(fmt.Sprintf("outbound message %d", id), "outcome", "%q is not an outcome", r.Outcome)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO outbound_attempts (message_id, n, at, endpoint, status, summary, outcome, duration_ms, sender)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, id, attempts, at, r.Endpoint, r.Status, summary, r.Outcome,
			r.Duration.Milliseconds(), owner); err != nil {
			return fmt.Errorf("outbound message %d: attempt %d: %w", id, attempts, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE outbound_messages SET state = $2, next_attempt_at = $3, lease_owner = '', lease_until = NULL,
			endpoint = $4, last_status = $5, last_summary = $6, updated_at = $7, delivered_at = COALESCE($8, delivered_at) WHERE id = $1`,
			id, newState, next, r.Endpoint, r.Status, summary, sqldb.Now(), delivered); err != nil {
			return fmt.Errorf("outbound message %d: %w", id, err)
		}
		var err error
		if m, err = getOutbound(ctx, tx, id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, "send", "outbound", strconv.FormatInt(id, 10), nil, map[string]any{
			"kind": m.Kind, "ref": m.Ref, "partner": m.Partner, "attempt": attempts, "endpoint": r.Endpoint,
			"status": r.Status, "summary": summary, "outcome": r.Outcome, "state": newState, "document_id": m.DocumentID})
	})
	return m, err
}

// ResendOutbound arms a delivered or failed message again: due at once,
// with a new give-up window, the same document. A message still pending
// is made due at once. Audited ("resend").
func (s *Queue) ResendOutbound(ctx context.Context, id int64) (OutboundMessage, error) {
	var m OutboundMessage
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		before, err := getOutbound(ctx, tx, id)
		if err != nil {
			return err
		}
		if before.State == OutboundSending {
			return fmt.Errorf("outbound message %d: %w: an attempt is running; wait for its outcome", id, sqldb.ErrState)
		}
		t := sqldb.Now()
		if _, err := tx.Exec(ctx, `UPDATE outbound_messages SET state = 'pending', armed_at = $2, next_attempt_at = $2, updated_at = $2
			WHERE id = $1`, id, t); err != nil {
			return fmt.Errorf("outbound message %d: %w", id, err)
		}
		if m, err = getOutbound(ctx, tx, id); err != nil {
			return err
		}
		before.History, m.History = nil, nil
		err = audit.Record(ctx, tx, "resend", "outbound", strconv.FormatInt(id, 10), before, m)
		if m2, err2 := getOutbound(ctx, tx, id); err2 == nil {
			m = m2
		}
		return err
	})
	return m, err
}
