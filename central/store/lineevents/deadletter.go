package lineevents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// MaxDeadLetterPayload is the most of a payload a dead letter keeps. A
// longer payload is cut to this prefix and kept with its full size and
// SHA-256, so that refused payloads cannot fill central's disk (a line may
// send up to wire.MaxPayloadBytes, or more, over and over).
const MaxDeadLetterPayload = 64 << 10

// maxDeadLetterText caps the text columns of a dead letter (topic, event
// id, reason) that come from what a line sent.
const maxDeadLetterText = 4096

// DeadLetter is a payload central could not apply, kept with the reason.
type DeadLetter struct {
	ID          int64
	ReceivedAt  time.Time
	Topic       string
	Line        string
	Incarnation string // the line's event-store incarnation, for events
	EventID     string // "" when the payload was not a single event
	Seq         uint64 // 0 when none, or when it exceeds wire.MaxSeq (see the payload)
	// Payload is the payload, or its first MaxDeadLetterPayload bytes.
	Payload []byte
	// Size is the payload's full size in bytes; SHA256 the hex SHA-256 of
	// the full payload ("" when the broker refused the payload without
	// reading it, see AddDeadLetter).
	Size   int64
	SHA256 string
	Reason string
}

// Truncated reports whether Payload is only a prefix of the payload.
func (d DeadLetter) Truncated() bool { return d.Size > int64(len(d.Payload)) }

// bound cuts the payload to MaxDeadLetterPayload after measuring it, and
// makes the text columns storable (valid UTF-8 without NUL, bounded): a
// dead letter exists because the input was bad, so it must never fail to
// be written for the same reason.
func (d *DeadLetter) bound() {
	if d.SHA256 == "" && d.Size == 0 {
		sum := sha256.Sum256(d.Payload)
		d.SHA256, d.Size = hex.EncodeToString(sum[:]), int64(len(d.Payload))
	}
	if len(d.Payload) > MaxDeadLetterPayload {
		d.Payload = d.Payload[:MaxDeadLetterPayload:MaxDeadLetterPayload]
	}
	if d.Payload == nil {
		d.Payload = []byte{}
	}
	d.Topic, d.Line, d.Incarnation = cleanText(d.Topic), cleanText(d.Line), cleanText(d.Incarnation)
	d.EventID, d.Reason = cleanText(d.EventID), cleanText(d.Reason)
	if d.Seq > wire.MaxSeq {
		d.Seq = 0 // the database keeps signed 64-bit integers; the payload has it
	}
}

// cleanText makes s storable in a TEXT column of either database: valid
// UTF-8, no NUL (PostgreSQL refuses it), at most maxDeadLetterText bytes.
func cleanText(s string) string {
	if len(s) > maxDeadLetterText {
		s = s[:maxDeadLetterText]
	}
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", `\x00`)
}

func (d DeadLetter) row() []any {
	return []any{sqldb.TS(d.ReceivedAt), d.Topic, d.Line, d.Incarnation, d.EventID, d.Seq, d.Payload, d.Size, d.SHA256, d.Reason}
}

var deadLetterCols = []string{"received_at", "topic", "line_id", "incarnation", "event_id", "seq", "payload", "payload_size", "payload_sha256", "reason"}

