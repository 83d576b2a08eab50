package gs1

import (
	"strconv"
	"strings"
)

// EPC pure identity URI prefixes (GS1 EPC Tag Data Standard 2.x, section 6).
const (
	SGTINURIPrefix = "urn:epc:id:sgtin:"
	SSCCURIPrefix  = "urn:epc:id:sscc:"
	SGLNURIPrefix  = "urn:epc:id:sgln:"
)

// MaxSGTIN96Serial is the largest serial an SGTIN-96 tag holds (38 bits).
const MaxSGTIN96Serial = 1<<38 - 1 // 274,877,906,943

// SGTINURI returns the EPC pure identity URI of a serialised GTIN, e.g.
// urn:epc:id:sgtin:0614141.812345.6789 for GTIN 80614141123458, serial 6789
// and a 7-digit GS1 Company Prefix. gcpLen (6..12) is the length of the
// company prefix inside the GTIN, which the GTIN alone does not tell. The
// serial (AI 21: 1 to 20 CSET 82 characters) has " % & / < > ? escaped as
// %22 %25 %26 %2F %3C %3E %3F, as the Tag Data Standard requires.
func SGTINURI(gtin GTIN, serial string, gcpLen int) (string, error) {
	g, err := ParseGTIN(string(gtin))
	if err != nil {
		return "", err
	}
	if err := checkGCPLen("01", gcpLen); err != nil {
		return "", err
	}
	if err := checkEPCSerial("21", serial); err != nil {
		return "", err
	}
	b := make([]byte, 0, len(SGTINURIPrefix)+16+3*len(serial))
	b = append(b, SGTINURIPrefix...)
	b = append(b, g[1:1+gcpLen]...)
	b = append(b, '.', g[0])
	b = append(b, g[1+gcpLen:13]...)
	b = append(b, '.')
	b = appendEPCEscaped(b, serial)
	return string(b), nil
}

// ParseSGTINURI parses urn:epc:id:sgtin:{CompanyPrefix}.{Indicator}{ItemRef}.{Serial}
// and returns the GTIN (check digit recomputed) and the unescaped serial.
func ParseSGTINURI(uri string) (GTIN, string, error) {
	cp, ref, serial, err := splitEPC(uri, SGTINURIPrefix, "01", 13, true)
	if err != nil {
		return "", "", err
	}
	s, err := epcUnescape("21", serial)
	if err != nil {
		return "", "", err
	}
	if err := checkEPCSerial("21", s); err != nil {
		return "", "", err
	}
	digits := ref[:1] + cp + ref[1:]
	return GTIN(digits + string(checkDigit(digits))), s, nil
}

// SSCCURI returns the EPC pure identity URI of an SSCC, e.g.
// urn:epc:id:sscc:0614141.1234567890 for SSCC 106141412345678908 with a
// 7-digit company prefix: the extension digit moves behind the prefix and the
// check digit is dropped.
func SSCCURI(s SSCC, gcpLen int) (string, error) {
	v, err := ParseSSCC(string(s))
	if err != nil {
		return "", err
	}
	if err := checkGCPLen("00", gcpLen); err != nil {
		return "", err
	}
	return SSCCURIPrefix + string(v[1:1+gcpLen]) + "." + string(v[0]) + string(v[1+gcpLen:17]), nil
}

// ParseSSCCURI parses urn:epc:id:sscc:{CompanyPrefix}.{Extension}{SerialRef}.
func ParseSSCCURI(uri string) (SSCC, error) {
	cp, ref, _, err := splitEPC(uri, SSCCURIPrefix, "00", 17, false)
	if err != nil {
		return "", err
	}
	digits := ref[:1] + cp + ref[1:]
	return SSCC(digits + string(checkDigit(digits))), nil
}

// SGLNURI returns the EPC pure identity URI of a GLN with an optional GLN
// extension component (AI 254; "" when none, written as "0"), e.g.
// urn:epc:id:sgln:0614141.12345.400 for GLN 0614141123452, extension 400.
func SGLNURI(g GLN, extension string, gcpLen int) (string, error) {
	v, err := ParseGLN(string(g))
	if err != nil {
		return "", err
	}
	if err := checkGCPLen("414", gcpLen); err != nil {
		return "", err
	}
	if extension == "" {
		extension = "0"
	} else if err := checkEPCSerial("254", extension); err != nil {
		return "", err
	}
	b := make([]byte, 0, len(SGLNURIPrefix)+16+3*len(extension))
	b = append(b, SGLNURIPrefix...)
	b = append(b, v[:gcpLen]...)
	b = append(b, '.')
	b = append(b, v[gcpLen:12]...)
	b = append(b, '.')
	b = appendEPCEscaped(b, extension)
	return string(b), nil
}

// ParseSGLNURI parses urn:epc:id:sgln:{CompanyPrefix}.{LocationRef}.{Extension}
// and returns the GLN and the extension, "" when the URI says "0" (none).
func ParseSGLNURI(uri string) (GLN, string, error) {
	cp, ref, ext, err := splitEPC(uri, SGLNURIPrefix, "414", 12, true)
	if err != nil {
		return "", "", err
	}
	x, err := epcUnescape("254", ext)
	if err != nil {
		return "", "", err
	}
	if err := checkEPCSerial("254", x); err != nil {
		return "", "", err
	}
	if x == "0" {
		x = ""
	}
	digits := cp + ref
	return GLN(digits + string(checkDigit(digits))), x, nil
}

