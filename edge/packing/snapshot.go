package packing

import (
	bolt "go.etcd.io/bbolt"
)

// Snapshot is what the packing panel shows.
type Snapshot struct {
	// Order is the order being packed ("" before one is set).
	Order string `json:"order"`
	// Case is the case being filled, Pallet the pallet being built.
	Case   *CaseView   `json:"case,omitempty"`
	Pallet *PalletView `json:"pallet,omitempty"`
	// CaseSize and PalletSize are the configured capacities.
	CaseSize   int `json:"case_size"`
	PalletSize int `json:"pallet_size"`
	// LastClosed are the last cases and pallets closed, newest first.
	LastClosed []Closed `json:"last_closed"`
	// Refusals are the last refused scans, newest first.
	Refusals []Refusal `json:"refusals"`
	// SSCC is the stock of SSCCs per prefix.
	SSCC []SSCCStock `json:"sscc"`
	// Accepted and Refused count scans since start.
	Accepted uint64 `json:"accepted"`
	Refused  uint64 `json:"refused"`
	// Error is the last failure to close a full case or pallet, until one
	// closes.
	Error string `json:"error,omitempty"`
}

// CaseView is the open case.
type CaseView struct {
	SSCC  string   `json:"sscc"`
	Order string   `json:"order"`
	Count int      `json:"count"`
	Units []string `json:"units"` // newest first
}

// PalletView is the open pallet.
type PalletView struct {
	SSCC  string   `json:"sscc,omitempty"` // set when closing started
	Cases []string `json:"cases"`
	Units int      `json:"units"`
}

// SSCCStock is the line's stock of SSCCs under one prefix.
type SSCCStock struct {
	Prefix    string `json:"prefix"` // extension.companyprefix
	Available uint64 `json:"available"`
	Taken     uint64 `json:"taken"`
	Requested bool   `json:"requested"` // a request waits for its grant
	Error     string `json:"error,omitempty"`
}

// Snapshot returns the current state.
func (p *Packer) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.view
	// Copies, never nil: the screen reads them as JSON arrays.
	s.LastClosed = append([]Closed{}, s.LastClosed...)
	s.Refusals = append([]Refusal{}, s.Refusals...)
	s.SSCC = append([]SSCCStock{}, s.SSCC...)
	return s
}

// Changes returns a channel closed at the next change of the snapshot.
func (p *Packer) Changes() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changes
}

func (p *Packer) changed() {
	p.mu.Lock()
	close(p.changes)
	p.changes = make(chan struct{})
	p.mu.Unlock()
}

// reload refreshes the view of the open case, pallet and SSCC stock from
// the records.
func (p *Packer) reload() {
	var oc openCase
	var op openPallet
	var haveCase, havePallet bool
	var stock []SSCCStock
	err := p.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		var err error
		if haveCase, err = getJSON(meta, keyOpenCase, &oc); err != nil {
			return err
		}
		if havePallet, err = getJSON(meta, keyOpenPallet, &op); err != nil {
			return err
		}
		for _, pfx := range p.prefixes() {
			sp, err := loadPool(meta, pfx)
			if err != nil {
				return err
			}
			stock = append(stock, SSCCStock{Prefix: pfx.String(), Available: sp.available(), Taken: sp.Taken, Requested: sp.Pending != nil, Error: sp.LastError})
		}
		return nil
	})
	if err != nil {
		p.log.Error("packing records unreadable", "err", err)
		return
	}
	p.mu.Lock()
	p.view.CaseSize, p.view.PalletSize, p.view.SSCC = p.cfg.CaseSize, p.cfg.PalletSize, stock
	p.view.Order = ""
	if p.order != nil {
		p.view.Order = p.order.ID
	}
	p.view.Case, p.view.Pallet = nil, nil
	if haveCase {
		units := make([]string, len(oc.Units))
		for i, u := range oc.Units {
			units[len(oc.Units)-1-i] = u
		}
		p.view.Case = &CaseView{SSCC: oc.SSCC, Order: oc.Order, Count: len(oc.Units), Units: units}
	}
	if havePallet {
		p.view.Pallet = &PalletView{SSCC: op.SSCC, Cases: op.Cases, Units: op.Units}
	}
	p.mu.Unlock()
	p.changed()
}
