package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

type auditEntry struct {
	ID       int64
	At       time.Time
	Actor    string
	Action   string
	Entity   string
	EntityID string `json:"entity_id"`
	Before   json.RawMessage
	After    json.RawMessage
}

func (e *env) audit(t *testing.T, role auth.Role, query string) []auditEntry {
	t.Helper()
	resp := e.as(t, role, req{method: "GET", path: "/api/v1/audit?" + query})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var out struct{ Entries []auditEntry }
	resp.json(t, &out)
	return out.Entries
}

// TestAuditTrail: product and order changes made through the API are in
// the audit trail with who, when, what, before and after; only the
// auditor and the admin can read it.
func TestAuditTrail(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	e.fixture(t)
	gtin := testkit.WithCheckDigit(t, "0031234567897")
	start := time.Now().UTC().Add(-time.Second)

	p := product(gtin, seqSpec)
	require.Equal(t, http.StatusCreated, e.as(t, auth.RolePlanner, req{method: "PUT", path: "/api/v1/products/" + gtin, body: testkit.MustJSON(t, p)}).status)
	p.Name = "Paracetamol 1 g tablets"
	require.Equal(t, http.StatusOK, e.as(t, auth.RoleAdmin, req{method: "PUT", path: "/api/v1/products/" + gtin, body: testkit.MustJSON(t, p)}).status)
	resp := e.as(t, auth.RolePlanner, req{method: "POST", path: "/api/v1/orders",
		body: testkit.MustJSON(t, map[string]any{"id": "WO-A", "gtin": gtin, "lot": "L7", "expiry": "290600", "quantity": 100})})
	require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
	require.Equal(t, http.StatusOK, e.as(t, auth.RolePlanner, req{method: "POST", path: "/api/v1/orders/WO-A/release", body: `{"line": "L1"}`}).status)

	for _, role := range []auth.Role{auth.RoleAuditor, auth.RoleAdmin} {
		t.Run("product as "+string(role), func(t *testing.T) {
			entries := e.audit(t, role, "entity=product&entity_id="+gtin)
			require.Len(t, entries, 2)
			c, u := entries[0], entries[1]
			require.Equal(t, "create", c.Action)
			require.True(t, strings.HasPrefix(c.Actor, "user-planner (planner, token "), c.Actor)
			require.Equal(t, "null", string(c.Before))
			require.Equal(t, "update", u.Action)
			require.True(t, strings.HasPrefix(u.Actor, "user-admin (admin, token "), u.Actor)
			require.False(t, c.At.Before(start), "when: %s", c.At)
			require.False(t, u.At.Before(c.At))
			var before, after master.Product
			require.NoError(t, json.Unmarshal(u.Before, &before))
			require.NoError(t, json.Unmarshal(u.After, &after))
			require.Equal(t, "Paracetamol 500 mg tablets", before.Name)
			require.Equal(t, "Paracetamol 1 g tablets", after.Name)
		})
	}
	t.Run("order", func(t *testing.T) {
		entries := e.audit(t, auth.RoleAuditor, "entity=work_order&entity_id=WO-A")
		require.Len(t, entries, 2)
		require.Equal(t, "create", entries[0].Action)
		require.Equal(t, "release", entries[1].Action)
		var before, after orders.WorkOrder
		require.NoError(t, json.Unmarshal(entries[1].Before, &before))
		require.NoError(t, json.Unmarshal(entries[1].After, &after))
		require.Equal(t, wire.OrderStateCreated, before.State)
		require.Equal(t, wire.OrderStateReleased, after.State)
		require.Equal(t, line1, after.Line)
	})
	t.Run("since and limit", func(t *testing.T) {
		all := e.audit(t, auth.RoleAuditor, "")
		require.Greater(t, len(all), 4)
		last := all[len(all)-1]
		since := e.audit(t, auth.RoleAuditor, "since="+url.QueryEscape(last.At.Format(time.RFC3339Nano)))
		require.NotEmpty(t, since)
		require.Equal(t, last.ID, since[len(since)-1].ID)
		require.Len(t, e.audit(t, auth.RoleAuditor, "limit=2"), 2)
	})
	t.Run("nobody else reads it", func(t *testing.T) {
		for _, role := range []auth.Role{auth.RolePlanner, auth.RoleQA, auth.RoleOperator} {
			resp := e.as(t, role, req{method: "GET", path: "/api/v1/audit"})
			require.Equal(t, http.StatusForbidden, resp.status, "role %s", role)
		}
	})
	t.Run("the scheme key is not in the trail", func(t *testing.T) {
		for _, en := range e.audit(t, auth.RoleAuditor, "entity=product") {
			require.NotContains(t, string(en.After), randSpec.Key)
		}
	})
}

