package fmd_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/fmd"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
)

// TestBatchDataSet: the line's batch goes to the hub as the product code
// version's master data, then the batch's packs, both through the
// outbound queue to the gateway over HTTPS; each document valid against
// the schema; every art. 33(2) element there; exactly the packs in
// circulation (not the reject, not the voided serial). On SQLite and
// PostgreSQL.
func TestBatchDataSet(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		p, err := e.s.PutFMDProduct(e.ctx, e.master(), false)
		require.NoError(t, err)
		require.Equal(t, 1, p.Version)
		require.Equal(t, eufmd.CodingSchemeGTIN, p.CodingScheme)
		require.Equal(t, pzn, p.Markets[0].NationalCode, "DE's national code from the AI 710 the pack carries")

		_, queued, err := e.s.SendFMDBatch(e.ctx, "WO-1")
		require.NoError(t, err)
		require.Len(t, queued, 2, "the master data first, then the batch")
		docs := e.deliver(t)
		require.Len(t, docs, 2)
		byType := map[string]fmd.Document{}
		for _, d := range docs {
			require.Equal(t, fmd.Format, d.Format)
			byType[d.Type] = d
		}

		// Art. 33(2): (b) coding scheme, (c) name, common name, form,
		// strength, pack type and size, (d) Member States, (f) the
		// manufacturer and (g) the MAH with addresses, (h) wholesalers.
		pd := byType[fmd.TypeProduct].Product
		require.NotNil(t, pd)
		require.Equal(t, gtin, pd.ProductCode)
		require.Equal(t, "GTIN", pd.CodingScheme)
		require.Equal(t, 1, pd.Version)
		require.Equal(t, "Paracetamol Serialine 500 mg Filmtabletten", pd.Name)
		require.Equal(t, "paracetamol", pd.CommonName)
		require.Equal(t, "film-coated tablet", pd.PharmaceuticalForm)
		require.Equal(t, "500 mg", pd.Strength)
		require.Equal(t, "carton with 2 blisters of 10", pd.PackType)
		require.Equal(t, 20, pd.PackSize)
		require.Equal(t, fmd.Party{GLN: e.site, Name: "Serialine Plant Darmstadt",
			Address: fmd.Address{Street: "Hauptstrasse 1", City: "Darmstadt", PostalCode: "64293", Country: "DE"}}, pd.Manufacturer)
		require.Len(t, pd.Markets, 2)
		de, at := pd.Markets[0], pd.Markets[1]
		require.Equal(t, "DE", de.Country)
		require.Equal(t, pzn, de.NationalCode)
		require.Equal(t, "710", de.NationalCodeAI)
		require.Equal(t, "Serialine Pharma GmbH", de.MAH.Name)
		require.Equal(t, "Berlin", de.MAH.Address.City)
		require.Equal(t, []string{e.wholesaler}, []string{de.Wholesalers[0].GLN})
		require.Equal(t, "Wien", de.Wholesalers[0].Address.City)
		require.Equal(t, "AT", at.Country)
		require.Empty(t, at.NationalCode)
		require.Empty(t, at.Wholesalers)

		// Art. 33(2)(a): the unique identifiers' elements of every pack.
		bd := byType[fmd.TypeBatch].Batch
		require.NotNil(t, bd)
		require.Equal(t, gtin, bd.ProductCode)
		require.Equal(t, 1, bd.ProductVersion)
		require.Equal(t, "LOT42", bd.Batch)
		require.Equal(t, "2028-12-31", bd.Expiry)
		require.Equal(t, "281200", bd.ExpiryGS1)
		require.Equal(t, "WO-1", bd.WorkOrder)
		want := slices.Sorted(slices.Values(e.packs))
		require.Equal(t, want, bd.Serials)
		require.Equal(t, len(want), bd.Packs)

		// Downloadable too: the same content.
		again, err := fmd.BatchDocument(e.ctx, e.s, "WO-1")
		require.NoError(t, err)
		marshalValid(t, again)
		require.Equal(t, *bd, *again.Batch)
	})
}

