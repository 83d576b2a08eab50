// Package fmd builds the EU Falsified Medicines Directive data set that
// central sends the EU hub (EMVS) through the on-boarding partner's
// gateway: a product code version's master data (Delegated Regulation
// 2016/161 art. 33(2)), a batch's pack data (a work order, after
// release), and the pack status updates of art. 40 (a recall,
// withdrawal, theft or destruction decommissions the packs; a reversal
// reactivates them). One versioned JSON format, "serialine-eu-fmd/2",
// whose JSON Schema is docs/schemas/eu-fmd-dataset.schema.json; what
// each element is and where the rules come from: docs/eu-fmd.md.
//
// The documents go out through the persistent outbound queue (kind
// "fmd": Builder), and are downloadable per product, batch and recall
// from the API.
package fmd

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// Format names the data set's format and version; an incompatible change
// gets a new version.
const Format = "serialine-eu-fmd/2"

// Document types.
const (
	TypeProduct = "product"
	TypeBatch   = "batch"
	TypeStatus  = "status"
	// TypeShipped lists the uploaded packs a sales order shipped (for our
	// records; not sent to the hub).
	TypeShipped = "shipped"
)

// Document is one data set document.
type Document struct {
	Format  string    `json:"format"`
	Type    string    `json:"type"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Product *Product  `json:"product,omitempty"`
	Batch   *Batch    `json:"batch,omitempty"`
	Status  *Status   `json:"status,omitempty"`
	// Shipped: the sales order and its batches.
	SalesOrder string  `json:"sales_order,omitempty"`
	Batches    []Batch `json:"batches,omitempty"`
}

// Party is a named party with its address.
type Party struct {
	GLN     string  `json:"gln"`
	Name    string  `json:"name"`
	Address Address `json:"address"`
}

// Address is a postal address.
type Address struct {
	Street     string `json:"street"`
	City       string `json:"city"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Product is a product code version's master data (art. 33(2)).
type Product struct {
	ProductCode        string   `json:"product_code"`
	CodingScheme       string   `json:"coding_scheme"`
	Version            int      `json:"version"`
	Name               string   `json:"name"`
	CommonName         string   `json:"common_name"`
	PharmaceuticalForm string   `json:"pharmaceutical_form"`
	Strength           string   `json:"strength"`
	PackType           string   `json:"pack_type"`
	PackSize           int      `json:"pack_size"`
	PackUnit           string   `json:"pack_unit,omitempty"`
	ATCCodes           []string `json:"atc_codes,omitempty"`
	Article57Code      string   `json:"article57_code,omitempty"`
	Manufacturer       Party    `json:"manufacturer"`
	Markets            []Market `json:"markets"`
}

// Market is a target Member State with its national code, MAH and
// designated wholesalers.
type Market struct {
	Country        string  `json:"country"`
	NationalCode   string  `json:"national_code,omitempty"`
	NationalCodeAI string  `json:"national_code_ai,omitempty"`
	MAH            Party   `json:"mah"`
	Wholesalers    []Party `json:"wholesalers"`
}

// Batch is a batch's pack data: the unique identifiers' elements
// (art. 33(2)(a)) of every pack.
type Batch struct {
	ProductCode    string `json:"product_code"`
	CodingScheme   string `json:"coding_scheme"`
	ProductVersion int    `json:"product_version"`
	Batch          string `json:"batch"`
	// Expiry is YYYY-MM-DD; ExpiryGS1 the YYMMDD printed in AI (17), DD
	// 00 meaning the month's end.
	Expiry    string   `json:"expiry"`
	ExpiryGS1 string   `json:"expiry_gs1"`
	WorkOrder string   `json:"work_order,omitempty"`
	Packs     int      `json:"packs"`
	Serials   []string `json:"serials"`
}

// Status is an art. 40 status update of packs.
type Status struct {
	ID int64 `json:"id"`
	// Kind is recall, withdrawal, theft, destruction or reversal.
	Kind string `json:"kind"`
	// State is what the packs become: decommissioned, or active again
	// (a reversal); Reason why (recalled, withdrawn, stolen, destroyed;
	// a reversal repeats the reversed update's).
	State        string   `json:"state"`
	Reason       string   `json:"reason"`
	Note         string   `json:"note"`
	ProductCode  string   `json:"product_code"`
	CodingScheme string   `json:"coding_scheme"`
	Batch        string   `json:"batch,omitempty"`
	Recall       string   `json:"recall,omitempty"`
	Reverses     *int64   `json:"reverses,omitempty"`
	Markets      []string `json:"markets,omitempty"`
	Count        int      `json:"count"`
	Packs        []Pack   `json:"packs"`
}

// Pack is one pack of a status update.
type Pack struct {
	Batch     string `json:"batch"`
	ExpiryGS1 string `json:"expiry_gs1"`
	Serial    string `json:"serial"`
}

// Store is what the data set needs of central's store.
type Store interface {
	Product(ctx context.Context, gtin string) (master.Product, error)
	FMDProduct(ctx context.Context, gtin string, version int) (eufmd.FMDProduct, error)
	FMDProblems(ctx context.Context, p eufmd.FMDProduct) ([]*sqldb.ValidationError, error)
	FMDParties(ctx context.Context, glns []string) (map[string]eufmd.FMDParty, error)
	FMDBatchOf(ctx context.Context, order string) (eufmd.FMDBatch, error)
	Order(ctx context.Context, id string) (orders.WorkOrder, error)
	WorkOrderPacks(ctx context.Context, order string) ([]supply.ShipmentUnit, error)
	SalesOrderPacks(ctx context.Context, order string) ([]supply.ShipmentUnit, error)
	FMDStatus(ctx context.Context, id int64) (eufmd.FMDStatusUpdate, error)
	FMDStatusPacks(ctx context.Context, id int64, fn func(eufmd.FMDPack) error) error
}

func newDoc(typ string) Document {
	return Document{Format: Format, Type: typ, ID: newUUID(), Created: time.Now().UTC().Truncate(time.Second)}
}

// ProductDocument is the master data of a product code version (0: the
// current one), checked first: every refusal is a *sqldb.ValidationError
// naming its field.
func ProductDocument(ctx context.Context, st Store, gtin string, version int) (Document, error) {
	fp, err := st.FMDProduct(ctx, gtin, version)
	if err != nil {
		return Document{}, err
	}
	ps, err := st.FMDProblems(ctx, fp)
	if err != nil {
		return Document{}, err
	}
	if len(ps) > 0 {
		return Document{}, ps[0]
	}
	p, err := st.Product(ctx, gtin)
	if err != nil {
		return Document{}, err
	}
	glns := []string{fp.Manufacturer}
	for _, m := range fp.Markets {
		glns = append(glns, m.MAH)
		glns = append(glns, m.Wholesalers...)
	}
	parties, err := st.FMDParties(ctx, glns)
	if err != nil {
		return Document{}, err
	}
	party := func(g string) Party {
		p := parties[g]
		a := p.Address
		return Party{GLN: p.GLN, Name: p.Name, Address: Address{Street: a.Street, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}}
	}
	out := Product{ProductCode: p.GTIN, CodingScheme: fp.CodingScheme, Version: fp.Version, Name: p.Name, CommonName: fp.CommonName,
		PharmaceuticalForm: p.Form, Strength: p.Strength, PackType: fp.PackType, PackSize: p.PackSize, PackUnit: p.PackUnit,
		ATCCodes: fp.ATCCodes, Article57Code: fp.Article57Code, Manufacturer: party(fp.Manufacturer), Markets: []Market{}}
	for _, m := range fp.Markets {
		mk := Market{Country: m.Country, NationalCode: m.NationalCode, MAH: party(m.MAH), Wholesalers: []Party{}}
		if m.NationalCode != "" {
			mk.NationalCodeAI = eufmd.NationalCodeAI(m.Country)
		}
		for _, w := range m.Wholesalers {
			mk.Wholesalers = append(mk.Wholesalers, party(w))
		}
		out.Markets = append(out.Markets, mk)
	}
	d := newDoc(TypeProduct)
	d.Product = &out
	return d, nil
}

// checkPacks is the hub's rule on the pack data: each serial numeric or
// alphanumeric of at most 20 characters (art. 4(b)).
func checkPacks(rec string, serials []string) error {
	for i, s := range serials {
		if s == "" || len(s) > 20 || strings.IndexFunc(s, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z')
		}) >= 0 {
			return &sqldb.ValidationError{Record: rec, Field: "serials[" + strconv.Itoa(i) + "]",
				Rule: fmt.Sprintf("%q: an EU FMD serial is 1 to 20 digits or letters (Delegated Regulation 2016/161 art. 4(b))", s)}
		}
	}
	return nil
}