// TestLookup finds the unit from its code in each GS1 form, and a
// container by its SSCC.
func TestLookup(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	sn := f.units[3]
	es := gs1.ElementString{{AI: "01", Value: gtinRand}, {AI: "17", Value: expiry}, {AI: "10", Value: lot}, {AI: "21", Value: sn}}
	dl, err := es.DigitalLink("https://id.example.com/")
	require.NoError(t, err)
	forms := []struct{ name, code string }{
		{"bracketed", es.Bracketed()},
		{"transmitted", "]d2" + es.Transmitted()},
		{"transmitted, serial first", "21" + sn + "\x1d01" + gtinRand + "17" + expiry + "10" + lot},
		{"digital link", dl},
		{"digital link on id.gs1.org, GTIN-13", "https://id.gs1.org/01/" + gtinRand[1:] + "/21/" + sn},
	}
	require.Contains(t, forms[1].code, "\x1d", "the transmitted form has a GS separator")
	for _, fm := range forms {
		t.Run(fm.name, func(t *testing.T) {
			resp := e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/lookup?code=" + url.QueryEscape(fm.code)})
			require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
			var got struct {
				Kind       string
				Parsed     map[string]string
				Unit       lineevents.Unit
				Mismatches []string
			}
			resp.json(t, &got)
			require.Equal(t, "unit", got.Kind)
			require.Equal(t, gtinRand, got.Unit.GTIN)
			require.Equal(t, sn, got.Unit.Serial)
			require.Equal(t, orders.StateCommissioned, got.Unit.State)
			require.Equal(t, "WO-1", got.Unit.Order)
			require.Len(t, got.Unit.History, 1)
			require.Equal(t, sn, got.Parsed["21"])
			require.Empty(t, got.Mismatches)
		})
	}
	t.Run("another lot under a real serial", func(t *testing.T) {
		code := "(01)" + gtinRand + "(17)" + expiry + "(10)FAKE1(21)" + sn
		resp := e.as(t, auth.RoleQA, req{method: "GET", path: "/api/v1/lookup?code=" + url.QueryEscape(code)})
		require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
		var got struct{ Mismatches []string }
		resp.json(t, &got)
		require.Equal(t, []string{`lot: the code says "FAKE1", the unit's is "LOT42"`}, got.Mismatches)
	})
	t.Run("container", func(t *testing.T) {
		sscc := testkit.WithCheckDigit(t, "09506000000000042")
		f.seq++
		agg := wire.Event{ID: fmt.Sprintf("L1:%d", f.seq), Seq: f.seq, Type: wire.Aggregated, At: t0.Add(time.Hour), Parent: sscc,
			Children: []string{wire.UnitRef(gtinRand, f.units[0]), wire.UnitRef(gtinRand, f.units[1])}, Order: "WO-1"}
		res, err := e.s.ApplyEvents(e.ctx, line1, []wire.Event{agg})
		require.NoError(t, err)
		require.Equal(t, 1, res.Applied, "%+v", res)
		resp := e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/lookup?code=" + url.QueryEscape("]C100"+sscc)})
		require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
		var got struct {
			Kind      string
			Container struct {
				SSCC  string
				Units []string
			}
		}
		resp.json(t, &got)
		require.Equal(t, "container", got.Kind)
		require.Equal(t, sscc, got.Container.SSCC)
		require.Equal(t, []string{wire.UnitRef(gtinRand, f.units[0]), wire.UnitRef(gtinRand, f.units[1])}, got.Container.Units)
		// The unit shows where it is.
		resp = e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/units/" + gtinRand + "/" + f.units[0]})
		require.Equal(t, sscc, resp.obj(t)["parent"])
	})
}

