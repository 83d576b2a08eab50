package wholeline_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
)

// TestLineUnderFaults is issue #5's first check: 10,000 units (3,000 in
// `make test`) at simulated line speed with 2% injected scanner faults (1%
// no-reads, 1% wrong codes); the simulator's print log and counters, the
// agent's counts and central's order reconciliation agree exactly.
func TestLineUnderFaults(t *testing.T) {
	units := soakSize(t, 3_000, 10_000)
	s := newSystem(t)
	r := s.addLine(t, "L1", lineOpts{units: units, speed: 3_000, noRead: 0.01, wrong: 0.01})
	r.startEdge(t)
	r.run(t)
	v := r.finish(t, units)
	counts := r.state(t).Counts
	require.Positive(t, counts.RejectedTotal(), "the faults rejected units")
	s.agree(t, r, v, &counts)
}

// TestLineSurvivesSIGKILL is issue #5's crash check: the agent process is
// SIGKILLed twice in the middle of a run and restarted on the same data;
// the run finishes, no element string appears twice in the print log, and
// central's reconciliation is the agent's and balances exactly.
func TestLineSurvivesSIGKILL(t *testing.T) {
	const units = 3_000
	s := newSystem(t)
	r := s.addLine(t, "L2", lineOpts{units: units, speed: 3_000, noRead: 0.01, wrong: 0.01})
	r.startEdge(t)
	r.run(t)
	for _, at := range []int{units / 4, units / 2} {
		r.awaitUnits(t, at)
		r.edge.kill(t)
		r.startEdge(t)
		st := r.state(t)
		require.NotEqual(t, "running", string(st.State), "a restarted agent waits for the operator")
		r.run(t)
	}
	v := r.finish(t, units)
	require.Positive(t, v.Voided, "the kills left taken serials to void")
	s.agree(t, r, v, nil)
}

// TestCentralUnreachable is issue #5's offline check: central grants the
// serials and is then stopped for the whole run; the line prints from its
// pool, closes the order, and when central returns the backlog drains and
// every count agrees.
func TestCentralUnreachable(t *testing.T) {
	const units = 2_000
	s := newSystem(t)
	// One grant covers the run: the pool asks for at least 4,000.
	r := s.addLine(t, "L3", lineOpts{units: units, speed: 3_000, noRead: 0.01, wrong: 0.01,
		pool: agent.PoolConfig{ReserveBlock: 64, LowWaterMinutes: 0.1, RefillMinutes: 0.2, MinRequest: 4_000, MaxRequest: 4_000, NominalRate: 3_000, RequestRetry: time.Second}})
	r.fault(t, "line", "starved", true) // the conveyor runs, no products yet
	r.startEdge(t)
	r.run(t)
	require.Eventually(t, func() bool {
		st := r.state(t)
		return st.Pool != nil && st.Pool.Available >= units
	}, wait, 10*time.Millisecond, "the first grant is in the pool")
	s.central.stop(t)

	r.fault(t, "line", "starved", false)
	v := r.finish(t, units)
	counts := r.state(t).Counts
	st := r.state(t)
	require.Positive(t, st.Outbox.Pending, "the events wait in the outbox while central is away")
	require.EqualValues(t, units, counts.Good+counts.RejectedTotal()+counts.Blank+counts.Ghosts, "the line ran every unit without central")

	s.startCentral(t)
	s.agree(t, r, v, &counts)
}

// TestBrokerRestart is issue #5's broker check: Mosquitto is killed and
// restarted twice while the line runs; nothing is lost or duplicated at
// central.
func TestBrokerRestart(t *testing.T) {
	const units = 3_000
	s := newSystem(t)
	r := s.addLine(t, "L4", lineOpts{units: units, speed: 3_000, noRead: 0.01, wrong: 0.01})
	r.startEdge(t)
	r.run(t)
	for _, at := range []int{units / 4, units / 2} {
		r.awaitUnits(t, at)
		s.mq.Restart(t)
	}
	v := r.finish(t, units)
	counts := r.state(t).Counts
	s.agree(t, r, v, &counts)
}
