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
	"sort"
	"strings"
	"time"

	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/shared/epcis"
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
	Address  string            `json:"address"`
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
	sh       store.Shipment
	order    store.SalesOrder
	units    []store.ShipmentUnit
	products map[string]store.Product
	seller   Party // our site
	from     Party // ship-from location
	buyer    Party
}

func load(ctx context.Context, st *store.Store, id string) (*shipped, error) {
	sh, err := st.Shipment(ctx, id)
	if err != nil {
		return nil, err
	}
	if sh.State != store.ShipmentShipped || sh.ShippedAt == nil {
		return nil, fmt.Errorf("shipment %s: %w (it is %s)", id, ErrNotShipped, sh.State)
	}
	d := &shipped{sh: sh, products: map[string]store.Product{}}
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
	siteGLN, fromName := sh.SourceGLN, ""
	if loc, err := st.LocationOf(ctx, sh.SourceGLN, sh.SourceExt); err == nil {
		siteGLN, fromName = loc.SiteGLN, loc.Name
	} else if !errors.Is(err, store.ErrNotFound) {
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
	}
	cust, err := st.Partner(ctx, sh.DestGLN)
	if err != nil {
		return nil, fmt.Errorf("shipment %s: buyer: %w", id, err)
	}
	d.buyer = Party{GLN: cust.GLN, Name: cust.Name, Address: cust.Address, Licences: cust.Licences}
	return d, nil
}

