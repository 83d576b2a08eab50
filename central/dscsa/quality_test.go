package dscsa_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
)

var form = supply.Form3911{Classification: "illegitimate", Type: "counterfeit", Description: "tablets of the wrong colour",
	HowDiscovered: "customer complaint", ContactName: "Quinn QA", ContactPhone: "+1 919 555 0100", ContactEmail: "qa@serialine.example"}

// TestQuarantine: a QA investigation quarantines suspect product: its
// units cannot be picked or shipped while it is open; cleared, they can;
// illegitimate (with the FDA Form 3911 data), they stay held. Every step
// is audited.
func TestQuarantine(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		w := newWorld(t, dsn)
		loose := w.serials[22]
		_, err := w.s.CreateSalesOrder(w.ctx, supply.SalesOrder{ID: "SO-2", CustomerGLN: w.customer, Currency: "USD",
			Lines: []supply.SalesLine{{GTIN: gtin, Quantity: 2, UnitPrice: 1}}})
		require.NoError(t, err)
		_, err = w.s.CreateShipment(w.ctx, supply.Shipment{ID: "SHP-2", SalesOrder: "SO-2", SourceGLN: w.dock, SourceExt: "D1"})
		require.NoError(t, err)

		v, err := w.s.OpenInvestigation(w.ctx, supply.InvestigationRequest{Scope: supply.ScopeUnits, GTIN: gtin, Serials: []string{loose},
			Reason: "a pack with a damaged seal"})
		require.NoError(t, err)
		require.Equal(t, supply.InvestigationOpen, v.State)
		require.Equal(t, 1, v.Units)
		_, err = w.s.Pick(w.ctx, "SHP-2", []supply.PickItem{{GTIN: gtin, Serial: loose}})
		require.ErrorContains(t, err, "on hold", "a quarantined unit cannot be picked")
		require.ErrorContains(t, err, "investigation")

		// A container already picked cannot be shipped once quarantined.
		c, err := w.s.OpenInvestigation(w.ctx, supply.InvestigationRequest{Scope: supply.ScopeContainer, SSCC: w.caseA, Reason: "case crushed in transit"})
		require.NoError(t, err)
		require.Equal(t, 10, c.Units)
		_, err = w.s.ConfirmShipment(w.ctx, "SHP-1", t0.Add(24*time.Hour))
		require.ErrorIs(t, err, sqldb.ErrState)
		require.ErrorContains(t, err, "quarantined")
		_, err = w.s.CloseInvestigation(w.ctx, c.ID, supply.InvestigationCleared, "inner packs intact", nil)
		require.NoError(t, err)
		w.confirm(t) // cleared: it ships

		_, err = w.s.CloseInvestigation(w.ctx, v.ID, supply.InvestigationIllegitimate, "counterfeit", nil)
		require.ErrorContains(t, err, "form_3911")
		bad := form
		bad.ContactEmail = "nobody"
		_, err = w.s.CloseInvestigation(w.ctx, v.ID, supply.InvestigationIllegitimate, "counterfeit", &bad)
		var ve *sqldb.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "form_3911.contact_email", ve.Field)
		got, err := w.s.CloseInvestigation(w.ctx, v.ID, supply.InvestigationIllegitimate, "confirmed counterfeit by the lab", &form)
		require.NoError(t, err)
		require.Equal(t, supply.InvestigationIllegitimate, got.State)
		require.Equal(t, &form, got.Form3911)
		_, err = w.s.Pick(w.ctx, "SHP-2", []supply.PickItem{{GTIN: gtin, Serial: loose}})
		require.ErrorContains(t, err, "on hold", "illegitimate product stays out of distribution")
		_, err = w.s.CloseInvestigation(w.ctx, v.ID, supply.InvestigationCleared, "again", nil)
		require.ErrorIs(t, err, sqldb.ErrState)
		_, err = w.s.Pick(w.ctx, "SHP-2", []supply.PickItem{{GTIN: gtin, Serial: w.serials[23]}})
		require.NoError(t, err, "other units are not held")

		// A lot: every unit of it, now and later.
		lotInv, err := w.s.OpenInvestigation(w.ctx, supply.InvestigationRequest{Scope: supply.ScopeLot, GTIN: gtin, Lot: lot, Reason: "a complaint cluster"})
		require.NoError(t, err)
		require.Equal(t, 24, lotInv.Units)
		stock, err := w.s.StockReport(w.ctx, supply.StockFilter{GTIN: gtin})
		require.NoError(t, err)
		held := 0
		for _, r := range stock {
			held += int(r.OnHold)
		}
		require.Positive(t, held, "the stock report shows them on hold")
		verified, err := w.s.CheckUnit(w.ctx, gtin, w.serials[23])
		require.NoError(t, err)
		require.False(t, verified.Recalled, "a quarantine is not a recall")

		entries, err := w.s.Audit(w.ctx, audit.Filter{Entity: "investigation"})
		require.NoError(t, err)
		require.Len(t, entries, 5, "three opened, two closed")
	})
}

