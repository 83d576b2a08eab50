package epcisdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
)

// epcisInsertLock is the PostgreSQL advisory lock every transaction that
// adds EPCIS events holds: ids are then given in commit order, so a reader
// paging by id never passes an id that a later commit fills in.
const epcisInsertLock = 0x5e71e9c1

// CaptureResult says what a capture did.
type CaptureResult struct {
	// CaptureID names the capture; every event it stored carries it.
	CaptureID string `json:"captureID"`
	// Stored is the number of events new to the repository.
	Stored int `json:"stored"`
	// Duplicates is the number of events already stored (same eventID or
	// same event hash ID, also when sent earlier by another partner or in
	// another binding).
	Duplicates int `json:"duplicates"`
	// Declared is the number of error declarations that marked a stored
	// event (see CaptureEPCIS).
	Declared int `json:"declared"`
	// EventIDs is the eventID of each event, in input order: the
	// capturer's, or its hash ID.
	EventIDs []string `json:"eventIDs"`
	// HashIDs is the event hash ID of each event, in input order.
	HashIDs []string `json:"eventHashIDs"`
}

// CaptureEPCIS stores events in one transaction. hashIDs are the events'
// hash IDs as computed from the captured document (epcis.HashDocument);
// when nil, each is epcis.HashID of the event. Every event is validated
// (EPCIS 2.0 structure, CBV 2.0 values, EPC syntax) and, if any is
// invalid, nothing is stored and the error is an *EPCISCaptureError
// listing every problem. An event without eventID gets its hash ID as
// eventID. Events whose eventID or hash ID is already stored are counted
// as duplicates and skipped, except an event with an errorDeclaration: it
// marks the stored event (its errorDeclaration, error reason and
// corrective event IDs become the stored event's) instead of adding one.
// The record time is the store's clock.
func (s *Repository) CaptureEPCIS(ctx context.Context, events []epcis.Event, hashIDs []string) (CaptureResult, error) {
	return s.capture(ctx, newCaptureID(), events, hashIDs, nil)
}

// capture stores events under capture id; done, when set, runs last in
// the same transaction.
func (s *Repository) capture(ctx context.Context, id string, events []epcis.Event, hashIDs []string, done func(sqldb.Tx, CaptureResult) error) (CaptureResult, error) {
	res := CaptureResult{CaptureID: id, EventIDs: make([]string, len(events)), HashIDs: make([]string, len(events))}
	if hashIDs != nil && len(hashIDs) != len(events) {
		return CaptureResult{}, fmt.Errorf("EPCIS capture: %d hash IDs for %d events", len(hashIDs), len(events))
	}
	var problems []*epcis.FieldError
	for i, e := range events {
		problems = append(problems, ValidateEPCISEvent(i, e)...)
	}
	if len(problems) > 0 {
		return CaptureResult{}, &EPCISCaptureError{Problems: problems}
	}
	rows := make([]*Row, len(events))
	rec := sqldb.Now()
	for i, e := range events {
		h := ""
		if hashIDs != nil {
			h = hashIDs[i]
		}
		r, err := NewRow(e, h, rec, EPCISSourceCapture, res.CaptureID)
		if err != nil {
			return CaptureResult{}, &EPCISCaptureError{Problems: []*epcis.FieldError{{Index: i, Field: "event", Rule: err.Error()}}}
		}
		rows[i] = &r
		res.HashIDs[i] = r.hash
	}
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		if err := LockInsert(ctx, tx); err != nil {
			return err
		}
		var fresh []*Row
		for _, r := range rows {
			if r.declaration == nil {
				fresh = append(fresh, r)
				continue
			}
			marked, err := s.declareError(ctx, tx, *r)
			if err != nil {
				return err
			}
			if marked {
				res.Declared++
				continue
			}
			fresh = append(fresh, r) // declares an error of an event this repository has not seen
		}
		stored, err := Insert(ctx, tx, fresh)
		res.Stored, res.Duplicates = stored, len(fresh)-stored
		for i, r := range rows {
			res.EventIDs[i] = r.eventID // a duplicate's is the stored event's
		}
		if err == nil && done != nil {
			err = done(tx, res)
		}
		return err
	})
	if err != nil {
		return CaptureResult{}, fmt.Errorf("EPCIS capture %s: %w", res.CaptureID, err)
	}
	s.log.Info("EPCIS captured", "capture", res.CaptureID, "stored", res.Stored, "duplicates", res.Duplicates, "declared", res.Declared)
	return res, nil
}

