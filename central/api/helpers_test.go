package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const (
	gtinSeq  = "00312345678906" // sequential scheme, us-dscsa
	gtinRand = "00312345678913" // randomized scheme, eu-fmd
	gtinList = "00312345678920" // imported list
	line1    = "L1"
	lot      = "LOT42"
	expiry   = "281231"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// publisher records the lines whose orders the API asked to publish; the
// MQTT side is central/server's.
type publisher struct {
	mu    sync.Mutex
	lines []string
	fail  error
}

func (p *publisher) PublishOrders(_ context.Context, line string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.lines = append(p.lines, line)
	return nil
}

func (p *publisher) published() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// statuses is a fixed set of line statuses, as central's ingest keeps them.
type statuses map[string]ingest.LineStatus

func (s statuses) Statuses() map[string]ingest.LineStatus { return s }

// env is the API on a real store behind a real HTTP server on loopback,
// with a token per role.
type env struct {
	s      *store.Store
	srv    *httptest.Server
	pub    *publisher
	tokens map[auth.Role]string
	ctx    context.Context
	n      atomic.Int64 // for unique ids
	// hits counts the requests that reached the server, by path.
	hits sync.Map
}

// hitCount is how many requests reached path.
func (e *env) hitCount(path string) int64 {
	if v, ok := e.hits.Load(path); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func newEnv(tb testing.TB, dsn string, tweak ...func(*api.Deps)) *env {
	tb.Helper()
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "test-setup"), 120*time.Second)
	tb.Cleanup(cancel)
	s := storetest.Open(tb, dsn, testkit.Logger(tb))
	e := &env{s: s, pub: &publisher{}, tokens: map[auth.Role]string{}, ctx: ctx}
	deps := api.Deps{Store: s, Orders: e.pub, Statuses: statuses{line1: {Status: wire.Status{V: 1, Line: line1, State: wire.LineRunning, At: t0, Order: "WO-1"}, LastSeen: t0.Add(time.Second)}}}
	for _, f := range tweak {
		f(&deps)
	}
	h, err := api.New(deps, testkit.Logger(tb))
	require.NoError(tb, err)
	mux := http.NewServeMux()
	mux.Handle(api.Prefix, h)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := e.hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		mux.ServeHTTP(w, r)
	}))
	tb.Cleanup(e.srv.Close)
	for _, r := range auth.Roles() {
		tok, _, err := auth.IssueToken(ctx, s, "user-"+string(r), r)
		require.NoError(tb, err)
		e.tokens[r] = tok
	}
	return e
}

func (e *env) next() int64 { return e.n.Add(1) }

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(tb testing.TB, v any) {
	tb.Helper()
	require.NoError(tb, json.Unmarshal(r.body, v), "body: %s", r.body)
}

// obj decodes the body as a generic JSON object.
func (r response) obj(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	r.json(tb, &m)
	return m
}

// apiErr decodes and checks an error body.
func (r response) apiErr(tb testing.TB) httpjson.Error {
	tb.Helper()
	require.Equal(tb, "application/json; charset=utf-8", r.header.Get("Content-Type"), "body: %s", r.body)
	var b httpjson.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	require.NoError(tb, dec.Decode(&b), "body: %s", r.body)
	require.NotEmpty(tb, b.Error.Code, "body: %s", r.body)
	require.NotEmpty(tb, b.Error.Message, "body: %s", r.body)
	return b.Error
}

// req is one API request.
type req struct {
	method, path string
	body         string
	ctype        string // default application/json when there is a body
}

// call sends r with the bearer token tok ("" sends none).
func (e *env) call(tb testing.TB, tok string, r req) response {
	tb.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequestWithContext(e.ctx, r.method, e.srv.URL+r.path, body)
	require.NoError(tb, err)
	if tok != "" {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	ct := r.ctype
	if ct == "" && r.body != "" {
		ct = "application/json"
	}
	if ct != "" {
		hr.Header.Set("Content-Type", ct)
	}
	resp, err := e.srv.Client().Do(hr)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) as(tb testing.TB, role auth.Role, r req) response {
	tb.Helper()
	return e.call(tb, e.tokens[role], r)
}

var (
	seqSpec  = serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}
	randSpec = serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetNumeric, Key: "8f1e3c5a7b9d0e2f4a6c8e0b2d4f6a8c"}
	listSpec = serials.Spec{Kind: serials.KindList}
)

func product(gtin string, spec serials.Spec) master.Product {
	p := master.Product{
		GTIN: gtin, Name: "Paracetamol 500 mg tablets", Form: "tablet", Strength: "500 mg", PackSize: 20,
		CompanyPrefixLen: 7, NDC: testkit.NDC(gtin), Markets: []master.Market{master.MarketUSDSCSA}, Scheme: spec, MinGrade: "C",
	}
	if spec.Kind == serials.KindRandomized {
		p.Markets = []master.Market{master.MarketUSDSCSA, master.MarketEUFMD}
		p.PlannedVolume = 1_000_000
	}
	return p
}

// fixture is master data, a line with a released order WO-1 of the
// randomized product and 10 commissioned units, and a dead letter.
type fixture struct {
	siteGLN, partnerGLN, locGLN string
	units                       []string // serials of WO-1's commissioned units
	grant                       wire.SerialGrant
	seq                         uint64 // the line's last event seq
}

