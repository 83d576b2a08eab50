package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

func TestOpenRejectsBadDSN(t *testing.T) {
	ctx := storetest.Context(t)
	for _, dsn := range []string{"", "mysql://x", "sqlite:", "sqlite:/tmp/a?b"} {
		_, err := store.Open(ctx, dsn, testkit.Logger(t))
		require.Error(t, err, dsn)
	}
	_, err := store.Open(ctx, "postgres://u:secret@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", testkit.Logger(t))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret", "the password never shows in errors")
}

func TestMigrationsIdempotentAndConcurrent(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		ctx := storetest.Context(t)
		// Several processes starting at once: each Open migrates or waits.
		const n = 4
		stores := make([]*store.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stores[i], errs[i] = store.Open(ctx, dsn, testkit.Logger(t))
			}()
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i], "open %d", i)
			t.Cleanup(stores[i].Close)
		}
		v, err := stores[0].SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, latestMigration(t), v)

		// Opening again changes nothing and keeps the data.
		require.NoError(t, stores[1].PutLine(ctx, master.Line{ID: line1, Name: "one"}))
		again := open(t, dsn)
		v2, err := again.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, v, v2)
		l, err := again.Line(ctx, line1)
		require.NoError(t, err)
		require.Equal(t, "one", l.Name)
	})
}

func TestProductsAndAudit(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s, ctx := open(t, dsn), storetest.Context(t)
		p := product(gtinRand, randSpec)
		p.National = map[string]string{"714": "1234567"}
		p.Markets = []master.Market{master.MarketUSDSCSA, master.MarketEUFMD}
		p.PlannedVolume = 10_000_000
		require.NoError(t, s.PutProduct(ctx, p))
		got, err := s.Product(ctx, gtinRand)
		require.NoError(t, err)
		require.False(t, got.CreatedAt.IsZero())
		p.CreatedAt, p.UpdatedAt = got.CreatedAt, got.UpdatedAt
		p.RejectAllowancePercent, p.RejectAllowanceMin = new(5), new(uint64(50)) // the defaults, for a product that set none
		require.Equal(t, p, got)

		p.Name = "Paracetamol 1 g"
		require.NoError(t, s.PutProduct(sqldb.WithActor(ctx, "user:bob"), p))
		entries, err := s.Audit(ctx, audit.Filter{Entity: "product", EntityID: gtinRand})
		require.NoError(t, err)
		require.Len(t, entries, 2)
		require.Equal(t, "create", entries[0].Action)
		require.Equal(t, "user:test", entries[0].Actor)
		require.Nil(t, entries[0].Before)
		require.Equal(t, "update", entries[1].Action)
		require.Equal(t, "user:bob", entries[1].Actor)
		var before, after master.Product
		require.NoError(t, json.Unmarshal(entries[1].Before, &before))
		require.NoError(t, json.Unmarshal(entries[1].After, &after))
		require.Equal(t, "Paracetamol 500 mg tablets", before.Name)
		require.Equal(t, "Paracetamol 1 g", after.Name)
		require.NotContains(t, string(entries[1].After), testKey, "the scheme key stays out of the audit trail")
		require.Contains(t, after.Scheme.Key, "sha256:", "a fingerprint shows that the key changed")

		list, err := s.Products(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		_, err = s.Product(ctx, gtinSeq)
		require.ErrorIs(t, err, sqldb.ErrNotFound)
	})
}

