package packing_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/label"
	"github.com/serialine/serialine/shared/wire"
)

func packCfg(line string) packing.Config {
	return packing.Config{Line: line, CompanyPrefix: prefix, CaseExtension: 0, PalletExtension: 1,
		CaseSize: 3, PalletSize: 2, LowWater: 3, RequestSize: 4, RequestRetry: 200 * time.Millisecond}
}

// decodeLabel reads the printed label's pixels and returns its SSCC.
func decodeLabel(t *testing.T, d *devices) string {
	t.Helper()
	p := d.nextLabel(t)
	require.NotNil(t, p.Image)
	dec, err := label.Decode(p.Image)
	require.NoError(t, err, "the printed label decodes")
	require.True(t, dec.GS1)
	es, err := gs1.ParseTransmitted(dec.Data)
	require.NoError(t, err)
	sscc, ok := es.Get("00")
	require.True(t, ok, "the symbol carries AI (00): %q", dec.Data)
	return sscc
}

// TestPackingEndToEnd packs units commissioned on the line into cases and
// a pallet with a handheld scanner (simulator over TCP, real driver), the
// labels printed by the case printer (simulator, real driver) and decoded
// from their pixels, SSCCs granted by the real central over MQTT; refuses
// what may not be packed, with the reason; reworks a closed case; and
// central, having applied the events, answers what is inside each SSCC.
func TestPackingEndToEnd(t *testing.T) {
	for _, bk := range []string{"embedded", "mosquitto"} {
		t.Run(bk, func(t *testing.T) {
			broker := testcentral.Mosquitto
			if bk == "embedded" {
				broker = testcentral.StartBroker(t, "127.0.0.1:0").URL()
			}
			line := testcentral.LineID("pack")
			c := startCentral(t, broker, line, "WO-1", "WO-2")
			wo1, wo2 := c.units(t, line, "WO-1", 10), c.units(t, line, "WO-2", 2)
			d := startDevices(t)
			e := startEdge(t, t.TempDir(), broker, packCfg(line), d)
			ctx := testkit.ContextFor(t, 2*wait)

			// The station commissions 9 units of WO-1 (unit 8 is then
			// rejected as damaged) and one of WO-2; unit 9 never is.
			var evs []wire.Event
			for i := range 9 {
				evs = append(evs, wo1.event(t, wire.Commissioned, i))
			}
			evs = append(evs, wo1.event(t, wire.Decommissioned, 8), wo2.event(t, wire.Commissioned, 0))
			_, err := e.ob.AppendSync(ctx, evs...)
			require.NoError(t, err)

			r := e.scan(t, d, wo1.data(t, 0))
			require.Equal(t, packing.RefuseNoOrder, r.Refusals[0].Reason, "nothing is packed before an order is set")
			require.NoError(t, e.pk.SetOrder(wo1.order))
			e.snap(t, "SSCCs granted by central", func(s packing.Snapshot) bool {
				return len(s.SSCC) == 2 && s.SSCC[0].Available >= 3 && s.SSCC[1].Available >= 3
			})

			s := e.scan(t, d, wo1.data(t, 0))
			require.NotNil(t, s.Case)
			case1 := s.Case.SSCC
			require.Equal(t, 1, s.Case.Count)
			require.True(t, strings.HasPrefix(case1, "0"+prefix), "case extension 0 + company prefix: %s", case1)

			refusals := []struct {
				name   string
				data   string
				reason packing.Reason
				detail string
			}{
				{"same unit again", wo1.data(t, 0), packing.RefuseAlreadyPacked, "is in this case already"},
				{"other order", wo2.data(t, 0), packing.RefuseOtherOrder, "is of order WO-2; this case is for order WO-1"},
				{"never commissioned", wo1.data(t, 9), packing.RefuseNotCommissioned, "was not commissioned on line " + line},
				{"decommissioned", wo1.data(t, 8), packing.RefuseNotCommissioned, "was decommissioned (damaged)"},
				{"not GS1", "hello", packing.RefuseUnreadable, "not a GS1 element string"},
				{"an SSCC label", "00" + case1, packing.RefuseNotUnit, "SSCC label"},
			}
			for _, tc := range refusals {
				t.Run(tc.name, func(t *testing.T) {
					s := e.scan(t, d, tc.data)
					require.Equal(t, tc.reason, s.Refusals[0].Reason)
					require.Contains(t, s.Refusals[0].Detail, tc.detail)
					require.Equal(t, 1, s.Case.Count, "a refused unit is not packed")
				})
			}

			e.scan(t, d, wo1.data(t, 1))
			s = e.scan(t, d, wo1.data(t, 2))
			require.Nil(t, s.Case, "the third unit fills and closes the case")
			require.Equal(t, case1, decodeLabel(t, d), "the case label carries the case's SSCC")
			require.Equal(t, []string{case1}, s.Pallet.Cases)

			s = e.scan(t, d, wo1.data(t, 1))
			require.Equal(t, packing.RefuseAlreadyPacked, s.Refusals[0].Reason)
			require.Contains(t, s.Refusals[0].Detail, "is packed in case "+case1)

			for i := 3; i < 6; i++ {
				s = e.scan(t, d, wo1.data(t, i))
			}
			case2 := decodeLabel(t, d)
			pallet := decodeLabel(t, d)
			require.NotEqual(t, case1, case2)
			require.True(t, strings.HasPrefix(pallet, "1"+prefix), "pallet extension 1: %s", pallet)
			require.Nil(t, s.Pallet, "two cases fill and close the pallet")
			require.Len(t, s.LastClosed, 3)

			// Rework: unit 1 out of case 1 (label reprinted with the new
			// count), unit 4 of case 2 replaced by unit 6.
			require.NoError(t, e.pk.RemoveUnit(ctx, case1, wo1.data(t, 1)))
			require.Equal(t, case1, decodeLabel(t, d), "the case label is reprinted")
			ref, err := e.pk.ReplaceUnit(ctx, case2, wo1.ref(t, 4), wo1.data(t, 2))
			require.NoError(t, err)
			require.NotNil(t, ref, "a unit packed elsewhere cannot replace one")
			require.Equal(t, packing.RefuseAlreadyPacked, ref.Reason)
			ref, err = e.pk.ReplaceUnit(ctx, case2, wo1.ref(t, 4), wo1.data(t, 6))
			require.NoError(t, err)
			require.Nil(t, ref)
			require.ErrorIs(t, e.pk.RemoveUnit(ctx, case2, wo1.data(t, 4)), packing.ErrNotInContainer)

			// The unit taken out may be packed again.
			s = e.scan(t, d, wo1.data(t, 1))
			require.True(t, s.Case != nil && s.Case.Count == 1, "%+v", s.Refusals)

			e.acked(t)
			// Central's hierarchy answers what is inside each SSCC.
			pc, err := c.st.Container(c.ctx, pallet)
			require.NoError(t, err)
			require.ElementsMatch(t, []string{case1, case2}, pc.Children)
			c1, err := c.st.Container(c.ctx, case1)
			require.NoError(t, err)
			require.ElementsMatch(t, []string{wo1.ref(t, 0), wo1.ref(t, 2)}, c1.Units)
			require.Equal(t, pallet, c1.Parent)
			c2, err := c.st.Container(c.ctx, case2)
			require.NoError(t, err)
			require.ElementsMatch(t, []string{wo1.ref(t, 3), wo1.ref(t, 5), wo1.ref(t, 6)}, c2.Units)
			u1, err := c.st.Unit(c.ctx, gtin, wo1.serial(t, 1))
			require.NoError(t, err)
			require.Empty(t, u1.Parent, "the unit taken out is in no case at central")
			u4, err := c.st.Unit(c.ctx, gtin, wo1.serial(t, 4))
			require.NoError(t, err)
			require.Empty(t, u4.Parent)
			dead, err := c.st.DeadLetters(c.ctx, lineevents.DeadLetterFilter{Line: line})
			require.NoError(t, err)
			require.Empty(t, dead, "central applied every packing event")

			// Every SSCC was granted to this line by central.
			for _, sscc := range []string{case1, case2, pallet} {
				g, err := c.st.SSCCGrantOf(c.ctx, sscc, 7)
				require.NoError(t, err)
				require.Equal(t, line, g.Line)
			}
			// The edge's own record agrees.
			ec, err := e.pk.Container(case2)
			require.NoError(t, err)
			require.Equal(t, pallet, ec.Parent)
			require.ElementsMatch(t, c2.Units, ec.Children)
		})
	}
}
