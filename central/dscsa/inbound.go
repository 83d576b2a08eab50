package dscsa

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/serialine/serialine/shared/epcis"
)

// Inbound is a partner's DSCSA EPCIS document (1.2 or 2.0 XML) as read:
// its header and its events. Master data is skipped: what we keep of a
// unit comes from its events (commissioning ILMD, packing, shipping).
type Inbound struct {
	Version    string // "1.2" or "2.0", from the root's namespace
	Sender     string // SBDH sender identifier (a GLN)
	Receiver   string
	DocumentID string // SBDH InstanceIdentifier
	// StatementPresent, Affirmed and LegalNotice are the partner's
	// gs1ushc:dscsaTransactionStatement.
	StatementPresent bool
	Affirmed         bool
	LegalNotice      string
	Events           []epcis.Event
}

// Limits bound what a document may hold (after http.MaxBytesReader has
// bounded its bytes).
type Limits struct {
	MaxEvents int // default 100,000
	MaxEPCs   int // EPCs over all events; default 1,000,000
}

// ErrDocument is wrapped by every refusal of a document's content; the
// message says what and where.
var ErrDocument = errors.New("invalid DSCSA document")

func docErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrDocument, fmt.Sprintf(format, args...))
}

// xmlTyped is an element with a type attribute (bizTransaction, source,
// destination) or an SBDH Identifier (Authority).
type xmlTyped struct {
	Type      string `xml:"type,attr"`
	Authority string `xml:"Authority,attr"`
	Value     string `xml:",chardata"`
}

type xmlILMD struct {
	Lot    string `xml:"lotNumber"`
	Expiry string `xml:"itemExpirationDate"`
}

// xmlEvent reads an ObjectEvent or AggregationEvent of either version:
// 1.2 puts the lists and ILMD in <extension>, 2.0 in the event.
type xmlEvent struct {
	EventTime   string     `xml:"eventTime"`
	TZ          string     `xml:"eventTimeZoneOffset"`
	EventID     string     `xml:"eventID"`
	BaseEventID string     `xml:"baseExtension>eventID"`
	EPCs        []string   `xml:"epcList>epc"`
	Parent      string     `xml:"parentID"`
	Children    []string   `xml:"childEPCs>epc"`
	Action      string     `xml:"action"`
	BizStep     string     `xml:"bizStep"`
	Disposition string     `xml:"disposition"`
	ReadPoint   string     `xml:"readPoint>id"`
	BizLocation string     `xml:"bizLocation>id"`
	BizTx       []xmlTyped `xml:"bizTransactionList>bizTransaction"`
	Sources     []xmlTyped `xml:"sourceList>source"`
	Dests       []xmlTyped `xml:"destinationList>destination"`
	ILMD        xmlILMD    `xml:"ilmd"`
	Ext         struct {
		Sources []xmlTyped `xml:"sourceList>source"`
		Dests   []xmlTyped `xml:"destinationList>destination"`
		ILMD    xmlILMD    `xml:"ilmd"`
	} `xml:"extension"`
}

type xmlSBDH struct {
	Sender   xmlTyped `xml:"Sender>Identifier"`
	Receiver xmlTyped `xml:"Receiver>Identifier"`
	Instance string   `xml:"DocumentIdentification>InstanceIdentifier"`
}

type xmlStatement struct {
	Affirm string `xml:"affirmTransactionStatement"`
	Notice string `xml:"legalNotice"`
}

// cbv strips the URN and web-URI prefixes of a CBV value (bare form).
func cbv(v string) string {
	v = strings.TrimSpace(v)
	for _, p := range []string{"urn:epcglobal:cbv:bizstep:", "urn:epcglobal:cbv:disp:", "urn:epcglobal:cbv:btt:", "urn:epcglobal:cbv:sdt:",
		"https://ref.gs1.org/cbv/BizStep-", "https://ref.gs1.org/cbv/Disp-", "https://ref.gs1.org/cbv/BTT-", "https://ref.gs1.org/cbv/SDT-"} {
		if strings.HasPrefix(v, p) {
			return strings.TrimPrefix(v, p)
		}
	}
	return v
}