// batches groups packs by product and lot, serials sorted.
func batches(packs []supply.ShipmentUnit, version func(gtin string) int) ([]Batch, error) {
	var out []Batch
	idx := map[string]int{}
	for _, u := range packs {
		k := u.GTIN + "\x00" + u.Lot
		i, ok := idx[k]
		if !ok {
			exp, err := gs1.ExpiryTime(u.Expiry)
			if err != nil {
				return nil, fmt.Errorf("pack %s/%s: expiry: %w", u.GTIN, u.Serial, err)
			}
			i = len(out)
			idx[k] = i
			out = append(out, Batch{ProductCode: u.GTIN, CodingScheme: eufmd.CodingSchemeGTIN, ProductVersion: version(u.GTIN), Batch: u.Lot,
				Expiry: exp.Format(time.DateOnly), ExpiryGS1: u.Expiry, Serials: []string{}})
		}
		out[i].Serials = append(out[i].Serials, u.Serial)
	}
	for i := range out {
		slices.Sort(out[i].Serials)
		out[i].Packs = len(out[i].Serials)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ProductCode != out[j].ProductCode {
			return out[i].ProductCode < out[j].ProductCode
		}
		return out[i].Batch < out[j].Batch
	})
	return out, nil
}

// BatchDocument is a work order's batch and pack data: every pack it
// commissioned that is still a pack (in stock, shipped or returned),
// under the product code version the batch was uploaded with (or the
// current one, before its upload). The order must be released and the
// product an EU FMD one with valid master data; refusals name the field.
func BatchDocument(ctx context.Context, st Store, order string) (Document, error) {
	o, err := st.Order(ctx, order)
	if err != nil {
		return Document{}, err
	}
	rec := "EU FMD batch of work order " + order
	if o.State == wire.OrderStateCreated {
		return Document{}, fmt.Errorf("%s: %w: the order is not released", rec, sqldb.ErrConflict)
	}
	version := 0
	if b, err := st.FMDBatchOf(ctx, order); err == nil {
		version = b.Version
	} else if !errors.Is(err, sqldb.ErrNotFound) {
		return Document{}, err
	}
	fp, err := st.FMDProduct(ctx, o.GTIN, version)
	if errors.Is(err, sqldb.ErrNotFound) {
		return Document{}, &sqldb.ValidationError{Record: rec, Field: "eu_fmd", Rule: fmt.Sprintf("product %s has no EU FMD master data", o.GTIN)}
	}
	if err != nil {
		return Document{}, err
	}
	if ps, err := st.FMDProblems(ctx, fp); err != nil {
		return Document{}, err
	} else if len(ps) > 0 {
		return Document{}, ps[0]
	}
	packs, err := st.WorkOrderPacks(ctx, order)
	if err != nil {
		return Document{}, err
	}
	bs, err := batches(packs, func(string) int { return fp.Version })
	if err != nil {
		return Document{}, err
	}
	if len(bs) == 0 {
		return Document{}, &sqldb.ValidationError{Record: rec, Field: "packs", Rule: "the batch has no packs (nothing commissioned yet)"}
	}
	if err := checkPacks(rec, bs[0].Serials); err != nil {
		return Document{}, err
	}
	bs[0].WorkOrder = order
	d := newDoc(TypeBatch)
	d.Batch = &bs[0]
	return d, nil
}

