package dscsa

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// Vocabulary types and CBV master-data attributes of the guideline.
const (
	vtypeEPCClass = "urn:epcglobal:epcis:vtype:EPCClass"
	vtypeLocation = "urn:epcglobal:epcis:vtype:Location"
	mda           = "urn:epcglobal:cbv:mda#"
)

// Shipping is a shipment's DSCSA EPCIS document before it is written in
// one version or the other: the routing header, the master data and
// the events, as GS1 US's guideline wants them.
type Shipping struct {
	// Sender and Receiver are the GLNs of the SBDH: our site and the
	// customer.
	Sender, Receiver string
	// InstanceID identifies this document (a UUID, new per document).
	InstanceID string
	Created    time.Time
	MasterData []epcis.Vocabulary
	// Events: commissioning and packing in time order, then shipping.
	Events []epcis.Event
	// Version is the customer's EPCIS version ("1.2" or "2.0").
	Version string
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// prefixFromProducts is the company prefix length of a GLN of ours: that
// of a product whose GTIN starts with the same company prefix, else 0.
func prefixFromProducts(gln string, products map[string]master.Product) int {
	for _, p := range products {
		n := p.CompanyPrefixLen
		if n > 0 && len(p.GTIN) > n && strings.HasPrefix(gln, p.GTIN[1:1+n]) {
			return n
		}
	}
	return 0
}

// glnIDs maps the GS1 Digital Link URIs of a party (AI 417) or location
// (AI 414) to the SGLN EPC URI partners expect (urn:epc:id:sgln:…),
// where the GLN's company prefix length is known; else the Digital Link
// stays (it names the same GLN).
type glnIDs map[string]int

func (g glnIDs) id(uri string) string {
	for _, ai := range []string{"/417/", "/414/"} {
		if _, gln, ok := strings.Cut(uri, "https://id.gs1.org"+ai); ok {
			if n := g[gln]; n > 0 {
				if u, err := gs1.SGLNURI(gs1.GLN(gln), "0", n); err == nil {
					return u
				}
			}
		}
	}
	return uri
}

// Shipment builds the shipment's DSCSA EPCIS document (see Shipping and
// the package README): the SBDH sender is our site, the receiver the
// customer; master data for every product and every party and place the
// shipping event names; the units' commissioning and their containers'
// packing as the repository holds them, then the shipping event stored
// at confirmation.
func Shipment(ctx context.Context, st Store, shipment string) (*Shipping, error) {
	d, err := load(ctx, st, shipment)
	if err != nil {
		return nil, err
	}
	ship, err := st.ShipmentEPCISEvent(ctx, shipment)
	if err != nil {
		return nil, err
	}
	ids := glnIDs{d.seller.GLN: d.sellerGCP, d.buyer.GLN: d.buyerGCP}
	for i := range ship.SourceList {
		ship.SourceList[i].Value = ids.id(ship.SourceList[i].Value)
	}
	for i := range ship.DestinationList {
		ship.DestinationList[i].Value = ids.id(ship.DestinationList[i].Value)
	}
	doc := &Shipping{Sender: d.seller.GLN, Receiver: d.buyer.GLN, InstanceID: newUUID(),
		Created: time.Now().UTC().Truncate(time.Millisecond), Version: d.version}
	if doc.MasterData, err = d.masterData(ship); err != nil {
		return nil, err
	}
	unitEPC := map[string]string{} // canonical SGTIN → the unit's "(01)…(21)…"
	var sgtins []string
	for _, u := range d.units {
		p := d.products[u.GTIN]
		epc, err := gs1.SGTINURI(gs1.GTIN(u.GTIN), u.Serial, p.CompanyPrefixLen)
		if err != nil {
			return nil, fmt.Errorf("unit %s: %w", wire.UnitRef(u.GTIN, u.Serial), err)
		}
		unitEPC[epcisdb.CanonicalEPC(epc)] = wire.UnitRef(u.GTIN, u.Serial)
		sgtins = append(sgtins, epc)
	}
	commissioning, err := d.commissioning(ctx, st, sgtins, unitEPC)
	if err != nil {
		return nil, err
	}
	packing, err := d.packing(ctx, st, unitEPC, ship.ReadPoint)
	if err != nil {
		return nil, err
	}
	events := append(commissioning, packing...)
	sort.SliceStable(events, func(i, j int) bool { return events[i].EventTime.Before(events[j].EventTime) })
	doc.Events = append(events, ship)
	return doc, nil
}

// masterData is the EPCClass of every product shipped and the Location
// of every party and place the shipping event names.
func (d *shipped) masterData(ship epcis.Event) ([]epcis.Vocabulary, error) {
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
			return nil, err
		}
		attrs := []epcis.Attribute{
			{ID: mda + "regulatedProductName", Value: p.Name},
			{ID: mda + "manufacturerOfTradeItemPartyName", Value: d.seller.Name},
		}
		if p.Form != "" {
			attrs = append(attrs, epcis.Attribute{ID: mda + "dosageFormType", Value: p.Form})
		}
		if p.Strength != "" {
			attrs = append(attrs, epcis.Attribute{ID: mda + "strengthDescription", Value: p.Strength})
		}
		if p.PackSize > 0 {
			attrs = append(attrs, epcis.Attribute{ID: mda + "netContentDescription", Value: netContent(p)})
		}
		if p.NDC != "" {
			n11, err := master.NDC11(p.NDC)
			if err != nil {
				return nil, fmt.Errorf("product %s: ndc: %w", p.GTIN, err)
			}
			attrs = append(attrs, epcis.Attribute{ID: mda + "additionalTradeItemIdentification", Value: n11},
				epcis.Attribute{ID: mda + "additionalTradeItemIdentificationTypeCode", Value: "FDA_NDC_11"})
		}
		classes = append(classes, epcis.VocabularyElement{ID: id, Attributes: attrs})
	}
	var places []epcis.VocabularyElement
	seen := map[string]bool{}
	add := func(id string, p Party) {
		if id == "" || seen[id] {
			return
		}
		seen[id] = true
		attrs := []epcis.Attribute{{ID: mda + "name", Value: p.Name}}
		for _, a := range []struct{ name, v string }{
			{"streetAddressOne", p.Address.Street}, {"city", p.Address.City}, {"state", p.Address.State},
			{"postalCode", p.Address.PostalCode}, {"countryCode", p.Address.Country},
		} {
			if a.v != "" {
				attrs = append(attrs, epcis.Attribute{ID: mda + a.name, Value: a.v})
			}
		}
		places = append(places, epcis.VocabularyElement{ID: id, Attributes: attrs})
	}
	for _, sd := range ship.SourceList {
		if sd.Type == "location" {
			add(sd.Value, d.from)
		} else {
			add(sd.Value, d.seller)
		}
	}
	add(ship.ReadPoint, d.from)
	for _, sd := range ship.DestinationList {
		add(sd.Value, d.buyer)
	}
	return []epcis.Vocabulary{{Type: vtypeEPCClass, Elements: classes}, {Type: vtypeLocation, Elements: places}}, nil
}