// TestTrace: a tracing request for a unit answers the TI, TH and TS of
// each of its transactions (our sale, then the customer's return); for a
// container every unit inside; and the EPCIS events naming the unit,
// valid by GS1's 2.0 XSD.
func TestTrace(t *testing.T) {
	w := newWorld(t, storetest.SQLiteDSN(t))
	w.confirm(t)
	sn := w.shipped[21]
	back := cmoDoc{version: "1.2", id: "RMA-7", sender: w.customer, receiver: w.site, ship: []string{sn}}
	raw := back.xml(t)
	in, err := dscsa.ParseInbound(bytes.NewReader(raw), dscsa.Limits{})
	require.NoError(t, err)
	_, err = dscsa.Receive(w.ctx, w.s, in, raw, func(string) bool { return true }, slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	tr, err := dscsa.Trace(w.ctx, w.s, gtin, sn)
	require.NoError(t, err)
	require.Equal(t, "12345-678-90", tr.NDC)
	require.Equal(t, "2028-12-31", tr.Expiry)
	require.Equal(t, supply.StateReturned, tr.State)
	require.Len(t, tr.Transactions, 2)
	sale := tr.Transactions[0]
	require.Equal(t, supply.TxShipment, sale.Kind)
	require.Equal(t, "SHP-1", sale.Ref)
	require.Equal(t, w.site, sale.Seller.GLN)
	require.Equal(t, w.customer, sale.Buyer.GLN)
	ti := sale.TI.(dscsa.TransactionInformation)
	require.Len(t, ti.Products, 1)
	require.Equal(t, []string{sn}, ti.Products[0].Serials, "the traced unit, not the whole shipment")
	require.Equal(t, dscsa.Statement, sale.TS.Statement)
	ret := tr.Transactions[1]
	require.Equal(t, supply.TxReturn, ret.Kind)
	require.Equal(t, w.customer, ret.Seller.GLN)
	require.Equal(t, w.site, ret.Buyer.GLN)
	require.Len(t, tr.TH.Transactions, 2)

	ct, err := dscsa.TraceContainer(w.ctx, w.s, w.pallet)
	require.NoError(t, err)
	require.Len(t, ct.Units, 20)

	doc, err := dscsa.TraceEvents(w.ctx, w.s, gtin, w.shipped[0], "")
	require.NoError(t, err)
	var steps []string
	for _, e := range doc.Events {
		steps = append(steps, e.BizStep)
	}
	require.Equal(t, []string{"commissioning", "packing", "packing", "shipping"}, steps, "made, cased, palletised, shipped")
	x, err := epcis.MarshalXML(doc)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "trace.xml")
	require.NoError(t, os.WriteFile(path, x, 0o600))
	msg, code := testkit.RunValidator(t, "validate-epcis-xml", "--version", "2.0", path)
	require.Equal(t, 0, code, "%s", msg)
	_, err = dscsa.Trace(w.ctx, w.s, gtin, "NOPE")
	require.ErrorIs(t, err, sqldb.ErrNotFound)
}
