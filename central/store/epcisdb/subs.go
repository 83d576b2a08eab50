package epcisdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
)

// NamedQuery is a query of the REST binding kept under a name.
type NamedQuery struct {
	Name string
	// Definition is the query as given: parameter name → value (a list of
	// strings, or a string or number), GS1's query language.
	Definition json.RawMessage
	CreatedAt  time.Time
	CreatedBy  string
	seq        int64
}

// CreateEPCISQuery stores a named query; a name already taken is
// sqldb.ErrConflict.
func (s *Repository) CreateEPCISQuery(ctx context.Context, q NamedQuery) error {
	if q.Name == "" || len(q.Name) > 200 {
		return sqldb.Invalid("EPCIS query", "name", "want 1 to 200 characters, got %d", len(q.Name))
	}
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		n, err := tx.Exec(ctx, `INSERT INTO epcis_queries (name, definition, created_at, created_by) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO NOTHING`, q.Name, string(q.Definition), sqldb.Now(), q.CreatedBy)
		if err != nil {
			return fmt.Errorf("EPCIS query %q: %w", q.Name, err)
		}
		if n == 0 {
			return fmt.Errorf("EPCIS query %q: the name is taken: %w", q.Name, sqldb.ErrConflict)
		}
		return nil
	})
}

func scanQuery(r sqldb.Row) (NamedQuery, error) {
	var q NamedQuery
	var def string
	if err := r.Scan(&q.seq, &q.Name, &def, &q.CreatedAt, &q.CreatedBy); err != nil {
		return q, err
	}
	q.Definition, q.CreatedAt = json.RawMessage(def), q.CreatedAt.UTC()
	return q, nil
}

// EPCISQueryByName returns a named query (sqldb.ErrNotFound when there is none).
func (s *Repository) EPCISQueryByName(ctx context.Context, name string) (NamedQuery, error) {
	var q NamedQuery
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		var err error
		q, err = scanQuery(db.QueryRow(ctx, "SELECT id, name, definition, created_at, created_by FROM epcis_queries WHERE name = $1", name))
		return err
	})
	if sqldb.IsNoRows(err) {
		return q, fmt.Errorf("EPCIS query %q: %w", name, sqldb.ErrNotFound)
	}
	if err != nil {
		return q, fmt.Errorf("EPCIS query %q: %w", name, err)
	}
	return q, nil
}

// EPCISQueries lists named queries after position after, up to n, the
// last one's position and whether more follow.
func (s *Repository) EPCISQueries(ctx context.Context, after int64, n int) ([]NamedQuery, int64, bool, error) {
	return listPage(ctx, s.db, "EPCIS queries", "SELECT id, name, definition, created_at, created_by FROM epcis_queries WHERE id > $1 ORDER BY id", nil,
		after, n, scanQuery, func(q NamedQuery) int64 { return q.seq })
}

// DeleteEPCISQuery removes a named query and its subscriptions.
func (s *Repository) DeleteEPCISQuery(ctx context.Context, name string) error {
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM epcis_subscriptions WHERE query_name = $1", name); err != nil {
			return fmt.Errorf("EPCIS query %q: %w", name, err)
		}
		n, err := tx.Exec(ctx, "DELETE FROM epcis_queries WHERE name = $1", name)
		if err != nil {
			return fmt.Errorf("EPCIS query %q: %w", name, err)
		}
		if n == 0 {
			return fmt.Errorf("EPCIS query %q: %w", name, sqldb.ErrNotFound)
		}
		return nil
	})
}

// Subscription is a webhook subscription to a named query.
type Subscription struct {
	ID                string
	Query             string
	Dest              string
	Secret            string
	Stream            bool
	Schedule          map[string]string // second, minute, hour, dayOfMonth, month, dayOfWeek
	ReportIfEmpty     bool
	InitialRecordTime time.Time
	CreatedAt         time.Time
	CreatedBy         string
	// Delivery state.
	LastID      int64
	NextRun     *time.Time
	Attempts    int
	NextAttempt *time.Time
	LastError   string
	Delivered   int64
	seq         int64
}

