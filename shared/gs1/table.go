package gs1

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Charset is the character set of an AI's data field.
type Charset uint8

// The character sets of AI data this package knows.
const (
	Numeric Charset = iota + 1 // digits 0-9 only
	CSET82                     // GS1 AI encodable character set 82 (GenSpec 7.11, figure 7.11-1)
)

func (c Charset) String() string {
	switch c {
	case Numeric:
		return "numeric"
	case CSET82:
		return "CSET 82"
	}
	return "Charset(" + strconv.Itoa(int(c)) + ")"
}

// AIDef describes one GS1 Application Identifier as the GS1 General
// Specifications and GS1's Barcode Syntax Dictionary define it.
type AIDef struct {
	AI    string
	Title string // the data title, e.g. "USE BY OR EXPIRY"
	// Format is the GS1 format notation of the data field, one component
	// per word, optional components in brackets: "N14", "X..20", "N6 N4",
	// "N1 N13 [X..16]".
	Format string
	// Fixed reports an AI of predefined length (GenSpec figure 7.8.5-2; the
	// syntax dictionary's "*" flag): its element string never needs an FNC1
	// (GS) separator after it. Some fixed-size AIs such as 8006 (N18) or 8017
	// are not "predefined" and do need one; compare MinLen and MaxLen to
	// learn whether the data has one fixed size.
	Fixed          bool
	MinLen, MaxLen int     // length of the data field, without the AI
	Charset        Charset // CSET82 when any component is alphanumeric
	CheckDigit     bool    // a component ends with a GS1 mod-10 check digit
	Date           bool    // a component is a YYMMDD date
	// Requires lists mandatory associations: every group must be satisfied,
	// and a group is satisfied when any one of its entries is present. An
	// entry may join AIs with "+" when all of them are needed, e.g. AI 7004
	// requires {{"01+10"}}. AI 21 requires {{"01", "03", "8006"}}.
	Requires [][]string
	// Excludes lists the AIs that must not appear in the same element string.
	Excludes []string
	// DLPrimaryKey reports a GS1 Digital Link primary key (00, 01, 414, ...).
	DLPrimaryKey bool
	// DLAttribute reports an AI allowed in a GS1 Digital Link query string.
	DLAttribute bool
}

// LookupAI returns the definition of ai, and false when this package does not
// know it. The returned value is a copy the caller may keep or change.
func LookupAI(ai string) (AIDef, bool) {
	e := lookup(ai)
	if e == nil {
		return AIDef{}, false
	}
	d := e.def
	d.Requires = make([][]string, len(e.def.Requires))
	for i, g := range e.def.Requires {
		d.Requires[i] = slices.Clone(g)
	}
	d.Excludes = slices.Clone(e.def.Excludes)
	return d, true
}

// AIs lists every AI this package knows, in ascending order.
func AIs() []string {
	out := make([]string, 0, len(aiTable))
	for ai := range aiTable {
		out = append(out, ai)
	}
	slices.Sort(out)
	return out
}

type lint uint8

const (
	lintCsum         lint = iota + 1 // GS1 mod-10 check digit in the last position
	lintGCP                          // starts with a GS1 Company Prefix (at least 4 digits)
	lintYYMMD0                       // date, DD=00 allowed
	lintYYMMDD                       // date
	lintHHMI                         // hours and minutes
	lintHH                           // hours
	lintMI                           // minutes
	lintSS                           // seconds
	lintZero                         // the digit 0
	lintPieceOfTotal                 // piece number then total count, 1 <= piece <= total
	lintImporterIdx                  // one of 0-9 A-Z a-z - _
)

// component is one part of an AI's data field, applied in turn to the value.
type component struct {
	numeric  bool
	min, max int
	optional bool
	lints    []lint
}

type aiEntry struct {
	def   AIDef
	comps []component
	// dlQualifiers are the alternative ordered qualifier sequences of a
	// Digital Link primary key, e.g. {{"22","10","21"},{"235"}} for 01.
	dlQualifiers [][]string
	exPatterns   []string
}

func lookup(ai string) *aiEntry { return aiTable[ai] }

