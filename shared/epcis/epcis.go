// Package epcis builds, parses, validates and hashes EPCIS 2.0 documents with
// CBV 2.0 vocabulary, in both bindings GS1 defines: JSON-LD (what the EPCIS
// REST binding and most partners speak) and XML (what DSCSA partners still
// exchange). Central maps each unit's line story onto these events; the
// capture and query endpoints use this package to read and write them.
//
// # Mapping of Serialine line events
//
//	line event                   type              action  bizStep          disposition
//	commissioned                 ObjectEvent       ADD     commissioning    active          (ILMD: cbvmda:lotNumber, cbvmda:itemExpirationDate)
//	decommissioned (reason)      ObjectEvent       DELETE  decommissioning  inactive        (reason "destroyed": bizStep destroying, disposition destroyed;
//	                                                                                         "sample": bizStep sampling; reason kept in extension serialine:reason)
//	voided (never printed)       ObjectEvent       DELETE  decommissioning  inactive        (serialine:reason "voided")
//	aggregated                   AggregationEvent  ADD     packing          container_closed (parentID = SSCC, childEPCs = SGTINs)
//	disaggregated                AggregationEvent  DELETE  unpacking        container_open
//	shipped                      ObjectEvent       OBSERVE shipping         in_transit      (bizTransactionList po/desadv, sourceList/destinationList owning_party, location)
//	received                     ObjectEvent       OBSERVE receiving        in_progress
//
// # Values
//
// CBV values are held bare ("shipping"); parsing accepts the bare, the URN
// (urn:epcglobal:cbv:bizstep:shipping) and the web URI
// (https://ref.gs1.org/cbv/BizStep-shipping) forms and stores the bare one.
// Extensions, ILMD fields and sensor extensions are keyed "prefix:local"; the
// prefixes resolve through Event.Namespaces (and Document.Namespaces).
//
// # Event hash ID
//
// HashDocument gives each event of a document the CBV 2.0 event hash ID
// GS1's reference generator (RalphTro/epcis-event-hash-generator) gives it;
// the reference's algorithm is ported in the ref*.go files, quirks
// included. HashID hashes an event built in Go through its JSON-LD form.
package epcis

import (
	"encoding/json"
	"time"
)

// EventType names one of the five EPCIS 2.0 event types.
type EventType string

// The EPCIS 2.0 event types.
const (
	ObjectEvent         EventType = "ObjectEvent"
	AggregationEvent    EventType = "AggregationEvent"
	TransactionEvent    EventType = "TransactionEvent"
	TransformationEvent EventType = "TransformationEvent"
	AssociationEvent    EventType = "AssociationEvent"
)

// Actions an event can carry (every type but TransformationEvent needs one).
const (
	ActionAdd     = "ADD"
	ActionObserve = "OBSERVE"
	ActionDelete  = "DELETE"
)

// SchemaVersion is the EPCIS schema version this package writes.
const SchemaVersion = "2.0"

// ContextURL is GS1's EPCIS 2.0 JSON-LD context, the first @context entry of
// every JSON-LD document we write.
const ContextURL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

// Well-known namespaces.
const (
	NSEPCIS  = "urn:epcglobal:epcis:xsd:2"
	NSQuery  = "urn:epcglobal:epcis-query:xsd:2"
	NSCBVMDA = "urn:epcglobal:cbv:mda"
	NSSBDH   = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
	NSGS1    = "https://gs1.org/voc/"
	nsXSI    = "http://www.w3.org/2001/XMLSchema-instance"
)

// QuantityElement is one entry of a quantity list: a class (lgtin, idpat) and
// an optional quantity with unit of measure.
type QuantityElement struct {
	EPCClass string
	Quantity *float64 // nil when only the class is known
	UOM      string
	// Nil records an XML <quantity xsi:nil="true"/> (kept so that the
	// event hashes alike when written as XML again; JSON-LD leaves it out).
	Nil bool `json:",omitempty"`
}

