package packing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// ErrNoSSCC is returned when a case or pallet needs an SSCC and the line
// has none left: a request to central is on its way, and packing goes on
// when the grant arrives. The line never makes up an SSCC.
var ErrNoSSCC = errors.New("no SSCC left; waiting for central's grant")

// ssccPool is the line's stock of SSCC serial references under one prefix
// (company prefix + extension digit): the granted ranges in arrival order
// and how many references have been handed out. Taken only grows, and it is
// written before an SSCC is used, so an SSCC is never handed out twice, not
// even across a power cut; one taken and never used is simply skipped.
type ssccPool struct {
	Prefix    wire.SSCCPrefix     `json:"prefix"`
	Ranges    []wire.CounterRange `json:"ranges"`
	Taken     uint64              `json:"taken"`
	Pending   *pendingRequest     `json:"pending,omitempty"`
	Applied   []string            `json:"applied,omitempty"` // last request ids granted
	LastError string              `json:"last_error,omitempty"`
}

// pendingRequest is a request stored before it is sent and resent with the
// same id until its grant arrives: central never allocates twice for one id.
type pendingRequest struct {
	ID    string    `json:"id"`
	Count uint64    `json:"count"`
	Since time.Time `json:"since"`
}

const keepApplied = 16

func poolKey(p wire.SSCCPrefix) []byte { return []byte("sscc_pool:" + p.String()) }

func (s *ssccPool) total() uint64 {
	var n uint64
	for _, r := range s.Ranges {
		n += r.Count
	}
	return n
}

// Available is the number of SSCCs left.
func (s *ssccPool) available() uint64 { return s.total() - min(s.Taken, s.total()) }

// ref returns the serial reference at position i of the granted ranges.
func (s *ssccPool) ref(i uint64) (uint64, bool) {
	for _, r := range s.Ranges {
		if i < r.Count {
			return r.Start + i, true
		}
		i -= r.Count
	}
	return 0, false
}

func loadPool(meta *bolt.Bucket, p wire.SSCCPrefix) (ssccPool, error) {
	sp := ssccPool{Prefix: p}
	if _, err := getJSON(meta, poolKey(p), &sp); err != nil {
		return sp, err
	}
	return sp, nil
}

// takeSSCC hands out the next SSCC of prefix p inside tx.
func takeSSCC(meta *bolt.Bucket, p wire.SSCCPrefix) (gs1.SSCC, error) {
	sp, err := loadPool(meta, p)
	if err != nil {
		return "", err
	}
	ref, ok := sp.ref(sp.Taken)
	if !ok {
		return "", fmt.Errorf("SSCC prefix %s: %w", p, ErrNoSSCC)
	}
	s, err := p.SSCC(ref)
	if err != nil {
		return "", fmt.Errorf("SSCC prefix %s: serial reference %d: %w", p, ref, err)
	}
	sp.Taken++
	return s, putJSON(meta, poolKey(p), sp)
}

// prefixes are the distinct SSCC prefixes the line uses.
func (p *Packer) prefixes() []wire.SSCCPrefix {
	c := p.cfg.prefix(LevelCase)
	if pl := p.cfg.prefix(LevelPallet); pl != c && p.cfg.PalletSize > 0 {
		return []wire.SSCCPrefix{c, pl}
	}
	return []wire.SSCCPrefix{c}
}

