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
	"net/url"
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

// Config configures one line PLC.
type Config struct {
	// Name identifies the PLC in errors and logs (e.g. "line3-plc").
	Name string `yaml:"name"`
	// Transport is "tcp:HOST:PORT" (Modbus TCP) or
	// "rtu:/dev/ttyX[?baud=19200&parity=E&databits=8&stopbits=1]" (Modbus RTU;
	// 19200 baud, even parity by default).
	Transport string `yaml:"transport"`
	// UnitID is the Modbus unit (slave) id; 0 means 1. RTU allows 1-247.
	UnitID uint8 `yaml:"unit_id"`
	// Map places each signal; the zero map is DefaultRegisterMap().
	Map RegisterMap `yaml:"map"`
	// PollInterval is how often Triggers reads the counter; default 10 ms.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Timeout bounds each Modbus request, and Reject's wait for the
	// acknowledgement; default 1 s.
	Timeout time.Duration `yaml:"timeout"`
	// Reconnect spaces reconnection attempts (default 100 ms .. 10 s).
	Reconnect transport.Backoff `yaml:"reconnect"`
	// MaxTriggerJump: a counter step larger than this is taken for a PLC
	// restart (counter reset), not for products; default 100000.
	MaxTriggerJump uint32 `yaml:"max_trigger_jump"`
	// HeartbeatInterval: the edge writes a new edge_heartbeat at least this
	// often (default 500 ms); see README, "Watchdog".
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// PLCHeartbeatTimeout: PLCHeartbeat reports ErrPLCHeartbeatStopped when
	// the PLC's plc_heartbeat has not changed for this long (default 2 s).
	PLCHeartbeatTimeout time.Duration `yaml:"plc_heartbeat_timeout"`
	// NoHeartbeat is for a PLC program without the two heartbeat registers:
	// nothing is written or checked, and there is no watchdog either way.
	NoHeartbeat bool `yaml:"no_heartbeat"`
}

// WithDefaults returns c with every unset field given its default.
func (c Config) WithDefaults() Config {
	if c.UnitID == 0 {
		c.UnitID = DefaultUnitID
	}
	c.Map = c.Map.WithDefaults()
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxTriggerJump == 0 {
		c.MaxTriggerJump = DefaultMaxTriggerJump
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.PLCHeartbeatTimeout == 0 {
		c.PLCHeartbeatTimeout = DefaultPLCHeartbeatTimeout
	}
	return c
}

// Validate checks c (defaults applied) and names the key that breaks a rule.
func (c Config) Validate() error {
	_, err := c.WithDefaults().clientConfig()
	return err
}

// clientConfig validates c and builds the library's client configuration.
func (c Config) clientConfig() (modbus.ClientConfiguration, error) {
	var cc modbus.ClientConfiguration
	if strings.TrimSpace(c.Name) == "" {
		return cc, errors.New("plc: name: missing")
	}
	fail := func(format string, args ...any) (modbus.ClientConfiguration, error) {
		return cc, fmt.Errorf("plc %q: "+format, append([]any{c.Name}, args...)...)
	}
	if err := c.Map.Validate(); err != nil {
		return fail("%w", err)
	}
	if c.PollInterval < 0 {
		return fail("poll_interval %v: must be positive", c.PollInterval)
	}
	if c.Timeout < 0 {
		return fail("timeout %v: must be positive", c.Timeout)
	}
	if c.HeartbeatInterval < 0 || c.HeartbeatInterval > 10*time.Second {
		return fail("heartbeat_interval %v: must be more than 0 and at most 10s (the PLC's watchdog time is a few of these)", c.HeartbeatInterval)
	}
	if c.PLCHeartbeatTimeout < 0 || c.PLCHeartbeatTimeout > time.Minute {
		return fail("plc_heartbeat_timeout %v: must be more than 0 and at most 1m", c.PLCHeartbeatTimeout)
	}
	kind, rest, _ := strings.Cut(strings.TrimSpace(c.Transport), ":")
	switch strings.ToLower(kind) {
	case "tcp":
		tc, err := transport.ParseSpec(c.Transport)
		if err != nil {
			return fail("transport: %w", err)
		}
		cc.URL = "tcp://" + tc.Address
	case "rtu":
		tc, err := parseRTU(rest)
		if err != nil {
			return fail("transport %q: %w", c.Transport, err)
		}
		if c.UnitID > 247 {
			return fail("unit_id %d: Modbus RTU addresses are 1-247", c.UnitID)
		}
		cc.URL = "rtu://" + tc.Address
		cc.Speed = uint(tc.Baud)
		cc.DataBits = uint(tc.DataBits)
		cc.StopBits = uint(tc.StopBits)
		switch tc.Parity {
		case "E":
			cc.Parity = modbus.PARITY_EVEN
		case "O":
			cc.Parity = modbus.PARITY_ODD
		default:
			cc.Parity = modbus.PARITY_NONE
		}
	case "":
		return fail(`transport: missing (want "tcp:HOST:PORT" or "rtu:/dev/ttyX?baud=19200")`)
	default:
		return fail(`transport %q: want "tcp:HOST:PORT" or "rtu:/dev/ttyX?baud=19200"`, c.Transport)
	}
	cc.Timeout = c.Timeout
	return cc, nil
}

// parseRTU reads "/dev/ttyX?options" with the Modbus serial defaults.
func parseRTU(rest string) (transport.Config, error) {
	path, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return transport.Config{}, fmt.Errorf("options %q: %w", query, err)
	}
	if !q.Has("baud") {
		q.Set("baud", fmt.Sprint(DefaultRTUBaud))
	}
	if !q.Has("parity") {
		q.Set("parity", DefaultRTUParity)
	}
	return transport.ParseSpec("serial:" + path + "?" + q.Encode())
}

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
		log = slog.New(slog.DiscardHandler)
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

