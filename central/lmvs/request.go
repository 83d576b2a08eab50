package lmvs

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/serialine/serialine/shared/gs1"
)

// Request is a parsed LMVS request.
type Request struct {
	GTIN   string
	Lot    string // "" when the request carries none
	Serial string
	Expiry string // YYMMDD, "" when none
	// HasLot and HasExpiry: the request carried them (and so they are
	// compared).
	HasLot, HasExpiry bool
	LinkType          string
	Context           string
	ReqGLN            string
	CorrUUID          string
	// CheckConnectivity: the request only asks whether the responder
	// answers the requester for this GTIN.
	CheckConnectivity bool
	// ShortForm: the Digital Link 1.0 short names (/gtin/…/lot/…/ser/…).
	ShortForm bool
	// checkPath: the /checkConnectivity?gtin= form, which names no link
	// type.
	checkPath bool
}

// RequestError is a malformed request: the parameter (a query parameter,
// or the path's AI) and the rule it broke.
type RequestError struct {
	Param string
	Rule  string
}

func (e *RequestError) Error() string { return e.Param + ": " + e.Rule }

func bad(param, format string, args ...any) *RequestError {
	return &RequestError{Param: param, Rule: fmt.Sprintf(format, args...)}
}

// pathNames are the path AIs a verification request may carry, in the
// order GS1 Digital Link writes them after the GTIN (lot before serial),
// by full and short name.
var pathNames = map[string]string{"01": "01", "gtin": "01", "10": "10", "lot": "10", "21": "21", "ser": "21"}

var (
	uuidPattern    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	contextPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
)

// maxQuery bounds the query string of a request (an LMVS request's is
// about 200 bytes).
const maxQuery = 2048

// ParseRequest reads an LMVS request from its escaped path and raw query:
// /01/{gtin}[/10/{lot}][/21/{serial}]?17=… or the short form
// /gtin/{gtin}[/lot/{lot}][/ser/{serial}]?exp=…, with linkType (required,
// verificationService), context (default dscsaSaleableReturn), reqGLN
// (required), corrUUID (optional, a UUID) and checkConnectivity (true or
// false); or /checkConnectivity?gtin=…&reqGLN=…. A verification needs the
// serial; a connectivity check the GTIN only. Other query parameters
// (GS1 US's ctrlPossessAtt, email, telephone) are taken and kept in the
// log, not interpreted.
func ParseRequest(escapedPath, rawQuery string) (Request, *RequestError) {
	var r Request
	if len(rawQuery) > maxQuery {
		return r, bad("query", "is %d bytes, at most %d", len(rawQuery), maxQuery)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return r, bad("query", "not a valid query string: %v", err)
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return r, bad(k, "is given %d times; give it once", len(vs))
		}
	}
	path := strings.TrimSuffix(escapedPath, "/")
	if path == "/checkConnectivity" {
		r.CheckConnectivity, r.checkPath = true, true
		g, err := gs1.ParseGTIN(q.Get("gtin"))
		if err != nil {
			return r, bad("gtin", "%v", err)
		}
		r.GTIN = string(g)
	} else if perr := r.parsePath(path); perr != nil {
		return r, perr
	}
	if err := r.parseQuery(q); err != nil {
		return r, err
	}
	if !r.CheckConnectivity && r.Serial == "" {
		return r, bad("21", "the path names no serial (/21/{serial}, or /ser/ in the short form); a verification needs GTIN and serial")
	}
	return r, nil
}

