package wire

import (
	"fmt"
	"math"
	"time"

	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
)

// Ack is central's answer on the acks topic: every event of Line up to and
// including Seq is durably committed (applied or dead-lettered), so the edge
// may delete them from its outbox.
type Ack struct {
	V    int    `json:"v"`
	Line string `json:"line"`
	// Seq is the highest contiguous seq committed; 0 means none yet.
	Seq uint64 `json:"seq"`
	// Incarnation is the incarnation of the line's event store that Seq
	// counts (see EventBatch.Incarnation); empty for a line that sends none.
	// A line applies only the acks of its own incarnation.
	Incarnation string `json:"incarnation,omitempty"`
	// Replaced is set while the incarnation acknowledged is a new one that
	// took over from another of the same line (its data store was lost,
	// replaced or rolled back): the line raises an alarm naming it, and QA
	// dispositions the earlier incarnation's unacknowledged events and
	// unused serials at central.
	Replaced *Replaced `json:"replaced,omitempty"`
	// Missing is the first run of seqs of this incarnation that central
	// lacks below events it holds (From is Seq+1). A line that still keeps
	// those events, acknowledged or not, sends them again: central restored
	// from a backup has forgotten events it once acknowledged.
	Missing *SeqRange `json:"missing,omitempty"`
}

// SeqRange is a run of seqs, From to To inclusive.
type SeqRange struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// Replaced describes the incarnation a new one replaced at central.
type Replaced struct {
	Incarnation string `json:"incarnation"`
	// Seq is the last seq central applied of it.
	Seq uint64 `json:"seq"`
	// At is when central first saw the new incarnation.
	At time.Time `json:"at,omitzero"`
}

// Validate checks version and line id.
func (a Ack) Validate() error {
	if err := checkVersion(a.V); err != nil {
		return err
	}
	if err := ValidateLine(a.Line); err != nil {
		return fieldErr("line", err)
	}
	if err := validateIncarnation("incarnation", a.Incarnation); err != nil {
		return err
	}
	if a.Seq > MaxSeq {
		return fieldErrf("seq", "%d exceeds the largest seq (2^63-1)", a.Seq)
	}
	if a.Replaced != nil {
		if a.Incarnation == "" {
			return fieldErrf("replaced", "only the ack of a named incarnation says what it replaced")
		}
		if err := validateIncarnation("replaced.incarnation", a.Replaced.Incarnation); err != nil {
			return err
		}
		if a.Replaced.Incarnation == a.Incarnation {
			return fieldErrf("replaced.incarnation", "%q cannot replace itself", a.Incarnation)
		}
	}
	if m := a.Missing; m != nil {
		switch {
		case m.From != a.Seq+1:
			return fieldErrf("missing.from", "%d: must be seq+1 (%d), the first seq central lacks", m.From, a.Seq+1)
		case m.To < m.From || m.To > MaxSeq:
			return fieldErrf("missing.to", "%d: must be from %d to 2^63-1", m.To, m.From)
		}
	}
	return nil
}

// LineState is what a line is doing.
type LineState string

// The line states. Offline is what the edge's last will says.
const (
	LineRunning LineState = "running"
	LinePaused  LineState = "paused"
	LineStopped LineState = "stopped"
	LineOffline LineState = "offline"
	LineAlarm   LineState = "alarm"
)

// Valid reports whether s is a known line state.
func (s LineState) Valid() bool {
	switch s {
	case LineRunning, LinePaused, LineStopped, LineOffline, LineAlarm:
		return true
	}
	return false
}

// DeviceState is the health of one device of a line.
type DeviceState string

// The device states.
const (
	DeviceOK           DeviceState = "ok"
	DeviceWarning      DeviceState = "warning"      // working, but needs attention (ribbon low, grade dropping)
	DeviceFault        DeviceState = "fault"        // connected but not working
	DeviceDisconnected DeviceState = "disconnected" // not reachable; the driver is reconnecting
)

// Valid reports whether s is a known device state.
func (s DeviceState) Valid() bool {
	switch s {
	case DeviceOK, DeviceWarning, DeviceFault, DeviceDisconnected:
		return true
	}
	return false
}

