package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

// TestOrderGovernance: a product's allowance rule and shelf life through
// the API, an order's own allowance, the order's progress and need, and
// QA's dispositions of after-close flags.
func TestOrderGovernance(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		e.fixture(t)
		const v = "/api/v1"
		gtin := testkit.WithCheckDigit(t, "0031234567895")
		body := map[string]any{"name": "Ibuprofen", "company_prefix_len": 7, "markets": []string{"us-dscsa"}, "ndc": "12345-678-95",
			"scheme": map[string]any{"kind": "sequential", "length": 10, "start": 1}}
		resp := e.as(t, auth.RolePlanner, req{method: "PUT", path: v + "/products/" + gtin, body: testkit.MustJSON(t, body)})
		require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
		p := resp.obj(t)
		require.EqualValues(t, 5, p["reject_allowance_percent"], "the default")
		require.EqualValues(t, 50, p["reject_allowance_min"])
		require.EqualValues(t, 0, p["min_shelf_life_days"])

		body["reject_allowance_percent"], body["reject_allowance_min"], body["min_shelf_life_days"] = 2, 10, 365
		resp = e.as(t, auth.RolePlanner, req{method: "PUT", path: v + "/products/" + gtin, body: testkit.MustJSON(t, body)})
		require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
		delete(body, "reject_allowance_percent")
		delete(body, "reject_allowance_min")
		delete(body, "min_shelf_life_days")
		body["name"] = "Ibuprofen 400 mg"
		resp = e.as(t, auth.RolePlanner, req{method: "PUT", path: v + "/products/" + gtin, body: testkit.MustJSON(t, body)})
		require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
		p = resp.obj(t)
		require.EqualValues(t, 2, p["reject_allowance_percent"], "left out: kept")
		require.EqualValues(t, 10, p["reject_allowance_min"])
		require.EqualValues(t, 365, p["min_shelf_life_days"])

		// The shelf-life rule names expiry; the allowance follows the rule
		// or the order's own.
		resp = e.as(t, auth.RolePlanner, req{method: "POST", path: v + "/orders", body: testkit.MustJSON(t, map[string]any{
			"id": "WO-G1", "gtin": gtin, "lot": lot, "expiry": e.today().AddDate(0, 6, 0).Format("060102"), "quantity": 1000})})
		require.Equal(t, http.StatusUnprocessableEntity, resp.status, "%s", resp.body)
		ae := resp.apiErr(t)
		require.Equal(t, "expiry", ae.Field)
		require.Contains(t, ae.Message, "needs at least 365 days of shelf life")
		exp := e.today().AddDate(2, 0, 0).Format("060102")
		resp = e.as(t, auth.RolePlanner, req{method: "POST", path: v + "/orders", body: testkit.MustJSON(t, map[string]any{
			"id": "WO-G1", "gtin": gtin, "lot": lot, "expiry": exp, "quantity": 1000})})
		require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
		require.EqualValues(t, 20, resp.obj(t)["reject_allowance"], "2 % of 1,000")
		resp = e.as(t, auth.RolePlanner, req{method: "POST", path: v + "/orders", body: testkit.MustJSON(t, map[string]any{
			"id": "WO-G2", "gtin": gtin, "lot": lot, "expiry": exp, "quantity": 1000, "reject_allowance": 7})})
		require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
		o := resp.obj(t)
		require.EqualValues(t, 7, o["reject_allowance"])
		require.Equal(t, true, o["reject_allowance_set"])

		// WO-1 of the fixture runs: 10 of 1,000 made, 100 granted.
		var detail struct {
			orders.WorkOrder
			Reconciliation struct {
				Difference int64
				Status     string
			}
			Need       orders.OrderNeed
			EventFlags lineevents.FlagCount `json:"event_flags"`
		}
		e.as(t, auth.RoleOperator, req{method: "GET", path: v + "/orders/WO-1"}).json(t, &detail)
		require.Equal(t, uint64(10), detail.Produced)
		require.Equal(t, 1.0, detail.Progress)
		require.Equal(t, "in progress", detail.Reconciliation.Status, "a difference is expected while the order runs")
		require.Equal(t, int64(90), detail.Reconciliation.Difference)
		require.Equal(t, uint64(1000+50-10-90), detail.Need.Remaining)

		// An order closed while its line made 3 more: flags for QA.
		id, flags := e.flaggedOrder(t)
		e.as(t, auth.RoleAuditor, req{method: "GET", path: v + "/orders/" + id}).json(t, &detail)
		require.Equal(t, "balanced", detail.Reconciliation.Status, "closed: the difference is a finding now, and there is none")
		require.Equal(t, lineevents.FlagCount{Total: 3, Open: 3}, detail.EventFlags)
		var list struct {
			Total, Open int
			Flags       []lineevents.EventFlag
		}
		e.as(t, auth.RoleOperator, req{method: "GET", path: v + "/orders/" + id + "/flags"}).json(t, &list)
		require.Equal(t, 3, list.Open)
		require.Len(t, list.Flags, 3)
		require.Equal(t, lineevents.FlagAfterClose, list.Flags[0].Flag)

		path := fmt.Sprintf("%s/orders/%s/flags/%d/disposition", v, id, flags[0].ID)
		for name, tc := range map[string]struct {
			path, body  string
			status      int
			code, field string
		}{
			"bad disposition": {path, `{"disposition": "ok", "note": "x"}`, 422, "invalid", "disposition"},
			"no note":         {path, `{"disposition": "accepted"}`, 422, "invalid", "note"},
			"bad flag id":     {v + "/orders/" + id + "/flags/x/disposition", `{"disposition": "accepted", "note": "x"}`, 400, "bad_request", "flag"},
			"unknown flag":    {v + "/orders/" + id + "/flags/99999/disposition", `{"disposition": "accepted", "note": "x"}`, 404, "not_found", ""},
			"another order":   {fmt.Sprintf("%s/orders/WO-1/flags/%d/disposition", v, flags[0].ID), `{"disposition": "accepted", "note": "x"}`, 404, "not_found", ""},
			"bulk, one twice": {v + "/orders/" + id + "/flags/disposition", testkit.MustJSON(t, map[string]any{"flags": []int64{flags[1].ID, flags[1].ID}, "disposition": "accepted", "note": "x"}), 422, "invalid", "flags[1]"},
		} {
			before := e.auditCount(t)
			resp := e.as(t, auth.RoleQA, req{method: "POST", path: tc.path, body: tc.body})
			require.Equal(t, tc.status, resp.status, "%s: %s", name, resp.body)
			ae := resp.apiErr(t)
			require.Equal(t, tc.code, ae.Code, name)
			require.Equal(t, tc.field, ae.Field, name)
			require.Equal(t, before, e.auditCount(t), "%s: nothing written", name)
		}
		resp = e.as(t, auth.RoleQA, req{method: "POST", path: path, body: `{"disposition": "rejected", "note": "made after the close: pulled"}`})
		require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
		require.Equal(t, "rejected", resp.obj(t)["disposition"])
		require.Contains(t, resp.obj(t)["disposed_by"], "user-qa (qa")
		resp = e.as(t, auth.RoleQA, req{method: "POST", path: path, body: `{"disposition": "accepted", "note": "changed my mind"}`})
		require.Equal(t, http.StatusConflict, resp.status, "%s", resp.body)
		require.Equal(t, "state", resp.apiErr(t).Code)
		resp = e.as(t, auth.RoleQA, req{method: "POST", path: v + "/orders/" + id + "/flags/disposition",
			body: testkit.MustJSON(t, map[string]any{"flags": []int64{flags[1].ID, flags[2].ID}, "disposition": "accepted", "note": "belong to the batch"})})
		require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
		e.as(t, auth.RoleOperator, req{method: "GET", path: v + "/orders/" + id + "/flags?open=true"}).json(t, &list)
		require.Zero(t, list.Open)
		require.Empty(t, list.Flags)

		// The audit trail shows the flags and each disposition.
		var trail struct{ Entries []audit.Entry }
		e.as(t, auth.RoleAuditor, req{method: "GET", path: v + "/audit?entity=event_flag"}).json(t, &trail)
		require.Len(t, trail.Entries, 3)
		e.as(t, auth.RoleAuditor, req{method: "GET", path: v + "/audit?entity=work_order&entity_id=" + id}).json(t, &trail)
		var actions []string
		for _, a := range trail.Entries {
			actions = append(actions, a.Action)
		}
		require.Equal(t, []string{"create", "release", "close", "flag"}, actions)
	})
}

// today is central's date (the API's store runs on the system clock).
func (e *env) today() time.Time { return time.Now().UTC() }
