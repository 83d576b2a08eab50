package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/wire"
)

// PackingLine is a Line with a packing mode (*agent.Agent is one). The
// screen asks for it per request because the packer exists only while the
// agent runs with packing enabled.
type PackingLine interface {
	Packer() (*packing.Packer, error)
}

// The packing action names.
const (
	ActPackScan    = "pack-scan"    // a code entered at the screen (handheld without connection, typed)
	ActCloseCase   = "close-case"   // close the open case before it is full
	ActClosePallet = "close-pallet" // close the open pallet before it is full
	ActRemoveUnit  = "remove-unit"  // rework: a unit out of a closed case
	ActReplaceUnit = "replace-unit" // rework: a unit of a closed case swapped for another
	ActUnpack      = "unpack"       // empty a closed case or pallet
)

// maxScanData bounds a code entered at the screen: a GS1 element string
// is well under this, a Digital Link URI too.
const maxScanData = 512

// PackResult is the answer to a packing action: the new state of the
// screen (View, so the page repaints at once) and what the action did.
type PackResult struct {
	View
	// Outcome is the scan's result (ActPackScan).
	Outcome *packing.Outcome `json:"outcome,omitempty"`
	// Closed is the case or pallet closed (ActCloseCase, ActClosePallet, or
	// a scan that filled the case).
	Closed *packing.Closed `json:"closed,omitempty"`
	// Removed is how many children an unpack took out.
	Removed int `json:"removed,omitempty"`
}

func (u *UI) registerPacking(m *http.ServeMux) {
	m.HandleFunc("POST /ui/pack/scan", u.servePackScan)
	m.HandleFunc("POST /ui/pack/close-case", u.servePackClose(ActCloseCase))
	m.HandleFunc("POST /ui/pack/close-pallet", u.servePackClose(ActClosePallet))
	m.HandleFunc("POST /ui/pack/remove", u.servePackRemove)
	m.HandleFunc("POST /ui/pack/replace", u.servePackReplace)
	m.HandleFunc("POST /ui/pack/unpack", u.servePackUnpack)
}

// packer returns the line's packer, or writes why there is none.
func (u *UI) packer(w http.ResponseWriter) (*packing.Packer, bool) {
	pl, ok := u.line.(PackingLine)
	if !ok {
		httpjson.Write(w, http.StatusNotFound, errBody{Error: "packing: this line has no packing mode"})
		return nil, false
	}
	pk, err := pl.Packer()
	if err != nil {
		httpjson.Write(w, http.StatusServiceUnavailable, errBody{Error: err.Error() + " (packing is off, or the agent is starting)"})
		return nil, false
	}
	return pk, true
}

// packCall runs one packing action as the operator, records it (with the
// container and unit it concerns) and answers with a PackResult. A scan
// refused by the packer is answered 409 with the reason.
func (u *UI) packCall(w http.ResponseWriter, r *http.Request, who Person, a Action, fn func(context.Context) (PackResult, *packing.Refusal, error)) {
	ctx, cancel := context.WithTimeout(WithSignIn(r.Context(), who), 30*time.Second)
	defer cancel()
	res, refused, err := fn(ctx)
	a.Operator, a.Role, a.At = who.Name, who.Role, u.cfg.Now()
	if a.Order == "" {
		a.Order = u.currentOrder()
	}
	if res.Closed != nil && a.Container == "" {
		a.Container = res.Closed.SSCC
	}
	switch {
	case err != nil:
		a.Error = err.Error()
	case refused != nil:
		a.Error = refused.Error()
	}
	u.record(r.Context(), a)
	switch {
	case err != nil:
		writeCallErr(w, err)
	case refused != nil:
		httpjson.Write(w, http.StatusConflict, errBody{Error: refused.Detail, Reason: string(refused.Reason)})
	default:
		res.View = u.view(who)
		httpjson.Write(w, http.StatusOK, res)
	}
}

func badField(w http.ResponseWriter, field, msg string) {
	httpjson.Write(w, http.StatusBadRequest, errBody{Error: field + ": " + msg, Field: field})
}

// servePackScan packs a code entered at the screen, as if scanned.
func (u *UI) servePackScan(w http.ResponseWriter, r *http.Request) {
	who, ok := u.guard(w, r)
	if !ok {
		return
	}
	var body struct {
		Data string `json:"data"`
	}
	if err := decode(r, &body); err != nil {
		badField(w, "data", `want {"data": "<the code on the pack, any GS1 form>"}`)
		return
	}
	data := strings.TrimSpace(body.Data)
	switch {
	case data == "":
		badField(w, "data", "missing; scan or type the code on the pack")
		return
	case len(data) > maxScanData:
		badField(w, "data", fmt.Sprintf("%d characters; a pack's code has at most %d", len(data), maxScanData))
		return
	}
	pk, ok := u.packer(w)
	if !ok {
		return
	}
	a := Action{Action: ActPackScan, Unit: data}
	u.packCall(w, r, who, a, func(ctx context.Context) (PackResult, *packing.Refusal, error) {
		out := pk.Scan(ctx, data)
		return PackResult{Outcome: &out, Closed: out.Closed}, out.Refusal, nil
	})
}

