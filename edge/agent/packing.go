package agent

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
)

// PackingConfig is the packing mode (aggregation at the line, edge/packing):
// units scanned into cases by a handheld scanner, cases onto pallets, SSCC
// labels on a case printer. Off unless enabled.
type PackingConfig struct {
	Enabled bool `yaml:"enabled"`
	// CompanyPrefix and the extension digits make the SSCCs central grants.
	CompanyPrefix   string `yaml:"company_prefix"`
	CaseExtension   int    `yaml:"case_extension"`
	PalletExtension int    `yaml:"pallet_extension"`
	// CaseSize units fill a case; PalletSize cases a pallet (0: no pallets).
	CaseSize   int `yaml:"case_size"`
	PalletSize int `yaml:"pallet_size"`
	// SSCC stock: below low_water a request for request_size goes to
	// central, resent every request_retry until granted.
	LowWater     int           `yaml:"low_water"`
	RequestSize  int           `yaml:"request_size"`
	RequestRetry time.Duration `yaml:"request_retry"`
	// Printer prints the case and pallet labels (100 x 50 mm).
	Printer CasePrinterConfig `yaml:"printer"`
	// LabelSymbology is the symbol carrying the SSCC on the label:
	// "datamatrix" (GS1 DataMatrix, the default) or "gs1-128" (Code 128).
	LabelSymbology string `yaml:"label_symbology"`
	// Scanner is the handheld scanner (serial or TCP); an empty transport
	// means none (scans come from the touchscreen).
	Scanner scanner.Config `yaml:"scanner"`
}

// CasePrinterConfig is the printer of the case and pallet labels: the
// driver's own configuration (keys inline) and the printer's resolution.
type CasePrinterConfig struct {
	printer.Config `yaml:",inline"`
	DPI            int `yaml:"dpi"`
}

func defaultPacking() PackingConfig {
	return PackingConfig{CaseSize: 10, PalletSize: 0,
		Printer: CasePrinterConfig{Config: printer.Config{Name: "case-printer"}, DPI: 203},
		Scanner: scanner.Config{Name: "handheld", Format: scanner.Format{AssumeGS1: true}}}
}

func (c Config) packingConfig() packing.Config {
	p := c.Packing
	return packing.Config{Line: c.Line, CompanyPrefix: p.CompanyPrefix, CaseExtension: p.CaseExtension, PalletExtension: p.PalletExtension,
		CaseSize: p.CaseSize, PalletSize: p.PalletSize, LowWater: p.LowWater, RequestSize: p.RequestSize, RequestRetry: p.RequestRetry}
}

func (c Config) casePrinterConfig() (printer.Config, error) {
	p := c.Packing.Printer
	dpmm := map[int]int{152: 6, 203: 8, 300: 12, 600: 24}[p.DPI]
	if dpmm == 0 {
		return printer.Config{}, fmt.Errorf("dpi: must be 152, 203, 300 or 600, got %d", p.DPI)
	}
	layout := packing.LabelLayout(dpmm)
	switch c.Packing.LabelSymbology {
	case "", "datamatrix":
	case "gs1-128":
		layout = packing.LabelLayoutGS1128(dpmm)
	default:
		return printer.Config{}, fmt.Errorf("label_symbology: must be datamatrix or gs1-128, got %q", c.Packing.LabelSymbology)
	}
	pc := p.Config
	pc.Layout = layout
	return pc, pc.Validate()
}

// validatePacking checks the packing keys when packing is enabled.
func (c Config) validatePacking() error {
	if !c.Packing.Enabled {
		return nil
	}
	if err := c.packingConfig().Validate(); err != nil {
		return err // "packing: case_size: ..."
	}
	if _, err := c.casePrinterConfig(); err != nil {
		if strings.HasPrefix(err.Error(), "label_symbology") {
			return fmt.Errorf("packing: %w", err)
		}
		return fmt.Errorf("packing: printer: %w", err)
	}
	if c.Packing.Scanner.Transport != "" {
		if err := c.Packing.Scanner.Validate(); err != nil {
			return fmt.Errorf("packing: scanner: %w", err)
		}
	}
	return nil
}

