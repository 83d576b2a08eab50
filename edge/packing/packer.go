package packing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// ErrNoOpenCase is returned by CloseCase when no case is being filled.
var ErrNoOpenCase = errors.New("no case is open")

// ErrNoOpenPallet is returned by ClosePallet when no pallet is being built.
var ErrNoOpenPallet = errors.New("no pallet is open")

// ErrNotInContainer is returned by the rework calls when the unit or case
// named is not inside the container named (as this line recorded it).
var ErrNotInContainer = errors.New("not inside that container")

// ErrUnknownContainer is returned by Container and the rework calls for an
// SSCC this line has not closed (a typo, another line's case, an open one).
var ErrUnknownContainer = errors.New("no case or pallet with that SSCC was closed on this line")

// Printer prints a case or pallet label; *printer.Printer, built with
// LabelLayout, is one.
type Printer interface {
	Print(ctx context.Context, f zpl.Fields) error
}

// Outbox takes the aggregation events and sends the SSCC requests;
// *outbox.Outbox is one.
type Outbox interface {
	AppendSync(ctx context.Context, evs ...wire.Event) (uint64, error)
	RequestSerials(ctx context.Context, req wire.SerialRequest) error
}

// Reason is why a scan was refused.
type Reason string

// The refusal reasons, shown on the operator's screen with the detail.
const (
	RefuseUnreadable      Reason = "unreadable"       // no read, or not a GS1 element string
	RefuseNotUnit         Reason = "not-a-unit"       // no (01) GTIN and (21) serial
	RefuseNotCommissioned Reason = "not-commissioned" // not commissioned on this line, or decommissioned
	RefuseAlreadyPacked   Reason = "already-packed"   // in a case already (this one or another)
	RefuseOtherOrder      Reason = "other-order"      // of another order than the one being packed
	RefuseNoOrder         Reason = "no-order"         // no order is being packed
	RefuseNoSSCC          Reason = "no-sscc"          // no SSCC left for a new case
)

// Refusal is a refused scan.
type Refusal struct {
	At     time.Time `json:"at"`
	Data   string    `json:"data"` // the unit as "(01)…(21)…", else what was read
	Reason Reason    `json:"reason"`
	Detail string    `json:"detail"`
}

func (r *Refusal) Error() string { return string(r.Reason) + ": " + r.Detail }

// Closed is a case or pallet that was closed, labelled and recorded.
type Closed struct {
	Level    Level  `json:"level"`
	SSCC     string `json:"sscc"`
	Children int    `json:"children"`
	// Pallet is the pallet that closing this case filled, if any.
	Pallet *Closed `json:"pallet,omitempty"`
}

// Outcome is what a scan did.
type Outcome struct {
	Accepted bool   `json:"accepted"`
	Unit     string `json:"unit,omitempty"` // "(01)…(21)…"
	Case     string `json:"case,omitempty"` // SSCC of the case it went into
	Count    int    `json:"count,omitempty"`
	// Closed is the case the scan filled (labelled and recorded).
	Closed  *Closed  `json:"closed,omitempty"`
	Refusal *Refusal `json:"refusal,omitempty"`
}

// Packer is the packing mode of one line: units scanned into cases, cases
// onto pallets, SSCC labels, aggregation events and rework. Its records
// live in the agent's bbolt file; see RecordEvents for how they stay in
// step with the events.
type Packer struct {
	cfg Config
	db  *bolt.DB
	prn Printer
	ob  Outbox
	log *slog.Logger

	// op serialises scans and operator actions: they read and then write
	// the open case, and a line has one packing station.
	op sync.Mutex

	mu       sync.Mutex
	view     Snapshot
	order    *wire.Order
	lastSent map[string]time.Time
	changes  chan struct{}
	wake     chan struct{}
}

