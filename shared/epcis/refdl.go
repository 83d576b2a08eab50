package epcis

import (
	"regexp"
	"strconv"
	"strings"
)

// This file ports dl_normaliser.py of GS1's reference event hash generator
// (RalphTro/epcis-event-hash-generator, MIT) so that EPC URIs, EPC class and
// pattern URIs and Digital Link URIs become the same canonical GS1 Digital
// Link URI the reference writes into its pre-hash strings. Its regular
// expressions are the reference's, unchanged; each is anchored at the start
// as Python's re.match is.

// pyMatch compiles a pattern with re.match semantics (anchored at the start).
func pyMatch(p string) *regexp.Regexp { return regexp.MustCompile(`^(?:` + p + `)`) }

const (
	dlSerial20 = `(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-])`
	dlCPIChar  = `(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-])`
	dlGCP13    = `((\d{6}\.\d{7})|(\d{7}\.\d{6})|(\d{8}\.\d{5})|(\d{9}\.\d{4})|(\d{10}\.\d{3})|(\d{11}\.\d{2})|(\d{12}\.\d{1}))`
	dlGCP12    = `(([\d]{6}\.[\d]{6})|([\d]{7}\.[\d]{5})|([\d]{8}\.[\d]{4})|([\d]{9}\.[\d]{3})|([\d]{10}\.[\d]{2})|([\d]{11}\.[\d]{1})|([\d]{12}\.\.))`
	dlGCP12b   = `(([\d]{6}\.[\d]{6})|([\d]{7}\.[\d]{5})|([\d]{8}\.[\d]{4})|([\d]{9}\.[\d]{3})|([\d]{10}\.[\d]{2})|([\d]{11}\.[\d]{1})|([\d]{12}\.))`
	dlAIChar   = `[\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]`
)

func giaiLike(n int) string {
	var alts []string
	for d := 6; d <= 12; d++ {
		alts = append(alts, `[\d]{`+strconv.Itoa(d)+`}\.`+dlSerial20+`{1,`+strconv.Itoa(n-d+6)+`}`)
	}
	return strings.Join(alts, "|")
}

func cpiLike() string {
	var alts []string
	for d := 6; d <= 12; d++ {
		alts = append(alts, `(\d{`+strconv.Itoa(d)+`}\.`+dlCPIChar+`{1,`+strconv.Itoa(30-d)+`})`)
	}
	return "(" + strings.Join(alts, "|") + ")"
}