// TestUnitSerialWithSlash: a serial may hold "/" (CSET 82); the route
// takes it escaped or not.
func TestUnitSerialWithSlash(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	e.fixture(t)
	for _, path := range []string{"/api/v1/units/" + gtinRand + "/AB/12", "/api/v1/units/" + gtinRand + "/AB%2F12"} {
		resp := e.as(t, auth.RoleOperator, req{method: "GET", path: path})
		require.Equal(t, http.StatusNotFound, resp.status, "%s: %s", path, resp.body)
		require.Contains(t, resp.apiErr(t).Message, "(21)AB/12")
	}
}

// TestTokens: an admin issues a token (its secret shown once), the token
// works, the list never shows secrets, and revocation ends it at once.
func TestTokens(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	resp := e.as(t, auth.RoleAdmin, req{method: "POST", path: "/api/v1/tokens", body: `{"name": "ERP", "role": "planner"}`})
	require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
	var tok struct {
		ID, Name, Role, Token string
	}
	resp.json(t, &tok)
	require.Equal(t, "ERP", tok.Name)
	require.Equal(t, "planner", tok.Role)
	require.True(t, strings.HasPrefix(tok.Token, auth.TokenPrefix))

	me := e.call(t, tok.Token, req{method: "GET", path: "/api/v1/me"})
	require.Equal(t, http.StatusOK, me.status)
	require.Equal(t, "ERP", me.obj(t)["name"])

	list := e.as(t, auth.RoleAdmin, req{method: "GET", path: "/api/v1/tokens"})
	require.Equal(t, http.StatusOK, list.status)
	require.NotContains(t, string(list.body), tok.Token)
	require.NotContains(t, string(list.body), auth.HashToken(tok.Token))
	require.Contains(t, string(list.body), `"name":"ERP"`)

	resp = e.as(t, auth.RoleAdmin, req{method: "DELETE", path: "/api/v1/tokens/" + tok.ID})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.NotNil(t, resp.obj(t)["revoked_at"])
	require.Equal(t, http.StatusUnauthorized, e.call(t, tok.Token, req{method: "GET", path: "/api/v1/me"}).status)

	entries, err := e.s.Audit(e.ctx, audit.Filter{Entity: "api_token", EntityID: tok.ID})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, "revoke", entries[1].Action)
	require.True(t, strings.HasPrefix(entries[1].Actor, "user-admin (admin"), entries[1].Actor)
}

// TestPublishFailure: a release commits even when the line's orders
// cannot be published now; the response says so.
func TestPublishFailure(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	e.fixture(t)
	e.pub.fail = errors.New("broker unreachable")
	id := e.createdOrder(t)
	resp := e.as(t, auth.RolePlanner, req{method: "POST", path: "/api/v1/orders/" + id + "/release", body: `{"line": "L1"}`})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	got := resp.obj(t)
	require.Equal(t, false, got["published"])
	require.Equal(t, "broker unreachable", got["publish_error"])
	o, err := e.s.Order(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, wire.OrderStateReleased, o.State)
}

// TestWithoutPublisher: without an OrderPublisher nothing is published
// and the response says so.
func TestWithoutPublisher(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t), func(d *api.Deps) { d.Orders, d.Statuses = nil, nil })
	e.fixture(t)
	id := e.createdOrder(t)
	resp := e.as(t, auth.RolePlanner, req{method: "POST", path: "/api/v1/orders/" + id + "/release", body: `{"line": "L1"}`})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.Equal(t, false, resp.obj(t)["published"])
	lines := e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/lines"})
	require.NotContains(t, string(lines.body), `"status"`)
}

