// Package fmd builds the EU Falsified Medicines Directive upload for the
// EU hub (EMVS): the product master data and the pack data (product code,
// batch, expiry, serial numbers) of an order, in the JSON format
// documented in README.md ("serialine-fmd-upload/1").
//
// A work order is one batch: its upload lists every pack the line
// commissioned (the marketing-authorisation holder uploads packs before
// they are released for sale). A sales order's upload lists the packs of
// its confirmed shipments.
package fmd

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// Format names this upload format and its version.
const Format = "serialine-fmd-upload/1"

// Upload is one upload to the EU hub.
type Upload struct {
	Format  string    `json:"format"`
	Created time.Time `json:"created"`
	// Order is the work order ("work_order") or sales order ("sales_order")
	// the packs come from.
	OrderKind string    `json:"order_kind"`
	Order     string    `json:"order"`
	Products  []Product `json:"products"`
	// Packs is the number of packs in the upload.
	Packs int `json:"packs"`
}

// Product is a product's master data with its batches.
type Product struct {
	// ProductCode is the GTIN (Delegated Regulation 2016/161 art. 4(a)),
	// ProductCodeScheme "GS1".
	ProductCode        string `json:"product_code"`
	ProductCodeScheme  string `json:"product_code_scheme"`
	Name               string `json:"name"`
	PharmaceuticalForm string `json:"pharmaceutical_form,omitempty"`
	Strength           string `json:"strength,omitempty"`
	PackSize           int    `json:"pack_size,omitempty"`
	// NationalCodes are national reimbursement numbers by GS1 AI
	// (710 PZN, 711 CIP, 712 CN, 713 DRN, 714 AIM).
	NationalCodes map[string]string `json:"national_codes,omitempty"`
	Batches       []Batch           `json:"batches"`
}

// Batch is the packs of one batch (lot).
type Batch struct {
	Batch string `json:"batch"`
	// Expiry is YYYY-MM-DD; ExpiryGS1 the YYMMDD printed in AI (17),
	// where DD 00 means the end of the month.
	Expiry    string   `json:"expiry"`
	ExpiryGS1 string   `json:"expiry_gs1"`
	Serials   []string `json:"serials"`
}

// ForWorkOrder builds the upload of a work order: every pack it
// commissioned (in stock, shipped or returned).
func ForWorkOrder(ctx context.Context, st *store.Store, order string) (Upload, error) {
	packs, err := st.WorkOrderPacks(ctx, order)
	if err != nil {
		return Upload{}, err
	}
	return build(ctx, st, "work_order", order, packs)
}

// ForSalesOrder builds the upload of a sales order: the packs of its
// confirmed shipments.
func ForSalesOrder(ctx context.Context, st *store.Store, order string) (Upload, error) {
	packs, err := st.SalesOrderPacks(ctx, order)
	if err != nil {
		return Upload{}, err
	}
	return build(ctx, st, "sales_order", order, packs)
}

func build(ctx context.Context, st *store.Store, kind, order string, packs []store.ShipmentUnit) (Upload, error) {
	up := Upload{Format: Format, Created: time.Now().UTC().Truncate(time.Second), OrderKind: kind, Order: order, Products: []Product{}, Packs: len(packs)}
	prod := map[string]int{}
	batch := map[string]int{} // gtin + lot → index in its product's batches
	for _, u := range packs {
		pi, ok := prod[u.GTIN]
		if !ok {
			p, err := st.Product(ctx, u.GTIN)
			if err != nil {
				return up, fmt.Errorf("EU FMD upload of %s %s: %w", kind, order, err)
			}
			national := map[string]string{}
			for ai, v := range p.National {
				if ai != "715" { // the NDC is American
					national[ai] = v
				}
			}
			if len(national) == 0 {
				national = nil
			}
			pi = len(up.Products)
			prod[u.GTIN] = pi
			up.Products = append(up.Products, Product{ProductCode: p.GTIN, ProductCodeScheme: "GS1", Name: p.Name, PharmaceuticalForm: p.Form,
				Strength: p.Strength, PackSize: p.PackSize, NationalCodes: national, Batches: []Batch{}})
		}
		k := u.GTIN + "\x00" + u.Lot
		bi, ok := batch[k]
		if !ok {
			exp, err := gs1.ExpiryTime(u.Expiry)
			if err != nil {
				return up, fmt.Errorf("EU FMD upload of %s %s: unit %s: expiry: %w", kind, order, wire.UnitRef(u.GTIN, u.Serial), err)
			}
			bi = len(up.Products[pi].Batches)
			batch[k] = bi
			up.Products[pi].Batches = append(up.Products[pi].Batches, Batch{Batch: u.Lot, Expiry: exp.Format(time.DateOnly), ExpiryGS1: u.Expiry, Serials: []string{}})
		}
		b := &up.Products[pi].Batches[bi]
		b.Serials = append(b.Serials, u.Serial)
	}
	sort.Slice(up.Products, func(i, j int) bool { return up.Products[i].ProductCode < up.Products[j].ProductCode })
	return up, nil
}