// packingParts are the packing mode's devices and runtime.
type packingParts struct {
	mu  sync.Mutex
	pk  *packing.Packer
	prn *printer.Printer
	scn *scanner.Scanner
}

func (a *Agent) packer() *packing.Packer {
	a.pack.mu.Lock()
	defer a.pack.mu.Unlock()
	return a.pack.pk
}

// Packer returns the packing runtime (ErrNotRunning when packing is off
// or the agent is not running); the touchscreen's packing panel drives it.
func (a *Agent) Packer() (*packing.Packer, error) {
	if pk := a.packer(); pk != nil {
		return pk, nil
	}
	return nil, fmt.Errorf("packing: %w", ErrNotRunning)
}

// newPackingDevices builds the case printer and the handheld scanner.
func (a *Agent) newPackingDevices() error {
	if !a.cfg.Packing.Enabled {
		return nil
	}
	pc, err := a.cfg.casePrinterConfig()
	if err != nil {
		return fmt.Errorf("packing: printer: %w", err)
	}
	if a.pack.prn, err = printer.New(pc, a.log.With("device", "case-printer")); err != nil {
		return fmt.Errorf("packing: printer: %w", err)
	}
	if a.cfg.Packing.Scanner.Transport != "" {
		if a.pack.scn, err = scanner.New(a.cfg.Packing.Scanner, a.log.With("device", "handheld")); err != nil {
			return fmt.Errorf("packing: scanner: %w", err)
		}
	}
	return nil
}

// startPacking opens the packer on db and runs it, its scanner and the
// order follower until ctx ends; wait returns when they have stopped.
func (a *Agent) startPacking(ctx context.Context, db *bolt.DB, ob packing.Outbox, st *station.Station) (wait func(), err error) {
	if !a.cfg.Packing.Enabled {
		return func() {}, nil
	}
	cfg := a.cfg.packingConfig()
	cfg.Operator = a.operator
	pk, err := packing.Open(db, cfg, a.pack.prn, ob, a.log.With("part", "packing"))
	if err != nil {
		return nil, err
	}
	a.pack.mu.Lock()
	a.pack.pk = pk
	a.pack.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := a.pack.prn.Connect(cctx); err != nil {
		a.log.Warn("case printer not ready at start; retrying in the background", "err", err)
	}
	cancel()
	var wg sync.WaitGroup
	results := make(chan scanner.Result, 16)
	if a.pack.scn != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.pack.scn.Run(ctx, results); err != nil {
				a.log.Error("handheld scanner stopped", "err", err)
			}
		}()
	}
	wg.Add(2)
	go func() { defer wg.Done(); pk.Run(ctx, results) }()
	go func() { defer wg.Done(); a.followOrder(ctx, st, pk) }()
	return func() {
		wg.Wait()
		_ = a.pack.prn.Close()
		a.pack.mu.Lock()
		a.pack.pk = nil
		a.pack.mu.Unlock()
	}, nil
}

// followOrder packs the order the station runs.
func (a *Agent) followOrder(ctx context.Context, st *station.Station, pk *packing.Packer) {
	for {
		ch := st.Changes()
		if o := st.Snapshot().Order; o != nil {
			if err := pk.SetOrder(*o); err != nil {
				a.log.Error("packing order not set", "order", o.ID, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

// onSSCCGrant hands central's SSCC grants to the packer.
func (a *Agent) onSSCCGrant(g wire.SerialGrant) {
	pk := a.packer()
	if pk == nil {
		a.log.Warn("SSCC grant ignored: packing is off", "request_id", g.RequestID)
		return
	}
	if err := pk.ApplyGrant(g); err != nil {
		a.log.Warn("SSCC grant not applied", "request_id", g.RequestID, "err", err)
	}
}
