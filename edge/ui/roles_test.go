package ui

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
)

// TestStopAndPauseNeedNoSignIn: a stop is never locked out. Without a
// session Stop and Pause reach the line with nobody in the context and are
// logged as unsigned; with one, under the person's name. Start still needs
// a sign-in.
func TestStopAndPauseNeedNoSignIn(t *testing.T) {
	r := newRig(t, Config{})
	anon := r.client(t)
	code, body := r.post(t, anon, "/ui/start", `{"order":"WO-1"}`)
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, true, body["sign_in"])
	require.Empty(t, r.line.Calls(), "no start reached the line")

	signed := r.client(t)
	r.signIn(t, signed, pinAna)
	code, _ = r.post(t, signed, "/ui/start", `{"order":"WO-1"}`)
	require.Equal(t, http.StatusOK, code)

	for _, tc := range []struct{ path, act, state string }{{"/ui/pause", ActPause, "paused"}, {"/ui/stop", ActStop, "stopped"}} {
		t.Run(tc.act, func(t *testing.T) {
			code, body := r.post(t, anon, tc.path, `{}`)
			require.Equal(t, http.StatusOK, code, "%v", body)
			require.Equal(t, tc.state, body["state"], "answers with the new view")
			require.Equal(t, "", body["operator"])
			calls := r.line.Calls()
			require.Equal(t, lineCall{Name: tc.act}, calls[len(calls)-1], "nobody in the context")
			log := r.ui.Actions()
			require.Equal(t, Action{Operator: Unsigned, Action: tc.act, Order: "WO-1", At: r.clock.Now()}, log[len(log)-1])
		})
	}
	code, _ = r.post(t, signed, "/ui/stop", `{}`)
	require.Equal(t, http.StatusOK, code)
	log := r.rec.Actions()
	require.Equal(t, Action{Operator: "Ana", Role: station.RoleOperator, Action: ActStop, Order: "WO-1", At: r.clock.Now()}, log[len(log)-1])
	calls := r.line.Calls()
	require.Equal(t, lineCall{Name: "stop", Operator: "Ana"}, calls[len(calls)-1])
}

// alarmsNeedingQA puts a jam (an operator acknowledges it) and a
// reject-missed (QA only) on the line, both stopped production.
func alarmsNeedingQA(s *agent.State) {
	s.State = wire.LineAlarm
	s.Alarms = []station.Alarm{
		{ID: 1, Code: station.AlarmPLCJam, AckRole: station.RoleOperator, Device: "plc", Fault: "plc alarm: jam", StoppedLine: true},
		{ID: 2, Code: station.AlarmRejectMissed, AckRole: station.RoleQA, Device: "plc-reject", Fault: "unit 1234 passed the gate", StoppedLine: true},
	}
}

