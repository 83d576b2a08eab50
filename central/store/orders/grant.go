package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// DefaultGrantCap is the largest number of serials one request may get
// when Grant is called with cap 0.
const DefaultGrantCap = 100_000

// Grant allocates serials of req.GTIN to req.Order on req.Line and returns
// the grant to publish on the line's serials/grant topic.
//
// It is idempotent by req.RequestID: a retried request gets the very same
// grant back, and never allocates twice (also when two replicas handle the
// retry at once). The order must be released to that line and be of that
// GTIN (sqldb.ErrState otherwise); req.Count may not exceed limit (0 means
// DefaultGrantCap). Allocation bumps the product's counter high-water mark
// with one UPDATE ... RETURNING and stores one grant row, whatever the
// count: 500,000 serials cost what 5 do. For a list scheme the grant
// carries the listed serials themselves.
//
// The order bounds it: a line never gets more serials than the order can
// still need (OrderNeed), so a larger request is trimmed to that, and one
// when nothing remains is refused (ErrOrderBound). Grants of one order are
// serialised on the order's row, on every replica, so each sees the ones
// before it. For an EU FMD product, a grant that would take the GTIN's
// granted serials to a guess probability of 1/10,000 or more is refused
// (ErrFMDLimit).
//
// A refusal is an error; the caller publishes it as a SerialGrant with
// Error set (see Refusal).
//
// It is long because the order's bound, the idempotent request id, the scheme or list and
// the counter bump must all be decided inside one transaction.
func (s *Book) Grant(ctx context.Context, req wire.SerialRequest, limit uint64) (wire.SerialGrant, error) {
	if err := req.Validate(); err != nil {
		return wire.SerialGrant{}, fmt.Errorf("serial request %s: %w", req.RequestID, err)
	}
	if limit == 0 {
		limit = DefaultGrantCap
	}
	rec := "serial request " + req.RequestID
	if req.Count > limit {
		return wire.SerialGrant{}, sqldb.Invalid(rec, "count", "%d exceeds the %d serials one request may get", req.Count, limit)
	}
	var g wire.SerialGrant
	var raced bool
	var need OrderNeed
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		var err error
		g, err = storedGrant(ctx, tx, req)
		if err == nil || !errors.Is(err, sqldb.ErrNotFound) {
			return err
		}
		// Lock the order: the grants of one order queue here, so that the
		// bound below counts every grant committed before this one.
		o, err := GetOrder(ctx, tx, req.Order, s.db.Dialect().ForUpdate())
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		// The same request may have been granted while this one waited.
		g, err = storedGrant(ctx, tx, req)
		if err == nil || !errors.Is(err, sqldb.ErrNotFound) {
			return err
		}
		switch {
		case o.State != wire.OrderStateReleased:
			return fmt.Errorf("%s: %w: work order %s is %s, serials are granted only for a released order", rec, sqldb.ErrState, o.ID, o.State)
		case o.Line != req.Line:
			return fmt.Errorf("%s: %w: work order %s is released to line %s, not %s", rec, sqldb.ErrState, o.ID, o.Line, req.Line)
		case o.GTIN != req.GTIN:
			return fmt.Errorf("%s: %w: work order %s is for GTIN %s, not %s", rec, sqldb.ErrState, o.ID, o.GTIN, req.GTIN)
		}
		p, err := master.GetProduct(ctx, tx, req.GTIN)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if need, err = orderNeed(ctx, tx, o); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if need.Remaining == 0 {
			return fmt.Errorf("%s: %w: %s", rec, ErrOrderBound, need)
		}
		count := min(req.Count, need.Remaining)
		space, err := schemeSpace(p)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if p.Scheme.Kind == serials.KindList {
			if err := tx.QueryRow(ctx, "SELECT list_size FROM serial_counters WHERE gtin = $1", req.GTIN).Scan(&space); err != nil {
				return fmt.Errorf("%s: serial list of %s: %w", rec, req.GTIN, err)
			}
		}
		// The bump locks the counter row until commit: concurrent grants
		// of one GTIN, on any replica, queue here and get disjoint ranges.
		var next uint64
		if err := tx.QueryRow(ctx, "UPDATE serial_counters SET next_counter = next_counter + $2 WHERE gtin = $1 RETURNING next_counter",
			req.GTIN, count).Scan(&next); err != nil {
			return fmt.Errorf("%s: counter of %s: %w", rec, req.GTIN, err)
		}
		start := next - count
		if next > space {
			left := uint64(0)
			if start < space {
				left = space - start
			}
			return fmt.Errorf("%s: %w: GTIN %s has %d unused serials left, %d asked", rec, sqldb.ErrExhausted, req.GTIN, left, count)
		}
		if slices.Contains(p.Markets, master.MarketEUFMD) {
			// next serials of the GTIN are out once this commits: that is
			// the volume the guess probability is about.
			if err := serials.CheckFMD(p.Scheme, next); errors.Is(err, serials.ErrNotFMD) {
				return fmt.Errorf("%s: %w: granting %d more serials of GTIN %s (%d in all) would break the EU FMD rule: %v",
					rec, ErrFMDLimit, count, req.GTIN, next, err)
			}
		}
		g = wire.SerialGrant{V: wire.Version, RequestID: req.RequestID, Line: req.Line, Order: req.Order, GTIN: req.GTIN,
			Scheme: &p.Scheme, Ranges: []wire.CounterRange{{Start: start, Count: count}}}
		ranges, _ := json.Marshal(g.Ranges)
		t := sqldb.Now()
		n, err := tx.Exec(ctx, `INSERT INTO grants (request_id, line_id, order_id, gtin, count, ranges, created_at, requested)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (request_id) DO NOTHING`,
			req.RequestID, req.Line, req.Order, req.GTIN, count, string(ranges), t, req.Count)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if n == 0 {
			// Another replica stored this request meanwhile (PostgreSQL
			// waited for it on the key): roll back our bump, use its grant.
			raced = true
			return errRaced
		}
		if _, err := tx.Exec(ctx, `INSERT INTO grant_ranges (gtin, start_counter, end_counter, order_id, line_id, request_id)
			VALUES ($1, $2, $3, $4, $5, $6)`, req.GTIN, start, next, req.Order, req.Line, req.RequestID); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if p.Scheme.Kind == serials.KindList {
			if g.Serials, err = ListSerials(ctx, tx, req.GTIN, start, next); err != nil {
				return fmt.Errorf("%s: %w", rec, err)
			}
		}
		type audited struct {
			Line      string              `json:"line"`
			Order     string              `json:"order"`
			GTIN      string              `json:"gtin"`
			Count     uint64              `json:"count"`
			Requested uint64              `json:"requested"`
			Trimmed   string              `json:"trimmed,omitempty"`
			Ranges    []wire.CounterRange `json:"ranges"`
		}
		a := audited{Line: req.Line, Order: req.Order, GTIN: req.GTIN, Count: count, Requested: req.Count, Ranges: g.Ranges}
		if count < req.Count {
			a.Trimmed = need.String()
		}
		return audit.Record(ctx, tx, "grant", "serial_grant", req.RequestID, nil, a)
	})
	if raced {
		err = s.db.Read(ctx, func(q sqldb.Tx) error {
			var err error
			g, err = storedGrant(ctx, q, req)
			return err
		})
	}
	if err != nil {
		return wire.SerialGrant{}, err
	}
	if g.Count() < req.Count {
		s.log.Info("serial request trimmed to the order's need", "request", req.RequestID, "order", req.Order, "asked", req.Count, "granted", g.Count())
	}
	s.log.Info("serials granted", "request", req.RequestID, "line", req.Line, "order", req.Order, "gtin", req.GTIN, "count", g.Count(), "ranges", len(g.Ranges))
	return g, nil
}