// aiLength returns the length of the AIs that begin with the two digits p,
// or 0 when GS1 has allocated no AI starting with them.
func aiLength(p string) int {
	if len(p) != 2 || !isDigit(p[0]) || !isDigit(p[1]) {
		return 0
	}
	switch p[0] {
	case '0':
		if p[1] <= '3' {
			return 2
		}
	case '1':
		if p[1] != '4' && p[1] != '8' && p[1] != '9' {
			return 2
		}
	case '2':
		switch p[1] {
		case '0', '1', '2':
			return 2
		case '3', '4', '5':
			return 3
		}
	case '3':
		switch p[1] {
		case '0', '7':
			return 2
		case '1', '2', '3', '4', '5', '6', '9':
			return 4
		}
	case '4':
		switch p[1] {
		case '0', '1', '2':
			return 3
		case '3':
			return 4
		}
	case '7':
		switch p[1] {
		case '0', '2':
			return 4
		case '1':
			return 3
		}
	case '8':
		if p[1] <= '2' {
			return 4
		}
	case '9':
		return 2
	}
	return 0
}

// aiTable is built once from aiSpecs and never written afterwards: it is
// read-only reference data, not state.
var aiTable = buildTable(aiSpecs)

// aiSpec is one AI (or a range of AIs) in the notation of GS1's Barcode
// Syntax Dictionary: flags "*" predefined length, "?" Digital Link
// attribute; format components with linters; attributes req=, ex=, dlpkey.
type aiSpec struct{ ai, flags, format, attrs, title string }