// TestAcknowledgeByRole: an operator acknowledges what an operator may; a
// reject-missed stays and the answer says a QA PIN is needed; a
// supervisor's PIN is refused for it, QA's acknowledges it without
// signing the operator out.
func TestAcknowledgeByRole(t *testing.T) {
	r := newRig(t, Config{})
	r.line.update(alarmsNeedingQA)
	c := r.client(t)
	r.signIn(t, c, pinAna)

	code, body := r.post(t, c, "/ui/ack", `{}`)
	require.Equal(t, http.StatusForbidden, code, "%v", body)
	require.Equal(t, "qa", body["role"])
	require.Equal(t, "reject-missed needs a QA PIN to acknowledge (Ana is an operator)", strings.SplitN(body["error"].(string), " (station", 2)[0])
	left := r.line.State().Alarms
	require.Len(t, left, 1, "the jam is acknowledged (its cause has gone)")
	require.Equal(t, station.AlarmRejectMissed, left[0].Code)
	require.False(t, left[0].Acked)

	calls := len(r.line.Calls())
	for _, tc := range []struct {
		name, body string
		code       int
		msg        string
	}{
		{"operator again", `{}`, http.StatusForbidden, "reject-missed needs a QA PIN to acknowledge (Ana is an operator)"},
		{"supervisor PIN", `{"pin":"` + pinSam + `"}`, http.StatusForbidden, "reject-missed needs a QA PIN to acknowledge (Sam is a supervisor)"},
		{"wrong PIN", `{"pin":"000000"}`, http.StatusUnauthorized, "pin: wrong PIN"},
		{"not a PIN", `{"pin":"12"}`, http.StatusBadRequest, "pin: "},
		{"unknown field", `{"who":"qa"}`, http.StatusBadRequest, "body: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := r.post(t, c, "/ui/ack", tc.body)
			require.Equal(t, tc.code, code, "%v", body)
			require.Contains(t, body["error"], tc.msg)
			require.Len(t, r.line.Calls(), calls, "nothing sent to the line")
			require.False(t, r.line.State().Alarms[0].Acked)
		})
	}

	code, body = r.post(t, c, "/ui/ack", `{"pin":"`+pinQuinn+`"}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Empty(t, r.line.State().Alarms, "QA released the line")
	require.Equal(t, "Ana", body["operator"], "the operator stays signed in")
	got := r.line.Calls()
	require.Equal(t, lineCall{Name: "ack", Operator: "Quinn"}, got[len(got)-1])
	log := r.rec.Actions()
	last := log[len(log)-1]
	require.Equal(t, "Quinn", last.Operator)
	require.Equal(t, station.RoleQA, last.Role)
	require.Empty(t, last.Error)
	var refused int
	for _, a := range log {
		if a.Action == ActAck && a.Error != "" {
			refused++
		}
	}
	require.Equal(t, 3, refused, "the refusals are logged (the partial one, the operator's, the supervisor's)")

	t.Run("without a session or a PIN", func(t *testing.T) {
		r.line.update(alarmsNeedingQA)
		code, body := r.post(t, r.client(t), "/ui/ack", `{}`)
		require.Equal(t, http.StatusForbidden, code)
		require.Equal(t, true, body["sign_in"])
	})
	t.Run("QA signed in acknowledges everything", func(t *testing.T) {
		q := r.client(t)
		r.signIn(t, q, pinQuinn)
		code, body := r.post(t, q, "/ui/ack", `{}`)
		require.Equal(t, http.StatusOK, code, "%v", body)
		require.Empty(t, r.line.State().Alarms)
	})
}

// TestExtendAllowanceByRole: only a supervisor or QA extends, signed in or
// by a PIN sent with the request; the units and the reason are checked
// first and the decision is logged with both.
func TestExtendAllowanceByRole(t *testing.T) {
	r := newRig(t, Config{})
	c := r.client(t)
	r.signIn(t, c, pinAna)
	code, _ := r.post(t, c, "/ui/start", `{"order":"WO-1"}`)
	require.Equal(t, http.StatusOK, code)
	calls := len(r.line.Calls())

	for _, tc := range []struct {
		name, body string
		code       int
		field      string
		msg        string
	}{
		{"operator", `{"units":50,"reason":"film splice"}`, http.StatusForbidden, "",
			"extending the reject allowance needs a supervisor's or QA PIN (Ana is an operator)"},
		{"operator's own PIN", `{"units":50,"reason":"film splice","pin":"` + pinBen + `"}`, http.StatusForbidden, "", "(Ben is an operator)"},
		{"no units", `{"reason":"film splice"}`, http.StatusBadRequest, "units", "must be 1 to 1000000"},
		{"too many", `{"units":1000001,"reason":"film splice"}`, http.StatusBadRequest, "units", "must be 1 to 1000000"},
		{"units not a number", `{"units":"fifty","reason":"film splice"}`, http.StatusBadRequest, "units", "want {"},
		{"no reason", `{"units":50,"reason":"  "}`, http.StatusBadRequest, "reason", "missing"},
		{"long reason", `{"units":50,"reason":"` + strings.Repeat("x", 201) + `"}`, http.StatusBadRequest, "reason", "at most 200"},
		{"two lines", `{"units":50,"reason":"a\nb"}`, http.StatusBadRequest, "reason", "one line"},
		{"wrong PIN", `{"units":50,"reason":"film splice","pin":"000000"}`, http.StatusUnauthorized, "pin", "wrong PIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := r.post(t, c, "/ui/extend", tc.body)
			require.Equal(t, tc.code, code, "%v", body)
			require.Contains(t, body["error"], tc.msg)
			if tc.field != "" {
				require.Equal(t, tc.field, body["field"])
			}
			if code == http.StatusForbidden {
				require.Equal(t, "supervisor", body["role"])
			}
			require.Len(t, r.line.Calls(), calls, "nothing sent to the line")
		})
	}

	code, body := r.post(t, c, "/ui/extend", `{"units":50,"reason":" film splice at the infeed ","pin":"`+pinSam+`"}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, "Ana", body["operator"], "the operator stays signed in")
	require.Equal(t, []string{"50: film splice at the infeed"}, r.line.extended)
	got := r.line.Calls()
	require.Equal(t, lineCall{Name: "extend", Operator: "Sam"}, got[len(got)-1])
	log := r.rec.Actions()
	require.Equal(t, Action{Operator: "Sam", Role: station.RoleSupervisor, Action: ActExtend, Order: "WO-1", At: r.clock.Now(),
		Note: "+50: film splice at the infeed"}, log[len(log)-1])
	require.Equal(t, uint64(100), r.line.State().Production.Allowance)

	t.Run("QA signed in", func(t *testing.T) {
		q := r.client(t)
		r.signIn(t, q, pinQuinn)
		code, body := r.post(t, q, "/ui/extend", `{"units":10,"reason":"camera cleaned"}`)
		require.Equal(t, http.StatusOK, code, "%v", body)
		require.Equal(t, "Quinn", body["operator"])
		require.Equal(t, uint64(110), r.line.State().Production.Allowance)
	})
	t.Run("the line refuses", func(t *testing.T) {
		r.line.update(func(s *agent.State) { s.Production = nil })
		code, body := r.post(t, c, "/ui/extend", `{"units":10,"reason":"x","pin":"`+pinSam+`"}`)
		require.Equal(t, http.StatusConflict, code)
		require.Contains(t, body["error"], "no order is running")
	})
}

