package orders

import (
	"context"
	"fmt"
	"strings"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// SkippedCounter is one counter SkipSerials advanced: a product's serial
// counter (GTIN set) or an SSCC prefix's serial reference (SSCC set).
type SkippedCounter struct {
	GTIN string           `json:"gtin,omitempty"`
	SSCC *wire.SSCCPrefix `json:"sscc,omitempty"`
	From uint64           `json:"from"`
	To   uint64           `json:"to"`
}

// SkipSerials advances every product's serial counter and every SSCC
// prefix's reference counter by n (at most to the end of its space), in
// one transaction, each audited with reason. It is for a database
// restored from a backup: grants made after the backup are not in it,
// and without the skip central would grant those serials (and SSCCs) a
// second time. The serials skipped are never granted: a gap in the
// numbering, never a duplicate.
//
// It is long because every serial and SSCC counter moves in one audited transaction.
func (s *Book) SkipSerials(ctx context.Context, n uint64, reason string) ([]SkippedCounter, error) {
	if n == 0 {
		return nil, sqldb.Invalid("skip-serials", "count", "must be at least 1")
	}
	if strings.TrimSpace(reason) == "" {
		return nil, sqldb.Invalid("skip-serials", "reason", "missing: say why (e.g. the restore it follows)")
	}
	var out []SkippedCounter
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		out = nil
		type counter struct {
			gtin           string
			next, listSize uint64
		}
		var cs []counter
		r, err := tx.Query(ctx, "SELECT gtin, next_counter, list_size FROM serial_counters ORDER BY gtin"+s.db.Dialect().ForUpdate())
		if err != nil {
			return fmt.Errorf("serial counters: %w", err)
		}
		for r.Next() {
			var c counter
			if err := r.Scan(&c.gtin, &c.next, &c.listSize); err != nil {
				r.Close()
				return fmt.Errorf("serial counters: %w", err)
			}
			cs = append(cs, c)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return fmt.Errorf("serial counters: %w", err)
		}
		for _, c := range cs {
			p, err := master.GetProduct(ctx, tx, c.gtin)
			if err != nil {
				return fmt.Errorf("serial counter of %s: %w", c.gtin, err)
			}
			space := c.listSize
			if p.Scheme.Kind != serials.KindList {
				if space, err = schemeSpace(p); err != nil {
					return fmt.Errorf("serial counter of %s: %w", c.gtin, err)
				}
			}
			to := min(c.next+n, max(space, c.next))
			if _, err := tx.Exec(ctx, "UPDATE serial_counters SET next_counter = $2 WHERE gtin = $1", c.gtin, to); err != nil {
				return fmt.Errorf("serial counter of %s: %w", c.gtin, err)
			}
			if err := audit.Record(ctx, tx, "skip-serials", "serial_counter", c.gtin, map[string]uint64{"next_counter": c.next},
				map[string]any{"next_counter": to, "reason": reason}); err != nil {
				return err
			}
			out = append(out, SkippedCounter{GTIN: c.gtin, From: c.next, To: to})
		}
		type ref struct {
			p    wire.SSCCPrefix
			next uint64
		}
		var refs []ref
		r, err = tx.Query(ctx, "SELECT company_prefix, extension, next_ref FROM sscc_counters ORDER BY company_prefix, extension"+s.db.Dialect().ForUpdate())
		if err != nil {
			return fmt.Errorf("SSCC counters: %w", err)
		}
		for r.Next() {
			var x ref
			if err := r.Scan(&x.p.CompanyPrefix, &x.p.Extension, &x.next); err != nil {
				r.Close()
				return fmt.Errorf("SSCC counters: %w", err)
			}
			refs = append(refs, x)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return fmt.Errorf("SSCC counters: %w", err)
		}
		for _, x := range refs {
			to := min(x.next+n, max(x.p.Space(), x.next))
			if _, err := tx.Exec(ctx, "UPDATE sscc_counters SET next_ref = $3 WHERE company_prefix = $1 AND extension = $2", x.p.CompanyPrefix, x.p.Extension, to); err != nil {
				return fmt.Errorf("SSCC counter of %s: %w", x.p, err)
			}
			if err := audit.Record(ctx, tx, "skip-serials", "sscc_counter", fmt.Sprintf("%s/%d", x.p.CompanyPrefix, x.p.Extension),
				map[string]uint64{"next_ref": x.next}, map[string]any{"next_ref": to, "reason": reason}); err != nil {
				return err
			}
			p := x.p
			out = append(out, SkippedCounter{SSCC: &p, From: x.next, To: to})
		}
		return nil
	})
	return out, err
}
