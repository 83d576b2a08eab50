package packing

import (
	"context"
	"fmt"
	"time"

	"github.com/serialine/serialine/shared/wire"
)

// Defaults applied by Config.WithDefaults.
const (
	DefaultLowWater     = 20
	DefaultRequestSize  = 200
	DefaultRequestRetry = 10 * time.Second
	// DefaultRefusals is how many recent refusals Snapshot keeps.
	DefaultRefusals = 10
)

// Config configures the packing mode of one line.
type Config struct {
	// Line is the line id (SSCC request ids, labels).
	Line string
	// CompanyPrefix is the GS1 Company Prefix of the line's SSCCs (6 to 12
	// digits; central grants only the prefix of one of its products).
	CompanyPrefix string
	// CaseExtension and PalletExtension are the extension digits of case
	// and pallet SSCCs (0-9; they may be equal).
	CaseExtension, PalletExtension int
	// CaseSize is the number of units that fill a case: the case closes by
	// itself at that count (the operator may close it earlier).
	CaseSize int
	// PalletSize is the number of cases that fill a pallet; 0 builds no
	// pallets (cases are left single).
	PalletSize int
	// LowWater: below this many SSCCs left (per extension digit) a request
	// for RequestSize more goes to central, resent every RequestRetry with
	// the same id until the grant arrives.
	LowWater     int
	RequestSize  int
	RequestRetry time.Duration
	// Refusals is how many recent refusals Snapshot keeps.
	Refusals int
	// Operator names who acts in ctx (the signed-in operator); nil or ""
	// leaves the events without one.
	Operator func(ctx context.Context) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// WithDefaults fills unset fields.
func (c Config) WithDefaults() Config {
	if c.LowWater == 0 {
		c.LowWater = DefaultLowWater
	}
	if c.RequestSize == 0 {
		c.RequestSize = DefaultRequestSize
	}
	if c.RequestRetry == 0 {
		c.RequestRetry = DefaultRequestRetry
	}
	if c.Refusals == 0 {
		c.Refusals = DefaultRefusals
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Operator == nil {
		c.Operator = func(context.Context) string { return "" }
	}
	return c
}

// Validate names the first bad key.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if err := wire.ValidateLine(c.Line); err != nil {
		return fmt.Errorf("packing: line: %w", err)
	}
	for _, p := range []struct {
		key string
		ext int
	}{{"case_extension", c.CaseExtension}, {"pallet_extension", c.PalletExtension}} {
		if err := (wire.SSCCPrefix{CompanyPrefix: c.CompanyPrefix, Extension: p.ext}).Validate(); err != nil {
			key := "company_prefix"
			if fe, ok := err.(*wire.FieldError); ok && fe.Field == "extension" {
				key = p.key
			}
			return fmt.Errorf("packing: %s: %w", key, unwrapField(err))
		}
	}
	if c.CaseSize < 1 || c.CaseSize > 100_000 {
		return fmt.Errorf("packing: case_size: must be 1 to 100000 units, got %d", c.CaseSize)
	}
	if c.PalletSize < 0 || c.PalletSize > 10_000 {
		return fmt.Errorf("packing: pallet_size: must be 0 (no pallets) to 10000 cases, got %d", c.PalletSize)
	}
	if c.RequestSize < 1 || c.RequestSize > 10_000 {
		return fmt.Errorf("packing: request_size: must be 1 to 10000 SSCCs (central's cap), got %d", c.RequestSize)
	}
	if c.LowWater < 1 || c.LowWater > c.RequestSize {
		return fmt.Errorf("packing: low_water: must be 1 to request_size (%d), got %d", c.RequestSize, c.LowWater)
	}
	if c.RequestRetry < 0 {
		return fmt.Errorf("packing: request_retry: must not be negative, got %v", c.RequestRetry)
	}
	if c.Refusals < 1 {
		return fmt.Errorf("packing: refusals: must be at least 1, got %d", c.Refusals)
	}
	return nil
}

func unwrapField(err error) error {
	if fe, ok := err.(*wire.FieldError); ok {
		return fe.Err
	}
	return err
}

func (c Config) prefix(level Level) wire.SSCCPrefix {
	ext := c.CaseExtension
	if level == LevelPallet {
		ext = c.PalletExtension
	}
	return wire.SSCCPrefix{CompanyPrefix: c.CompanyPrefix, Extension: ext}
}
