package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// DefaultSSCCGrantCap is the largest number of SSCC serial references one
// request may get when GrantSSCC is called with limit 0. A line closes a
// few thousand cases a day; a larger grant only widens what a lost edge
// disk takes out of the space.
const DefaultSSCCGrantCap = 10_000

// GrantSSCC allocates req.Count SSCC serial references under req.SSCC
// (company prefix and extension digit) to req.Line and returns the grant to
// publish on the line's serials/grant topic (Kind wire.RequestSSCC).
//
// Like Grant it is idempotent by req.RequestID: a retried request gets the
// same range back and never allocates twice, also when two replicas handle
// the retry at once. Serial references are never granted twice: per
// company prefix and extension digit, one UPDATE ... RETURNING bumps the
// high-water mark (sscc_counters) and one row records the grant.
//
// The company prefix must be the GS1 Company Prefix of one of central's
// products (that is also how central's EPCIS projection writes the SSCC's
// EPC URI); the line must exist; an order, when named, must be one of that
// line's. A refusal is an error (sqldb.ErrInvalid, sqldb.ErrNotFound, sqldb.ErrState,
// sqldb.ErrConflict, sqldb.ErrExhausted); publish it with Refusal.
//
// It is long for the same reason as Grant: the request id, the prefix's counter and its
// bound in one transaction.
func (s *Book) GrantSSCC(ctx context.Context, req wire.SerialRequest, limit uint64) (wire.SerialGrant, error) {
	if err := req.Validate(); err != nil {
		return wire.SerialGrant{}, fmt.Errorf("sscc request %s: %w", req.RequestID, err)
	}
	rec := "sscc request " + req.RequestID
	if !req.Kind.IsSSCC() {
		return wire.SerialGrant{}, sqldb.Invalid(rec, "kind", "%q is not sscc; serials are granted by Grant", req.Kind)
	}
	if limit == 0 {
		limit = DefaultSSCCGrantCap
	}
	if req.Count > limit {
		return wire.SerialGrant{}, sqldb.Invalid(rec, "count", "%d exceeds the %d SSCCs one request may get", req.Count, limit)
	}
	p := *req.SSCC
	var g wire.SerialGrant
	var raced bool
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		var err error
		g, err = storedSSCCGrant(ctx, tx, req)
		if err == nil || !errors.Is(err, sqldb.ErrNotFound) {
			return err
		}
		if _, err := master.GetLine(ctx, tx, req.Line); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if req.Order != "" {
			o, err := GetOrder(ctx, tx, req.Order, "")
			if err != nil {
				return fmt.Errorf("%s: %w", rec, err)
			}
			if o.Line != req.Line {
				return fmt.Errorf("%s: %w: work order %s is not released to line %s", rec, sqldb.ErrState, o.ID, req.Line)
			}
		}
		var products int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM products WHERE company_prefix_len = $1 AND substr(gtin, 2, $1) = $2",
			len(p.CompanyPrefix), p.CompanyPrefix).Scan(&products); err != nil {
			return fmt.Errorf("%s: products of company prefix %s: %w", rec, p.CompanyPrefix, err)
		}
		if products == 0 {
			return sqldb.Invalid(rec, "sscc.company_prefix", "%s is not the GS1 Company Prefix of any product in central", p.CompanyPrefix)
		}
		t := sqldb.Now()
		if _, err := tx.Exec(ctx, `INSERT INTO sscc_counters (company_prefix, extension, next_ref, created_at)
			VALUES ($1, $2, 0, $3) ON CONFLICT (company_prefix, extension) DO NOTHING`, p.CompanyPrefix, p.Extension, t); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		// The bump locks the counter row until commit: concurrent requests
		// for one prefix, on any replica, queue here and get disjoint ranges.
		var next uint64
		if err := tx.QueryRow(ctx, "UPDATE sscc_counters SET next_ref = next_ref + $3 WHERE company_prefix = $1 AND extension = $2 RETURNING next_ref",
			p.CompanyPrefix, p.Extension, req.Count).Scan(&next); err != nil {
			return fmt.Errorf("%s: SSCC counter of %s: %w", rec, p, err)
		}
		start, space := next-req.Count, p.Space()
		if next > space {
			left := uint64(0)
			if start < space {
				left = space - start
			}
			return fmt.Errorf("%s: %w: SSCC prefix %s has %d unused serial references left, %d asked", rec, sqldb.ErrExhausted, p, left, req.Count)
		}
		n, err := tx.Exec(ctx, `INSERT INTO sscc_grants (request_id, line_id, company_prefix, extension, start_ref, count, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (request_id) DO NOTHING`,
			req.RequestID, req.Line, p.CompanyPrefix, p.Extension, start, req.Count, t)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if n == 0 {
			// Another replica stored this request meanwhile: roll back our
			// bump and answer with its grant.
			raced = true
			return errRaced
		}
		g = ssccGrant(req, start)
		first, _ := p.SSCC(start)
		last, _ := p.SSCC(next - 1)
		type audited struct {
			Line   string              `json:"line"`
			Order  string              `json:"order,omitempty"`
			Prefix wire.SSCCPrefix     `json:"sscc"`
			Ranges []wire.CounterRange `json:"ranges"`
			First  gs1.SSCC            `json:"first"`
			Last   gs1.SSCC            `json:"last"`
		}
		return audit.Record(ctx, tx, "grant", "sscc_grant", req.RequestID, nil,
			audited{Line: req.Line, Order: req.Order, Prefix: p, Ranges: g.Ranges, First: first, Last: last})
	})
	if raced {
		err = s.db.Read(ctx, func(q sqldb.Tx) error {
			var err error
			g, err = storedSSCCGrant(ctx, q, req)
			return err
		})
	}
	if err != nil {
		return wire.SerialGrant{}, err
	}
	s.log.Info("SSCCs granted", "request", req.RequestID, "line", req.Line, "prefix", p.String(), "start", g.Ranges[0].Start, "count", g.Count())
	return g, nil
}

