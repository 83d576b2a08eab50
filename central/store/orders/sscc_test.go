package orders_test

import (
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// prefixSeq is the GS1 Company Prefix of gtinSeq (company_prefix_len 7).
const prefixSeq = "0312345"

func ssccReq(id, line string, ext int, n uint64) wire.SerialRequest {
	return wire.SerialRequest{V: 1, RequestID: id, Line: line, Kind: wire.RequestSSCC, Count: n,
		SSCC: &wire.SSCCPrefix{CompanyPrefix: prefixSeq, Extension: ext}}
}

func TestGrantSSCCIdempotent(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		g1, err := f.S.GrantSSCC(f.Ctx, ssccReq("L1-s1", storetest.Line1, 0, 100), 0)
		require.NoError(t, err)
		require.NoError(t, g1.Validate())
		require.Equal(t, wire.RequestSSCC, g1.Kind)
		require.Equal(t, []wire.CounterRange{{Start: 0, Count: 100}}, g1.Ranges)

		again, err := f.S.GrantSSCC(f.Ctx, ssccReq("L1-s1", storetest.Line1, 0, 100), 0)
		require.NoError(t, err)
		require.Equal(t, g1, again, "a retried request gets the same grant")
		g2, err := f.S.GrantSSCC(f.Ctx, ssccReq("L2-s1", storetest.Line2, 0, 50), 0)
		require.NoError(t, err)
		require.Equal(t, []wire.CounterRange{{Start: 100, Count: 50}}, g2.Ranges, "another line continues the range")
		g3, err := f.S.GrantSSCC(f.Ctx, ssccReq("L1-s2", storetest.Line1, 1, 10), 0)
		require.NoError(t, err)
		require.Equal(t, []wire.CounterRange{{Start: 0, Count: 10}}, g3.Ranges, "each extension digit has its own references")

		use, err := f.S.SSCCUsage(f.Ctx, wire.SSCCPrefix{CompanyPrefix: prefixSeq})
		require.NoError(t, err)
		require.Equal(t, uint64(150), use.Granted, "the retry allocated nothing")
		require.Equal(t, uint64(1e9), use.Space)

		// Which line an SSCC was granted to.
		sscc, err := wire.SSCCPrefix{CompanyPrefix: prefixSeq}.SSCC(120)
		require.NoError(t, err)
		owner, err := f.S.SSCCGrantOf(f.Ctx, string(sscc), 7)
		require.NoError(t, err)
		require.Equal(t, "L2-s1", owner.RequestID)
		require.Equal(t, storetest.Line2, owner.Line)
		beyond, err := wire.SSCCPrefix{CompanyPrefix: prefixSeq}.SSCC(150)
		require.NoError(t, err)
		_, err = f.S.SSCCGrantOf(f.Ctx, string(beyond), 7)
		require.ErrorIs(t, err, sqldb.ErrNotFound)

		grants, err := f.S.SSCCGrants(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Len(t, grants, 2)
		require.Equal(t, "L1-s1", grants[0].RequestID)

		entries, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "sscc_grant"})
		require.NoError(t, err)
		require.Len(t, entries, 3, "one audit entry per grant, none for the retry")
		require.JSONEq(t, `{"line":"L1","sscc":{"company_prefix":"0312345","extension":0},"ranges":[{"start":0,"count":100}],
			"first":"003123450000000004","last":"003123450000000998"}`, string(entries[0].After))

		// A request id reused for another request, or one of a serials grant.
		_, err = f.S.GrantSSCC(f.Ctx, ssccReq("L1-s1", storetest.Line1, 0, 99), 0)
		require.ErrorIs(t, err, sqldb.ErrConflict)
		f.Order(t, "WO-1", storetest.GTINSeq, storetest.Line1)
		f.Grant(t, "L1-r1", storetest.Line1, "WO-1", storetest.GTINSeq, 5)
		_, err = f.S.GrantSSCC(f.Ctx, ssccReq("L1-r1", storetest.Line1, 0, 5), 0)
		require.ErrorIs(t, err, sqldb.ErrConflict)
		require.ErrorContains(t, err, "used for serials of order WO-1")
	})
}

