package dscsa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
)

// MaxTraceUnits bounds the units of one tracing request by SSCC.
const MaxTraceUnits = 1000

// TraceTransaction is one transaction of a product as a tracing request
// wants it: who sold (or sent) it to whom, when, with the transaction
// information and the transaction statement that went with it.
type TraceTransaction struct {
	Kind   string    `json:"kind"` // store.TxReceipt, TxShipment, TxReturn
	Ref    string    `json:"ref"`
	Date   time.Time `json:"date"`
	Seller Party     `json:"seller"`
	Buyer  Party     `json:"buyer"`
	// TI is the transaction information: for our shipment, the TI we sent
	// (the product line of this unit); for a receipt, the partner's as we
	// read and kept it; for a return, the product identifier and parties.
	TI any `json:"transaction_information"`
	// TS is the transaction statement, when the transaction had one.
	TS *TransactionStatement `json:"transaction_statement,omitempty"`
}

// UnitTrace is the answer to a tracing request for one unit.
type UnitTrace struct {
	GTIN   string `json:"gtin"`
	Serial string `json:"serial"`
	NDC    string `json:"ndc,omitempty"`
	Lot    string `json:"lot"`
	Expiry string `json:"expiry"` // YYYY-MM-DD
	State  string `json:"state"`
	// Transactions are the unit's transactions, oldest first, each with
	// its TI and TS.
	Transactions []TraceTransaction `json:"transactions"`
	// TH is the transaction history: every transaction's parties, date
	// and statement, in order.
	TH TransactionHistory `json:"transaction_history"`
}

// Trace answers a tracing request for a unit from central's records.
func Trace(ctx context.Context, st Store, gtin, serial string) (UnitTrace, error) {
	u, err := st.Unit(ctx, gtin, serial)
	if err != nil {
		return UnitTrace{}, err
	}
	p, err := st.Product(ctx, gtin)
	if err != nil {
		return UnitTrace{}, err
	}
	exp, err := gs1.ExpiryTime(u.Expiry)
	if err != nil {
		return UnitTrace{}, fmt.Errorf("unit (01)%s(21)%s: expiry: %w", gtin, serial, err)
	}
	out := UnitTrace{GTIN: gtin, Serial: serial, NDC: p.NDC, Lot: u.Lot, Expiry: exp.Format(time.DateOnly), State: u.State,
		Transactions: []TraceTransaction{}, TH: TransactionHistory{Note: THNote, Transactions: []HistoryEntryData{}}}
	txs, err := st.UnitTransactions(ctx, gtin, serial)
	if err != nil {
		return out, err
	}
	party := func(gln string) Party {
		if s, err := st.Site(ctx, gln); err == nil {
			return Party{GLN: gln, Name: s.Name, Address: s.Address}
		}
		if l, err := st.LocationOf(ctx, gln, "0"); err == nil {
			return Party{GLN: gln, Name: l.Name, Address: l.Address}
		}
		if pr, err := st.Partner(ctx, gln); err == nil {
			return Party{GLN: gln, Name: pr.Name, Address: pr.Address, Licences: pr.Licences}
		}
		return Party{GLN: gln}
	}
	for _, t := range txs {
		tt := TraceTransaction{Kind: t.Kind, Ref: t.Ref, Date: t.At}
		switch t.Kind {
		case supply.TxShipment:
			pkg, err := Build(ctx, st, t.Ref)
			if err != nil {
				return out, fmt.Errorf("shipment %s: %w", t.Ref, err)
			}
			ti := pkg.TI
			ti.Products = nil
			for _, pl := range pkg.TI.Products {
				if pl.GTIN == gtin && pl.Lot == u.Lot {
					pl.Serials = []string{serial}
					ti.Products = append(ti.Products, pl)
				}
			}
			tt.Seller, tt.Buyer, tt.TI, tt.TS = ti.Seller, ti.Buyer, ti, &pkg.TS
		case supply.TxReceipt:
			id, _ := strconv.ParseInt(t.Ref, 10, 64)
			rc, err := st.Receipt(ctx, id)
			if err != nil {
				return out, err
			}
			tt.Seller, tt.Buyer, tt.TI = party(rc.Partner), party(rc.Receiver), json.RawMessage(rc.Summary)
			if rc.Affirmed {
				tt.TS = &TransactionStatement{Seller: tt.Seller.Name, Date: rc.ReceivedAt, Statement: rc.Statement}
			}
		case supply.TxReturn:
			tt.Seller, tt.Buyer = party(t.From), party(t.To)
			tt.TI = map[string]any{"gtin": gtin, "serial": serial, "lot": u.Lot, "expiry": out.Expiry, "ndc": p.NDC, "from": t.From, "to": t.To, "date": t.At}
		}
		out.Transactions = append(out.Transactions, tt)
		statement := ""
		if tt.TS != nil {
			statement = tt.TS.Statement
		}
		out.TH.Transactions = append(out.TH.Transactions, HistoryEntryData{Seller: tt.Seller, Buyer: tt.Buyer, TransactionDate: t.At, Quantity: 1, Statement: statement})
	}
	return out, nil
}

