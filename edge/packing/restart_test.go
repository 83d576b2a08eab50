package packing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// TestSSCCNeverReusedAcrossRestarts packs twelve units into cases of two
// and pallets of two cases over five runs of the edge on one data folder,
// with small SSCC grants (several requests), a case left open at a
// restart and a case whose label failed (paper out) closed after the
// restart. Every container gets its own SSCC, the open case keeps its
// SSCC across the restart, and central's hierarchy matches.
func TestSSCCNeverReusedAcrossRestarts(t *testing.T) {
	broker := testcentral.StartBroker(t, "127.0.0.1:0").URL()
	line := testcentral.LineID("restart")
	c := startCentral(t, broker, line, "WO-1")
	wo := c.units(t, line, "WO-1", 12)
	d := startDevices(t)
	dir := t.TempDir()
	cfg := packCfg(line)
	cfg.CaseSize, cfg.PalletSize, cfg.LowWater, cfg.RequestSize = 2, 2, 1, 3
	ctx := testkit.ContextFor(t, 2*wait)

	printed := map[string]int{} // SSCC → labels printed
	labels := 0
	// drain takes the labels the printer has finished so far; the
	// simulator reports a label after the driver's send returns, so the
	// last ones are awaited with collect.
	drain := func() {
		for {
			select {
			case p := <-d.printed:
				printed[p.Data[2:]]++
				labels++
			default:
				return
			}
		}
	}
	collect := func(n int) {
		t.Helper()
		drain()
		for labels < n {
			printed[d.nextLabel(t).Data[2:]]++
			labels++
		}
		drain()
	}
	next := 0
	pack := func(e *edge, n int) {
		t.Helper()
		for range n {
			_, err := e.ob.AppendSync(ctx, wo.event(t, wire.Commissioned, next))
			require.NoError(t, err)
			s := e.scan(t, d, wo.data(t, next))
			require.Empty(t, s.Refusals, "unit %d", next)
			next++
		}
	}
	started := func() *edge {
		e := startEdge(t, dir, broker, cfg, d)
		e.snap(t, "SSCC stock", func(s packing.Snapshot) bool { return s.SSCC[0].Available > 0 && s.SSCC[1].Available > 0 })
		return e
	}

	e := started()
	require.NoError(t, e.pk.SetOrder(wo.order))
	pack(e, 3)
	open := e.pk.Snapshot().Case
	require.NotNil(t, open)
	e.stop()

	e = started()
	s := e.pk.Snapshot()
	require.Equal(t, "WO-1", s.Order, "the order being packed is remembered")
	require.Equal(t, open, s.Case, "the open case survives the restart with its SSCC")
	pack(e, 3)
	e.stop()

	e = started()
	pack(e, 1)
	d.prnSim.SetPaperOut(true)
	_, err := d.prn.Status(ctx) // the driver learns of it now, not at its next poll
	require.ErrorIs(t, err, printer.ErrPaperOut)
	_, err = e.ob.AppendSync(ctx, wo.event(t, wire.Commissioned, next))
	require.NoError(t, err)
	s = e.scan(t, d, wo.data(t, next))
	next++
	require.NotNil(t, s.Case, "the full case stays open while its label cannot be printed")
	require.Equal(t, 2, s.Case.Count)
	require.Contains(t, s.Error, "is full but not closed")
	full := s.Case.SSCC
	e.stop()

	d.prnSim.SetPaperOut(false)
	require.Eventually(t, func() bool {
		st, err := d.prn.Status(ctx)
		return err == nil && !st.PaperOut
	}, wait, 10*time.Millisecond)
	e = started()
	closed, err := e.pk.CloseCase(ctx)
	require.NoError(t, err)
	require.Equal(t, full, closed.SSCC, "the retried close labels the same case with the same SSCC")
	require.NotNil(t, closed.Pallet, "and fills the pallet")
	pack(e, 1)
	e.stop()

	e = started()
	pack(e, 3)
	e.acked(t)
	collect(9)

	require.Len(t, printed, 9, "6 cases and 3 pallets, each its own SSCC: %v", printed)
	for sscc, n := range printed {
		require.Equal(t, 1, n, "SSCC %s printed once", sscc)
		g, err := c.st.SSCCGrantOf(c.ctx, sscc, 7)
		require.NoError(t, err)
		require.Equal(t, line, g.Line)
		got, err := c.st.Container(c.ctx, sscc)
		require.NoError(t, err, "central knows container %s", sscc)
		require.Equal(t, 2, len(got.Units)+len(got.Children), "container %s holds two", sscc)
	}
	grants, err := c.st.SSCCGrants(c.ctx, line)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(grants), 3, "grants of 3: the six cases needed two or more, the pallets one")
}
