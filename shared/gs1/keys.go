package gs1

import (
	"strconv"
)

// GTIN is a Global Trade Item Number in its 14-digit form (AI 01), check
// digit included. Make one with ParseGTIN.
type GTIN string

// ParseGTIN accepts a GTIN-8, -12, -13 or -14, checks its check digit and
// returns it left-padded with zeros to 14 digits. Errors name AI 01.
func ParseGTIN(s string) (GTIN, error) {
	if n := len(s); n != 8 && n != 12 && n != 13 && n != 14 {
		return "", newErr("01", s, RuleLength, "a GTIN has 8, 12, 13 or 14 digits, got "+strconv.Itoa(n))
	}
	if err := checkNumericKey("01", s); err != nil {
		return "", err
	}
	return GTIN(padGTIN("01", s)), nil
}

// String returns the 14 digits.
func (g GTIN) String() string { return string(g) }

// Indicator returns the first digit: 0 for a GTIN-8/12/13, 1-8 for packaging
// levels of a GTIN-14, 9 for a variable-measure item.
func (g GTIN) Indicator() byte {
	if len(g) == 0 {
		return 0
	}
	return g[0]
}

// SSCC is a Serial Shipping Container Code (AI 00): 18 digits, check digit
// included.
type SSCC string

// ParseSSCC checks an 18-digit SSCC. Errors name AI 00.
func ParseSSCC(s string) (SSCC, error) {
	if len(s) != 18 {
		return "", newErr("00", s, RuleLength, "an SSCC has 18 digits, got "+strconv.Itoa(len(s)))
	}
	if err := checkNumericKey("00", s); err != nil {
		return "", err
	}
	return SSCC(s), nil
}

// String returns the 18 digits.
func (s SSCC) String() string { return string(s) }

// NewSSCC builds an SSCC from its extension digit (0-9), GS1 Company Prefix
// (4 to 12 digits, as GS1 allocates them; EPC URIs need 6 to 12) and serial
// reference, which must fit the 16 - len(companyPrefix) digits left, and
// computes the check digit. Errors name AI 00.
func NewSSCC(extension int, companyPrefix string, serialRef uint64) (SSCC, error) {
	if extension < 0 || extension > 9 {
		return "", newErr("00", "", RuleValue, "extension digit must be 0 to 9, got "+strconv.Itoa(extension))
	}
	if err := checkCompanyPrefix("00", companyPrefix, 4); err != nil {
		return "", err
	}
	width := 16 - len(companyPrefix)
	ref := strconv.FormatUint(serialRef, 10)
	if len(ref) > width {
		return "", newErr("00", ref, RuleLength,
			"serial reference must fit in "+strconv.Itoa(width)+" digits with a "+strconv.Itoa(len(companyPrefix))+"-digit company prefix")
	}
	b := make([]byte, 0, 18)
	b = append(b, byte('0'+extension))
	b = append(b, companyPrefix...)
	for i := len(ref); i < width; i++ {
		b = append(b, '0')
	}
	b = append(b, ref...)
	b = append(b, checkDigit(string(b)))
	return SSCC(b), nil
}

// GLN is a Global Location Number: 13 digits, check digit included (AIs
// 410-417).
type GLN string

// ParseGLN checks a 13-digit GLN. Errors name AI 414.
func ParseGLN(s string) (GLN, error) {
	if len(s) != 13 {
		return "", newErr("414", s, RuleLength, "a GLN has 13 digits, got "+strconv.Itoa(len(s)))
	}
	if err := checkNumericKey("414", s); err != nil {
		return "", err
	}
	return GLN(s), nil
}

// String returns the 13 digits.
func (g GLN) String() string { return string(g) }

func checkNumericKey(ai, s string) *Error {
	if i := firstNonDigit(s); i >= 0 {
		return newErr(ai, s, RuleNumeric, charDetail(s, i, "is not a digit"))
	}
	return checkKey(ai, s, s)
}

func checkCompanyPrefix(ai, cp string, minLen int) *Error {
	if len(cp) < minLen || len(cp) > 12 {
		return newErr(ai, cp, RuleCompanyPrefix,
			"a GS1 Company Prefix here has "+strconv.Itoa(minLen)+" to 12 digits, got "+strconv.Itoa(len(cp)))
	}
	if i := firstNonDigit(cp); i >= 0 {
		return newErr(ai, cp, RuleNumeric, charDetail(cp, i, "is not a digit"))
	}
	return nil
}
