package wire

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/serialine/serialine/shared/gs1"
)

// Version is the payload version this build speaks; every payload carries it
// as "v".
const Version = 1

// MaxBatchEvents is the largest number of events in one EventBatch.
const MaxBatchEvents = 10_000

// MaxIDLen is the longest event id and serial request id.
const MaxIDLen = 128

// maxTextLen caps free text (order ids, operator, error messages).
const maxTextLen = 256

// EventType is what happened to a unit, a container or an order on a line.
type EventType string

// The line events. Central maps them onto EPCIS 2.0 / CBV 2.0 events.
const (
	// Commissioned: a unit was printed and verified; its serial is now in use.
	Commissioned EventType = "commissioned"
	// Decommissioned: a unit was rejected or taken out (Reason says why),
	// either before it was ever commissioned (a line reject) or later.
	Decommissioned EventType = "decommissioned"
	// Voided: a serial was taken from the pool but never printed.
	Voided EventType = "voided"
	// Aggregated: Children were packed into the container Parent (an SSCC).
	Aggregated EventType = "aggregated"
	// Disaggregated: Children (or all children, when none are listed) were
	// taken out of Parent.
	Disaggregated EventType = "disaggregated"
	// OrderStarted: the line started producing Order.
	OrderStarted EventType = "order-started"
	// OrderClosed: the line finished Order; Counts is its reconciliation.
	OrderClosed EventType = "order-closed"
	// SerialsReturned: the counter Ranges of Order were never used and go
	// back unused (they are never issued again).
	SerialsReturned EventType = "serials-returned"
	// AllowanceExtended: a supervisor at the line extended Order's reject
	// allowance by Allowance units, for the reason in Note.
	AllowanceExtended EventType = "allowance-extended"
)

// MaxSeq is the largest seq: seqs are stored as signed 64-bit integers.
const MaxSeq = math.MaxInt64

// EventTypes lists every event type.
func EventTypes() []EventType {
	return []EventType{Commissioned, Decommissioned, Voided, Aggregated, Disaggregated, OrderStarted, OrderClosed, SerialsReturned, AllowanceExtended}
}

// Valid reports whether t is one of EventTypes.
func (t EventType) Valid() bool {
	for _, v := range EventTypes() {
		if t == v {
			return true
		}
	}
	return false
}

// Reason is why a unit was decommissioned.
type Reason string

// The decommissioning reasons.
const (
	ReasonNoRead    Reason = "no-read"   // the verifying scanner could not read the code
	ReasonMismatch  Reason = "mismatch"  // the code read is not the one printed
	ReasonLowGrade  Reason = "low-grade" // print quality below the order's minimum grade
	ReasonDamaged   Reason = "damaged"   // pack damaged
	ReasonSample    Reason = "sample"    // taken as a QA/retention sample
	ReasonDestroyed Reason = "destroyed" // destroyed
)

// Reasons lists every decommissioning reason.
func Reasons() []Reason {
	return []Reason{ReasonNoRead, ReasonMismatch, ReasonLowGrade, ReasonDamaged, ReasonSample, ReasonDestroyed}
}

// Valid reports whether r is one of Reasons.
func (r Reason) Valid() bool {
	for _, v := range Reasons() {
		if r == v {
			return true
		}
	}
	return false
}

// EventBatch is the payload on the events topic: events of one line in
// ascending Seq (central sorts anyway).
type EventBatch struct {
	V    int    `json:"v"`
	Line string `json:"line"`
	// Incarnation identifies the line's event store that made the events
	// (a random id made with the store): Seq numbers the events of one
	// incarnation. A line whose store was lost or rolled back starts a new
	// incarnation, whose seq starts again at 1. Empty from a line that
	// sends none (one incarnation).
	Incarnation string  `json:"incarnation,omitempty"`
	Events      []Event `json:"events"`
}

// Event is one line event. Which fields an event needs depends on Type; see
// Validate.
type Event struct {
	// ID is globally unique and stable across resends (e.g. line + ":" +
	// seq, or a UUID): central applies each ID once.
	ID string `json:"id"`
	// Seq numbers the line's events 1, 2, 3, ... without gaps.
	Seq  uint64    `json:"seq"`
	Type EventType `json:"type"`
	At   time.Time `json:"at"`
	// Order is the work order the event belongs to.
	Order string `json:"order,omitempty"`
	// GTIN (14 digits), Serial, Lot and Expiry (YYMMDD) identify the unit.
	GTIN   string `json:"gtin,omitempty"`
	Serial string `json:"serial,omitempty"`
	Lot    string `json:"lot,omitempty"`
	Expiry string `json:"expiry,omitempty"`
	// Counter is the grant counter Serial was made from. It lets central
	// check, without a lookup, that the serial was granted to this order and
	// line: the counter lies in one of the order's ranges and the product's
	// scheme turns it into Serial.
	Counter *uint64 `json:"counter,omitempty"`
	// Reason says why a unit was decommissioned (Decommissioned only).
	Reason Reason `json:"reason,omitempty"`
	// Parent is the SSCC (18 digits) of the container (aggregation events).
	Parent string `json:"parent,omitempty"`
	// Children are the contents of Parent, each a unit "(01)GTIN(21)SERIAL"
	// or a container "(00)SSCC" (see UnitRef, SSCCRef, ParseChild).
	Children []string `json:"children,omitempty"`
	// Ranges are the unused counters handed back (SerialsReturned only).
	Ranges []CounterRange `json:"ranges,omitempty"`
	// Counts is the line's reconciliation of Order (OrderClosed only).
	Counts *Reconciliation `json:"counts,omitempty"`
	// Operator is who was logged in at the line, if anyone.
	Operator string `json:"operator,omitempty"`
	// Allowance is the number of units a reject allowance was extended by
	// (AllowanceExtended only).
	Allowance uint64 `json:"allowance,omitempty"`
	// Note says why: the supervisor's reason (AllowanceExtended), or how a
	// serial came to be voided when it is not the usual way (Voided: e.g.
	// "unaccounted after an unclean stop", which central flags for QA).
	Note string `json:"note,omitempty"`
}

