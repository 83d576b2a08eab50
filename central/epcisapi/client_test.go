package epcisapi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/epcisapi/epcisclient"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// lineFixture is a line with a released order and granted serials, to
// commission units on as the edge would.
type lineFixture struct {
	s       *store.Store
	serials []string
	seq     uint64
}

const (
	lineID   = "L1"
	lineGTIN = "00312345678906" // embeds its NDC, as a US product must
)

func newLine(tb testing.TB, ctx context.Context, s *store.Store, units int) *lineFixture {
	tb.Helper()
	require.NoError(tb, s.PutProduct(ctx, master.Product{GTIN: lineGTIN, Name: "Paracetamol 500 mg tablets", Form: "tablet", Strength: "500 mg",
		PackSize: 20, CompanyPrefixLen: 7, NDC: "12345-678-90", Markets: []master.Market{master.MarketUSDSCSA},
		Scheme: serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}, MinGrade: "C"}))
	require.NoError(tb, s.PutLine(ctx, master.Line{ID: lineID, Name: "Line 1", ReadPoint: "urn:epc:id:sgln:9506000.00001.L1"}))
	_, err := s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-1", GTIN: lineGTIN, Lot: "LOT1", Expiry: "281231", Quantity: uint64(units)})
	require.NoError(tb, err)
	_, err = s.ReleaseOrder(ctx, "WO-1", lineID)
	require.NoError(tb, err)
	g, err := s.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "g1", Line: lineID, Order: "WO-1", GTIN: lineGTIN, Count: uint64(units)}, 0)
	require.NoError(tb, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(tb, err)
	f := &lineFixture{s: s}
	for c := uint64(0); c < uint64(units); c++ {
		sn, err := sc.Serial(nil, c)
		require.NoError(tb, err)
		f.serials = append(f.serials, string(sn))
	}
	return f
}

// commission applies n commissioned events, the line's next units.
func (f *lineFixture) commission(ctx context.Context, n int) error {
	var evs []wire.Event
	for range n {
		c := f.seq
		f.seq++
		evs = append(evs, wire.Event{ID: fmt.Sprintf("%s:%d", lineID, f.seq), Seq: f.seq, Type: wire.Commissioned,
			At: t0.Add(time.Duration(f.seq) * time.Millisecond), Order: "WO-1", GTIN: lineGTIN, Serial: f.serials[c], Counter: &c,
			Lot: "LOT1", Expiry: "281231", Operator: "ana"})
	}
	res, err := f.s.ApplyEvents(ctx, lineID, evs)
	if err == nil && res.Applied != n {
		err = fmt.Errorf("applied %d of %d: %+v", res.Applied, n, res)
	}
	return err
}

// TestOpenAPIClientPagesWhileALineAdds: a client written from GS1's
// OpenAPI alone captures 20,000 events through capture jobs, then pulls
// the repository page by page by the Link headers while a line
// commissions more: every captured event comes exactly once, and no event
// twice.
func TestOpenAPIClientPagesWhileALineAdds(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		const captured, lineUnits = 20_000, 3_000
		e := newEnv(t, dsn)
		line := newLine(t, e.ctx, e.s, lineUnits)
		c, err := epcisclient.New(e.srv.URL+"/epcis/", e.tokens[auth.RolePlanner])
		require.NoError(t, err)
		c.HTTP = e.srv.Client()

		want := map[string]bool{}
		for k := 0; k < captured/10_000; k++ {
			doc := shipDoc(t, k*10_000, 10_000, "shipping")
			hs, err := epcis.HashDocument(doc, epcis.FormatJSONLD)
			require.NoError(t, err)
			for _, h := range hs {
				want[h.ID] = true
			}
			job, err := c.Capture(e.ctx, doc, "application/ld+json")
			require.NoError(t, err)
			j, err := c.WaitJob(e.ctx, job, 10*time.Millisecond)
			require.NoError(t, err)
			require.True(t, j.Success, "%+v", j.Errors)
		}
		require.Len(t, want, captured)

		// The line commissions while the client pages.
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		var wg sync.WaitGroup
		lineErr := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < lineUnits; done += 100 {
				if err := ctx.Err(); err != nil {
					return
				}
				if err := line.commission(ctx, 100); err != nil {
					lineErr <- err
					return
				}
			}
		}()

		seen := map[string]int{}
		pages, err := c.Pages(e.ctx, "events?perPage=500", func(page []byte) error {
			ids, err := epcisclient.EventIDs(page)
			for _, id := range ids {
				seen[id]++
			}
			return err
		})
		require.NoError(t, err)
		cancel()
		wg.Wait()
		select {
		case err := <-lineErr:
			require.NoError(t, err)
		default:
		}
		for id, n := range seen {
			require.Equal(t, 1, n, "event %s came %d times", id, n)
		}
		for id := range want {
			require.Equal(t, 1, seen[id], "captured event %s missing", id)
		}
		fromLine := len(seen) - captured
		require.LessOrEqual(t, fromLine, lineUnits)
		require.GreaterOrEqual(t, pages, captured/500)
		t.Logf("%d pages, %d captured events, %d line events seen while the line commissioned %d", pages, captured, fromLine, line.seq)
	})
}
