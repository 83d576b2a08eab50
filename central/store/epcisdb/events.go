package epcisdb

import (
	"errors"
	"net/url"
	"strings"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
)

// EPCIS sources: where an event in the repository came from.
const (
	EPCISSourceCapture = "capture" // POST /epcis/capture
	EPCISSourceLine    = "line"    // projected from a line event
)

// Defaults and bounds of QueryEPCIS.
const (
	DefaultEPCISLimit = 1000
	MaxEPCISLimit     = 100_000
)

// SerialineNS is the namespace of Serialine's EPCIS extensions
// (serialine:reason on decommissioning events).
const SerialineNS = "https://serialine.dev/epcis/"

// EPCISCaptureError is a capture refused because events broke EPCIS 2.0 /
// CBV 2.0 rules; each problem names eventList[i].field. It matches
// sqldb.ErrInvalid. Nothing of the capture was stored.
type EPCISCaptureError struct {
	Problems []*epcis.FieldError
}

func (e *EPCISCaptureError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return "EPCIS capture refused: " + strings.Join(msgs, "; ")
}

// Is makes errors.Is(err, sqldb.ErrInvalid) true.
func (e *EPCISCaptureError) Is(target error) bool { return target == sqldb.ErrInvalid }

// ValidateEPCISEvent checks one event as CaptureEPCIS does and returns
// its problems with Index set to index (nil when it is valid).
func ValidateEPCISEvent(index int, e epcis.Event) []*epcis.FieldError {
	var out []*epcis.FieldError
	if err := e.Validate(); err != nil {
		for _, x := range flatten(err) {
			var fe *epcis.FieldError
			if errors.As(x, &fe) {
				c := *fe
				c.Index = index
				out = append(out, &c)
			} else {
				out = append(out, &epcis.FieldError{Index: index, Field: "event", Rule: x.Error()})
			}
		}
	}
	return out
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// CBV prefixes stripped to the bare form the repository keeps.
var (
	bizStepPrefixes   = []string{"urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-", "https://ref.gs1.org/cbv/Bizstep-", "https://ns.gs1.org/cbv/BizStep-", "https://gs1.org/voc/BizStep-", "cbv:BizStep-"}
	errReasonPrefixes = []string{"urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-", "https://ns.gs1.org/cbv/ER-", "cbv:ER-"}
	dispPrefixes      = []string{"urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-", "https://ns.gs1.org/cbv/Disp-", "https://gs1.org/voc/Disp-", "cbv:Disp-"}
)

func stripPrefixes(s string, prefixes []string) string {
	s = strings.TrimSpace(s)
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return s[len(p):]
		}
	}
	return s
}

func normBizStep(s string) string     { return stripPrefixes(s, bizStepPrefixes) }
func normDisposition(s string) string { return stripPrefixes(s, dispPrefixes) }
func normErrorReason(s string) string { return stripPrefixes(s, errReasonPrefixes) }

// canonicalEPC writes a GS1 identifier, given as an EPC URI (sgtin, sscc,
// sgln) or a GS1 Digital Link URI, as a Digital Link URI on id.gs1.org with
// its key and serial/extension only, so that either spelling matches the
// other. Anything else is kept as written.
func canonicalEPC(s string) string {
	s = strings.TrimSpace(s)
	const base = "https://id.gs1.org/"
	switch {
	case s == "":
		return ""
	case strings.HasPrefix(s, gs1.SGTINURIPrefix):
		if g, sn, err := gs1.ParseSGTINURI(s); err == nil {
			return base + "01/" + string(g) + "/21/" + url.PathEscape(sn)
		}
	case strings.HasPrefix(s, "urn:epc:id:sscc:"):
		if c, err := gs1.ParseSSCCURI(s); err == nil {
			return base + "00/" + string(c)
		}
	case strings.HasPrefix(s, "urn:epc:id:sgln:"):
		if g, ext, err := gs1.ParseSGLNURI(s); err == nil {
			if ext == "" || ext == "0" {
				return base + "414/" + string(g)
			}
			return base + "414/" + string(g) + "/254/" + url.PathEscape(ext)
		}
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		es, err := gs1.ParseDigitalLink(s)
		if err != nil {
			return s
		}
		m := es.Map()
		switch {
		case m["01"] != "" && m["21"] != "":
			return base + "01/" + m["01"] + "/21/" + url.PathEscape(m["21"])
		case m["00"] != "":
			return base + "00/" + m["00"]
		case m["414"] != "":
			if ext := m["254"]; ext != "" && ext != "0" {
				return base + "414/" + m["414"] + "/254/" + url.PathEscape(ext)
			}
			return base + "414/" + m["414"]
		}
	}
	return s
}

// CanonicalEPC is the form in which the repository indexes an EPC (see
// QueryEPCIS): exported for callers that compare EPCs the same way.
func CanonicalEPC(s string) string { return canonicalEPC(s) }