const insertDeadLetter = `INSERT INTO dead_letters (received_at, topic, line_id, incarnation, event_id, seq, payload, payload_size, payload_sha256, reason)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

// AddDeadLetter keeps a payload that could not be handled at all (not
// JSON, wrong version, unknown line, dropped by the broker, ...) and
// returns its id. ApplyEvents dead-letters invalid events itself.
//
// The payload is kept up to MaxDeadLetterPayload bytes, with its full size
// and SHA-256. A caller that has only a prefix of the payload (the broker
// refusing an oversized packet before reading it) sets Size to the full
// size, and SHA256 if it could hash the whole.
func (s *Records) AddDeadLetter(ctx context.Context, d DeadLetter) (int64, error) {
	if err := prepareDeadLetters([]DeadLetter{d}); err != nil {
		return 0, err
	}
	d.bound()
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = sqldb.Now()
	}
	var id int64
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		return tx.QueryRow(ctx, insertDeadLetter+" RETURNING id", d.row()...).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("dead letter from %s: %w", d.Topic, err)
	}
	s.log.Warn("payload dead-lettered", "id", id, "topic", d.Topic, "size", d.Size, "reason", d.Reason)
	return id, nil
}

// AddDeadLetters keeps several dead letters in one transaction, written in
// bulk: a line flooding junk is kept at the rate of batches, not of single
// commits, and logged once per batch.
func (s *Records) AddDeadLetters(ctx context.Context, ds []DeadLetter) error {
	if len(ds) == 0 {
		return nil
	}
	if err := prepareDeadLetters(ds); err != nil {
		return err
	}
	rows := make([][]any, len(ds))
	at := sqldb.Now()
	for i := range ds {
		d := ds[i]
		if d.ReceivedAt.IsZero() {
			d.ReceivedAt = at
		}
		d.bound()
		rows[i] = d.row()
	}
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		return tx.CopyRows(ctx, "dead_letters", deadLetterCols, rows)
	})
	if err != nil {
		return fmt.Errorf("%d dead letters from %s: %w", len(ds), ds[0].Topic, err)
	}
	s.log.Warn("payloads dead-lettered", "count", len(ds), "topic", ds[0].Topic, "reason", ds[0].Reason)
	return nil
}

func prepareDeadLetters(ds []DeadLetter) error {
	for _, d := range ds {
		if d.Reason == "" {
			return sqldb.Invalid("dead letter", "reason", "missing")
		}
		if d.Size < int64(len(d.Payload)) && d.Size != 0 {
			return sqldb.Invalid("dead letter", "size", "%d is less than the %d bytes of the payload kept", d.Size, len(d.Payload))
		}
	}
	return nil
}

// DeadLetterFilter selects dead letters; zero fields select everything.
type DeadLetterFilter struct {
	Line  string
	Since time.Time
	Limit int // default 1000
}

// DeadLetters lists dead letters, oldest first.
func (s *Records) DeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error) {
	var where sqldb.Where
	where.Eq("line_id", f.Line)
	if !f.Since.IsZero() {
		where.Add("received_at >= ?", sqldb.TS(f.Since))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q := "SELECT id, received_at, topic, line_id, incarnation, event_id, seq, payload, payload_size, payload_sha256, reason FROM dead_letters" + where.SQL()
	q += " ORDER BY id LIMIT " + strconv.Itoa(limit)
	var out []DeadLetter
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		var err error
		out, err = sqldb.QueryAll(ctx, db, q, where.Args(), func(r sqldb.Rows) (DeadLetter, error) {
			var d DeadLetter
			err := r.Scan(&d.ID, &d.ReceivedAt, &d.Topic, &d.Line, &d.Incarnation, &d.EventID, &d.Seq, &d.Payload, &d.Size, &d.SHA256, &d.Reason)
			d.ReceivedAt = d.ReceivedAt.UTC()
			return d, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return out, nil
}

// BoundDeadLetters runs after migration dead_letter_bounds: it measures
// and hashes the payloads of the dead letters stored before it and cuts
// them to MaxDeadLetterPayload. SQLite has no SHA-256 function, so this is
// Go for both databases.
func BoundDeadLetters(ctx context.Context, tx sqldb.Tx) error {
	var after int64
	for {
		type dl struct {
			id      int64
			payload []byte
		}
		batch, err := sqldb.QueryAll(ctx, tx, "SELECT id, payload FROM dead_letters WHERE id > $1 ORDER BY id LIMIT 200", []any{after},
			func(r sqldb.Rows) (dl, error) {
				var d dl
				return d, r.Scan(&d.id, &d.payload)
			})
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		args := make([][]any, len(batch))
		for i, d := range batch {
			b := DeadLetter{Payload: d.payload}
			b.bound()
			args[i] = []any{d.id, b.Payload, b.Size, b.SHA256}
			after = d.id
		}
		if err := tx.ExecMany(ctx, "UPDATE dead_letters SET payload = $2, payload_size = $3, payload_sha256 = $4 WHERE id = $1", args); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
	}
}