// ShippedDocument lists the packs a sales order's confirmed shipments
// carried, by batch (our record of which uploaded packs left with it).
func ShippedDocument(ctx context.Context, st Store, order string) (Document, error) {
	packs, err := st.SalesOrderPacks(ctx, order)
	if err != nil {
		return Document{}, err
	}
	versions := map[string]int{} // the current version (0: none)
	for _, u := range packs {
		if _, ok := versions[u.GTIN]; ok {
			continue
		}
		versions[u.GTIN] = 0
		if fp, err := st.FMDProduct(ctx, u.GTIN, 0); err == nil {
			versions[u.GTIN] = fp.Version
		}
	}
	bs, err := batches(packs, func(g string) int { return versions[g] })
	if err != nil {
		return Document{}, err
	}
	d := newDoc(TypeShipped)
	d.SalesOrder, d.Batches = order, bs
	if d.Batches == nil {
		d.Batches = []Batch{}
	}
	return d, nil
}

// statusReason is what each kind of update makes of its packs.
var statusReason = map[string]string{eufmd.FMDRecall: "recalled", eufmd.FMDWithdrawal: "withdrawn", eufmd.FMDTheft: "stolen", eufmd.FMDDestruction: "destroyed"}

// StatusDocument is an art. 40 status update with every pack it covers.
func StatusDocument(ctx context.Context, st Store, id int64) (Document, error) {
	u, err := st.FMDStatus(ctx, id)
	if err != nil {
		return Document{}, err
	}
	s := Status{ID: u.ID, Kind: u.Kind, State: "decommissioned", Reason: statusReason[u.Kind], Note: u.Reason, ProductCode: u.GTIN,
		CodingScheme: eufmd.CodingSchemeGTIN, Batch: u.Lot, Recall: u.RecallID, Reverses: u.Reverses, Markets: u.Markets, Packs: []Pack{}}
	if u.Kind == eufmd.FMDReversal {
		s.State = "active"
		orig, err := st.FMDStatus(ctx, *u.Reverses)
		if err != nil {
			return Document{}, err
		}
		s.Reason = statusReason[orig.Kind]
	}
	err = st.FMDStatusPacks(ctx, id, func(p eufmd.FMDPack) error {
		s.Packs = append(s.Packs, Pack{Batch: p.Lot, ExpiryGS1: p.Expiry, Serial: p.Serial})
		return nil
	})
	if err != nil {
		return Document{}, err
	}
	s.Count = len(s.Packs)
	d := newDoc(TypeStatus)
	d.Status = &s
	return d, nil
}