// netContent is the netContentDescription: the pack size with its unit
// ("20 TABLET"); a product without a pack unit counts each ("20 EA").
func netContent(p master.Product) string {
	unit := p.PackUnit
	if unit == "" {
		unit = "EA"
	}
	return strconv.Itoa(p.PackSize) + " " + unit
}

// epcChunk bounds the EPCs of one repository query.
const epcChunk = 1000

// commissioning returns the repository's commissioning events of the
// shipped units (the line's per-unit events, or a partner's captured
// ones), each restricted to the shipped units it names: a partner's event
// of 100 units of which 20 are shipped shows those 20. A unit the
// repository has no commissioning event for (none should be) gets one
// made from its record, per GTIN and lot, and says so.
func (d *shipped) commissioning(ctx context.Context, st Store, sgtins []string, unitEPC map[string]string) ([]epcis.Event, error) {
	var out []epcis.Event
	covered := map[string]bool{}
	seen := map[string]bool{}
	for i := 0; i < len(sgtins); i += epcChunk {
		evs, err := st.QueryEPCIS(ctx, epcisdb.EPCISQuery{EventTypes: []string{string(epcis.ObjectEvent)}, BizSteps: []string{"commissioning"},
			MatchEPC: sgtins[i:min(i+epcChunk, len(sgtins))], Limit: epcisdb.MaxEPCISLimit, SkipLineSync: i > 0})
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if e.Action != epcis.ActionAdd {
				continue
			}
			key := e.EventID + "|" + e.EventTime.String() + "|" + strings.Join(e.EPCList, ",")
			if seen[key] {
				continue
			}
			seen[key] = true
			var mine []string
			for _, epc := range e.EPCList {
				c := epcisdb.CanonicalEPC(epc)
				if _, ok := unitEPC[c]; ok && !covered[c] {
					mine = append(mine, epc)
					covered[c] = true
				}
			}
			if len(mine) == 0 {
				continue
			}
			e.EPCList = mine
			out = append(out, e)
		}
	}
	// Units without a commissioning event in the repository.
	type group struct {
		first            time.Time
		lot, expiry, gtn string
		epcs             []string
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, u := range d.units {
		p := d.products[u.GTIN]
		epc, _ := gs1.SGTINURI(gs1.GTIN(u.GTIN), u.Serial, p.CompanyPrefixLen)
		if covered[epcisdb.CanonicalEPC(epc)] {
			continue
		}
		k := u.GTIN + "\x00" + u.Lot
		g := byKey[k]
		if g == nil {
			g = &group{first: u.Commissioned, lot: u.Lot, expiry: u.Expiry, gtn: u.GTIN}
			byKey[k] = g
			groups = append(groups, g)
		}
		if u.Commissioned.Before(g.first) {
			g.first = u.Commissioned
		}
		g.epcs = append(g.epcs, epc)
	}
	for _, g := range groups {
		exp, err := gs1.ExpiryTime(g.expiry)
		if err != nil {
			return nil, fmt.Errorf("lot %s: expiry: %w", g.lot, err)
		}
		out = append(out, epcis.Event{Type: epcis.ObjectEvent, Action: epcis.ActionAdd, EventTime: g.first, EventTimeZoneOffset: "+00:00",
			EPCList: g.epcs, BizStep: "commissioning", Disposition: "active",
			ILMD: map[string]any{"cbvmda:lotNumber": g.lot, "cbvmda:itemExpirationDate": exp.Format(time.DateOnly)}})
	}
	return out, nil
}

