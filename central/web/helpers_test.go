package web_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/web"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const (
	gtinSeq  = "00312345678906" // sequential scheme
	gtinRand = "00312345678913" // randomized scheme, EU FMD
	gtinList = "00312345678920" // imported list
	line1    = "L1"
	line2    = "L2"
	lot      = "LOT42"
	expiry   = "281231"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// statuses stands in for ingest's in-memory line status (which needs a
// broker and a line to fill it).
type statuses struct {
	mu   sync.Mutex
	m    map[string]ingest.LineStatus
	gaps []ingest.LineGap
}

func (s *statuses) Statuses() map[string]ingest.LineStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m)
}

func (s *statuses) Gaps() []ingest.LineGap {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ingest.LineGap(nil), s.gaps...)
}

func (s *statuses) set(line string, st ingest.LineStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]ingest.LineStatus{}
	}
	s.m[line] = st
}

// publisher records which lines' orders were published.
type publisher struct {
	mu    sync.Mutex
	lines []string
	err   error
}

func (p *publisher) PublishOrders(_ context.Context, line string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, line)
	return p.err
}

func (p *publisher) published() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// env is a store on SQLite and the UI on a loopback HTTP server.
type env struct {
	t     testing.TB
	s     *store.Store
	srv   *httptest.Server
	lines *statuses
	pub   *publisher
	ctx   context.Context
	now   time.Time
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	log := testkit.Logger(tb)
	ctx := storetest.Context(tb)
	e := &env{t: tb, lines: &statuses{}, pub: &publisher{}, ctx: ctx, now: t0.Add(time.Hour)}
	// The store judges expiry dates by the UI's clock.
	s := storetest.Open(tb, storetest.SQLiteDSN(tb), log, store.WithClock(func() time.Time { return e.now }))
	e.s = s
	sess, err := auth.NewSessions(s, auth.SessionConfig{Insecure: true}, log)
	require.NoError(tb, err)
	h, err := web.New(web.Deps{
		Store: s, Sessions: sess, Lines: e.lines, Gaps: e.lines, Orders: e.pub,
		Refresh: 200 * time.Millisecond, Now: func() time.Time { return e.now },
	}, log)
	require.NoError(tb, err)
	e.srv = httptest.NewServer(h) // listens on 127.0.0.1:0
	tb.Cleanup(e.srv.Close)
	return e
}

// token issues an API token of role.
func (e *env) token(name string, role auth.Role) string {
	e.t.Helper()
	tok, _, err := auth.IssueToken(e.ctx, e.s, name, role)
	require.NoError(e.t, err)
	return tok
}

// client is a browser stand-in: a cookie jar, redirects not followed so
// that tests see them.
type client struct {
	t    testing.TB
	e    *env
	http *http.Client
}

func (e *env) anon() *client {
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	return &client{t: e.t, e: e, http: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// signedIn signs a new user of role in.
func (e *env) signedIn(name string, role auth.Role) *client {
	e.t.Helper()
	c := e.anon()
	resp := c.post("/signin", url.Values{"token": {e.token(name, role)}, "next": {"/orders"}}, false)
	require.Equal(e.t, http.StatusSeeOther, resp.status, resp.body)
	require.Equal(e.t, "/orders", resp.header.Get("Location"))
	return c
}

type response struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
}

func (c *client) do(req *http.Request) response {
	c.t.Helper()
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	r := response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		r.doc, err = html.Parse(strings.NewReader(r.body))
		require.NoError(c.t, err)
	}
	return r
}

func (c *client) get(path string) response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.e.srv.URL+path, nil)
	require.NoError(c.t, err)
	return c.do(req)
}

// post sends a form; withCSRF adds the session's CSRF token, read from a
// page as a browser would.
func (c *client) post(path string, form url.Values, withCSRF bool) response {
	c.t.Helper()
	if withCSRF {
		form.Set(auth.CSRFField, c.csrf())
	}
	req, err := http.NewRequest(http.MethodPost, c.e.srv.URL+path, strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// csrf reads the CSRF token from the sign-out form every page has.
func (c *client) csrf() string {
	c.t.Helper()
	r := c.get("/lookup")
	require.Equal(c.t, http.StatusOK, r.status)
	in := findAll(r.doc, func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == auth.CSRFField })
	require.NotEmpty(c.t, in, "no CSRF field on the page")
	return attr(in[0], "value")
}

// --- DOM helpers ---

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if n != nil {
		walk(n)
	}
	return out
}

func byID(n *html.Node, id string) *html.Node {
	all := findAll(n, func(n *html.Node) bool { return attr(n, "id") == id })
	if len(all) == 0 {
		return nil
	}
	return all[0]
}

func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ') // cells and items read apart
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// idText is the text of the element with id, "" when there is none.
func (r response) idText(id string) string { return text(byID(r.doc, id)) }

func (r response) has(id string) bool { return byID(r.doc, id) != nil }

