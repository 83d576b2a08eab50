package fmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/fmd"
	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/outbound/outboundtest"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

const (
	gtin  = "04150123456782" // a German GTIN; randomized alphanumeric serials
	line1 = "L1"
	pzn   = "12345678"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// gateway is the on-boarding partner's gateway: an HTTPS endpoint on
// loopback that keeps what it is sent.
type gateway struct {
	mu   sync.Mutex
	docs [][]byte
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.docs = append(g.docs, b)
	g.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (g *gateway) received() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.docs)
}

// env is a store with an EU FMD product, our plant (the manufacturer),
// the MAH and a wholesaler as partners, the gateway partner with its fmd
// endpoint, and a line that made batch LOT42 (work order WO-1): packs
// commissioned, one rejected, one serial voided.
type env struct {
	ctx                             context.Context
	s                               *store.Store
	site, mah, wholesaler, gatewayP string
	gw                              *gateway
	sender                          *outbound.Sender
	sc                              serials.Scheme
	seq, next                       uint64
	packs                           []string // WO-1's packs in circulation
}

var spec = serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetAlphanumeric, Key: "8f1e3c5a7b9d0e2f4a6c8e0b2d4f6a8c"}

func newEnv(tb testing.TB, dsn string, opts ...store.Option) *env {
	tb.Helper()
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "test"), 2*time.Minute)
	tb.Cleanup(cancel)
	s := storetest.Open(tb, dsn, testkit.Discard(), opts...)
	e := &env{ctx: ctx, s: s, site: testkit.WithCheckDigit(tb, "415012300000"), mah: testkit.WithCheckDigit(tb, "415012300001"),
		wholesaler: testkit.WithCheckDigit(tb, "400000000001"), gatewayP: testkit.WithCheckDigit(tb, "400000000002"), gw: &gateway{}}
	require.NoError(tb, s.PutProduct(ctx, master.Product{GTIN: gtin, Name: "Paracetamol Serialine 500 mg Filmtabletten", Form: "film-coated tablet",
		Strength: "500 mg", PackSize: 20, PackUnit: "TABLET", CompanyPrefixLen: 7, National: map[string]string{"710": pzn},
		Markets: []master.Market{master.MarketEUFMD}, Scheme: spec, PlannedVolume: 1_000_000}))
	addr := func(city, zip, country string) master.Address {
		return master.Address{Street: "Hauptstrasse 1", City: city, PostalCode: zip, Country: country}
	}
	require.NoError(tb, s.PutSite(ctx, master.Site{GLN: e.site, Name: "Serialine Plant Darmstadt", Address: addr("Darmstadt", "64293", "DE")}))
	for _, p := range []master.Partner{{GLN: e.mah, Name: "Serialine Pharma GmbH", Address: addr("Berlin", "10115", "DE")},
		{GLN: e.wholesaler, Name: "Grosshandel AG", Address: addr("Wien", "1010", "AT")},
		{GLN: e.gatewayP, Name: "OBP Gateway", Address: addr("Brussels", "1000", "BE")}} {
		require.NoError(tb, s.PutPartner(ctx, p))
	}
	ca := outboundtest.NewCA(tb, "gateway CA")
	srv := outboundtest.Server(tb, e.gw, ca, nil)
	_, err := s.PutPartnerEndpoint(ctx, master.PartnerEndpoint{GLN: e.gatewayP, Kind: master.EndpointFMD,
		URL: "https://localhost" + srv.URL[strings.LastIndex(srv.URL, ":"):] + "/emvs", Auth: master.EndpointAuthBearer, Secret: "obp-token", CACert: ca.PEM})
	require.NoError(tb, err)
	loopback, err := outbound.NewPolicy([]string{"127.0.0.0/8", "::1/128"})
	require.NoError(tb, err)
	e.sender, err = outbound.New(s, map[string]outbound.Builder{master.EndpointFMD: fmd.Builder{Store: s}}, loopback, outbound.Config{Owner: "test"}, testkit.Discard())
	require.NoError(tb, err)

	require.NoError(tb, s.PutLine(ctx, master.Line{ID: line1, SiteGLN: e.site, Name: "Line 1", PasswordHash: "unused"}))
	e.order(tb, "WO-1", "LOT42", 12)
	// The line rejects one pack and voids one serial it never printed.
	e.apply(tb, wire.Event{Type: wire.Decommissioned, Order: "WO-1", GTIN: gtin, Serial: e.packs[11], Lot: "LOT42", Expiry: "281200", Reason: wire.ReasonNoRead})
	e.packs = e.packs[:11]
	sn, err := e.sc.Serial(nil, e.next)
	require.NoError(tb, err)
	e.apply(tb, wire.Event{Type: wire.Voided, Order: "WO-1", GTIN: gtin, Serial: string(sn), Counter: new(e.next)})
	e.next++
	return e
}