// Build makes the TI, TH and TS of a confirmed shipment. The product lines
// list exactly the shipment's units, by GTIN and lot.
func Build(ctx context.Context, st *store.Store, shipment string) (Package, error) {
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

// Vocabulary types and CBV master-data attributes of the guideline.
const (
	vtypeEPCClass = "urn:epcglobal:epcis:vtype:EPCClass"
	vtypeLocation = "urn:epcglobal:epcis:vtype:Location"
	mda           = "urn:epcglobal:cbv:mda#"
)

// Document builds the shipment's EPCIS document: header (sender: our
// site, receiver: the customer, instance: the shipment id), master data
// (each product class with its NDC, name, form, strength and pack size;
// seller, ship-from, buyer and ship-to, by the ids the shipping event
// uses, with names and addresses), then for exactly the
// shipped units a commissioning event per GTIN and lot (ILMD lot and
// expiry), a packing event per container in the shipment, and the
// shipping event stored at confirmation.
func Document(ctx context.Context, st *store.Store, shipment string) (epcis.Document, error) {
	d, err := load(ctx, st, shipment)
	if err != nil {
		return epcis.Document{}, err
	}
	ship, err := st.ShipmentEPCISEvent(ctx, shipment)
	if err != nil {
		return epcis.Document{}, err
	}
	doc := epcis.Document{CreationDate: time.Now().UTC().Truncate(time.Millisecond),
		Header: &epcis.Header{Sender: d.seller.GLN, Receiver: d.buyer.GLN, InstanceIdentifier: d.sh.ID}}
	// Master data.
	var classes []epcis.VocabularyElement
	gtins := make([]string, 0, len(d.products))
	for g := range d.products {
		gtins = append(gtins, g)
	}
	sort.Strings(gtins)
	for _, g := range gtins {
		p := d.products[g]
		id, err := classURI(p)
		if err != nil {
			return doc, err
		}
		attrs := []epcis.Attribute{
			{ID: mda + "regulatedProductName", Value: p.Name},
			{ID: mda + "manufacturerOfTradeItemPartyName", Value: d.seller.Name},
		}
		if p.NDC != "" {
			attrs = append(attrs, epcis.Attribute{ID: mda + "additionalTradeItemIdentification", Value: ndc11(p.NDC)},
				epcis.Attribute{ID: mda + "additionalTradeItemIdentificationTypeCode", Value: "FDA_NDC_11"})
		}
		if p.Form != "" {
			attrs = append(attrs, epcis.Attribute{ID: mda + "dosageFormType", Value: p.Form})
		}
		if p.Strength != "" {
			attrs = append(attrs, epcis.Attribute{ID: mda + "strengthDescription", Value: p.Strength})
		}
		if p.PackSize > 0 {
			attrs = append(attrs, epcis.Attribute{ID: mda + "netContentDescription", Value: fmt.Sprintf("%d", p.PackSize)})
		}
		classes = append(classes, epcis.VocabularyElement{ID: id, Attributes: attrs})
	}
	// The parties and places by the ids the shipping event names them.
	var places []epcis.VocabularyElement
	for _, p := range []struct {
		id string
		Party
	}{
		{"https://id.gs1.org/417/" + d.seller.GLN, d.seller}, {ship.ReadPoint, d.from},
		{"https://id.gs1.org/417/" + d.buyer.GLN, d.buyer}, {"https://id.gs1.org/414/" + d.buyer.GLN, d.buyer},
	} {
		attrs := []epcis.Attribute{{ID: mda + "name", Value: p.Name}}
		if p.Address != "" {
			attrs = append(attrs, epcis.Attribute{ID: mda + "streetAddressOne", Value: p.Address})
		}
		places = append(places, epcis.VocabularyElement{ID: p.id, Attributes: attrs})
	}
	doc.MasterData = []epcis.Vocabulary{{Type: vtypeEPCClass, Elements: classes}, {Type: vtypeLocation, Elements: places}}

	// Commissioning, per GTIN and lot.
	type group struct {
		first   time.Time
		gtin    string
		lot     string
		expiry  string
		epcList []string
	}
	var groups []*group
	byKey := map[string]*group{}
	unitEPC := map[string]string{} // "(01)…(21)…" → SGTIN URI
	for _, u := range d.units {
		p := d.products[u.GTIN]
		epc, err := gs1.SGTINURI(gs1.GTIN(u.GTIN), u.Serial, p.CompanyPrefixLen)
		if err != nil {
			return doc, fmt.Errorf("unit %s: %w", wire.UnitRef(u.GTIN, u.Serial), err)
		}
		unitEPC[wire.UnitRef(u.GTIN, u.Serial)] = epc
		k := u.GTIN + "\x00" + u.Lot
		g := byKey[k]
		if g == nil {
			g = &group{first: u.Commissioned, gtin: u.GTIN, lot: u.Lot, expiry: u.Expiry}
			byKey[k] = g
			groups = append(groups, g)
		}
		if u.Commissioned.Before(g.first) {
			g.first = u.Commissioned
		}
		g.epcList = append(g.epcList, epc)
	}
	for _, g := range groups {
		exp, err := gs1.ExpiryTime(g.expiry)
		if err != nil {
			return doc, err
		}
		doc.Events = append(doc.Events, epcis.Event{Type: epcis.ObjectEvent, Action: epcis.ActionAdd, EventTime: g.first, EventTimeZoneOffset: "+00:00",
			EPCList: g.epcList, BizStep: "commissioning", Disposition: "active", ReadPoint: ship.ReadPoint,
			ILMD: map[string]any{"cbvmda:lotNumber": g.lot, "cbvmda:itemExpirationDate": exp.Format(time.DateOnly)}})
	}
	// Packing: every container in the shipment, innermost first.
	var packing []epcis.Event
	for _, p := range d.sh.Picks {
		if p.SSCC == "" {
			continue
		}
		tree, err := st.ContainerContents(ctx, p.SSCC)
		if err != nil {
			return doc, err
		}
		evs, err := packingEvents(ctx, st, tree, unitEPC, d.products, ship.ReadPoint)
		if err != nil {
			return doc, err
		}
		packing = append(packing, evs...)
	}
	doc.Events = append(doc.Events, packing...)
	doc.Events = append(doc.Events, ship)
	return doc, nil
}

// packingEvents writes an AggregationEvent ADD packing per container of
// the tree, children before parents, at the container's last packing.
func packingEvents(ctx context.Context, st *store.Store, t store.ContainerTree, unitEPC map[string]string, products map[string]store.Product, readPoint string) ([]epcis.Event, error) {
	var out []epcis.Event
	gcpOf := func(t store.ContainerTree) int {
		for k := range t.ByGTINLot {
			if p, ok := products[strings.SplitN(k, "/", 2)[0]]; ok {
				return p.CompanyPrefixLen
			}
		}
		return 7
	}
	gcp := gcpOf(t)
	e := epcis.Event{Type: epcis.AggregationEvent, Action: epcis.ActionAdd, EventTimeZoneOffset: "+00:00",
		BizStep: "packing", Disposition: "container_closed", ReadPoint: readPoint}
	for _, c := range t.Children {
		evs, err := packingEvents(ctx, st, c, unitEPC, products, readPoint)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		u, err := gs1.SSCCURI(gs1.SSCC(c.SSCC), gcpOf(c))
		if err != nil {
			return nil, err
		}
		e.ChildEPCs = append(e.ChildEPCs, u)
	}
	for _, u := range t.Units {
		epc, ok := unitEPC[u]
		if !ok {
			return nil, fmt.Errorf("container %s: unit %s is not in the shipment", t.SSCC, u)
		}
		e.ChildEPCs = append(e.ChildEPCs, epc)
	}
	parent, err := gs1.SSCCURI(gs1.SSCC(t.SSCC), gcp)
	if err != nil {
		return nil, err
	}
	c, err := st.Container(ctx, t.SSCC)
	if err != nil {
		return nil, err
	}
	e.ParentID, e.EventTime = parent, c.UpdatedAt
	return append(out, e), nil
}

// classURI is the product class as the guideline names it: the SGTIN
// pattern of the GTIN (urn:epc:idpat:sgtin:CompanyPrefix.ItemRef.*).
func classURI(p store.Product) (string, error) {
	u, err := gs1.SGTINURI(gs1.GTIN(p.GTIN), "0", p.CompanyPrefixLen)
	if err != nil {
		return "", fmt.Errorf("product %s: %w", p.GTIN, err)
	}
	return strings.Replace(strings.TrimSuffix(u, ".0"), "urn:epc:id:sgtin:", "urn:epc:idpat:sgtin:", 1) + ".*", nil
}

// ndc11 writes an NDC in the 11-digit 5-4-2 form billing and the
// guideline use: the short segment is padded with a leading zero.
func ndc11(ndc string) string {
	parts := strings.Split(ndc, "-")
	if len(parts) != 3 {
		return strings.ReplaceAll(ndc, "-", "")
	}
	pad := func(s string, n int) string { return strings.Repeat("0", max(0, n-len(s))) + s }
	return pad(parts[0], 5) + "-" + pad(parts[1], 4) + "-" + pad(parts[2], 2)
}

// XML writes the shipment's EPCIS document as XML (what partners exchange).
func XML(ctx context.Context, st *store.Store, shipment string) ([]byte, error) {
	d, err := Document(ctx, st, shipment)
	if err != nil {
		return nil, err
	}
	return epcis.MarshalXML(d)
}

// Builder builds a shipment's DSCSA document for the outbound queue
// (outbound.Builder of kind store.EndpointDSCSA): ref is the shipment.
type Builder struct {
	Store *store.Store
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
	d, err := Document(ctx, b.Store, shipment)
	if err != nil {
		return outbound.Document{}, err
	}
	x, err := epcis.MarshalXML(d)
	if err != nil {
		return outbound.Document{}, err
	}
	return outbound.Document{Body: x, ContentType: "application/xml", ID: d.Header.InstanceIdentifier}, nil
}
