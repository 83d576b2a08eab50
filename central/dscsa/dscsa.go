// Package dscsa builds the US Drug Supply Chain Security Act documents of
// a confirmed shipment: the transaction information (TI), the transaction
// history (TH, as the law limits it since 27 Nov 2023), the transaction
// statement (TS), and the EPCIS document US trading partners exchange
// (the shape of GS1 US's DSCSA implementation guideline: a Standard
// Business Document Header, master data for the products and the parties,
// then commissioning, packing and shipping events), and sends that
// document to a partner's endpoint.
//
// Everything comes from central's store (central/store): the shipment and
// exactly the units in it, the sales order, the products, our site and
// the customer.
package dscsa

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// ErrNotShipped is returned for a shipment that is not confirmed yet: its
// DSCSA documents describe a transaction that has happened.
var ErrNotShipped = errors.New("shipment is not confirmed")

// Party is a seller, buyer or location as TI names it.
type Party struct {
	GLN      string            `json:"gln"`
	Name     string            `json:"name"`
	Address  master.Address    `json:"address"`
	Licences map[string]string `json:"licences,omitempty"`
}

// ProductLine is one product and lot of the transaction: §581(26)(A)-(F)
// — name, strength and dosage form, NDC, container size, number of
// containers, lot — with the expiry and the product identifiers
// (§582: NDC + serial + lot + expiry) of every unit.
type ProductLine struct {
	GTIN          string   `json:"gtin"`
	NDC           string   `json:"ndc"`
	Name          string   `json:"name"`
	Strength      string   `json:"strength,omitempty"`
	DosageForm    string   `json:"dosage_form,omitempty"`
	ContainerSize int      `json:"container_size,omitempty"`
	Lot           string   `json:"lot"`
	Expiry        string   `json:"expiry"` // YYYY-MM-DD
	Quantity      int      `json:"quantity"`
	Serials       []string `json:"serials"`
}

// TransactionInformation is TI (§581(26)).
type TransactionInformation struct {
	Shipment        string        `json:"shipment"`
	SalesOrder      string        `json:"sales_order"`
	PONumber        string        `json:"po_number,omitempty"`
	TransactionDate time.Time     `json:"transaction_date"`
	ShipmentDate    time.Time     `json:"shipment_date"`
	Seller          Party         `json:"seller"`
	Buyer           Party         `json:"buyer"`
	ShipFrom        Party         `json:"ship_from"`
	ShipTo          Party         `json:"ship_to"`
	Products        []ProductLine `json:"products"`
}

// TransactionStatement is TS (§581(27)): the seller's statement, dated.
type TransactionStatement struct {
	Seller    string    `json:"seller"`
	Date      time.Time `json:"date"`
	Statement string    `json:"statement"`
	Clauses   []string  `json:"clauses"`
}

// TransactionHistory is TH. Since 27 Nov 2023 §582(k)(1) no longer
// requires TH; we keep it as the TI and TS of each prior transaction. As
// the manufacturer we are the first owner: the history is our own
// transaction, nothing before it.
type TransactionHistory struct {
	Note         string             `json:"note"`
	Transactions []HistoryEntryData `json:"transactions"`
}

// HistoryEntryData is one transaction of the history.
type HistoryEntryData struct {
	Seller          Party     `json:"seller"`
	Buyer           Party     `json:"buyer"`
	TransactionDate time.Time `json:"transaction_date"`
	Quantity        int       `json:"quantity"`
	Statement       string    `json:"statement"`
}

// Package is what a shipment carries under the DSCSA.
type Package struct {
	TI TransactionInformation `json:"transaction_information"`
	TH TransactionHistory     `json:"transaction_history"`
	TS TransactionStatement   `json:"transaction_statement"`
}

// Statement is the transaction statement's text; Clauses are the seven
// points of §581(27)(A)-(G) it affirms.
const Statement = "Seller has complied with each applicable subsection of FDCA Sec. 581(27)(A)-(G)."

// Clauses are §581(27)(A)-(G), as the statement affirms them.
var Clauses = []string{
	"(A) is authorized as required under the Drug Supply Chain Security Act;",
	"(B) received the product from a person that is authorized as required under the Drug Supply Chain Security Act;",
	"(C) received transaction information and a transaction statement from the prior owner of the product, as required under section 582;",
	"(D) did not knowingly ship a suspect or illegitimate product;",
	"(E) had systems and processes in place to comply with verification requirements under section 582;",
	"(F) did not knowingly provide false transaction information; and",
	"(G) did not knowingly alter the transaction history.",
}

// THNote says how the transaction history is read; see TransactionHistory.
const THNote = "Transaction history under FDCA Sec. 582 is no longer required from 27 Nov 2023 (Sec. 582(k)(1)); " +
	"it is given here as the manufacturer's own transaction information and statement: the product had no prior owner."

// shipped is everything the documents are made of, read from the store.
type shipped struct {
	sh       supply.Shipment
	order    supply.SalesOrder
	units    []supply.ShipmentUnit
	products map[string]master.Product
	seller   Party // our site
	from     Party // ship-from location
	buyer    Party
	// The GS1 Company Prefix lengths of our site's and the buyer's GLN
	// (0: unknown), to write them as SGLNs.
	sellerGCP, buyerGCP int
	// version is the EPCIS version the buyer takes.
	version string
}