// ErrOrderBound is wrapped when a work order needs no more serials (see
// OrderNeed); ErrFMDLimit when a grant would break the EU FMD guess rule.
// Both are sqldb.ErrExhausted too: a refusal the line is told about.
var (
	ErrOrderBound error = &kindOf{"the work order needs no more serials", sqldb.ErrExhausted}
	ErrFMDLimit   error = &kindOf{"EU FMD guess probability limit", sqldb.ErrExhausted}
)

// kindOf is a sentinel error that is also (errors.Is) a broader one,
// without that one's words in its message.
type kindOf struct {
	msg   string
	broad error
}

func (e *kindOf) Error() string        { return e.msg }
func (e *kindOf) Is(target error) bool { return target == e.broad }

// OrderNeed is how many serials a work order can still need, from its
// counts: Remaining = (Quantity − Commissioned) + max(0, Allowance −
// Decommissioned) − Outstanding, at least 0, where Outstanding = Granted −
// (Commissioned + Decommissioned + Voided + ReturnedUnused) are the serials
// the line holds without a reported fate. Voided and returned serials do
// not spend the allowance.
type OrderNeed struct {
	Order          string `json:"order"`
	Quantity       uint64 `json:"quantity"`
	Allowance      uint64 `json:"reject_allowance"` // extensions included
	Granted        uint64 `json:"granted"`
	Commissioned   uint64 `json:"commissioned"`
	Decommissioned uint64 `json:"decommissioned"`
	Voided         uint64 `json:"voided"`
	ReturnedUnused uint64 `json:"returned_unused"`
	Outstanding    int64  `json:"outstanding"`
	Remaining      uint64 `json:"remaining"`
}

