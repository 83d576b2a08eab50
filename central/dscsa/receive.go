package dscsa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
)

// canon is the form EPCs are compared in (the repository's: GS1 Digital
// Link for SGTINs and SSCCs), so that a document mixing URIs and links
// still adds up.
func canon(epc string) string { return epcisdb.CanonicalEPC(epc) }

// ErrNotYourGLN is returned when a partner sends a document from a GLN
// that is not its own.
var ErrNotYourGLN = errors.New("a partner acts for its own GLN only")

// epcKey is a unit (GTIN, serial) or a container (SSCC) named by an EPC.
type epcKey struct {
	gtin, serial, sscc string
}

// parseEPC reads an SGTIN or SSCC in EPC URI or GS1 Digital Link form.
func parseEPC(s string) (epcKey, error) {
	switch {
	case strings.HasPrefix(s, gs1.SGTINURIPrefix):
		g, sn, err := gs1.ParseSGTINURI(s)
		return epcKey{gtin: string(g), serial: sn}, err
	case strings.HasPrefix(s, gs1.SSCCURIPrefix):
		c, err := gs1.ParseSSCCURI(s)
		return epcKey{sscc: string(c)}, err
	case strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://"):
		es, err := gs1.Parse(s)
		if err != nil {
			return epcKey{}, err
		}
		m := es.Map()
		switch {
		case m["00"] != "":
			return epcKey{sscc: m["00"]}, nil
		case m["01"] != "" && m["21"] != "":
			return epcKey{gtin: m["01"], serial: m["21"]}, nil
		}
	}
	return epcKey{}, fmt.Errorf("%q is neither an SGTIN nor an SSCC (EPC URI or GS1 Digital Link)", s)
}

// ReceiveSummary is the partner's TI as central keeps it with the
// receipt: what the document says was sold and shipped.
type ReceiveSummary struct {
	Sender          string         `json:"sender"`
	Receiver        string         `json:"receiver"`
	ShippedAt       time.Time      `json:"shipped_at"`
	Transactions    []Typed        `json:"biz_transactions,omitempty"`
	Sources         []Typed        `json:"sources,omitempty"`
	Destinations    []Typed        `json:"destinations,omitempty"`
	Products        []ReceivedLine `json:"products"`
	Containers      int            `json:"containers"`
	StatementNotice string         `json:"legal_notice,omitempty"`
}

// Typed is a business transaction, source or destination: its type (a
// bare CBV value) and value.
type Typed struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// ReceivedLine is a product and lot of a partner's document.
type ReceivedLine struct {
	GTIN     string `json:"gtin"`
	Lot      string `json:"lot,omitempty"`
	Expiry   string `json:"expiry,omitempty"` // YYYY-MM-DD
	Quantity int    `json:"quantity"`
}

