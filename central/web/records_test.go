package web_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/shared/wire"
)

func TestDeadLetters(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.order("WO-1", gtinSeq, line1)
	u := e.grant("req-1", line1, "WO-1", gtinSeq, 2)
	bad := u.ev(line1, 1, wire.Commissioned, 0)
	bad.GTIN = gtinList // not the order's product
	res := e.apply(line1, bad)
	require.Len(t, res.Rejected, 1)
	_, err := e.s.AddDeadLetter(e.ctx, lineevents.DeadLetter{Topic: "serialine/v1/lines/L2/events", Line: line2,
		Payload: []byte("{not json"), Reason: "payload: invalid character 'n'"})
	require.NoError(t, err)
	_, err = e.s.AddDeadLetter(e.ctx, lineevents.DeadLetter{Topic: "serialine/v1/lines/L2/status", Line: line2,
		Payload: []byte{0xff, 0xfe, 0x00, 0x01}, Reason: "payload: not UTF-8"})
	require.NoError(t, err)
	big := bytes.Repeat([]byte("z"), 1<<20)
	_, err = e.s.AddDeadLetter(e.ctx, lineevents.DeadLetter{Topic: "serialine/v1/lines/L3/events", Line: "L3", Payload: big, Reason: "too large"})
	require.NoError(t, err)
	sum := sha256.Sum256(big)

	c := e.signedIn("quinn", auth.RoleQA)
	r := c.get("/dead-letters")
	require.Equal(t, http.StatusOK, r.status)
	rows := findAll(r.doc, func(n *htmlNode) bool { return n.Data == "tr" && attr(n, "data-id") != "" })
	require.Len(t, rows, 4)
	require.Contains(t, text(rows[0]), "Payload, 1,048,576 bytes, first 65,536 kept", "the full size, and what is kept")
	require.Contains(t, text(rows[0]), hex.EncodeToString(sum[:]), "the SHA-256 of the whole payload")
	rows = rows[1:]
	require.Contains(t, text(rows[0]), "ff fe 00 01", "binary shown as hex, newest first")
	require.Contains(t, text(rows[0]), "(binary)")
	require.Contains(t, text(rows[1]), "{not json")
	require.Contains(t, text(rows[1]), "invalid character")
	require.Contains(t, text(rows[2]), "L1:1", "the event id")
	require.Contains(t, text(rows[2]), res.Rejected[0].Reason)
	require.Contains(t, text(rows[2]), `"serial": "`+u.serial[0]+`"`, "the JSON payload, indented")

	r = c.get("/dead-letters?line=L1")
	require.Len(t, findAll(r.doc, func(n *htmlNode) bool { return n.Data == "tr" && attr(n, "data-id") != "" }), 1)

	r = c.get("/dead-letters?since=2099-01-01") // received_at is the store's clock

	require.True(t, r.has("no-dead-letters"))

	r = c.get("/dead-letters?since=yesterday")
	require.Equal(t, http.StatusUnprocessableEntity, r.status)
	require.Contains(t, r.fieldError("since"), "YYYY-MM-DD")
}

func TestAuditTrailDiff(t *testing.T) {
	e := newEnv(t)
	e.seed()
	planner := e.signedIn("alice", auth.RolePlanner)
	r := planner.post("/orders", url.Values{"id": {"WO-7"}, "gtin": {gtinSeq}, "lot": {"L7"}, "expiry": {"281231"}, "quantity": {"50"}}, true)
	require.Equal(t, http.StatusSeeOther, r.status)
	r = planner.post("/orders/WO-7/release", url.Values{"line": {line2}}, true)
	require.Equal(t, http.StatusSeeOther, r.status)

	c := e.signedIn("ursula", auth.RoleAuditor)
	r = c.get("/audit?entity=work_order&entity_id=WO-7")
	require.Equal(t, http.StatusOK, r.status, r.body)
	rows := findAll(r.doc, func(n *htmlNode) bool { return n.Data == "tr" && attr(n, "data-action") != "" })
	require.Len(t, rows, 2)
	release, create := rows[0], rows[1] // newest first
	require.Equal(t, "release", attr(release, "data-action"))
	require.Equal(t, "create", attr(create, "data-action"))
	for _, row := range rows {
		actor := findAll(row, func(n *htmlNode) bool { return attr(n, "class") == "actor" })
		require.Contains(t, text(actor[0]), "alice (planner, token ", "who")
	}
	field := func(row *htmlNode, name string) (before, after string) {
		tr := findAll(row, func(n *htmlNode) bool { return n.Data == "tr" && attr(n, "data-field") == name })
		require.Len(t, tr, 1, "field %s", name)
		b := findAll(tr[0], func(n *htmlNode) bool { return attr(n, "class") == "before" })
		a := findAll(tr[0], func(n *htmlNode) bool { return attr(n, "class") == "after" })
		return text(b[0]), text(a[0])
	}
	b, a := field(release, "state")
	require.Equal(t, "created", b)
	require.Equal(t, "released", a)
	b, a = field(release, "line")
	require.Equal(t, "—", b)
	require.Equal(t, "L2", a)
	require.Empty(t, findAll(release, func(n *htmlNode) bool { return attr(n, "data-field") == "lot" }), "unchanged fields are left out")
	b, a = field(create, "lot")
	require.Equal(t, "—", b)
	require.Equal(t, "L7", a)

	// Product fields nest: the scheme shows as scheme.kind etc.
	r = c.get("/audit?entity=product&entity_id=" + gtinSeq)
	rows = findAll(r.doc, func(n *htmlNode) bool { return n.Data == "tr" && attr(n, "data-action") != "" })
	require.Len(t, rows, 1)
	_, a = field(rows[0], "scheme.kind")
	require.Equal(t, "sequential", a)

	r = c.get("/audit?since=" + url.QueryEscape("01/05/2026"))
	require.Equal(t, http.StatusUnprocessableEntity, r.status)
	require.Contains(t, r.fieldError("since"), "YYYY-MM-DD")

	require.Equal(t, http.StatusForbidden, planner.get("/audit").status, "planners do not read the audit trail")
}