func (n OrderNeed) String() string {
	return fmt.Sprintf("work order %s (quantity %d, reject allowance %d) has %d granted: %d commissioned, %d decommissioned, %d voided, %d returned unused, %d outstanding at the line; it can need %d more",
		n.Order, n.Quantity, n.Allowance, n.Granted, n.Commissioned, n.Decommissioned, n.Voided, n.ReturnedUnused, n.Outstanding, n.Remaining)
}

// orderNeed computes o's OrderNeed (o read with its counts in this
// transaction).
func orderNeed(ctx context.Context, q sqldb.Tx, o WorkOrder) (OrderNeed, error) {
	n := OrderNeed{Order: o.ID, Quantity: o.Quantity, Allowance: o.RejectAllowance,
		Commissioned: o.Produced, Decommissioned: o.Rejected, Voided: o.Voided}
	if err := q.QueryRow(ctx, "SELECT COALESCE(SUM(count), 0) FROM grants WHERE order_id = $1", o.ID).Scan(&n.Granted); err != nil {
		return n, fmt.Errorf("grants of work order %s: %w", o.ID, err)
	}
	if err := q.QueryRow(ctx, "SELECT COALESCE(SUM(end_counter - start_counter), 0) FROM returned_ranges WHERE order_id = $1", o.ID).Scan(&n.ReturnedUnused); err != nil {
		return n, fmt.Errorf("returned serials of work order %s: %w", o.ID, err)
	}
	n.Outstanding = int64(n.Granted) - int64(n.Commissioned+n.Decommissioned+n.Voided+n.ReturnedUnused)
	rem := int64(n.Quantity) - int64(n.Commissioned) + max(0, int64(n.Allowance)-int64(n.Decommissioned)) - n.Outstanding
	n.Remaining = uint64(max(rem, 0))
	return n, nil
}

// OrderNeed returns how many serials work order id can still need, with
// the counts that make it.
func (s *Book) OrderNeed(ctx context.Context, id string) (OrderNeed, error) {
	var n OrderNeed
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		o, err := GetOrder(ctx, q, id, "")
		if err != nil {
			return err
		}
		n, err = orderNeed(ctx, q, o)
		return err
	})
	return n, err
}

var errRaced = errors.New("grant raced")

// storedGrant returns the grant stored for req.RequestID, sqldb.ErrNotFound when
// there is none, and sqldb.ErrConflict when the id was used for another request.
func storedGrant(ctx context.Context, q sqldb.Tx, req wire.SerialRequest) (wire.SerialGrant, error) {
	var g wire.SerialGrant
	var count uint64
	var ranges string
	// A trimmed grant is the answer to the count asked for.
	err := q.QueryRow(ctx, "SELECT line_id, order_id, gtin, COALESCE(requested, count), ranges FROM grants WHERE request_id = $1", req.RequestID).
		Scan(&g.Line, &g.Order, &g.GTIN, &count, &ranges)
	if sqldb.IsNoRows(err) {
		return g, fmt.Errorf("grant %s: %w", req.RequestID, sqldb.ErrNotFound)
	}
	if err != nil {
		return g, fmt.Errorf("grant %s: %w", req.RequestID, err)
	}
	if g.Line != req.Line || g.Order != req.Order || g.GTIN != req.GTIN || count != req.Count {
		return g, fmt.Errorf("serial request %s: %w: the id was used to ask for %d serials of %s for order %s on line %s",
			req.RequestID, sqldb.ErrConflict, count, g.GTIN, g.Order, g.Line)
	}
	if err := json.Unmarshal([]byte(ranges), &g.Ranges); err != nil {
		return g, fmt.Errorf("grant %s: ranges: %w", req.RequestID, err)
	}
	p, err := master.GetProduct(ctx, q, g.GTIN)
	if err != nil {
		return g, err
	}
	g.V, g.RequestID, g.Scheme = wire.Version, req.RequestID, &p.Scheme
	if p.Scheme.Kind == serials.KindList {
		for _, r := range g.Ranges {
			ss, err := ListSerials(ctx, q, g.GTIN, r.Start, r.End())
			if err != nil {
				return g, err
			}
			g.Serials = append(g.Serials, ss...)
		}
	}
	return g, nil
}