// refill stores and sends a request for every prefix below the low-water
// mark, and resends a pending one every RequestRetry.
func (p *Packer) refill(ctx context.Context) {
	for _, pfx := range p.prefixes() {
		var req *pendingRequest
		err := p.db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bktMeta)
			sp, err := loadPool(meta, pfx)
			if err != nil {
				return err
			}
			if sp.Pending == nil {
				if sp.available() >= uint64(p.cfg.LowWater) {
					return nil
				}
				var b [8]byte
				if _, err := rand.Read(b[:]); err != nil {
					return err
				}
				sp.Pending = &pendingRequest{ID: p.cfg.Line + "-sscc-" + hex.EncodeToString(b[:]), Count: uint64(p.cfg.RequestSize), Since: p.cfg.Now()}
				if err := putJSON(meta, poolKey(pfx), sp); err != nil {
					return err
				}
			}
			req = sp.Pending
			return nil
		})
		if err != nil {
			p.log.Error("SSCC request not stored", "prefix", pfx.String(), "err", err)
			continue
		}
		if req == nil {
			continue
		}
		p.mu.Lock()
		last, sent := p.lastSent[req.ID]
		p.mu.Unlock()
		if sent && p.cfg.Now().Sub(last) < p.cfg.RequestRetry {
			continue
		}
		pc := pfx
		r := wire.SerialRequest{V: wire.Version, RequestID: req.ID, Line: p.cfg.Line, Kind: wire.RequestSSCC, Count: req.Count, SSCC: &pc}
		if o := p.currentOrder(); o != nil {
			r.Order = o.ID
		}
		sctx, cancel := context.WithTimeout(ctx, p.cfg.RequestRetry)
		err = p.ob.RequestSerials(sctx, r)
		cancel()
		p.mu.Lock()
		p.lastSent[req.ID] = p.cfg.Now()
		p.mu.Unlock()
		if err != nil {
			p.log.Warn("SSCC request not sent; retrying", "request", req.ID, "prefix", pfx.String(), "err", err)
			continue
		}
		p.log.Info("SSCCs requested", "request", req.ID, "prefix", pfx.String(), "count", req.Count)
	}
}

// ApplyGrant takes central's answer to an SSCC request (the agent routes
// grants of kind sscc here). A grant is applied once, only if it answers
// the pending request of its prefix, and only if its ranges are new to the
// pool; a refusal is kept for the operator's screen and the request is
// resent later.
func (p *Packer) ApplyGrant(g wire.SerialGrant) error {
	if err := g.Validate(); err != nil {
		return fmt.Errorf("packing: sscc grant %s: %w", g.RequestID, err)
	}
	if !g.Kind.IsSSCC() {
		return fmt.Errorf("packing: grant %s is for serials, not SSCCs", g.RequestID)
	}
	if g.Line != p.cfg.Line {
		return fmt.Errorf("packing: sscc grant %s is for line %s, not %s", g.RequestID, g.Line, p.cfg.Line)
	}
	pfx := *g.SSCC
	if !slices.Contains(p.prefixes(), pfx) {
		return fmt.Errorf("packing: sscc grant %s is for prefix %s, which this line does not use", g.RequestID, pfx)
	}
	var dup bool
	err := p.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		sp, err := loadPool(meta, pfx)
		if err != nil {
			return err
		}
		if slices.Contains(sp.Applied, g.RequestID) {
			dup = true
			return nil
		}
		if sp.Pending == nil || sp.Pending.ID != g.RequestID {
			return fmt.Errorf("packing: sscc grant %s answers no pending request of prefix %s", g.RequestID, pfx)
		}
		if g.Error != "" {
			sp.LastError = g.Error
			return putJSON(meta, poolKey(pfx), sp)
		}
		if g.Count() != sp.Pending.Count {
			return fmt.Errorf("packing: sscc grant %s grants %d SSCCs, %d were asked", g.RequestID, g.Count(), sp.Pending.Count)
		}
		for i, r := range g.Ranges {
			for _, have := range sp.Ranges {
				if r.Start < have.End() && have.Start < r.End() {
					return fmt.Errorf("packing: sscc grant %s: ranges[%d] [%d, %d) overlaps references granted before [%d, %d)",
						g.RequestID, i, r.Start, r.End(), have.Start, have.End())
				}
			}
		}
		sp.Ranges = append(sp.Ranges, g.Ranges...)
		sp.Applied = append(sp.Applied, g.RequestID)
		if len(sp.Applied) > keepApplied {
			sp.Applied = sp.Applied[len(sp.Applied)-keepApplied:]
		}
		sp.Pending, sp.LastError = nil, ""
		return putJSON(meta, poolKey(pfx), sp)
	})
	if err != nil {
		return err
	}
	if dup {
		return nil
	}
	if g.Error != "" {
		p.log.Warn("SSCC request refused by central", "request", g.RequestID, "prefix", pfx.String(), "reason", g.Error)
	} else {
		p.log.Info("SSCCs granted", "request", g.RequestID, "prefix", pfx.String(), "count", g.Count())
	}
	p.reload()
	p.kick()
	return nil
}