var (
	reDLsgtin     = pyMatch(`^urn:epc:id:sgtin:` + dlGCP13 + `\.` + dlSerial20 + `{1,20}$`)
	reDLsscc      = pyMatch(`^urn:epc:id:sscc:((\d{6}\.\d{11}$)|(\d{7}\.\d{10}$)|(\d{8}\.\d{9}$)|(\d{9}\.\d{8}$)|(\d{10}\.\d{7}$)|(\d{11}\.\d{6}$)|(\d{12}\.\d{5}$))`)
	reDLsgln      = pyMatch(`^urn:epc:id:sgln:((\d{6}\.\d{6})|(\d{7}\.\d{5})|(\d{8}\.\d{4})|(\d{9}\.\d{3})|(\d{10}\.\d{2})|(\d{11}\.\d{1})|(\d{12}\.))\.` + dlSerial20 + `{1,20}$`)
	reDLgrai      = pyMatch(`^urn:epc:id:grai:` + dlGCP12 + `\.` + dlSerial20 + `{1,16}$`)
	reDLgiai      = pyMatch(`^urn:epc:id:giai:(` + giaiLike(24) + `)$`)
	reDLgsrn      = pyMatch(`^urn:epc:id:gsrn:(([\d]{6}\.[\d]{11}$)|([\d]{7}\.[\d]{10}$)|([\d]{8}\.[\d]{9}$)|([\d]{9}\.[\d]{8}$)|([\d]{10}\.[\d]{7}$)|([\d]{11}\.[\d]{6}$)|([\d]{12}\.[\d]{5}$))`)
	reDLgsrnp     = pyMatch(`^urn:epc:id:gsrnp:(([\d]{6}\.[\d]{11}$)|([\d]{7}\.[\d]{10}$)|([\d]{8}\.[\d]{9}$)|([\d]{9}\.[\d]{8}$)|([\d]{10}\.[\d]{7}$)|([\d]{11}\.[\d]{6}$)|([\d]{12}\.[\d]{5}$))`)
	reDLgdti      = pyMatch(`^urn:epc:id:gdti:` + dlGCP12 + dlSerial20 + `{1,20}$`)
	reDLcpi       = pyMatch(`^urn:epc:id:cpi:` + cpiLike() + `\.[\d]{1,12}$`)
	reDLsgcn      = pyMatch(`^urn:epc:id:sgcn:` + dlGCP12b + `\.[\d]{1,12}$`)
	reDLginc      = pyMatch(`^urn:epc:id:ginc:(` + giaiLike(24) + `)$`)
	reDLgsin      = pyMatch(`^urn:epc:id:gsin:(([\d]{6}\.[\d]{10}$)|([\d]{7}\.[\d]{9}$)|([\d]{8}\.[\d]{8}$)|([\d]{9}\.[\d]{7}$)|([\d]{10}\.[\d]{6}$)|([\d]{11}\.[\d]{5}$)|([\d]{12}\.[\d]{4}$))`)
	reDLitip      = pyMatch(`^urn:epc:id:itip:(([\d]{6}\.[\d]{7})|([\d]{7}\.[\d]{6})|([\d]{8}\.[\d]{5})|([\d]{9}\.[\d]{4})|([\d]{10}\.[\d]{3})|([\d]{11}\.[\d]{2})|([\d]{12}\.[\d]{1}))\.[\d]{2}\.[\d]{2}\.` + dlSerial20 + `{1,20}$`)
	reDLupui      = pyMatch(`^urn:epc:id:upui:` + dlGCP13 + `\.` + dlSerial20 + `{1,28}$`)
	reDLpgln      = pyMatch(`^urn:epc:id:pgln:` + dlGCP12b + `$`)
	reDLlgtin     = pyMatch(`^urn:epc:class:lgtin:(([\d]{6}\.[\d]{7})|([\d]{7}\.[\d]{6})|([\d]{8}\.[\d]{5})|([\d]{9}\.[\d]{4})|([\d]{10}\.[\d]{3})|([\d]{11}\.[\d]{2})|([\d]{12}\.[\d]{1}))\.` + dlSerial20 + `{1,20}$`)
	reDLpatSgtin  = pyMatch(`^urn:epc:idpat:sgtin:` + dlGCP13 + `\.\*$`)
	reDLpatGrai   = pyMatch(`^urn:epc:idpat:grai:` + dlGCP12 + `\.\*$`)
	reDLpatGdti   = pyMatch(`^urn:epc:idpat:gdti:` + dlGCP12 + `\.\*$`)
	reDLpatSgcn   = pyMatch(`^urn:epc:idpat:sgcn:` + dlGCP12 + `\.\*$`)
	reDLpatCpi    = pyMatch(`^urn:epc:idpat:cpi:` + cpiLike() + `\.\*$`)
	reDLpatItip   = pyMatch(`^urn:epc:idpat:itip:(([\d]{6}\.[\d]{7})|([\d]{7}\.[\d]{6})|([\d]{8}\.[\d]{5})|([\d]{9}\.[\d]{4})|([\d]{10}\.[\d]{3})|([\d]{11}\.[\d]{2})|([\d]{12}\.[\d]{1}))\.[\d]{2}\.[\d]{2}\.\*$`)
	reDLpatUpui   = pyMatch(`^urn:epc:idpat:upui:` + dlGCP13 + `\.\*$`)
	reDLuri       = pyMatch(`^https?:(\/\/((([^\/?#]*)@)?([^\/?#:]*)(:([^\/?#]*))?))?((([^?#]*)(\/(01|gtin|8006|itip|8010|cpid|414|gln|417|party|8017|gsrnp|8018|gsrn|255|gcn|00|sscc|253|gdti|401|ginc|402|gsin|8003|grai|8004|giai)\/)(\d{4}[^\/]+)(\/[^/]+\/[^/]+)?[/]?(\?([^?\n]*))?(#([^\n]*))?)|(\/[A-Za-z_-]{10}$))`)
	reDLcanonical = pyMatch(`^https:\/\/id.gs1.org\/(01|8006|8010|414|417|8017|8018|255|00|253|401|402|8003|8004)\/(\d{4}[^\/]+)(\/[^\/]+\/[^\/]+)?[\/]?(\?([^?\n]*))?(#([^\n]*))?|(\/[A-Za-z_-]{10}$)`)
	reDLgtin14    = pyMatch(`^https:\/\/id.gs1.org\/01\/\d{14}`)
	reDLgtin13    = pyMatch(`^https:\/\/id.gs1.org\/01\/\d{13}`)
	reDLgtin12    = pyMatch(`^https:\/\/id.gs1.org\/01\/\d{12}`)
	reDLgtin8     = pyMatch(`^https:\/\/id.gs1.org\/01\/\d{8}`)
	reDLcpvOnly   = []*regexp.Regexp{
		pyMatch(`https:\/\/id.gs1.org\/8006\/\d{18}\/22\/(` + dlAIChar + `{0,20})$`),
		pyMatch(`https:\/\/id.gs1.org\/01\/\d{14}\/22\/(` + dlAIChar + `{0,20})$`),
	}
	reDLcpvMore = []*regexp.Regexp{
		pyMatch(`https:\/\/id.gs1.org\/8006\/\d{18}\/22\/([\x2F\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]{0,20})$`),
		pyMatch(`https:\/\/id.gs1.org\/01\/\d{14}\/22\/([\x2F\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]{0,20})$`),
	}
	reDLlotSerial = []*regexp.Regexp{
		pyMatch(`https:\/\/id.gs1.org\/8006\/\d{18}\/10\/(` + dlAIChar + `{0,20})\/21\/(` + dlAIChar + `{0,20})$`),
		pyMatch(`https:\/\/id.gs1.org\/01\/(\d{14})\/10\/(` + dlAIChar + `{0,20})\/21\/(` + dlAIChar + `{0,20})$`),
	}
	reDLvalid = []*regexp.Regexp{
		pyMatch(`https:\/\/id.gs1.org\/00\/(\d{18})$`),
		pyMatch(`https:\/\/id.gs1.org\/01\/(\d{14})\/21\/(` + dlAIChar + `{0,20})$`),
		pyMatch(`https:\/\/id.gs1.org\/01\/(\d{14})\/10\/(` + dlAIChar + `{0,20})$`),
		pyMatch(`https:\/\/id.gs1.org\/01\/(\d{14})$`),
		pyMatch(`https:\/\/id.gs1.org\/01\/(\d{14})\/235\/(` + dlAIChar + `{0,28})$`),
		pyMatch(`https:\/\/id.gs1.org\/253\/(\d{13})(` + dlAIChar + `{0,17})$`),
		pyMatch(`https:\/\/id.gs1.org\/255\/(\d{13})(\d{0,12})$`),
		pyMatch(`https:\/\/id.gs1.org\/401\/(` + dlAIChar + `{0,30})$`),
		pyMatch(`https:\/\/id.gs1.org\/402\/(\d{17})$`),
		pyMatch(`https:\/\/id.gs1.org\/414\/(\d{13})$`),
		pyMatch(`https:\/\/id.gs1.org\/414\/(\d{13})\/254\/(` + dlAIChar + `{0,20})$`),
		pyMatch(`https:\/\/id.gs1.org\/417\/(\d{13})$`),
		pyMatch(`https:\/\/id.gs1.org\/8003\/(\d{14})(` + dlAIChar + `{0,16})$`),
		pyMatch(`https:\/\/id.gs1.org\/8004\/(` + dlAIChar + `{0,30})$`),
		pyMatch(`https:\/\/id.gs1.org\/8006\/(\d{18})\/21\/(` + dlAIChar + `{0,20})$`),
		pyMatch(`https:\/\/id.gs1.org\/8006\/(\d{18})\/10\/(` + dlAIChar + `{0,20})$`),
		pyMatch(`https:\/\/id.gs1.org\/8006\/(\d{18})$`),
		pyMatch(`https:\/\/id.gs1.org\/8010\/([\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30})\/8011/(\d{0,12})$`),
		pyMatch(`https:\/\/id.gs1.org\/8010\/([\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30})$`),
		pyMatch(`https:\/\/id.gs1.org\/8017\/(\d{18})$`),
		pyMatch(`https:\/\/id.gs1.org\/8018\/(\d{18})$`),
	}
)

