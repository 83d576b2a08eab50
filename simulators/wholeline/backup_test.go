package wholeline_test

import (
	"bufio"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // the driver central uses: reads its file as it is

	"github.com/serialine/serialine/central/broker/mosquittotest"
	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
)

// newSQLiteSystem is newSystem with central on a SQLite file (its default
// database), the file a backup is taken of. gapAlert is ingest.gap_alert.
func newSQLiteSystem(t *testing.T, dbPath string, gapAlert time.Duration) *system {
	t.Helper()
	svc := randomHex(t, 16)
	s := &system{svc: svc, mq: mosquittotest.Start(t, map[string]string{"central": svc}), dsn: "sqlite:" + dbPath, token: adminToken(t)}
	cfgPath := filepath.Join(t.TempDir(), "central.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf("ingest:\n  gap_alert: %s\n  gap_check: 500ms\n", gapAlert)), 0o600))
	s.central = newProc(t, "central", "serialine-central", "central serving",
		[]string{"SERIALINE_ADMIN_TOKEN=" + s.token, "SERIALINE_MQTT_PASSWORD=" + svc},
		"serve", "--config", cfgPath, "--db", s.dsn, "--mqtt", s.mq.URL(), "--http", "127.0.0.1:0")
	s.startCentral(t)
	product := map[string]any{"name": "Paracetamol 500 mg tablets", "form": "tablet", "strength": "500 mg", "pack_size": 20,
		"company_prefix_len": 7, "ndc": ndc, "markets": []string{"us-dscsa"}, "planned_volume": 10_000_000,
		"scheme": map[string]any{"kind": "randomized", "length": 12, "alphabet": "numeric"}}
	s.api.must(t, "PUT", "/api/v1/products/"+gtin, product, nil)
	return s
}

// centralCmd runs the serialine-central binary (backup, restore, check)
// and returns its exit code and output.
func centralCmd(t testing.TB, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "serialine-central"), args...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	require.NoError(t, err, string(out))
	return 0, string(out)
}

// sqliteQuery runs one query on a SQLite file, read-only, and returns
// its rows as strings.
func sqliteQuery(t testing.TB, path, query string, args ...any) [][]string {
	t.Helper()
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Opaque: path}).String()+"?mode=ro&_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.QueryContext(testkit.ContextFor(t, wait), query, args...)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	require.NoError(t, rows.Err())
	return out
}

// lineSeqOut is central's GET /api/v1/lines/{id}/seq (the current
// incarnation).
type lineSeqOut struct {
	Incarnation string   `json:"incarnation"`
	Acked       uint64   `json:"acked"`
	Held        []uint64 `json:"held"`
	Gaps        []struct {
		From uint64 `json:"from"`
		To   uint64 `json:"to"`
	} `json:"gaps"`
}

// metric returns the value of one sample of central's /metrics ("" if absent).
func (s *system) metric(t testing.TB, sample string) string {
	t.Helper()
	resp, err := http.Get(s.api.base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			return v
		}
	}
	return ""
}

// restoreRun is what backupRestoreRun leaves for the checks: central
// restored and running again, the line stopped after its last unit.
type restoreRun struct {
	s                  *system
	r                  *rig
	dbPath             string
	atBackup           uint64            // the line's seq in the backup
	edgeAcked, lastSeq uint64            // the edge's last ack from the old central; its last seq
	seqOf              map[string]uint64 // each unit's event seq at central when it stopped
	centralAtStop      uint64            // the line's seq at central when it stopped
}