// ContainerTrace is the answer for a container: every unit inside it.
type ContainerTrace struct {
	SSCC  string      `json:"sscc"`
	Units []UnitTrace `json:"units"`
}

// containerUnits lists the (GTIN, serial) of every unit inside sscc.
func containerUnits(ctx context.Context, st Store, sscc string) ([][2]string, error) {
	tree, err := st.ContainerContents(ctx, sscc)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	var walk func(t supply.ContainerTree) error
	walk = func(t supply.ContainerTree) error {
		for _, ref := range t.Units {
			es, err := gs1.Parse(ref)
			if err != nil {
				return fmt.Errorf("container %s: unit %s: %w", t.SSCC, ref, err)
			}
			m := es.Map()
			out = append(out, [2]string{m["01"], m["21"]})
		}
		for _, c := range t.Children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(tree); err != nil {
		return nil, err
	}
	if len(out) > MaxTraceUnits {
		return nil, fmt.Errorf("container %s holds %d units; trace at most %d at once: %w", sscc, len(out), MaxTraceUnits, sqldb.ErrInvalid)
	}
	return out, nil
}

// TraceContainer answers a tracing request for every unit in a container.
func TraceContainer(ctx context.Context, st Store, sscc string) (ContainerTrace, error) {
	units, err := containerUnits(ctx, st, sscc)
	if err != nil {
		return ContainerTrace{}, err
	}
	out := ContainerTrace{SSCC: sscc, Units: []UnitTrace{}}
	for _, u := range units {
		t, err := Trace(ctx, st, u[0], u[1])
		if err != nil {
			return out, err
		}
		out.Units = append(out.Units, t)
	}
	return out, nil
}

// TraceEvents is the EPCIS answer to a tracing request: every event of
// the repository that names the units (the units of sscc when it is
// set) or the containers they are in (their packing into a pallet, the
// shipping of the pallet), oldest first, once each.
func TraceEvents(ctx context.Context, st Store, gtin, serial, sscc string) (epcis.Document, error) {
	units := [][2]string{{gtin, serial}}
	if sscc != "" {
		var err error
		if units, err = containerUnits(ctx, st, sscc); err != nil {
			return epcis.Document{}, err
		}
	} else if _, err := st.Unit(ctx, gtin, serial); err != nil {
		return epcis.Document{}, err
	}
	doc := epcis.Document{CreationDate: time.Now().UTC().Truncate(time.Millisecond)}
	seen := map[string]bool{}
	for _, u := range units {
		evs, err := st.UnitEPCIS(ctx, u[0], u[1])
		if err != nil {
			return doc, err
		}
		where, err := st.WhereIs(ctx, u[0], u[1])
		if err != nil {
			return doc, err
		}
		if len(where.Containers) > 0 {
			var uris []string
			for _, c := range where.Containers {
				uris = append(uris, "https://id.gs1.org/00/"+c)
			}
			more, err := st.QueryEPCIS(ctx, epcisdb.EPCISQuery{MatchAnyEPC: uris, Limit: epcisdb.MaxEPCISLimit, SkipLineSync: true})
			if err != nil {
				return doc, err
			}
			evs = append(evs, more...)
		}
		for _, e := range evs {
			key, err := epcis.HashID(e)
			if err != nil {
				return doc, err
			}
			if !seen[key] {
				seen[key] = true
				doc.Events = append(doc.Events, e)
			}
		}
	}
	slices.SortStableFunc(doc.Events, func(a, b epcis.Event) int { return a.EventTime.Compare(b.EventTime) })
	if len(doc.Events) == 0 {
		return doc, errors.New("no EPCIS event names these units")
	}
	return doc, nil
}
