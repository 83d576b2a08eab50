package supply

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
)

// RecallCSVHeader is the header row of WriteRecallCSV.
var RecallCSVHeader = []string{"recall", "gtin", "serial", "lot", "expiry", "state", "on_hold", "case", "pallet", "shipment", "customer_gln", "customer_name", "shipped_at"}

// WriteRecallCSV writes every unit of a recall as CSV (RecallCSVHeader,
// then one row per unit and shipment), streaming.
func (s *Chain) WriteRecallCSV(ctx context.Context, id string, w io.Writer) error {
	cw := NewSafeCSV(w) // names and lots are typed by people: no formulas
	if err := cw.Write(RecallCSVHeader); err != nil {
		return err
	}
	row := make([]string, len(RecallCSVHeader))
	err := s.RecallUnits(ctx, id, func(u RecallUnit) error {
		shipped := ""
		if u.ShippedAt != nil {
			shipped = u.ShippedAt.Format(time.RFC3339)
		}
		row = append(row[:0], id, u.GTIN, u.Serial, u.Lot, u.Expiry, u.State, strconv.FormatBool(u.OnHold), u.Case, u.Pallet,
			u.Shipment, u.CustomerGLN, u.CustomerName, shipped)
		return cw.Write(row)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// WriteRecallReport writes a report a person reads: what is recalled and
// why, how many units, how many are held in our stock and where, and each
// customer who received units with the shipment, date and pallets.
func (s *Chain) WriteRecallReport(ctx context.Context, id string, w io.Writer) error {
	rc, err := s.Recall(ctx, id)
	if err != nil {
		return err
	}
	p, err := s.master.Product(ctx, rc.GTIN)
	if err != nil {
		return fmt.Errorf("recall %s: %w", id, err)
	}
	held, err := s.recallHeldAt(ctx, rc)
	if err != nil {
		return fmt.Errorf("recall %s: %w", id, err)
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("RECALL %s", rc.ID)
	line("%s", strings.Repeat("=", 7+len(rc.ID)))
	line("")
	line("Product:   %s (GTIN %s%s)", p.Name, p.GTIN, ndcText(p.NDC))
	if rc.Kind == RecallLot {
		line("Scope:     lot %s: every unit of the lot", rc.Lot)
	} else {
		line("Scope:     %d listed serials", rc.Summary.Affected)
	}
	line("Reason:    %s", rc.Reason)
	line("Recalled:  %s", rc.CreatedAt.Format("2006-01-02 15:04 MST"))
	line("")
	line("Units affected: %d", rc.Summary.Affected)
	states := make([]string, 0, len(rc.Summary.ByState))
	for st := range rc.Summary.ByState {
		states = append(states, st)
	}
	sort.Strings(states)
	for _, st := range states {
		line("  %-15s %d", st+":", rc.Summary.ByState[st])
	}
	line("")
	line("In our stock, put on hold at the recall: %d", rc.Summary.OnHold)
	line("Held in our stock now:")
	if len(held) == 0 {
		line("  none")
	}
	for _, h := range held {
		line("  at %s: %d %s", orNone(h.Location), h.Units, h.State)
	}
	line("")
	if len(rc.Summary.Shipments) == 0 {
		line("No unit of this recall was shipped: nothing to call back from customers.")
	} else {
		line("Shipped to customers: %d units in %d shipments. Contact each customer:", rc.Summary.Shipped, len(rc.Summary.Shipments))
		for _, sh := range rc.Summary.Shipments {
			line("")
			line("  %s (GLN %s)", orNone(sh.CustomerName), sh.CustomerGLN)
			line("    shipment %s of sales order %s, shipped %s: %d units", sh.Shipment, sh.SalesOrder, sh.ShippedAt.Format("2006-01-02"), sh.Units)
			if len(sh.Pallets) > 0 {
				line("    pallets/containers: %s", strings.Join(sh.Pallets, ", "))
			}
		}
	}
	line("")
	line("Every unit with its state, case, pallet and shipment: the recall's CSV export.")
	_, err = io.WriteString(w, b.String())
	return err
}

// recallHeldAt counts the recall's units in our stock by location (the
// site of the line that made them, or where a return was received) and
// state, joining the few returns rather than probing per unit: a lot may
// hold a million units.
func (s *Chain) recallHeldAt(ctx context.Context, rc Recall) ([]StockRow, error) {
	scope, args := recallScope(rc.Kind, rc.ID, rc.GTIN, rc.Lot)
	var out []StockRow
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.QueryFresh(ctx, `SELECT COALESCE(rt.site_gln, l.site_gln, ''), u.state, COUNT(*)
			FROM units u LEFT JOIN lines l ON l.id = u.line_id
			LEFT JOIN (SELECT x.gtin, x.serial, x.site_gln FROM unit_returns x
				JOIN (SELECT MAX(id) AS id FROM unit_returns GROUP BY gtin, serial) m ON m.id = x.id) rt
				ON rt.gtin = u.gtin AND rt.serial = u.serial
			WHERE `+scope+` AND u.state IN ('commissioned', 'returned')
			GROUP BY COALESCE(rt.site_gln, l.site_gln, ''), u.state ORDER BY 1, 2`, args...)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			row := StockRow{GTIN: rc.GTIN, Lot: rc.Lot}
			if err := r.Scan(&row.Location, &row.State, &row.Units); err != nil {
				return err
			}
			row.OnHold = row.Units
			out = append(out, row)
		}
		return r.Err()
	})
	return out, err
}

func ndcText(ndc string) string {
	if ndc == "" {
		return ""
	}
	return ", NDC " + ndc
}

func orNone(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// recallFMDStatus makes the recall's status update (inside the recall's
// transaction) when the product is an EU FMD one: the packs of the lot,