// backupRestoreRun: central on SQLite, a line producing; a backup with
// `serialine-central backup` mid-production; more production, acknowledged;
// central stopped, the backup restored with `serialine-central restore`
// (and checked), central started again; the line finishes its units and
// stops. keepAcked is the edge's outbox.keep_acked.
func backupRestoreRun(t *testing.T, keepAcked uint64) restoreRun {
	t.Helper()
	const units = 2_000
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "central.db")
	s := newSQLiteSystem(t, dbPath, 2*time.Second)
	// One grant covers the run, before the backup: a restore also forgets
	// the grants made after the backup (see docs/operations.md).
	r := s.addLine(t, "R"+randomHex(t, 3), lineOpts{units: units, speed: 3_000, noRead: 0.01, keepAcked: keepAcked,
		pool: agent.PoolConfig{ReserveBlock: 64, LowWaterMinutes: 0.1, RefillMinutes: 0.2, MinRequest: 4_000, MaxRequest: 4_000, NominalRate: 3_000, RequestRetry: time.Second}})
	r.startEdge(t)
	r.run(t)

	// The backup, mid-production, with the real command.
	r.awaitUnits(t, units/4)
	backup := filepath.Join(t.TempDir(), "central-backup.db")
	code, out := centralCmd(t, "backup", "--db", s.dsn, "-o", backup)
	require.Equal(t, 0, code, out)
	fi, err := os.Stat(backup)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	backupSeq := sqliteQuery(t, backup, "SELECT applied_seq FROM line_incarnations WHERE line_id = $1", r.id)
	require.Len(t, backupSeq, 1)
	var atBackup uint64
	_, err = fmt.Sscan(backupSeq[0][0], &atBackup)
	require.NoError(t, err)
	require.Positive(t, atBackup, "the backup holds some of the line's events")

	// More production, acknowledged by central, then central stops.
	r.awaitUnits(t, units/2)
	require.Eventually(t, func() bool { return r.state(t).Outbox.Acked > atBackup+100 }, wait, 20*time.Millisecond,
		"central acknowledges the events after the backup")
	s.central.stop(t)
	// What central had at its stop: each unit's event seq.
	seqOf := map[string]uint64{}
	for _, row := range sqliteQuery(t, dbPath, "SELECT serial, seq FROM unit_history WHERE line_id = $1 AND type IN ('commissioned', 'decommissioned')", r.id) {
		var q uint64
		_, err := fmt.Sscan(row[1], &q)
		require.NoError(t, err)
		seqOf[row[0]] = q
	}

	atStop := sqliteQuery(t, dbPath, "SELECT applied_seq FROM line_incarnations WHERE line_id = $1", r.id)
	require.Len(t, atStop, 1)
	var centralAtStop uint64
	_, err = fmt.Sscan(atStop[0][0], &centralAtStop)
	require.NoError(t, err)

	// Restore: refused without --force (the database exists), then done.
	code, out = centralCmd(t, "restore", "--db", s.dsn, "-i", backup)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "give --force")
	code, out = centralCmd(t, "restore", "--db", s.dsn, "-i", backup, "--force")
	require.Equal(t, 0, code, out)
	code, out = centralCmd(t, "check", "--db", s.dsn)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "integrity: ok")

	// The line ran on meanwhile; central comes back with the backup's
	// records and the line resends what it has not had acknowledged.
	s.startCentral(t)
	r.awaitUnits(t, units)
	require.Eventually(t, func() bool { return r.state(t).InFlight == 0 }, wait, 10*time.Millisecond)
	r.scr.signIn(t, pinAna)
	code, body := r.scr.post(t, "/ui/stop", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	// The edge trims what central acknowledged in its next write: by now
	// its last ack from the central that stopped is final (a lower ack of
	// the restored one changes nothing).
	st := r.state(t)
	lastSeq, edgeAcked := st.Outbox.LastSeq, st.Outbox.Acked
	require.Greater(t, edgeAcked, atBackup+100)
	return restoreRun{s: s, r: r, dbPath: dbPath, atBackup: atBackup, edgeAcked: edgeAcked, lastSeq: lastSeq, seqOf: seqOf, centralAtStop: centralAtStop}
}

// TestBackupRestore is issue 17's backup check (backupRestoreRun, the
// edge keeping its last 100,000 acknowledged events, the agent's default):
// the restored central lacks the events it acknowledged after the backup
// and names them in its acks (wire.Ack.Missing); the line still keeps
// them and sends them again: the gap fills by itself. Every printed pack
// is then at central, once.
func TestBackupRestore(t *testing.T) {
	x := backupRestoreRun(t, agent.DefaultConfig().Outbox.KeepAcked)
	s, r := x.s, x.r
	require.Eventually(t, func() bool { st := r.state(t); return st.Outbox.Pending == 0 && st.Outbox.Acked == x.lastSeq }, wait, 20*time.Millisecond,
		"central acknowledges the line's last event: the gap filled")
	var seq lineSeqOut
	s.api.must(t, "GET", "/api/v1/lines/"+r.id+"/seq", nil, &seq)
	require.Equal(t, x.lastSeq, seq.Acked)
	require.Empty(t, seq.Gaps)
	require.Empty(t, seq.Held)
	log, err := os.ReadFile(r.edge.logPath)
	require.NoError(t, err)
	require.Contains(t, string(log), "central lacks acknowledged events (restored from a backup?): sending them again",
		"the line sent acknowledged events again")

	fates := map[string]string{}
	for _, row := range sqliteQuery(t, x.dbPath, "SELECT serial, state FROM units WHERE order_id = $1", r.order) {
		fates[row[0]] = row[1]
	}
	twice := sqliteQuery(t, x.dbPath, "SELECT serial, count(*) FROM unit_history WHERE line_id = $1 AND type IN ('commissioned', 'decommissioned') GROUP BY gtin, serial HAVING count(*) > 1", r.id)
	require.Empty(t, twice, "no unit applied twice")
	printed := r.printed(t)
	refilled := 0
	for _, data := range printed {
		es, err := gs1.Parse(data)
		require.NoError(t, err)
		sn, _ := es.Get("21")
		f := fates[sn]
		require.Contains(t, []string{"commissioned", "decommissioned"}, f, "printed serial %s is at central", sn)
		if q := x.seqOf[sn]; q > x.atBackup && q <= x.centralAtStop {
			refilled++
		}
	}
	require.Positive(t, refilled)
	counts := r.state(t).Counts
	var commissioned uint64
	for _, f := range fates {
		if f == "commissioned" {
			commissioned++
		}
	}
	require.Equal(t, counts.Good, commissioned, "the agent's good packs are central's commissioned")
	t.Logf("backup at seq %d; central had %d at its stop; %d labels, %d of them in between (sent again after the restore), last seq %d",
		x.atBackup, x.centralAtStop, len(printed), refilled, x.lastSeq)
}

