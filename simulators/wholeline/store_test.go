package wholeline_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// TestDataFolderLost is issue 15's disk-loss check: a line runs, its PC
// crashes and its data folder is lost (deleted), and the agent starts again
// on an empty folder. Central takes the new event store for a new
// incarnation and applies its events from seq 1 (none is taken for the
// earlier store's); the line raises the alarm for QA; QA resolves the
// takeover and voids the serials whose fate went with the old store; then
// every printed serial of both stores is at central with its fate and the
// order reconciles.
func TestDataFolderLost(t *testing.T) {
	const units = 3_000
	s := newSystem(t)
	r := s.addLine(t, "S1", lineOpts{units: units, speed: 3_000, noRead: 0.01})
	r.startEdge(t)
	r.run(t)
	r.awaitUnits(t, 1_000)
	before := r.state(t).Outbox
	r.edge.kill(t)
	var cfg struct {
		DataDir string `yaml:"data_dir"`
	}
	readYAML(t, r.cfgPath, &cfg)
	require.NoError(t, os.RemoveAll(cfg.DataDir))
	_, err := os.Stat(filepath.Join(cfg.DataDir, "edge.db"))
	require.True(t, os.IsNotExist(err))

	r.startEdge(t) // an empty folder: a new store, nothing to void
	require.Zero(t, r.state(t).Outbox.LastSeq, "a new store numbers from 1")
	r.run(t)
	// Central recognises the new incarnation with its first batch and says
	// what it replaced: the line stops with the alarm for QA.
	var alarm station.Alarm
	require.Eventually(t, func() bool {
		for _, a := range r.state(t).Alarms {
			if a.Code == station.AlarmStoreReplaced {
				alarm = a
				return true
			}
		}
		return false
	}, wait, 10*time.Millisecond, "the replaced-store alarm")
	require.Equal(t, station.RoleQA, alarm.AckRole)
	t.Logf("line alarm: %s", alarm.Fault)
	r.scr.signIn(t, pinAna)
	code, body := r.scr.post(t, "/ui/ack", nil)
	require.Equal(t, http.StatusForbidden, code, "an operator may not acknowledge it: %s", body)
	code, body = r.scr.post(t, "/ui/ack", map[string]string{"pin": pinQuinn})
	require.Equal(t, http.StatusOK, code, string(body))
	r.run(t)

	// Central's view of the takeover.
	var seq struct {
		Incarnation  string `json:"incarnation"`
		Incarnations []struct {
			Incarnation string `json:"incarnation"`
			Acked       uint64 `json:"acked"`
			Replaced    *struct {
				Incarnation string `json:"incarnation"`
				Acked       uint64 `json:"acked"`
			} `json:"replaced"`
		} `json:"incarnations"`
	}
	s.api.must(t, "GET", "/api/v1/lines/"+r.id+"/seq", nil, &seq)
	require.Len(t, seq.Incarnations, 2, "%+v", seq)
	old, cur := seq.Incarnations[0], seq.Incarnations[1]
	require.Equal(t, seq.Incarnation, cur.Incarnation)
	require.NotNil(t, cur.Replaced)
	require.Equal(t, old.Incarnation, cur.Replaced.Incarnation)
	require.GreaterOrEqual(t, old.Acked, before.Acked, "the old store's acknowledged events are all at central")
	require.Contains(t, alarm.Fault, old.Incarnation)

	v := r.finish(t, units)
	var o orderView
	require.Eventually(t, func() bool {
		code, _ := s.api.do(t, "GET", "/api/v1/orders/"+r.order, nil, &o)
		return code == http.StatusOK && o.State == wire.OrderStateClosed && o.ReportedCounts != nil
	}, wait, 50*time.Millisecond, "central has the line's close")
	require.Equal(t, v.Commissioned, o.ReportedCounts.Commissioned)
	// The old store's unused serials and the events it never sent went
	// with it: unaccounted until QA decides.
	require.Eventually(t, func() bool { st := r.state(t); return st.Outbox.Pending == 0 }, wait, 20*time.Millisecond)
	s.api.must(t, "GET", "/api/v1/orders/"+r.order, nil, &o)
	require.Positive(t, o.Reconciliation.Difference, "the lost store's serials are unaccounted: %+v", o.Reconciliation)
	qa := s.as(t, "qa")
	qa.must(t, "POST", "/api/v1/lines/"+r.id+"/incarnations/"+cur.Incarnation+"/resolve", map[string]string{"note": "PC disk lost at 10:42; packs on the conveyor pulled"}, nil)
	var voided struct {
		Count uint64 `json:"count"`
	}
	qa.must(t, "POST", "/api/v1/orders/"+r.order+"/void-unaccounted", map[string]string{"reason": "serials of the lost event store of line S1"}, &voided)
	require.EqualValues(t, o.Reconciliation.Difference, voided.Count)
	s.api.must(t, "GET", "/api/v1/orders/"+r.order, nil, &o)
	require.True(t, o.Reconciliation.Balanced, "the order reconciles: %+v", o.Reconciliation)
	// The line's own reconciliation covers its new store only, so central
	// says the line's report differs from its own: true, and for QA to see.
	require.NotEmpty(t, o.Flags)

	// Every label printed, by either store, is a unit central knows, once.
	fates := s.unitFates(t, r.order)
	seen := map[string]bool{}
	var commissioned uint64
	for _, data := range r.printed(t) {
		require.False(t, seen[data], "%s printed twice", data)
		seen[data] = true
		es, err := gs1.Parse(data)
		require.NoError(t, err)
		sn, _ := es.Get("21")
		f, ok := fates[sn]
		require.True(t, ok, "printed serial %s is unknown to central", sn)
		if f == "commissioned" {
			commissioned++
		}
	}
	require.Equal(t, o.Reconciliation.Commissioned, commissioned, "central's commissioned units were all printed")
	t.Logf("old incarnation acked %d; %d serials voided by QA; %d labels, %d commissioned; flags %q", old.Acked, voided.Count, len(seen), commissioned, o.Flags)
}

// readYAML reads a YAML file into v.
func readYAML(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, v))
}