// Open prepares the packing records on db (creating the buckets) and
// loads the open case and pallet. Register RecordEvents as the outbox's
// commit hook before events flow, then call Run.
func Open(db *bolt.DB, cfg Config, prn Printer, ob Outbox, log *slog.Logger) (*Packer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if prn == nil || ob == nil || log == nil {
		return nil, errors.New("packing: printer, outbox and logger are required")
	}
	p := &Packer{cfg: cfg.WithDefaults(), db: db, prn: prn, ob: ob, log: log,
		lastSent: map[string]time.Time{}, changes: make(chan struct{}), wake: make(chan struct{}, 1)}
	err := db.Update(func(tx *bolt.Tx) error {
		if err := createBuckets(tx); err != nil {
			return err
		}
		var o wire.Order
		if ok, err := getJSON(tx.Bucket(bktMeta), keyOrder, &o); err != nil {
			return err
		} else if ok {
			p.order = &o
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("packing: open: %w", err)
	}
	p.reload()
	return p, nil
}

// SetOrder sets the order being packed (the agent follows the station's
// order); units of any other order are refused. It is remembered across
// restarts. A case already open for another order must be closed first.
func (p *Packer) SetOrder(o wire.Order) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("packing: order %s: %w", o.ID, err)
	}
	p.mu.Lock()
	same := p.order != nil && p.order.ID == o.ID
	p.mu.Unlock()
	if same {
		return nil
	}
	err := p.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bktMeta), keyOrder, o) })
	if err != nil {
		return fmt.Errorf("packing: order %s: %w", o.ID, err)
	}
	p.mu.Lock()
	p.order = &o
	p.mu.Unlock()
	p.log.Info("packing order set", "order", o.ID, "gtin", o.GTIN)
	p.reload()
	return nil
}

func (p *Packer) currentOrder() *wire.Order {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.order
}

// Run reads the packing scanner's results and keeps the SSCC stock above
// the low-water mark, until ctx ends. scans may be nil (no scanner: scans
// come through Scan).
func (p *Packer) Run(ctx context.Context, scans <-chan scanner.Result) {
	tick := max(p.cfg.RequestRetry/4, 50*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	p.refill(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-scans:
			if r.NoRead {
				p.refuse(r.Data, RefuseUnreadable, "no read: the scanner found no readable code")
				continue
			}
			p.Scan(ctx, r.Data)
		case <-p.wake:
			p.refill(ctx)
		case <-t.C:
			p.refill(ctx)
		}
	}
}

func (p *Packer) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Scan takes one scanned code (any GS1 form: transmitted as a scanner
// sends it, bracketed, or a Digital Link URI). A unit this line
// commissioned, not packed yet, of the order being packed, goes into the
// open case (a new case takes the next SSCC); the case that reaches
// CaseSize is closed, labelled and recorded. Anything else is refused with
// the reason, kept for the screen.
func (p *Packer) Scan(ctx context.Context, data string) Outcome {
	p.op.Lock()
	defer p.op.Unlock()
	es, err := gs1.Parse(data)
	if err != nil {
		return p.refusal(data, RefuseUnreadable, "not a GS1 element string: "+err.Error())
	}
	m := es.Map()
	gtin, serial := m["01"], m["21"]
	if gtin == "" || serial == "" {
		what := "it has no (01) GTIN and (21) serial"
		if m["00"] != "" {
			what = "it is the SSCC label of a case or pallet"
		}
		return p.refusal(es.Bracketed(), RefuseNotUnit, "not a unit: "+what)
	}
	ref := wire.UnitRef(gtin, serial)
	order := p.currentOrder()
	if order == nil {
		return p.refusal(ref, RefuseNoOrder, "no order is being packed; start an order first")
	}
	if r := p.check(ref, gtin, serial, order.ID, false); r != nil {
		return Outcome{Unit: ref, Refusal: r}
	}
	var oc openCase
	err = p.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		if _, err := getJSON(meta, keyOpenCase, &oc); err != nil {
			return err
		}
		if oc.SSCC == "" {
			s, err := takeSSCC(meta, p.cfg.prefix(LevelCase))
			if err != nil {
				return err
			}
			oc = openCase{SSCC: string(s), Order: order.ID, Opened: p.cfg.Now()}
		}
		oc.Units = append(oc.Units, ref)
		return putJSON(meta, keyOpenCase, oc)
	})
	if errors.Is(err, ErrNoSSCC) {
		p.kick()
		return p.refusal(ref, RefuseNoSSCC, err.Error())
	}
	if err != nil {
		p.log.Error("scan not recorded", "unit", ref, "err", err)
		return p.refusal(ref, RefuseUnreadable, "not recorded: "+err.Error())
	}
	out := Outcome{Accepted: true, Unit: ref, Case: oc.SSCC, Count: len(oc.Units)}
	// Counted once the scan's work is done (the case closed, if full), so
	// that a change of the count means the scan is complete.
	defer func() {
		p.mu.Lock()
		p.view.Accepted++
		p.mu.Unlock()
		p.changed()
	}()
	p.reload()
	if len(oc.Units) >= p.cfg.CaseSize {
		c, err := p.closeCase(ctx)
		if err != nil {
			p.log.Error("full case not closed; close it again from the screen", "case", oc.SSCC, "err", err)
			p.setError(fmt.Sprintf("case %s is full but not closed: %v", oc.SSCC, err))
		} else {
			out.Closed = c
		}
	}
	return out
}