// parsePath reads the Digital Link path: AI/value pairs, GTIN first, then
// lot, then serial, each at most once, all in one form (full or short).
func (r *Request) parsePath(path string) *RequestError {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs)%2 != 0 || len(segs) < 2 || len(segs) > 6 {
		return bad("path", "a GS1 Digital Link path is /01/{gtin}[/10/{lot}][/21/{serial}] (or /gtin/…/lot/…/ser/…), got %q", path)
	}
	r.ShortForm = segs[0] == "gtin"
	last := ""
	for i := 0; i < len(segs); i += 2 {
		name, raw := segs[i], segs[i+1]
		ai, ok := pathNames[name]
		if !ok {
			return bad("path", "%q is not a path element of a verification request; use 01, 10 and 21 (or gtin, lot and ser)", name)
		}
		if (len(name) > 2) != r.ShortForm {
			return bad("path", "mixes Digital Link's full (01, 10, 21) and short (gtin, lot, ser) names")
		}
		if i == 0 && ai != "01" || i > 0 && ai <= last {
			return bad("path", "the order is GTIN, then lot, then serial (/01/{gtin}/10/{lot}/21/{serial}); got %s after %q", name, last)
		}
		last = ai
		v, err := url.PathUnescape(raw)
		if err != nil {
			return bad(ai, "bad percent-encoding in %q", raw)
		}
		switch ai {
		case "01":
			g, err := gs1.ParseGTIN(v)
			if err != nil {
				return bad("01", "%v", err)
			}
			r.GTIN = string(g)
		case "10":
			if v == "" || len(v) > 20 || !gs1.IsCSET82(v) {
				return bad("10", "a lot (AI 10) has 1 to 20 characters of GS1 character set 82, got %q", v)
			}
			r.Lot, r.HasLot = v, true
		case "21":
			if v == "" || len(v) > 20 || !gs1.IsCSET82(v) {
				return bad("21", "a serial (AI 21) has 1 to 20 characters of GS1 character set 82, got %q", v)
			}
			r.Serial = v
		}
	}
	return nil
}

// parseQuery reads the LMVS parameters and the expiry.
func (r *Request) parseQuery(q url.Values) *RequestError {
	cc := q.Get("checkConnectivity")
	switch cc {
	case "", "false":
	case "true":
		r.CheckConnectivity = true
	default:
		return bad("checkConnectivity", "true or false, got %q", cc)
	}
	if r.LinkType = q.Get("linkType"); r.LinkType == "" && !r.checkPath {
		return bad("linkType", "missing; a verification request asks for linkType=%s", LinkType)
	}
	if lt := r.LinkType; lt != "" && lt != LinkType && lt != LinkTypeCURIE && lt != LinkTypeURI {
		return bad("linkType", "%q is not a verification service; use %s", lt, LinkType)
	}
	r.Context = q.Get("context")
	if r.Context == "" {
		r.Context = ContextSaleableReturn
	} else if !contextPattern.MatchString(r.Context) {
		return bad("context", "a context is a name of letters, digits and _ (%s), got %q", ContextSaleableReturn, r.Context)
	}
	r.ReqGLN = q.Get("reqGLN")
	if r.ReqGLN == "" {
		return bad("reqGLN", "missing; the requester's GLN (13 digits)")
	}
	if _, err := gs1.ParseGLN(r.ReqGLN); err != nil {
		return bad("reqGLN", "%v", err)
	}
	r.CorrUUID = q.Get("corrUUID")
	if r.CorrUUID != "" && !uuidPattern.MatchString(r.CorrUUID) {
		return bad("corrUUID", "a UUID (8-4-4-4-12 hexadecimal digits), got %q", r.CorrUUID)
	}
	exp, expName := q.Get("17"), "17"
	if e := q.Get("exp"); e != "" {
		if exp != "" {
			return bad("exp", "the expiry is given twice (17 and exp); give it once")
		}
		exp, expName = e, "exp"
	}
	if q.Has(expName) {
		if err := gs1.ValidateDate("17", exp, true); err != nil {
			return bad(expName, "%v", err)
		}
		r.Expiry, r.HasExpiry = exp, true
	}
	return nil
}

// Path writes the request's Digital Link path and query, percent-encoding
// lot and serial (the requester's form: full names, expiry as 17).
func (r Request) Path() string {
	var b strings.Builder
	b.WriteString("/01/" + r.GTIN)
	if r.HasLot {
		b.WriteString("/10/" + url.PathEscape(r.Lot))
	}
	if r.Serial != "" {
		b.WriteString("/21/" + url.PathEscape(r.Serial))
	}
	q := url.Values{}
	if r.HasExpiry {
		q.Set("17", r.Expiry)
	}
	q.Set("linkType", LinkType)
	q.Set("context", r.Context)
	q.Set("reqGLN", r.ReqGLN)
	if r.CorrUUID != "" {
		q.Set("corrUUID", r.CorrUUID)
	}
	if r.CheckConnectivity {
		q.Set("checkConnectivity", "true")
	}
	return b.String() + "?" + q.Encode()
}