// aiSpecs holds the AIs Serialine knows, with formats and associations from
// the GS1 General Specifications and GS1 Barcode Syntax Dictionary
// (release 2026-01-27). AIs whose content linters (country and currency
// codes, IBAN, coupon codes, ...) this package does not implement are left
// out, so that they are reported as unknown rather than half-checked.
var aiSpecs = []aiSpec{
	{"00", "*?", "N18,csum,gcppos2", "dlpkey", "SSCC"},
	{"01", "*?", "N14,csum,gcppos2", "ex=255,37 dlpkey=22,10,21|235", "GTIN"},
	{"02", "*?", "N14,csum,gcppos2", "ex=01,03 req=37", "CONTENT"},
	{"03", "*", "N14,csum,gcppos2", "ex=01,02,37", "MTO GTIN"},
	{"10", "?", "X..20", "req=01,02,03,8006,8026", "BATCH/LOT"},
	{"11", "*?", "N6,yymmd0", "req=01,02,03,8006,8026", "PROD DATE"},
	{"12", "*?", "N6,yymmd0", "req=8020", "DUE DATE"},
	{"13", "*?", "N6,yymmd0", "req=01,02,03,8006,8026", "PACK DATE"},
	{"15", "*?", "N6,yymmd0", "req=01,02,03,8006,8026", "BEST BEFORE or BEST BY"},
	{"16", "*?", "N6,yymmd0", "req=01,02,03,8006,8026", "SELL BY"},
	{"17", "*?", "N6,yymmd0", "req=01,02,03,255,8006,8026", "USE BY OR EXPIRY"},
	{"20", "*?", "N2", "req=01,02,8006,8026", "VARIANT"},
	{"21", "", "X..20", "req=01,03,8006 ex=235", "SERIAL"},
	{"22", "", "X..20", "req=01", "CPV"},
	{"235", "", "X..28", "req=01", "TPX"},
	{"240", "?", "X..30", "req=01,02,8006,8026", "ADDITIONAL ID"},
	{"241", "?", "X..30", "req=01,02,8006,8026", "CUST. PART No."},
	{"242", "?", "N..6", "req=01,02,8006,8026", "MTO VARIANT"},
	{"243", "?", "X..20", "req=01", "PCN"},
	{"250", "?", "X..30", "req=01,8006 req=21", "SECONDARY SERIAL"},
	{"251", "?", "X..30", "req=01,8006", "REF. TO SOURCE"},
	{"253", "?", "N13,csum,gcppos1 [X..17]", "dlpkey", "GDTI"},
	{"254", "", "X..20", "req=414", "GLN EXTENSION COMPONENT"},
	{"255", "?", "N13,csum,gcppos1 [N..12]", "dlpkey ex=01,02,415,8006,8020,8026", "GCN"},
	{"30", "?", "N..8", "req=01,02", "VAR. COUNT"},
	{"37", "?", "N..8", "req=00 req=02,8026", "COUNT"},
	{"400", "?", "X..30", "", "ORDER NUMBER"},
	{"401", "?", "X..30,gcppos1", "dlpkey", "GINC"},
	{"402", "?", "N17,csum,gcppos1", "dlpkey", "GSIN"},
	{"403", "?", "X..30", "req=00", "ROUTE"},
	{"410", "*?", "N13,csum,gcppos1", "", "SHIP TO LOC"},
	{"411", "*?", "N13,csum,gcppos1", "", "BILL TO"},
	{"412", "*?", "N13,csum,gcppos1", "", "PURCHASE FROM"},
	{"413", "*?", "N13,csum,gcppos1", "", "SHIP FOR LOC"},
	{"414", "*?", "N13,csum,gcppos1", "dlpkey=254|7040", "LOC No."},
	{"415", "*?", "N13,csum,gcppos1", "req=8020 dlpkey=8020", "PAY TO"},
	{"416", "*?", "N13,csum,gcppos1", "", "PROD/SERV LOC"},
	{"417", "*?", "N13,csum,gcppos1", "dlpkey=7040", "PARTY"},
	{"420", "?", "X..20", "", "SHIP TO POST"},
	{"7001", "?", "N13", "req=01,02,8006,8026", "NSN"},
	{"7002", "?", "X..30", "req=01,02", "MEAT CUT"},
	{"7003", "?", "N6,yymmdd N4,hhmi", "req=01,02", "EXPIRY TIME"},
	{"7004", "?", "N..4", "req=01+10", "ACTIVE POTENCY"},
	{"7006", "?", "N6,yymmdd", "req=01,02", "FIRST FREEZE DATE"},
	{"7007", "?", "N6,yymmdd [N6],yymmdd", "req=01,02", "HARVEST DATE"},
	{"7011", "?", "N6,yymmdd [N4],hhmi", "req=01,02", "TEST BY DATE"},
	{"7040", "", "N1 X1 X1 X1,importeridx", "", "UIC+EXT"},
	{"710", "?", "X..20", "req=01", "NHRN PZN"},
	{"711", "?", "X..20", "req=01", "NHRN CIP"},
	{"712", "?", "X..20", "req=01", "NHRN CN"},
	{"713", "?", "X..20", "req=01", "NHRN DRN"},
	{"714", "?", "X..20", "req=01", "NHRN AIM"},
	{"715", "?", "X..20", "req=01", "NHRN NDC"},
	{"716", "?", "X..20", "req=01", "NHRN AIC"},
	{"717", "?", "X..20", "req=01", "NHRN SRN"},
	{"7240", "?", "X..20", "req=01,8006", "PROTOCOL"},
	{"8002", "?", "X..20", "", "CMT No."},
	{"8003", "?", "N1,zero N13,csum,gcppos1 [X..16]", "dlpkey", "GRAI"},
	{"8004", "?", "X..30,gcppos1", "dlpkey=7040", "GIAI"},
	{"8005", "?", "N6", "req=01,02", "PRICE PER UNIT"},
	{"8006", "?", "N14,csum,gcppos2 N4,pieceoftotal", "ex=01,37 dlpkey=22,10,21", "ITIP"},
	{"8008", "?", "N6,yymmdd N2,hh [N2],mi [N2],ss", "req=01,02", "PROD TIME"},
	{"8009", "?", "X..50", "req=00,01", "OPTSEN"},
	{"8012", "?", "X..20", "req=01,8006", "VERSION"},
	{"8017", "?", "N18,csum,gcppos1", "ex=8018 dlpkey=8019", "GSRN - PROVIDER"},
	{"8018", "?", "N18,csum,gcppos1", "ex=8017 dlpkey=8019", "GSRN - RECIPIENT"},
	{"8019", "", "N..10", "req=8017,8018", "SRIN"},
	{"8020", "", "X..25", "req=415", "REF No."},
	{"8026", "?", "N14,csum,gcppos2 N4,pieceoftotal", "req=37 ex=02,8006", "ITIP CONTENT"},
	{"8200", "", "X..70", "req=01", "PRODUCT URL"},
	{"90", "?", "X..30", "", "INTERNAL"},
	{"91-99", "?", "X..90", "", "INTERNAL"},

	// Trade measures: the last digit of the AI is the decimal point position.
	{"3100-3105", "*?", "N6", "req=01,02 ex=310n", "NET WEIGHT (kg)"},
	{"3110-3115", "*?", "N6", "req=01,02 ex=311n", "LENGTH (m)"},
	{"3120-3125", "*?", "N6", "req=01,02 ex=312n", "WIDTH (m)"},
	{"3130-3135", "*?", "N6", "req=01,02 ex=313n", "HEIGHT (m)"},
	{"3140-3145", "*?", "N6", "req=01,02 ex=314n", "AREA (m²)"},
	{"3150-3155", "*?", "N6", "req=01,02 ex=315n", "NET VOLUME (l)"},
	{"3160-3165", "*?", "N6", "req=01,02 ex=316n", "NET VOLUME (m³)"},
	{"3200-3205", "*?", "N6", "req=01,02 ex=320n", "NET WEIGHT (lb)"},
	{"3210-3215", "*?", "N6", "req=01,02 ex=321n", "LENGTH (in)"},
	{"3220-3225", "*?", "N6", "req=01,02 ex=322n", "LENGTH (ft)"},
	{"3230-3235", "*?", "N6", "req=01,02 ex=323n", "LENGTH (yd)"},
	{"3240-3245", "*?", "N6", "req=01,02 ex=324n", "WIDTH (in)"},
	{"3250-3255", "*?", "N6", "req=01,02 ex=325n", "WIDTH (ft)"},
	{"3260-3265", "*?", "N6", "req=01,02 ex=326n", "WIDTH (yd)"},
	{"3270-3275", "*?", "N6", "req=01,02 ex=327n", "HEIGHT (in)"},
	{"3280-3285", "*?", "N6", "req=01,02 ex=328n", "HEIGHT (ft)"},
	{"3290-3295", "*?", "N6", "req=01,02 ex=329n", "HEIGHT (yd)"},
	{"3300-3305", "*?", "N6", "req=00,01 ex=330n", "GROSS WEIGHT (kg)"},
	{"3310-3315", "*?", "N6", "req=00,01 ex=331n", "LENGTH (m), log"},
	{"3320-3325", "*?", "N6", "req=00,01 ex=332n", "WIDTH (m), log"},
	{"3330-3335", "*?", "N6", "req=00,01 ex=333n", "HEIGHT (m), log"},
	{"3340-3345", "*?", "N6", "req=00,01 ex=334n", "AREA (m²), log"},
	{"3350-3355", "*?", "N6", "req=00,01 ex=335n", "VOLUME (l), log"},
	{"3360-3365", "*?", "N6", "req=00,01 ex=336n", "VOLUME (m³), log"},
	{"3370-3375", "*?", "N6", "req=01 ex=337n", "KG PER m²"},
	{"3400-3405", "*?", "N6", "req=00,01 ex=340n", "GROSS WEIGHT (lb)"},
	{"3410-3415", "*?", "N6", "req=00,01 ex=341n", "LENGTH (in), log"},
	{"3420-3425", "*?", "N6", "req=00,01 ex=342n", "LENGTH (ft), log"},
	{"3430-3435", "*?", "N6", "req=00,01 ex=343n", "LENGTH (yd), log"},
	{"3440-3445", "*?", "N6", "req=00,01 ex=344n", "WIDTH (in), log"},
	{"3450-3455", "*?", "N6", "req=00,01 ex=345n", "WIDTH (ft), log"},
	{"3460-3465", "*?", "N6", "req=00,01 ex=346n", "WIDTH (yd), log"},
	{"3470-3475", "*?", "N6", "req=00,01 ex=347n", "HEIGHT (in), log"},
	{"3480-3485", "*?", "N6", "req=00,01 ex=348n", "HEIGHT (ft), log"},
	{"3490-3495", "*?", "N6", "req=00,01 ex=349n", "HEIGHT (yd), log"},
	{"3500-3505", "*?", "N6", "req=01,02 ex=350n", "AREA (in²)"},
	{"3510-3515", "*?", "N6", "req=01,02 ex=351n", "AREA (ft²)"},
	{"3520-3525", "*?", "N6", "req=01,02 ex=352n", "AREA (yd²)"},
	{"3530-3535", "*?", "N6", "req=00,01 ex=353n", "AREA (in²), log"},
	{"3540-3545", "*?", "N6", "req=00,01 ex=354n", "AREA (ft²), log"},
	{"3550-3555", "*?", "N6", "req=00,01 ex=355n", "AREA (yd²), log"},
	{"3560-3565", "*?", "N6", "req=01,02 ex=356n", "NET WEIGHT (tr oz)"},
	{"3570-3575", "*?", "N6", "req=01,02 ex=357n", "NET VOLUME (oz)"},
	{"3600-3605", "*?", "N6", "req=01,02 ex=360n", "NET VOLUME (qt (US))"},
	{"3610-3615", "*?", "N6", "req=01,02 ex=361n", "NET VOLUME (gal.)"},
	{"3620-3625", "*?", "N6", "req=00,01 ex=362n", "VOLUME (qt (US)), log"},
	{"3630-3635", "*?", "N6", "req=00,01 ex=363n", "VOLUME (gal (US)), log"},
	{"3640-3645", "*?", "N6", "req=01,02 ex=364n", "NET VOLUME (in³)"},
	{"3650-3655", "*?", "N6", "req=01,02 ex=365n", "NET VOLUME (ft³)"},
	{"3660-3665", "*?", "N6", "req=01,02 ex=366n", "NET VOLUME (yd³)"},
	{"3670-3675", "*?", "N6", "req=00,01 ex=367n", "VOLUME (in³), log"},
	{"3680-3685", "*?", "N6", "req=00,01 ex=368n", "VOLUME (ft³), log"},
	{"3690-3695", "*?", "N6", "req=00,01 ex=369n", "VOLUME (yd³), log"},
}

