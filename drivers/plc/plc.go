// Package plc drives the line PLC over Modbus TCP or Modbus RTU
// (github.com/simonvetter/modbus): the product-trigger counter, the running
// bit, shift-register reject requests, alarms, the stack light and the
// good/rejected counters. The register map and its codec live here and are
// shared with the PLC simulator.
package plc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serialine/serialine/drivers/transport"
	"github.com/simonvetter/modbus"
)

// Defaults applied to a Config.
const (
	DefaultUnitID         = 1
	DefaultPollInterval   = 10 * time.Millisecond
	DefaultTimeout        = time.Second
	DefaultMaxTriggerJump = 100_000
	// DefaultHeartbeatInterval is how often, at least, the edge writes its
	// heartbeat; the PLC program's watchdog time (2 s in the simulator)
	// should be four times this or more.
	DefaultHeartbeatInterval = 500 * time.Millisecond
	// DefaultPLCHeartbeatTimeout is how long the PLC's heartbeat may stand
	// still before the edge raises its alarm.
	DefaultPLCHeartbeatTimeout = 2 * time.Second
	// Modbus over serial line v1.02 §2.5.1: 19200 baud, even parity by default.
	DefaultRTUBaud   = 19200
	DefaultRTUParity = "E"
)

// ErrClosed is returned (wrapped with the PLC name) by every call after Close.
var ErrClosed = errors.New("plc driver closed")

// ErrRejectNotAcknowledged is returned by Reject when the PLC does not clear
// the reject-request coil within the request timeout.
var ErrRejectNotAcknowledged = errors.New("reject request not acknowledged by the PLC")

// LinkState describes the Modbus link.
type LinkState struct {
	Up         bool
	Since      time.Time // when Up last changed
	Err        error     // why the link went down (nil while up)
	Reconnects int       // successful connections after the first
}

// PLC is one line PLC. Its methods are safe for concurrent use; Modbus
// requests are serialised on the one connection.
type PLC struct {
	cfg  Config
	mbc  modbus.ClientConfiguration
	log  *slog.Logger
	done chan struct{}

	dialMu sync.Mutex // one connection attempt at a time
	mu     sync.Mutex // serialises requests; guards the fields below
	client *modbus.ModbusClient
	closed bool
	last   uint32 // last trigger number delivered (or the baseline)
	based  bool   // last is meaningful

	linkMu      sync.Mutex
	link        LinkState
	linkChanged chan struct{}
	connects    int

	items map[string]string // map key → "key (table address)", for messages

	rejectMu sync.Mutex // one reject handshake at a time
	hb       heartbeat  // the two-way watchdog (heartbeat.go)
	polling  atomic.Bool
	stats    struct{ polls, triggers, resets atomic.Uint64 }
}

// New validates cfg and returns a PLC that is not yet connected: call
// Connect, or Triggers, which connects and reconnects by itself.
func New(cfg Config, log *slog.Logger) (*PLC, error) {
	cfg = cfg.WithDefaults()
	mbc, err := cfg.clientConfig()
	if err != nil {
		return nil, err
	}
	if log == nil {
		return nil, fmt.Errorf("plc %q: logger: missing", cfg.Name)
	}
	log = log.With("plc", cfg.Name)
	// The library logs through the standard log package, to stdout unless
	// given a logger; route it into ours.
	mbc.Logger = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	items := map[string]string{}
	for _, it := range cfg.Map.Items() {
		items[it.Key] = it.String()
	}
	items["counters"] = items[KeyGoodCounter] + " and " + items[KeyRejectedCounter]
	return &PLC{
		items:       items,
		cfg:         cfg,
		mbc:         mbc,
		log:         log,
		done:        make(chan struct{}),
		linkChanged: make(chan struct{}),
	}, nil
}

// Config returns the configuration in force (defaults applied).
func (p *PLC) Config() Config { return p.cfg }

// Link returns the link state and a channel closed at its next change, so a
// caller can wait for a change without missing one.
func (p *PLC) Link() (LinkState, <-chan struct{}) {
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	return p.link, p.linkChanged
}

func (p *PLC) setLink(up bool, err error) {
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	if p.link.Up == up {
		if !up && err != nil {
			p.link.Err = err // a failed reconnect: keep the freshest reason
		}
		return
	}
	p.link.Up, p.link.Since, p.link.Err = up, time.Now(), err
	if up {
		p.connects++
		if p.connects > 1 {
			p.link.Reconnects++
		}
	}
	close(p.linkChanged)
	p.linkChanged = make(chan struct{})
}

func (p *PLC) errorf(format string, args ...any) error {
	return fmt.Errorf("plc %q: "+format, append([]any{p.cfg.Name}, args...)...)
}