// TestWrongPINsWithActionsLockOut: a PIN sent with an action counts
// towards the lock-out like one at sign-in.
func TestWrongPINsWithActionsLockOut(t *testing.T) {
	r := newRig(t, Config{MaxPINFailures: 2})
	r.line.update(alarmsNeedingQA)
	c := r.client(t)
	for range 2 {
		code, _ := r.post(t, c, "/ui/ack", `{"pin":"000000"}`)
		require.Equal(t, http.StatusUnauthorized, code)
	}
	code, body := r.post(t, c, "/ui/ack", `{"pin":"`+pinQuinn+`"}`)
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Contains(t, body["error"], "too many wrong PINs")
	code, _ = r.post(t, c, "/ui/signin", `{"pin":"`+pinQuinn+`"}`)
	require.Equal(t, http.StatusTooManyRequests, code, "the same lock-out")
	require.Empty(t, r.line.Calls())
}

// TestSignInCarriesTheRole: the session's role is in the view and in the
// context of every line call.
func TestSignInCarriesTheRole(t *testing.T) {
	r := newRig(t, Config{})
	c := r.client(t)
	code, body := r.post(t, c, "/ui/signin", `{"pin":"`+pinSam+`"}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, map[string]any{"operator": "Sam", "role": "supervisor"}, body)
	v := getView(t, r, c)
	require.Equal(t, "Sam", v.Operator)
	require.Equal(t, station.RoleSupervisor, v.Role)

	// A new sign-in on the same screen replaces the session.
	r.signIn(t, c, pinAna)
	v = getView(t, r, c)
	require.Equal(t, "Ana", v.Operator)
	require.Equal(t, station.RoleOperator, v.Role)
	r.ui.mu.Lock()
	n := len(r.ui.sessions)
	r.ui.mu.Unlock()
	require.Equal(t, 1, n, "Sam's session ended")
}