func TestProductValidation(t *testing.T) {
	s, ctx := open(t, storetest.SQLiteDSN(t)), storetest.Context(t)
	tests := []struct {
		name   string
		mutate func(*master.Product)
		field  string
		want   string
	}{
		{"gtin check digit", func(p *master.Product) { p.GTIN = "09506000134353" }, "gtin", "check digit"},
		{"gtin 13 digits", func(p *master.Product) { p.GTIN = "9506000134352" }, "gtin", "14 digits"},
		{"name", func(p *master.Product) { p.Name = "" }, "name", "missing"},
		{"prefix", func(p *master.Product) { p.CompanyPrefixLen = 5 }, "company_prefix_len", "6 to 12"},
		{"ndc", func(p *master.Product) { p.NDC = "12345" }, "ndc", "10 digits"},
		{"ndc without hyphens", func(p *master.Product) { p.NDC = "1234567890" }, "ndc", "with hyphens (4-4-2, 5-3-2 or 5-4-1)"},
		{"ndc 11 digits", func(p *master.Product) { p.NDC = "12345-0678-90" }, "ndc", "a 5-4-2 NDC: the configurations are 4-4-2, 5-3-2 and 5-4-1"},
		{"ndc 3-5-2", func(p *master.Product) { p.NDC = "123-45678-90" }, "ndc", "3-5-2"},
		{"ndc letters", func(p *master.Product) { p.NDC = "12345-67a-90" }, "ndc", "neither a digit"},
		{"gtin does not embed the ndc", func(p *master.Product) { p.GTIN = "09506000134352" }, "gtin",
			"09506000134352 does not embed ndc 12345-678-90: a US product's GTIN is an indicator digit, 03, the NDC's 10 digits and a check digit (00312345678906)"},
		{"gtin embeds another ndc", func(p *master.Product) { p.NDC = "12345-678-91" }, "gtin", "(00312345678913)"},
		{"pack unit", func(p *master.Product) { p.PackUnit = "TAB\x01" }, "pack_unit", "control character"},
		{"ndc for dscsa", func(p *master.Product) { p.NDC = "" }, "ndc", "us-dscsa"},
		{"market", func(p *master.Product) { p.Markets = []master.Market{"jp"} }, "markets", `"jp" is not a market`},
		{"no market", func(p *master.Product) { p.Markets = nil }, "markets", "missing"},
		{"national", func(p *master.Product) { p.National = map[string]string{"720": "x"} }, "national", "710-717"},
		{"scheme", func(p *master.Product) { p.Scheme.Length = 0 }, "scheme", "length"},
		{"fmd sequential", func(p *master.Product) {
			p.Markets = []master.Market{master.MarketEUFMD}
			p.PlannedVolume = 1000
		}, "scheme", "guessable"},
		{"fmd volume", func(p *master.Product) {
			p.Markets = []master.Market{master.MarketEUFMD}
			p.Scheme = randSpec
		}, "planned_volume", "missing"},
		{"currency", func(p *master.Product) { p.Currency = "eur" }, "currency", "ISO 4217"},
		{"grade", func(p *master.Product) { p.MinGrade = "F" }, "min_grade", "ISO/IEC 15415"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := product(gtinSeq, seqSpec)
			tc.mutate(&p)
			err := s.PutProduct(ctx, p)
			require.ErrorIs(t, err, sqldb.ErrInvalid)
			var ve *sqldb.ValidationError
			require.True(t, errors.As(err, &ve))
			require.Equal(t, tc.field, ve.Field, err.Error())
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), "product ")
		})
	}
}

func TestSchemeFrozenAfterGrant(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		p, err := f.s.Product(f.ctx, gtinSeq)
		require.NoError(t, err)
		p.Scheme.Start = 1000
		require.NoError(t, f.s.PutProduct(f.ctx, p), "no serial granted yet: the scheme may change")
		f.order(t, "WO-1", gtinSeq, line1)
		f.grant(t, "r1", line1, "WO-1", gtinSeq, 10)
		p.Scheme.Start = 5000
		require.ErrorIs(t, f.s.PutProduct(f.ctx, p), sqldb.ErrConflict)
		p.Scheme.Start = 1000
		p.Name = "renamed"
		require.NoError(t, f.s.PutProduct(f.ctx, p), "other fields still change")
	})
}

