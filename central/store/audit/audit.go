package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
)

// Entry is one entry of the audit trail: who did what to which record
// and when, with the record before and after (21 CFR Part 11 §11.10(e)).
// The trail is append-only: the store has no method to change or remove an
// entry, and on PostgreSQL (and SQLite) a trigger refuses UPDATE and DELETE.
type Entry struct {
	ID       int64
	At       time.Time
	Actor    string // see sqldb.WithActor
	Action   string // create, update, release, close, grant, import, revoke, skip-gap, ...
	Entity   string // product, site, location, line, partner, work_order, serial_grant, serial_list, api_token, line_seq
	EntityID string
	Before   json.RawMessage // nil for a create
	After    json.RawMessage // nil for a delete
}

// Record appends an entry inside tx, so that the change and its record
// commit together or not at all.
func Record(ctx context.Context, tx sqldb.Tx, action, entity, id string, before, after any) error {
	enc := func(v any) (any, error) {
		if v == nil {
			return nil, nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
	b, err := enc(before)
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", entity, id, err)
	}
	a, err := enc(after)
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", entity, id, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (at, actor, action, entity, entity_id, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, sqldb.Now(), sqldb.ActorFrom(ctx), action, entity, id, b, a)
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", entity, id, err)
	}
	return nil
}

// Filter selects audit entries; zero fields select everything.
type Filter struct {
	Entity   string
	EntityID string
	Since    time.Time // entries at or after
	Limit    int       // default 1000
}

// Audit lists audit entries, oldest first.
func (s *Trail) Audit(ctx context.Context, f Filter) ([]Entry, error) {
	var where sqldb.Where
	if f.Entity != "" {
		where.Add("entity = ?", f.Entity)
	}
	if f.EntityID != "" {
		where.Add("entity_id = ?", f.EntityID)
	}
	if !f.Since.IsZero() {
		where.Add("at >= ?", sqldb.TS(f.Since))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q := "SELECT id, at, actor, action, entity, entity_id, before, after FROM audit_log"
	q += where.SQL()
	q += " ORDER BY id LIMIT " + strconv.Itoa(limit)
	var out []Entry
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		r, err := db.Query(ctx, q, where.Args()...)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var e Entry
			var before, after sql.NullString
			if err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Entity, &e.EntityID, &before, &after); err != nil {
				return err
			}
			e.At = e.At.UTC()
			if before.Valid {
				e.Before = json.RawMessage(before.String)
			}
			if after.Valid {
				e.After = json.RawMessage(after.String)
			}
			out = append(out, e)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	return out, nil
}