// TestPreValidation: every rule the hub applies to a mandatory field is
// checked before anything is saved or sent, each refusal naming the
// field; nothing is written.
func TestPreValidation(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	stranger := testkit.WithCheckDigit(t, "400000000099")
	noAddress := testkit.WithCheckDigit(t, "400000000003")
	require.NoError(t, e.s.PutPartner(e.ctx, master.Partner{GLN: noAddress, Name: "No Address Ltd"}))
	cases := []struct {
		name  string
		edit  func(*eufmd.FMDProduct)
		field string
	}{
		{"no common name", func(p *eufmd.FMDProduct) { p.CommonName = "" }, "common_name"},
		{"a blank common name", func(p *eufmd.FMDProduct) { p.CommonName = "   " }, "common_name"},
		{"no pack type", func(p *eufmd.FMDProduct) { p.PackType = "" }, "pack_type"},
		{"another coding scheme", func(p *eufmd.FMDProduct) { p.CodingScheme = "PPN" }, "coding_scheme"},
		{"an ATC code of another shape", func(p *eufmd.FMDProduct) { p.ATCCodes = []string{"N02BE01", "n02"} }, "atc_codes[1]"},
		{"no manufacturer", func(p *eufmd.FMDProduct) { p.Manufacturer = "" }, "manufacturer"},
		{"a manufacturer nobody knows", func(p *eufmd.FMDProduct) { p.Manufacturer = stranger }, "manufacturer"},
		{"no markets", func(p *eufmd.FMDProduct) { p.Markets = nil }, "markets"},
		{"a market outside the EU and EEA", func(p *eufmd.FMDProduct) { p.Markets[1].Country = "CH" }, "markets[1].country"},
		{"a market twice", func(p *eufmd.FMDProduct) { p.Markets[1].Country = "DE" }, "markets[1].country"},
		{"a national code that is not the printed PZN", func(p *eufmd.FMDProduct) { p.Markets[0].NationalCode = "87654321" }, "markets[0].national_code"},
		{"France without its CIP", func(p *eufmd.FMDProduct) { p.Markets[1].Country = "FR" }, "markets[1].national_code"},
		{"a MAH without an address", func(p *eufmd.FMDProduct) { p.Markets[1].MAH = noAddress }, "markets[1].mah"},
		{"a wholesaler that is our own site", func(p *eufmd.FMDProduct) { p.Markets[0].Wholesalers = []string{e.site} }, "markets[0].wholesalers[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.master()
			tc.edit(&p)
			_, err := e.s.PutFMDProduct(e.ctx, p, false)
			var ve *sqldb.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.field, ve.Field, "%v", err)
			_, err = e.s.FMDProduct(e.ctx, gtin, 0)
			require.ErrorIs(t, err, sqldb.ErrNotFound, "nothing saved")
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		p := e.master()
		p.CommonName, p.PackType, p.Markets[1].Country = "", "", "CH"
		ps, err := e.s.FMDProblems(e.ctx, p)
		require.NoError(t, err)
		var fields []string
		for _, pr := range ps {
			fields = append(fields, pr.Field)
		}
		require.Equal(t, []string{"common_name", "pack_type", "markets[1].country"}, fields)
	})
	t.Run("a batch without master data", func(t *testing.T) {
		_, _, err := e.s.SendFMDBatch(e.ctx, "WO-1")
		var ve *sqldb.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "eu_fmd", ve.Field)
		require.Empty(t, e.deliver(t), "nothing queued")
	})
	t.Run("the product record's own elements", func(t *testing.T) {
		_, err := e.s.PutFMDProduct(e.ctx, e.master(), false)
		require.NoError(t, err)
		prod, err := e.s.Product(e.ctx, gtin)
		require.NoError(t, err)
		prod.Strength, prod.RejectAllowanceMin, prod.RejectAllowancePercent = "", nil, nil
		require.NoError(t, e.s.PutProduct(e.ctx, prod))
		_, err = fmd.ProductDocument(e.ctx, e.s, gtin, 0)
		var ve *sqldb.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "product.strength", ve.Field)
	})
}