// TestNDCConfigurations: each configuration of 10 digits is taken, its
// 11-digit form pads the short segment, and a case GTIN (indicator 1-8)
// embeds the NDC too.
func TestNDCConfigurations(t *testing.T) {
	for _, tc := range []struct{ ndc, digits, eleven string }{
		{"1234-5678-90", "1234567890", "01234567890"},
		{"12345-678-90", "1234567890", "12345067890"},
		{"12345-6789-0", "1234567890", "12345678900"},
	} {
		d, err := master.NDCDigits(tc.ndc)
		require.NoError(t, err, tc.ndc)
		require.Equal(t, tc.digits, d)
		e, err := master.NDC11(tc.ndc)
		require.NoError(t, err)
		require.Equal(t, tc.eleven, e)
	}
	s, ctx := open(t, storetest.SQLiteDSN(t)), storetest.Context(t)
	p := product(gtinSeq, seqSpec)
	p.GTIN = "50312345678901" // indicator 5, 03, 1234567890, check digit
	require.NoError(t, s.PutProduct(ctx, p), "a higher packaging level embeds the NDC after its indicator")
	p.GTIN, p.NDC = gtinSeq, "1234-5678-90"
	require.NoError(t, s.PutProduct(ctx, p), "the same 10 digits in 4-4-2")
	p.Markets, p.PlannedVolume, p.Scheme, p.NDC = []master.Market{master.MarketEUFMD}, 1000, randSpec, ""
	p.GTIN = "09506000134352"
	require.NoError(t, s.PutProduct(ctx, p), "an EU product has no NDC to embed")
}

// TestAddresses: sites, locations and partners keep structured
// addresses; each field has its rule, named in the refusal.
func TestAddresses(t *testing.T) {
	s, ctx := open(t, storetest.SQLiteDSN(t)), storetest.Context(t)
	us := master.Address{Street: "1 Factory Rd", City: "Durham", State: "NC", PostalCode: "27701-1234", Country: "US"}
	require.NoError(t, s.PutSite(ctx, master.Site{GLN: "0614141000005", Name: "Plant", Address: us, CompanyPrefixLen: 7}))
	got, err := s.Site(ctx, "0614141000005")
	require.NoError(t, err)
	require.Equal(t, us, got.Address)
	require.Equal(t, 7, got.CompanyPrefixLen)
	require.Equal(t, "1 Factory Rd, Durham, NC 27701-1234, US", got.Address.String())
	for _, tc := range []struct {
		a     master.Address
		field string
	}{
		{master.Address{Country: "usa"}, "address.country"},
		{master.Address{Country: "US", State: "North Carolina"}, "address.state"},
		{master.Address{Country: "US", PostalCode: "2770"}, "address.postal_code"},
		{master.Address{Country: "US", PostalCode: "27701-12"}, "address.postal_code"},
		{master.Address{Street: "1 Main St\n2nd floor"}, "address.street"},
	} {
		err := s.PutPartner(ctx, master.Partner{GLN: "0614141000029", Name: "Acme", Address: tc.a})
		var ve *sqldb.ValidationError
		require.ErrorAs(t, err, &ve, "%+v", tc.a)
		require.Equal(t, tc.field, ve.Field)
	}
	pt := master.Address{Street: "Rua 1", City: "Lisboa", PostalCode: "1100-001", Country: "PT"}
	require.NoError(t, s.PutPartner(ctx, master.Partner{GLN: "0614141000029", Name: "Farmácia", Address: pt}), "other countries' formats")
	p, err := s.Partner(ctx, "0614141000029")
	require.NoError(t, err)
	require.Equal(t, pt, p.Address)
	require.Equal(t, master.EPCIS12, p.EPCISVersion, "1.2 by default")
	err = s.PutPartner(ctx, master.Partner{GLN: "0614141000029", Name: "Farmácia", EPCISVersion: "1.1"})
	require.ErrorContains(t, err, "epcis_version")
	require.NoError(t, s.PutLocation(ctx, master.Location{GLN: "0614141000005", Extension: "D1", SiteGLN: "0614141000005", Name: "Dock",
		Address: master.Address{Street: "2 Factory Rd", City: "Durham", State: "NC", PostalCode: "27701", Country: "US"}}))
	l, err := s.LocationOf(ctx, "0614141000005", "D1")
	require.NoError(t, err)
	require.Equal(t, "2 Factory Rd", l.Address.Street)

	var a master.Address
	require.ErrorContains(t, json.Unmarshal([]byte(`"1 Main St, Durham"`), &a), "an object")
	require.ErrorContains(t, json.Unmarshal([]byte(`{"street": "x", "zip": "1"}`), &a), "zip")
}

