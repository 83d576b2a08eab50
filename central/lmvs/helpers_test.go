package lmvs_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/lmvs"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const (
	gtin   = "00312345678913" // randomized serials, us-dscsa and eu-fmd
	line1  = "L1"
	lot    = "LOT42"
	expiry = "281231"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

var randSpec = serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetNumeric, Key: "8f1e3c5a7b9d0e2f4a6c8e0b2d4f6a8c"}

func product(g string) master.Product {
	return master.Product{GTIN: g, Name: "Paracetamol 500 mg tablets", Form: "tablet", Strength: "500 mg", PackSize: 20,
		CompanyPrefixLen: 7, NDC: g[3:8] + "-" + g[8:11] + "-" + g[11:13], Markets: []master.Market{master.MarketUSDSCSA, master.MarketEUFMD},
		Scheme: randSpec, PlannedVolume: 1_000_000}
}

// env is a store with our site, a trading partner with a partner token,
// a line and a work order whose units are commissioned.
type env struct {
	ctx        context.Context
	s          *store.Store
	siteGLN    string
	partnerGLN string
	partnerTok string
	adminTok   string
	otherTok   string // another partner's token
	otherGLN   string
	units      []string
	seq        uint64
	sc         serials.Scheme
	next       uint64 // the next counter of WO-1's grant
}

func newEnv(tb testing.TB, dsn string, opts ...store.Option) *env {
	tb.Helper()
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "test-setup"), 5*time.Minute)
	tb.Cleanup(cancel)
	s := storetest.Open(tb, dsn, testkit.Logger(tb), opts...)
	e := &env{ctx: ctx, s: s, siteGLN: testkit.WithCheckDigit(tb, "031234500000"), partnerGLN: testkit.WithCheckDigit(tb, "950600000002"),
		otherGLN: testkit.WithCheckDigit(tb, "950600000003")}
	require.NoError(tb, s.PutProduct(ctx, product(gtin)))
	require.NoError(tb, s.PutSite(ctx, master.Site{GLN: e.siteGLN, Name: "Plant Durham", Address: master.Address{Street: "1 Main St",
		City: "Durham", State: "NC", PostalCode: "27701", Country: "US"}}))
	for _, g := range []string{e.partnerGLN, e.otherGLN} {
		require.NoError(tb, s.PutPartner(ctx, master.Partner{GLN: g, Name: "Wholesale " + g, Address: master.Address{Street: "2 Dock Rd",
			City: "Memphis", State: "TN", PostalCode: "38118", Country: "US"}}))
	}
	var err error
	e.partnerTok, _, err = auth.IssuePartnerToken(ctx, s, "wholesale-vrs", e.partnerGLN)
	require.NoError(tb, err)
	e.otherTok, _, err = auth.IssuePartnerToken(ctx, s, "other-vrs", e.otherGLN)
	require.NoError(tb, err)
	e.adminTok, _, err = auth.IssueToken(ctx, s, "admin", auth.RoleAdmin)
	require.NoError(tb, err)
	require.NoError(tb, s.PutLine(ctx, master.Line{ID: line1, SiteGLN: e.siteGLN, Name: "Line 1", PasswordHash: "unused"}))
	_, err = s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-1", GTIN: gtin, Lot: lot, Expiry: expiry, Quantity: 1000})
	require.NoError(tb, err)
	_, err = s.ReleaseOrder(ctx, "WO-1", line1)
	require.NoError(tb, err)
	g, err := s.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "fixture-1", Line: line1, Order: "WO-1", GTIN: gtin, Count: 100}, 0)
	require.NoError(tb, err)
	e.sc, err = serials.New(*g.Scheme)
	require.NoError(tb, err)
	e.units = e.commission(tb, "WO-1", lot, expiry, 12)
	return e
}

// commission has the line commission n more units of order and returns
// their serials.
func (e *env) commission(tb testing.TB, order, lotNo, exp string, n int) []string {
	tb.Helper()
	var out []string
	var events []wire.Event
	for range n {
		sn, err := e.sc.Serial(nil, e.next)
		require.NoError(tb, err)
		e.seq++
		events = append(events, wire.Event{ID: fmt.Sprintf("%s:%d", line1, e.seq), Seq: e.seq, Type: wire.Commissioned,
			At: t0.Add(time.Duration(e.seq) * time.Second), Order: order, GTIN: gtin, Serial: string(sn), Counter: new(e.next),
			Lot: lotNo, Expiry: exp, Operator: "ana"})
		out = append(out, string(sn))
		e.next++
	}
	res, err := e.s.ApplyEvents(e.ctx, line1, events)
	require.NoError(tb, err)
	require.Equal(tb, n, res.Applied, "%+v", res)
	return out
}

// event applies one more line event about a unit.
func (e *env) event(tb testing.TB, typ wire.EventType, serial string) {
	tb.Helper()
	e.seq++
	ev := wire.Event{ID: fmt.Sprintf("%s:%d", line1, e.seq), Seq: e.seq, Type: typ, At: t0.Add(time.Duration(e.seq) * time.Second),
		Order: "WO-1", GTIN: gtin, Serial: serial, Operator: "ana"}
	if typ == wire.Decommissioned {
		ev.Lot, ev.Expiry, ev.Reason = lot, expiry, wire.ReasonNoRead
	}
	res, err := e.s.ApplyEvents(e.ctx, line1, []wire.Event{ev})
	require.NoError(tb, err)
	require.Equal(tb, 1, res.Applied, "%+v", res)
}

// voidNext has the line void the next serial of WO-1's grant (never
// printed) and returns it.
func (e *env) voidNext(tb testing.TB) string {
	tb.Helper()
	sn, err := e.sc.Serial(nil, e.next)
	require.NoError(tb, err)
	e.seq++
	ev := wire.Event{ID: fmt.Sprintf("%s:%d", line1, e.seq), Seq: e.seq, Type: wire.Voided, At: t0.Add(time.Duration(e.seq) * time.Second),
		Order: "WO-1", GTIN: gtin, Serial: string(sn), Counter: new(e.next), Operator: "ana"}
	e.next++
	res, err := e.s.ApplyEvents(e.ctx, line1, []wire.Event{ev})
	require.NoError(tb, err)
	require.Equal(tb, 1, res.Applied, "%+v", res)
	return string(sn)
}

// server is the responder on a loopback HTTP server, mounted as central
// mounts it.
func (e *env) server(tb testing.TB, cfg lmvs.Config) *httptest.Server {
	tb.Helper()
	rs, err := lmvs.NewResponder(e.s, cfg, testkit.Logger(tb))
	require.NoError(tb, err)
	// Central's web UI sits at "/" and sends a browser without a session
	// to its sign-in page: the LMVS paths must never reach it.
	ui := http.RedirectHandler("/signin", http.StatusSeeOther)
	srv := httptest.NewServer(lmvs.Route(rs, ui))
	tb.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// get sends a GET with the bearer token ("" none), not following
// redirects.
func get(tb testing.TB, srv *httptest.Server, tok, path string) answer {
	tb.Helper()
	return do(tb, srv, http.MethodGet, tok, path)
}

func do(tb testing.TB, srv *httptest.Server, method, tok, path string) answer {
	tb.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(tb, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func jsonschemaDoc(s string) (any, error) { return jsonschema.UnmarshalJSON(strings.NewReader(s)) }