// fieldError is the error shown next to form field name.
func (r response) fieldError(name string) string {
	errs := findAll(r.doc, func(n *html.Node) bool { return attr(n, "class") == "field-error" && attr(n, "data-field") == name })
	if len(errs) == 0 {
		return ""
	}
	return text(errs[0])
}

// fieldErrors lists every field with an error shown.
func (r response) fieldErrors() map[string]string {
	out := map[string]string{}
	for _, n := range findAll(r.doc, func(n *html.Node) bool { return attr(n, "class") == "field-error" }) {
		if t := text(n); t != "" {
			out[attr(n, "data-field")] = t
		}
	}
	return out
}

// --- records ---

func product(gtin string, spec serials.Spec) master.Product {
	return master.Product{
		GTIN: gtin, Name: "Paracetamol 500 mg tablets", Form: "tablet", Strength: "500 mg", PackSize: 20,
		CompanyPrefixLen: 7, NDC: testkit.NDC(gtin), Markets: []master.Market{master.MarketUSDSCSA}, Scheme: spec, MinGrade: "C",
	}
}

var (
	seqSpec  = serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}
	listSpec = serials.Spec{Kind: serials.KindList, Length: 8, Alphabet: serials.AlphabetNumeric}
)

// seed stores products, two lines and an order WO-1 released to L1.
func (e *env) seed() {
	e.t.Helper()
	require.NoError(e.t, e.s.PutProduct(e.ctx, product(gtinSeq, seqSpec)))
	lp := product(gtinList, listSpec)
	lp.Name = "Ibuprofen 200 mg"
	require.NoError(e.t, e.s.PutProduct(e.ctx, lp))
	for _, l := range []string{line1, line2} {
		require.NoError(e.t, e.s.PutLine(e.ctx, master.Line{ID: l, Name: "Line " + l, PasswordHash: "x"}))
	}
}

func (e *env) order(id, gtin, line string) {
	e.t.Helper()
	_, err := e.s.CreateOrder(e.ctx, orders.WorkOrder{ID: id, GTIN: gtin, Lot: lot, Expiry: expiry, Quantity: 1000})
	require.NoError(e.t, err)
	if line != "" {
		_, err = e.s.ReleaseOrder(e.ctx, id, line)
		require.NoError(e.t, err)
	}
}

// units are the serials of a grant, as the edge makes them.
type units struct {
	g       wire.SerialGrant
	counter []uint64
	serial  []string
}

func (e *env) grant(reqID, line, order, gtin string, n uint64) *units {
	e.t.Helper()
	g, err := e.s.Grant(e.ctx, wire.SerialRequest{V: 1, RequestID: reqID, Line: line, Order: order, GTIN: gtin, Count: n}, 0)
	require.NoError(e.t, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(e.t, err)
	u := &units{g: g}
	for _, r := range g.Ranges {
		for c := r.Start; c < r.End(); c++ {
			b, err := sc.Serial(nil, c)
			require.NoError(e.t, err)
			u.counter, u.serial = append(u.counter, c), append(u.serial, string(b))
		}
	}
	return u
}

// ev is unit i's event of typ with seq on line.
func (u *units) ev(line string, seq uint64, typ wire.EventType, i int) wire.Event {
	c := u.counter[i]
	e := wire.Event{ID: fmt.Sprintf("%s:%d", line, seq), Seq: seq, Type: typ, At: t0.Add(time.Duration(seq) * time.Second),
		Order: u.g.Order, GTIN: u.g.GTIN, Serial: u.serial[i], Counter: &c, Operator: "ana"}
	if typ == wire.Commissioned || typ == wire.Decommissioned {
		e.Lot, e.Expiry = lot, expiry
	}
	if typ == wire.Decommissioned {
		e.Reason = wire.ReasonNoRead
	}
	return e
}

func (e *env) apply(line string, events ...wire.Event) lineevents.ApplyResult {
	e.t.Helper()
	res, err := e.s.ApplyEvents(e.ctx, line, events)
	require.NoError(e.t, err)
	return res
}

type htmlNode = html.Node

// flagged makes order id of gtin on line (a line of its own, with seqs from
// 1), grants it n serials, closes it at central, and has the line report n
// units commissioned after the close: n after-close flags.
func (e *env) flagged(id, gtin, line string, n int) {
	e.t.Helper()
	require.NoError(e.t, e.s.PutLine(e.ctx, master.Line{ID: line, Name: "Line " + line, PasswordHash: "x"}))
	e.order(id, gtin, line)
	u := e.grant("req-"+id, line, id, gtin, uint64(n))
	o, err := e.s.CloseOrder(e.ctx, id)
	require.NoError(e.t, err)
	var events []wire.Event
	for i := range n {
		ev := u.ev(line, uint64(i+1), wire.Commissioned, i)
		ev.At = o.ClosedAt.Add(time.Duration(i+1) * time.Second)
		events = append(events, ev)
	}
	res := e.apply(line, events...)
	require.Equal(e.t, n, res.Applied, "%+v", res)
}