func TestMasterData(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s, ctx := open(t, dsn), storetest.Context(t)
		site := master.Site{GLN: "0614141000005", Name: "Plant Porto", Address: master.Address{Street: "Rua 1", City: "Porto"}}
		require.NoError(t, s.PutSite(ctx, site))
		require.ErrorIs(t, s.PutSite(ctx, master.Site{GLN: "0614141000006", Name: "x"}), sqldb.ErrInvalid)
		got, err := s.Site(ctx, site.GLN)
		require.NoError(t, err)
		require.Equal(t, site.Name, got.Name)

		loc := master.Location{GLN: "0614141000005", Extension: "12", SiteGLN: site.GLN, Name: "Dock 12"}
		require.NoError(t, s.PutLocation(ctx, loc))
		require.ErrorIs(t, s.PutLocation(ctx, master.Location{GLN: "0614141000005", Extension: "1", SiteGLN: "0614141000012", Name: "x"}), sqldb.ErrNotFound)
		locs, err := s.Locations(ctx, site.GLN)
		require.NoError(t, err)
		require.Len(t, locs, 1)
		uri, err := locs[0].SGLN(7)
		require.NoError(t, err)
		require.Equal(t, "urn:epc:id:sgln:0614141.00000.12", uri)

		require.NoError(t, s.PutLine(ctx, master.Line{ID: line1, SiteGLN: site.GLN, Name: "Blister 1", PasswordHash: "h1"}))
		require.ErrorIs(t, s.PutLine(ctx, master.Line{ID: "L/1", Name: "x"}), sqldb.ErrInvalid)
		require.ErrorIs(t, s.PutLine(ctx, master.Line{ID: line2, SiteGLN: "0614141000012", Name: "x"}), sqldb.ErrNotFound)
		require.NoError(t, s.PutLine(ctx, master.Line{ID: line1, SiteGLN: site.GLN, Name: "Blister 1", PasswordHash: "h2"}))
		l, err := s.Line(ctx, line1)
		require.NoError(t, err)
		require.Equal(t, "h2", l.PasswordHash)
		entries, err := s.Audit(ctx, audit.Filter{Entity: "line", EntityID: line1})
		require.NoError(t, err)
		require.Len(t, entries, 2)
		var lineAfter map[string]any
		require.NoError(t, json.Unmarshal(entries[1].After, &lineAfter))
		require.Equal(t, true, lineAfter["password_changed"])
		require.NotContains(t, string(entries[1].After), "h2", "the hash stays out of the audit trail")

		partner := master.Partner{GLN: "0614141000012", Name: "Wholesale Inc", Licences: map[string]string{"us-nj-wholesale": "W-123"}}
		require.NoError(t, s.PutPartner(ctx, partner))
		gotP, err := s.Partner(ctx, partner.GLN)
		require.NoError(t, err)
		require.Equal(t, partner.Licences, gotP.Licences)

		tok, err := s.CreateAPIToken(ctx, "ERP", "planner", "sha256:0123456789abcdef0123")
		require.NoError(t, err)
		byHash, err := s.APITokenByHash(ctx, "sha256:0123456789abcdef0123")
		require.NoError(t, err)
		require.Equal(t, tok.ID, byHash.ID)
		require.Equal(t, "planner", byHash.Role)
		require.NoError(t, s.RevokeAPIToken(ctx, tok.ID))
		require.ErrorIs(t, s.RevokeAPIToken(ctx, tok.ID), sqldb.ErrState)
		_, err = s.APITokenByHash(ctx, "sha256:0123456789abcdef0123")
		require.ErrorIs(t, err, sqldb.ErrNotFound, "a revoked token does not authenticate")
		toks, err := s.APITokens(ctx)
		require.NoError(t, err)
		require.Len(t, toks, 1)
		require.NotNil(t, toks[0].RevokedAt)
		_, err = s.CreateAPIToken(ctx, "x", "Admin", "sha256:0123456789abcdef0123")
		require.ErrorIs(t, err, sqldb.ErrInvalid)
	})
}