func anyMatch(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// pyFrom is Python's s[i:] for 0 <= i (clamped).
func pyFrom(s string, i int) string {
	if i < 0 {
		i = max(0, len(s)+i)
	}
	if i > len(s) {
		return ""
	}
	return s[i:]
}

// pySlice is Python's s[i:j] with negative indexes and clamping.
func pySlice(s string, i, j int) string {
	n := len(s)
	if i < 0 {
		i = max(0, n+i)
	}
	if j < 0 {
		j = max(0, n+j)
	}
	i, j = min(i, n), min(j, n)
	if i >= j {
		return ""
	}
	return s[i:j]
}

// pyFind is Python's str.find.
func pyFind(s, sub string) int { return strings.Index(s, sub) }

// refCheckDigit is the reference's check_digit: the GS1 mod-10 check digit.
func refCheckDigit(key string) string {
	sum := 0
	n := len(key)
	for i := 0; i < n; i++ {
		d := int(key[n-1-i] - '0')
		if i%2 == 0 {
			sum += 3 * d
		} else {
			sum += d
		}
	}
	return strconv.Itoa((10 - sum%10) % 10)
}

var dlPctReplacer = strings.NewReplacer("!", "%21", "(", "%28", ")", "%29", "*", "%2A", "+", "%2B", ",", "%2C", ":", "%3A")

func dlPct(s string) string { return dlPctReplacer.Replace(s) }

// refDigitalLink is the reference's normaliser: the canonical GS1 Digital
// Link URI of uri, or "" when uri is no GS1 identifier it knows.
//
// It is long because it ports the reference step for step (one case per EPC scheme,
// then its Digital Link rewrites in its order), so that it can be compared with
// dl_normaliser.py line by line.
func refDigitalLink(uri string) string {
	partition := strings.IndexByte(uri, '.')
	if partition < 0 {
		return ""
	}
	// Every pattern below starts with urn:epc: or http: (the reference tries
	// them one by one; the prefixes exclude each other).
	if !strings.HasPrefix(uri, "urn:epc:") && !strings.HasPrefix(uri, "http") {
		return ""
	}
	const id = "https://id.gs1.org/"
	gtin := func(gcpStart int) string {
		gcp := pySlice(uri, gcpStart, partition)
		item := pySlice(uri, partition+1, partition+1+(13-len(gcp)))
		return pySlice(item, 0, 1) + gcp + pyFrom(item, 1)
	}
	switch {
	case strings.HasPrefix(uri, "urn:epc:id:sgtin:") && reDLsgtin.MatchString(uri):
		g := gtin(17)
		return id + "01/" + g + refCheckDigit(g) + "/21/" + dlPct(pyFrom(uri, 32))
	case strings.HasPrefix(uri, "urn:epc:id:sscc:") && reDLsscc.MatchString(uri):
		gcp := pySlice(uri, 16, partition)
		raw := pySlice(uri, partition+1, partition+2) + gcp + pyFrom(uri, partition+2)
		return id + "00/" + raw + refCheckDigit(raw)
	case strings.HasPrefix(uri, "urn:epc:id:sgln:") && reDLsgln.MatchString(uri):
		gcp := pySlice(uri, 16, partition)
		raw := gcp + pySlice(uri, partition+1, partition+1+(12-len(gcp)))
		ext := pyFrom(uri, 30)
		if ext == "0" {
			return id + "414/" + raw + refCheckDigit(raw)
		}
		return id + "414/" + raw + refCheckDigit(raw) + "/254/" + dlPct(ext)
	case strings.HasPrefix(uri, "urn:epc:id:grai:") && reDLgrai.MatchString(uri):
		gcp := pySlice(uri, 16, partition)
		raw := "0" + gcp + pySlice(uri, partition+1, partition+1+(12-len(gcp)))
		return id + "8003/" + raw + refCheckDigit(raw) + dlPct(pyFrom(uri, 30))
	case strings.HasPrefix(uri, "urn:epc:id:giai:") && reDLgiai.MatchString(uri):
		return id + "8004/" + pySlice(uri, 16, partition) + dlPct(pyFrom(uri, partition+1))
	case strings.HasPrefix(uri, "urn:epc:id:gsrn:") && reDLgsrn.MatchString(uri):
		raw := pySlice(uri, 16, partition) + pyFrom(uri, partition+1)
		return id + "8018/" + raw + refCheckDigit(raw)
	case strings.HasPrefix(uri, "urn:epc:id:gsrnp:") && reDLgsrnp.MatchString(uri):
		raw := pySlice(uri, 17, partition) + pyFrom(uri, partition+1)
		return id + "8017/" + raw + refCheckDigit(raw)
	case strings.HasPrefix(uri, "urn:epc:id:gdti:") && reDLgdti.MatchString(uri):
		gcp := pySlice(uri, 16, partition)
		raw := gcp + pySlice(uri, partition+1, partition+1+(12-len(gcp)))
		return id + "253/" + raw + refCheckDigit(raw) + dlPct(pyFrom(uri, 30))
	case strings.HasPrefix(uri, "urn:epc:id:cpi:") && reDLcpi.MatchString(uri):
		sep := strings.LastIndexByte(uri, '.')
		raw := pySlice(uri, 15, partition) + pySlice(uri, partition+1, sep)
		return id + "8010/" + dlPct(raw) + "/8011/" + pyFrom(uri, sep+1)
	case strings.HasPrefix(uri, "urn:epc:id:sgcn:") && reDLsgcn.MatchString(uri):
		gcp := pySlice(uri, 16, partition)
		raw := gcp + pySlice(uri, partition+1, partition+1+(12-len(gcp)))
		return id + "255/" + raw + refCheckDigit(raw) + pyFrom(uri, 30)
	case strings.HasPrefix(uri, "urn:epc:id:ginc:") && reDLginc.MatchString(uri):
		return id + "401/" + pySlice(uri, 16, partition) + dlPct(pyFrom(uri, partition+1))
	case strings.HasPrefix(uri, "urn:epc:id:gsin:") && reDLgsin.MatchString(uri):
		raw := pySlice(uri, 16, partition) + pyFrom(uri, partition+1)
		return id + "402/" + raw + refCheckDigit(raw)
	case strings.HasPrefix(uri, "urn:epc:id:itip:") && reDLitip.MatchString(uri):
		g := gtin(16)
		return id + "8006/" + g + refCheckDigit(g) + pySlice(uri, 31, 33) + pySlice(uri, 34, 36) + "/21/" + dlPct(pyFrom(uri, 37))
	case strings.HasPrefix(uri, "urn:epc:id:upui:") && reDLupui.MatchString(uri):
		g := gtin(16)
		return id + "01/" + g + refCheckDigit(g) + "/235/" + dlPct(pyFrom(uri, 31))
	case strings.HasPrefix(uri, "urn:epc:id:pgln:") && reDLpgln.MatchString(uri):
		gcp := pySlice(uri, 16, partition)
		raw := gcp + pySlice(uri, partition+1, partition+1+(12-len(gcp)))
		return id + "417/" + raw + refCheckDigit(raw)
	case strings.HasPrefix(uri, "urn:epc:class:lgtin:") && reDLlgtin.MatchString(uri):
		g := gtin(20)
		return id + "01/" + g + refCheckDigit(g) + "/10/" + dlPct(pyFrom(uri, 35))
	case strings.HasPrefix(uri, "urn:epc:idpat:sgtin:") && reDLpatSgtin.MatchString(uri):
		g := gtin(20)
		return id + "01/" + g + refCheckDigit(g)
	case strings.HasPrefix(uri, "urn:epc:idpat:grai:") && reDLpatGrai.MatchString(uri):
		gcp := pySlice(uri, 19, partition)
		raw := "0" + gcp + pySlice(uri, partition+1, partition+1+(12-len(gcp)))
		return id + "8003/" + raw + refCheckDigit(raw)
	case strings.HasPrefix(uri, "urn:epc:idpat:gdti:") && reDLpatGdti.MatchString(uri):
		gcp := pySlice(uri, 19, partition)
		raw := gcp + pySlice(uri, partition+1, partition+1+(12-len(gcp)))
		return id + "253/" + raw + refCheckDigit(raw)
	case strings.HasPrefix(uri, "urn:epc:idpat:sgcn:") && reDLpatSgcn.MatchString(uri):
		gcp := pySlice(uri, 19, partition)
		raw := gcp + pySlice(uri, partition+1, partition+1+(12-len(gcp)))
		return id + "255/" + raw + refCheckDigit(raw)
	case strings.HasPrefix(uri, "urn:epc:idpat:cpi:") && reDLpatCpi.MatchString(uri):
		sep := strings.LastIndexByte(uri, '.')
		return id + "8010/" + dlPct(pySlice(uri, 18, partition)+pySlice(uri, partition+1, sep))
	case strings.HasPrefix(uri, "urn:epc:idpat:itip:") && reDLpatItip.MatchString(uri):
		g := gtin(19)
		return id + "8006/" + g + refCheckDigit(g) + pySlice(uri, 34, 36) + pySlice(uri, 37, 39)
	case strings.HasPrefix(uri, "urn:epc:idpat:upui:") && reDLpatUpui.MatchString(uri):
		g := gtin(19)
		return id + "01/" + g + refCheckDigit(g)
	}
	if !reDLuri.MatchString(uri) {
		return ""
	}
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	for _, r := range [][2]string{{"/gtin/", "/01/"}, {"/itip/", "/8006/"}, {"/cpid/", "/8010/"}, {"/gln/", "/414/"},
		{"/party/", "/417/"}, {"/gsrnp/", "/8017/"}, {"/gsrn/", "/8018/"}, {"/gcn/", "/255/"}, {"/sscc/", "/00/"},
		{"/gdti/", "/253/"}, {"/ginc/", "/401/"}, {"/gsin/", "/402/"}, {"/grai/", "/8003/"}, {"/giai/", "/8004/"},
		{"/cpv/", "/22/"}, {"/lot/", "/10/"}, {"/ser/", "/21/"}} {
		uri = strings.ReplaceAll(uri, r[0], r[1])
	}
	if !reDLcanonical.MatchString(uri) {
		for _, k := range []string{"/00/", "/01/", "/253/", "/255/", "/401/", "/402/", "/414/", "/417/", "/8003/", "/8004/", "/8006/", "/8010/", "/8017/", "/8018/"} {
			if i := pyFind(uri, k); i != -1 {
				uri = "https://id.gs1.org" + uri[i:]
				break
			}
		}
	}
	if !reDLgtin14.MatchString(uri) {
		switch {
		case reDLgtin13.MatchString(uri):
			uri = strings.ReplaceAll(uri, "/01/", "/01/0")
		case reDLgtin12.MatchString(uri):
			uri = strings.ReplaceAll(uri, "/01/", "/01/00")
		case reDLgtin8.MatchString(uri):
			uri = strings.ReplaceAll(uri, "/01/", "/01/000000")
		}
	}
	// remove the CPV (x is what follows the first "/22/", or the whole
	// string shifted by 3 when there is none, as in the reference)
	x := pyFrom(uri, pyFind(uri, "/22/")+4)
	if anyMatch(reDLcpvOnly, uri) {
		uri = pySlice(uri, 0, pyFind(uri, "/22/")) + pySlice(x, pyFind(x, "/"), -1)
	}
	if anyMatch(reDLcpvMore, uri) {
		uri = pySlice(uri, 0, pyFind(uri, "/22/")) + pyFrom(x, pyFind(x, "/"))
	}
	if anyMatch(reDLlotSerial, uri) {
		y := pyFrom(uri, pyFind(uri, "/10/")+4)
		uri = pySlice(uri, 0, pyFind(uri, "/10/")) + pyFrom(y, pyFind(y, "/"))
	}
	if anyMatch(reDLvalid, uri) {
		return uri
	}
	return ""
}
