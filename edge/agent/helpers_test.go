package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/ui"
	"github.com/serialine/serialine/internal/testkit"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/simulators/line"
)

func scanFormat() scanner.Format { return scanner.Format{Grade: scanner.GradeLetter, AssumeGS1: true} }

// startLine starts a simulated line on loopback (fast mode, stopped until
// the agent runs it, print-and-apply geometry) with a print log.
func startLine(tb testing.TB, lineID string, units, speed int) (*line.Line, line.Config) {
	tb.Helper()
	cfg := line.DefaultConfig()
	cfg.Line = lineID
	cfg.Printer.Listen = "tcp:127.0.0.1:0"
	cfg.Scanner.Listen = "tcp:127.0.0.1:0"
	cfg.Scanner.Format = scanFormat()
	cfg.PLC.Listen = "127.0.0.1:0"
	cfg.PLC.StartStopped = true
	cfg.HTTP = "127.0.0.1:0"
	cfg.PrintLog = filepath.Join(tb.TempDir(), "print.log")
	cfg.Fast = true
	cfg.Speed = speed
	cfg.Units = units
	cfg.Jitter = 2
	cfg.Travel = line.Travel{PrintWindow: 0.8, PrinterToCamera: 8, CameraToReject: 6}
	l, err := line.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(tb, err)
	require.NoError(tb, l.Start(context.Background()))
	tb.Cleanup(func() { _ = l.Close() })
	return l, cfg
}

// agentConfig is an agent for the simulated line l and broker.
func agentConfig(tb testing.TB, lineID string, l *line.Line, lcfg line.Config, broker string) agent.Config {
	d := l.Devices()
	cfg := agent.DefaultConfig()
	cfg.Line = lineID
	cfg.DataDir = filepath.Join(tb.TempDir(), "data")
	cfg.HTTP = "127.0.0.1:0"
	cfg.StatusInterval = time.Second
	cfg.MQTT.Broker = broker
	cfg.MQTT.ReconnectMax = 200 * time.Millisecond
	cfg.Printer = agent.PrinterConfig{Config: printer.Config{Name: "printer", Transport: d.Printer, StatusInterval: 50 * time.Millisecond}, DPI: lcfg.Printer.DPI, TextLines: 5}
	cfg.Scanner.Transport = d.Scanner
	cfg.Scanner.Format = scanFormat()
	cfg.Scanner.ReconnectMin, cfg.Scanner.ReconnectMax = 10*time.Millisecond, 100*time.Millisecond
	cfg.PLC = plc.Config{Name: "plc", Transport: d.PLC, UnitID: d.PLCUnitID, PollInterval: time.Millisecond}
	// The simulated line at 3,000 units/min on a busy test machine rejects
	// several percent of its units for timing alone (late labels, results
	// out of their window): the quality limits, which would stop it, are
	// edge/station's tests, not these.
	cfg.Station = agent.StationConfig{PrinterToCamera: lcfg.Travel.PrinterToCamera, CameraToReject: lcfg.Travel.CameraToReject, PrintWindow: lcfg.Travel.PrintWindow,
		Jitter: lcfg.Jitter, MinGrade: scanner.GradeC, MonitorEvery: 20 * time.Millisecond, PrinterPoll: 100 * time.Millisecond,
		MaxConsecutiveRejects: 1000, MaxRejectRate: 100}
	// Small requests, so that a run goes through several refills.
	cfg.Pool = agent.PoolConfig{ReserveBlock: 32, LowWaterMinutes: 0.05, RefillMinutes: 0.1, MinRequest: 100, MaxRequest: 300,
		NominalRate: float64(lcfg.Speed), RequestRetry: time.Second}
	cfg.Outbox = agent.OutboxConfig{ResendAfter: 2 * time.Second}
	cfg.Operators = testOperators(tb)
	require.NoError(tb, cfg.Validate())
	return cfg
}

// pinAna is the PIN of testOperators' Ana.
const pinAna = "1234"

// testOperators is Ana, hashed with few iterations to keep sign-in fast.
func testOperators(tb testing.TB) []agent.OperatorConfig {
	tb.Helper()
	h, err := ui.HashPIN(pinAna, 1000)
	require.NoError(tb, err)
	return []agent.OperatorConfig{{Name: "Ana", PINHash: h}}
}

// screen is a browser at the agent's touchscreen, with its own cookies.
type screen struct {
	addr string
	c    *http.Client
}

func newScreen(tb testing.TB, addr string) *screen {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(tb, err)
	return &screen{addr: addr, c: &http.Client{Jar: jar, Timeout: testcentral.Wait}}
}

// post sends a JSON body to the screen's API.
func (s *screen) post(tb testing.TB, path string, body any) (int, []byte) {
	tb.Helper()
	b, err := json.Marshal(body)
	require.NoError(tb, err)
	req, err := http.NewRequestWithContext(testkit.Context(tb), http.MethodPost, "http://"+s.addr+path, bytes.NewReader(b))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.c.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, out
}