// Refusal is the grant payload that tells the line why its request failed.
func Refusal(req wire.SerialRequest, err error) wire.SerialGrant {
	msg := err.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	return wire.SerialGrant{V: wire.Version, RequestID: req.RequestID, Line: req.Line, Kind: req.Kind, Order: req.Order, GTIN: req.GTIN, SSCC: req.SSCC, Error: msg}
}

// schemeSpace is the number of counters the product's scheme can turn into
// serials, capped to what a BIGINT counter holds. Lists are sized by their
// import instead.
func schemeSpace(p master.Product) (uint64, error) {
	if p.Scheme.Kind == serials.KindList {
		return 0, nil
	}
	sc, err := serials.New(p.Scheme)
	if err != nil {
		return 0, fmt.Errorf("product %s: scheme: %w", p.GTIN, err)
	}
	return min(sc.Space(), math.MaxInt64), nil
}

func ListSerials(ctx context.Context, q sqldb.Tx, gtin string, from, to uint64) ([]string, error) {
	r, err := q.Query(ctx, "SELECT position, serial FROM serial_lists WHERE gtin = $1 AND position >= $2 AND position < $3 ORDER BY position", gtin, from, to)
	if err != nil {
		return nil, fmt.Errorf("serial list of %s: %w", gtin, err)
	}
	defer r.Close()
	out := make([]string, 0, to-from)
	want := from
	for r.Next() {
		var pos uint64
		var s string
		if err := r.Scan(&pos, &s); err != nil {
			return nil, err
		}
		if pos != want {
			return nil, fmt.Errorf("serial list of %s: position %d is missing", gtin, want)
		}
		out = append(out, s)
		want++
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if want != to {
		return nil, fmt.Errorf("serial list of %s: positions %d to %d are missing", gtin, want, to-1)
	}
	return out, nil
}

// ImportSerialList appends serials (already parsed and checked, e.g. by
// serials.ParseList) to the imported list of a list-scheme product and
// returns the list's new size. Every serial must be 1 to 20 CSET 82
// characters, of the scheme's length if it has one, and new to the
// product: a serial already listed, or repeated in the input, fails the
// whole import (sqldb.ErrConflict naming it), so nothing is half-imported.
//
// It is long because the list is checked for repeats against itself and the stored list,
// and appended, in one transaction.
func (s *Book) ImportSerialList(ctx context.Context, gtin string, list []string) (uint64, error) {
	rec := "serial list of " + gtin
	if len(list) == 0 {
		return 0, sqldb.Invalid(rec, "serials", "empty")
	}
	var size uint64
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		p, err := master.GetProduct(ctx, tx, gtin)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if p.Scheme.Kind != serials.KindList {
			return fmt.Errorf("%s: %w: product %s uses a %s scheme, not a list", rec, sqldb.ErrState, gtin, p.Scheme.Kind)
		}
		seen := make(map[string]int, len(list))
		for i, sn := range list {
			if sn == "" || len(sn) > 20 || (p.Scheme.Length > 0 && len(sn) != p.Scheme.Length) {
				want := "1 to 20"
				if p.Scheme.Length > 0 {
					want = fmt.Sprint(p.Scheme.Length)
				}
				return sqldb.Invalid(rec, fmt.Sprintf("serials[%d]", i), "%q has %d characters, the scheme wants %s", sn, len(sn), want)
			}
			if err := gs1.ValidateCSET82("21", sn); err != nil {
				return sqldb.Invalid(rec, fmt.Sprintf("serials[%d]", i), "%v", err)
			}
			if j, dup := seen[sn]; dup {
				return fmt.Errorf("%s: serials[%d]: %w: %q repeats serials[%d]", rec, i, sqldb.ErrConflict, sn, j)
			}
			seen[sn] = i
		}
		// Existing serials, checked before inserting so that the error
		// names the serial (a unique violation would not).
		for chunk := range slices.Chunk(list, 5000) {
			r, err := tx.QueryFresh(ctx, "SELECT serial, position FROM serial_lists WHERE gtin = $1 AND serial "+s.db.Dialect().InList(2, "text"), gtin, s.db.Dialect().ListArg(chunk))
			if err != nil {
				return fmt.Errorf("%s: %w", rec, err)
			}
			var dup string
			var pos uint64
			found := r.Next()
			if found {
				err = r.Scan(&dup, &pos)
			}
			r.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", rec, err)
			}
			if found {
				return fmt.Errorf("%s: %w: serial %q is already listed (position %d)", rec, sqldb.ErrConflict, dup, pos)
			}
		}
		if err := tx.QueryRow(ctx, "SELECT list_size FROM serial_counters WHERE gtin = $1"+s.db.Dialect().ForUpdate(), gtin).Scan(&size); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		rows := make([][]any, len(list))
		for i, sn := range list {
			rows[i] = []any{gtin, size + uint64(i), sn}
		}
		if err := tx.CopyRows(ctx, "serial_lists", []string{"gtin", "position", "serial"}, rows); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		from := size
		size += uint64(len(list))
		if _, err := tx.Exec(ctx, "UPDATE serial_counters SET list_size = $2 WHERE gtin = $1", gtin, size); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		type audited struct {
			Imported  int    `json:"imported"`
			Positions string `json:"positions"`
			First     string `json:"first"`
			Last      string `json:"last"`
		}
		return audit.Record(ctx, tx, "import", "serial_list", gtin, nil,
			audited{Imported: len(list), Positions: fmt.Sprintf("%d-%d", from, size-1), First: list[0], Last: list[len(list)-1]})
	})
	if err != nil {
		return 0, err
	}
	return size, nil
}