// Builder builds the fmd documents of the outbound queue
// (outbound.Builder of kind store.EndpointFMD): ref is
// store.FMDProductRef, FMDBatchRef or FMDStatusRef.
type Builder struct {
	Store Store
}

// Build makes the document a queued message sends.
func (b Builder) Build(ctx context.Context, ref, _ string) (outbound.Document, error) {
	var d Document
	var err error
	switch kind, rest, _ := strings.Cut(ref, ":"); kind {
	case "product":
		gtin, v, _ := strings.Cut(rest, ":")
		n, cerr := strconv.Atoi(v)
		if cerr != nil {
			return outbound.Document{}, fmt.Errorf("fmd ref %q: version: %w", ref, cerr)
		}
		d, err = ProductDocument(ctx, b.Store, gtin, n)
	case "batch":
		d, err = BatchDocument(ctx, b.Store, rest)
	case "status":
		id, cerr := strconv.ParseInt(rest, 10, 64)
		if cerr != nil {
			return outbound.Document{}, fmt.Errorf("fmd ref %q: %w", ref, cerr)
		}
		d, err = StatusDocument(ctx, b.Store, id)
	default:
		return outbound.Document{}, fmt.Errorf("fmd ref %q: not a product, batch or status", ref)
	}
	if err != nil {
		return outbound.Document{}, err
	}
	body, err := Marshal(d)
	if err != nil {
		return outbound.Document{}, err
	}
	return outbound.Document{Body: body, ContentType: "application/json", ID: d.ID}, nil
}

// newUUID is a random (version 4) UUID: the document's id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Marshal writes a document as JSON (indented: the hub's gateways and
// people read it).
func Marshal(d Document) ([]byte, error) { return json.MarshalIndent(d, "", "  ") }