// BizTransaction is a business transaction reference; Type is a bare CBV
// value ("po", "desadv") or a URI.
type BizTransaction struct {
	Type  string
	Value string
}

// SourceDest is one source or destination; Type is "owning_party",
// "possessing_party" or "location" (or a URI).
type SourceDest struct {
	Type  string
	Value string
}

// PersistentDisposition sets and unsets persistent dispositions.
type PersistentDisposition struct {
	Set   []string
	Unset []string
}

// ErrorDeclaration marks an event as erroneous (EPCIS 2.0 §7.4.1.4).
type ErrorDeclaration struct {
	DeclarationTime    time.Time
	Reason             string // bare CBV error reason: "did_not_occur", "incorrect_data"
	CorrectiveEventIDs []string
	Extensions         map[string]any
}

// Event is one EPCIS 2.0 event of any type. Fields that a type does not use
// stay empty.
type Event struct {
	Type                  EventType
	EventID               string
	EventTime             time.Time
	EventTimeZoneOffset   string // "+01:00"; derived from EventTime when empty
	RecordTime            *time.Time
	Action                string
	EPCList               []string
	ParentID              string
	ChildEPCs             []string
	QuantityList          []QuantityElement
	ChildQuantityList     []QuantityElement
	InputEPCList          []string
	InputQuantityList     []QuantityElement
	OutputEPCList         []string
	OutputQuantityList    []QuantityElement
	TransformationID      string
	BizStep               string // bare CBV value: "commissioning"
	Disposition           string // bare CBV value: "active"
	PersistentDisposition *PersistentDisposition
	ReadPoint             string
	BizLocation           string
	// ReadPointExtensions and BizLocationExtensions hold user extensions
	// inside readPoint and bizLocation, keyed like Extensions.
	ReadPointExtensions   map[string]any
	BizLocationExtensions map[string]any
	BizTransactionList    []BizTransaction
	SourceList            []SourceDest
	DestinationList       []SourceDest
	// ILMD holds instance/lot master data keyed "prefix:local", e.g.
	// "cbvmda:lotNumber", "cbvmda:itemExpirationDate".
	ILMD map[string]any
	// SensorElementList holds each sensorElement in its JSON-LD form.
	SensorElementList []json.RawMessage
	ErrorDeclaration  *ErrorDeclaration
	CertificationInfo string
	// Extensions holds user extension fields keyed "prefix:local"; values are
	// string, float64/json.Number, bool, nil, map[string]any or []any. In a
	// map, "#text" is an element's text and "@prefix:local" (or "@local")
	// an XML attribute of it.
	Extensions map[string]any
	// Namespaces maps the prefixes used in Extensions, ILMD and sensor
	// elements to namespace IRIs (cbvmda and gs1 are predefined).
	Namespaces map[string]string
}

// Header carries the routing data that DSCSA partners expect in a Standard
// Business Document Header (XML) or as sender/receiver (JSON-LD).
type Header struct {
	Sender             string
	Receiver           string
	InstanceIdentifier string
}

// Attribute is one master-data attribute; Value is a string or a generic
// value (map, list) like an extension.
type Attribute struct {
	ID    string
	Value any
}

// VocabularyElement is one master-data element (a location, a product class).
type VocabularyElement struct {
	ID         string
	Attributes []Attribute
	Children   []string
}

// Vocabulary is one master-data vocabulary (e.g.
// urn:epcglobal:epcis:vtype:BusinessLocation).
type Vocabulary struct {
	Type     string
	Elements []VocabularyElement
}

// Document is an EPCISDocument.
type Document struct {
	SchemaVersion string // "2.0" when empty
	CreationDate  time.Time
	ID            string // JSON-LD document id, optional
	Header        *Header
	MasterData    []Vocabulary
	Events        []Event
	// Namespaces maps extension prefixes to IRIs for the whole document.
	Namespaces map[string]string
}
