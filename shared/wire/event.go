package wire

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

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

// Validate checks the event on its own: id, seq, type and time, the fields
// its type requires and forbids, and the GS1 rules of each identifier
// (GTIN-14 check digit, serial and lot of 1 to 20 CSET 82 characters,
// expiry YYMMDD with DD=00 allowed, SSCC check digit). Errors are
// *FieldError naming the field by its JSON name. Whether the order exists
// and the serial was granted is central's business, not the contract's.
func (e Event) Validate() error {
	if err := validateID("id", e.ID); err != nil {
		return err
	}
	if e.Seq == 0 {
		return fieldErrf("seq", "must be at least 1 (a line's events are numbered from 1)")
	}
	if e.Seq > MaxSeq {
		return fieldErrf("seq", "%d exceeds the largest seq (2^63-1)", e.Seq)
	}
	if !e.Type.Valid() {
		return fieldErr("type", typeError(e.Type))
	}
	if e.At.IsZero() {
		return fieldErrf("at", "missing")
	}
	if err := validateText("operator", e.Operator, false); err != nil {
		return err
	}
	if e.Order != "" {
		if err := validateText("order", e.Order, false); err != nil {
			return err
		}
	}
	// Identifiers are checked whenever present, required ones per type below.
	if e.GTIN != "" {
		if err := validateGTIN("gtin", e.GTIN); err != nil {
			return err
		}
	}
	if e.Serial != "" {
		if err := validateX20("serial", "21", e.Serial); err != nil {
			return err
		}
	}
	if e.Lot != "" {
		if err := validateX20("lot", "10", e.Lot); err != nil {
			return err
		}
	}
	if e.Expiry != "" {
		if err := gs1.ValidateDate("17", e.Expiry, true); err != nil {
			return fieldErr("expiry", err)
		}
	}
	if e.Counter != nil && *e.Counter > math.MaxInt64 {
		return fieldErrf("counter", "%d exceeds the counter space (2^63)", *e.Counter)
	}
	if e.Reason != "" && e.Type != Decommissioned {
		return fieldErrf("reason", "only decommissioned events have a reason, this one is %s", e.Type)
	}
	if e.Counts != nil && e.Type != OrderClosed {
		return fieldErrf("counts", "only order-closed events carry counts, this one is %s", e.Type)
	}
	if e.Allowance != 0 && e.Type != AllowanceExtended {
		return fieldErrf("allowance", "only allowance-extended events carry it, this one is %s", e.Type)
	}
	if e.Note != "" {
		if e.Type != AllowanceExtended && e.Type != Voided {
			return fieldErrf("note", "only allowance-extended and voided events carry a note, this one is %s", e.Type)
		}
		if err := validateText("note", e.Note, false); err != nil {
			return err
		}
	}
	if len(e.Ranges) > 0 && e.Type != SerialsReturned {
		return fieldErrf("ranges", "only serials-returned events carry ranges, this one is %s", e.Type)
	}
	aggregation := e.Type == Aggregated || e.Type == Disaggregated
	if !aggregation && (e.Parent != "" || len(e.Children) > 0) {
		f := "parent"
		if e.Parent == "" {
			f = "children"
		}
		return fieldErrf(f, "only aggregated and disaggregated events have a parent and children, this one is %s", e.Type)
	}

	switch e.Type {
	case Commissioned:
		if err := require(e, "order", "gtin", "serial", "lot", "expiry", "counter"); err != nil {
			return err
		}
	case Voided:
		if err := require(e, "order", "gtin", "serial", "counter"); err != nil {
			return err
		}
	case Decommissioned:
		if err := require(e, "gtin", "serial", "reason"); err != nil {
			return err
		}
		if !e.Reason.Valid() {
			return fieldErr("reason", reasonError(e.Reason))
		}
	case Aggregated, Disaggregated:
		if err := require(e, "parent"); err != nil {
			return err
		}
		if _, err := gs1.ParseSSCC(e.Parent); err != nil {
			return fieldErr("parent", err)
		}
		if e.Type == Aggregated && len(e.Children) == 0 {
			return fieldErrf("children", "missing; an aggregation packs at least one child")
		}
		seen := make(map[string]int, len(e.Children))
		for i, c := range e.Children {
			ch, err := ParseChild(c)
			if err != nil {
				return fieldErr(index("children", i), err)
			}
			if ch.SSCC == e.Parent {
				return fieldErrf(index("children", i), "the container %s cannot contain itself", e.Parent)
			}
			if j, dup := seen[c]; dup {
				return fieldErrf(index("children", i), "%q repeats children[%d]", c, j)
			}
			seen[c] = i
		}
	case OrderStarted:
		if err := require(e, "order"); err != nil {
			return err
		}
	case OrderClosed:
		if err := require(e, "order", "counts"); err != nil {
			return err
		}
		if err := e.Counts.Validate(); err != nil {
			return under("counts", err)
		}
	case SerialsReturned:
		if err := require(e, "order", "gtin", "ranges"); err != nil {
			return err
		}
		if _, err := validateRanges("ranges", e.Ranges); err != nil {
			return err
		}
	case AllowanceExtended:
		if err := require(e, "order", "allowance", "note", "operator"); err != nil {
			return err
		}
		if e.Allowance > 1<<40 {
			return fieldErrf("allowance", "%d is more than 2^40 units", e.Allowance)
		}
		if err := validateText("note", e.Note, true); err != nil {
			return err
		}
	}
	return nil
}

