package scanner

import (
	"context"
	"strings"
	"testing"
	"time"

	scandrv "github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

// The tests below run the real driver (drivers/scanner, through
// drivers/transport) against the simulator over real loopback TCP and a
// real pseudo-terminal.

// e2eFormats exercises every option of the line format.
var e2eFormats = []struct {
	name   string
	format scandrv.Format
}{
	{"defaults", scandrv.Format{}},
	{"STX prefix, ETX terminator", scandrv.Format{Prefix: "\x02", Terminator: "\x03"}},
	{"CR terminator, own no-read token", scandrv.Format{Terminator: "\r", NoRead: "NR"}},
	{"grade letters after data", scandrv.Format{Grade: scandrv.GradeLetter}},
	{"grade numbers before data", scandrv.Format{Grade: scandrv.GradeNumber, GradePosition: scandrv.GradePrefix, GradeSeparator: ","}},
	{"GS as <GS>", scandrv.Format{GS: "<GS>"}},
	{"GS as {GS}", scandrv.Format{GS: "{GS}"}},
	{"symbology identifier", scandrv.Format{SymbologyID: true}},
	{"assume GS1", scandrv.Format{AssumeGS1: true}},
	{"everything", scandrv.Format{Prefix: "\x02", Terminator: "\x03\r\n", NoRead: "?", GS: "<GS>", SymbologyID: true,
		Grade: scandrv.GradeLetter, GradeSeparator: "|", MaxLine: 200}},
}

func TestDriverAndSimulatorOverTCP(t *testing.T) {
	for _, tt := range e2eFormats {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t, Config{Format: tt.format, Decoder: fakeDecoder{}})
			drv, out := startDriver(t, startSim(t, sim), tt.format)
			testkit.Eventually(t, "driver connected", func() bool { return sim.Stats().Clients == 1 })

			var sent []scandrv.Result
			r, err := sim.InspectData(pharmaData, true)
			require.NoError(t, err)
			sent = append(sent, r)
			r, err = sim.Inspect(context.Background(), fakeSymbol("PLAIN;TEXT", false, 80, 170)) // retry, grade C
			require.NoError(t, err)
			sent = append(sent, r)
			require.NoError(t, sim.SetFaults(Faults{NoReadRate: 1}))
			r, err = sim.InspectData(pharmaData, true)
			require.NoError(t, err)
			sent = append(sent, r)

			for _, want := range sent {
				require.Equal(t, asSeen(tt.format, want), withoutAt(next(t, out)))
			}
			st := drv.Stats()
			require.Equal(t, uint64(3), st.Results)
			require.Equal(t, uint64(1), st.NoReads)
			require.Equal(t, uint64(0), st.Malformed)
		})
	}
}

// TestFaultsReachTheDriver switches each fault on a running line and checks
// what the driver reports.
func TestFaultsReachTheDriver(t *testing.T) {
	format := scandrv.Format{SymbologyID: true, Grade: scandrv.GradeLetter}
	sim := newSim(t, Config{Format: format})
	drv, out := startDriver(t, startSim(t, sim), format)
	testkit.Eventually(t, "driver connected", func() bool { return sim.Stats().Clients == 1 })

	inspect := func(f Faults) scandrv.Result {
		t.Helper()
		require.NoError(t, sim.SetFaults(f))
		_, err := sim.InspectData(pharmaData, true)
		require.NoError(t, err)
		return withoutAt(next(t, out))
	}
	t.Run("normal", func(t *testing.T) {
		require.Equal(t, scandrv.Result{Data: pharmaData, GS1: true, Grade: scandrv.GradeA}, inspect(Faults{}))
	})
	t.Run("no-read", func(t *testing.T) {
		r := inspect(Faults{NoReadRate: 1})
		require.True(t, r.NoRead)
		require.Equal(t, scandrv.GradeF, r.Grade)
		require.Equal(t, uint64(1), drv.Stats().NoReads)
	})
	t.Run("wrong code", func(t *testing.T) {
		r := inspect(Faults{WrongCodeRate: 1})
		require.NotEqual(t, pharmaData, r.Data)
		require.Len(t, r.Data, len(pharmaData))
		require.Equal(t, pharmaData[:len(pharmaData)-1], r.Data[:len(r.Data)-1], "one character changed")
	})
	t.Run("grade drop", func(t *testing.T) {
		r := inspect(Faults{GradeDropRate: 1, GradeDrop: scandrv.GradeD})
		require.Equal(t, pharmaData, r.Data)
		require.Equal(t, scandrv.GradeD, r.Grade)
		require.True(t, r.Grade.Worse(scandrv.GradeC))
	})
}

