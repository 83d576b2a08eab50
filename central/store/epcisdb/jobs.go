package epcisdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
)

// CaptureJob is one capture of the REST binding, as its client polls it.
type CaptureJob struct {
	CaptureID  string
	CreatedAt  time.Time
	FinishedAt *time.Time
	Running    bool
	Success    bool
	Behaviour  string // rollback | proceed
	Principal  string
	Events     int // in the document
	Stored     int
	Duplicates int
	Declared   int
	Rejected   int
	// Errors are the problems found, each "eventList[i].field: rule".
	Errors []string
	seq    int64
}

// AbandonedCapture is the error of a job central stopped during.
const AbandonedCapture = "central stopped before the capture finished; none of its events was stored: capture the document again"

// CreateCaptureJob records a running capture job.
func (s *Repository) CreateCaptureJob(ctx context.Context, j CaptureJob) error {
	if j.CaptureID == "" || (j.Behaviour != "rollback" && j.Behaviour != "proceed") {
		return sqldb.Invalid("capture job", "capture_id/behaviour", "want an id and rollback or proceed, got %q/%q", j.CaptureID, j.Behaviour)
	}
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO epcis_capture_jobs (capture_id, created_at, running, success, behaviour, principal, events, errors)
			VALUES ($1, $2, TRUE, TRUE, $3, $4, $5, '[]')`, j.CaptureID, sqldb.Now(), j.Behaviour, j.Principal, j.Events)
		if err != nil {
			return fmt.Errorf("capture job %s: %w", j.CaptureID, err)
		}
		return nil
	})
}

// finishJob closes the job in tx.
func finishJob(ctx context.Context, tx sqldb.Tx, id string, res CaptureResult, rejected int, errs []string) error {
	if errs == nil {
		errs = []string{}
	}
	b, _ := json.Marshal(errs) // strings always marshal
	success := len(errs) == 0
	_, err := tx.Exec(ctx, `UPDATE epcis_capture_jobs SET running = FALSE, success = $1, finished_at = $2, stored = $3,
		duplicates = $4, declared = $5, rejected = $6, errors = $7 WHERE capture_id = $8`,
		success, sqldb.Now(), res.Stored, res.Duplicates, res.Declared, rejected, string(b), id)
	if err != nil {
		return fmt.Errorf("capture job %s: %w", id, err)
	}
	return nil
}

// FailCaptureJob closes a job that stored nothing, with its errors.
func (s *Repository) FailCaptureJob(ctx context.Context, id string, rejected int, errs []string) error {
	return s.db.Write(ctx, func(tx sqldb.Tx) error { return finishJob(ctx, tx, id, CaptureResult{}, rejected, errs) })
}

// CaptureEPCISForJob is CaptureEPCIS for a capture job: the job's id is the
// capture id, and the job is closed in the same transaction as the events
// (success when errs, the problems of events already left out, is empty).
func (s *Repository) CaptureEPCISForJob(ctx context.Context, id string, events []epcis.Event, hashIDs []string, rejected int, errs []string) (CaptureResult, error) {
	return s.capture(ctx, id, events, hashIDs, func(tx sqldb.Tx, res CaptureResult) error {
		return finishJob(ctx, tx, id, res, rejected, errs)
	})
}

// AbandonCaptureJobs closes the jobs left running by a stop of central
// (see AbandonedCapture) and returns how many; call it once at start,
// before serving.
func (s *Repository) AbandonCaptureJobs(ctx context.Context) (int, error) {
	var n int64
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		b, _ := json.Marshal([]string{AbandonedCapture})
		var err error
		n, err = tx.Exec(ctx, "UPDATE epcis_capture_jobs SET running = FALSE, success = FALSE, finished_at = $1, errors = $2 WHERE running",
			sqldb.Now(), string(b))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("abandoned capture jobs: %w", err)
	}
	return int(n), nil
}

const jobCols = "id, capture_id, created_at, finished_at, running, success, behaviour, principal, events, stored, duplicates, declared, rejected, errors"

func scanJob(r sqldb.Row) (CaptureJob, error) {
	var j CaptureJob
	var fin sql.NullTime
	var errs string
	if err := r.Scan(&j.seq, &j.CaptureID, &j.CreatedAt, &fin, &j.Running, &j.Success, &j.Behaviour, &j.Principal, &j.Events,
		&j.Stored, &j.Duplicates, &j.Declared, &j.Rejected, &errs); err != nil {
		return j, err
	}
	j.CreatedAt, j.FinishedAt = j.CreatedAt.UTC(), sqldb.NullTime(fin)
	if err := json.Unmarshal([]byte(errs), &j.Errors); err != nil {
		return j, fmt.Errorf("capture job %s: errors: %w", j.CaptureID, err)
	}
	return j, nil
}

// CaptureJobByID returns a capture job (sqldb.ErrNotFound when there is none).
func (s *Repository) CaptureJobByID(ctx context.Context, id string) (CaptureJob, error) {
	var j CaptureJob
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		j, err = scanJob(q.QueryRow(ctx, "SELECT "+jobCols+" FROM epcis_capture_jobs WHERE capture_id = $1", id))
		return err
	})
	if sqldb.IsNoRows(err) {
		return j, fmt.Errorf("capture job %s: %w", id, sqldb.ErrNotFound)
	}
	if err != nil {
		return j, fmt.Errorf("capture job %s: %w", id, err)
	}
	return j, nil
}

// CaptureJobs returns up to n jobs created after the one at position after
// (0: from the first), oldest first, the position of the last one and
// whether more follow.
func (s *Repository) CaptureJobs(ctx context.Context, after int64, n int) ([]CaptureJob, int64, bool, error) {
	return listPage(ctx, s.db, "capture jobs", "SELECT "+jobCols+" FROM epcis_capture_jobs WHERE id > $1 ORDER BY id", nil,
		after, n, scanJob, func(j CaptureJob) int64 { return j.seq })
}