// DeviceHealth is the state of one device (printer, scanner, PLC).
type DeviceHealth struct {
	State  DeviceState `json:"state"`
	Detail string      `json:"detail,omitempty"`
	Since  time.Time   `json:"since,omitzero"`
}

// Pool is the line's stock of granted, unused serials.
type Pool struct {
	Available   uint64  `json:"available"`
	MinutesLeft float64 `json:"minutes_left"` // at the current rate
}

// Status is the retained payload on the status topic, also registered as
// the edge's last will with State LineOffline.
type Status struct {
	V     int       `json:"v"`
	Line  string    `json:"line"`
	State LineState `json:"state"`
	// At is when the status was taken. It may be zero only in the last will
	// (State offline), which is composed long before the broker sends it.
	At    time.Time `json:"at,omitzero"`
	Order string    `json:"order,omitempty"`
	// Counts is the line's running reconciliation of Order.
	Counts  *Reconciliation         `json:"counts,omitempty"`
	Pool    Pool                    `json:"pool"`
	Devices map[string]DeviceHealth `json:"devices,omitempty"`
	// Outbox is the number of events not yet acknowledged by central.
	Outbox uint64 `json:"outbox"`
	// OrderState is where the line stands with Order (running, complete,
	// stopped ...); empty without an order.
	OrderState OrderProgress `json:"order_state,omitempty"`
	// Alarms are the line's alarms, active or waiting for acknowledgement.
	Alarms []StatusAlarm `json:"alarms,omitempty"`
}

// OrderProgress is where a line stands with the order it works on.
type OrderProgress string

// The order progress states at a line.
const (
	// ProgressRunning: the line produces the order.
	ProgressRunning OrderProgress = "running"
	// ProgressPaused: paused by the operator; Start resumes.
	ProgressPaused OrderProgress = "paused"
	// ProgressStopped: stopped by the operator or an alarm.
	ProgressStopped OrderProgress = "stopped"
	// ProgressComplete: the order's quantity is commissioned; the line
	// stopped by itself and asks for the order to be closed.
	ProgressComplete OrderProgress = "complete"
	// ProgressClosed: the order is closed (at the line or by central).
	ProgressClosed OrderProgress = "closed"
)

// Valid reports whether p is a known order progress state.
func (p OrderProgress) Valid() bool {
	switch p {
	case ProgressRunning, ProgressPaused, ProgressStopped, ProgressComplete, ProgressClosed:
		return true
	}
	return false
}

