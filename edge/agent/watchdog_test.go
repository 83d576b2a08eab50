package agent_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/simulators/line"
	plcsim "github.com/serialine/serialine/simulators/plc"
)

// awaitWatchdog waits, on the simulated PLC's change channel, until cond
// holds for its edge watchdog.
func awaitWatchdog(tb testing.TB, sim *plcsim.Sim, what string, cond func(plcsim.WatchdogState) bool) plcsim.WatchdogState {
	tb.Helper()
	deadline := time.After(testcentral.Wait)
	for {
		st, ch := sim.Watchdog()
		if cond(st) {
			return st
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("PLC watchdog: %s: still %+v", what, st)
		}
	}
}

// ackEdgeWatchdog is the operator after an agent restart: once the new
// agent's heartbeat has reached the PLC, an edge-watchdog alarm (the PLC
// stopped the line while the agent was down) is acknowledged at the
// touchscreen. It reports whether the watchdog had tripped.
func ackEdgeWatchdog(tb testing.TB, l *line.Line, addr string, restarted time.Time) bool {
	tb.Helper()
	st := awaitWatchdog(tb, l.PLC(), "the restarted agent's heartbeat", func(st plcsim.WatchdogState) bool { return st.LastBeat.After(restarted) })
	if !st.Tripped {
		return false
	}
	require.Eventually(tb, func() bool {
		for _, a := range state(tb, addr).Alarms {
			if a.Code == station.AlarmPLCEdgeWatchdog {
				return true
			}
		}
		return false
	}, testcentral.Wait, 5*time.Millisecond, "the agent shows the PLC's edge-watchdog alarm")
	code, body := newScreen(tb, addr).signIn(tb, pinAna).post(tb, "/ui/ack", nil)
	require.Equal(tb, http.StatusOK, code, string(body))
	require.Eventually(tb, func() bool { return len(state(tb, addr).Alarms) == 0 }, testcentral.Wait, 5*time.Millisecond, "the acknowledged alarm goes")
	require.False(tb, l.PLC().State().Watchdog.Tripped, "the PLC reset it")
	return true
}

// startLineWith is startLine with edit applied to the line's configuration.
func startLineWith(tb testing.TB, lineID string, units, speed int, edit func(*line.Config)) (*line.Line, line.Config) {
	tb.Helper()
	l, cfg := startLine(tb, lineID, units, speed)
	require.NoError(tb, l.Close()) // only its configuration is wanted
	edit(&cfg)
	cfg.PrintLog = filepath.Join(tb.TempDir(), "print.log")
	l, err := line.New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	require.NoError(tb, l.Start(context.Background()))
	tb.Cleanup(func() { _ = l.Close() })
	return l, cfg
}

