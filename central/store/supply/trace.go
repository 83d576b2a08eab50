package supply

import (
	"context"
	"fmt"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// Transaction kinds of a unit's trace.
const (
	TxReceipt  = "receipt"  // a partner's document brought it to us, new (a contract manufacturer's)
	TxShipment = "shipment" // we sold it: a confirmed shipment
	TxReturn   = "return"   // it came back from a customer (received at the dock or by the customer's document)
)

// UnitTransaction is a change of ownership or possession of a unit that
// central recorded, for a tracing request.
type UnitTransaction struct {
	Kind string    `json:"kind"`
	Ref  string    `json:"ref"` // receipt id, shipment id, return id
	At   time.Time `json:"at"`
	From string    `json:"from"` // GLN
	To   string    `json:"to"`   // GLN
}

// UnitTransactions lists a unit's transactions, oldest first: the
// receipts that brought it, our shipments of it, its returns.
func (s *Chain) UnitTransactions(ctx context.Context, gtin, serial string) ([]UnitTransaction, error) {
	var out []UnitTransaction
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		var n int
		if err := q.QueryRow(ctx, "SELECT COUNT(*) FROM units WHERE gtin = $1 AND serial = $2", gtin, serial).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("unit %s: %w", wire.UnitRef(gtin, serial), sqldb.ErrNotFound)
		}
		for _, qy := range []struct {
			kind, sql string
		}{
			{TxReceipt, `SELECT CAST(r.id AS TEXT), r.received_at, r.partner_gln, r.receiver_gln FROM receipt_units ru
				JOIN receipts r ON r.id = ru.receipt_id WHERE ru.gtin = $1 AND ru.serial = $2 AND ru.outcome = 'received'`},
			{TxShipment, `SELECT s.id, s.shipped_at, s.source_gln, s.dest_gln FROM shipment_units su JOIN shipments s ON s.id = su.shipment_id
				WHERE su.gtin = $1 AND su.serial = $2 AND s.state = 'shipped'`},
			{TxReturn, `SELECT CAST(r.id AS TEXT), r.received_at, r.from_gln, r.site_gln FROM unit_returns r
				WHERE r.gtin = $1 AND r.serial = $2`},
		} {
			txs, err := sqldb.QueryAll(ctx, q, qy.sql, []any{gtin, serial}, func(r sqldb.Rows) (UnitTransaction, error) {
				t := UnitTransaction{Kind: qy.kind}
				var at any
				if err := r.Scan(&t.Ref, &at, &t.From, &t.To); err != nil {
					return t, err
				}
				var err error
				t.At, err = anyTime(at)
				return t, err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", qy.kind, err)
			}
			out = append(out, txs...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("transactions of unit %s: %w", wire.UnitRef(gtin, serial), err)
	}
	sortTx(out)
	return out, nil
}

func sortTx(t []UnitTransaction) {
	for i := 1; i < len(t); i++ {
		for j := i; j > 0 && t[j].At.Before(t[j-1].At); j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
	}
}