// buildTable turns the specs into entries. A malformed spec is a programming
// error and panics at package initialisation, which every test run catches.
func buildTable(specs []aiSpec) map[string]*aiEntry {
	t := make(map[string]*aiEntry, 400)
	for _, s := range specs {
		first, last := s.ai, s.ai
		if a, b, ok := strings.Cut(s.ai, "-"); ok {
			first, last = a, b
		}
		lo, err1 := strconv.Atoi(first)
		hi, err2 := strconv.Atoi(last)
		if err1 != nil || err2 != nil || len(first) != len(last) || lo > hi {
			panic("gs1: bad AI range " + s.ai)
		}
		for n := lo; n <= hi; n++ {
			ai := fmt.Sprintf("%0*d", len(first), n)
			if aiLength(ai[:2]) != len(ai) {
				panic("gs1: AI " + ai + " disagrees with the AI length table")
			}
			if _, dup := t[ai]; dup {
				panic("gs1: AI " + ai + " defined twice")
			}
			t[ai] = newEntry(ai, s)
		}
	}
	// Expand exclusion patterns ("310n") against the table and make every
	// exclusion symmetric, so the first of two clashing AIs is the one named.
	for ai, e := range t {
		for _, p := range e.exPatterns {
			for other := range t {
				if other != ai && matchPattern(p, other) {
					addExclusion(e, other)
					addExclusion(t[other], ai)
				}
			}
		}
	}
	for _, e := range t {
		slices.Sort(e.def.Excludes)
		e.exPatterns = nil
	}
	return t
}

