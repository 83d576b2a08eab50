package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/wire"
)

// replacedLine creates a line whose edge sent one event (a dead letter:
// its order is unknown, but its seq counts) and then came back as a new
// incarnation: a takeover QA has not resolved. It returns the line and
// the new incarnation.
func replacedLine(tb testing.TB, e *env) (string, string) {
	tb.Helper()
	id := fmt.Sprintf("LINC%d", e.next())
	require.NoError(tb, e.s.PutLine(e.ctx, master.Line{ID: id, Name: "Line " + id}))
	ev := func(n string) wire.Event {
		return wire.Event{ID: id + ":" + n, Seq: 1, Type: wire.OrderStarted, At: t0, Order: "WO-404"}
	}
	_, err := e.s.ApplyEvents(e.ctx, id, []wire.Event{ev("1")})
	require.NoError(tb, err)
	res, err := e.s.ApplyEventsOf(e.ctx, id, "inc2", wire.CheckEvents([]wire.Event{ev("inc2:1")}))
	require.NoError(tb, err)
	require.NotNil(tb, res.Replaced)
	return id, "inc2"
}

// TestLineSeqIncarnations: QA sees a line's incarnations, which replaced
// which with what the old one had, and its held events; skips a gap of
// the old one; and resolves the takeover, audited.
func TestLineSeqIncarnations(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		e.fixture(t)
		id, inc := replacedLine(t, e)
		// The old incarnation holds seq 3 behind a gap.
		_, err := e.s.ApplyEvents(e.ctx, id, []wire.Event{{ID: id + ":3", Seq: 3, Type: wire.OrderStarted, At: t0, Order: "WO-404"}})
		require.NoError(t, err)

		type gap struct{ From, To uint64 }
		type seqBody struct {
			Incarnation  string
			Acked        uint64
			Held         []uint64
			Incarnations []struct {
				Incarnation string
				Current     bool
				Acked       uint64
				Held        []uint64
				Gaps        []gap
				Replaced    *struct {
					Incarnation string
					Acked       uint64
					Held        int
				}
				Resolved *struct{ By, Note string }
			}
			Applied, Lost int
		}
		var got seqBody
		r := e.as(t, auth.RoleAuditor, req{method: "GET", path: "/api/v1/lines/" + id + "/seq"})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.NoError(t, json.Unmarshal(r.body, &got))
		require.Equal(t, inc, got.Incarnation)
		require.Equal(t, uint64(1), got.Acked)
		require.Empty(t, got.Held)
		require.Len(t, got.Incarnations, 2)
		old, cur := got.Incarnations[0], got.Incarnations[1]
		require.Equal(t, "", old.Incarnation)
		require.False(t, old.Current)
		require.Equal(t, []uint64{3}, old.Held)
		require.Equal(t, []gap{{2, 2}}, old.Gaps)
		require.Equal(t, inc, cur.Incarnation)
		require.True(t, cur.Current)
		require.NotNil(t, cur.Replaced)
		require.Equal(t, "", cur.Replaced.Incarnation)
		require.Equal(t, uint64(1), cur.Replaced.Acked)
		require.Nil(t, cur.Resolved)

		// The old one's gap, named; the current one has none.
		r = e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/lines/" + id + "/skip-gap", body: `{"through": 2, "reason": "x"}`})
		require.Equal(t, http.StatusConflict, r.status, string(r.body))
		r = e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/lines/" + id + "/skip-gap", body: `{"through": 2, "reason": "old PC scrapped", "incarnation": ""}`})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.NoError(t, json.Unmarshal(r.body, &got))
		require.Equal(t, uint64(3), got.Incarnations[0].Acked)

		for _, tc := range []struct {
			path, body string
			status     int
		}{
			{"/incarnations/" + inc + "/resolve", `{"note": ""}`, http.StatusUnprocessableEntity},
			{"/incarnations/nope/resolve", `{"note": "x"}`, http.StatusNotFound},
		} {
			r = e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/lines/" + id + tc.path, body: tc.body})
			require.Equal(t, tc.status, r.status, string(r.body))
		}
		audits := e.auditCount(t)
		r = e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/lines/" + id + "/incarnations/" + inc + "/resolve", body: `{"note": "old PC's last packs pulled"}`})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.Equal(t, audits+1, e.auditCount(t))
		require.NoError(t, json.Unmarshal(r.body, &got))
		require.NotNil(t, got.Incarnations[1].Resolved)
		require.Equal(t, "old PC's last packs pulled", got.Incarnations[1].Resolved.Note)
		r = e.as(t, auth.RoleQA, req{method: "POST", path: "/api/v1/lines/" + id + "/incarnations/" + inc + "/resolve", body: `{"note": "again"}`})
		require.Equal(t, http.StatusConflict, r.status, string(r.body))
	})
}

// TestDeadLetterSizeAndHash: the API shows a dead letter's full size and
// SHA-256, and whether its payload was cut.
func TestDeadLetterSizeAndHash(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	e.fixture(t)
	big := strings.Repeat("{", 70_000)
	_, err := e.s.AddDeadLetter(e.ctx, lineevents.DeadLetter{Topic: "serialine/v1/lines/L9/events", Line: "L9", Payload: []byte(big), Reason: "too large"})
	require.NoError(t, err)
	r := e.as(t, auth.RoleQA, req{method: "GET", path: "/api/v1/dead-letters?line=L9"})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var got struct {
		DeadLetters []struct {
			Size        int64
			SHA256      string
			Truncated   bool
			PayloadText string `json:"payload_text"`
		} `json:"dead_letters"`
	}
	require.NoError(t, json.Unmarshal(r.body, &got))
	require.Len(t, got.DeadLetters, 1)
	d := got.DeadLetters[0]
	require.Equal(t, int64(70_000), d.Size)
	require.True(t, d.Truncated)
	require.Len(t, d.SHA256, 64)
	require.Len(t, d.PayloadText, lineevents.MaxDeadLetterPayload)
}