// ParseInbound reads a DSCSA EPCIS document from r as a stream: the
// header's parts and one event at a time are decoded, never the whole
// document at once. Each refusal wraps ErrDocument and names the element.
//
// It is long because it is one token loop: the header's parts, the statement and the
// events are decoded where they stand, under one limit on events and EPCs.
func ParseInbound(r io.Reader, lim Limits) (*Inbound, error) {
	if lim.MaxEvents <= 0 {
		lim.MaxEvents = 100_000
	}
	if lim.MaxEPCs <= 0 {
		lim.MaxEPCs = 1_000_000
	}
	dec := xml.NewDecoder(r)
	in := &Inbound{}
	epcs, root := 0, false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			// %w keeps a body-size refusal (http.MaxBytesError) visible.
			return nil, fmt.Errorf("%w: not well-formed XML: %w", ErrDocument, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !root {
			root = true
			if se.Name.Local != "EPCISDocument" {
				return nil, docErr("the root element is %s, not EPCISDocument", se.Name.Local)
			}
			switch se.Name.Space {
			case NSEPCIS12:
				in.Version = "1.2"
			case NSEPCIS20:
				in.Version = "2.0"
			default:
				return nil, docErr("EPCISDocument in namespace %q: EPCIS 1.2 (%s) or 2.0 (%s) is taken", se.Name.Space, NSEPCIS12, NSEPCIS20)
			}
			continue
		}
		switch se.Name.Local {
		case "StandardBusinessDocumentHeader":
			var h xmlSBDH
			if err := dec.DecodeElement(&h, &se); err != nil {
				return nil, docErr("StandardBusinessDocumentHeader: %v", err)
			}
			in.Sender, in.Receiver, in.DocumentID = strings.TrimSpace(h.Sender.Value), strings.TrimSpace(h.Receiver.Value), strings.TrimSpace(h.Instance)
		case "dscsaTransactionStatement":
			var st xmlStatement
			if err := dec.DecodeElement(&st, &se); err != nil {
				return nil, docErr("dscsaTransactionStatement: %v", err)
			}
			in.StatementPresent = true
			in.Affirmed = strings.TrimSpace(st.Affirm) == "true"
			in.LegalNotice = strings.TrimSpace(st.Notice)
		case "EPCISMasterData":
			if err := dec.Skip(); err != nil {
				return nil, docErr("EPCISMasterData: %v", err)
			}
		case "ObjectEvent", "AggregationEvent":
			if len(in.Events) == lim.MaxEvents {
				return nil, docErr("more than %d events", lim.MaxEvents)
			}
			var x xmlEvent
			if err := dec.DecodeElement(&x, &se); err != nil {
				return nil, docErr("event %d (%s): %v", len(in.Events)+1, se.Name.Local, err)
			}
			e, err := x.event(epcis.EventType(se.Name.Local))
			if err != nil {
				return nil, docErr("event %d (%s): %v", len(in.Events)+1, se.Name.Local, err)
			}
			if epcs += len(e.EPCList) + len(e.ChildEPCs); epcs > lim.MaxEPCs {
				return nil, docErr("more than %d EPCs", lim.MaxEPCs)
			}
			in.Events = append(in.Events, e)
		case "TransactionEvent", "TransformationEvent", "AssociationEvent", "QuantityEvent":
			// Not part of a DSCSA shipment: read past it.
			if err := dec.Skip(); err != nil {
				return nil, docErr("%s: %v", se.Name.Local, err)
			}
		}
	}
	switch {
	case !root:
		return nil, docErr("empty document")
	case in.Sender == "":
		return nil, docErr("no SBDH sender (StandardBusinessDocumentHeader/Sender/Identifier)")
	case in.DocumentID == "":
		return nil, docErr("no SBDH InstanceIdentifier")
	}
	return in, nil
}

// event turns a decoded event into the EPCIS model (bare CBV values).
func (x xmlEvent) event(typ epcis.EventType) (epcis.Event, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(x.EventTime))
	if err != nil {
		return epcis.Event{}, fmt.Errorf("eventTime %q: %v", x.EventTime, err)
	}
	e := epcis.Event{Type: typ, EventTime: t.UTC(), EventTimeZoneOffset: strings.TrimSpace(x.TZ), Action: strings.TrimSpace(x.Action),
		BizStep: cbv(x.BizStep), Disposition: cbv(x.Disposition), ReadPoint: strings.TrimSpace(x.ReadPoint),
		BizLocation: strings.TrimSpace(x.BizLocation), ParentID: strings.TrimSpace(x.Parent)}
	e.EventID = strings.TrimSpace(x.EventID)
	if e.EventID == "" {
		e.EventID = strings.TrimSpace(x.BaseEventID)
	}
	switch e.Action {
	case epcis.ActionAdd, epcis.ActionObserve, epcis.ActionDelete:
	default:
		return e, fmt.Errorf("action %q: ADD, OBSERVE or DELETE", e.Action)
	}
	trim := func(v []string) []string {
		out := make([]string, 0, len(v))
		for _, s := range v {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	e.EPCList, e.ChildEPCs = trim(x.EPCs), trim(x.Children)
	for _, b := range x.BizTx {
		e.BizTransactionList = append(e.BizTransactionList, epcis.BizTransaction{Type: cbv(b.Type), Value: strings.TrimSpace(b.Value)})
	}
	for _, l := range [][]xmlTyped{x.Sources, x.Ext.Sources} {
		for _, s := range l {
			e.SourceList = append(e.SourceList, epcis.SourceDest{Type: cbv(s.Type), Value: strings.TrimSpace(s.Value)})
		}
	}
	for _, l := range [][]xmlTyped{x.Dests, x.Ext.Dests} {
		for _, d := range l {
			e.DestinationList = append(e.DestinationList, epcis.SourceDest{Type: cbv(d.Type), Value: strings.TrimSpace(d.Value)})
		}
	}
	ilmd := x.ILMD
	if ilmd == (xmlILMD{}) {
		ilmd = x.Ext.ILMD
	}
	if ilmd.Lot != "" || ilmd.Expiry != "" {
		e.ILMD = map[string]any{}
		if ilmd.Lot != "" {
			e.ILMD["cbvmda:lotNumber"] = strings.TrimSpace(ilmd.Lot)
		}
		if ilmd.Expiry != "" {
			e.ILMD["cbvmda:itemExpirationDate"] = strings.TrimSpace(ilmd.Expiry)
		}
	}
	return e, nil
}
