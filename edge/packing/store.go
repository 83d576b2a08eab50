package packing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/wire"
)

// The packing buckets, in the agent's bbolt file beside the pool and the
// outbox.
var (
	// bktUnits indexes the units this line commissioned: GTIN (14 digits)
	// + serial → unitRec. Fed by RecordEvents in the outbox's commit, so a
	// unit is known exactly when its commissioned event is durable.
	bktUnits = []byte("packing_units")
	// bktContainers holds the closed cases and pallets: SSCC → container.
	bktContainers = []byte("packing_containers")
	// bktMeta holds the open case, the open pallet, the order being packed
	// and the SSCC pools (keys below).
	bktMeta = []byte("packing_meta")

	keyOpenCase   = []byte("open_case")
	keyOpenPallet = []byte("open_pallet")
	keyOrder      = []byte("order")
)

// Unit states in the index.
const (
	stCommissioned = 'c'
	stPacked       = 'p'
	stDecommission = 'x'
)

// unitRec is one unit of the index. Encoded as state, 0, order, 0, parent,
// 0, reason: the index gets a row per unit the line makes, so it stays
// compact and cheap to write inside the outbox's group commit.
type unitRec struct {
	state  byte
	order  string
	parent string // SSCC of the case, when packed
	reason wire.Reason
}

func (u unitRec) encode() []byte {
	b := make([]byte, 0, 4+len(u.order)+len(u.parent)+len(u.reason))
	b = append(b, u.state, 0)
	b = append(b, u.order...)
	b = append(b, 0)
	b = append(b, u.parent...)
	b = append(b, 0)
	return append(b, u.reason...)
}

func decodeUnit(v []byte) (unitRec, bool) {
	parts := bytes.SplitN(v, []byte{0}, 4)
	if len(parts) != 4 || len(parts[0]) != 1 {
		return unitRec{}, false
	}
	return unitRec{state: parts[0][0], order: string(parts[1]), parent: string(parts[2]), reason: wire.Reason(parts[3])}, true
}

func unitKey(gtin, serial string) []byte { return []byte(gtin + serial) }

// Container is a closed case or pallet as this line recorded it.
type Container struct {
	SSCC  string `json:"sscc"`
	Level Level  `json:"level"`
	Order string `json:"order"`
	// Children are units "(01)GTIN(21)SERIAL" (a case) or cases "(00)SSCC"
	// (a pallet), in packing order.
	Children []string  `json:"children"`
	Parent   string    `json:"parent,omitempty"` // the pallet a case is on
	Closed   time.Time `json:"closed"`
}

// openCase is the case being filled: durable at every scan, so a restart
// resumes it with its SSCC.
type openCase struct {
	SSCC   string    `json:"sscc"`
	Order  string    `json:"order"`
	Units  []string  `json:"units"`
	Opened time.Time `json:"opened"`
}

// openPallet is the pallet being built from closed cases; it gets its SSCC
// when it closes (taken once, kept for a retried close).
type openPallet struct {
	SSCC  string   `json:"sscc,omitempty"`
	Order string   `json:"order"`
	Cases []string `json:"cases"` // SSCCs
	Units int      `json:"units"`
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("packing: %s: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("packing: %s: %w", key, err)
	}
	return b.Put(key, raw)
}

func createBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bktUnits, bktContainers, bktMeta} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// RecordEvents is the outbox's commit hook (outbox.Config.OnCommit, beside
// the pool's): it runs inside the transaction that makes evs durable and
// keeps the packing records in step with them. Commissioned units enter
// the index; decommissioned ones are marked; an aggregation packs its
// children and, when it closes the open case or pallet, clears it; a
// disaggregation unpacks its children. So every packing record is durable
// exactly when the event that says so is, whatever crashes in between.
//
// It fails only when bbolt does: a record it cannot read is logged and
// left alone, so that packing can never hold back the line's events.
func (p *Packer) RecordEvents(tx *bolt.Tx, evs []wire.Event) error {
	units, conts, meta := tx.Bucket(bktUnits), tx.Bucket(bktContainers), tx.Bucket(bktMeta)
	if units == nil || conts == nil || meta == nil {
		return fmt.Errorf("packing: buckets missing (Open creates them)")
	}
	for i := range evs {
		e := &evs[i]
		var err error
		switch e.Type {
		case wire.Commissioned:
			if units.Get(unitKey(e.GTIN, e.Serial)) == nil {
				err = units.Put(unitKey(e.GTIN, e.Serial), unitRec{state: stCommissioned, order: e.Order}.encode())
			}
		case wire.Decommissioned:
			rec, _ := decodeUnit(units.Get(unitKey(e.GTIN, e.Serial)))
			rec.state, rec.reason = stDecommission, e.Reason
			if rec.order == "" {
				rec.order = e.Order
			}
			err = units.Put(unitKey(e.GTIN, e.Serial), rec.encode())
		case wire.Aggregated:
			err = p.recordAggregated(units, conts, meta, e)
		case wire.Disaggregated:
			err = p.recordDisaggregated(units, conts, e)
		}
		if err != nil {
			return fmt.Errorf("packing: event seq %d: %w", e.Seq, err)
		}
	}
	return nil
}