func (u *UI) servePackClose(act string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, ok := u.guard(w, r)
		if !ok {
			return
		}
		pk, ok := u.packer(w)
		if !ok {
			return
		}
		u.packCall(w, r, who, Action{Action: act}, func(ctx context.Context) (PackResult, *packing.Refusal, error) {
			var c *packing.Closed
			var err error
			if act == ActCloseCase {
				c, err = pk.CloseCase(ctx)
			} else {
				c, err = pk.ClosePallet(ctx)
			}
			return PackResult{Closed: c}, nil, err
		})
	}
}

// reworkBody is the body of the rework actions: the closed container by
// its SSCC and the units by their codes, each in any GS1 form (a handheld
// may scan them into the fields).
type reworkBody struct {
	SSCC    string `json:"sscc"`
	Unit    string `json:"unit"`
	With    string `json:"with"`
	Confirm bool   `json:"confirm"`
}

// parseSSCC reads the container field: 18 digits, "00" + 18 digits, or
// any GS1 form carrying AI (00).
func parseSSCC(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("missing; scan or type the SSCC on the case or pallet label")
	}
	if len(s) == 18 && strings.Trim(s, "0123456789") == "" {
		v, err := gs1.ParseSSCC(s)
		return string(v), err
	}
	es, err := gs1.Parse(s)
	if err != nil {
		return "", err
	}
	v, ok := es.Get("00")
	if !ok {
		return "", errors.New("no AI (00): that is not the SSCC of a case or pallet")
	}
	return v, nil
}

// parseUnit reads a unit field: any GS1 form with (01) and (21), or a
// child reference "(01)…(21)…", which is bracketed GS1 too.
func parseUnit(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("missing; scan or type the code on the pack")
	}
	es, err := gs1.Parse(s)
	if err != nil {
		return "", err
	}
	gtin, ok1 := es.Get("01")
	serial, ok2 := es.Get("21")
	if !ok1 || !ok2 {
		return "", errors.New("no (01) GTIN and (21) serial: that is not a unit's code")
	}
	return wire.UnitRef(gtin, serial), nil
}

// reworkInput decodes and checks the rework body; want names the unit
// fields the action needs.
func reworkInput(w http.ResponseWriter, r *http.Request, want ...string) (sscc string, units map[string]string, body reworkBody, ok bool) {
	if err := decode(r, &body); err != nil {
		badField(w, "sscc", `want {"sscc": "<SSCC>", "unit": "<unit code>", "with": "<unit code>"}`)
		return "", nil, body, false
	}
	sscc, err := parseSSCC(body.SSCC)
	if err != nil {
		badField(w, "sscc", err.Error())
		return "", nil, body, false
	}
	units = map[string]string{}
	for _, f := range want {
		v := body.Unit
		if f == "with" {
			v = body.With
		}
		ref, err := parseUnit(v)
		if err != nil {
			badField(w, f, err.Error())
			return "", nil, body, false
		}
		units[f] = ref
	}
	return sscc, units, body, true
}

func (u *UI) servePackRemove(w http.ResponseWriter, r *http.Request) {
	who, ok := u.guard(w, r)
	if !ok {
		return
	}
	sscc, units, _, ok := reworkInput(w, r, "unit")
	if !ok {
		return
	}
	pk, ok := u.packer(w)
	if !ok {
		return
	}
	a := Action{Action: ActRemoveUnit, Container: sscc, Unit: units["unit"]}
	u.packCall(w, r, who, a, func(ctx context.Context) (PackResult, *packing.Refusal, error) {
		return PackResult{}, nil, pk.RemoveUnit(ctx, sscc, units["unit"])
	})
}

func (u *UI) servePackReplace(w http.ResponseWriter, r *http.Request) {
	who, ok := u.guard(w, r)
	if !ok {
		return
	}
	sscc, units, _, ok := reworkInput(w, r, "unit", "with")
	if !ok {
		return
	}
	if units["unit"] == units["with"] {
		badField(w, "with", "the same unit as the one taken out; scan the replacement pack")
		return
	}
	pk, ok := u.packer(w)
	if !ok {
		return
	}
	a := Action{Action: ActReplaceUnit, Container: sscc, Unit: units["unit"], With: units["with"]}
	u.packCall(w, r, who, a, func(ctx context.Context) (PackResult, *packing.Refusal, error) {
		refused, err := pk.ReplaceUnit(ctx, sscc, units["unit"], units["with"])
		return PackResult{}, refused, err
	})
}

func (u *UI) servePackUnpack(w http.ResponseWriter, r *http.Request) {
	who, ok := u.guard(w, r)
	if !ok {
		return
	}
	sscc, _, body, ok := reworkInput(w, r)
	if !ok {
		return
	}
	if !body.Confirm {
		badField(w, "confirm", `emptying a container takes everything out of it; send {"confirm": true}`)
		return
	}
	pk, ok := u.packer(w)
	if !ok {
		return
	}
	u.packCall(w, r, who, Action{Action: ActUnpack, Container: sscc}, func(ctx context.Context) (PackResult, *packing.Refusal, error) {
		n, err := pk.Unpack(ctx, sscc)
		if err == nil && n == 0 {
			err = fmt.Errorf("container %s is empty already", sscc)
		}
		return PackResult{Removed: n}, nil, err
	})
}
