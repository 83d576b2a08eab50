package agent_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/edge/ui"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/simulators/line"
)

// TestAgentEndToEnd runs the agent against a simulated line and the
// project's Mosquitto, with a small central answering serial requests and
// acking events: the order comes from the retained orders topic, serials
// are requested and granted as the line runs, every event reaches central,
// and closing the order returns the unused serials with a balanced
// reconciliation. /metrics and the retained status follow.
func TestAgentEndToEnd(t *testing.T) {
	const units = 300
	lineID := testcentral.LineID("agent")
	l, lcfg := startLine(t, lineID, units, 3000)
	central := testcentral.New(t, testcentral.Mosquitto, lineID, testcentral.Options{})
	central.PublishOrders(testOrder())

	cfg := agentConfig(t, lineID, l, lcfg, testcentral.Mosquitto)
	a := runAgent(t, cfg)
	tctx := testkit.Context(t)
	addr := a.HTTPAddr()

	// The retained order arrives; the devices come up.
	require.Eventually(t, func() bool {
		s := state(t, addr)
		return len(s.Orders) == 1 && len(s.Alarms) == 0 && s.Devices["scanner"].State == wire.DeviceOK
	}, testcentral.Wait, 5*time.Millisecond)

	// The operator acts at the touchscreen, signed in with her PIN.
	scr := newScreen(t, addr).signIn(t, pinAna)
	code, body := scr.post(t, "/ui/start", map[string]string{"order": "WO-7"})
	require.Equal(t, http.StatusOK, code, string(body))
	_, err := l.Wait(tctx, func(c line.Counters) bool { return c.Good+c.Rejected == units })
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s := state(t, addr)
		return s.InFlight == 0 && s.Counts.Good+s.Counts.RejectedTotal()+s.Counts.Blank == units
	}, testcentral.Wait, 5*time.Millisecond)

	// Closing needs the line stopped.
	code, body = scr.post(t, "/ui/close", map[string]bool{"confirm": true})
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Contains(t, string(body), "stop it first")
	code, body = scr.post(t, "/ui/stop", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = scr.post(t, "/ui/close", map[string]bool{"confirm": true})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Empty(t, state(t, addr).Orders, "the closed order is no longer offered, though central still lists it released")

	snap := central.WaitFor(tctx, "the order closed and everything acked", func(s testcentral.Snapshot) bool {
		n := len(s.Events)
		return n > 0 && s.Events[n-1].Type == wire.OrderClosed && s.Acked == s.Events[n-1].Seq
	})
	require.Eventually(t, func() bool { return state(t, addr).Outbox.Pending == 0 }, testcentral.Wait, 5*time.Millisecond)
	require.GreaterOrEqual(t, len(snap.Grants), 2, "the pool refilled while the line ran")
	ids := map[string]bool{}
	for _, r := range snap.Requests {
		ids[r.RequestID] = true
	}
	require.Len(t, snap.Grants, len(ids), "one grant per request id, however often it was sent")

	require.NoError(t, l.Close())
	printed := testkit.PrintLog(t, lcfg.PrintLog, map[string]string{"715": "12345-678-90"})
	tally := ledger(t, snap, "WO-7", printed)
	s := state(t, addr)
	require.Equal(t, s.Counts.Good, tally.Commissioned)
	require.Equal(t, s.Counts.Rejected, tally.Decommissioned)
	require.Equal(t, int(s.Counts.Printed), len(printed))
	require.Equal(t, wire.OrderStarted, snap.Events[0].Type)
	closedEv := snap.Events[len(snap.Events)-1]
	require.Equal(t, "Ana", closedEv.Operator, "the signed-in operator closed the order")

	// The retained status tells central how the line is.
	st := central.WaitFor(tctx, "a status", func(s testcentral.Snapshot) bool { return len(s.Statuses) > 0 })
	last := st.Statuses[len(st.Statuses)-1]
	require.Equal(t, lineID, last.Line)
	require.NoError(t, last.Validate())

	// /metrics is Prometheus text: HELP and TYPE before each family.
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	var b strings.Builder
	_, err = io.Copy(&b, resp.Body)
	require.NoError(t, err)
	text := b.String()
	sample := regexp.MustCompile(`^([a-z_]+)\{line="[^"]*"(,[a-z_]+="[^"]*")*\} [-+0-9.eE]+$`)
	typed := map[string]bool{}
	for _, ln := range strings.Split(strings.TrimSpace(text), "\n") {
		switch {
		case strings.HasPrefix(ln, "# HELP "):
		case strings.HasPrefix(ln, "# TYPE "):
			f := strings.Fields(ln)
			require.Len(t, f, 4, ln)
			require.Contains(t, []string{"counter", "gauge"}, f[3])
			typed[f[2]] = true
		default:
			m := sample.FindStringSubmatch(ln)
			require.NotNil(t, m, "not a sample line: %q", ln)
			require.True(t, typed[m[1]], "sample before its TYPE: %q", ln)
		}
	}
	require.Contains(t, text, `serialine_edge_units_total{line="`+lineID+`",outcome="commissioned",reason=""} `+itoa(s.Counts.Good))
	require.Contains(t, text, `serialine_edge_outbox_pending{line="`+lineID+`"} 0`)
	require.Contains(t, text, `serialine_edge_mqtt_connected{line="`+lineID+`"} 1`)
}