func TestLinesWithStatus(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	resp := e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/lines"})
	require.Equal(t, http.StatusOK, resp.status)
	var got struct {
		Lines []struct {
			ID          string
			SiteGLN     string `json:"site_gln"`
			HasPassword bool   `json:"has_password"`
			Status      *ingest.LineStatus
		}
	}
	resp.json(t, &got)
	require.Len(t, got.Lines, 1)
	l := got.Lines[0]
	require.Equal(t, line1, l.ID)
	require.Equal(t, f.siteGLN, l.SiteGLN)
	require.True(t, l.HasPassword)
	require.NotNil(t, l.Status)
	require.Equal(t, wire.LineRunning, l.Status.State)
	require.Equal(t, t0.Add(time.Second), l.Status.LastSeen)
	require.NotContains(t, string(resp.body), "pbkdf2", "no password hash leaves central")

	// Updating the line without a password keeps it.
	before, err := e.s.Line(e.ctx, line1)
	require.NoError(t, err)
	rp := "https://id.gs1.org/414/" + f.siteGLN + "/254/L1"
	resp = e.as(t, auth.RoleAdmin, req{method: "PUT", path: "/api/v1/lines/L1", body: testkit.MustJSON(t, map[string]string{"name": "Line one", "site_gln": f.siteGLN, "read_point": rp})})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.NotContains(t, resp.obj(t), "mqtt_password")
	require.Equal(t, rp, resp.obj(t)["read_point"])
	after, err := e.s.Line(e.ctx, line1)
	require.NoError(t, err)
	require.Equal(t, before.PasswordHash, after.PasswordHash)
	require.Equal(t, "Line one", after.Name)
	require.Equal(t, rp, after.ReadPoint)
}

func TestDeadLetters(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	e.fixture(t)
	// An event of an unknown order is dead-lettered by the store.
	ev := unitEvent(11, wire.Commissioned, "WO-404", gtinRand, "123456789012", 999)
	res, err := e.s.ApplyEvents(e.ctx, line1, []wire.Event{ev})
	require.NoError(t, err)
	require.Equal(t, 1, res.DeadLettered)

	resp := e.as(t, auth.RoleQA, req{method: "GET", path: "/api/v1/dead-letters?line=L1"})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var got struct {
		DeadLetters []struct {
			Reason      string
			EventID     string `json:"event_id"`
			Payload     json.RawMessage
			PayloadText string `json:"payload_text"`
		} `json:"dead_letters"`
	}
	resp.json(t, &got)
	require.Len(t, got.DeadLetters, 2)
	require.Equal(t, "{not json", got.DeadLetters[0].PayloadText)
	require.Equal(t, "L1:11", got.DeadLetters[1].EventID)
	require.Contains(t, got.DeadLetters[1].Reason, "WO-404")
	var payload wire.Event
	require.NoError(t, json.Unmarshal(got.DeadLetters[1].Payload, &payload))
	require.Equal(t, "WO-404", payload.Order)

	resp = e.as(t, auth.RoleQA, req{method: "GET", path: "/api/v1/dead-letters?limit=1"})
	resp.json(t, &got)
	require.Len(t, got.DeadLetters, 1)
}

// TestUnitCodesConform checks the codes the API shows for a unit (element
// string, Digital Link URI) and the lookup test's inputs with GS1's
// independent syntax validator.
func TestUnitCodesConform(t *testing.T) {
	testkit.ValidatorsBin(t)
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	resp := e.as(t, auth.RoleOperator, req{method: "GET", path: "/api/v1/units/" + gtinRand + "/" + f.units[2]})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var u struct {
		ElementString string `json:"element_string"`
		DigitalLink   string `json:"digital_link"`
	}
	resp.json(t, &u)
	es, err := gs1.Parse(u.ElementString)
	require.NoError(t, err)
	for name, code := range map[string]string{"bracketed": u.ElementString, "digital link": u.DigitalLink, "transmitted": "]d2" + es.Transmitted()} {
		t.Run(name, func(t *testing.T) {
			out, exit := testkit.RunValidator(t, "validate-gs1", code)
			if exit != 0 && strings.Contains(out, "UNSUPPORTED") {
				// Without GS1's syntax engine the validator's own checker
				// cannot read this form.
				t.Skipf("SKIPPED: validate-gs1 on this machine cannot check %q: %s", code, out)
			}
			require.Equal(t, 0, exit, "validate-gs1 %q: %s", code, out)
		})
	}
}