// packing returns the packing of every container in the shipment: the
// repository's packing events whose parent is one of them, when those
// name only what the shipment holds; a container whose recorded packing
// names anything else (reworked: a unit taken out since) or that has none
// gets one event made from its contents now, at its last packing.
//
// It is long because its three passes (the containers' URIs, their recorded packing
// events, then each container's event, children first) share the containers and uris maps.
func (d *shipped) packing(ctx context.Context, st Store, unitEPC map[string]string, readPoint string) ([]epcis.Event, error) {
	var trees []supply.ContainerTree
	for _, p := range d.sh.Picks {
		if p.SSCC == "" {
			continue
		}
		t, err := st.ContainerContents(ctx, p.SSCC)
		if err != nil {
			return nil, err
		}
		trees = append(trees, t)
	}
	containers := map[string]string{} // canonical SSCC URI → SSCC
	uris := map[string]string{}       // SSCC → URI
	var walk func(t supply.ContainerTree) error
	walk = func(t supply.ContainerTree) error {
		u, err := gs1.SSCCURI(gs1.SSCC(t.SSCC), d.gcpOf(t))
		if err != nil {
			return err
		}
		containers[epcisdb.CanonicalEPC(u)], uris[t.SSCC] = t.SSCC, u
		for _, c := range t.Children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, t := range trees {
		if err := walk(t); err != nil {
			return nil, err
		}
	}
	if len(containers) == 0 {
		return nil, nil
	}
	list := make([]string, 0, len(uris))
	for _, u := range uris {
		list = append(list, u)
	}
	slices.Sort(list)
	recorded := map[string][]epcis.Event{} // SSCC → its packing events
	for i := 0; i < len(list); i += epcChunk {
		evs, err := st.QueryEPCIS(ctx, epcisdb.EPCISQuery{EventTypes: []string{string(epcis.AggregationEvent)}, BizSteps: []string{"packing"},
			MatchAnyEPC: list[i:min(i+epcChunk, len(list))], Limit: epcisdb.MaxEPCISLimit, SkipLineSync: true})
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if sscc, ok := containers[epcisdb.CanonicalEPC(e.ParentID)]; ok && e.Action == epcis.ActionAdd {
				recorded[sscc] = append(recorded[sscc], e)
			}
		}
	}
	var out []epcis.Event
	var emit func(t supply.ContainerTree) error
	emit = func(t supply.ContainerTree) error {
		for _, c := range t.Children {
			if err := emit(c); err != nil {
				return err
			}
		}
		evs, ok := recorded[t.SSCC]
		for _, e := range evs {
			for _, c := range e.ChildEPCs {
				cc := epcisdb.CanonicalEPC(c)
				if _, unit := unitEPC[cc]; !unit && containers[cc] == "" {
					ok = false
				}
			}
		}
		if ok && len(evs) == 1 {
			out = append(out, evs[0])
			return nil
		}
		e, err := d.packingNow(ctx, st, t, uris, unitEPC, readPoint)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	}
	for _, t := range trees {
		if err := emit(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// packingNow is an AggregationEvent ADD packing of a container's direct
// contents as they are, at its last packing.
func (d *shipped) packingNow(ctx context.Context, st Store, t supply.ContainerTree, uris, unitEPC map[string]string, readPoint string) (epcis.Event, error) {
	e := epcis.Event{Type: epcis.AggregationEvent, Action: epcis.ActionAdd, EventTimeZoneOffset: "+00:00",
		BizStep: "packing", Disposition: "container_closed", ReadPoint: readPoint, ParentID: uris[t.SSCC]}
	for _, c := range t.Children {
		e.ChildEPCs = append(e.ChildEPCs, uris[c.SSCC])
	}
	byRef := map[string]string{}
	for c, ref := range unitEPC {
		byRef[ref] = c
	}
	for _, u := range t.Units {
		ch, err := wire.ParseChild(u)
		if err != nil || ch.GTIN == "" {
			return e, fmt.Errorf("container %s: child %q", t.SSCC, u)
		}
		epc, err := gs1.SGTINURI(gs1.GTIN(ch.GTIN), ch.Serial, d.products[ch.GTIN].CompanyPrefixLen)
		if err != nil {
			return e, fmt.Errorf("container %s: %w", t.SSCC, err)
		}
		if _, ok := byRef[u]; !ok {
			return e, fmt.Errorf("container %s: unit %s is not in the shipment", t.SSCC, u)
		}
		e.ChildEPCs = append(e.ChildEPCs, epc)
	}
	c, err := st.Container(ctx, t.SSCC)
	if err != nil {
		return e, err
	}
	e.EventTime = c.UpdatedAt
	return e, nil
}

// gcpOf is the company prefix length of a container's SSCC: that of the
// products inside it, else 7.
func (d *shipped) gcpOf(t supply.ContainerTree) int {
	for k := range t.ByGTINLot {
		if p, ok := d.products[strings.SplitN(k, "/", 2)[0]]; ok {
			return p.CompanyPrefixLen
		}
	}
	for _, c := range t.Children {
		return d.gcpOf(c)
	}
	return 7
}

// classURI is the product class as the guideline names it: the SGTIN
// pattern of the GTIN (urn:epc:idpat:sgtin:CompanyPrefix.ItemRef.*).
func classURI(p master.Product) (string, error) {
	u, err := gs1.SGTINURI(gs1.GTIN(p.GTIN), "0", p.CompanyPrefixLen)
	if err != nil {
		return "", fmt.Errorf("product %s: %w", p.GTIN, err)
	}
	return strings.Replace(strings.TrimSuffix(u, ".0"), "urn:epc:id:sgtin:", "urn:epc:idpat:sgtin:", 1) + ".*", nil
}

// Document is the shipment's document as an EPCIS 2.0 model (for the
// JSON-LD binding, GET /shipments/{id}/epcis).
func Document(ctx context.Context, st Store, shipment string) (epcis.Document, error) {
	s, err := Shipment(ctx, st, shipment)
	if err != nil {
		return epcis.Document{}, err
	}
	return epcis.Document{CreationDate: s.Created, MasterData: s.MasterData, Events: s.Events,
		Header: &epcis.Header{Sender: s.Sender, Receiver: s.Receiver, InstanceIdentifier: s.InstanceID}}, nil
}

// XMLDocument is a written DSCSA document.
type XMLDocument struct {
	Body    []byte
	ID      string // the SBDH instance identifier
	Version string // "1.2" or "2.0"
}

// XML writes the shipment's DSCSA document in version ("1.2" or "2.0";
// "" is the customer's EPCIS version).
func XML(ctx context.Context, st Store, shipment, version string) (XMLDocument, error) {
	s, err := Shipment(ctx, st, shipment)
	if err != nil {
		return XMLDocument{}, err
	}
	if version != "" {
		s.Version = version
	}
	if s.Version == "" {
		s.Version = master.EPCIS12
	}
	b, err := s.Marshal()
	if err != nil {
		return XMLDocument{}, fmt.Errorf("shipment %s: %w", shipment, err)
	}
	return XMLDocument{Body: b, ID: s.InstanceID, Version: s.Version}, nil
}
