package lineevents

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// lineSyncBatch is how many seqs of a line one pass projects.
const lineSyncBatch = 5000

// SyncLineEPCIS projects the line events applied since the last call
// into EPCIS events (see the store README for the mapping): commissioned
// → ObjectEvent ADD commissioning/active with ILMD lot and expiry,
// decommissioned and voided → ObjectEvent DELETE, aggregated and
// disaggregated → AggregationEvent. Each line's cursor moves in the same
// transaction as the events it produced, so replicas and retries never
// project twice; QueryEPCIS calls it first.
func (s *Records) SyncLineEPCIS(ctx context.Context) error {
	type pending struct {
		line, inc string
		from, to  int64
	}
	var todo []pending
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		// Each incarnation of a line's event store has its own seqs.
		r, err := q.Query(ctx, `SELECT l.line_id, l.incarnation, COALESCE(c.seq, 0), l.applied_seq FROM line_incarnations l
			LEFT JOIN epcis_line_cursor c ON c.line_id = l.line_id AND c.incarnation = l.incarnation WHERE l.applied_seq > COALESCE(c.seq, 0)`)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var p pending
			if err := r.Scan(&p.line, &p.inc, &p.from, &p.to); err != nil {
				return err
			}
			todo = append(todo, p)
		}
		return r.Err()
	})
	if err != nil {
		return fmt.Errorf("EPCIS projection of line events: %w", err)
	}
	for _, p := range todo {
		for done := false; !done; {
			err := s.db.Write(ctx, func(tx sqldb.Tx) error {
				var err error
				done, err = s.syncLine(ctx, tx, p.line, p.inc)
				return err
			})
			if err != nil {
				return fmt.Errorf("EPCIS projection of %s: %w", where(p.line, p.inc), err)
			}
		}
	}
	return nil
}