// SGTIN96Eligible reports whether serial can be encoded in an SGTIN-96 tag:
// digits only, no leading zero (a lone "0" is fine), at most 274877906943.
// Errors name AI 21.
func SGTIN96Eligible(serial string) error {
	switch {
	case serial == "":
		return newErr("21", "", RuleLength, "serial is empty")
	case firstNonDigit(serial) >= 0:
		return newErr("21", serial, RuleNumeric, charDetail(serial, firstNonDigit(serial), "is not a digit; SGTIN-96 serials are numeric"))
	case len(serial) > 1 && serial[0] == '0':
		return newErr("21", serial, RuleSGTIN96, "a leading zero cannot be encoded in SGTIN-96")
	}
	if n, err := strconv.ParseUint(serial, 10, 64); err != nil || n > MaxSGTIN96Serial {
		return newErr("21", serial, RuleSGTIN96, "exceeds 274877906943, the largest SGTIN-96 serial")
	}
	return nil
}

func checkGCPLen(ai string, n int) *Error {
	if n < 6 || n > 12 {
		return newErr(ai, "", RuleCompanyPrefix, "EPC URIs take a GS1 Company Prefix of 6 to 12 digits, got length "+strconv.Itoa(n))
	}
	return nil
}

func checkEPCSerial(ai, s string) *Error {
	if len(s) < 1 || len(s) > 20 {
		return newErr(ai, s, RuleLength, "must be 1 to 20 characters, got "+strconv.Itoa(len(s)))
	}
	if i := firstNonCSET82(s); i >= 0 {
		return newErr(ai, s, RuleCharset, charDetail(s, i, "is not in CSET 82"))
	}
	return nil
}

// splitEPC splits prefix{CompanyPrefix}.{Ref}[.{Third}] where the prefix and
// reference digits make digits in all; errors name ai.
func splitEPC(uri, prefix, ai string, digits int, third bool) (cp, ref, rest string, err *Error) {
	if !strings.HasPrefix(uri, prefix) {
		return "", "", "", newErr(ai, truncate(uri), RuleSyntax, "an EPC pure identity URI of this kind starts with "+prefix)
	}
	body := uri[len(prefix):]
	cp, body, ok := strings.Cut(body, ".")
	if third {
		var ok2 bool
		ref, rest, ok2 = strings.Cut(body, ".")
		ok = ok && ok2
	} else {
		ref = body
		ok = ok && !strings.Contains(ref, ".")
	}
	if !ok {
		form := "{CompanyPrefix}.{Reference}"
		if third {
			form += ".{Serial}"
		}
		return "", "", "", newErr(ai, truncate(uri), RuleSyntax, "expected "+prefix+form)
	}
	if i := firstNonDigit(cp + ref); i >= 0 {
		return "", "", "", newErr(ai, truncate(uri), RuleNumeric, "company prefix and reference must be digits")
	}
	if len(cp) < 6 || len(cp) > 12 {
		return "", "", "", newErr(ai, truncate(uri), RuleCompanyPrefix, "GS1 Company Prefix must have 6 to 12 digits, got "+strconv.Itoa(len(cp)))
	}
	if len(cp)+len(ref) != digits || (digits != 12 && ref == "") {
		return "", "", "", newErr(ai, truncate(uri), RuleLength,
			"company prefix and reference must have "+strconv.Itoa(digits)+" digits together, got "+strconv.Itoa(len(cp)+len(ref)))
	}
	return cp, ref, rest, nil
}

// epcEscapes are the CSET 82 characters the Tag Data Standard escapes in a
// URI component; the others are written as they are.
const epcEscapes = `"%&/<>?`

func appendEPCEscaped(b []byte, s string) []byte {
	const hexdigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		if c := s[i]; strings.IndexByte(epcEscapes, c) >= 0 {
			b = append(b, '%', hexdigits[c>>4], hexdigits[c&15])
		} else {
			b = append(b, c)
		}
	}
	return b
}

// epcUnescape undoes appendEPCEscaped. Only the seven escapes the Tag Data
// Standard defines are accepted, and those characters must not appear bare.
func epcUnescape(ai, s string) (string, *Error) {
	if strings.IndexByte(s, '%') < 0 {
		if i := strings.IndexAny(s, epcEscapes); i >= 0 {
			return "", newErr(ai, s, RuleSyntax, charDetail(s, i, "must be %-escaped in an EPC URI"))
		}
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if strings.IndexByte(epcEscapes, c) >= 0 {
				return "", newErr(ai, s, RuleSyntax, charDetail(s, i, "must be %-escaped in an EPC URI"))
			}
			b = append(b, c)
			continue
		}
		if i+2 >= len(s) {
			return "", newErr(ai, s, RuleSyntax, "truncated %-escape at position "+strconv.Itoa(i+1))
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		d := hi<<4 | lo
		if !ok1 || !ok2 || strings.IndexByte(epcEscapes, d) < 0 {
			return "", newErr(ai, s, RuleSyntax, "%-escape "+s[i:i+3]+" is not one of %22 %25 %26 %2F %3C %3E %3F")
		}
		b = append(b, d)
		i += 2
	}
	return string(b), nil
}
