package wire

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/serialine/serialine/shared/gs1"
)

// Validate checks the event on its own: id, seq, type and time, the fields
// its type requires and forbids, and the GS1 rules of each identifier
// (GTIN-14 check digit, serial and lot of 1 to 20 CSET 82 characters,
// expiry YYMMDD with DD=00 allowed, SSCC check digit). Errors are
// *FieldError naming the field by its JSON name. Whether the order exists
// and the serial was granted is central's business, not the contract's.
//
// It is long because it is a flat list of checks in a fixed order (envelope,
// identifiers, forbidden fields, each type's required ones); the first failure is
// returned, so the order decides which error a bad event gets.
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
	return batchError(b.Events, func(i int) error { return b.Events[i].Validate() })
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