func load(ctx context.Context, st Store, id string) (*shipped, error) {
	sh, err := st.Shipment(ctx, id)
	if err != nil {
		return nil, err
	}
	if sh.State != supply.ShipmentShipped || sh.ShippedAt == nil {
		return nil, fmt.Errorf("shipment %s: %w (it is %s)", id, ErrNotShipped, sh.State)
	}
	d := &shipped{sh: sh, products: map[string]master.Product{}}
	if d.order, err = st.SalesOrder(ctx, sh.SalesOrder); err != nil {
		return nil, fmt.Errorf("shipment %s: %w", id, err)
	}
	if d.units, err = st.ShipmentUnits(ctx, id); err != nil {
		return nil, err
	}
	for _, u := range d.units {
		if _, ok := d.products[u.GTIN]; ok {
			continue
		}
		p, err := st.Product(ctx, u.GTIN)
		if err != nil {
			return nil, fmt.Errorf("shipment %s: %w", id, err)
		}
		d.products[u.GTIN] = p
	}
	// Ship-from: a location of ours (its site sells) or the site itself.
	siteGLN, fromName, fromAddr := sh.SourceGLN, "", master.Address{}
	if loc, err := st.LocationOf(ctx, sh.SourceGLN, sh.SourceExt); err == nil {
		siteGLN, fromName, fromAddr = loc.SiteGLN, loc.Name, loc.Address
	} else if !errors.Is(err, sqldb.ErrNotFound) {
		return nil, fmt.Errorf("shipment %s: %w", id, err)
	}
	site, err := st.Site(ctx, siteGLN)
	if err != nil {
		return nil, fmt.Errorf("shipment %s: seller: %w", id, err)
	}
	d.seller = Party{GLN: site.GLN, Name: site.Name, Address: site.Address}
	d.from = Party{GLN: sh.SourceGLN, Name: site.Name, Address: site.Address}
	if fromName != "" {
		d.from.Name = site.Name + ", " + fromName
		if !fromAddr.IsZero() {
			d.from.Address = fromAddr
		}
	}
	d.sellerGCP = site.CompanyPrefixLen
	if d.sellerGCP == 0 {
		d.sellerGCP = prefixFromProducts(site.GLN, d.products)
	}
	cust, err := st.Partner(ctx, sh.DestGLN)
	if err != nil {
		return nil, fmt.Errorf("shipment %s: buyer: %w", id, err)
	}
	d.buyer = Party{GLN: cust.GLN, Name: cust.Name, Address: cust.Address, Licences: cust.Licences}
	d.buyerGCP, d.version = cust.CompanyPrefixLen, cust.EPCISVersion
	return d, nil
}

// Build makes the TI, TH and TS of a confirmed shipment. The product lines
// list exactly the shipment's units, by GTIN and lot.
func Build(ctx context.Context, st Store, shipment string) (Package, error) {
	d, err := load(ctx, st, shipment)
	if err != nil {
		return Package{}, err
	}
	return d.pkg()
}

func (d *shipped) pkg() (Package, error) {
	at := *d.sh.ShippedAt
	ti := TransactionInformation{Shipment: d.sh.ID, SalesOrder: d.order.ID, PONumber: d.order.PONumber,
		TransactionDate: at, ShipmentDate: at, Seller: d.seller, Buyer: d.buyer, ShipFrom: d.from, ShipTo: d.buyer}
	idx := map[string]int{}
	for _, u := range d.units {
		k := u.GTIN + "\x00" + u.Lot
		i, ok := idx[k]
		if !ok {
			p := d.products[u.GTIN]
			exp, err := gs1.ExpiryTime(u.Expiry)
			if err != nil {
				return Package{}, fmt.Errorf("unit %s: expiry: %w", wire.UnitRef(u.GTIN, u.Serial), err)
			}
			i = len(ti.Products)
			idx[k] = i
			ti.Products = append(ti.Products, ProductLine{GTIN: u.GTIN, NDC: p.NDC, Name: p.Name, Strength: p.Strength, DosageForm: p.Form,
				ContainerSize: p.PackSize, Lot: u.Lot, Expiry: exp.Format(time.DateOnly)})
		}
		ti.Products[i].Quantity++
		ti.Products[i].Serials = append(ti.Products[i].Serials, u.Serial)
	}
	total := len(d.units)
	ts := TransactionStatement{Seller: d.seller.Name, Date: at, Statement: Statement, Clauses: slices.Clone(Clauses)}
	th := TransactionHistory{Note: THNote, Transactions: []HistoryEntryData{{Seller: d.seller, Buyer: d.buyer, TransactionDate: at,
		Quantity: total, Statement: Statement}}}
	return Package{TI: ti, TH: th, TS: ts}, nil
}

// Builder builds a shipment's DSCSA document for the outbound queue
// (outbound.Builder of kind store.EndpointDSCSA): ref is the shipment.
type Builder struct {
	Store Store
}

// Build makes the document the shipment's customer is sent.
func (b Builder) Build(ctx context.Context, shipment, partner string) (outbound.Document, error) {
	sh, err := b.Store.Shipment(ctx, shipment)
	if err != nil {
		return outbound.Document{}, err
	}
	if sh.DestGLN != partner {
		return outbound.Document{}, fmt.Errorf("shipment %s goes to %s, not to %s", shipment, sh.DestGLN, partner)
	}
	doc, err := XML(ctx, b.Store, shipment, "")
	if err != nil {
		return outbound.Document{}, err
	}
	return outbound.Document{Body: doc.Body, ContentType: "application/xml", ID: doc.ID}, nil
}