func addExclusion(e *aiEntry, ai string) {
	if !slices.Contains(e.def.Excludes, ai) {
		e.def.Excludes = append(e.def.Excludes, ai)
	}
}

// matchPattern matches an AI against a dictionary pattern where "n" stands
// for any digit.
func matchPattern(p, ai string) bool {
	if len(p) != len(ai) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] != 'n' && p[i] != ai[i] {
			return false
		}
	}
	return true
}

func newEntry(ai string, s aiSpec) *aiEntry {
	e := &aiEntry{def: AIDef{
		AI:          ai,
		Title:       s.title,
		Fixed:       strings.Contains(s.flags, "*"),
		DLAttribute: strings.Contains(s.flags, "?"),
		Charset:     Numeric,
	}}
	var formats []string
	for _, word := range strings.Fields(s.format) {
		c, f := parseComponent(ai, word)
		e.comps = append(e.comps, c)
		formats = append(formats, f)
		if !c.numeric {
			e.def.Charset = CSET82
		}
		e.def.MaxLen += c.max
		if !c.optional {
			e.def.MinLen += c.min
		}
		for _, l := range c.lints {
			switch l {
			case lintCsum:
				e.def.CheckDigit = true
			case lintYYMMD0, lintYYMMDD:
				e.def.Date = true
			}
		}
	}
	e.def.Format = strings.Join(formats, " ")
	if e.def.Fixed && e.def.MinLen != e.def.MaxLen {
		panic("gs1: AI " + ai + " is predefined-length but has a variable format")
	}
	for _, attr := range strings.Fields(s.attrs) {
		key, val, _ := strings.Cut(attr, "=")
		switch key {
		case "req":
			e.def.Requires = append(e.def.Requires, strings.Split(val, ","))
		case "ex":
			// An exact AI is a pattern without wildcards.
			e.exPatterns = append(e.exPatterns, strings.Split(val, ",")...)
		case "dlpkey":
			e.def.DLPrimaryKey = true
			if val != "" {
				for _, alt := range strings.Split(val, "|") {
					e.dlQualifiers = append(e.dlQualifiers, strings.Split(alt, ","))
				}
			}
		default:
			panic("gs1: AI " + ai + ": unknown attribute " + attr)
		}
	}
	return e
}