// require returns a *FieldError for the first of fields that e lacks.
func require(e Event, fields ...string) error {
	for _, f := range fields {
		var missing bool
		switch f {
		case "order":
			missing = e.Order == ""
		case "gtin":
			missing = e.GTIN == ""
		case "serial":
			missing = e.Serial == ""
		case "lot":
			missing = e.Lot == ""
		case "expiry":
			missing = e.Expiry == ""
		case "counter":
			missing = e.Counter == nil
		case "reason":
			missing = e.Reason == ""
		case "parent":
			missing = e.Parent == ""
		case "counts":
			missing = e.Counts == nil
		case "ranges":
			missing = len(e.Ranges) == 0
		case "allowance":
			missing = e.Allowance == 0
		case "note":
			missing = strings.TrimSpace(e.Note) == ""
		case "operator":
			missing = e.Operator == ""
		}
		if missing {
			return fieldErrf(f, "missing; %s events need it", e.Type)
		}
	}
	return nil
}

// Validate checks the envelope and every event: version, line id, size, and
// that no id or seq repeats. Invalid events are reported as a *BatchError
// (the envelope being fine); any other error concerns the envelope.
func (b EventBatch) Validate() error {
	if err := b.validateEnvelope(); err != nil {
		return err
	}
	return b.validateEvents()
}

func (b EventBatch) validateEnvelope() error {
	if err := checkVersion(b.V); err != nil {
		return err
	}
	if err := ValidateLine(b.Line); err != nil {
		return fieldErr("line", err)
	}
	if err := validateIncarnation("incarnation", b.Incarnation); err != nil {
		return err
	}
	if len(b.Events) == 0 {
		return fieldErrf("events", "empty; a batch carries at least one event")
	}
	if len(b.Events) > MaxBatchEvents {
		return fieldErr("events", fmt.Errorf("%w: %d events, at most %d per batch", ErrTooLarge, len(b.Events), MaxBatchEvents))
	}
	return nil
}

func (b EventBatch) validateEvents() error {
	var invalid map[int]error
	ids := make(map[string]int, len(b.Events))
	seqs := make(map[uint64]int, len(b.Events))
	for i, e := range b.Events {
		err := e.Validate()
		if err == nil {
			if j, dup := ids[e.ID]; dup {
				err = fieldErrf("id", "%q repeats events[%d]", e.ID, j)
			} else if j, dup := seqs[e.Seq]; dup {
				err = fieldErrf("seq", "%d repeats events[%d]", e.Seq, j)
			}
		}
		if err != nil {
			if invalid == nil {
				invalid = make(map[int]error)
			}
			invalid[i] = under(index("events", i), err)
			continue
		}
		ids[e.ID] = i
		seqs[e.Seq] = i
	}
	if invalid != nil {
		return &BatchError{Invalid: invalid}
	}
	return nil
}

func checkVersion(v int) error {
	switch v {
	case Version:
		return nil
	case 0:
		return fieldErr("v", fmt.Errorf("%w: missing (this build speaks %d)", ErrVersion, Version))
	default:
		return fieldErr("v", fmt.Errorf("%w: version %d is not supported (this build speaks %d)", ErrVersion, v, Version))
	}
}

// validateID checks an event or request id: 1 to MaxIDLen printable ASCII
// characters without spaces, so it can be logged and used as a key as is.
func validateID(field, id string) error {
	if id == "" {
		return fieldErrf(field, "missing")
	}
	if len(id) > MaxIDLen {
		return fieldErrf(field, "has %d characters, at most %d are allowed", len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fieldErrf(field, "character %q at position %d is not printable ASCII (spaces are not allowed either)", id[i], i+1)
		}
	}
	return nil
}

// MaxIncarnationLen is the longest incarnation id.
const MaxIncarnationLen = 64

// validateIncarnation checks an incarnation id: empty, or 1 to
// MaxIncarnationLen characters of [A-Za-z0-9_-].
func validateIncarnation(field, s string) error {
	if len(s) > MaxIncarnationLen {
		return fieldErrf(field, "has %d characters, at most %d are allowed", len(s), MaxIncarnationLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fieldErrf(field, "character %q at position %d is not one of [A-Za-z0-9_-]", c, i+1)
		}
	}
	return nil
}

// validateText checks free text: valid printable UTF-8 of at most
// maxTextLen bytes, no control characters.
func validateText(field, s string, required bool) error {
	if s == "" {
		if required {
			return fieldErrf(field, "missing")
		}
		return nil
	}
	if len(s) > maxTextLen {
		return fieldErrf(field, "has %d bytes, at most %d are allowed", len(s), maxTextLen)
	}
	if !utf8.ValidString(s) {
		return fieldErrf(field, "is not valid UTF-8")
	}
	for i, r := range s {
		if r < ' ' || r == 0x7f {
			return fieldErrf(field, "control character %q at byte %d", r, i+1)
		}
	}
	return nil
}

// validateGTIN requires the 14-digit form with a correct check digit, so
// that one trade item always has one spelling in central's records.
func validateGTIN(field, v string) error {
	g, err := gs1.ParseGTIN(v)
	if err != nil {
		return fieldErr(field, err)
	}
	if string(g) != v {
		return fieldErr(field, &gs1.Error{AI: "01", Value: v, Rule: gs1.RuleLength, Detail: "write the GTIN with 14 digits (" + string(g) + ")"})
	}
	return nil
}

// validateX20 checks a lot or serial: 1 to 20 characters of CSET 82.
func validateX20(field, ai, v string) error {
	if len(v) > 20 {
		return fieldErr(field, &gs1.Error{AI: ai, Value: v, Rule: gs1.RuleLength, Detail: fmt.Sprintf("at most 20 characters, got %d", len(v))})
	}
	if err := gs1.ValidateCSET82(ai, v); err != nil {
		return fieldErr(field, err)
	}
	return nil
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