func (e *env) fixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx, s := e.ctx, e.s
	f := &fixture{siteGLN: testkit.WithCheckDigit(tb, "950600000001"), partnerGLN: testkit.WithCheckDigit(tb, "950600000002"), locGLN: testkit.WithCheckDigit(tb, "950600000003")}
	for _, p := range []master.Product{product(gtinSeq, seqSpec), product(gtinRand, randSpec), product(gtinList, listSpec)} {
		require.NoError(tb, s.PutProduct(ctx, p))
	}
	require.NoError(tb, s.PutSite(ctx, master.Site{GLN: f.siteGLN, Name: "Plant Lisbon"}))
	require.NoError(tb, s.PutLocation(ctx, master.Location{GLN: f.locGLN, Extension: "0", SiteGLN: f.siteGLN, Name: "Packaging hall"}))
	require.NoError(tb, s.PutPartner(ctx, master.Partner{GLN: f.partnerGLN, Name: "Wholesale Ltd"}))
	// The partner role's token, bound to the fixture's partner.
	tok, _, err := auth.IssuePartnerToken(ctx, s, "partner-"+f.partnerGLN, f.partnerGLN)
	require.NoError(tb, err)
	e.tokens[auth.RolePartner] = tok
	hash, err := auth.HashPassword("line-one-password-123")
	require.NoError(tb, err)
	require.NoError(tb, s.PutLine(ctx, master.Line{ID: line1, SiteGLN: f.siteGLN, Name: "Line 1", PasswordHash: hash}))
	_, err = s.CreateOrder(ctx, orders.WorkOrder{ID: "WO-1", GTIN: gtinRand, Lot: lot, Expiry: expiry, Quantity: 1000})
	require.NoError(tb, err)
	_, err = s.ReleaseOrder(ctx, "WO-1", line1)
	require.NoError(tb, err)
	f.grant, err = s.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "fixture-1", Line: line1, Order: "WO-1", GTIN: gtinRand, Count: 100}, 0)
	require.NoError(tb, err)
	sc, err := serials.New(*f.grant.Scheme)
	require.NoError(tb, err)
	var events []wire.Event
	for c := uint64(0); c < 10; c++ {
		sn, err := sc.Serial(nil, c)
		require.NoError(tb, err)
		f.units = append(f.units, string(sn))
		f.seq++
		events = append(events, unitEvent(f.seq, wire.Commissioned, "WO-1", gtinRand, string(sn), c))
	}
	res, err := s.ApplyEvents(ctx, line1, events)
	require.NoError(tb, err)
	require.Equal(tb, 10, res.Applied, "%+v", res)
	_, err = s.AddDeadLetter(ctx, lineevents.DeadLetter{Topic: "serialine/v1/lines/L1/events", Line: line1, Payload: []byte("{not json"), Reason: "payload is not JSON"})
	require.NoError(tb, err)
	return f
}

// unitEvent is a line event about one unit.
func unitEvent(seq uint64, typ wire.EventType, order, gtin, serial string, counter uint64) wire.Event {
	e := wire.Event{ID: fmt.Sprintf("%s:%d", line1, seq), Seq: seq, Type: typ, At: t0.Add(time.Duration(seq) * time.Second),
		Order: order, GTIN: gtin, Serial: serial, Counter: new(counter), Operator: "ana"}
	if typ != wire.Voided {
		e.Lot, e.Expiry = lot, expiry
	}
	if typ == wire.Decommissioned {
		e.Reason = wire.ReasonNoRead
	}
	return e
}

// auditCount is the number of audit entries, to prove a refused request
// wrote nothing.
func (e *env) auditCount(tb testing.TB) int {
	tb.Helper()
	entries, err := e.s.Audit(e.ctx, audit.Filter{Limit: 1_000_000})
	require.NoError(tb, err)
	return len(entries)
}

// flaggedOrder makes a work order of its own line that central closed and
// whose line then reported 3 units made after the close: 3 after-close
// flags, open.
func (e *env) flaggedOrder(tb testing.TB) (string, []lineevents.EventFlag) {
	tb.Helper()
	n := e.next()
	lineID, id := fmt.Sprintf("LF%d", n), fmt.Sprintf("WO-F%d", n)
	require.NoError(tb, e.s.PutLine(e.ctx, master.Line{ID: lineID, Name: "Line " + lineID, PasswordHash: "unused"}))
	_, err := e.s.CreateOrder(e.ctx, orders.WorkOrder{ID: id, GTIN: gtinRand, Lot: lot, Expiry: expiry, Quantity: 100})
	require.NoError(tb, err)
	_, err = e.s.ReleaseOrder(e.ctx, id, lineID)
	require.NoError(tb, err)
	g, err := e.s.Grant(e.ctx, wire.SerialRequest{V: 1, RequestID: "req-" + id, Line: lineID, Order: id, GTIN: gtinRand, Count: 3}, 0)
	require.NoError(tb, err)
	o, err := e.s.CloseOrder(e.ctx, id)
	require.NoError(tb, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(tb, err)
	var events []wire.Event
	for i := range uint64(3) {
		c := g.Ranges[0].Start + i
		sn, err := sc.Serial(nil, c)
		require.NoError(tb, err)
		ev := unitEvent(i+1, wire.Commissioned, id, gtinRand, string(sn), c)
		ev.ID, ev.At = fmt.Sprintf("%s:%d", lineID, i+1), o.ClosedAt.Add(time.Duration(i+1)*time.Second)
		events = append(events, ev)
	}
	res, err := e.s.ApplyEvents(e.ctx, lineID, events)
	require.NoError(tb, err)
	require.Equal(tb, 3, res.Applied, "%+v", res)
	flags, err := e.s.EventFlags(e.ctx, lineevents.FlagFilter{Order: id})
	require.NoError(tb, err)
	require.Len(tb, flags, 3)
	return id, flags
}