// TestBackupRestoreBeyondKeptEvents is backupRestoreRun with an edge that
// keeps no acknowledged event (outbox.keep_acked 0: as when the backup is
// older than what the line keeps). The events central acknowledged
// between the backup and the stop are gone from both sides: the resend
// cannot fill that gap. Central flags it exactly (the seq API's gap from
// the backup's seq to the edge's last ack, the gap metric, the events
// behind it held, nothing applied); QA's skip-gap, the documented
// procedure, then applies everything held; the units lost are exactly
// those of the gap's events, and every other printed pack is at central,
// none applied twice.
func TestBackupRestoreBeyondKeptEvents(t *testing.T) {
	x := backupRestoreRun(t, 0)
	s, r := x.s, x.r
	atBackup, edgeAcked, lastSeq, seqOf, dbPath := x.atBackup, x.edgeAcked, x.lastSeq, x.seqOf, x.dbPath

	// Central flags the gap: from the backup's seq to the edge's last ack,
	// everything after it held, none of it applied, the gap metric set.
	var seq lineSeqOut
	require.Eventually(t, func() bool {
		s.api.must(t, "GET", "/api/v1/lines/"+r.id+"/seq", nil, &seq)
		return len(seq.Held) > 0 && seq.Held[len(seq.Held)-1] == lastSeq
	}, wait, 50*time.Millisecond, "central holds every event the line resent")
	require.Equal(t, atBackup, seq.Acked, "central restarts from the backup's seq: %+v", seq)
	require.Len(t, seq.Gaps, 1, "%+v", seq)
	require.Equal(t, atBackup+1, seq.Gaps[0].From)
	require.Equal(t, edgeAcked, seq.Gaps[0].To, "the gap ends at the last seq the edge had acknowledged (and deleted)")
	require.EqualValues(t, lastSeq-edgeAcked, len(seq.Held))
	require.Equal(t, fmt.Sprint(edgeAcked-atBackup), s.metric(t, `serialine_ingest_gap_missing_seqs{line="`+r.id+`"}`))
	require.Eventually(t, func() bool { return s.metric(t, "serialine_ingest_gaps_stale") == "1" }, wait, 100*time.Millisecond,
		"the gap is flagged stale after ingest.gap_alert")
	require.Equal(t, edgeAcked, r.state(t).Outbox.Acked, "the edge's resend cannot fill the gap: it has no event up to its last ack")
	require.Positive(t, r.state(t).Outbox.Pending)

	// QA declares the gap lost (audited): the held events apply, the
	// edge's outbox drains.
	qa := s.as(t, "qa")
	qa.must(t, "POST", "/api/v1/lines/"+r.id+"/skip-gap", map[string]any{"through": edgeAcked,
		"reason": "central restored from the backup of " + time.Now().UTC().Format(time.DateOnly) + "; the line's events after it were acknowledged and deleted"}, nil)
	require.Eventually(t, func() bool { st := r.state(t); return st.Outbox.Pending == 0 && st.Outbox.Acked == lastSeq }, wait, 20*time.Millisecond,
		"the held events apply and the edge's outbox drains")
	s.api.must(t, "GET", "/api/v1/lines/"+r.id+"/seq", nil, &seq)
	require.Equal(t, lastSeq, seq.Acked)
	require.Empty(t, seq.Gaps)

	// Every printed pack is at central, once, except exactly those whose
	// events were in the gap.
	wantLost := map[string]bool{}
	for sn, q := range seqOf {
		if q > atBackup && q <= edgeAcked {
			wantLost[sn] = true
		}
	}
	require.NotEmpty(t, wantLost)
	fates := map[string]string{}
	for _, row := range sqliteQuery(t, dbPath, "SELECT serial, state FROM units WHERE order_id = $1", r.order) {
		fates[row[0]] = row[1]
	}
	twice := sqliteQuery(t, dbPath, "SELECT serial, count(*) FROM unit_history WHERE line_id = $1 AND type IN ('commissioned', 'decommissioned') GROUP BY gtin, serial HAVING count(*) > 1", r.id)
	require.Empty(t, twice, "no unit applied twice")
	lost := map[string]bool{}
	printed := r.printed(t)
	for _, data := range printed {
		es, err := gs1.Parse(data)
		require.NoError(t, err)
		sn, _ := es.Get("21")
		switch f := fates[sn]; f {
		case "commissioned", "decommissioned":
			require.False(t, wantLost[sn], "serial %s of the gap is at central", sn)
		case "":
			lost[sn] = true
		default:
			t.Fatalf("printed serial %s is %s at central", sn, f)
		}
	}
	require.Equal(t, wantLost, lost, "the units lost are exactly those of the gap's events")
	t.Logf("backup at seq %d; edge had acked %d at the stop; %d labels, %d lost in the gap (skipped by QA), last seq %d",
		atBackup, edgeAcked, len(printed), len(lost), lastSeq)
}