// TestWatchdogSIGKILL: the agent runs a simulated line and is killed
// (SIGKILL, as a crash or a power cut of the line PC). Within its watchdog
// time after the agent's last heartbeat, the PLC stops the line: run
// request off, conveyor stopped, edge-watchdog raised, and no unit that
// reached the camera after the kill is counted good: the units on the
// conveyor are rejected. Restarted, the agent shows the alarm; the
// operator acknowledges it and production resumes; a clean stop then
// stands the PLC down without a trip.
func TestWatchdogSIGKILL(t *testing.T) {
	if os.Getenv(envAgentChild) != "" {
		t.Skip("in the child")
	}
	// 300 units/min: a unit takes 1.2 s from the camera to the reject
	// station, more than the watchdog time, so every unit the dead agent
	// could not judge is still on the conveyor when the PLC stops it.
	const watchdog = time.Second
	lineID := testcentral.LineID("watchdog")
	l, lcfg := startLineWith(t, lineID, 400, 300, func(c *line.Config) { c.PLC.Watchdog = watchdog })
	camToReject := time.Duration(lcfg.Travel.CameraToReject / float64(lcfg.Speed) * float64(time.Minute))
	require.Greater(t, camToReject, watchdog, "the test's geometry")
	sim := l.PLC()

	central := testcentral.New(t, testcentral.Mosquitto, lineID, testcentral.Options{})
	central.PublishOrders(testOrder())
	cfg := agentConfig(t, lineID, l, lcfg, testcentral.Mosquitto)
	cfg.PLC.HeartbeatInterval = watchdog / 5
	b, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	cfgPath := filepath.Join(t.TempDir(), "edge.yaml")
	require.NoError(t, os.WriteFile(cfgPath, b, 0o600))
	ctx := testkit.Context(t)

	run := func(c *child) {
		require.Eventually(t, func() bool {
			s := state(t, c.addr)
			return len(s.Orders) == 1 && len(s.Alarms) == 0
		}, testcentral.Wait, 5*time.Millisecond, "agent up with its order and devices")
		code, body := newScreen(t, c.addr).signIn(t, pinAna).post(t, "/ui/start", map[string]string{"order": "WO-7"})
		require.Equal(t, http.StatusOK, code, string(body))
	}
	c := startChild(t, cfgPath)
	run(c)
	awaitWatchdog(t, sim, "armed by the agent", func(st plcsim.WatchdogState) bool { return st.Armed })
	_, err = l.Wait(ctx, func(c line.Counters) bool { return c.Good >= 10 })
	require.NoError(t, err)

	// Follow the units from the kill on.
	var (
		mu             sync.Mutex
		killed         bool
		cameraAfter    = map[uint32]bool{}
		keptAfter      []uint32
		rejected       = map[uint32]bool{}
		goodAfterTrip  []uint32
		trippedAlready bool // from the trip to the restart
	)
	sim.OnEvent(func(ev plcsim.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Kind == plcsim.UnitRejected:
			rejected[ev.Unit] = true
		case !killed:
		case ev.Kind == plcsim.UnitAtStation && ev.Station == "camera": // the line simulator's camera
			cameraAfter[ev.Unit] = true
		case ev.Kind == plcsim.UnitKept:
			keptAfter = append(keptAfter, ev.Unit)
			if trippedAlready {
				goodAfterTrip = append(goodAfterTrip, ev.Unit)
			}
		}
	})
	mu.Lock()
	killed = true
	mu.Unlock()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	_ = c.cmd.Wait()
	dead := time.Now() // no heartbeat can come after this

	tripped := awaitWatchdog(t, sim, "tripped", func(st plcsim.WatchdogState) bool { return st.Tripped })
	mu.Lock()
	trippedAlready = true
	mu.Unlock()
	require.Equal(t, tripped.LastBeat.Add(watchdog), tripped.TrippedAt, "the PLC stops the line its watchdog time after the last heartbeat")
	require.False(t, tripped.LastBeat.After(dead))
	require.False(t, tripped.TrippedAt.After(dead.Add(watchdog)), "so within its watchdog time of the kill")
	st := sim.State()
	require.False(t, st.RunRequest, "run request off")
	require.False(t, st.Running, "conveyor stopped")
	require.True(t, st.Alarms.Has(plc.AlarmEdgeWatchdog))
	require.Contains(t, l.Status().PLCAlarms, "edge-watchdog")
	require.False(t, sim.Advance(1), "nothing moves")
	require.NotEmpty(t, tripped.Marked, "units were on the conveyor")
	mu.Lock()
	for _, u := range keptAfter {
		require.False(t, cameraAfter[u], "unit %d passed the camera after the kill and was counted good", u)
	}
	t.Logf("killed; PLC stopped the line %v after the agent's last heartbeat (%v after the kill); %d units counted good meanwhile (judged before the kill), %d on the conveyor to reject",
		tripped.TrippedAt.Sub(tripped.LastBeat), tripped.TrippedAt.Sub(dead), len(keptAfter), len(tripped.Marked))
	mu.Unlock()

	// The agent restarts; the operator acknowledges; production resumes
	// and the marked units are rejected.
	mu.Lock()
	trippedAlready = false
	mu.Unlock()
	restarted := time.Now()
	c = startChild(t, cfgPath)
	require.True(t, ackEdgeWatchdog(t, l, c.addr, restarted), "the PLC had stopped the line")
	run(c)
	base := l.Status().Counters
	_, err = l.Wait(ctx, func(c line.Counters) bool { return c.Good >= base.Good+10 })
	require.NoError(t, err, "production resumes")
	mu.Lock()
	for _, u := range tripped.Marked {
		require.True(t, rejected[u], "unit %d, on the conveyor at the trip, rejected", u)
	}
	require.Empty(t, goodAfterTrip, "no unit counted good between the trip and the restart")
	mu.Unlock()

	// A clean stop stands the PLC down: no second trip.
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, c.cmd.Wait(), "a clean stop")
	end := awaitWatchdog(t, sim, "stood down", func(st plcsim.WatchdogState) bool { return !st.Armed })
	require.Equal(t, 1, end.Trips)
	require.Equal(t, 1, end.StandDowns)
	require.False(t, sim.State().RunRequest)
	require.False(t, slices.Contains(l.Status().PLCAlarms, "edge-watchdog"))
}