// parseComponent reads one format word such as "N14,csum", "X..20",
// "[N..12]" or "[N2],mi" and returns it with its display form ("[N2]").
func parseComponent(ai, word string) (component, string) {
	var c component
	spec, lints, _ := strings.Cut(word, ",")
	if strings.HasPrefix(spec, "[") {
		c.optional = true
		spec = strings.TrimSuffix(strings.TrimPrefix(spec, "["), "]")
	}
	display := spec
	if c.optional {
		display = "[" + spec + "]"
	}
	if len(spec) < 2 {
		panic("gs1: AI " + ai + ": bad format " + word)
	}
	switch spec[0] {
	case 'N':
		c.numeric = true
	case 'X':
	default:
		panic("gs1: AI " + ai + ": unsupported data type in " + word)
	}
	n := spec[1:]
	variable := strings.HasPrefix(n, "..")
	size, err := strconv.Atoi(strings.TrimPrefix(n, ".."))
	if err != nil || size < 1 {
		panic("gs1: AI " + ai + ": bad length in " + word)
	}
	c.min, c.max = size, size
	if variable {
		c.min = 1
	}
	if lints != "" {
		for _, l := range strings.Split(lints, ",") {
			switch l {
			case "csum":
				c.lints = append(c.lints, lintCsum)
			case "gcppos1", "gcppos2":
				// Numeric keys always start with enough digits; only
				// alphanumeric ones (GIAI, GINC) need the check.
				if !c.numeric {
					c.lints = append(c.lints, lintGCP)
				}
			case "yymmd0":
				c.lints = append(c.lints, lintYYMMD0)
			case "yymmdd":
				c.lints = append(c.lints, lintYYMMDD)
			case "hhmi":
				c.lints = append(c.lints, lintHHMI)
			case "hh":
				c.lints = append(c.lints, lintHH)
			case "mi":
				c.lints = append(c.lints, lintMI)
			case "ss":
				c.lints = append(c.lints, lintSS)
			case "zero":
				c.lints = append(c.lints, lintZero)
			case "pieceoftotal":
				c.lints = append(c.lints, lintPieceOfTotal)
			case "importeridx":
				c.lints = append(c.lints, lintImporterIdx)
			default:
				panic("gs1: AI " + ai + ": unknown linter " + l)
			}
		}
	}
	return c, display
}