func TestWorkOrders(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		_, err := f.s.CreateOrder(f.ctx, orders.WorkOrder{ID: "WO-1", GTIN: gtinSeq, Lot: lot, Expiry: expiry, Quantity: 100})
		require.NoError(t, err)
		_, err = f.s.CreateOrder(f.ctx, orders.WorkOrder{ID: "WO-1", GTIN: gtinSeq, Lot: lot, Expiry: expiry, Quantity: 100})
		require.ErrorIs(t, err, sqldb.ErrConflict)
		_, err = f.s.CreateOrder(f.ctx, orders.WorkOrder{ID: "WO-2", GTIN: "00312345678937", Lot: lot, Expiry: expiry, Quantity: 1})
		require.ErrorIs(t, err, sqldb.ErrNotFound)
		_, err = f.s.CreateOrder(f.ctx, orders.WorkOrder{ID: "WO-2", GTIN: gtinSeq, Lot: "L 1", Expiry: expiry, Quantity: 1})
		require.ErrorIs(t, err, sqldb.ErrInvalid)
		_, err = f.s.CreateOrder(f.ctx, orders.WorkOrder{ID: "WO-2", GTIN: gtinSeq, Lot: lot, Expiry: "280230", Quantity: 1})
		require.ErrorContains(t, err, "expiry")

		_, err = f.s.ReleaseOrder(f.ctx, "WO-1", "L9")
		require.ErrorIs(t, err, sqldb.ErrNotFound)
		o, err := f.s.ReleaseOrder(f.ctx, "WO-1", line1)
		require.NoError(t, err)
		require.Equal(t, wire.OrderStateReleased, o.State)
		_, err = f.s.ReleaseOrder(f.ctx, "WO-1", line2)
		require.ErrorIs(t, err, sqldb.ErrState)

		lo, err := f.s.LineOrders(f.ctx, line1)
		require.NoError(t, err)
		require.NoError(t, lo.Validate(), "the orders payload is valid on the wire")
		require.Len(t, lo.Orders, 1)
		require.Equal(t, "12345-678-90", lo.Orders[0].National["715"])

		o, err = f.s.CloseOrder(f.ctx, "WO-1")
		require.NoError(t, err)
		require.NotNil(t, o.ClosedAt)
		// Until the line reports it closed, the line is told of the close.
		lo, err = f.s.LineOrders(f.ctx, line1)
		require.NoError(t, err)
		require.NoError(t, lo.Validate())
		require.Len(t, lo.Orders, 1)
		require.Equal(t, wire.OrderStateClosed, lo.Orders[0].State)
		require.Equal(t, *o.ClosedAt, lo.Orders[0].ClosedAt)
		closed := ev(line1, 1, wire.OrderClosed)
		closed.Order, closed.Counts = "WO-1", &wire.Reconciliation{}
		res, err := f.s.ApplyEvents(f.ctx, line1, []wire.Event{closed})
		require.NoError(t, err)
		require.Equal(t, 1, res.Applied)
		require.Equal(t, []string{"WO-1"}, res.OrdersChanged, "the line's orders are republished")
		lo, err = f.s.LineOrders(f.ctx, line1)
		require.NoError(t, err)
		require.Empty(t, lo.Orders)

		list, err := f.s.Orders(f.ctx, orders.OrderFilter{Line: line1, State: wire.OrderStateClosed})
		require.NoError(t, err)
		require.Len(t, list, 1)
		entries, err := f.s.Audit(f.ctx, audit.Filter{Entity: "work_order", EntityID: "WO-1"})
		require.NoError(t, err)
		actions := []string{}
		for _, a := range entries {
			actions = append(actions, a.Action)
		}
		require.Equal(t, []string{"create", "release", "close", "reconcile"}, actions, "one close: the line's report of it is its reconciliation")
	})
}

// TestAuditAppendOnly: the database refuses to change or remove an audit
// entry, even to someone with SQL access.
func TestAuditAppendOnly(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		s, ctx := open(t, dsn), storetest.Context(t)
		require.NoError(t, s.PutLine(ctx, master.Line{ID: line1, Name: "x"}))
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		for _, stmt := range []string{"UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", "TRUNCATE audit_log"} {
			_, err := conn.Exec(ctx, stmt)
			require.ErrorContains(t, err, "append-only", stmt)
		}
		entries, err := s.Audit(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Len(t, entries, 1)
		require.Equal(t, "user:test", entries[0].Actor)
	})
	t.Run("sqlite", func(t *testing.T) {
		dsn := storetest.SQLiteDSN(t)
		s, ctx := open(t, dsn), storetest.Context(t)
		require.NoError(t, s.PutLine(ctx, master.Line{ID: line1, Name: "x"}))
		s.Close()
		db := openRawSQLite(t, dsn)
		for _, stmt := range []string{"UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"} {
			_, err := db.ExecContext(ctx, stmt)
			require.ErrorContains(t, err, "append-only", stmt)
		}
	})
}