func regType(t Table) modbus.RegType {
	if t == InputRegisters {
		return modbus.INPUT_REGISTER
	}
	return modbus.HOLDING_REGISTER
}

func readUint32(c *modbus.ModbusClient, m RegisterMap, t Table, addr uint16) (uint32, error) {
	regs, err := c.ReadRegisters(addr, 2, regType(t))
	if err != nil {
		return 0, err
	}
	return m.WordOrder.Uint32(regs), nil
}

func readBit(c *modbus.ModbusClient, t Table, addr uint16) (bool, error) {
	if t == DiscreteInputs {
		return c.ReadDiscreteInput(addr)
	}
	return c.ReadCoil(addr)
}

// TriggerCount reads the product-trigger counter.
func (p *PLC) TriggerCount(ctx context.Context) (uint32, error) {
	var v uint32
	err := p.do(ctx, "read", KeyTriggerCounter, func(c *modbus.ModbusClient) (err error) {
		v, err = readUint32(c, p.cfg.Map, p.cfg.Map.CounterTable, p.cfg.Map.TriggerCounter)
		return err
	})
	return v, err
}

// Running reports whether the conveyor runs.
func (p *PLC) Running(ctx context.Context) (bool, error) {
	var v bool
	err := p.do(ctx, "read", KeyRunning, func(c *modbus.ModbusClient) (err error) {
		v, err = readBit(c, p.cfg.Map.RunningTable, p.cfg.Map.Running)
		return err
	})
	return v, err
}

// Alarms reads the alarm word.
func (p *PLC) Alarms(ctx context.Context) (AlarmWord, error) {
	var v uint16
	err := p.do(ctx, "read", KeyAlarms, func(c *modbus.ModbusClient) (err error) {
		v, err = c.ReadRegister(p.cfg.Map.Alarms, modbus.HOLDING_REGISTER)
		return err
	})
	return AlarmWord(v), err
}

// ResetAlarms writes 0 to the alarm word: the PLC clears every alarm whose
// cause has gone and keeps the others.
func (p *PLC) ResetAlarms(ctx context.Context) error {
	return p.do(ctx, "reset", KeyAlarms, func(c *modbus.ModbusClient) error {
		return c.WriteRegister(p.cfg.Map.Alarms, 0)
	})
}

