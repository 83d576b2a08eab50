package eufmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// FMDBatch is the product code version a work order's batch was uploaded
// under.
type FMDBatch struct {
	Order      string    `json:"order"`
	GTIN       string    `json:"gtin"`
	Lot        string    `json:"lot"`
	Version    int       `json:"version"`
	UploadedAt time.Time `json:"uploaded_at"`
}

// SendFMDBatch queues the batch and pack data of a released (or closed)
// work order of an EU FMD product for the hub, after the product's
// master data if its version was not uploaded yet. The batch stays with
// the version it was first uploaded under. Audited.
func (s *Register) SendFMDBatch(ctx context.Context, order string) (FMDBatch, []messages.OutboundMessage, error) {
	var b FMDBatch
	var ms []messages.OutboundMessage
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		o, err := orders.GetOrder(ctx, tx, order, "")
		if err != nil {
			return err
		}
		rec := "EU FMD batch of work order " + order
		if o.State == wire.OrderStateCreated {
			return fmt.Errorf("%s: %w: the order is not released; its packs go to the hub after release", rec, sqldb.ErrConflict)
		}
		err = tx.QueryRow(ctx, "SELECT order_id, gtin, lot, version, uploaded_at FROM fmd_batches WHERE order_id = $1", order).
			Scan(&b.Order, &b.GTIN, &b.Lot, &b.Version, &b.UploadedAt)
		switch {
		case sqldb.IsNoRows(err):
			p, err := getFMD(ctx, tx, o.GTIN, 0)
			if errors.Is(err, sqldb.ErrNotFound) {
				return sqldb.Invalid(rec, "eu_fmd", "product %s has no EU FMD master data (PUT /api/v1/products/%s/eu-fmd)", o.GTIN, o.GTIN)
			}
			if err != nil {
				return err
			}
			if ps, err := fmdProblems(ctx, tx, p); err != nil {
				return err
			} else if len(ps) > 0 {
				return ps[0]
			}
			if ms, err = uploadFMDProduct(ctx, tx, p); err != nil {
				return err
			}
			b = FMDBatch{Order: order, GTIN: o.GTIN, Lot: o.Lot, Version: p.Version, UploadedAt: sqldb.Now()}
			if _, err := tx.Exec(ctx, "INSERT INTO fmd_batches (order_id, gtin, lot, version, uploaded_at) VALUES ($1, $2, $3, $4, $5)",
				b.Order, b.GTIN, b.Lot, b.Version, b.UploadedAt); err != nil {
				return err
			}
			if err := audit.Record(ctx, tx, "upload", "fmd_batch", order, nil, b); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		more, err := enqueueFMD(ctx, tx, FMDBatchRef(order), true)
		ms = append(ms, more...)
		return err
	})
	return b, ms, err
}

// FMDBatchOf returns the upload record of a work order's batch.
func (s *Register) FMDBatchOf(ctx context.Context, order string) (FMDBatch, error) {
	var b FMDBatch
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		return q.QueryRow(ctx, "SELECT order_id, gtin, lot, version, uploaded_at FROM fmd_batches WHERE order_id = $1", order).
			Scan(&b.Order, &b.GTIN, &b.Lot, &b.Version, &b.UploadedAt)
	})
	if sqldb.IsNoRows(err) {
		return b, fmt.Errorf("EU FMD batch of work order %s: %w: not uploaded", order, sqldb.ErrNotFound)
	}
	b.UploadedAt = b.UploadedAt.UTC()
	return b, err
}
