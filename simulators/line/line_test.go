package line

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	scandrv "github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
)

// readPrintLog returns the print log's entries.
func readPrintLog(tb testing.TB, path string) []printLogEntry {
	tb.Helper()
	f, err := os.Open(path)
	require.NoError(tb, err)
	defer f.Close()
	var out []printLogEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e printLogEntry
		require.NoError(tb, json.Unmarshal(sc.Bytes(), &e), "print log line %q", sc.Text())
		_, err := time.Parse(time.RFC3339Nano, e.At)
		require.NoError(tb, err, "at %q is not RFC 3339", e.At)
		out = append(out, e)
	}
	require.NoError(tb, sc.Err())
	return out
}

func bracketed(tb testing.TB, data string) string {
	tb.Helper()
	es, err := gs1.ParseTransmitted(data)
	require.NoError(tb, err)
	return es.Bracketed()
}

// TestWholeLineImaging runs 200 units at 2,400 units/min in imaging mode with
// the test as the edge agent: every label is rasterised by the printer
// simulator, decoded from its pixels at the camera and reported with the data
// printed for that unit; the units the edge rejects are counted rejected by
// the PLC; the print log has one line per label.
func TestWholeLineImaging(t *testing.T) {
	const n = 200
	logPath := filepath.Join(t.TempDir(), "print.log")
	cfg := testConfig()
	cfg.Speed = 2400
	cfg.Jitter = 10
	cfg.Units = n
	cfg.PLC.StartStopped = true // the edge starts the line once it listens
	// Generous windows, since other tests may load the machine: the edge has
	// 16 pitches (400 ms) to print a unit's label and 28 (700 ms) to ask for
	// its rejection, which it does as soon as the trigger arrives.
	cfg.Travel = Travel{PrintWindow: 16, PrinterToCamera: 20, CameraToReject: 8}
	cfg.PrintLog = logPath
	l := startLine(t, cfg)
	ctx := testkit.Context(t)

	reject := func(u uint32) bool { return u%17 == 0 }
	e := newEdge(t, l, true, reject)
	require.NoError(t, e.plc.SetRun(ctx, true))

	var seen tally
	for k := range n {
		r := e.result(t)
		u, want := e.unitAt(t, k)
		seen.results++
		require.False(t, r.NoRead, "unit %d: no-read", u)
		require.True(t, r.GS1, "unit %d", u)
		require.Equal(t, want, r.Data, "unit %d: the camera read another label", u)
		require.Equal(t, scandrv.GradeA, r.Grade, "unit %d", u)
		if reject(u) {
			seen.rejects++
		}
	}
	c, err := l.Wait(ctx, func(c Counters) bool { return c.Good+c.Rejected >= n })
	require.NoError(t, err)
	good, rejected, err := e.plc.Counters(ctx)
	require.NoError(t, err)

	// What the edge saw is what the simulator counted.
	require.Equal(t, uint64(n), c.Triggers)
	require.Equal(t, uint64(n), c.Printed)
	require.Equal(t, uint64(n), c.Applied)
	require.Zero(t, c.Blank)
	require.Equal(t, seen.results, c.Scanned)
	require.Zero(t, c.NoReads)
	require.Zero(t, c.Misreads)
	require.Equal(t, seen.rejects, c.Rejected)
	require.Equal(t, uint64(rejected), c.Rejected)
	require.Equal(t, uint64(good), c.Good)
	require.Equal(t, uint64(n)-seen.rejects, c.Good)

	// After a clean stop the print log holds exactly one line per label, in
	// print order, with the bracketed element string.
	require.NoError(t, l.Close())
	entries := readPrintLog(t, logPath)
	require.Len(t, entries, n)
	for k, ent := range entries {
		_, want := e.unitAt(t, k)
		require.Equal(t, bracketed(t, want), ent.Data, "print log line %d", k+1)
		require.Nil(t, ent.Raw)
	}
}

// step is one unit of the fault rehearsal: the faults in force while it is
// printed and read.
type step struct {
	drop     bool
	smudge   float64
	noRead   float64
	gradeDop bool
	offline  bool
}