func TestGrantSSCCRefusals(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		f.Order(t, "WO-2", storetest.GTINSeq, storetest.Line2)
		withOrder := ssccReq("r", storetest.Line1, 0, 1)
		withOrder.Order = "WO-2"
		otherPrefix := ssccReq("r", storetest.Line1, 0, 1)
		otherPrefix.SSCC.CompanyPrefix = "0614141"
		wrongLen := ssccReq("r", storetest.Line1, 0, 1)
		wrongLen.SSCC.CompanyPrefix = "03123456" // the right digits, one too many
		serialsReq := storetest.Req("r", storetest.Line1, "WO-2", storetest.GTINSeq, 1)
		tests := []struct {
			name  string
			req   wire.SerialRequest
			limit uint64
			is    error
			want  string
		}{
			{"unknown line", ssccReq("r", "L9", 0, 1), 0, sqldb.ErrNotFound, "line L9"},
			{"prefix of no product", otherPrefix, 0, sqldb.ErrInvalid, "sscc.company_prefix: 0614141 is not the GS1 Company Prefix of any product"},
			{"prefix length", wrongLen, 0, sqldb.ErrInvalid, "03123456 is not the GS1 Company Prefix"},
			{"order of another line", withOrder, 0, sqldb.ErrState, "work order WO-2 is not released to line L1"},
			{"over the cap", ssccReq("r", storetest.Line1, 0, 10_001), 0, sqldb.ErrInvalid, "exceeds the 10000 SSCCs"},
			{"over a set cap", ssccReq("r", storetest.Line1, 0, 11), 10, sqldb.ErrInvalid, "count"},
			{"a serials request", serialsReq, 0, sqldb.ErrInvalid, `kind: "" is not sscc`},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.S.GrantSSCC(f.Ctx, tc.req, tc.limit)
				require.ErrorIs(t, err, tc.is)
				require.ErrorContains(t, err, tc.want)
				if tc.req.Kind.IsSSCC() {
					ref := orders.Refusal(tc.req, err)
					require.NoError(t, ref.Validate(), "the refusal is a valid sscc grant payload")
					require.Equal(t, wire.RequestSSCC, ref.Kind)
				}
			})
		}
		use, err := f.S.SSCCUsage(f.Ctx, wire.SSCCPrefix{CompanyPrefix: prefixSeq})
		require.NoError(t, err)
		require.Zero(t, use.Granted, "refusals allocate nothing")
	})
}

func TestGrantSSCCExhausted(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		// A 12-digit company prefix leaves 4 digits: 10,000 SSCCs.
		p := storetest.Product("00312345678944", storetest.SeqSpec)
		p.CompanyPrefixLen = 12
		require.NoError(t, f.S.PutProduct(f.Ctx, p))
		r := func(id string, n uint64) wire.SerialRequest {
			return wire.SerialRequest{V: 1, RequestID: id, Line: storetest.Line1, Kind: wire.RequestSSCC, Count: n,
				SSCC: &wire.SSCCPrefix{CompanyPrefix: "031234567894", Extension: 5}}
		}
		g, err := f.S.GrantSSCC(f.Ctx, r("a", 9_998), 0)
		require.NoError(t, err)
		require.Equal(t, uint64(9_998), g.Count())
		_, err = f.S.GrantSSCC(f.Ctx, r("b", 3), 0)
		require.ErrorIs(t, err, sqldb.ErrExhausted)
		require.ErrorContains(t, err, "2 unused serial references left, 3 asked")
		g, err = f.S.GrantSSCC(f.Ctx, r("c", 2), 0)
		require.NoError(t, err)
		require.Equal(t, []wire.CounterRange{{Start: 9_998, Count: 2}}, g.Ranges, "the failed request allocated nothing")
		last, err := g.SSCC.SSCC(g.Ranges[0].End() - 1)
		require.NoError(t, err)
		require.Equal(t, "503123456789499997", string(last), "the last SSCC of the space (check digit by hand)")
	})
}

// TestGrantSSCCConcurrent: replicas granting at once get disjoint ranges,
// and one request id handled by two replicas at once allocates once.
func TestGrantSSCCConcurrent(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		other := storetest.Open(t, dsn, testkit.Logger(t))
		const n = 12
		grants := make([]wire.SerialGrant, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := f.S
				if i%2 == 1 {
					s = other
				}
				id := fmt.Sprintf("s%d", i)
				if i >= 6 {
					id = "retried"
				}
				grants[i], errs[i] = s.GrantSSCC(f.Ctx, ssccReq(id, storetest.Line1, 2, 100), 0)
			}()
		}
		wg.Wait()
		var starts []uint64
		for i := range n {
			require.NoError(t, errs[i])
			if i < 7 {
				starts = append(starts, grants[i].Ranges[0].Start)
			}
			if i > 6 {
				require.Equal(t, grants[6], grants[i], "the retried request gets one grant")
			}
		}
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		for i, s := range starts {
			require.Equal(t, uint64(i*100), s, "7 disjoint, adjacent ranges")
		}
		use, err := f.S.SSCCUsage(f.Ctx, wire.SSCCPrefix{CompanyPrefix: prefixSeq, Extension: 2})
		require.NoError(t, err)
		require.Equal(t, uint64(700), use.Granted)
	})
}