// signIn signs the screen in with pin.
func (s *screen) signIn(tb testing.TB, pin string) *screen {
	tb.Helper()
	code, body := s.post(tb, "/ui/signin", map[string]string{"pin": pin})
	require.Equal(tb, http.StatusOK, code, string(body))
	return s
}

// runAgent runs an agent on cfg with the touchscreen mounted, as
// serialine-edge run does, until the test ends; it returns once Ready.
func runAgent(tb testing.TB, cfg agent.Config) *agent.Agent {
	tb.Helper()
	log := testkit.Logger(tb)
	a, err := agent.New(cfg, log)
	require.NoError(tb, err)
	_, err = ui.Mount(a, cfg, log)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(tb, err)
		case <-time.After(testcentral.Wait):
			tb.Error("agent did not stop")
		}
	})
	select {
	case <-a.Ready():
	case err := <-done:
		tb.Fatalf("agent stopped before it was ready: %v", err)
	case <-testkit.Context(tb).Done():
		tb.Fatal("agent not ready")
	}
	return a
}

func testOrder() wire.Order {
	return wire.Order{ID: "WO-7", GTIN: "09506000134352", Lot: "LOT7", Expiry: "271231", Quantity: 100000,
		State: wire.OrderStateReleased, MinGrade: "C", National: map[string]string{"715": "12345-678-90"}}
}

// api calls the agent's local API.
func api(tb testing.TB, addr, method, path string, body any) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(tb, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(testkit.Context(tb), method, "http://"+addr+path, rd)
	require.NoError(tb, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, b
}

func state(tb testing.TB, addr string) agent.State {
	tb.Helper()
	code, b := api(tb, addr, "GET", "/api/v1/state", nil)
	require.Equal(tb, http.StatusOK, code, string(b))
	var s agent.State
	require.NoError(tb, json.Unmarshal(b, &s))
	return s
}

// ledger checks central's view of one order: every granted counter ends as
// exactly one of commissioned, decommissioned, voided or returned unused,
// and the order-closed counts say the same.
func ledger(tb testing.TB, s testcentral.Snapshot, order string, printed []string) wire.Reconciliation {
	tb.Helper()
	granted := map[uint64]bool{}
	var grantedN uint64
	for _, g := range s.Grants {
		if g.Order != order || g.Error != "" {
			continue
		}
		for _, r := range g.Ranges {
			for c := r.Start; c < r.End(); c++ {
				require.False(tb, granted[c], "counter %d granted twice", c)
				granted[c] = true
			}
			grantedN += r.Count
		}
	}
	fate := map[uint64]wire.EventType{}
	serialFate := map[string]wire.EventType{}
	var tally wire.Reconciliation
	tally.Granted = grantedN
	var closed *wire.Reconciliation
	for i, e := range s.Events {
		require.Equal(tb, uint64(i+1), e.Seq, "central has every seq")
		require.NoError(tb, e.Validate())
		if e.Order != order {
			continue
		}
		switch e.Type {
		case wire.Commissioned, wire.Decommissioned, wire.Voided:
			require.NotNil(tb, e.Counter)
			require.True(tb, granted[*e.Counter], "%s counter %d was never granted", e.Type, *e.Counter)
			prev, dup := fate[*e.Counter]
			require.False(tb, dup, "counter %d (serial %s) has two fates: %s and %s", *e.Counter, e.Serial, prev, e.Type)
			fate[*e.Counter] = e.Type
			serialFate[e.Serial] = e.Type
			switch e.Type {
			case wire.Commissioned:
				tally.Commissioned++
			case wire.Voided:
				tally.Voided++
			default:
				if tally.Decommissioned == nil {
					tally.Decommissioned = map[wire.Reason]uint64{}
				}
				tally.Decommissioned[e.Reason]++
			}
		case wire.SerialsReturned:
			for _, r := range e.Ranges {
				for c := r.Start; c < r.End(); c++ {
					require.True(tb, granted[c], "returned counter %d was never granted", c)
					_, dup := fate[c]
					require.False(tb, dup, "counter %d returned and also %s", c, fate[c])
					fate[c] = wire.SerialsReturned
				}
				tally.ReturnedUnused += r.Count
			}
		case wire.OrderClosed:
			closed = e.Counts
		}
	}
	require.NotNil(tb, closed, "order-closed reached central")
	require.Len(tb, fate, len(granted), "every granted counter has exactly one fate")
	require.Equal(tb, tally, *closed, "the line's reconciliation is what central counts")
	require.True(tb, closed.Balanced())
	seen := map[string]bool{}
	for _, sn := range printed {
		require.False(tb, seen[sn], "serial %s printed twice", sn)
		seen[sn] = true
		_, ok := serialFate[sn]
		require.True(tb, ok, "printed serial %s has no fate", sn)
	}
	return tally
}