// StatusAlarm is one of a line's alarms in its status.
type StatusAlarm struct {
	// Code names the alarm in the edge's catalogue (docs/operations.md),
	// e.g. "printer-fault", "consecutive-rejects", "storage".
	Code   string    `json:"code"`
	Device string    `json:"device,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	Active bool      `json:"active"`
	// StoppedLine: it stopped production and waits for acknowledgement.
	StoppedLine bool `json:"stopped_line"`
}

// maxStatusAlarms caps the alarms in one status.
const maxStatusAlarms = 64

// Validate checks version, line, state, time and device states.
func (s Status) Validate() error {
	if err := checkVersion(s.V); err != nil {
		return err
	}
	if err := ValidateLine(s.Line); err != nil {
		return fieldErr("line", err)
	}
	if !s.State.Valid() {
		return fieldErrf("state", "%q is not a line state; use running, paused, stopped, offline or alarm", s.State)
	}
	if s.At.IsZero() && s.State != LineOffline {
		return fieldErrf("at", "missing (only the offline last will may leave it out)")
	}
	if err := validateText("order", s.Order, false); err != nil {
		return err
	}
	if s.Counts != nil {
		if err := s.Counts.Validate(); err != nil {
			return under("counts", err)
		}
	}
	if math.IsNaN(s.Pool.MinutesLeft) || math.IsInf(s.Pool.MinutesLeft, 0) || s.Pool.MinutesLeft < 0 {
		return fieldErrf("pool.minutes_left", "must be a number >= 0, got %v", s.Pool.MinutesLeft)
	}
	if s.OrderState != "" && !s.OrderState.Valid() {
		return fieldErrf("order_state", "%q is not an order state; use running, paused, stopped, complete or closed", s.OrderState)
	}
	if len(s.Alarms) > maxStatusAlarms {
		return fieldErrf("alarms", "has %d alarms, at most %d", len(s.Alarms), maxStatusAlarms)
	}
	for i, a := range s.Alarms {
		f := index("alarms", i)
		if err := validateID(f+".code", a.Code); err != nil {
			return err
		}
		if err := validateText(f+".device", a.Device, false); err != nil {
			return err
		}
		if err := validateText(f+".detail", a.Detail, false); err != nil {
			return err
		}
	}
	for name, d := range s.Devices {
		f := "devices[" + fmt.Sprintf("%q", name) + "]"
		if err := validateText(f, name, true); err != nil {
			return err
		}
		if !d.State.Valid() {
			return fieldErrf(f+".state", "%q is not a device state; use ok, warning, fault or disconnected", d.State)
		}
		if err := validateText(f+".detail", d.Detail, false); err != nil {
			return err
		}
	}
	return nil
}

// OrderState is the state of a work order.
type OrderState string

// The work order states: created by a planner, released to a line (the line
// may produce it and request serials for it), closed (no more serials).
const (
	OrderStateCreated  OrderState = "created"
	OrderStateReleased OrderState = "released"
	OrderStateClosed   OrderState = "closed"
)

// Valid reports whether s is a known order state.
func (s OrderState) Valid() bool {
	switch s {
	case OrderStateCreated, OrderStateReleased, OrderStateClosed:
		return true
	}
	return false
}

// Orders is the retained payload on the orders topic: the work orders
// released to the line, and those central closed that the line has not yet
// reported closed (State closed, with ClosedAt): a line working on one of
// those stops it and closes it at once. It replaces the previous one
// entirely.
type Orders struct {
	V      int     `json:"v"`
	Line   string  `json:"line"`
	Orders []Order `json:"orders"`
}

// Order is a work order as the line needs it to print.
type Order struct {
	ID       string     `json:"id"`
	GTIN     string     `json:"gtin"`
	Lot      string     `json:"lot"`
	Expiry   string     `json:"expiry"` // YYMMDD
	Quantity uint64     `json:"quantity"`
	State    OrderState `json:"state"`
	// MinGrade is the lowest acceptable ISO/IEC 15415 print grade (A to D);
	// a unit graded below is decommissioned low-grade.
	MinGrade string `json:"min_grade,omitempty"`
	// Product is the product name for the operator's screen.
	Product string `json:"product,omitempty"`
	// National holds national healthcare reimbursement numbers to print,
	// by AI (710-717, e.g. "715" for the US NDC).
	National map[string]string `json:"national,omitempty"`
	// RejectAllowance is how many units the line may spend on rejects
	// beyond Quantity (extensions included). Central never grants more
	// than Quantity + RejectAllowance serials beyond those voided or
	// returned, and the line stops when the allowance is spent. Zero from a
	// central that does not send it: the line then uses its own default.
	RejectAllowance uint64 `json:"reject_allowance,omitempty"`
	// MinShelfLifeDays: the line refuses to start the order, and stops it,
	// when fewer days than this are left to Expiry (0: only a past expiry).
	MinShelfLifeDays int `json:"min_shelf_life_days,omitempty"`
	// ClosedAt is when central closed the order (State closed only).
	ClosedAt time.Time `json:"closed_at,omitzero"`
}

// Validate checks the order's fields.
func (o Order) Validate() error {
	if err := validateText("id", o.ID, true); err != nil {
		return err
	}
	if err := validateGTIN("gtin", o.GTIN); err != nil {
		return err
	}
	if err := validateX20("lot", "10", o.Lot); err != nil {
		return err
	}
	if o.Lot == "" {
		return fieldErrf("lot", "missing")
	}
	if err := gs1.ValidateDate("17", o.Expiry, true); err != nil {
		return fieldErr("expiry", err)
	}
	if o.Quantity == 0 {
		return fieldErrf("quantity", "must be at least 1")
	}
	if !o.State.Valid() {
		return fieldErrf("state", "%q is not an order state; use created, released or closed", o.State)
	}
	if !o.ClosedAt.IsZero() && o.State != OrderStateClosed {
		return fieldErrf("closed_at", "only a closed order has a close time, this one is %s", o.State)
	}
	if o.MinShelfLifeDays < 0 || o.MinShelfLifeDays > 3660 {
		return fieldErrf("min_shelf_life_days", "must be 0 to 3660 days, got %d", o.MinShelfLifeDays)
	}
	if o.RejectAllowance > 1<<40 {
		return fieldErrf("reject_allowance", "%d is more than 2^40 units", o.RejectAllowance)
	}
	switch o.MinGrade {
	case "", "A", "B", "C", "D":
	default:
		return fieldErrf("min_grade", "%q is not an ISO/IEC 15415 grade; use A, B, C or D", o.MinGrade)
	}
	if err := validateText("product", o.Product, false); err != nil {
		return err
	}
	for ai, v := range o.National {
		f := "national[" + fmt.Sprintf("%q", ai) + "]"
		if len(ai) != 3 || ai < "710" || ai > "717" {
			return fieldErrf(f, "AI %q is not a national healthcare reimbursement number (710-717)", ai)
		}
		if err := (gs1.ElementString{{AI: "01", Value: o.GTIN}, {AI: ai, Value: v}}).Validate(); err != nil {
			return fieldErr(f, err)
		}
	}
	return nil
}

// Validate checks version, line and every order.
func (o Orders) Validate() error {
	if err := checkVersion(o.V); err != nil {
		return err
	}
	if err := ValidateLine(o.Line); err != nil {
		return fieldErr("line", err)
	}
	seen := make(map[string]int, len(o.Orders))
	for i, ord := range o.Orders {
		if err := ord.Validate(); err != nil {
			return under(index("orders", i), err)
		}
		if j, dup := seen[ord.ID]; dup {
			return fieldErrf(index("orders", i)+".id", "%q repeats orders[%d]", ord.ID, j)
		}
		seen[ord.ID] = i
	}
	return nil
}

// SerialRequest asks central for Count more serials of GTIN for Order, or,
// with Kind RequestSSCC, for Count SSCC serial references under the
// prefix in SSCC. RequestID identifies the request across retries: central
// answers a retried request with the same grant and never allocates twice.
type SerialRequest struct {
	V         int    `json:"v"`
	RequestID string `json:"request_id"`
	Line      string `json:"line"`
	// Kind is empty (serials, as before) or RequestSSCC.
	Kind  RequestKind `json:"kind,omitempty"`
	Order string      `json:"order,omitempty"`
	GTIN  string      `json:"gtin,omitempty"`
	Count uint64      `json:"count"`
	// SSCC is the company prefix and extension digit (RequestSSCC only).
	SSCC *SSCCPrefix `json:"sscc,omitempty"`
}

// Validate checks every field.
func (r SerialRequest) Validate() error {
	if err := checkVersion(r.V); err != nil {
		return err
	}
	if err := validateID("request_id", r.RequestID); err != nil {
		return err
	}
	if err := ValidateLine(r.Line); err != nil {
		return fieldErr("line", err)
	}
	if !r.Kind.Valid() {
		return fieldErr("kind", kindError(r.Kind))
	}
	if r.Kind.IsSSCC() {
		return r.validateSSCC()
	}
	if r.SSCC != nil {
		return fieldErrf("sscc", "only sscc requests name an SSCC prefix; set kind to sscc")
	}
	if err := validateText("order", r.Order, true); err != nil {
		return err
	}
	if err := validateGTIN("gtin", r.GTIN); err != nil {
		return err
	}
	if r.Count == 0 {
		return fieldErrf("count", "must be at least 1")
	}
	if r.Count > math.MaxInt64 {
		return fieldErrf("count", "%d exceeds the counter space (2^63)", r.Count)
	}
	return nil
}

// SerialGrant answers a SerialRequest. Either Error says why nothing was
// granted, or Ranges hold the counters granted and Scheme how to turn a
// counter into a serial (serials.New(Scheme)). For a list scheme, the
// counters index the product's imported list and Serials holds the
// granted serials themselves, in the order of Ranges.
//
// Scheme.Key (randomized schemes) is a secret; serials.Spec redacts it when
// printed or logged, but the JSON carries it, so the broker connection must
// be private (TLS, per-line credentials, ACLs).
//
// An SSCC grant (Kind RequestSSCC) carries the request's SSCC prefix and
// Ranges of serial references, and no GTIN, scheme or serials.
type SerialGrant struct {
	V         int            `json:"v"`
	RequestID string         `json:"request_id"`
	Line      string         `json:"line"`
	Kind      RequestKind    `json:"kind,omitempty"`
	Order     string         `json:"order,omitempty"`
	GTIN      string         `json:"gtin,omitempty"`
	SSCC      *SSCCPrefix    `json:"sscc,omitempty"`
	Scheme    *serials.Spec  `json:"scheme,omitempty"`
	Ranges    []CounterRange `json:"ranges,omitempty"`
	Serials   []string       `json:"serials,omitempty"`
	Error     string         `json:"error,omitempty"`
}

// Count is the number of serials granted.
func (g SerialGrant) Count() uint64 {
	var n uint64
	for _, r := range g.Ranges {
		n += r.Count
	}
	return n
}

// Validate checks every field; a refusal (Error set) carries no scheme,
// ranges or serials.
func (g SerialGrant) Validate() error {
	if err := checkVersion(g.V); err != nil {
		return err
	}
	if err := validateID("request_id", g.RequestID); err != nil {
		return err
	}
	if err := ValidateLine(g.Line); err != nil {
		return fieldErr("line", err)
	}
	if !g.Kind.Valid() {
		return fieldErr("kind", kindError(g.Kind))
	}
	if g.Kind.IsSSCC() {
		return g.validateSSCC()
	}
	if g.SSCC != nil {
		return fieldErrf("sscc", "only sscc grants name an SSCC prefix; set kind to sscc")
	}
	if err := validateText("order", g.Order, true); err != nil {
		return err
	}
	if err := validateGTIN("gtin", g.GTIN); err != nil {
		return err
	}
	if g.Error != "" {
		return g.validateRefusal()
	}
	if g.Scheme == nil {
		return fieldErrf("scheme", "missing; a grant says how counters become serials")
	}
	if err := g.Scheme.Validate(); err != nil {
		return fieldErr("scheme", err)
	}
	if len(g.Ranges) == 0 {
		return fieldErrf("ranges", "missing; a grant holds at least one counter range")
	}
	total, err := validateRanges("ranges", g.Ranges)
	if err != nil {
		return err
	}
	if g.Scheme.Kind != serials.KindList {
		if len(g.Serials) > 0 {
			return fieldErrf("serials", "only list schemes carry explicit serials, this one is %s", g.Scheme.Kind)
		}
		return nil
	}
	if uint64(len(g.Serials)) != total {
		return fieldErrf("serials", "has %d serials, the ranges grant %d", len(g.Serials), total)
	}
	seen := make(map[string]int, len(g.Serials))
	for i, s := range g.Serials {
		if s == "" {
			return fieldErrf(index("serials", i), "empty")
		}
		if err := validateX20(index("serials", i), "21", s); err != nil {
			return err
		}
		if j, dup := seen[s]; dup {
			return fieldErrf(index("serials", i), "%q repeats serials[%d]", s, j)
		}
		seen[s] = i
	}
	return nil
}

// validateRefusal checks a refused grant: a bounded message and nothing
// granted.
func (g SerialGrant) validateRefusal() error {
	if len(g.Error) > 4*maxTextLen {
		return fieldErrf("error", "has %d bytes, at most %d are allowed", len(g.Error), 4*maxTextLen)
	}
	if g.Scheme != nil || len(g.Ranges) > 0 || len(g.Serials) > 0 {
		return fieldErrf("error", "a refused grant carries no scheme, ranges or serials")
	}
	return nil
}