func TestLinesStatus(t *testing.T) {
	e := newEnv(t)
	e.seed()
	require.NoError(t, e.s.PutLine(e.ctx, master.Line{ID: "L3", Name: "Line 3"}))
	require.NoError(t, e.s.PutLine(e.ctx, master.Line{ID: "L4", Name: "Line 4"}))
	e.lines.set(line1, statusOf(line1, wire.LineRunning, e.now.Add(-5*time.Second), func(s *wire.Status) {
		s.Order = "WO-1"
		s.Counts = &wire.Reconciliation{Granted: 500, Commissioned: 120, Voided: 1, Decommissioned: map[wire.Reason]uint64{wire.ReasonNoRead: 2}}
		s.Pool = wire.Pool{Available: 377, MinutesLeft: 12.4}
		s.Devices = map[string]wire.DeviceHealth{
			"printer": {State: wire.DeviceOK},
			"scanner": {State: wire.DeviceWarning, Detail: "grade dropping"},
			"plc":     {State: wire.DeviceDisconnected, Detail: "reconnecting"},
		}
		s.Outbox = 42
	}))
	e.lines.set(line2, statusOf(line2, wire.LineOffline, e.now.Add(-time.Minute), nil))
	e.lines.set("L3", statusOf("L3", wire.LinePaused, e.now.Add(-10*time.Minute), nil))
	e.lines.gaps = []ingest.LineGap{{Line: "L3", Acked: 10, Gaps: []lineevents.SeqGap{{From: 11, To: 12}}, Missing: 2, Since: e.now.Add(-time.Hour), Stale: true}}

	c := e.signedIn("olga", auth.RoleOperator)
	for _, path := range []string{"/lines", "/lines/live"} {
		t.Run(path, func(t *testing.T) {
			r := c.get(path)
			require.Equal(t, http.StatusOK, r.status)
			card := func(id string) *htmlNode {
				n := byID(r.doc, "line-"+id)
				require.NotNil(t, n, "card of %s", id)
				return n
			}
			l1 := card(line1)
			require.Equal(t, "running", attr(l1, "data-state"))
			require.Contains(t, text(l1), "WO-1")
			require.Contains(t, text(l1), "120 commissioned, 2 decommissioned, 1 voided of 500 granted")
			require.Contains(t, text(l1), "377 left (about 12 min)")
			require.Contains(t, text(l1), "42 events not yet acknowledged")
			require.Contains(t, text(l1), "5 s ago")
			require.Contains(t, text(l1), "plc disconnected reconnecting")
			require.Contains(t, text(l1), "scanner warning grade dropping")

			l2 := card(line2)
			require.Contains(t, attr(l2, "class"), "offline")
			require.Contains(t, text(l2), "OFFLINE")

			l3 := card("L3")
			require.Contains(t, attr(l3, "class"), "stale")
			require.Contains(t, text(l3), "no update for 10 min ago")
			require.Contains(t, text(l3), "2 missing seqs after 10 (11–12)")

			l4 := card("L4")
			require.Contains(t, attr(l4, "class"), "offline")
			require.Contains(t, text(l4), "OFFLINE (never seen)")

			if path == "/lines/live" {
				require.NotContains(t, r.body, "<html", "a fragment")
				require.NotContains(t, r.body, "<header")
			} else {
				require.Equal(t, "/lines/live", attr(byID(r.doc, "lines-live"), "data-src"))
				require.Equal(t, "200", attr(byID(r.doc, "lines-live"), "data-refresh"))
				require.True(t, strings.Contains(r.body, `src="/static/live.js"`))
			}
		})
	}
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/lines/live", nil)
	require.NoError(t, err)
	req.Header.Set("X-Serialine-Live", "1")
	require.Equal(t, http.StatusUnauthorized, e.anon().do(req).status, "the script learns it was signed out")
}

func statusOf(line string, state wire.LineState, at time.Time, edit func(*wire.Status)) ingest.LineStatus {
	s := wire.Status{V: wire.Version, Line: line, State: state, At: at}
	if edit != nil {
		edit(&s)
	}
	return ingest.LineStatus{Status: s, LastSeen: at}
}