func TestDeadLetterAdd(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s, ctx := open(t, dsn), storetest.Context(t)
		id, err := s.AddDeadLetter(ctx, lineevents.DeadLetter{Topic: "serialine/v1/lines/L1/events", Line: line1, Payload: []byte("{not json"), Reason: "payload is not valid JSON"})
		require.NoError(t, err)
		require.Positive(t, id)
		_, err = s.AddDeadLetter(ctx, lineevents.DeadLetter{Topic: "t", Reason: "empty payload"})
		require.NoError(t, err)
		dls, err := s.DeadLetters(ctx, lineevents.DeadLetterFilter{Line: line1})
		require.NoError(t, err)
		require.Len(t, dls, 1)
		require.Equal(t, []byte("{not json"), dls[0].Payload)
		_, err = s.AddDeadLetter(ctx, lineevents.DeadLetter{Topic: "t"})
		require.ErrorIs(t, err, sqldb.ErrInvalid)
	})
}

// latestMigration is the highest NNNN of migrations/NNNN_*.sql.
func latestMigration(tb testing.TB) int {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("sqldb", "migrations", "*.sql"))
	require.NoError(tb, err)
	latest := 0
	for _, f := range files {
		num, _, ok := strings.Cut(filepath.Base(f), "_")
		require.True(tb, ok, f)
		v, err := strconv.Atoi(num)
		require.NoError(tb, err, f)
		latest = max(latest, v)
	}
	require.NotZero(tb, latest)
	return latest
}

// TestPostgresTextIsBytewise: on PostgreSQL every TEXT column of the
// schema compares bytewise (COLLATE "C"), also one that a later migration
// adds without saying so, and making it so keeps the data.
func TestPostgresTextIsBytewise(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := storetest.Context(t)
	s := open(t, dsn)
	require.NoError(t, s.PutLine(ctx, master.Line{ID: line1, Name: "one"}))

	db, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close(context.Background()) })
	notBytewise := func() []string {
		rows, err := db.Query(ctx, `SELECT c.relname || '.' || a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
			AND a.atttypid = 'text'::regtype AND a.attcollation <> (SELECT oid FROM pg_collation WHERE collname = 'C' AND collnamespace = 'pg_catalog'::regnamespace)
			ORDER BY 1`)
		require.NoError(t, err)
		cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return cols
	}
	require.Empty(t, notBytewise())

	// A column added in the database's default collation (as a future
	// migration might) is converted at the next Open, data and all.
	_, err = db.Exec(ctx, `ALTER TABLE lines ADD COLUMN note TEXT NOT NULL DEFAULT 'kept'`)
	require.NoError(t, err)
	require.Equal(t, []string{"lines.note"}, notBytewise())
	again := open(t, dsn)
	require.Empty(t, notBytewise())
	l, err := again.Line(ctx, line1)
	require.NoError(t, err)
	require.Equal(t, "one", l.Name)
	var note string
	require.NoError(t, db.QueryRow(ctx, "SELECT note FROM lines WHERE id = $1", line1).Scan(&note))
	require.Equal(t, "kept", note)
}

// TestSQLiteConcurrentFirstOpen: several processes opening a new SQLite
// file at once all succeed (TestSetWALConcurrent tests the WAL switch
// behind it more sharply).
func TestSQLiteConcurrentFirstOpen(t *testing.T) {
	ctx := storetest.Context(t)
	for round := range 20 {
		dsn := "sqlite:" + filepath.Join(t.TempDir(), "central.db")
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				s, err := store.Open(ctx, dsn, testkit.Logger(t))
				if err == nil {
					s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d, open %d", round, i)
		}
	}
}
