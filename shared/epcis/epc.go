package epcis

import (
	"net/url"
	"regexp"
	"strings"
)

// EPC pure-identity, class and pattern URIs (TDS 2.x). The serial/lot parts
// allow GS1 AI encodable set 82 in URI-escaped form.
const uriChar = `(?:%[0-9A-Fa-f]{2}|[!'()*+,\-.0-9:;=A-Z_a-z])`

var (
	reSGTIN   = regexp.MustCompile(`^urn:epc:id:sgtin:(\d{6,12})\.(\d{1,7})\.(` + uriChar + `{1,20})$`)
	reSSCC    = regexp.MustCompile(`^urn:epc:id:sscc:(\d{6,12})\.(\d{5,11})$`)
	reSGLN    = regexp.MustCompile(`^urn:epc:id:sgln:(\d{6,12})\.(\d{0,6})\.(` + uriChar + `{1,20})$`)
	rePGLN    = regexp.MustCompile(`^urn:epc:id:pgln:(\d{6,12})\.(\d{0,6})$`)
	reLGTIN   = regexp.MustCompile(`^urn:epc:class:lgtin:(\d{6,12})\.(\d{1,7})\.(` + uriChar + `{1,20})$`)
	reIDPatSG = regexp.MustCompile(`^urn:epc:idpat:sgtin:(\d{6,12})\.(\d{1,7})\.\*$`)
	reOtherID = regexp.MustCompile(`^urn:epc:id:(grai|giai|gsrn|gsrnp|gdti|cpi|sgcn|ginc|gsin|itip|upui|gid|usdod|adi|bic|imovn|gcn|gdti):[!'()*+,\-.0-9:;=A-Z_a-z%*]+$`)
	reOtherPt = regexp.MustCompile(`^urn:epc:(idpat|class):[a-z0-9]+:[!'()*+,\-.0-9:;=A-Z_a-z%*]+$`)
	// GS1 Digital Link: any host, a primary key AI path.
	reDL = regexp.MustCompile(`^https?://[^/?#\s]+(?:/[^?#\s]*)?/(01|00|414|417|8003|8004|8018|253|255|401|402|8006|8010|8017)/([^/?#\s]+)((?:/[0-9]{2,4}/[^/?#\s]+)*)/?(\?[^#\s]*)?$`)
)

// epcKind reports which identifier s is ("sgtin", "sscc", "sgln", "pgln",
// "lgtin", "idpat", "epc", "dl") or "" when it is none of them. The company
// prefix plus reference must have the length GS1 fixes for each key.
func epcKind(s string) string {
	if m := reSGTIN.FindStringSubmatch(s); m != nil {
		if len(m[1])+len(m[2]) == 13 {
			return "sgtin"
		}
		return ""
	}
	if m := reSSCC.FindStringSubmatch(s); m != nil {
		if len(m[1])+len(m[2]) == 17 {
			return "sscc"
		}
		return ""
	}
	if m := reSGLN.FindStringSubmatch(s); m != nil {
		if len(m[1])+len(m[2]) == 12 {
			return "sgln"
		}
		return ""
	}
	if m := rePGLN.FindStringSubmatch(s); m != nil {
		if len(m[1])+len(m[2]) == 12 {
			return "pgln"
		}
		return ""
	}
	if m := reLGTIN.FindStringSubmatch(s); m != nil {
		if len(m[1])+len(m[2]) == 13 {
			return "lgtin"
		}
		return ""
	}
	if m := reIDPatSG.FindStringSubmatch(s); m != nil {
		if len(m[1])+len(m[2]) == 13 {
			return "idpat"
		}
		return ""
	}
	if reOtherID.MatchString(s) {
		return "epc"
	}
	if reOtherPt.MatchString(s) && !strings.HasPrefix(s, "urn:epc:class:lgtin:") && !strings.HasPrefix(s, "urn:epc:idpat:sgtin:") {
		return "idpat"
	}
	if m := reDL.FindStringSubmatch(s); m != nil && dlKeyOK(m[1], m[2]) {
		return "dl"
	}
	return ""
}

