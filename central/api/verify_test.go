package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

func verifyPath(gtin, serial, lot, expiry string) string {
	v := url.Values{"gtin": {gtin}, "serial": {serial}}
	if lot != "" {
		v.Set("lot", lot)
	}
	if expiry != "" {
		v.Set("expiry", expiry)
	}
	return "/api/v1/verify?" + v.Encode()
}

// TestVerify answers each verification reason from the units table (and a
// recall captured as EPCIS), and refuses malformed parameters by name.
func TestVerify(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	e := newEnv(t, dsn)
	f := e.fixture(t)
	// units[3] decommissioned; units[4] recalled by an EPCIS event.
	f.seq++
	dec := unitEvent(f.seq, wire.Decommissioned, "WO-1", gtinRand, f.units[3], 3)
	dec.Counter = nil
	res, err := e.s.ApplyEvents(e.ctx, line1, []wire.Event{dec})
	require.NoError(t, err)
	require.Equal(t, 1, res.Applied, "%+v", res)
	epc, err := gs1.SGTINURI(gtinRand, f.units[4], 7)
	require.NoError(t, err)
	_, err = e.s.CaptureEPCIS(e.ctx, []epcis.Event{{Type: epcis.ObjectEvent, Action: epcis.ActionObserve, EventTime: t0.Add(time.Hour),
		EPCList: []string{epc}, BizStep: "holding", Disposition: "recalled"}}, nil)
	require.NoError(t, err)
	// An expired lot: an order whose expiry (DD=00: end of month) is past
	// now; it was made in 2023 (a store on central's clock of then).
	then := storetest.Open(t, dsn, testkit.Logger(t), store.WithClock(func() time.Time { return time.Date(2023, 11, 2, 9, 0, 0, 0, time.UTC) }))
	_, err = then.CreateOrder(e.ctx, orders.WorkOrder{ID: "WO-OLD", GTIN: gtinRand, Lot: "OLD1", Expiry: "240100", Quantity: 10})
	require.NoError(t, err)
	_, err = then.ReleaseOrder(e.ctx, "WO-OLD", line1)
	require.NoError(t, err)
	g, err := e.s.Grant(e.ctx, wire.SerialRequest{V: 1, RequestID: "old-1", Line: line1, Order: "WO-OLD", GTIN: gtinRand, Count: 1}, 0)
	require.NoError(t, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(t, err)
	oldSN, err := sc.Serial(nil, g.Ranges[0].Start)
	require.NoError(t, err)
	f.seq++
	old := unitEvent(f.seq, wire.Commissioned, "WO-OLD", gtinRand, string(oldSN), g.Ranges[0].Start)
	old.Lot, old.Expiry = "OLD1", "240100"
	res, err = e.s.ApplyEvents(e.ctx, line1, []wire.Event{old})
	require.NoError(t, err)
	require.Equal(t, 1, res.Applied, "%+v", res)

	ok := []struct {
		name, path, reason string
	}{
		{"verified", verifyPath(gtinRand, f.units[0], lot, expiry), ""},
		{"verified without lot and expiry", verifyPath(gtinRand, f.units[1], "", ""), ""},
		{"GTIN-13 form", verifyPath(gtinRand[1:], f.units[0], lot, expiry), ""},
		{"unknown serial", verifyPath(gtinRand, "999999999999", lot, expiry), api.ReasonUnknownSerial},
		{"lot mismatch", verifyPath(gtinRand, f.units[0], "LOT43", expiry), api.ReasonLotMismatch},
		{"expiry mismatch", verifyPath(gtinRand, f.units[0], lot, "281130"), api.ReasonExpiryMismatch},
		{"decommissioned", verifyPath(gtinRand, f.units[3], lot, expiry), api.ReasonDecommissioned},
		{"recalled", verifyPath(gtinRand, f.units[4], lot, expiry), api.ReasonRecalled},
		{"expired", verifyPath(gtinRand, string(oldSN), "OLD1", "240100"), api.ReasonExpired},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.as(t, auth.RoleOperator, req{method: "GET", path: tc.path})
			require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
			var out struct {
				Verified bool    `json:"verified"`
				Reason   *string `json:"reason"`
			}
			resp.json(t, &out)
			require.Equal(t, tc.reason == "", out.Verified, "%s", resp.body)
			if tc.reason == "" {
				require.Nil(t, out.Reason)
			} else {
				require.NotNil(t, out.Reason)
				require.Equal(t, tc.reason, *out.Reason)
			}
		})
	}

	bad := []struct{ name, path, field string }{
		{"bad gtin check digit", verifyPath("09506000134368", f.units[0], "", ""), "gtin"},
		{"missing gtin", "/api/v1/verify?serial=1", "gtin"},
		{"missing serial", "/api/v1/verify?gtin=" + gtinRand, "serial"},
		{"bad expiry", verifyPath(gtinRand, f.units[0], lot, "281332"), "expiry"},
		{"bad lot", verifyPath(gtinRand, f.units[0], "LOT 42", ""), "lot"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.as(t, auth.RoleAuditor, req{method: "GET", path: tc.path})
			require.Equal(t, http.StatusBadRequest, resp.status, "%s", resp.body)
			require.Equal(t, tc.field, resp.apiErr(t).Field)
		})
	}
}

// BenchmarkVerify verifies random units through the API handler
// (authentication, routing, unit, recall checks, JSON) among 20,000
// commissioned units, 1,000 of them recalled by serial, at a fixed 1,000
// requests per second, and reports the latency percentiles; on SQLite and
// on PostgreSQL.
func BenchmarkVerify(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) { benchVerify(b, be.DSN(b)) })
	}
}

func benchVerify(b *testing.B, dsn string) {
	const n = 20_000
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "bench"), 10*time.Minute)
	defer cancel()
	s := storetest.Open(b, dsn, testkit.LoggerAt(b, slog.LevelInfo))
	require.NoError(b, s.PutProduct(ctx, product(gtinRand, randSpec)))
	require.NoError(b, s.PutLine(ctx, master.Line{ID: line1, Name: "Line 1"}))
	_, err := s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-B", GTIN: gtinRand, Lot: lot, Expiry: expiry, Quantity: n})
	require.NoError(b, err)
	_, err = s.ReleaseOrder(ctx, "WO-B", line1)
	require.NoError(b, err)
	g, err := s.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "bench", Line: line1, Order: "WO-B", GTIN: gtinRand, Count: n}, n)
	require.NoError(b, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(b, err)
	paths := make([]string, 0, n)
	events := make([]wire.Event, 0, n)
	var recalled []string
	for c := uint64(0); c < n; c++ {
		sn, err := sc.Serial(nil, c)
		require.NoError(b, err)
		events = append(events, unitEvent(c+1, wire.Commissioned, "WO-B", gtinRand, string(sn), c))
		paths = append(paths, verifyPath(gtinRand, string(sn), lot, expiry))
		if c%20 == 0 {
			recalled = append(recalled, string(sn))
		}
	}
	res, err := s.ApplyEvents(ctx, line1, events)
	require.NoError(b, err)
	require.Equal(b, n, res.Applied)
	_, err = s.CreateRecall(ctx, supply.RecallRequest{GTIN: gtinRand, Serials: recalled, Reason: "benchmark"})
	require.NoError(b, err)
	tok, _, err := auth.IssueToken(ctx, s, "partner", auth.RoleAuditor)
	require.NoError(b, err)
	h, err := api.New(api.Deps{Store: s}, testkit.LoggerAt(b, slog.LevelInfo))
	require.NoError(b, err)

	measureLatencyAt(b, h, tok, paths, 1000)
}