// TestMarketsFixedOnceUploaded: the hub keeps an uploaded version's
// target markets; another list is a new product code version, and a
// batch stays with the version it was uploaded under.
func TestMarketsFixedOnceUploaded(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	_, err := e.s.PutFMDProduct(e.ctx, e.master(), false)
	require.NoError(t, err)
	// Before the upload the markets may change in place.
	p := e.master()
	p.Markets = p.Markets[:1]
	v, err := e.s.PutFMDProduct(e.ctx, p, false)
	require.NoError(t, err)
	require.Equal(t, 1, v.Version)
	_, _, err = e.s.SendFMDBatch(e.ctx, "WO-1")
	require.NoError(t, err)
	require.Len(t, e.deliver(t), 2)

	p = e.master() // DE and AT again
	_, err = e.s.PutFMDProduct(e.ctx, p, false)
	require.ErrorIs(t, err, sqldb.ErrConflict)
	require.Contains(t, err.Error(), "markets")
	// Other elements of the uploaded version may change.
	same := e.master()
	same.Markets, same.PackType = same.Markets[:1], "carton"
	v, err = e.s.PutFMDProduct(e.ctx, same, false)
	require.NoError(t, err)
	require.Equal(t, 1, v.Version)
	_, err = e.s.PutFMDProduct(e.ctx, same, true)
	var ve *sqldb.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "new_version", ve.Field)

	v2, err := e.s.PutFMDProduct(e.ctx, p, true)
	require.NoError(t, err)
	require.Equal(t, 2, v2.Version)
	require.Nil(t, v2.UploadedAt)
	old, err := e.s.FMDProduct(e.ctx, gtin, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"DE"}, old.Countries())

	b1, err := fmd.BatchDocument(e.ctx, e.s, "WO-1")
	require.NoError(t, err)
	require.Equal(t, 1, b1.Batch.ProductVersion, "WO-1 stays with version 1")
	e.order(t, "WO-2", "LOT43", 3)
	_, _, err = e.s.SendFMDBatch(e.ctx, "WO-2")
	require.NoError(t, err)
	docs := e.deliver(t)
	require.Len(t, docs, 2, "version 2's master data, then WO-2's batch")
	require.Equal(t, 2, docs[0].Product.Version)
	require.Equal(t, []string{"DE", "AT"}, []string{docs[0].Product.Markets[0].Country, docs[0].Product.Markets[1].Country})
	require.Equal(t, 2, docs[1].Batch.ProductVersion)
}

// TestRecallDecommissions: a recall of the batch produces the status
// update that decommissions exactly its packs at the hub, queued with the
// recall; a reversal within its window reactivates them; a second
// reversal, and one past the window, are refused.
func TestRecallDecommissions(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		_, err := e.s.PutFMDProduct(e.ctx, e.master(), false)
		require.NoError(t, err)
		_, _, err = e.s.SendFMDBatch(e.ctx, "WO-1")
		require.NoError(t, err)
		e.deliver(t)
		other := e.order(t, "WO-2", "LOT43", 2) // another batch: not recalled

		rc, err := e.s.CreateRecall(e.ctx, supply.RecallRequest{ID: "RC-1", GTIN: gtin, Lot: "LOT42", Reason: "dissolution out of specification"})
		require.NoError(t, err)
		docs := e.deliver(t)
		require.Len(t, docs, 1)
		st := docs[0].Status
		require.NotNil(t, st)
		require.Equal(t, eufmd.FMDRecall, st.Kind)
		require.Equal(t, "decommissioned", st.State)
		require.Equal(t, "recalled", st.Reason)
		require.Equal(t, rc.ID, st.Recall)
		require.Equal(t, "LOT42", st.Batch)
		var got []string
		for _, p := range st.Packs {
			require.Equal(t, "LOT42", p.Batch)
			require.Equal(t, "281200", p.ExpiryGS1)
			got = append(got, p.Serial)
		}
		require.Equal(t, slices.Sorted(slices.Values(e.packs)), got, "exactly the batch's packs")
		require.Equal(t, len(e.packs), st.Count)
		for _, sn := range other {
			require.NotContains(t, got, sn)
		}

		rev, err := e.s.ReverseFMDStatus(e.ctx, st.ID, "recall issued against the wrong lot")
		require.NoError(t, err)
		require.Len(t, rev.Queued, 1)
		docs = e.deliver(t)
		require.Len(t, docs, 1)
		back := docs[0].Status
		require.Equal(t, eufmd.FMDReversal, back.Kind)
		require.Equal(t, "active", back.State)
		require.Equal(t, "recalled", back.Reason)
		require.Equal(t, st.ID, *back.Reverses)
		require.Equal(t, st.Packs, back.Packs)
		_, err = e.s.ReverseFMDStatus(e.ctx, st.ID, "again")
		require.ErrorIs(t, err, sqldb.ErrConflict)
		_, err = e.s.ReverseFMDStatus(e.ctx, back.ID, "undo the undo")
		require.ErrorIs(t, err, sqldb.ErrConflict)

		// The recall's data sets, downloadable: the recall and its reversal.
		ups, err := e.s.FMDStatuses(e.ctx, eufmd.FMDStatusFilter{RecallID: rc.ID})
		require.NoError(t, err)
		require.Len(t, ups, 2)

		// A withdrawal past its window cannot be reversed.
		later := storetest.Open(t, dsn, testkit.Discard(), store.WithClock(func() time.Time { return time.Now().Add(11 * 24 * time.Hour) }))
		w, err := e.s.CreateFMDStatus(e.ctx, eufmd.FMDStatusRequest{Kind: eufmd.FMDWithdrawal, GTIN: gtin, Serials: other[:1], Reason: "withdrawn in AT", Markets: []string{"AT"}})
		require.NoError(t, err)
		require.Equal(t, 1, w.Packs)
		d, err := fmd.StatusDocument(e.ctx, e.s, w.ID)
		require.NoError(t, err)
		marshalValid(t, d)
		require.Equal(t, []string{"AT"}, d.Status.Markets)
		_, err = later.ReverseFMDStatus(e.ctx, w.ID, "too late")
		require.ErrorIs(t, err, sqldb.ErrConflict)
		require.Contains(t, err.Error(), "window")
	})
}