func (p *Packer) recordAggregated(units, conts, meta *bolt.Bucket, e *wire.Event) error {
	var c Container
	if _, err := getJSON(conts, []byte(e.Parent), &c); err != nil {
		p.log.Error("packing record unreadable; rewritten", "sscc", e.Parent, "err", err)
	}
	if c.SSCC == "" {
		c = Container{SSCC: e.Parent, Level: LevelCase, Order: e.Order, Closed: e.At}
	}
	for _, ref := range e.Children {
		ch, err := wire.ParseChild(ref)
		if err != nil {
			continue // the outbox validated the event; nothing else gets here
		}
		if ch.SSCC != "" {
			c.Level = LevelPallet
			var cc Container
			if ok, err := getJSON(conts, []byte(ch.SSCC), &cc); ok && err == nil {
				cc.Parent = e.Parent
				if err := putJSON(conts, []byte(ch.SSCC), cc); err != nil {
					return err
				}
			}
		} else {
			rec, _ := decodeUnit(units.Get(unitKey(ch.GTIN, ch.Serial)))
			rec.state, rec.parent = stPacked, e.Parent
			if rec.order == "" {
				rec.order = e.Order
			}
			if err := units.Put(unitKey(ch.GTIN, ch.Serial), rec.encode()); err != nil {
				return err
			}
		}
		if !slices.Contains(c.Children, ref) {
			c.Children = append(c.Children, ref)
		}
	}
	if err := putJSON(conts, []byte(e.Parent), c); err != nil {
		return err
	}
	// Closing the open case puts it on the open pallet; closing the open
	// pallet ends it.
	var oc openCase
	if ok, _ := getJSON(meta, keyOpenCase, &oc); ok && oc.SSCC == e.Parent {
		if err := meta.Delete(keyOpenCase); err != nil {
			return err
		}
		if p.cfg.PalletSize > 0 {
			var op openPallet
			if _, err := getJSON(meta, keyOpenPallet, &op); err != nil {
				op = openPallet{}
			}
			if op.Order == "" {
				op.Order = e.Order
			}
			op.Cases = append(op.Cases, e.Parent)
			op.Units += len(e.Children)
			if err := putJSON(meta, keyOpenPallet, op); err != nil {
				return err
			}
		}
	}
	var op openPallet
	if ok, _ := getJSON(meta, keyOpenPallet, &op); ok && op.SSCC == e.Parent {
		return meta.Delete(keyOpenPallet)
	}
	return nil
}

func (p *Packer) recordDisaggregated(units, conts *bolt.Bucket, e *wire.Event) error {
	var c Container
	if ok, err := getJSON(conts, []byte(e.Parent), &c); !ok || err != nil {
		return nil // not one of ours
	}
	children := e.Children
	if len(children) == 0 {
		children = slices.Clone(c.Children)
	}
	for _, ref := range children {
		ch, err := wire.ParseChild(ref)
		if err != nil {
			continue
		}
		if ch.SSCC != "" {
			var cc Container
			if ok, err := getJSON(conts, []byte(ch.SSCC), &cc); ok && err == nil && cc.Parent == e.Parent {
				cc.Parent = ""
				if err := putJSON(conts, []byte(ch.SSCC), cc); err != nil {
					return err
				}
			}
		} else if rec, ok := decodeUnit(units.Get(unitKey(ch.GTIN, ch.Serial))); ok && rec.parent == e.Parent {
			rec.state, rec.parent = stCommissioned, ""
			if err := units.Put(unitKey(ch.GTIN, ch.Serial), rec.encode()); err != nil {
				return err
			}
		}
		c.Children = slices.DeleteFunc(c.Children, func(s string) bool { return s == ref })
	}
	return putJSON(conts, []byte(e.Parent), c)
}
