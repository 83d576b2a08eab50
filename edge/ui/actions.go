package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/httpjson"
)

// The line actions. Who may do what:
//
//	stop, pause     anyone, signed in or not (a stop is never locked out)
//	start, close    a signed-in person
//	ack             a signed-in person, or a PIN sent with it; each alarm
//	                needs its catalogue role (station.Catalogue)
//	extend          a supervisor or QA, signed in or by PIN

// call runs one Line call as who (the zero Person: nobody signed in) and
// records it; the answer is v, or the view of the session's person.
func (u *UI) call(w http.ResponseWriter, r *http.Request, who Person, a Action, fn func(context.Context) (any, error)) {
	ctx := r.Context()
	if who.Name != "" {
		ctx = WithSignIn(ctx, who)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := fn(ctx)
	a.Operator, a.Role, a.At = who.Name, who.Role, u.cfg.Now()
	if who.Name == "" {
		a.Operator = Unsigned
	}
	if err != nil {
		a.Error = err.Error()
	}
	u.record(r.Context(), a)
	switch {
	case err != nil:
		writeCallErr(w, err)
	case v != nil:
		httpjson.Write(w, http.StatusOK, v)
	default:
		viewer, _ := u.signedIn(r, false)
		httpjson.Write(w, http.StatusOK, u.view(viewer))
	}
}

// writeCallErr answers a line call that failed: 503 while the agent is
// not running (it is starting, or stopped), 403 when the role may not do
// it, 409 for anything else the line refused.
func writeCallErr(w http.ResponseWriter, err error) {
	status, body := http.StatusConflict, errBody{Error: err.Error()}
	var nr needRole
	switch {
	case errors.Is(err, agent.ErrNotRunning):
		status = http.StatusServiceUnavailable
	case errors.As(err, &nr):
		status, body.Role = http.StatusForbidden, nr.role
	case errors.Is(err, agent.ErrRole): // extend allowance
		status, body.Role = http.StatusForbidden, station.RoleSupervisor
	case errors.Is(err, station.ErrRole):
		status = http.StatusForbidden
	}
	httpjson.Write(w, status, body)
}

// needRole is a refusal for want of a role, naming the role that may.
type needRole struct {
	role station.Role
	err  error
}

func (e needRole) Error() string { return e.err.Error() }
func (e needRole) Unwrap() error { return e.err }

// refuse answers and records an action that who's role may not do.
func (u *UI) refuse(w http.ResponseWriter, r *http.Request, who Person, a Action, need station.Role, msg string) {
	a.Operator, a.Role, a.At, a.Error = who.Name, who.Role, u.cfg.Now(), msg
	u.record(r.Context(), a)
	httpjson.Write(w, http.StatusForbidden, errBody{Error: msg, Role: need})
}

func (u *UI) currentOrder() string {
	if o := u.line.State().Order; o != nil {
		return o.ID
	}
	return ""
}

// unsigned serves Stop and Pause: they need no sign-in, so that nothing
// ever stands between the operator and stopping the line. A signed-in
// person's name goes on the action; else it is recorded as Unsigned.
func (u *UI) unsigned(act string, fn func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, _ := u.signedIn(r, true)
		u.call(w, r, who, Action{Action: act, Order: u.currentOrder()}, func(ctx context.Context) (any, error) { return nil, fn(ctx) })
	}
}

func (u *UI) serveStart(w http.ResponseWriter, r *http.Request) {
	who, ok := u.guard(w, r)
	if !ok {
		return
	}
	var body struct {
		Order string `json:"order"`
	}
	if err := decode(r, &body); err != nil || body.Order == "" {
		httpjson.Write(w, http.StatusBadRequest, errBody{Error: `order: missing; want {"order": "<work order id>"}`, Field: "order"})
		return
	}
	u.call(w, r, who, Action{Action: ActStart, Order: body.Order}, func(ctx context.Context) (any, error) {
		return nil, u.line.StartLine(ctx, body.Order)
	})
}

func (u *UI) serveClose(w http.ResponseWriter, r *http.Request) {
	who, ok := u.guard(w, r)
	if !ok {
		return
	}
	var body struct {
		Confirm bool `json:"confirm"`
	}
	if err := decode(r, &body); err != nil || !body.Confirm {
		httpjson.Write(w, http.StatusBadRequest, errBody{Error: `confirm: closing an order cannot be undone; send {"confirm": true}`, Field: "confirm"})
		return
	}
	order := u.currentOrder()
	u.call(w, r, who, Action{Action: ActClose, Order: order}, func(ctx context.Context) (any, error) {
		rec, err := u.line.CloseOrder(ctx)
		if err != nil {
			return nil, err
		}
		u.mu.Lock()
		u.closedHere = order
		u.mu.Unlock()
		return reconciliationView(order, rec), nil
	})
}