// TestStatusRefusals: status updates name what is wrong.
func TestStatusRefusals(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	for _, tc := range []struct {
		name  string
		req   eufmd.FMDStatusRequest
		field string
	}{
		{"a kind that is not one", eufmd.FMDStatusRequest{Kind: "lost", GTIN: gtin, Lot: "LOT42", Reason: "x"}, "kind"},
		{"a recall (made with the recall)", eufmd.FMDStatusRequest{Kind: eufmd.FMDRecall, GTIN: gtin, Lot: "LOT42", Reason: "x"}, "kind"},
		{"no reason", eufmd.FMDStatusRequest{Kind: eufmd.FMDTheft, GTIN: gtin, Lot: "LOT42"}, "reason"},
		{"neither lot nor serials", eufmd.FMDStatusRequest{Kind: eufmd.FMDTheft, GTIN: gtin, Reason: "x"}, "lot"},
		{"both", eufmd.FMDStatusRequest{Kind: eufmd.FMDTheft, GTIN: gtin, Lot: "LOT42", Serials: []string{e.packs[0]}, Reason: "x"}, "serials"},
		{"a serial that is no pack", eufmd.FMDStatusRequest{Kind: eufmd.FMDTheft, GTIN: gtin, Serials: []string{e.packs[0], "NOPE"}, Reason: "x"}, "serials[1]"},
		{"a serial twice", eufmd.FMDStatusRequest{Kind: eufmd.FMDTheft, GTIN: gtin, Serials: []string{e.packs[0], e.packs[0]}, Reason: "x"}, "serials[1]"},
		{"a market outside", eufmd.FMDStatusRequest{Kind: eufmd.FMDTheft, GTIN: gtin, Lot: "LOT42", Reason: "x", Markets: []string{"US"}}, "markets[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.CreateFMDStatus(e.ctx, tc.req)
			var ve *sqldb.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.field, ve.Field, "%v", err)
			ups, err := e.s.FMDStatuses(e.ctx, eufmd.FMDStatusFilter{})
			require.NoError(t, err)
			require.Empty(t, ups, "nothing written")
		})
	}
}

// TestSerialAlphabet: an EU FMD product's serials are numeric or
// alphanumeric (art. 4(b)); CSET 82 punctuation is refused naming
// scheme.alphabet.
func TestSerialAlphabet(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	base := func(g string, sp serials.Spec) master.Product {
		return master.Product{GTIN: g, Name: "X", CompanyPrefixLen: 7, Markets: []master.Market{master.MarketEUFMD}, Scheme: sp, PlannedVolume: 1000}
	}
	for i, tc := range []struct {
		name string
		spec serials.Spec
		ok   bool
	}{
		{"numeric", serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: "numeric", Key: spec.Key}, true},
		{"alphanumeric", serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: "alphanumeric", Key: spec.Key}, true},
		{"letters and digits of its own", serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: "23456789ABCDEFGHJKLMNPQRSTUVWXYZ", Key: spec.Key}, true},
		{"CSET 82 punctuation", serials.Spec{Kind: serials.KindRandomized, Length: 16, Alphabet: "ABCDEFGH12345678!?", Key: spec.Key}, false},
		{"a list of any CSET 82", serials.Spec{Kind: serials.KindList, Length: 12}, false},
		{"a numeric list", serials.Spec{Kind: serials.KindList, Length: 12, Alphabet: "numeric"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := testkit.WithCheckDigit(t, fmt.Sprintf("04150120000%02d", i))
			err := e.s.PutProduct(e.ctx, base(g, tc.spec))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			var ve *sqldb.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "scheme.alphabet", ve.Field, "%v", err)
			us := base(g, tc.spec)
			us.Markets = []master.Market{master.MarketUSDSCSA}
			for _, pr := range us.Problems() {
				require.NotEqual(t, "scheme.alphabet", pr.Field, "the rule is EU FMD's")
			}
		})
	}
}