// check returns why unit ref may not be packed into a case of order, or
// nil. rework is true when the unit goes into a closed case rather than
// the open one.
func (p *Packer) check(ref, gtin, serial, order string, rework bool) *Refusal {
	var rec unitRec
	var found bool
	var oc openCase
	_ = p.db.View(func(tx *bolt.Tx) error {
		rec, found = decodeUnit(tx.Bucket(bktUnits).Get(unitKey(gtin, serial)))
		_, _ = getJSON(tx.Bucket(bktMeta), keyOpenCase, &oc)
		return nil
	})
	now := p.cfg.Now()
	switch {
	case !found:
		return p.refuseNow(now, ref, RefuseNotCommissioned, fmt.Sprintf("unit %s was not commissioned on line %s", ref, p.cfg.Line))
	case rec.state == stDecommission:
		return p.refuseNow(now, ref, RefuseNotCommissioned, fmt.Sprintf("unit %s was decommissioned (%s)", ref, rec.reason))
	case rec.state == stPacked:
		return p.refuseNow(now, ref, RefuseAlreadyPacked, fmt.Sprintf("unit %s is packed in case %s already", ref, rec.parent))
	case slices.Contains(oc.Units, ref):
		return p.refuseNow(now, ref, RefuseAlreadyPacked, fmt.Sprintf("unit %s is in this case already", ref))
	case rec.order != order:
		return p.refuseNow(now, ref, RefuseOtherOrder, fmt.Sprintf("unit %s is of order %s; this case is for order %s", ref, rec.order, order))
	case !rework && oc.SSCC != "" && oc.Order != order:
		return p.refuseNow(now, ref, RefuseOtherOrder, fmt.Sprintf("the open case %s holds order %s; close it before packing order %s", oc.SSCC, oc.Order, order))
	}
	return nil
}

func (p *Packer) refusal(data string, reason Reason, detail string) Outcome {
	return Outcome{Unit: data, Refusal: p.refuseNow(p.cfg.Now(), data, reason, detail)}
}

func (p *Packer) refuse(data string, reason Reason, detail string) {
	p.refuseNow(p.cfg.Now(), data, reason, detail)
}

func (p *Packer) refuseNow(at time.Time, data string, reason Reason, detail string) *Refusal {
	r := &Refusal{At: at, Data: data, Reason: reason, Detail: detail}
	p.log.Info("scan refused", "data", data, "reason", reason, "detail", detail)
	p.mu.Lock()
	p.view.Refused++
	p.view.Refusals = append([]Refusal{*r}, p.view.Refusals...)
	if len(p.view.Refusals) > p.cfg.Refusals {
		p.view.Refusals = p.view.Refusals[:p.cfg.Refusals]
	}
	p.mu.Unlock()
	p.changed()
	return r
}

func (p *Packer) setError(msg string) {
	p.mu.Lock()
	p.view.Error = msg
	p.mu.Unlock()
	p.changed()
}

// CloseCase closes the open case before it is full: its label is printed
// and the aggregation recorded (and the case put on the open pallet, which
// closes when it is full).
func (p *Packer) CloseCase(ctx context.Context) (*Closed, error) {
	p.op.Lock()
	defer p.op.Unlock()
	return p.closeCase(ctx)
}

func (p *Packer) closeCase(ctx context.Context) (*Closed, error) {
	var oc openCase
	if err := p.db.View(func(tx *bolt.Tx) error {
		_, err := getJSON(tx.Bucket(bktMeta), keyOpenCase, &oc)
		return err
	}); err != nil {
		return nil, err
	}
	if oc.SSCC == "" || len(oc.Units) == 0 {
		return nil, ErrNoOpenCase
	}
	order := p.orderFor(oc.Order)
	// Label first: a crash after printing leaves the case open with the
	// same SSCC, so closing it again prints the same label. The event is
	// the record; it closes the case in the same transaction (RecordEvents).
	ld := LabelData{Level: LevelCase, SSCC: gs1.SSCC(oc.SSCC), Order: order, Units: len(oc.Units), Line: p.cfg.Line}
	if err := p.prn.Print(ctx, ld.Fields()); err != nil {
		return nil, fmt.Errorf("case %s: label: %w", oc.SSCC, err)
	}
	e := wire.Event{Type: wire.Aggregated, Order: oc.Order, Parent: oc.SSCC, Children: oc.Units, Operator: p.cfg.Operator(ctx)}
	if _, err := p.ob.AppendSync(ctx, e); err != nil {
		return nil, fmt.Errorf("case %s: aggregation: %w", oc.SSCC, err)
	}
	p.log.Info("case closed", "sscc", oc.SSCC, "units", len(oc.Units), "order", oc.Order)
	c := &Closed{Level: LevelCase, SSCC: oc.SSCC, Children: len(oc.Units)}
	p.mu.Lock()
	p.view.Error = ""
	p.view.LastClosed = append([]Closed{*c}, p.view.LastClosed...)[:min(len(p.view.LastClosed)+1, 5)]
	p.mu.Unlock()
	p.reload()
	if p.cfg.PalletSize > 0 {
		if op := p.openPallet(); op != nil && len(op.Cases) >= p.cfg.PalletSize {
			pc, err := p.closePallet(ctx)
			if err != nil {
				p.log.Error("full pallet not closed; close it again from the screen", "err", err)
				p.setError("the pallet is full but not closed: " + err.Error())
			} else {
				c.Pallet = pc
			}
		}
	}
	return c, nil
}

