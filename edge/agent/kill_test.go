package agent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/ui"
	"github.com/serialine/serialine/internal/testkit"
	"gopkg.in/yaml.v3"

	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/simulators/line"
)

// envAgentChild makes the test binary run the agent as a child process,
// with the configuration (YAML, as serialine-edge run reads it) in that file.
const envAgentChild = "SERIALINE_EDGE_AGENT_CHILD"

// TestAgentChild is the process TestSIGKILL kills: the agent, as
// serialine-edge run would run it, stopping cleanly on SIGTERM.
func TestAgentChild(t *testing.T) {
	path := os.Getenv(envAgentChild)
	if path == "" {
		t.Skip("helper process for TestSIGKILL")
	}
	cfg, err := agent.LoadConfig(path)
	require.NoError(t, err)
	// Straight to stderr (the parent's): a killed test never prints what
	// it logged through t.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := agent.New(cfg, log)
	require.NoError(t, err)
	_, err = ui.Mount(a, cfg, log) // as serialine-edge run does
	require.NoError(t, err)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
		fmt.Printf("READY %s\n", a.HTTPAddr())
	case err := <-done:
		t.Fatalf("agent: %v", err)
	}
	require.NoError(t, <-done)
}

// child is one run of the agent process.
type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, cfgPath string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAgentChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envAgentChild+"="+cfgPath)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- addr
			}
		}
	}()
	select {
	case c.addr = <-ready:
	case <-time.After(testcentral.Wait):
		_ = cmd.Process.Kill()
		t.Fatal("agent child not ready")
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return c
}

// TestSIGKILL runs the agent as a child process against a simulated line
// and kills it with SIGKILL twice at random points of the run; each time it
// is restarted on the same data folder and the line resumed. At the end
// the order is closed, and across all runs: no element string was printed
// twice, and every serial central granted ended as exactly one of
// commissioned, decommissioned, voided (the ones a kill left unaccounted)
// or returned unused — with a balanced reconciliation.
func TestSIGKILL(t *testing.T) {
	if os.Getenv(envAgentChild) != "" {
		t.Skip("in the child")
	}
	const units = 600
	lineID := testcentral.LineID("kill")
	l, lcfg := startLine(t, lineID, units, 3000)
	central := testcentral.New(t, testcentral.Mosquitto, lineID, testcentral.Options{})
	central.PublishOrders(testOrder())
	cfg := agentConfig(t, lineID, l, lcfg, testcentral.Mosquitto)
	b, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	cfgPath := filepath.Join(t.TempDir(), "edge.yaml")
	require.NoError(t, os.WriteFile(cfgPath, b, 0o600))
	ctx := testkit.Context(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))

	start := func(c *child) {
		require.Eventually(t, func() bool {
			s := state(t, c.addr)
			return len(s.Orders) == 1 && len(s.Alarms) == 0
		}, testcentral.Wait, 5*time.Millisecond, "agent up with its order and devices")
		code, body := newScreen(t, c.addr).signIn(t, pinAna).post(t, "/ui/start", map[string]string{"order": "WO-7"})
		require.Equal(t, http.StatusOK, code, string(body))
	}
	c := startChild(t, cfgPath)
	start(c)
	var voided uint64
	for kill := range 2 {
		at := uint64(60 + rng.IntN(150))
		base := l.Status().Counters.Printed
		_, err := l.Wait(ctx, func(c line.Counters) bool { return c.Printed >= base+at })
		require.NoError(t, err)
		require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
		_ = c.cmd.Wait()
		t.Logf("kill %d after %d more labels", kill+1, at)
		central.WaitFor(ctx, "the last will", func(s testcentral.Snapshot) bool {
			return len(s.Statuses) > 0 && s.Statuses[len(s.Statuses)-1].State == wire.LineOffline
		})
		restarted := time.Now()
		c = startChild(t, cfgPath)
		var s agent.State
		if ackEdgeWatchdog(t, l, c.addr, restarted) {
			// The PLC's watchdog stopped the line before the agent was back;
			// that acknowledgement took the unclean-restart alarm with it.
			t.Logf("the PLC's watchdog stopped the line before the agent was back")
			s = state(t, c.addr)
		} else {
			// The restart voids what the kill left unaccounted, and says so: the
			// operator acknowledges before starting again.
			require.Eventually(t, func() bool { s = state(t, c.addr); return len(s.Alarms) > 0 && s.State == wire.LineAlarm }, testcentral.Wait, 5*time.Millisecond)
			require.Len(t, s.Alarms, 1, "%+v", s.Alarms)
			require.Equal(t, station.AlarmUncleanRestart, s.Alarms[0].Code)
			require.Regexp(t, `^[1-9][0-9]* serials voided`, s.Alarms[0].Fault)
			code, body := newScreen(t, c.addr).signIn(t, pinAna).post(t, "/ui/ack", nil)
			require.Equal(t, http.StatusOK, code, string(body))
		}
		start(c)
		voided = s.Outbox.LastSeq // for the log
	}
	_, err = l.Wait(ctx, func(c line.Counters) bool { return c.Good+c.Rejected == units })
	require.NoError(t, err)
	require.Eventually(t, func() bool { return state(t, c.addr).InFlight == 0 }, testcentral.Wait, 5*time.Millisecond)
	scr := newScreen(t, c.addr).signIn(t, pinAna)
	code, body := scr.post(t, "/ui/stop", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = scr.post(t, "/ui/close", map[string]bool{"confirm": true})
	require.Equal(t, http.StatusOK, code, string(body))
	var closed ui.ReconciliationView
	require.NoError(t, json.Unmarshal(body, &closed))
	require.True(t, closed.Balanced, "%+v", closed)
	snap := central.WaitFor(ctx, "the order closed and acked", func(s testcentral.Snapshot) bool {
		n := len(s.Events)
		return n > 0 && s.Events[n-1].Type == wire.OrderClosed && s.Acked == s.Events[n-1].Seq
	})
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, c.cmd.Wait(), "a clean stop")
	require.NoError(t, l.Close())

	printed := testkit.PrintLog(t, lcfg.PrintLog, map[string]string{"715": "12345-678-90"})
	tally := ledger(t, snap, "WO-7", printed)
	var decommissioned uint64
	for _, r := range closed.Decommissioned {
		require.Equal(t, tally.Decommissioned[wire.Reason(r.Reason)], r.Count, "decommissioned %s", r.Reason)
		decommissioned += r.Count
	}
	require.Equal(t, tally.DecommissionedTotal(), decommissioned)
	require.Equal(t, "WO-7", closed.Order)
	require.Equal(t, []uint64{tally.Granted, tally.Commissioned, tally.Voided, tally.ReturnedUnused},
		[]uint64{closed.Granted, closed.Commissioned, closed.Voided, closed.ReturnedUnused}, "the screen shows the reconciliation central counts")
	require.Positive(t, tally.Voided, "the kills left serials to void")
	t.Logf("granted %d: commissioned %d, decommissioned %v, voided %d, returned %d; %d labels printed; %d events (last seq before the final run %d)",
		tally.Granted, tally.Commissioned, tally.Decommissioned, tally.Voided, tally.ReturnedUnused, len(printed), len(snap.Events), voided)
}