// serveAck acknowledges the alarms the person may: the signed-in one, or
// the one whose PIN came with the request (a supervisor or QA at the
// operator's screen). When every alarm still to acknowledge needs a higher
// role, nothing is sent to the line and the answer names the role.
func (u *UI) serveAck(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PIN string `json:"pin"`
	}
	if err := decode(r, &body); err != nil {
		httpjson.Write(w, http.StatusBadRequest, errBody{Error: `body: want {} or {"pin": "<4 to 8 digits>"}`, Field: "pin"})
		return
	}
	who, ok := u.actor(w, r, body.PIN)
	if !ok {
		return
	}
	a := Action{Action: ActAck, Order: u.currentOrder()}
	var beyond []station.Alarm
	may := false
	for _, al := range u.line.State().Alarms {
		switch {
		case al.Acked:
		case who.Role.May(al.AckRole):
			may = true
		default:
			beyond = append(beyond, al)
		}
	}
	if len(beyond) > 0 && !may {
		need, msg := roleRefusal(who, beyond)
		u.refuse(w, r, who, a, need, msg)
		return
	}
	u.call(w, r, who, a, func(ctx context.Context) (any, error) {
		err := u.line.Acknowledge(ctx)
		if errors.Is(err, station.ErrRole) && len(beyond) > 0 {
			// The others are acknowledged; say in plain words who must
			// come for the rest.
			need, msg := roleRefusal(who, beyond)
			return nil, needRole{role: need, err: fmt.Errorf("%s (%w)", msg, err)}
		}
		return nil, err
	})
}

// roleRefusal names the alarms who may not acknowledge and the role that
// may acknowledge them all.
func roleRefusal(who Person, alarms []station.Alarm) (station.Role, string) {
	need := station.RoleOperator
	var codes []string
	for _, a := range alarms {
		if !need.May(a.AckRole) {
			need = a.AckRole
		}
		codes = append(codes, string(a.Code))
	}
	return need, fmt.Sprintf("%s needs %s to acknowledge (%s is %s)", strings.Join(codes, ", "), rolePIN(need), who.Name, roleName(who.Role))
}

// rolePIN says whose PIN a role's action takes.
func rolePIN(r station.Role) string {
	switch r {
	case station.RoleQA:
		return "a QA PIN"
	case station.RoleSupervisor:
		return "a supervisor's or QA PIN"
	}
	return "an operator's PIN"
}

func roleName(r station.Role) string {
	switch r {
	case station.RoleQA:
		return "QA"
	case station.RoleSupervisor:
		return "a supervisor"
	}
	return "an operator"
}

// Extension limits: units per extension (as the agent checks) and the
// reason's length (the event's note takes 256 bytes).
const (
	maxExtendUnits  = 1_000_000
	maxReasonLength = 200
)

// serveExtend extends the running order's reject allowance: a supervisor's
// or QA's decision, with a reason, recorded as an allowance-extended event
// for central's audit trail.
func (u *UI) serveExtend(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Units  uint64 `json:"units"`
		Reason string `json:"reason"`
		PIN    string `json:"pin"`
	}
	if err := decode(r, &body); err != nil {
		field := "units"
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field = te.Field
		}
		badField(w, field, fmt.Sprintf(`want {"units": <1 to %d>, "reason": "<why the line needs more rejects>"}`, maxExtendUnits))
		return
	}
	reason := strings.TrimSpace(body.Reason)
	switch {
	case body.Units == 0 || body.Units > maxExtendUnits:
		badField(w, "units", fmt.Sprintf("must be 1 to %d packs, got %d", maxExtendUnits, body.Units))
		return
	case reason == "":
		badField(w, "reason", "missing; say why the line needs more rejects (it goes to central's audit trail)")
		return
	case len(reason) > maxReasonLength:
		badField(w, "reason", fmt.Sprintf("%d bytes; at most %d", len(reason), maxReasonLength))
		return
	case strings.ContainsFunc(reason, func(r rune) bool { return r < ' ' || r == 0x7f }):
		badField(w, "reason", "one line of text, without control characters")
		return
	}
	who, ok := u.actor(w, r, body.PIN)
	if !ok {
		return
	}
	a := Action{Action: ActExtend, Order: u.currentOrder(), Note: fmt.Sprintf("+%d: %s", body.Units, reason)}
	if !who.Role.May(station.RoleSupervisor) {
		u.refuse(w, r, who, a, station.RoleSupervisor,
			fmt.Sprintf("extending the reject allowance needs %s (%s is %s)", rolePIN(station.RoleSupervisor), who.Name, roleName(who.Role)))
		return
	}
	u.call(w, r, who, a, func(ctx context.Context) (any, error) {
		return nil, u.line.ExtendAllowance(ctx, body.Units, reason)
	})
}