// TestWholeLineFaults steps a manual line one unit at a time (no timing
// involved) through scanner no-reads, printer drops, smudged labels and
// grade drops, and the scanner going offline. The edge rejects every unit it
// cannot verify; its
// observations must match the simulator's counters exactly.
func TestWholeLineFaults(t *testing.T) {
	cfg := testConfig()
	cfg.Manual = true
	cfg.Travel = Travel{PrintWindow: 0.5, PrinterToCamera: 1, CameraToReject: 1}
	cfg.PrintLog = filepath.Join(t.TempDir(), "print.log")
	l := startLine(t, cfg)
	ctx := testkit.Context(t)
	e := newEdge(t, l, false, nil)

	var steps []step
	for range 6 {
		steps = append(steps, step{})
	}
	for range 12 {
		steps = append(steps, step{noRead: 0.5})
	}
	for range 3 {
		steps = append(steps, step{drop: true})
	}
	for range 4 {
		steps = append(steps, step{smudge: 0.7})
	}
	for range 2 {
		steps = append(steps, step{gradeDop: true})
	}
	steps = append(steps, step{}, step{offline: true}, step{})

	set := func(device, fault string, v any) {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		require.NoError(t, l.SetFault(FaultChange{Device: device, Fault: fault, Value: b}))
	}
	var seen tally
	var printed, dropped int
	var noReadsAtRate, smudgeFailures, gradeDrops int
	for k, s := range steps {
		set("printer", "drop", s.drop)
		set("printer", "smudge", s.smudge)
		set("scanner", "no_read_rate", s.noRead)
		set("scanner", "grade_drop", s.gradeDop)
		set("scanner", "offline", s.offline)
		if !s.offline {
			// After an offline spell the reader reconnects (with backoff).
			require.Eventually(t, func() bool {
				return l.scanner.Stats().Clients == 1 && e.scanner.Stats().Connected
			}, waitLong, time.Millisecond)
		}

		n, ok := l.Trigger()
		require.True(t, ok)
		u, want := e.unitAt(t, k)
		require.Equal(t, n, u)
		require.NoError(t, e.printer.Print(ctx, unitFields(t, u)))
		if s.drop {
			dropped++
			require.Eventually(t, func() bool { return l.printer.Stats().Dropped == dropped }, waitLong, time.Millisecond)
		} else {
			printed++
			_, err := l.Wait(ctx, func(c Counters) bool { return c.Printed == uint64(printed) })
			require.NoError(t, err)
		}
		// One pitch: the unit leaves the print station and reaches the
		// camera; the unit before it reaches the reject station.
		require.True(t, l.Advance(1))
		if s.offline {
			// Nothing is sent: the edge has no result for the unit and
			// rejects it.
			_, err := l.Wait(ctx, func(c Counters) bool { return c.Unsent == 1 })
			require.NoError(t, err)
			require.NoError(t, e.plc.Reject(ctx, u))
			seen.rejects++
			continue
		}
		r := e.result(t)
		seen.results++
		bad := r.NoRead || r.Data != want
		switch {
		case r.NoRead:
			seen.noReads++
		case r.Data != want:
			seen.mismatches++
		}
		switch {
		case s.drop:
			require.True(t, r.NoRead, "unit %d left the printer blank, the camera must not read a code", u)
		case s.smudge > 0 && bad:
			smudgeFailures++
		case s.noRead > 0 && r.NoRead:
			noReadsAtRate++
		case s.gradeDop:
			require.False(t, bad)
			require.Equal(t, scandrv.GradeD, r.Grade)
			gradeDrops++
		case s == step{}:
			require.False(t, bad, "unit %d with no fault", u)
			require.Equal(t, scandrv.GradeA, r.Grade)
		}
		if bad {
			// The edge takes an unverified unit off the line before it
			// reaches the reject station (one pitch on).
			require.NoError(t, e.plc.Reject(ctx, u))
			seen.rejects++
		}
	}
	require.True(t, l.Advance(1)) // the last unit passes the reject station
	c, err := l.Wait(ctx, func(c Counters) bool { return c.Good+c.Rejected == uint64(len(steps)) })
	require.NoError(t, err)
	good, rejected, err := e.plc.Counters(ctx)
	require.NoError(t, err)

	require.Positive(t, noReadsAtRate, "a 50 %% no-read rate over 12 units gave no no-read")
	require.Less(t, noReadsAtRate, 12, "a 50 %% no-read rate over 12 units gave only no-reads")
	require.Positive(t, smudgeFailures, "70 %% smudged labels all read correctly")
	require.Equal(t, 2, gradeDrops)

	st := l.Status()
	require.Equal(t, uint64(len(steps)), c.Triggers)
	require.Equal(t, uint64(printed), c.Printed)
	require.Equal(t, uint64(dropped), st.Counters.Dropped)
	require.Equal(t, uint64(dropped), c.Blank)
	require.Equal(t, seen.results, c.Scanned)
	require.Equal(t, uint64(1), c.Unsent)
	require.Equal(t, seen.noReads, c.NoReads)
	require.Equal(t, seen.mismatches, c.Misreads)
	require.Equal(t, seen.rejects, c.Rejected)
	require.Equal(t, uint64(rejected), c.Rejected)
	require.Equal(t, uint64(good), c.Good)
	require.Equal(t, uint64(len(steps))-seen.rejects, c.Good)
	require.Equal(t, seen.results, e.scanner.Stats().Results)
	require.Equal(t, seen.noReads, e.scanner.Stats().NoReads)

	require.NoError(t, l.Close())
	require.Len(t, readPrintLog(t, cfg.PrintLog), printed)
}