func LockInsert(ctx context.Context, tx sqldb.Tx) error {
	if tx.Dialect() != sqldb.Postgres {
		return nil
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(epcisInsertLock)); err != nil {
		return fmt.Errorf("EPCIS insert lock: %w", err)
	}
	return nil
}

func newCaptureID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Row is one event ready to insert.
type Row struct {
	hash, eventID, typ, action, bizStep, disp, bizLoc, readPoint string
	eventTime, recordTime                                        time.Time
	source, ref                                                  string
	doc                                                          string
	epcs                                                         []epcRef
	declaration                                                  *epcis.ErrorDeclaration
	errReason                                                    string
}

type epcRef struct{ epc, role string }

// NewRow prepares e for storing; hash is its hash ID ("" to compute
// it from e).
func NewRow(e epcis.Event, hash string, rec time.Time, source, ref string) (Row, error) {
	if hash == "" {
		var err error
		if hash, err = epcis.HashID(e); err != nil {
			return Row{}, err
		}
	}
	if e.EventID == "" {
		e.EventID = hash
	}
	if e.RecordTime == nil {
		e.RecordTime = &rec
	}
	b, err := epcis.MarshalEventRecord(e)
	if err != nil {
		return Row{}, err
	}
	r := Row{hash: hash, eventID: e.EventID, typ: string(e.Type), action: e.Action, bizStep: normBizStep(e.BizStep),
		disp: normDisposition(e.Disposition), bizLoc: canonicalEPC(e.BizLocation), readPoint: canonicalEPC(e.ReadPoint),
		eventTime: sqldb.TS(e.EventTime), recordTime: sqldb.TS(rec), source: source, ref: ref, doc: string(b), declaration: e.ErrorDeclaration}
	if e.ErrorDeclaration != nil {
		r.errReason = normErrorReason(e.ErrorDeclaration.Reason)
	}
	seen := map[epcRef]bool{}
	add := func(role string, l ...string) {
		for _, x := range l {
			if x == "" {
				continue
			}
			k := epcRef{canonicalEPC(x), role}
			if !seen[k] {
				seen[k] = true
				r.epcs = append(r.epcs, k)
			}
		}
	}
	add("epc", e.EPCList...)
	add("child", e.ChildEPCs...)
	add("parent", e.ParentID)
	add("input", e.InputEPCList...)
	add("output", e.OutputEPCList...)
	for _, q := range [][]epcis.QuantityElement{e.QuantityList, e.ChildQuantityList, e.InputQuantityList, e.OutputQuantityList} {
		for _, x := range q {
			add("class", x.EPCClass)
		}
	}
	return r, nil
}

// insertBatch is how many events one INSERT statement carries: SQLite
// looks its $N parameters up by name, which costs the square of their
// number, so it gets smaller statements.
func insertBatch(tx sqldb.Tx) int {
	if tx.Dialect() == sqldb.SQLite {
		return 32
	}
	return 400
}

