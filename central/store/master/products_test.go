package master_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

func TestProductsAndAudit(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		p := storetest.Product(storetest.GTINRand, storetest.RandSpec)
		p.National = map[string]string{"714": "1234567"}
		p.Markets = []master.Market{master.MarketUSDSCSA, master.MarketEUFMD}
		p.PlannedVolume = 10_000_000
		require.NoError(t, s.PutProduct(ctx, p))
		got, err := s.Product(ctx, storetest.GTINRand)
		require.NoError(t, err)
		require.False(t, got.CreatedAt.IsZero())
		p.CreatedAt, p.UpdatedAt = got.CreatedAt, got.UpdatedAt
		p.RejectAllowancePercent, p.RejectAllowanceMin = new(5), new(uint64(50)) // the defaults, for a product that set none
		require.Equal(t, p, got)

		p.Name = "Paracetamol 1 g"
		require.NoError(t, s.PutProduct(sqldb.WithActor(ctx, "user:bob"), p))
		entries, err := s.Audit(ctx, audit.Filter{Entity: "product", EntityID: storetest.GTINRand})
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
		require.NotContains(t, string(entries[1].After), storetest.TestKey, "the scheme key stays out of the audit trail")
		require.Contains(t, after.Scheme.Key, "sha256:", "a fingerprint shows that the key changed")

		list, err := s.Products(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		_, err = s.Product(ctx, storetest.GTINSeq)
		require.ErrorIs(t, err, sqldb.ErrNotFound)
	})
}

func TestProductValidation(t *testing.T) {
	s, ctx := storetest.Open(t, storetest.SQLiteDSN(t), testkit.Logger(t)), storetest.Context(t)
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
			p.Scheme = storetest.RandSpec
		}, "planned_volume", "missing"},
		{"currency", func(p *master.Product) { p.Currency = "eur" }, "currency", "ISO 4217"},
		{"grade", func(p *master.Product) { p.MinGrade = "F" }, "min_grade", "ISO/IEC 15415"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := storetest.Product(storetest.GTINSeq, storetest.SeqSpec)
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
		f := storetest.NewFixture(t, dsn)
		p, err := f.S.Product(f.Ctx, storetest.GTINSeq)
		require.NoError(t, err)
		p.Scheme.Start = 1000
		require.NoError(t, f.S.PutProduct(f.Ctx, p), "no serial granted yet: the scheme may change")
		f.Order(t, "WO-1", storetest.GTINSeq, storetest.Line1)
		f.Grant(t, "r1", storetest.Line1, "WO-1", storetest.GTINSeq, 10)
		p.Scheme.Start = 5000
		require.ErrorIs(t, f.S.PutProduct(f.Ctx, p), sqldb.ErrConflict)
		p.Scheme.Start = 1000
		p.Name = "renamed"
		require.NoError(t, f.S.PutProduct(f.Ctx, p), "other fields still change")
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
	s, ctx := storetest.Open(t, storetest.SQLiteDSN(t), testkit.Logger(t)), storetest.Context(t)
	p := storetest.Product(storetest.GTINSeq, storetest.SeqSpec)
	p.GTIN = "50312345678901" // indicator 5, 03, 1234567890, check digit
	require.NoError(t, s.PutProduct(ctx, p), "a higher packaging level embeds the NDC after its indicator")
	p.GTIN, p.NDC = storetest.GTINSeq, "1234-5678-90"
	require.NoError(t, s.PutProduct(ctx, p), "the same 10 digits in 4-4-2")
	p.Markets, p.PlannedVolume, p.Scheme, p.NDC = []master.Market{master.MarketEUFMD}, 1000, storetest.RandSpec, ""
	p.GTIN = "09506000134352"
	require.NoError(t, s.PutProduct(ctx, p), "an EU product has no NDC to embed")
}

// TestAddresses: sites, locations and partners keep structured
// addresses; each field has its rule, named in the refusal.
func TestAddresses(t *testing.T) {
	s, ctx := storetest.Open(t, storetest.SQLiteDSN(t), testkit.Logger(t)), storetest.Context(t)
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
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
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

		require.NoError(t, s.PutLine(ctx, master.Line{ID: storetest.Line1, SiteGLN: site.GLN, Name: "Blister 1", PasswordHash: "h1"}))
		require.ErrorIs(t, s.PutLine(ctx, master.Line{ID: "L/1", Name: "x"}), sqldb.ErrInvalid)
		require.ErrorIs(t, s.PutLine(ctx, master.Line{ID: storetest.Line2, SiteGLN: "0614141000012", Name: "x"}), sqldb.ErrNotFound)
		require.NoError(t, s.PutLine(ctx, master.Line{ID: storetest.Line1, SiteGLN: site.GLN, Name: "Blister 1", PasswordHash: "h2"}))
		l, err := s.Line(ctx, storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, "h2", l.PasswordHash)
		entries, err := s.Audit(ctx, audit.Filter{Entity: "line", EntityID: storetest.Line1})
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