func (p *Packer) openPallet() *openPallet {
	var op openPallet
	var ok bool
	_ = p.db.View(func(tx *bolt.Tx) error {
		ok, _ = getJSON(tx.Bucket(bktMeta), keyOpenPallet, &op)
		return nil
	})
	if !ok {
		return nil
	}
	return &op
}

// orderFor returns the order with id for a label: the one being packed,
// or the id alone when packing has moved on.
func (p *Packer) orderFor(id string) wire.Order {
	if o := p.currentOrder(); o != nil && o.ID == id {
		return *o
	}
	return wire.Order{ID: id}
}

// ClosePallet closes the open pallet before it is full: it takes the
// pallet's SSCC, prints its label and records the aggregation of its cases.
func (p *Packer) ClosePallet(ctx context.Context) (*Closed, error) {
	p.op.Lock()
	defer p.op.Unlock()
	return p.closePallet(ctx)
}

func (p *Packer) closePallet(ctx context.Context) (*Closed, error) {
	var op openPallet
	err := p.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		if ok, err := getJSON(meta, keyOpenPallet, &op); err != nil || !ok || len(op.Cases) == 0 {
			if err == nil {
				err = ErrNoOpenPallet
			}
			return err
		}
		if op.SSCC != "" {
			return nil // taken by an earlier attempt: same pallet, same SSCC
		}
		s, err := takeSSCC(meta, p.cfg.prefix(LevelPallet))
		if err != nil {
			return err
		}
		op.SSCC = string(s)
		return putJSON(meta, keyOpenPallet, op)
	})
	if errors.Is(err, ErrNoSSCC) {
		p.kick()
	}
	if err != nil {
		return nil, fmt.Errorf("pallet: %w", err)
	}
	ld := LabelData{Level: LevelPallet, SSCC: gs1.SSCC(op.SSCC), Order: p.orderFor(op.Order), Units: op.Units, Cases: len(op.Cases), Line: p.cfg.Line}
	if err := p.prn.Print(ctx, ld.Fields()); err != nil {
		return nil, fmt.Errorf("pallet %s: label: %w", op.SSCC, err)
	}
	children := make([]string, len(op.Cases))
	for i, c := range op.Cases {
		children[i] = wire.SSCCRef(c)
	}
	e := wire.Event{Type: wire.Aggregated, Order: op.Order, Parent: op.SSCC, Children: children, Operator: p.cfg.Operator(ctx)}
	if _, err := p.ob.AppendSync(ctx, e); err != nil {
		return nil, fmt.Errorf("pallet %s: aggregation: %w", op.SSCC, err)
	}
	p.log.Info("pallet closed", "sscc", op.SSCC, "cases", len(op.Cases), "units", op.Units)
	c := &Closed{Level: LevelPallet, SSCC: op.SSCC, Children: len(op.Cases)}
	p.mu.Lock()
	p.view.LastClosed = append([]Closed{*c}, p.view.LastClosed...)[:min(len(p.view.LastClosed)+1, 5)]
	p.mu.Unlock()
	p.reload()
	return c, nil
}

// Container returns a closed case or pallet as this line recorded it.
func (p *Packer) Container(sscc string) (Container, error) {
	var c Container
	var ok bool
	err := p.db.View(func(tx *bolt.Tx) error {
		var err error
		ok, err = getJSON(tx.Bucket(bktContainers), []byte(sscc), &c)
		return err
	})
	if err == nil && !ok {
		err = fmt.Errorf("container %s: %w", sscc, ErrUnknownContainer)
	}
	return c, err
}