// Connect opens the Modbus link and reads the trigger counter once (which
// proves the PLC answers and becomes the baseline for Triggers). Connecting
// an open link is a no-op.
func (p *PLC) Connect(ctx context.Context) error {
	p.dialMu.Lock()
	defer p.dialMu.Unlock()
	p.mu.Lock()
	closed, open := p.closed, p.client != nil
	p.mu.Unlock()
	switch {
	case closed:
		return p.errorf("connect: %w", ErrClosed)
	case open:
		return nil
	}

	mbc := p.mbc
	client, err := modbus.NewClient(&mbc)
	if err != nil {
		return p.errorf("connect %s: %w", p.cfg.Transport, err)
	}
	if err := openClient(ctx, client); err != nil {
		err = p.errorf("connect %s: %w: %w", p.cfg.Transport, transport.ErrNotConnected, err)
		p.setLink(false, err)
		return err
	}
	if err := client.SetUnitId(p.cfg.UnitID); err != nil {
		_ = client.Close()
		return p.errorf("connect: unit id %d: %w", p.cfg.UnitID, err)
	}
	count, err := readUint32(client, p.cfg.Map, p.cfg.Map.CounterTable, p.cfg.Map.TriggerCounter)
	if err != nil {
		_ = client.Close()
		if !isLinkError(err) {
			// The PLC answered but refused: most likely a map that does not
			// match the PLC program.
			return p.errorf("connect: read %s: %w", p.item(KeyTriggerCounter), err)
		}
		err = p.errorf("connect %s: %w: read %s: %w", p.cfg.Transport, transport.ErrNotConnected, p.item(KeyTriggerCounter), err)
		p.setLink(false, err)
		return err
	}

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = client.Close()
		return p.errorf("connect: %w", ErrClosed)
	}
	p.client = client
	if !p.based {
		p.last, p.based = count, true
	}
	p.mu.Unlock()
	p.setLink(true, nil)
	p.log.Info("plc link up", "transport", p.cfg.Transport, "unit", p.cfg.UnitID, "trigger_count", count)
	return nil
}

// openClient opens the library client, giving up (and closing it later) if
// ctx ends first: the library's Open takes no context.
func openClient(ctx context.Context, client *modbus.ModbusClient) error {
	res := make(chan error, 1)
	go func() { res <- client.Open() }()
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		go func() {
			if <-res == nil {
				_ = client.Close()
			}
		}()
		return ctx.Err()
	}
}

// Close closes the link; every later call fails with ErrClosed and a
// running Triggers returns.
func (p *PLC) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	client := p.client
	p.client = nil
	p.mu.Unlock()
	p.setLink(false, ErrClosed)
	if client != nil {
		if err := client.Close(); err != nil {
			return p.errorf("close: %w", err)
		}
	}
	return nil
}

// do runs one Modbus request on the open link. A failure that means the
// link is gone (I/O error, timeout, garbled frame) closes it and returns a
// wrapped transport.ErrNotConnected; a Modbus exception (the PLC answered
// "no") leaves it open.
//
// The operation is named by verb and map key and formatted only on failure,
// keeping the poll path free of string building.
func (p *PLC) do(ctx context.Context, verb, key string, fn func(*modbus.ModbusClient) error) error {
	op := func() string { return verb + " " + p.items[key] }
	if err := ctx.Err(); err != nil {
		return p.errorf("%s: %w", op(), err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.errorf("%s: %w", op(), ErrClosed)
	}
	client := p.client
	if client == nil {
		p.mu.Unlock()
		return p.errorf("%s: %w", op(), transport.ErrNotConnected)
	}
	err := fn(client)
	if err == nil {
		p.mu.Unlock()
		return nil
	}
	if !isLinkError(err) {
		p.mu.Unlock()
		return p.errorf("%s: %w", op(), err)
	}
	p.client = nil
	p.mu.Unlock()
	_ = client.Close()
	err = p.errorf("%s: %w: %w", op(), transport.ErrNotConnected, err)
	p.setLink(false, err)
	p.log.Warn("plc link down", "op", op(), "err", err)
	return err
}

// isLinkError tells a dead or confused link from a PLC that answered with a
// Modbus exception.
func isLinkError(err error) bool {
	var me modbus.Error
	if errors.As(err, &me) {
		switch me {
		case modbus.ErrIllegalFunction, modbus.ErrIllegalDataAddress, modbus.ErrIllegalDataValue,
			modbus.ErrServerDeviceFailure, modbus.ErrAcknowledge, modbus.ErrServerDeviceBusy,
			modbus.ErrMemoryParityError:
			return false
		}
		// Timeouts, bad CRC, short frames, protocol and unit-id mismatches,
		// and gateway errors (the PLC behind the gateway is unreachable).
		return true
	}
	// The library reports exception codes it does not know as plain errors.
	return !strings.HasPrefix(err.Error(), "unknown exception code")
}

// item names a map entry with its place, e.g. "alarms (holding register 3)".
func (p *PLC) item(key string) string { return p.items[key] }