// SetStackLight writes the stack-light register.
func (p *PLC) SetStackLight(ctx context.Context, s StackLight) error {
	if err := s.Validate(); err != nil {
		return p.errorf("set stack light: %w", err)
	}
	return p.do(ctx, "write", KeyStackLight, func(c *modbus.ModbusClient) error {
		return c.WriteRegister(p.cfg.Map.StackLight, uint16(s))
	})
}

// SetRun writes the run-request coil: true asks the PLC to run the line,
// false to stop it.
func (p *PLC) SetRun(ctx context.Context, run bool) error {
	return p.do(ctx, "write", KeyRunRequest, func(c *modbus.ModbusClient) error {
		return c.WriteCoil(p.cfg.Map.RunRequest, run)
	})
}

// Counters reads the PLC's good and rejected counters (in one request when
// they are adjacent, so the pair is consistent).
func (p *PLC) Counters(ctx context.Context) (good, rejected uint32, err error) {
	m := p.cfg.Map
	err = p.do(ctx, "read", "counters", func(c *modbus.ModbusClient) error {
		if m.RejectedCounter == m.GoodCounter+2 {
			regs, err := c.ReadRegisters(m.GoodCounter, 4, regType(m.CounterTable))
			if err != nil {
				return err
			}
			good, rejected = m.WordOrder.Uint32(regs[0:2]), m.WordOrder.Uint32(regs[2:4])
			return nil
		}
		if good, err = readUint32(c, m, m.CounterTable, m.GoodCounter); err != nil {
			return err
		}
		rejected, err = readUint32(c, m, m.CounterTable, m.RejectedCounter)
		return err
	})
	return good, rejected, err
}

// Reject asks the PLC to reject the unit with trigger number unit when it
// reaches the reject station: it writes the number into the reject-target
// registers, sets the reject-request coil and waits (up to Timeout) for the
// PLC to latch the request and clear the coil. A PLC that does not clear it
// yields ErrRejectNotAcknowledged. The PLC raises AlarmRejectMissed when the
// unit is no longer on the conveyor.
func (p *PLC) Reject(ctx context.Context, unit uint32) error {
	p.rejectMu.Lock()
	defer p.rejectMu.Unlock()
	// A request still pending from an earlier call must be taken first, or
	// the PLC could latch the new target under the old request.
	if err := p.awaitRejectAck(ctx, unit, "previous request still pending"); err != nil {
		return err
	}
	regs := p.cfg.Map.WordOrder.Registers(unit)
	if err := p.do(ctx, fmt.Sprintf("reject unit %d: write", unit), KeyRejectTarget, func(c *modbus.ModbusClient) error {
		return c.WriteRegisters(p.cfg.Map.RejectTarget, regs[:])
	}); err != nil {
		return err
	}
	if err := p.do(ctx, fmt.Sprintf("reject unit %d: set", unit), KeyRejectRequest, func(c *modbus.ModbusClient) error {
		return c.WriteCoil(p.cfg.Map.RejectRequest, true)
	}); err != nil {
		return err
	}
	return p.awaitRejectAck(ctx, unit, "coil not cleared")
}

// awaitRejectAck polls the reject-request coil until the PLC has cleared it.
func (p *PLC) awaitRejectAck(ctx context.Context, unit uint32, why string) error {
	verb := fmt.Sprintf("reject unit %d: read", unit)
	deadline := time.Now().Add(p.cfg.Timeout)
	every := min(max(p.cfg.PollInterval/4, time.Millisecond), 20*time.Millisecond)
	for {
		var pending bool
		if err := p.do(ctx, verb, KeyRejectRequest, func(c *modbus.ModbusClient) (err error) {
			pending, err = c.ReadCoil(p.cfg.Map.RejectRequest)
			return err
		}); err != nil {
			return err
		}
		if !pending {
			return nil
		}
		if time.Now().After(deadline) {
			return p.errorf("reject unit %d: %w within %v (%s)", unit, ErrRejectNotAcknowledged, p.cfg.Timeout, why)
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return p.errorf("reject unit %d: %w", unit, ctx.Err())
		case <-p.done:
			t.Stop()
			return p.errorf("reject unit %d: %w", unit, ErrClosed)
		case <-t.C:
		}
	}
}
