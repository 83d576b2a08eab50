package wire

import (
	"fmt"

	"github.com/serialine/serialine/shared/gs1"
)

// RequestKind says what a SerialRequest asks for (and a SerialGrant
// grants). It was added within version 1: an empty kind is RequestSerials,
// which is what every request meant before.
type RequestKind string

// The request kinds.
const (
	// RequestSerials asks for serial numbers (AI 21) of GTIN for Order.
	RequestSerials RequestKind = "serials"
	// RequestSSCC asks for SSCC serial references (AI 00) for the line's
	// cases and pallets, under the company prefix and extension digit in
	// SSCC. The counter ranges of the grant are serial references.
	RequestSSCC RequestKind = "sscc"
)

// Valid reports whether k is a known kind (empty counts as RequestSerials).
func (k RequestKind) Valid() bool { return k == "" || k == RequestSerials || k == RequestSSCC }

// IsSSCC reports whether k asks for SSCC serial references.
func (k RequestKind) IsSSCC() bool { return k == RequestSSCC }

func kindError(k RequestKind) error {
	return fmt.Errorf("%q is not a request kind; use serials (or leave it out) or sscc", k)
}

// SSCCPrefix is the fixed part of a family of SSCCs: the extension digit
// and the GS1 Company Prefix. With the serial reference and the check digit
// they make the 18 digits of an SSCC (GS1 General Specifications 2.2.1).
type SSCCPrefix struct {
	// CompanyPrefix is the GS1 Company Prefix, 6 to 12 digits (6 is the
	// least an EPC URI can carry).
	CompanyPrefix string `json:"company_prefix"`
	// Extension is the extension digit, 0 to 9, free for the company to
	// use (e.g. one per line or per packaging level).
	Extension int `json:"extension"`
}

// RefDigits is the number of digits left for the serial reference.
func (p SSCCPrefix) RefDigits() int { return 16 - len(p.CompanyPrefix) }

// Space is the number of serial references under p: 10^RefDigits.
func (p SSCCPrefix) Space() uint64 {
	n := uint64(1)
	for range p.RefDigits() {
		n *= 10
	}
	return n
}

// SSCC returns the SSCC with serial reference ref.
func (p SSCCPrefix) SSCC(ref uint64) (gs1.SSCC, error) {
	return gs1.NewSSCC(p.Extension, p.CompanyPrefix, ref)
}

// String writes p as "extension.companyprefix", e.g. "1.0614141".
func (p SSCCPrefix) String() string { return fmt.Sprintf("%d.%s", p.Extension, p.CompanyPrefix) }

// Validate checks the company prefix (6 to 12 digits) and the extension
// digit (0 to 9). Errors name the field and AI 00.
func (p SSCCPrefix) Validate() error {
	cp := p.CompanyPrefix
	if cp == "" {
		return fieldErrf("company_prefix", "missing")
	}
	if len(cp) < 6 || len(cp) > 12 {
		return fieldErr("company_prefix", &gs1.Error{AI: "00", Value: cp, Rule: gs1.RuleCompanyPrefix,
			Detail: fmt.Sprintf("a GS1 Company Prefix for an SSCC has 6 to 12 digits here, got %d", len(cp))})
	}
	for i := 0; i < len(cp); i++ {
		if cp[i] < '0' || cp[i] > '9' {
			return fieldErr("company_prefix", &gs1.Error{AI: "00", Value: cp, Rule: gs1.RuleNumeric,
				Detail: fmt.Sprintf("character %q at position %d is not a digit", cp[i], i+1)})
		}
	}
	if p.Extension < 0 || p.Extension > 9 {
		return fieldErr("extension", &gs1.Error{AI: "00", Value: fmt.Sprint(p.Extension), Rule: gs1.RuleValue,
			Detail: "the extension digit is 0 to 9"})
	}
	return nil
}

// validateSSCCRequest checks the fields of an SSCC request: the prefix, no
// GTIN, a count that fits the prefix's serial references. Order is
// optional (the order the cases are packed for, for the record).
func (r SerialRequest) validateSSCC() error {
	if r.SSCC == nil {
		return fieldErrf("sscc", "missing; an sscc request names the company prefix and extension digit")
	}
	if err := r.SSCC.Validate(); err != nil {
		return under("sscc", err)
	}
	if r.GTIN != "" {
		return fieldErrf("gtin", "an sscc request is for no GTIN; leave it out")
	}
	if err := validateText("order", r.Order, false); err != nil {
		return err
	}
	if r.Count == 0 {
		return fieldErrf("count", "must be at least 1")
	}
	if space := r.SSCC.Space(); r.Count > space {
		return fieldErrf("count", "%d exceeds the %d serial references of company prefix %s", r.Count, space, r.SSCC.CompanyPrefix)
	}
	return nil
}

// validateSSCC checks an SSCC grant: the prefix, no GTIN, scheme or
// serials, and serial reference ranges inside the prefix's space.
func (g SerialGrant) validateSSCC() error {
	if g.SSCC == nil {
		return fieldErrf("sscc", "missing; an sscc grant names the company prefix and extension digit")
	}
	if err := g.SSCC.Validate(); err != nil {
		return under("sscc", err)
	}
	if g.GTIN != "" {
		return fieldErrf("gtin", "an sscc grant is for no GTIN; leave it out")
	}
	if err := validateText("order", g.Order, false); err != nil {
		return err
	}
	if g.Error != "" {
		return g.validateRefusal()
	}
	if g.Scheme != nil || len(g.Serials) > 0 {
		return fieldErrf("scheme", "an sscc grant carries serial reference ranges only, no scheme or serials")
	}
	if len(g.Ranges) == 0 {
		return fieldErrf("ranges", "missing; a grant holds at least one serial reference range")
	}
	if _, err := validateRanges("ranges", g.Ranges); err != nil {
		return err
	}
	space := g.SSCC.Space()
	for i, r := range g.Ranges {
		if r.End() > space {
			return fieldErrf(index("ranges", i), "[%d, %d) is beyond the %d serial references of company prefix %s", r.Start, r.End(), space, g.SSCC.CompanyPrefix)
		}
	}
	return nil
}
