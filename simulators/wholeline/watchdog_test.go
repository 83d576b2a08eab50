package wholeline_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/station"
	plcsim "github.com/serialine/serialine/simulators/plc"
)

// ackEdgeWatchdog is the operator after an agent (re)start: once the new
// agent's heartbeat has reached the simulated PLC, an edge-watchdog alarm
// (the PLC stopped the line while the agent was down longer than its
// watchdog time) is acknowledged at the touchscreen.
func (r *rig) ackEdgeWatchdog(t testing.TB, started time.Time) {
	t.Helper()
	deadline := time.After(wait)
	var st plcsim.WatchdogState
	for {
		var ch <-chan struct{}
		st, ch = r.sim.PLC().Watchdog()
		if st.LastBeat.After(started) {
			break
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("line %s: the agent's heartbeat never reached the PLC: %+v", r.id, st)
		}
	}
	if !st.Tripped {
		return
	}
	t.Logf("line %s: the PLC's watchdog stopped the line while the agent was down; acknowledging", r.id)
	require.Eventually(t, func() bool {
		for _, a := range r.state(t).Alarms {
			if a.Code == station.AlarmPLCEdgeWatchdog {
				return true
			}
		}
		return false
	}, wait, 10*time.Millisecond, "line %s: the agent shows the PLC's edge-watchdog alarm", r.id)
	r.scr.signIn(t, pinAna)
	code, body := r.scr.post(t, "/ui/ack", nil)
	require.Equal(t, http.StatusOK, code, string(body))
}