// Insert inserts rows whose eventID and hash ID are new and returns
// how many; a duplicate row's eventID becomes the stored event's.
func Insert(ctx context.Context, tx sqldb.Tx, rows []*Row) (int, error) {
	stored := 0
	var epcRows [][]any
	batch := insertBatch(tx)
	for start := 0; start < len(rows); start += batch {
		chunk := rows[start:min(start+batch, len(rows))]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO epcis_events (hash_id, event_id, event_type, event_time, record_time, action, biz_step,
			disposition, biz_location, read_point, source, source_ref, event, error_reason, error_declared_at) VALUES `)
		args := make([]any, 0, len(chunk)*15)
		for k, r := range chunk {
			if k > 0 {
				sb.WriteByte(',')
			}
			sb.WriteByte('(')
			for c := 1; c <= 15; c++ {
				if c > 1 {
					sb.WriteByte(',')
				}
				sb.WriteString("$" + strconv.Itoa(len(args)+c))
			}
			sb.WriteByte(')')
			var declared any
			if r.declaration != nil {
				declared = sqldb.TS(r.declaration.DeclarationTime)
			}
			args = append(args, r.hash, r.eventID, r.typ, r.eventTime, r.recordTime, r.action, r.bizStep, r.disp, r.bizLoc, r.readPoint,
				r.source, r.ref, r.doc, r.errReason, declared)
		}
		sb.WriteString(" ON CONFLICT DO NOTHING RETURNING id, event_id")
		ids := map[string]int64{}
		q, err := tx.Query(ctx, sb.String(), args...)
		if err != nil {
			return stored, fmt.Errorf("EPCIS events: %w", err)
		}
		for q.Next() {
			var id int64
			var evID string
			if err := q.Scan(&id, &evID); err != nil {
				q.Close()
				return stored, err
			}
			ids[evID] = id
		}
		q.Close()
		if err := q.Err(); err != nil {
			return stored, fmt.Errorf("EPCIS events: %w", err)
		}
		for _, r := range chunk {
			id, ok := ids[r.eventID]
			if !ok { // stored before (or earlier in this capture): a duplicate
				if err := tx.QueryRow(ctx, "SELECT event_id FROM epcis_events WHERE event_id = $1 OR hash_id = $2 ORDER BY id LIMIT 1",
					r.eventID, r.hash).Scan(&r.eventID); err != nil {
					return stored, fmt.Errorf("event %s: %w", r.eventID, err)
				}
				continue
			}
			delete(ids, r.eventID) // a second row with this eventID is a duplicate
			stored++
			for _, x := range r.epcs {
				epcRows = append(epcRows, []any{id, x.epc, x.role})
			}
		}
	}
	if err := tx.CopyRows(ctx, "epcis_event_epcs", []string{"event_id", "epc", "role"}, epcRows); err != nil {
		return stored, fmt.Errorf("EPC index: %w", err)
	}
	return stored, nil
}

// declareError applies the errorDeclaration of r to the stored event with
// r's eventID (or, when none is stored under it, r's hash ID: the
// declaration is not part of the hash, so a declaration sent without the
// eventID still finds its event). marked is false when no such event is
// stored.
func (s *Repository) declareError(ctx context.Context, tx sqldb.Tx, r Row) (marked bool, err error) {
	var id int64
	var doc string
	err = tx.QueryRow(ctx, "SELECT id, event FROM epcis_events WHERE event_id = $1"+s.db.Dialect().ForUpdate(), r.eventID).Scan(&id, &doc)
	if sqldb.IsNoRows(err) {
		err = tx.QueryRow(ctx, "SELECT id, event FROM epcis_events WHERE hash_id = $1"+s.db.Dialect().ForUpdate(), r.hash).Scan(&id, &doc)
	}
	if sqldb.IsNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("error declaration for %s: %w", r.eventID, err)
	}
	e, err := ParseStoredEvent(doc)
	if err != nil {
		return false, fmt.Errorf("error declaration for %s: %w", r.eventID, err)
	}
	e.ErrorDeclaration = r.declaration
	b, err := epcis.MarshalEventRecord(e)
	if err != nil {
		return false, fmt.Errorf("error declaration for %s: %w", r.eventID, err)
	}
	_, err = tx.Exec(ctx, "UPDATE epcis_events SET event = $1, error_reason = $2, error_declared_at = $3 WHERE id = $4",
		string(b), r.errReason, sqldb.TS(r.declaration.DeclarationTime), id)
	if err != nil {
		return false, fmt.Errorf("error declaration for %s: %w", r.eventID, err)
	}
	return true, nil
}

// ParseStoredEvent reads the event a row keeps: its record, or in rows
// stored before records, a one-event JSON-LD document.
func ParseStoredEvent(doc string) (epcis.Event, error) {
	if !strings.Contains(doc, `"@context"`) {
		return epcis.UnmarshalEventRecord([]byte(doc))
	}
	d, err := epcis.ParseJSONLD([]byte(doc))
	if err != nil {
		return epcis.Event{}, fmt.Errorf("a stored event does not parse: %w", err)
	}
	if len(d.Events) != 1 {
		return epcis.Event{}, fmt.Errorf("a stored document holds %d events", len(d.Events))
	}
	return d.Events[0], nil
}
