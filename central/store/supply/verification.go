package supply

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// Verification log directions.
const (
	VerificationIn  = "in"  // a partner asked us (LMVS responder)
	VerificationOut = "out" // we asked another manufacturer (LMVS requester)
)

// VerificationRecord is one LMVS verification request and its answer, as
// the DSCSA record keeps it: who asked what, when, and the answer. The
// log is append-only (a trigger refuses UPDATE and DELETE).
type VerificationRecord struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Direction string    `json:"direction"`
	// Actor is the credential that asked (in: the partner token with its
	// GLN) or our user who asked (out).
	Actor string `json:"actor"`
	// PartnerGLN is the requester's GLN by its credential (in) or the
	// responder's GLN as answered (out).
	PartnerGLN        string `json:"partner_gln,omitempty"`
	ReqGLN            string `json:"req_gln,omitempty"`
	ResponderGLN      string `json:"responder_gln,omitempty"`
	Context           string `json:"context,omitempty"`
	CorrUUID          string `json:"corr_uuid,omitempty"`
	CheckConnectivity bool   `json:"check_connectivity"`
	GTIN              string `json:"gtin,omitempty"`
	Serial            string `json:"serial,omitempty"`
	Lot               string `json:"lot,omitempty"`
	Expiry            string `json:"expiry,omitempty"`
	// Request is the request line as received or sent (path and query).
	Request string `json:"request"`
	// Status is the HTTP status answered (in) or received (out); 0 when
	// no answer came.
	Status int `json:"status"`
	// Verified is the answer's data.verified; nil when the answer was not
	// a verification (an error, a connectivity check).
	Verified       *bool  `json:"verified,omitempty"`
	FailureReason  string `json:"failure_reason,omitempty"`
	AdditionalInfo string `json:"additional_info,omitempty"`
	// Answer is the answer's body (the LMVS JSON) or the error said.
	Answer   string        `json:"answer"`
	Endpoint string        `json:"endpoint,omitempty"`
	Remote   string        `json:"remote,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// maxLogText bounds the request and answer kept per entry (an LMVS answer
// is a few hundred bytes; a partner's error page is cut).
const maxLogText = 16 << 10

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// RecordVerification appends a verification request and its answer to
// the log and returns its id. On PostgreSQL the entry's commit does not
// wait for the WAL flush (synchronous_commit off for this transaction
// only): the answer is not held up by an fsync, at the price that a crash
// of the database server itself (not of central) within its WAL writer's
// delay (a few hundred ms) could lose the last entries. See
// docs/verification.md.
func (s *Chain) RecordVerification(ctx context.Context, r VerificationRecord) (int64, error) {
	if r.Direction != VerificationIn && r.Direction != VerificationOut {
		return 0, sqldb.Invalid("verification record", "direction", "must be %s or %s, got %q", VerificationIn, VerificationOut, r.Direction)
	}
	if r.At.IsZero() {
		r.At = sqldb.Now()
	}
	var verified any
	if r.Verified != nil {
		verified = 0
		if *r.Verified {
			verified = 1
		}
	}
	const insert = `INSERT INTO verification_log (at, direction, actor, partner_gln, req_gln, responder_gln, context, corr_uuid,
			check_connectivity, gtin, serial, lot, expiry, request, status, verified, failure_reason, additional_info, answer, endpoint, remote, duration_us)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) RETURNING id`
	args := []any{sqldb.TS(r.At), r.Direction, clip(r.Actor, 512), clip(r.PartnerGLN, 64), clip(r.ReqGLN, 64), clip(r.ResponderGLN, 64), clip(r.Context, 128),
		clip(r.CorrUUID, 128), r.CheckConnectivity, clip(r.GTIN, 64), clip(r.Serial, 64), clip(r.Lot, 64), clip(r.Expiry, 16),
		clip(r.Request, maxLogText), r.Status, verified, clip(r.FailureReason, 128), clip(r.AdditionalInfo, 128), clip(r.Answer, maxLogText),
		clip(r.Endpoint, 2048), clip(r.Remote, 128), r.Duration.Microseconds()}
	var id int64
	var err error
	if s.db.Dialect() == sqldb.Postgres {
		id, err = s.recordVerificationPG(ctx, insert, args)
	} else {
		err = s.db.Write(ctx, func(tx sqldb.Tx) error { return tx.QueryRow(ctx, insert, args...).Scan(&id) })
	}
	if err != nil {
		return 0, fmt.Errorf("verification log: %w", err)
	}
	return id, nil
}

// recordVerificationPG writes the entry in one round trip: BEGIN, SET
// LOCAL synchronous_commit = off, the INSERT and COMMIT pipelined.
func (s *Chain) recordVerificationPG(ctx context.Context, insert string, args []any) (int64, error) {
	var id int64
	err := s.db.Conn(ctx, func(c *pgxpool.Conn) error {
		var b pgx.Batch
		b.Queue("BEGIN")
		b.Queue("SET LOCAL synchronous_commit = off")
		b.Queue(insert, args...).QueryRow(func(r pgx.Row) error { return r.Scan(&id) })
		b.Queue("COMMIT")
		if err := c.SendBatch(ctx, &b).Close(); err != nil {
			// A failed statement leaves the transaction aborted: end it
			// before the connection goes back to the pool.
			_, _ = c.Exec(context.WithoutCancel(ctx), "ROLLBACK")
			return err
		}
		return nil
	})
	return id, err
}

// VerificationFilter selects log entries; zero fields select everything.
type VerificationFilter struct {
	Direction string
	GTIN      string
	Serial    string
	Partner   string // partner_gln
	Since     time.Time
	Limit     int // default 1000, at most 10,000
}

// Verifications lists log entries, newest first.
func (s *Chain) Verifications(ctx context.Context, f VerificationFilter) ([]VerificationRecord, error) {
	var where sqldb.Where
	if f.Direction != "" {
		where.Add("direction = ?", f.Direction)
	}
	if f.GTIN != "" {
		where.Add("gtin = ?", f.GTIN)
	}
	if f.Serial != "" {
		where.Add("serial = ?", f.Serial)
	}
	if f.Partner != "" {
		where.Add("partner_gln = ?", f.Partner)
	}
	if !f.Since.IsZero() {
		where.Add("at >= ?", sqldb.TS(f.Since))
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	f.Limit = min(f.Limit, 10_000)
	q := `SELECT id, at, direction, actor, partner_gln, req_gln, responder_gln, context, corr_uuid, check_connectivity, gtin, serial,
		lot, expiry, request, status, verified, failure_reason, additional_info, answer, endpoint, remote, duration_us FROM verification_log`
	q += where.SQL()
	q += " ORDER BY id DESC LIMIT " + strconv.Itoa(f.Limit)
	var out []VerificationRecord
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		r, err := db.Query(ctx, q, where.Args()...)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var v VerificationRecord
			var verified sql.NullInt64
			var us int64
			if err := r.Scan(&v.ID, &v.At, &v.Direction, &v.Actor, &v.PartnerGLN, &v.ReqGLN, &v.ResponderGLN, &v.Context, &v.CorrUUID,
				&v.CheckConnectivity, &v.GTIN, &v.Serial, &v.Lot, &v.Expiry, &v.Request, &v.Status, &verified, &v.FailureReason,
				&v.AdditionalInfo, &v.Answer, &v.Endpoint, &v.Remote, &us); err != nil {
				return err
			}
			v.At = v.At.UTC()
			v.Duration = time.Duration(us) * time.Microsecond
			if verified.Valid {
				b := verified.Int64 != 0
				v.Verified = &b
			}
			out = append(out, v)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("verification log: %w", err)
	}
	return out, nil
}

// VerifyFacts is what an LMVS verification needs to know about a product
// identifier's GTIN and serial.
type VerifyFacts struct {
	// Product: the GTIN is one of our products.
	Product bool
	// Unit: a unit with the serial exists (voided ones included: see
	// UnitCheck.State).
	Unit bool
	UnitCheck
	// Withdrawn, Stolen, Destroyed: an EU FMD art. 40 status update of
	// that kind covers the pack and has not been reversed.
	Withdrawn, Stolen, Destroyed bool
	// Suspect: an open QA investigation covers the pack (DSCSA
	// §582(c)(4)); Illegitimate: one closed finding it illegitimate.
	Suspect, Illegitimate bool
}

// factsSQL reads everything a verification needs in one statement that
// always returns one row: whether the GTIN is a product of ours, and the
// unit (NULLs when there is none) with its recalls, QA investigations and
// EU FMD statuses. A quarantine is not a recall: it answers Suspect or
// Illegitimate, never Recalled.
func factsSQL() string {
	status := func(kind string) string {
		return `CASE WHEN EXISTS (SELECT 1 FROM fmd_status_packs p JOIN fmd_status_updates s ON s.id = p.update_id
			WHERE p.gtin = u.gtin AND p.serial = u.serial AND s.kind = '` + kind + `' AND s.reversed_by IS NULL) THEN 1 ELSE 0 END`
	}
	return `SELECT (SELECT COUNT(*) FROM products WHERE gtin = $1), u.state, u.lot, u.expiry,
		CASE WHEN u.gtin IS NOT NULL AND (` + recalledSQL + ` OR EXISTS (SELECT 1 FROM epcis_event_epcs x
			JOIN epcis_events e ON e.id = x.event_id WHERE x.epc = $3 AND x.role IN ('epc', 'child') AND e.disposition = 'recalled')) THEN 1 ELSE 0 END,
		` + status(eufmd.FMDWithdrawal) + `, ` + status(eufmd.FMDTheft) + `, ` + status(eufmd.FMDDestruction) + `,
		` + investigated(InvestigationOpen) + `, ` + investigated(InvestigationIllegitimate) + `
		FROM (SELECT 1 AS one) o LEFT JOIN units u ON u.gtin = $1 AND u.serial = $2`
}

// investigated is 1 when an investigation in the state covers the unit u:
// its lot, or the unit listed (the same scopes as quarantinedSQL).
func investigated(state string) string {
	return `CASE WHEN u.gtin IS NOT NULL AND (EXISTS (SELECT 1 FROM investigations iv WHERE iv.scope = 'lot' AND iv.gtin = u.gtin
			AND iv.lot = u.lot AND iv.state = '` + state + `')
		OR EXISTS (SELECT 1 FROM investigation_units iu JOIN investigations iv ON iv.id = iu.investigation_id
			WHERE iu.gtin = u.gtin AND iu.serial = u.serial AND iv.state = '` + state + `')) THEN 1 ELSE 0 END`
}

func factsArgs(gtin, serial string) []any {
	return []any{gtin, serial, "https://id.gs1.org/01/" + gtin + "/21/" + url.PathEscape(serial)}
}

func scanFacts(r interface{ Scan(...any) error }) (VerifyFacts, error) {
	var f VerifyFacts
	var products, recalled, withdrawn, stolen, destroyed, suspect, illegitimate int
	var state, lot, expiry *string
	if err := r.Scan(&products, &state, &lot, &expiry, &recalled, &withdrawn, &stolen, &destroyed, &suspect, &illegitimate); err != nil {
		return f, err
	}
	f.Product = products > 0
	if state != nil {
		f.Unit = true
		f.State, f.Lot, f.Expiry = *state, *lot, *expiry
	}
	f.Recalled, f.Withdrawn, f.Stolen, f.Destroyed = recalled != 0, withdrawn != 0, stolen != 0, destroyed != 0
	f.Suspect, f.Illegitimate = suspect != 0, illegitimate != 0
	return f, nil
}

// VerifyFacts reads what a verification needs about a GTIN and serial in
// one statement: the unit (state, lot, expiry, recalls, EU FMD status
// updates) and, when there is none, whether the GTIN is ours at all.
func (s *Chain) VerifyFacts(ctx context.Context, gtin, serial string) (VerifyFacts, error) {
	var f VerifyFacts
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		f, err = scanFacts(q.QueryRow(ctx, factsSQL(), factsArgs(gtin, serial)...))
		return err
	})
	if err != nil {
		return f, fmt.Errorf("unit %s: %w", wire.UnitRef(gtin, serial), err)
	}
	return f, nil
}

// TokenLookup is the outcome of reading an API token by its hash, as
// APITokenByHash gives it.
type TokenLookup struct {
	Hash  string
	Token access.APIToken
	Err   error
}

// APITokenByHash returns the looked-up token for its hash (so a
// TokenLookup serves auth.Authenticate as its token store).
func (l TokenLookup) APITokenByHash(_ context.Context, hash string) (access.APIToken, error) {
	if hash != l.Hash {
		return access.APIToken{}, fmt.Errorf("api token: %w", sqldb.ErrNotFound)
	}
	return l.Token, l.Err
}

// VerifyFactsFor reads the caller's token (by its hash) and the facts of
// a verification together: on PostgreSQL both statements go in one round
// trip. The token's outcome is in TokenLookup.Err (wrapping sqldb.ErrNotFound
// for an unknown or revoked one); err is a failure to read at all.
func (s *Chain) VerifyFactsFor(ctx context.Context, tokenHash, gtin, serial string) (TokenLookup, VerifyFacts, error) {
	tl := TokenLookup{Hash: tokenHash}
	var f VerifyFacts
	if s.db.Dialect() != sqldb.Postgres {
		tl.Token, tl.Err = s.access.APITokenByHash(ctx, tokenHash)
		if tl.Err != nil && !errors.Is(tl.Err, sqldb.ErrNotFound) {
			return tl, f, tl.Err
		}
		var err error
		f, err = s.VerifyFacts(ctx, gtin, serial)
		return tl, f, err
	}
	var b pgx.Batch
	b.Queue("SELECT "+access.TokenCols+" FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL", tokenHash).QueryRow(func(r pgx.Row) error {
		tl.Token, tl.Err = access.ScanToken(r)
		if sqldb.IsNoRows(tl.Err) || errors.Is(tl.Err, pgx.ErrNoRows) {
			tl.Err = fmt.Errorf("api token: %w", sqldb.ErrNotFound)
			return nil
		}
		return tl.Err
	})
	b.Queue(factsSQL(), factsArgs(gtin, serial)...).QueryRow(func(r pgx.Row) error {
		var err error
		f, err = scanFacts(r)
		return err
	})
	err := s.db.Conn(ctx, func(c *pgxpool.Conn) error { return c.SendBatch(ctx, &b).Close() })
	if err != nil {
		return tl, f, fmt.Errorf("unit %s: %w", wire.UnitRef(gtin, serial), err)
	}
	return tl, f, nil
}