// CounterRange is Count consecutive counters from Start.
type CounterRange struct {
	Start uint64 `json:"start"`
	Count uint64 `json:"count"`
}

// End returns the first counter after the range.
func (r CounterRange) End() uint64 { return r.Start + r.Count }

// Contains reports whether counter c is in the range.
func (r CounterRange) Contains(c uint64) bool { return c >= r.Start && c-r.Start < r.Count }

// validateRanges checks that ranges are non-empty, do not overflow and do
// not overlap, and returns their total.
func validateRanges(field string, ranges []CounterRange) (uint64, error) {
	var total uint64
	for i, r := range ranges {
		f := index(field, i)
		if r.Count == 0 {
			return 0, fieldErrf(f+".count", "must be at least 1")
		}
		if r.Start > math.MaxInt64 || r.Count > math.MaxInt64-r.Start {
			return 0, fieldErrf(f, "start %d + count %d overflows the counter space (2^63)", r.Start, r.Count)
		}
		for j := range i {
			o := ranges[j]
			if r.Start < o.End() && o.Start < r.End() {
				return 0, fieldErrf(f, "[%d, %d) overlaps %s [%d, %d)", r.Start, r.End(), index(field, j), o.Start, o.End())
			}
		}
		total += r.Count
	}
	return total, nil
}

// Reconciliation accounts for the serials granted to an order: every one
// ends as exactly one of commissioned, decommissioned (by reason), voided
// or returned unused.
type Reconciliation struct {
	Granted        uint64            `json:"granted"`
	Commissioned   uint64            `json:"commissioned"`
	Decommissioned map[Reason]uint64 `json:"decommissioned,omitempty"`
	Voided         uint64            `json:"voided"`
	ReturnedUnused uint64            `json:"returned_unused"`
}

// Accounted is the number of granted serials whose fate is known.
func (r Reconciliation) Accounted() uint64 {
	n := r.Commissioned + r.Voided + r.ReturnedUnused
	for _, c := range r.Decommissioned {
		n += c
	}
	return n
}

// DecommissionedTotal is the number decommissioned for any reason.
func (r Reconciliation) DecommissionedTotal() uint64 {
	var n uint64
	for _, c := range r.Decommissioned {
		n += c
	}
	return n
}

// Difference is Granted minus Accounted: positive when serials are
// unaccounted for, negative when more were used than granted.
func (r Reconciliation) Difference() int64 {
	return int64(r.Granted) - int64(r.Accounted())
}

// Balanced reports whether every granted serial is accounted for exactly.
func (r Reconciliation) Balanced() bool { return r.Difference() == 0 }

// Validate checks the reasons.
func (r Reconciliation) Validate() error {
	for reason := range r.Decommissioned {
		if !reason.Valid() {
			return fieldErr("decommissioned", reasonError(reason))
		}
	}
	return nil
}

func reasonError(r Reason) error {
	names := make([]string, 0, 6)
	for _, v := range Reasons() {
		names = append(names, string(v))
	}
	return fmt.Errorf("%q is not a reason; use one of %s", r, strings.Join(names, ", "))
}

func typeError(t EventType) error {
	if t == "" {
		return errors.New("missing")
	}
	names := make([]string, 0, 8)
	for _, v := range EventTypes() {
		names = append(names, string(v))
	}
	return fmt.Errorf("%q is not an event type; use one of %s", t, strings.Join(names, ", "))
}

// Child is one content of a container: a unit (GTIN and Serial) or a
// container (SSCC).
type Child struct {
	GTIN, Serial string
	SSCC         string
}

// UnitRef writes a unit as a child reference "(01)GTIN(21)SERIAL".
func UnitRef(gtin, serial string) string {
	return gs1.ElementString{{AI: "01", Value: gtin}, {AI: "21", Value: serial}}.Bracketed()
}

// SSCCRef writes a container as a child reference "(00)SSCC".
func SSCCRef(sscc string) string { return "(00)" + sscc }

// ParseChild reads a child reference written by UnitRef or SSCCRef and
// checks it by the GS1 rules.
func ParseChild(s string) (Child, error) {
	es, err := gs1.ParseBracketed(s)
	if err != nil {
		return Child{}, err
	}
	m := es.Map()
	switch {
	case len(m) == 1 && m["00"] != "":
		return Child{SSCC: m["00"]}, nil
	case len(m) == 2 && m["01"] != "" && m["21"] != "":
		if err := validateGTIN("gtin", m["01"]); err != nil {
			return Child{}, err
		}
		return Child{GTIN: m["01"], Serial: m["21"]}, nil
	}
	return Child{}, fmt.Errorf("%q is neither a unit (01)GTIN(21)SERIAL nor a container (00)SSCC", s)
}
