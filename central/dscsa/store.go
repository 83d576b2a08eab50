package dscsa

import (
	"context"

	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/epcis"
)

// Store is what the DSCSA exchange needs of central's records (*store.Store
// has all of it): master data for the parties and places, the shipment
// and what it holds, the units and their EPCIS events, and the receipts
// of inbound documents.
type Store interface {
	// epcisdb
	CaptureEPCIS(ctx context.Context, events []epcis.Event, hashIDs []string) (epcisdb.CaptureResult, error)
	QueryEPCIS(ctx context.Context, q epcisdb.EPCISQuery) ([]epcis.Event, error)
	UnitEPCIS(ctx context.Context, gtin, serial string) ([]epcis.Event, error)
	// lineevents
	Container(ctx context.Context, sscc string) (lineevents.Container, error)
	Unit(ctx context.Context, gtin, serial string) (lineevents.Unit, error)
	// master
	LocationOf(ctx context.Context, gln, ext string) (master.Location, error)
	Partner(ctx context.Context, gln string) (master.Partner, error)
	Product(ctx context.Context, gtin string) (master.Product, error)
	Site(ctx context.Context, gln string) (master.Site, error)
	// supply
	ContainerContents(ctx context.Context, sscc string) (supply.ContainerTree, error)
	Receipt(ctx context.Context, id int64) (supply.Receipt, error)
	RecordReceipt(ctx context.Context, in supply.ReceiptInput) (supply.Receipt, error)
	SalesOrder(ctx context.Context, id string) (supply.SalesOrder, error)
	Shipment(ctx context.Context, id string) (supply.Shipment, error)
	ShipmentEPCISEvent(ctx context.Context, id string) (epcis.Event, error)
	ShipmentUnits(ctx context.Context, id string) ([]supply.ShipmentUnit, error)
	UnitTransactions(ctx context.Context, gtin, serial string) ([]supply.UnitTransaction, error)
	WhereIs(ctx context.Context, gtin, serial string) (supply.UnitWhereabouts, error)
}