func ssccGrant(req wire.SerialRequest, start uint64) wire.SerialGrant {
	p := *req.SSCC
	return wire.SerialGrant{V: wire.Version, RequestID: req.RequestID, Line: req.Line, Kind: wire.RequestSSCC, Order: req.Order,
		SSCC: &p, Ranges: []wire.CounterRange{{Start: start, Count: req.Count}}}
}

// storedSSCCGrant returns the grant stored for req.RequestID, sqldb.ErrNotFound
// when there is none, and sqldb.ErrConflict when the id was used for another
// request (SSCC or serials).
func storedSSCCGrant(ctx context.Context, q sqldb.Tx, req wire.SerialRequest) (wire.SerialGrant, error) {
	var r SSCCGrantRecord
	err := q.QueryRow(ctx, "SELECT line_id, company_prefix, extension, start_ref, count FROM sscc_grants WHERE request_id = $1", req.RequestID).
		Scan(&r.Line, &r.Prefix.CompanyPrefix, &r.Prefix.Extension, &r.Start, &r.Count)
	if sqldb.IsNoRows(err) {
		var other string
		err := q.QueryRow(ctx, "SELECT order_id FROM grants WHERE request_id = $1", req.RequestID).Scan(&other)
		if err == nil {
			return wire.SerialGrant{}, fmt.Errorf("sscc request %s: %w: the id was used for serials of order %s", req.RequestID, sqldb.ErrConflict, other)
		}
		if !sqldb.IsNoRows(err) {
			return wire.SerialGrant{}, fmt.Errorf("sscc grant %s: %w", req.RequestID, err)
		}
		return wire.SerialGrant{}, fmt.Errorf("sscc grant %s: %w", req.RequestID, sqldb.ErrNotFound)
	}
	if err != nil {
		return wire.SerialGrant{}, fmt.Errorf("sscc grant %s: %w", req.RequestID, err)
	}
	if r.Line != req.Line || r.Prefix != *req.SSCC || r.Count != req.Count {
		return wire.SerialGrant{}, fmt.Errorf("sscc request %s: %w: the id was used for %d SSCCs of prefix %s on line %s",
			req.RequestID, sqldb.ErrConflict, r.Count, r.Prefix, r.Line)
	}
	return ssccGrant(req, r.Start), nil
}

// SSCCGrantRecord is a stored SSCC grant: serial references [Start,
// Start+Count) under Prefix, granted to Line.
type SSCCGrantRecord struct {
	RequestID string
	Line      string
	Prefix    wire.SSCCPrefix
	Start     uint64
	Count     uint64
	CreatedAt time.Time
}

