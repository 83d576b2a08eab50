package line

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/drivers/printer"
	scandrv "github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
)

// waitLong bounds every wait in these tests; it is a deadline against hangs,
// never a measure of speed.
const waitLong = 60 * time.Second

// testFormat is the scanner format the tests use: letter grades, GS1 assumed.
func testFormat() scandrv.Format {
	return scandrv.Format{Grade: scandrv.GradeLetter, AssumeGS1: true}
}

// testConfig is a line on loopback with every port picked by the system.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Printer.Listen = "tcp:127.0.0.1:0"
	cfg.Scanner.Listen = "tcp:127.0.0.1:0"
	cfg.Scanner.Format = testFormat()
	cfg.PLC.Listen = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	return cfg
}

// startLine starts a line and closes it at the end of the test.
func startLine(tb testing.TB, cfg Config) *Line {
	tb.Helper()
	l, err := New(cfg, testkit.Logger(tb))
	require.NoError(tb, err)
	require.NoError(tb, l.Start(context.Background()))
	tb.Cleanup(func() { require.NoError(tb, l.Close()) })
	return l
}

// unitFields is what the edge prints for trigger number n.
func unitFields(tb testing.TB, n uint32) zpl.Fields {
	es := gs1.ElementString{
		{AI: "01", Value: "09506000134352"},
		{AI: "17", Value: "271231"},
		{AI: "10", Value: "LOT42"},
		{AI: "21", Value: fmt.Sprintf("S%d", n)},
	}
	require.NoError(tb, es.Validate())
	return zpl.Fields{Data: es.Transmitted(), Text: []string{"GTIN 09506000134352", "EXP 2027-12-31", "LOT LOT42", fmt.Sprintf("SN S%d", n)}}
}

// edge plays the line agent with the real drivers: it reads triggers and
// counters from the PLC and sends rejects, prints each unit's recall job,
// and reads the scanner's result lines.
type edge struct {
	plc     *plc.PLC
	printer *printer.Printer
	scanner *scandrv.Scanner
	results chan scandrv.Result

	mu      sync.Mutex
	printed map[uint32]string // unit → data printed for it
	order   []uint32          // units in trigger order
}

// newEdge connects the drivers to l's devices. With autoPrint, every trigger
// is answered with a print job at once (and reject, when it names the unit,
// asks the PLC to reject it from the start).
func newEdge(tb testing.TB, l *Line, autoPrint bool, reject func(uint32) bool) *edge {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })
	log := testkit.Logger(tb)
	d := l.Devices()
	e := &edge{results: make(chan scandrv.Result, 4096), printed: map[uint32]string{}}

	var err error
	e.plc, err = plc.New(plc.Config{Name: "edge-plc", Transport: d.PLC, UnitID: d.PLCUnitID, PollInterval: 2 * time.Millisecond}, log)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = e.plc.Close() })
	require.NoError(tb, e.plc.Connect(testkit.Context(tb)))

	layout := zpl.DefaultLayout(12) // 300 dpi, as the simulated printer
	e.printer, err = printer.New(printer.Config{Name: "edge-printer", Transport: d.Printer, Layout: layout}, log)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = e.printer.Close() })
	require.NoError(tb, e.printer.Connect(testkit.Context(tb)))

	e.scanner, err = scandrv.New(scandrv.Config{Name: "edge-scanner", Transport: d.Scanner, Format: testFormat()}, log)
	require.NoError(tb, err)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = e.scanner.Run(ctx, e.results)
	}()
	// Results go only to connected readers: wait until the simulator has ours.
	require.Eventually(tb, func() bool { return l.scanner.Stats().Clients > 0 }, waitLong, time.Millisecond)

	triggers := make(chan uint32, 4096)
	rejects := make(chan uint32, 4096)
	wg.Add(3)
	go func() {
		defer wg.Done()
		_ = e.plc.Triggers(ctx, triggers)
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case n := <-triggers:
				f := unitFields(tb, n)
				e.mu.Lock()
				e.printed[n] = f.Data
				e.order = append(e.order, n)
				e.mu.Unlock()
				if !autoPrint {
					continue
				}
				if err := e.printer.Print(ctx, f); err != nil && ctx.Err() == nil {
					tb.Errorf("print unit %d: %v", n, err)
				}
				if reject != nil && reject(n) {
					rejects <- n
				}
			}
		}
	}()
	// Rejects go their own way, so that printing never waits on them.
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case n := <-rejects:
				if err := e.plc.Reject(ctx, n); err != nil && ctx.Err() == nil {
					tb.Errorf("reject unit %d: %v", n, err)
				}
			}
		}
	}()
	return e
}

// unitAt returns the k-th unit (0-based) in trigger order and what was
// printed for it, waiting for its trigger.
func (e *edge) unitAt(tb testing.TB, k int) (uint32, string) {
	tb.Helper()
	var n uint32
	var data string
	require.Eventually(tb, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		if len(e.order) <= k {
			return false
		}
		n = e.order[k]
		data = e.printed[n]
		return true
	}, waitLong, time.Millisecond, "trigger %d never reached the edge", k+1)
	return n, data
}

// result waits for the next result line.
func (e *edge) result(tb testing.TB) scandrv.Result {
	tb.Helper()
	select {
	case r := <-e.results:
		return r
	case <-time.After(waitLong):
		tb.Fatalf("no result line within %v", waitLong)
		return scandrv.Result{}
	}
}

// tally is what the edge observed.
type tally struct {
	results, noReads, mismatches, rejects uint64
}

func contextWithCancel(tb testing.TB) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	return ctx, cancel
}