// syncLine projects up to lineSyncBatch seqs of one incarnation of a
// line; done says it is caught up.
func (s *Records) syncLine(ctx context.Context, tx sqldb.Tx, line, inc string) (done bool, err error) {
	if _, err := tx.Exec(ctx, "INSERT INTO epcis_line_cursor (line_id, incarnation, seq) VALUES ($1, $2, 0) ON CONFLICT (line_id, incarnation) DO NOTHING", line, inc); err != nil {
		return false, err
	}
	var from, applied int64
	if err := tx.QueryRow(ctx, "SELECT seq FROM epcis_line_cursor WHERE line_id = $1 AND incarnation = $2"+s.db.Dialect().ForUpdate(), line, inc).Scan(&from); err != nil {
		return false, err
	}
	if err := tx.QueryRow(ctx, "SELECT applied_seq FROM line_incarnations WHERE line_id = $1 AND incarnation = $2", line, inc).Scan(&applied); err != nil {
		return false, err
	}
	to := min(applied, from+lineSyncBatch)
	if to <= from {
		return true, nil
	}
	r, err := tx.Query(ctx, `SELECT gtin, serial, event_id, type, at, details FROM unit_history
		WHERE line_id = $1 AND incarnation = $2 AND seq > $3 AND seq <= $4 ORDER BY seq`, line, inc, from, to)
	if err != nil {
		return false, err
	}
	var hist []histRow
	for r.Next() {
		var h histRow
		var details string
		if err := r.Scan(&h.gtin, &h.serial, &h.eventID, &h.typ, &h.at, &details); err != nil {
			r.Close()
			return false, err
		}
		if err := json.Unmarshal([]byte(details), &h.d); err != nil {
			r.Close()
			return false, fmt.Errorf("history of %s event %s: %w", line, h.eventID, err)
		}
		h.at = h.at.UTC()
		hist = append(hist, h)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return false, err
	}
	if len(hist) > 0 {
		p, err := s.newProjector(ctx, tx, line, hist)
		if err != nil {
			return false, err
		}
		rec := sqldb.Now()
		var rows []*epcisdb.Row
		for _, h := range hist {
			e, ok, err := p.event(h)
			if err != nil {
				return false, fmt.Errorf("line event %s: %w", h.eventID, err)
			}
			if !ok {
				continue
			}
			row, err := epcisdb.NewRow(e, "", rec, epcisdb.EPCISSourceLine, h.eventID)
			if err != nil {
				return false, fmt.Errorf("line event %s: %w", h.eventID, err)
			}
			rows = append(rows, &row)
		}
		if err := epcisdb.LockInsert(ctx, tx); err != nil {
			return false, err
		}
		if _, err := epcisdb.Insert(ctx, tx, rows); err != nil {
			return false, err
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE epcis_line_cursor SET seq = $1 WHERE line_id = $2 AND incarnation = $3", to, line, inc); err != nil {
		return false, err
	}
	return to >= applied, nil
}

type histRow struct {
	gtin, serial, eventID, typ string
	at                         time.Time
	d                          historyDetails
}

// projector turns history rows into EPCIS events with the master data
// they need: company prefix lengths and the line's site.
type projector struct {
	gcp       map[string]int // GTIN → company prefix length
	ssccGCP   map[string]int // SSCC → company prefix length (its order's product)
	site      string         // the line's site GLN, "" when none
	readPoint string         // the line's SGLN, "" when none
}

func (s *Records) newProjector(ctx context.Context, tx sqldb.Tx, line string, hist []histRow) (*projector, error) {
	p := &projector{gcp: map[string]int{}, ssccGCP: map[string]int{}}
	r, err := tx.Query(ctx, "SELECT gtin, company_prefix_len FROM products")
	if err != nil {
		return nil, err
	}
	for r.Next() {
		var g string
		var n int
		if err := r.Scan(&g, &n); err != nil {
			r.Close()
			return nil, err
		}
		p.gcp[g] = n
	}
	r.Close()
	if err := r.Err(); err != nil {
		return nil, err
	}
	var site *string
	if err := tx.QueryRow(ctx, "SELECT site_gln, read_point FROM lines WHERE id = $1", line).Scan(&site, &p.readPoint); err != nil && !sqldb.IsNoRows(err) {
		return nil, err
	}
	if site != nil {
		p.site = *site
	}
	var ssccs []string
	for _, h := range hist {
		if h.gtin == "" && !slices.Contains(ssccs, h.serial) {
			ssccs = append(ssccs, h.serial)
		}
	}
	if len(ssccs) > 0 {
		r, err := tx.QueryFresh(ctx, `SELECT c.sscc, p.company_prefix_len FROM containers c
			JOIN work_orders w ON w.id = c.order_id JOIN products p ON p.gtin = w.gtin
			WHERE c.sscc `+s.db.Dialect().InList(1, "text"), s.db.Dialect().ListArg(ssccs))
		if err != nil {
			return nil, err
		}
		for r.Next() {
			var c string
			var n int
			if err := r.Scan(&c, &n); err != nil {
				r.Close()
				return nil, err
			}
			p.ssccGCP[c] = n
		}
		r.Close()
		if err := r.Err(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *projector) sgtin(gtin, serial string) (string, error) {
	n, ok := p.gcp[gtin]
	if !ok {
		return "", fmt.Errorf("GTIN %s: no product, so no company prefix length for its SGTIN", gtin)
	}
	return gs1.SGTINURI(gs1.GTIN(gtin), serial, n)
}

// sscc writes an SSCC URI; the company prefix length is that of the
// container's order's product, else of its first unit's, else 7.
func (p *projector) sscc(sscc string, children []string) (string, error) {
	n, ok := p.ssccGCP[sscc]
	if !ok {
		n = 7
		for _, c := range children {
			if ch, err := wire.ParseChild(c); err == nil && ch.GTIN != "" {
				if m, ok := p.gcp[ch.GTIN]; ok {
					n = m
					break
				}
			}
		}
	}
	return gs1.SSCCURI(gs1.SSCC(sscc), n)
}

// location is the line's site as an SGLN (extension 0), using the company
// prefix length of gtin's product.
func (p *projector) location(gtin string) string {
	if p.site == "" {
		return ""
	}
	n, ok := p.gcp[gtin]
	if !ok {
		return ""
	}
	u, err := gs1.SGLNURI(gs1.GLN(p.site), "0", n)
	if err != nil {
		return ""
	}
	return u
}

// readPointOr is the line's own SGLN, or site when the line has none.
func (p *projector) readPointOr(site string) string {
	if p.readPoint != "" {
		return p.readPoint
	}
	return site
}

// event maps one history row; ok is false for rows that are not an EPCIS
// event of their own (the per-child rows of an aggregation).
//
// It is long because it is one switch over the history kinds, each a few lines.
func (p *projector) event(h histRow) (epcis.Event, bool, error) {
	e := epcis.Event{EventTime: h.at, EventTimeZoneOffset: "+00:00"}
	switch h.typ {
	case "commissioned", "decommissioned", "voided":
		if h.gtin == "" {
			return e, false, nil
		}
		epc, err := p.sgtin(h.gtin, h.serial)
		if err != nil {
			return e, false, err
		}
		e.Type, e.EPCList, e.BizLocation = epcis.ObjectEvent, []string{epc}, p.location(h.gtin)
		e.ReadPoint = p.readPointOr(e.BizLocation)
		switch h.typ {
		case "commissioned":
			e.Action, e.BizStep, e.Disposition = epcis.ActionAdd, "commissioning", "active"
			e.ILMD = map[string]any{}
			if h.d.Lot != "" {
				e.ILMD["cbvmda:lotNumber"] = h.d.Lot
			}
			if h.d.Expiry != "" {
				t, err := gs1.ExpiryTime(h.d.Expiry)
				if err != nil {
					return e, false, fmt.Errorf("expiry: %w", err)
				}
				e.ILMD["cbvmda:itemExpirationDate"] = t.Format(time.DateOnly)
			}
		case "voided":
			e.Action, e.BizStep, e.Disposition = epcis.ActionDelete, "decommissioning", "inactive"
			e.Extensions = map[string]any{"serialine:reason": "voided"}
		default:
			e.Action, e.BizStep, e.Disposition = epcis.ActionDelete, "decommissioning", "inactive"
			switch h.d.Reason {
			case "sample":
				e.BizStep = "sampling"
			case "destroyed":
				e.BizStep, e.Disposition = "destroying", "destroyed"
			}
			if h.d.Reason != "" {
				e.Extensions = map[string]any{"serialine:reason": string(h.d.Reason)}
			}
		}
		if e.Extensions != nil {
			e.Namespaces = map[string]string{"serialine": epcisdb.SerialineNS}
		}
		return e, true, nil
	case "aggregated", "disaggregated":
		// One row per child and one for the parent; the parent's carries the event.
		if h.gtin != "" || h.d.Parent != "" {
			return e, false, nil
		}
		parent, err := p.sscc(h.serial, h.d.Children)
		if err != nil {
			return e, false, err
		}
		e.Type, e.ParentID = epcis.AggregationEvent, parent
		for _, c := range h.d.Children {
			ch, err := wire.ParseChild(c)
			if err != nil {
				return e, false, fmt.Errorf("child %q: %w", c, err)
			}
			var u string
			if ch.SSCC != "" {
				u, err = p.sscc(ch.SSCC, nil)
			} else {
				u, err = p.sgtin(ch.GTIN, ch.Serial)
				if e.BizLocation == "" {
					e.BizLocation = p.location(ch.GTIN)
				}
			}
			if err != nil {
				return e, false, err
			}
			e.ChildEPCs = append(e.ChildEPCs, u)
		}
		e.ReadPoint = p.readPointOr(e.BizLocation)
		if h.typ == "aggregated" {
			e.Action, e.BizStep, e.Disposition = epcis.ActionAdd, "packing", "container_closed"
		} else {
			e.Action, e.BizStep, e.Disposition = epcis.ActionDelete, "unpacking", "container_open"
		}
		return e, true, nil
	}
	return e, false, nil
}
