package pool

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// envCrashChild makes the test binary act as the crashing process.
const envCrashChild = "SERIALINE_POOL_CRASH_CHILD"

// TestCrashChild is the child of TestSIGKILLNeverReusesASerial: it recovers
// the pool, then takes serials as fast as it can, printing each one before
// it is "used", and records fates in batches, until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(envCrashChild)
	if path == "" {
		t.Skip("helper process for TestSIGKILLNeverReusesASerial")
	}
	db := testkit.OpenBolt(t, path)
	p, sink := openPool(t, db, Config{ReserveBlock: 32, CheckEvery: time.Hour})
	ctx := context.Background()
	_, err := p.Recover(ctx, sink)
	require.NoError(t, err)
	require.NoError(t, p.Activate("WO-1"))
	go p.Run(ctx, newRecorder())
	fmt.Fprintln(os.Stdout, "READY")
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 7))
	var inFlight []Lost
	for {
		u, s, err := p.Take(nil)
		require.NoError(t, err)
		// The line has the serial once this line is out: it may be printed.
		_, err = fmt.Fprintf(os.Stdout, "T %d %s\n", u.Position, s)
		require.NoError(t, err)
		inFlight = append(inFlight, Lost{Unit: u, Serial: string(s)})
		if len(inFlight) >= 1+rng.IntN(40) {
			// Fates come in batches, out of order, some units stay in flight.
			rng.Shuffle(len(inFlight), func(i, j int) { inFlight[i], inFlight[j] = inFlight[j], inFlight[i] })
			k := max(0, len(inFlight)-rng.IntN(3))
			typ := []wire.EventType{wire.Commissioned, wire.Decommissioned, wire.Voided}[rng.IntN(3)]
			var reason wire.Reason
			if typ == wire.Decommissioned {
				reason = wire.ReasonMismatch
			}
			fate(t, sink, typ, reason, inFlight[:k]...)
			inFlight = append(inFlight[:0], inFlight[k:]...)
		}
	}
}

// TestSIGKILLNeverReusesASerial kills a process taking serials at random
// points, restarts it, and checks across all runs that no serial was handed
// out twice and that every serial below the final mark ends with exactly
// one fate: recorded by the process, or voided as unaccounted by the
// recovery after the kill.
func TestSIGKILLNeverReusesASerial(t *testing.T) {
	if os.Getenv(envCrashChild) != "" {
		t.Skip("in the child")
	}
	path := dbPath(t)
	db := testkit.OpenBolt(t, path)
	p, _ := openPool(t, db, Config{})
	startedOrder(t, p, "WO-1", wire.CounterRange{Start: 0, Count: 1_000_000})
	require.NoError(t, p.Close())
	require.NoError(t, db.Close())

	rng := rand.New(rand.NewPCG(1, 2))
	handed := map[string]int{} // serial → run
	for run := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envCrashChild+"="+path)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(out)
		killAt := 50 + rng.IntN(3000)
		taken := 0
		for sc.Scan() && taken < killAt {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "T" {
				continue
			}
			if prev, dup := handed[f[2]]; dup {
				t.Fatalf("run %d: serial %s was already handed out in run %d", run, f[2], prev)
			}
			handed[f[2]] = run
			taken++
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		// Lines written before the kill are still in the pipe: read them too.
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "T" {
				if prev, dup := handed[f[2]]; dup {
					t.Fatalf("run %d: serial %s was already handed out in run %d", run, f[2], prev)
				}
				handed[f[2]] = run
			}
		}
		_ = cmd.Wait()
		require.GreaterOrEqual(t, taken, killAt, "run %d ended before it was killed", run)
	}

	// Final recovery, then every position below the mark has one fate.
	db = testkit.OpenBolt(t, path)
	defer db.Close()
	p, sink := openPool(t, db, Config{})
	_, err := p.Recover(testkit.Context(t), sink)
	require.NoError(t, err)
	l, err := p.Level("WO-1")
	require.NoError(t, err)
	fates := map[uint64]wire.EventType{}
	bySerial := map[string]bool{}
	for _, e := range storedEvents(t, db) {
		require.NotNil(t, e.Counter)
		if prev, dup := fates[*e.Counter]; dup {
			t.Fatalf("counter %d has two fates: %s and %s", *e.Counter, prev, e.Type)
		}
		fates[*e.Counter] = e.Type
		bySerial[e.Serial] = true
	}
	require.Len(t, fates, int(l.Taken), "one fate per position below the mark")
	for pos := range l.Taken {
		_, ok := fates[pos] // counters = positions for this grant
		require.True(t, ok, "position %d has no fate", pos)
	}
	for s := range handed {
		require.True(t, bySerial[s], "serial %s handed out without a fate", s)
	}
	resv, lo := durableMarks(t, db, "WO-1")
	t.Logf("durable reserved %d fated low %d; memory %+v", resv, lo, l)
	require.Equal(t, l.Taken, l.FatedLow)
	require.Equal(t, l.Taken, l.Counts.Commissioned+l.Counts.DecommissionedTotal()+l.Counts.Voided)
	t.Logf("%d serials handed out over 4 killed runs; %d positions accounted, %d voided", len(handed), l.Taken, l.Counts.Voided)
}