// TestOfflineFault takes the reader offline: the driver reports the link
// down, nothing is delivered, and the driver reconnects by itself once the
// fault is cleared.
func TestOfflineFault(t *testing.T) {
	sim := newSim(t, Config{})
	drv, out := startDriver(t, startSim(t, sim), scandrv.Format{})
	testkit.Eventually(t, "driver connected", func() bool { return sim.Stats().Clients == 1 && drv.Stats().Connected })
	_, err := sim.InspectData("BEFORE", false)
	require.NoError(t, err)
	require.Equal(t, "BEFORE", next(t, out).Data)

	sim.SetOffline(true)
	testkit.Eventually(t, "driver reports the link down", func() bool { return !drv.Stats().Connected })
	_, err = sim.InspectData("DURING", false)
	require.ErrorIs(t, err, ErrOffline)
	// The driver keeps trying; each attempt is turned away while offline.
	connects := drv.Stats().Connects
	testkit.Eventually(t, "driver retries", func() bool { return drv.Stats().Connects >= connects+2 })
	require.Equal(t, 0, sim.Stats().Clients)

	sim.SetOffline(false)
	testkit.Eventually(t, "driver reconnected", func() bool { return sim.Stats().Clients == 1 })
	_, err = sim.InspectData("AFTER", false)
	require.NoError(t, err)
	require.Equal(t, "AFTER", next(t, out).Data, "nothing from the offline period")
	st := drv.Stats()
	require.True(t, st.Connected)
	require.GreaterOrEqual(t, st.Reconnects, uint64(2))
	require.NotEmpty(t, st.LastLinkError)
}

func TestEveryClientGetsEveryResult(t *testing.T) {
	sim := newSim(t, Config{})
	spec := startSim(t, sim)
	_, out1 := startDriver(t, spec, scandrv.Format{})
	_, out2 := startDriver(t, spec, scandrv.Format{})
	testkit.Eventually(t, "both connected", func() bool { return sim.Stats().Clients == 2 })
	for _, d := range []string{"U1", "U2", "U3"} {
		_, err := sim.InspectData(d, false)
		require.NoError(t, err)
	}
	for _, out := range []<-chan scandrv.Result{out1, out2} {
		for _, d := range []string{"U1", "U2", "U3"} {
			require.Equal(t, d, next(t, out).Data)
		}
	}
	require.Equal(t, uint64(6), sim.Stats().Sent)
}

// TestDriverAndSimulatorOverPTY runs the driver on the simulator's
// pseudo-terminal as on a serial port. CR LF, STX and GS arrive unchanged
// only because the simulator puts the line discipline in raw mode.
func TestDriverAndSimulatorOverPTY(t *testing.T) {
	for _, tt := range []struct {
		name   string
		format scandrv.Format
	}{
		{"CR LF and raw GS", scandrv.Format{Grade: scandrv.GradeLetter}},
		{"STX, ETX, <GS>, identifier", scandrv.Format{Prefix: "\x02", Terminator: "\x03", GS: "<GS>", SymbologyID: true}},
		{"CR only", scandrv.Format{Terminator: "\r"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t, Config{Format: tt.format, Faults: Faults{NoReadRate: 0.3, WrongCodeRate: 0.2}, Seed: 3})
			ctx, cancel := context.WithCancel(context.Background())
			p, err := sim.ServePTY(ctx)
			require.NoError(t, err)
			t.Cleanup(func() {
				cancel()
				select {
				case <-p.Done():
				case <-time.After(waitFor):
					t.Error("pty not closed after cancel")
				}
			})
			require.True(t, strings.HasPrefix(p.Path, "/dev/"), p.Path)
			drv, out := startDriver(t, "serial:"+p.Path+"?baud=115200", tt.format)
			testkit.Eventually(t, "driver opened the pty", func() bool { return drv.Stats().Connected })

			var sent []scandrv.Result
			for i := 0; i < 20; i++ {
				r, err := sim.InspectData(pharmaData, true)
				require.NoError(t, err)
				sent = append(sent, r)
			}
			for _, want := range sent {
				require.Equal(t, asSeen(tt.format, want), withoutAt(next(t, out)))
			}
			require.Equal(t, uint64(0), drv.Stats().Malformed)
			require.NotZero(t, sim.Stats().NoReads)
		})
	}
}

// TestPTYNobodyReading fills a pseudo-terminal nobody reads: lines are
// dropped and counted, Inspect never blocks, and cancel still closes it.
func TestPTYNobodyReading(t *testing.T) {
	sim := newSim(t, Config{Queue: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := sim.ServePTY(ctx)
	require.NoError(t, err)
	long := strings.Repeat("X", 1000)
	for i := 0; i < 2000 && sim.Stats().Dropped == 0; i++ {
		_, err := sim.InspectData(long, false)
		require.NoError(t, err)
	}
	require.NotZero(t, sim.Stats().Dropped, "a full pty drops lines")
	cancel()
	select {
	case <-p.Done():
	case <-time.After(waitFor):
		t.Fatal("a write blocked on the full pty was not released by cancel")
	}
	require.Equal(t, 0, sim.Stats().Clients)
}
