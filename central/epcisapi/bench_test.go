package epcisapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/epcis"
)

// BenchmarkEPCISQuery10k runs GET /epcis/events?EQ_bizStep=shipping&perPage=10000
// through the handler (auth, SQL, parse of the stored events, JSON-LD query
// document) returning 10,000 of 12,000 events in SQLite.
func BenchmarkEPCISQuery10k(b *testing.B) {
	e := newEnv(b, storetest.SQLiteDSN(b))
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var evs []epcis.Event
	for i := range 12_000 {
		step, disp := "shipping", "in_transit"
		if i%6 == 5 {
			step, disp = "receiving", "in_progress"
		}
		evs = append(evs, epcis.Event{Type: epcis.ObjectEvent, Action: epcis.ActionObserve, EventTime: t0.Add(time.Duration(i) * time.Second),
			EPCList: []string{fmt.Sprintf("urn:epc:id:sgtin:0614141.107346.%d", 100000+i)}, BizStep: step, Disposition: disp,
			ReadPoint: "urn:epc:id:sgln:0614141.07346.1234"})
	}
	res, err := e.s.CaptureEPCIS(e.ctx, evs, nil)
	require.NoError(b, err)
	require.Equal(b, len(evs), res.Stored)
	h := e.h
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/epcis/events?EQ_bizStep=shipping&perPage=10000", nil)
		r.Header.Set("Authorization", "Bearer "+e.tokens[auth.RoleAuditor])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(10_000, "events/op")
}