// Receive applies a partner's parsed document (raw as sent): the sender
// must be a trading partner that actsFor allows (a partner token's own
// GLN), the receiver one of our sites; its shipping events, expanded
// through its packing events, are what arrives, checked against what the
// document commissions and what we hold (see store.RecordReceipt). The
// events are then captured into the EPCIS repository, so that tracing
// and our own later shipments of these units find them.
//
// It is long because its steps (the parties, the packing pass over the events, the walk
// from the shipped EPCs, the shortages) fill one ReceiptInput and summary, each step
// reading the maps the one before built.
func Receive(ctx context.Context, st Store, in *Inbound, raw []byte, actsFor func(gln string) bool, log *slog.Logger) (supply.Receipt, error) {
	if _, err := gs1.ParseGLN(in.Sender); err != nil {
		return supply.Receipt{}, docErr("SBDH sender %q: %v", in.Sender, err)
	}
	if !actsFor(in.Sender) {
		return supply.Receipt{}, fmt.Errorf("%w: the document's sender is %s", ErrNotYourGLN, in.Sender)
	}
	if _, err := st.Partner(ctx, in.Sender); errors.Is(err, sqldb.ErrNotFound) {
		return supply.Receipt{}, docErr("SBDH sender %s is not a trading partner of ours", in.Sender)
	} else if err != nil {
		return supply.Receipt{}, err
	}
	if _, err := st.Site(ctx, in.Receiver); errors.Is(err, sqldb.ErrNotFound) {
		return supply.Receipt{}, docErr("SBDH receiver %q is not a site of ours", in.Receiver)
	} else if err != nil {
		return supply.Receipt{}, err
	}
	sum := ReceiveSummary{Sender: in.Sender, Receiver: in.Receiver, StatementNotice: in.LegalNotice}

	// Packing: each child's container, by the document's order (a later
	// ADD moves a child, a DELETE takes it out).
	parentOf := map[string]string{} // EPC → parent EPC
	children := map[string][]string{}
	commissioned := map[string]epcis.Event{}
	var shipped []string
	for _, e := range in.Events {
		switch {
		case e.Type == epcis.AggregationEvent && e.ParentID != "" && e.Action == epcis.ActionAdd:
			for _, c := range e.ChildEPCs {
				parentOf[canon(c)] = canon(e.ParentID)
			}
		case e.Type == epcis.AggregationEvent && e.Action == epcis.ActionDelete:
			for _, c := range e.ChildEPCs {
				delete(parentOf, canon(c))
			}
		case e.Type == epcis.ObjectEvent && e.BizStep == "commissioning" && e.Action == epcis.ActionAdd:
			for _, epc := range e.EPCList {
				commissioned[canon(epc)] = e
			}
		case e.Type == epcis.ObjectEvent && e.BizStep == "shipping":
			for _, epc := range e.EPCList {
				shipped = append(shipped, canon(epc))
			}
			if e.EventTime.After(sum.ShippedAt) {
				sum.ShippedAt = e.EventTime
			}
			for _, b := range e.BizTransactionList {
				sum.Transactions = append(sum.Transactions, Typed{b.Type, b.Value})
			}
			for _, x := range e.SourceList {
				sum.Sources = append(sum.Sources, Typed{x.Type, x.Value})
			}
			for _, x := range e.DestinationList {
				sum.Destinations = append(sum.Destinations, Typed{x.Type, x.Value})
			}
		}
	}
	if len(shipped) == 0 {
		return supply.Receipt{}, docErr("no shipping event (ObjectEvent, bizStep shipping): nothing is shipped to us")
	}
	for c, p := range parentOf {
		children[p] = append(children[p], c)
	}
	for _, c := range children {
		sort.Strings(c)
	}

	input := supply.ReceiptInput{Partner: in.Sender, Receiver: in.Receiver, DocumentID: in.DocumentID, Version: in.Version,
		Affirmed: in.StatementPresent && in.Affirmed, Statement: in.LegalNotice, Document: raw}
	seen := map[string]bool{}
	lines := map[string]*ReceivedLine{}
	var order []string
	var walk func(epc, parent string, depth int) error
	walk = func(epc, parent string, depth int) error {
		if seen[epc] {
			return nil
		}
		if depth > 16 {
			return docErr("packing of %s is more than 16 levels deep (a cycle?)", epc)
		}
		seen[epc] = true
		k, err := parseEPC(epc)
		if err != nil {
			return docErr("EPC %v", err)
		}
		if k.sscc != "" {
			input.Containers = append(input.Containers, supply.InboundContainer{SSCC: k.sscc, Parent: parent})
			for _, c := range children[epc] {
				if err := walk(c, k.sscc, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		u := supply.InboundUnit{GTIN: k.gtin, Serial: k.serial, Parent: parent}
		if c, ok := commissioned[epc]; ok {
			lot, _ := c.ILMD["cbvmda:lotNumber"].(string)
			exp, _ := c.ILMD["cbvmda:itemExpirationDate"].(string)
			if lot == "" || exp == "" {
				return docErr("the commissioning of %s has no ILMD lotNumber and itemExpirationDate", epc)
			}
			t, err := time.Parse(time.DateOnly, exp)
			if err != nil {
				return docErr("the commissioning of %s: itemExpirationDate %q is not YYYY-MM-DD", epc, exp)
			}
			u.Lot, u.Expiry, u.Commissioned = lot, t.Format("060102"), c.EventTime
			key := k.gtin + "\x00" + lot
			if lines[key] == nil {
				lines[key] = &ReceivedLine{GTIN: k.gtin, Lot: lot, Expiry: exp}
				order = append(order, key)
			}
			lines[key].Quantity++
		} else {
			key := k.gtin + "\x00"
			if lines[key] == nil {
				lines[key] = &ReceivedLine{GTIN: k.gtin}
				order = append(order, key)
			}
			lines[key].Quantity++
		}
		input.Units = append(input.Units, u)
		return nil
	}
	for _, epc := range shipped {
		if err := walk(epc, "", 0); err != nil {
			return supply.Receipt{}, err
		}
	}
	// Described but not shipped: data without product.
	var missing []string
	for epc := range commissioned {
		if !seen[epc] {
			missing = append(missing, epc)
		}
	}
	sort.Strings(missing)
	for _, epc := range missing {
		k, err := parseEPC(epc)
		if err != nil {
			return supply.Receipt{}, docErr("EPC %v", err)
		}
		input.Exceptions = append(input.Exceptions, supply.ReceiptException{Kind: supply.ExceptionShortage, GTIN: k.gtin, Serial: k.serial,
			Detail: fmt.Sprintf("the document commissions %s but its shipment does not hold it: data without product", epc)})
	}
	for _, k := range order {
		sum.Products = append(sum.Products, *lines[k])
	}
	sum.Containers = len(input.Containers)
	input.Summary = sum
	rc, err := st.RecordReceipt(ctx, input)
	if err != nil || rc.Duplicate {
		return rc, err
	}
	if _, err := st.CaptureEPCIS(ctx, in.Events, nil); err != nil {
		// The receipt stands; its events are kept in the document.
		log.Warn("partner's events not captured into the EPCIS repository", "receipt", rc.ID, "partner", in.Sender, "err", err)
	}
	return rc, nil
}