// dlKeyOK checks the primary key of a Digital Link: length and check digit for
// the numeric keys.
func dlKeyOK(ai, key string) bool {
	want := map[string]int{"01": 14, "00": 18, "414": 13, "417": 13, "8018": 18, "402": 17}[ai]
	if want == 0 {
		return key != ""
	}
	if ai == "01" && (len(key) == 8 || len(key) == 12 || len(key) == 13) {
		key = strings.Repeat("0", 14-len(key)) + key
	}
	if len(key) != want || strings.Trim(key, "0123456789") != "" {
		return false
	}
	return checkDigit(key[:len(key)-1]) == key[len(key)-1]
}

// checkDigit computes the GS1 mod-10 check digit over digits.
func checkDigit(digits string) byte {
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// dlEscape percent-encodes what a Digital Link path segment may not carry.
func dlEscape(s string) string {
	s, _ = url.PathUnescape(s)
	var b strings.Builder
	for _, c := range []byte(s) {
		switch c {
		case '!', '(', ')', '*', '+', ',', ':', '/', '#', '%', '&', ' ', '"', '?':
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// toDigitalLink converts an EPC URI or a Digital Link URI into the canonical,
// constrained GS1 Digital Link the event hash uses: host id.gs1.org, the
// finest identification level only, no query string. ok is false when s is
// not a GS1 identifier we can convert.
func toDigitalLink(s string) (string, bool) {
	const base = "https://id.gs1.org/"
	if m := reSGTIN.FindStringSubmatch(s); m != nil && len(m[1])+len(m[2]) == 13 {
		gtin := m[2][:1] + m[1] + m[2][1:]
		return base + "01/" + gtin + string(checkDigit(gtin)) + "/21/" + dlEscape(m[3]), true
	}
	if m := reLGTIN.FindStringSubmatch(s); m != nil && len(m[1])+len(m[2]) == 13 {
		gtin := m[2][:1] + m[1] + m[2][1:]
		return base + "01/" + gtin + string(checkDigit(gtin)) + "/10/" + dlEscape(m[3]), true
	}
	if m := reIDPatSG.FindStringSubmatch(s); m != nil && len(m[1])+len(m[2]) == 13 {
		gtin := m[2][:1] + m[1] + m[2][1:]
		return base + "01/" + gtin + string(checkDigit(gtin)), true
	}
	if m := reSSCC.FindStringSubmatch(s); m != nil && len(m[1])+len(m[2]) == 17 {
		sscc := m[2][:1] + m[1] + m[2][1:]
		return base + "00/" + sscc + string(checkDigit(sscc)), true
	}
	if m := reSGLN.FindStringSubmatch(s); m != nil && len(m[1])+len(m[2]) == 12 {
		gln := m[1] + m[2]
		out := base + "414/" + gln + string(checkDigit(gln))
		if m[3] != "0" {
			out += "/254/" + dlEscape(m[3])
		}
		return out, true
	}
	if m := rePGLN.FindStringSubmatch(s); m != nil && len(m[1])+len(m[2]) == 12 {
		gln := m[1] + m[2]
		return base + "417/" + gln + string(checkDigit(gln)), true
	}
	if m := reDL.FindStringSubmatch(s); m != nil && dlKeyOK(m[1], m[2]) {
		key := m[2]
		if m[1] == "01" && len(key) < 14 {
			key = strings.Repeat("0", 14-len(key)) + key
		}
		out := base + m[1] + "/" + key
		// Keep only the finest level: serial beats lot; 254 for a GLN.
		q := map[string]string{}
		parts := strings.Split(strings.Trim(m[3], "/"), "/")
		for i := 0; i+1 < len(parts); i += 2 {
			q[parts[i]] = parts[i+1]
		}
		switch m[1] {
		case "01":
			if v, ok := q["21"]; ok {
				out += "/21/" + dlEscape(v)
			} else if v, ok := q["10"]; ok {
				out += "/10/" + dlEscape(v)
			}
		case "414":
			if v, ok := q["254"]; ok {
				out += "/254/" + dlEscape(v)
			}
		}
		return out, true
	}
	return "", false
}