// TestScreenNeedsSignIn: with operators configured, the agent serves the
// touchscreen at /, refuses a line action without a sign-in (and the line
// stays stopped), and no longer has an unauthenticated action API; the
// same start, signed in, runs the line.
func TestScreenNeedsSignIn(t *testing.T) {
	lineID := testcentral.LineID("screen")
	l, lcfg := startLine(t, lineID, 50, 3000)
	central := testcentral.New(t, testcentral.Mosquitto, lineID, testcentral.Options{})
	central.PublishOrders(testOrder())
	cfg := agentConfig(t, lineID, l, lcfg, testcentral.Mosquitto)
	h, err := ui.HashPIN("246810", 1000)
	require.NoError(t, err)
	cfg.Operators = append(cfg.Operators, agent.OperatorConfig{Name: "Sam", PINHash: h, Role: station.RoleSupervisor})
	a := runAgent(t, cfg)
	addr := a.HTTPAddr()
	require.Eventually(t, func() bool {
		s := state(t, addr)
		return len(s.Orders) == 1 && len(s.Alarms) == 0
	}, testcentral.Wait, 5*time.Millisecond, "the order arrives and the devices are up")

	resp, err := http.Get("http://" + addr + "/")
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, string(page), "<title>Serialine · "+lineID+"</title>")

	scr := newScreen(t, addr)
	code, body := scr.post(t, "/ui/start", map[string]string{"order": "WO-7"})
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Contains(t, string(body), `"sign_in":true`)
	code, body = scr.post(t, "/ui/signin", map[string]string{"pin": "0000"})
	require.Equal(t, http.StatusUnauthorized, code, string(body))
	code, _ = scr.post(t, "/ui/start", map[string]string{"order": "WO-7"})
	require.Equal(t, http.StatusForbidden, code, "a wrong PIN signs nobody in")
	for _, p := range []string{"/api/v1/start", "/api/v1/stop", "/api/v1/close"} {
		code, _ = api(t, addr, "POST", p, map[string]string{"order": "WO-7"})
		require.Equal(t, http.StatusNotFound, code, "%s: no unauthenticated line actions", p)
	}
	// Stop and Pause need no sign-in: a stop is never locked out.
	for _, p := range []string{"/ui/stop", "/ui/pause"} {
		code, body = scr.post(t, p, nil)
		require.Equal(t, http.StatusOK, code, "%s: %s", p, body)
	}
	s := state(t, addr)
	require.Equal(t, wire.LineStopped, s.State, "nothing started")
	require.Nil(t, s.Order)
	require.Zero(t, l.Status().Counters.Printed)

	// The configured role rides with the sign-in.
	code, body = newScreen(t, addr).post(t, "/ui/signin", map[string]string{"pin": "246810"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{"operator":"Sam","role":"supervisor"}`, string(body))

	// Signed in, the same request runs the line.
	scr.signIn(t, pinAna)
	code, body = scr.post(t, "/ui/start", map[string]string{"order": "WO-7"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Eventually(t, func() bool { return state(t, addr).State == wire.LineRunning }, testcentral.Wait, 5*time.Millisecond)
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