// Contains reports whether the grant covers serial reference ref.
func (r SSCCGrantRecord) Contains(ref uint64) bool { return ref >= r.Start && ref-r.Start < r.Count }

const ssccGrantCols = "request_id, line_id, company_prefix, extension, start_ref, count, created_at"

func scanSSCCGrant(r interface{ Scan(...any) error }) (SSCCGrantRecord, error) {
	var g SSCCGrantRecord
	err := r.Scan(&g.RequestID, &g.Line, &g.Prefix.CompanyPrefix, &g.Prefix.Extension, &g.Start, &g.Count, &g.CreatedAt)
	g.CreatedAt = g.CreatedAt.UTC()
	return g, err
}

// SSCCGrants lists the SSCC grants of a line, oldest first.
func (s *Book) SSCCGrants(ctx context.Context, line string) ([]SSCCGrantRecord, error) {
	var out []SSCCGrantRecord
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.Query(ctx, "SELECT "+ssccGrantCols+" FROM sscc_grants WHERE line_id = $1 ORDER BY created_at, request_id", line)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			g, err := scanSSCCGrant(r)
			if err != nil {
				return err
			}
			out = append(out, g)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sscc grants of line %s: %w", line, err)
	}
	return out, nil
}

// SSCCGrantOf returns the grant that handed out sscc (which line it
// belongs to), for a given GS1 Company Prefix length: the digits of an
// SSCC do not say where the company prefix ends. sqldb.ErrNotFound when no grant
// covers it.
func (s *Book) SSCCGrantOf(ctx context.Context, sscc string, companyPrefixLen int) (SSCCGrantRecord, error) {
	rec := "sscc " + sscc
	if _, err := gs1.ParseSSCC(sscc); err != nil {
		return SSCCGrantRecord{}, sqldb.Invalid(rec, "sscc", "%v", err)
	}
	if companyPrefixLen < 6 || companyPrefixLen > 12 {
		return SSCCGrantRecord{}, sqldb.Invalid(rec, "company_prefix_len", "must be 6 to 12 digits, got %d", companyPrefixLen)
	}
	cp, ext := sscc[1:1+companyPrefixLen], int(sscc[0]-'0')
	var ref uint64
	for _, c := range sscc[1+companyPrefixLen : 17] {
		ref = ref*10 + uint64(c-'0')
	}
	var g SSCCGrantRecord
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		g, err = scanSSCCGrant(q.QueryRow(ctx, "SELECT "+ssccGrantCols+` FROM sscc_grants
			WHERE company_prefix = $1 AND extension = $2 AND start_ref <= $3 ORDER BY start_ref DESC LIMIT 1`, cp, ext, ref))
		return err
	})
	if sqldb.IsNoRows(err) || (err == nil && !g.Contains(ref)) {
		return SSCCGrantRecord{}, fmt.Errorf("%s: %w: no grant of prefix %d.%s covers serial reference %d", rec, sqldb.ErrNotFound, ext, cp, ref)
	}
	if err != nil {
		return SSCCGrantRecord{}, fmt.Errorf("%s: %w", rec, err)
	}
	return g, nil
}

// SSCCUsage is the allocation state of one SSCC prefix.
type SSCCUsage struct {
	Prefix  wire.SSCCPrefix
	Granted uint64 // serial references granted so far (the high-water mark)
	Space   uint64 // serial references the prefix offers
}

// SSCCUsage returns how many serial references of prefix p have been
// granted (0 for a prefix never asked for).
func (s *Book) SSCCUsage(ctx context.Context, p wire.SSCCPrefix) (SSCCUsage, error) {
	if err := p.Validate(); err != nil {
		return SSCCUsage{}, fmt.Errorf("sscc prefix %s: %w", p, err)
	}
	u := SSCCUsage{Prefix: p, Space: p.Space()}
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		err := q.QueryRow(ctx, "SELECT next_ref FROM sscc_counters WHERE company_prefix = $1 AND extension = $2", p.CompanyPrefix, p.Extension).Scan(&u.Granted)
		if sqldb.IsNoRows(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return u, fmt.Errorf("sscc prefix %s: %w", p, err)
	}
	return u, nil
}
