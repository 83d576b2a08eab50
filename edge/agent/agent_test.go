package agent

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/internal/testcentral"
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
	a, err := New(cfg, testLogger(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(testcentral.Wait):
			t.Error("agent did not stop")
		}
	})
	tctx := testCtx(t)
	select {
	case <-a.Ready():
	case <-tctx.Done():
		t.Fatal("agent not ready")
	}
	addr := a.HTTPAddr()

	// The retained order arrives; the devices come up.
	require.Eventually(t, func() bool {
		s := state(t, addr)
		return len(s.Orders) == 1 && len(s.Alarms) == 0 && s.Devices["scanner"].State == wire.DeviceOK
	}, testcentral.Wait, 5*time.Millisecond)

	code, body := api(t, addr, "POST", "/api/v1/start", map[string]string{"order": "WO-7"})
	require.Equal(t, http.StatusOK, code, string(body))
	_, err = l.Wait(tctx, func(c line.Counters) bool { return c.Good+c.Rejected == units })
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s := state(t, addr)
		return s.InFlight == 0 && s.Counts.Good+s.Counts.RejectedTotal()+s.Counts.Blank == units
	}, testcentral.Wait, 5*time.Millisecond)

	// Closing needs the line stopped.
	code, body = api(t, addr, "POST", "/api/v1/close", nil)
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Contains(t, string(body), "stop it first")
	code, _ = api(t, addr, "POST", "/api/v1/stop", nil)
	require.Equal(t, http.StatusOK, code)
	code, body = api(t, addr, "POST", "/api/v1/close", nil)
	require.Equal(t, http.StatusOK, code, string(body))

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
	printed := printLog(t, lcfg.PrintLog)
	tally := ledger(t, snap, "WO-7", printed)
	s := state(t, addr)
	require.Equal(t, s.Counts.Good, tally.Commissioned)
	require.Equal(t, s.Counts.Rejected, tally.Decommissioned)
	require.Equal(t, int(s.Counts.Printed), len(printed))
	require.Equal(t, wire.OrderStarted, snap.Events[0].Type)

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

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
