package wholeline_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// sharedMosquitto is the machine's Mosquitto (DESIGN.md, "Services"): an
// external broker as a plant runs one, shared with other tests, so each
// test uses topics of its own (unique line ids) and a share group of its own.
const sharedMosquitto = "127.0.0.1:1883"

// newReplicas starts n central replicas on one fresh PostgreSQL database,
// all behind the shared Mosquitto in one share group of the test's own;
// the system's API is the first replica's.
func newReplicas(t *testing.T, n int) (*system, []*proc) {
	t.Helper()
	c, err := net.DialTimeout("tcp", sharedMosquitto, 5*time.Second)
	if err != nil {
		t.Fatalf("the machine's Mosquitto at %s is not running (DESIGN.md: mosquitto -d -c /etc/mosquitto/mosquitto.conf): %v", sharedMosquitto, err)
	}
	_ = c.Close()
	s := &system{dsn: storetest.PostgresDSN(t), token: adminToken(t)}
	cfgPath := filepath.Join(t.TempDir(), "central.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("mqtt:\n  share_group: central-"+randomHex(t, 6)+"\n"), 0o600))
	var reps []*proc
	for i := range n {
		p := newProc(t, fmt.Sprintf("central-%d", i+1), "serialine-central", "central serving",
			[]string{"SERIALINE_ADMIN_TOKEN=" + s.token, "SERIALINE_MQTT_PASSWORD=x"},
			"serve", "--config", cfgPath, "--db", s.dsn, "--mqtt", "tcp://"+sharedMosquitto, "--http", "127.0.0.1:0")
		p.start(t)
		reps = append(reps, p)
	}
	s.central = reps[0]
	s.api = replicaAPI(t, s, reps[0])
	require.Eventually(t, func() bool {
		code, _ := s.api.do(t, "GET", "/api/v1/me", nil, nil)
		return code == http.StatusOK
	}, wait, 20*time.Millisecond, "central's API answers")
	product := map[string]any{"name": "Paracetamol 500 mg tablets", "form": "tablet", "strength": "500 mg", "pack_size": 20,
		"company_prefix_len": 7, "ndc": ndc, "markets": []string{"us-dscsa"}, "planned_volume": 10_000_000,
		"scheme": map[string]any{"kind": "randomized", "length": 12, "alphabet": "numeric"}}
	s.api.must(t, "PUT", "/api/v1/products/"+gtin, product, nil)
	return s, reps
}

func replicaAPI(t testing.TB, s *system, p *proc) *client {
	return &client{base: "http://" + p.Addr(), token: s.token, hc: &http.Client{Timeout: 30 * time.Second}}
}

// clearRetained removes the retained messages of the test's lines from
// the shared broker, so that they do not pile up there.
func clearRetained(t *testing.T, lines ...string) {
	t.Cleanup(func() {
		opts := mqtt.NewClientOptions().AddBroker("tcp://" + sharedMosquitto).SetClientID("cleanup-" + randomHex(t, 4)).SetConnectTimeout(5 * time.Second)
		c := mqtt.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Logf("retained messages not cleared: %v", tok.Error())
			return
		}
		defer c.Disconnect(250)
		for _, id := range lines {
			for _, kind := range []string{wire.KindOrders, wire.KindStatus} {
				topic, err := wire.Topic(id, kind)
				require.NoError(t, err)
				c.Publish(topic, 1, true, []byte{}).WaitTimeout(5 * time.Second)
			}
		}
	})
}

// applied is a replica's count of events it applied (its /metrics).
func applied(t testing.TB, s *system, p *proc) int {
	t.Helper()
	v := (&system{api: replicaAPI(t, s, p)}).metric(t, `serialine_ingest_events_total{outcome="applied"}`)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseFloat(v, 64)
	require.NoError(t, err)
	return int(n)
}

// TestReplicas is issue 17's replica check: two central replicas on one
// PostgreSQL database behind an external Mosquitto, sharing the lines'
// feed through the shared subscription $share/{group}/...; two lines
// produce; both replicas apply events and serve the API; one is killed
// with SIGKILL mid-run. The survivor carries on alone: the lines finish
// and close their orders, every record agrees exactly (simulator, agent,
// central: nothing lost), and no unit was applied twice.
func TestReplicas(t *testing.T) {
	const units = 2_000
	s, reps := newReplicas(t, 2)
	survivor, victim := reps[0], reps[1]
	suffix := randomHex(t, 3)
	var rigs []*rig
	for _, name := range []string{"A", "B"} {
		r := s.addLine(t, "RP"+name+suffix, lineOpts{units: units, speed: 3_000, noRead: 0.01, broker: "tcp://" + sharedMosquitto})
		rigs = append(rigs, r)
	}
	clearRetained(t, rigs[0].id, rigs[1].id)
	for _, r := range rigs {
		r.startEdge(t)
		r.run(t)
	}

	// Before the kill: both replicas take a share of the events and both
	// serve the API (the order as the lines are making it).
	for _, r := range rigs {
		r.awaitUnits(t, units/3)
	}
	require.Eventually(t, func() bool { return applied(t, s, survivor) > 0 && applied(t, s, victim) > 0 }, wait, 50*time.Millisecond,
		"both replicas apply events from the shared subscription")
	for _, p := range reps {
		var o orderView
		replicaAPI(t, s, p).must(t, "GET", "/api/v1/orders/"+rigs[0].order, nil, &o)
		require.Positive(t, o.Reconciliation.Commissioned, "replica %s serves the order", p.name)
	}
	t.Logf("before the kill: %s applied %d events, %s %d", survivor.name, applied(t, s, survivor), victim.name, applied(t, s, victim))

	victim.kill(t) // SIGKILL, mid-run
	total := 0
	code, _ := replicaAPI(t, s, victim).do(t, "GET", "/api/v1/me", nil, nil)
	require.Zero(t, code, "the killed replica answers no more")
	atKill := applied(t, s, survivor)

	// The survivor carries on alone: each line finishes and closes its
	// order; central's records agree with the simulator's and the agent's.
	for _, r := range rigs {
		v := r.finish(t, units)
		counts := r.state(t).Counts
		s.agree(t, r, v, &counts)
	}
	require.Greater(t, applied(t, s, survivor), atKill, "the survivor applied the events after the kill")
	s.api.must(t, "GET", "/api/v1/me", nil, nil)

	// Nothing applied twice: one commissioning or decommissioning per unit,
	// one applied row per event id.
	db := s.db(t)
	for _, r := range rigs {
		var twice int
		require.NoError(t, db.QueryRow(testkit.ContextFor(t, wait), `SELECT count(*) FROM (SELECT serial FROM unit_history WHERE line_id = $1
			AND type IN ('commissioned', 'decommissioned') GROUP BY gtin, serial HAVING count(*) > 1) d`, r.id).Scan(&twice))
		require.Zero(t, twice, "line %s: no unit applied twice", r.id)
		var events, distinct int
		require.NoError(t, db.QueryRow(testkit.ContextFor(t, wait), "SELECT count(*), count(DISTINCT event_id) FROM applied_events WHERE line_id = $1", r.id).Scan(&events, &distinct))
		require.Equal(t, events, distinct)
		total += events
	}
	t.Logf("%d events of the two lines applied; the survivor applied %d in all, and took %s resent events for duplicates",
		total, applied(t, s, survivor), s.metric(t, `serialine_ingest_events_total{outcome="duplicate"}`))
}