// unitRef reads a unit given in any GS1 form or as a child reference.
func unitRef(s string) (ref, gtin, serial string, err error) {
	es, err := gs1.Parse(s)
	if err != nil {
		return "", "", "", fmt.Errorf("unit %q: %w", s, err)
	}
	m := es.Map()
	if m["01"] == "" || m["21"] == "" {
		return "", "", "", fmt.Errorf("unit %q: no (01) GTIN and (21) serial", s)
	}
	return wire.UnitRef(m["01"], m["21"]), m["01"], m["21"], nil
}

// RemoveUnit takes a unit out of a closed case (rework): a disaggregated
// event, and the case's label reprinted with the new count.
func (p *Packer) RemoveUnit(ctx context.Context, sscc, unit string) error {
	p.op.Lock()
	defer p.op.Unlock()
	ref, _, _, err := unitRef(unit)
	if err != nil {
		return err
	}
	c, err := p.Container(sscc)
	if err != nil {
		return err
	}
	if c.Level != LevelCase || !slices.Contains(c.Children, ref) {
		return fmt.Errorf("case %s: unit %s: %w", sscc, ref, ErrNotInContainer)
	}
	e := wire.Event{Type: wire.Disaggregated, Order: c.Order, Parent: sscc, Children: []string{ref}, Operator: p.cfg.Operator(ctx)}
	if _, err := p.ob.AppendSync(ctx, e); err != nil {
		return fmt.Errorf("case %s: disaggregation: %w", sscc, err)
	}
	p.log.Info("unit removed from case", "sscc", sscc, "unit", ref)
	p.reload()
	ld := LabelData{Level: LevelCase, SSCC: gs1.SSCC(sscc), Order: p.orderFor(c.Order), Units: len(c.Children) - 1, Line: p.cfg.Line}
	if err := p.prn.Print(ctx, ld.Fields()); err != nil {
		return fmt.Errorf("case %s: unit removed, but the label was not reprinted: %w", sscc, err)
	}
	return nil
}

// ReplaceUnit replaces a unit of a closed case by another (rework: a
// damaged pack swapped for a good one). The new unit is checked like a
// scan for the case's order; the disaggregation of the old and the
// aggregation of the new are recorded in one transaction. The count, and
// so the label, stay the same.
func (p *Packer) ReplaceUnit(ctx context.Context, sscc, old, repl string) (*Refusal, error) {
	p.op.Lock()
	defer p.op.Unlock()
	oldRef, _, _, err := unitRef(old)
	if err != nil {
		return nil, err
	}
	newRef, gtin, serial, err := unitRef(repl)
	if err != nil {
		return nil, err
	}
	c, err := p.Container(sscc)
	if err != nil {
		return nil, err
	}
	if c.Level != LevelCase || !slices.Contains(c.Children, oldRef) {
		return nil, fmt.Errorf("case %s: unit %s: %w", sscc, oldRef, ErrNotInContainer)
	}
	if r := p.check(newRef, gtin, serial, c.Order, true); r != nil {
		return r, nil
	}
	op := p.cfg.Operator(ctx)
	out := wire.Event{Type: wire.Disaggregated, Order: c.Order, Parent: sscc, Children: []string{oldRef}, Operator: op}
	in := wire.Event{Type: wire.Aggregated, Order: c.Order, Parent: sscc, Children: []string{newRef}, Operator: op}
	if _, err := p.ob.AppendSync(ctx, out, in); err != nil {
		return nil, fmt.Errorf("case %s: replacement: %w", sscc, err)
	}
	p.log.Info("unit replaced in case", "sscc", sscc, "out", oldRef, "in", newRef)
	p.reload()
	return nil, nil
}

// Unpack empties a closed case or pallet: one disaggregated event listing
// everything inside. The container keeps its SSCC (and label) and may be
// filled again by rework.
func (p *Packer) Unpack(ctx context.Context, sscc string) (int, error) {
	p.op.Lock()
	defer p.op.Unlock()
	c, err := p.Container(sscc)
	if err != nil {
		return 0, err
	}
	if len(c.Children) == 0 {
		return 0, nil
	}
	e := wire.Event{Type: wire.Disaggregated, Order: c.Order, Parent: sscc, Children: c.Children, Operator: p.cfg.Operator(ctx)}
	if _, err := p.ob.AppendSync(ctx, e); err != nil {
		return 0, fmt.Errorf("%s %s: disaggregation: %w", c.Level, sscc, err)
	}
	p.log.Info("container unpacked", "sscc", sscc, "level", c.Level, "children", len(c.Children))
	p.reload()
	return len(c.Children), nil
}
