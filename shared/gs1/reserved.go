package gs1

import "strings"

// RuleReserved is broken by a key GS1 reserves: valid digits that do not
// identify a trade item or location of a company (all zeros, restricted
// circulation numbers, coupons, refund receipts).
const RuleReserved Rule = "reserved"

// gtinPrefixUse are GS1 Prefix ranges (the first three digits of a
// GTIN-13, or "0" and the first two of a GTIN-12) that GS1 keeps for
// other uses than a company's trade items (GS1 General Specifications,
// GS1 Prefixes): restricted circulation numbers for use within a company
// or a region (variable-measure and in-store items), coupons, refund
// receipts, and the ISSN/ISBN/ISMN ranges of publications.
var gtinPrefixUse = []struct {
	from, to, use string
}{
	{"020", "029", "a restricted circulation number (RCN) for use within a company"},
	{"040", "049", "a restricted circulation number (RCN) for use within a company"},
	{"050", "059", "a coupon number"},
	{"200", "299", "a restricted circulation number (RCN) for use within a geographic region (variable-measure or in-store items)"},
	{"977", "977", "a serial publication's number (ISSN)"},
	{"978", "979", "a book's or printed music's number (ISBN, ISMN)"},
	{"980", "980", "a refund receipt number"},
	{"981", "984", "a coupon number (common currency area)"},
	{"990", "999", "a coupon number"},
}

// CheckTradeItemGTIN refuses a GTIN (14 digits, as ParseGTIN returns it)
// that cannot be a company's trade item: the all-zero GTIN, an RCN-8
// (a GTIN-8 starting with 0 or 2) and the GS1 Prefixes of gtinPrefixUse.
// Errors name AI 01 and say what the number is reserved for.
func CheckTradeItemGTIN(g GTIN) error {
	s := string(g)
	if len(s) != 14 {
		return newErr("01", s, RuleLength, "a GTIN here has 14 digits")
	}
	if strings.Trim(s[1:13], "0") == "" {
		return newErr("01", s, RuleReserved, "the all-zero GTIN identifies no trade item")
	}
	if s[1:6] == "00000" { // a GTIN-8 written in 14 digits
		if c := s[6]; c == '0' || c == '2' {
			return newErr("01", s, RuleReserved, "GTIN-8 "+s[6:]+" is a restricted circulation number (RCN-8, GS1 Prefix 0 or 2), not a trade item's GTIN")
		}
		return nil
	}
	p := s[1:4]
	for _, u := range gtinPrefixUse {
		if p >= u.from && p <= u.to {
			return newErr("01", s, RuleReserved, "GS1 Prefix "+p+" makes this "+u.use+", not a trade item's GTIN")
		}
	}
	return nil
}

// CheckLocationGLN refuses the all-zero GLN, which identifies no party or
// location. Errors name AI 414.
func CheckLocationGLN(g GLN) error {
	s := string(g)
	if strings.Trim(s, "0") == "" {
		return newErr("414", s, RuleReserved, "the all-zero GLN identifies no party or location")
	}
	return nil
}

// CheckSSCCSerialRef refuses an SSCC whose serial reference (the digits
// after the extension digit and a company prefix of gcpLen digits, before
// the check digit) is all zeros, or whose 17 digits are: GS1 allocates
// no such container code.
func CheckSSCCSerialRef(s SSCC, gcpLen int) error {
	v := string(s)
	if len(v) != 18 {
		return newErr("00", v, RuleLength, "an SSCC has 18 digits")
	}
	if strings.Trim(v[:17], "0") == "" {
		return newErr("00", v, RuleReserved, "the all-zero SSCC identifies no container")
	}
	if gcpLen >= 4 && gcpLen <= 12 && strings.Trim(v[1+gcpLen:17], "0") == "" {
		return newErr("00", v, RuleReserved, "its serial reference is all zeros")
	}
	return nil
}