// CreateSubscription stores a subscription of an existing named query,
// starting after the event at position sub.LastID.
func (s *Repository) CreateSubscription(ctx context.Context, sub Subscription) error {
	sched, err := json.Marshal(sub.Schedule)
	if err != nil || sub.Schedule == nil {
		sched = []byte("{}")
	}
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM epcis_queries WHERE name = $1", sub.Query).Scan(&one); sqldb.IsNoRows(err) {
			return fmt.Errorf("EPCIS query %q: %w", sub.Query, sqldb.ErrNotFound)
		} else if err != nil {
			return err
		}
		var next any
		if sub.NextRun != nil {
			next = sqldb.TS(*sub.NextRun)
		}
		_, err := tx.Exec(ctx, `INSERT INTO epcis_subscriptions (subscription_id, query_name, dest, secret, stream, schedule,
			report_if_empty, initial_record_time, created_at, created_by, next_run, last_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			sub.ID, sub.Query, sub.Dest, sub.Secret, sub.Stream, string(sched), sub.ReportIfEmpty, sqldb.TS(sub.InitialRecordTime), sqldb.Now(), sub.CreatedBy, next, sub.LastID)
		if err != nil {
			return fmt.Errorf("subscription %s: %w", sub.ID, err)
		}
		return nil
	})
}

const subCols = `id, subscription_id, query_name, dest, secret, stream, schedule, report_if_empty, initial_record_time, created_at,
	created_by, last_id, next_run, attempts, next_attempt, last_error, delivered`

func scanSub(r sqldb.Row) (Subscription, error) {
	var s Subscription
	var sched string
	var next, nextAttempt sql.NullTime
	if err := r.Scan(&s.seq, &s.ID, &s.Query, &s.Dest, &s.Secret, &s.Stream, &sched, &s.ReportIfEmpty, &s.InitialRecordTime,
		&s.CreatedAt, &s.CreatedBy, &s.LastID, &next, &s.Attempts, &nextAttempt, &s.LastError, &s.Delivered); err != nil {
		return s, err
	}
	s.InitialRecordTime, s.CreatedAt = s.InitialRecordTime.UTC(), s.CreatedAt.UTC()
	s.NextRun, s.NextAttempt = sqldb.NullTime(next), sqldb.NullTime(nextAttempt)
	if err := json.Unmarshal([]byte(sched), &s.Schedule); err != nil {
		return s, fmt.Errorf("subscription %s: schedule: %w", s.ID, err)
	}
	return s, nil
}

// SubscriptionByID returns a subscription of query (sqldb.ErrNotFound when none).
func (s *Repository) SubscriptionByID(ctx context.Context, query, id string) (Subscription, error) {
	var sub Subscription
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		var err error
		sub, err = scanSub(db.QueryRow(ctx, "SELECT "+subCols+" FROM epcis_subscriptions WHERE subscription_id = $1 AND query_name = $2", id, query))
		return err
	})
	if sqldb.IsNoRows(err) {
		return sub, fmt.Errorf("subscription %s of %q: %w", id, query, sqldb.ErrNotFound)
	}
	if err != nil {
		return sub, fmt.Errorf("subscription %s: %w", id, err)
	}
	return sub, nil
}

// Subscriptions lists the subscriptions of query ("" for all) after
// position after, up to n (0: all), the last one's position and whether
// more follow.
func (s *Repository) Subscriptions(ctx context.Context, query string, after int64, n int) ([]Subscription, int64, bool, error) {
	return listPage(ctx, s.db, "subscriptions", "SELECT "+subCols+" FROM epcis_subscriptions WHERE id > $1 AND ($2 = '' OR query_name = $2) ORDER BY id", []any{query},
		after, n, scanSub, func(sub Subscription) int64 { return sub.seq })
}

// DeleteSubscription removes a subscription of query.
func (s *Repository) DeleteSubscription(ctx context.Context, query, id string) error {
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		n, err := tx.Exec(ctx, "DELETE FROM epcis_subscriptions WHERE subscription_id = $1 AND query_name = $2", id, query)
		if err != nil {
			return fmt.Errorf("subscription %s: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("subscription %s of %q: %w", id, query, sqldb.ErrNotFound)
		}
		return nil
	})
}

// ErrSubscriptionGone is returned by DeliveredSubscription when the
// subscription was deleted meanwhile.
var ErrSubscriptionGone = errors.New("subscription deleted")

// DeliveredSubscription records a successful delivery: every event up to
// lastID went out (count of them), and the schedule's next run (nil: keep).
func (s *Repository) DeliveredSubscription(ctx context.Context, id string, lastID int64, count int, nextRun *time.Time) error {
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		var next any
		q := `UPDATE epcis_subscriptions SET last_id = $1, delivered = delivered + $2, attempts = 0, next_attempt = NULL, last_error = ''`
		args := []any{lastID, count}
		if nextRun != nil {
			next = sqldb.TS(*nextRun)
			args = append(args, next)
			q += ", next_run = $3"
		}
		args = append(args, id)
		q += " WHERE subscription_id = $" + strconv.Itoa(len(args))
		n, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("subscription %s: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("subscription %s: %w", id, ErrSubscriptionGone)
		}
		return nil
	})
}

// FailedSubscription records a failed delivery: retry not before next.
func (s *Repository) FailedSubscription(ctx context.Context, id string, next time.Time, reason string) error {
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE epcis_subscriptions SET attempts = attempts + 1, next_attempt = $1, last_error = $2 WHERE subscription_id = $3",
			sqldb.TS(next), reason, id)
		if err != nil {
			return fmt.Errorf("subscription %s: %w", id, err)
		}
		return nil
	})
}

// EPCISLastID is the storage position of the newest event (0 when none):
// where a subscription starting now begins.
func (s *Repository) EPCISLastID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	err := s.db.Read(ctx, func(db sqldb.Tx) error { return db.QueryRow(ctx, "SELECT MAX(id) FROM epcis_events").Scan(&id) })
	if err != nil {
		return 0, fmt.Errorf("EPCIS events: %w", err)
	}
	return id.Int64, nil
}

// DeliveryLease takes or renews the lease on subscription deliveries for
// holder until d from now; false when another holder's lease still runs.
func (s *Repository) DeliveryLease(ctx context.Context, holder string, d time.Duration) (bool, error) {
	var n int64
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		t := sqldb.Now()
		if _, err := tx.Exec(ctx, "INSERT INTO epcis_delivery_lease (name, holder, until) VALUES ('subscriptions', $1, $2) ON CONFLICT (name) DO NOTHING",
			holder, t); err != nil {
			return err
		}
		var err error
		n, err = tx.Exec(ctx, "UPDATE epcis_delivery_lease SET holder = $1, until = $2 WHERE name = 'subscriptions' AND (holder = $1 OR until < $3)",
			holder, t.Add(d), t)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("subscription delivery lease: %w", err)
	}
	return n == 1, nil
}

// ReleaseDeliveryLease gives the lease up (a stopping process), so another
// takes over at once.
func (s *Repository) ReleaseDeliveryLease(ctx context.Context, holder string) error {
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE epcis_delivery_lease SET until = $1 WHERE name = 'subscriptions' AND holder = $2", time.Time{}, holder)
		return err
	})
}