// SerialUsage is the allocation state of a product's serials.
type SerialUsage struct {
	GTIN    string
	Granted uint64 // counters granted so far (the high-water mark)
	Space   uint64 // counters the scheme (or imported list) offers
}

// SerialUsage returns how many of a product's serials have been granted.
func (s *Book) SerialUsage(ctx context.Context, gtin string) (SerialUsage, error) {
	u := SerialUsage{GTIN: gtin}
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		p, err := master.GetProduct(ctx, q, gtin)
		if err != nil {
			return err
		}
		var listSize uint64
		if err := q.QueryRow(ctx, "SELECT next_counter, list_size FROM serial_counters WHERE gtin = $1", gtin).Scan(&u.Granted, &listSize); err != nil {
			return fmt.Errorf("serial counter of %s: %w", gtin, err)
		}
		u.Space, err = schemeSpace(p)
		if p.Scheme.Kind == serials.KindList {
			u.Space = listSize
		}
		return err
	})
	return u, err
}

// Grants lists the grants of a work order, oldest first.
func (s *Book) Grants(ctx context.Context, order string) ([]GrantRecord, error) {
	var out []GrantRecord
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.Query(ctx, "SELECT request_id, line_id, order_id, gtin, count, ranges, created_at FROM grants WHERE order_id = $1 ORDER BY created_at, request_id", order)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var g GrantRecord
			var ranges string
			if err := r.Scan(&g.RequestID, &g.Line, &g.Order, &g.GTIN, &g.Count, &ranges, &g.CreatedAt); err != nil {
				return err
			}
			g.CreatedAt = g.CreatedAt.UTC()
			if err := json.Unmarshal([]byte(ranges), &g.Ranges); err != nil {
				return fmt.Errorf("grant %s: ranges: %w", g.RequestID, err)
			}
			out = append(out, g)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("grants of work order %s: %w", order, err)
	}
	return out, nil
}

// GrantRecord is a stored grant.
type GrantRecord struct {
	RequestID string
	Line      string
	Order     string
	GTIN      string
	Count     uint64
	Ranges    []wire.CounterRange
	CreatedAt time.Time
}