// order makes, releases and fills a work order with n commissioned packs.
func (e *env) order(tb testing.TB, id, lot string, n int) []string {
	tb.Helper()
	_, err := e.s.CreateOrder(e.ctx, orders.WorkOrder{ID: id, GTIN: gtin, Lot: lot, Expiry: "281200", Quantity: 100})
	require.NoError(tb, err)
	_, err = e.s.ReleaseOrder(e.ctx, id, line1)
	require.NoError(tb, err)
	g, err := e.s.Grant(e.ctx, wire.SerialRequest{V: 1, RequestID: "grant-" + id, Line: line1, Order: id, GTIN: gtin, Count: 20}, 0)
	require.NoError(tb, err)
	e.sc, err = serials.New(*g.Scheme)
	require.NoError(tb, err)
	e.next = g.Ranges[0].Start
	var out []string
	for range n {
		sn, err := e.sc.Serial(nil, e.next)
		require.NoError(tb, err)
		e.apply(tb, wire.Event{Type: wire.Commissioned, Order: id, GTIN: gtin, Serial: string(sn), Counter: new(e.next), Lot: lot, Expiry: "281200"})
		e.next++
		out = append(out, string(sn))
	}
	if id == "WO-1" {
		e.packs = out
	}
	return out
}

// apply sends one line event through the store as the ingest does.
func (e *env) apply(tb testing.TB, ev wire.Event) {
	tb.Helper()
	e.seq++
	ev.ID, ev.Seq, ev.At, ev.Operator = fmt.Sprintf("%s:%d", line1, e.seq), e.seq, t0.Add(time.Duration(e.seq)*time.Second), "ana"
	res, err := e.s.ApplyEvents(e.ctx, line1, []wire.Event{ev})
	require.NoError(tb, err)
	require.Equal(tb, 1, res.Applied, "%+v", res)
}

// master is complete EU master data: Germany (with the PZN) and Austria.
func (e *env) master() eufmd.FMDProduct {
	return eufmd.FMDProduct{GTIN: gtin, CommonName: "paracetamol", PackType: "carton with 2 blisters of 10", ATCCodes: []string{"N02BE01"},
		Manufacturer: e.site, Markets: []eufmd.FMDMarket{
			{Country: "DE", MAH: e.mah, Wholesalers: []string{e.wholesaler}},
			{Country: "AT", MAH: e.mah},
		}}
}

// deliver has the outbound sender deliver what is due and returns the
// documents the gateway got since.
func (e *env) deliver(tb testing.TB) []fmd.Document {
	tb.Helper()
	before := len(e.gw.received())
	_, err := e.sender.SendDue(e.ctx)
	require.NoError(tb, err)
	var out []fmd.Document
	for _, b := range e.gw.received()[before:] {
		testkit.RequireSchemaValid(tb, "docs/schemas/eu-fmd-dataset.schema.json", b)
		var d fmd.Document
		require.NoError(tb, json.Unmarshal(b, &d))
		out = append(out, d)
	}
	return out
}

func marshalValid(tb testing.TB, d fmd.Document) {
	tb.Helper()
	b, err := fmd.Marshal(d)
	require.NoError(tb, err)
	testkit.RequireSchemaValid(tb, "docs/schemas/eu-fmd-dataset.schema.json", b)
}
