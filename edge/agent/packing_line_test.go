package agent_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/label"
	"github.com/serialine/serialine/shared/metrics"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/simulators/line"
	printersim "github.com/serialine/serialine/simulators/printer"
	scannersim "github.com/serialine/serialine/simulators/scanner"
)

const (
	packGTIN   = "00312345678906" // company prefix 0312345: a US GTIN embedding NDC 12345-678-90
	packPrefix = "0312345"
)

// packCentral is the real central: its store (SQLite) and MQTT ingest,
// with the product, the line and order WO-7 released to it.
func packCentral(tb testing.TB, broker, line string) (*store.Store, context.Context, serials.Scheme) {
	tb.Helper()
	st := storetest.OpenSQLite(tb, testkit.Logger(tb))
	ctx := sqldb.WithActor(testkit.Context(tb), "user:test")
	spec := serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}
	require.NoError(tb, st.PutProduct(ctx, master.Product{GTIN: packGTIN, Name: "Paracetamol 500 mg", CompanyPrefixLen: 7, NDC: "12345-678-90",
		Markets: []master.Market{master.MarketUSDSCSA}, Scheme: spec}))
	require.NoError(tb, st.PutLine(ctx, master.Line{ID: line, Name: "Line " + line, PasswordHash: "unused"}))
	_, err := st.CreateOrder(ctx, orders.WorkOrder{ID: "WO-7", GTIN: packGTIN, Lot: "LOT7", Expiry: "281231", Quantity: 1000})
	require.NoError(tb, err)
	_, err = st.ReleaseOrder(ctx, "WO-7", line)
	require.NoError(tb, err)
	in, err := ingest.New(ingest.Config{Broker: broker, ShareGroup: fmt.Sprintf("g%08x", rand.Uint32())}, st, metrics.NewRegistry(), testkit.Logger(tb))
	require.NoError(tb, err)
	require.NoError(tb, in.Start(context.Background()))
	tb.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), testcentral.Wait)
		defer cancel()
		_ = in.Close(cctx)
	})
	rctx, cancel := context.WithTimeout(context.Background(), testcentral.Wait)
	defer cancel()
	require.NoError(tb, in.WaitReady(rctx))
	sc, err := serials.New(spec)
	require.NoError(tb, err)
	return st, ctx, sc
}

// casePrinter is the case label printer: a simulator on loopback TCP that
// rasterises every label; labels carries them.
func casePrinter(tb testing.TB) (addr string, labels chan printersim.Printed) {
	tb.Helper()
	labels = make(chan printersim.Printed, 32)
	sim, err := printersim.New(printersim.Config{Name: "case-printer", DPI: 203, WidthMM: 100, HeightMM: 50,
		OnPrint: func(p printersim.Printed) { labels <- p }}, testkit.Logger(tb))
	require.NoError(tb, err)
	return serveOn(tb, func(ctx context.Context, ln net.Listener) { _ = sim.Serve(ctx, ln) }), labels
}

func serveOn(tb testing.TB, serve func(context.Context, net.Listener)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); serve(ctx, ln) }()
	tb.Cleanup(func() { cancel(); _ = ln.Close(); <-done })
	return ln.Addr().String()
}

// packed waits until the agent's packing state satisfies cond.
func packed(tb testing.TB, a *agent.Agent, what string, cond func(packing.Snapshot) bool) packing.Snapshot {
	tb.Helper()
	deadline := time.After(testcentral.Wait)
	for {
		ch := a.Changes()
		if s := a.State().Packing; s != nil && cond(*s) {
			return *s
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("packing: %s: not within %v; state %+v", what, testcentral.Wait, a.State().Packing)
		}
	}
}

// TestAgentPacksWhileProducing runs the agent with packing on against a
// simulated line and the real central (store + MQTT ingest on an embedded
// broker): while the station commissions units, the handheld (scanner
// simulator over TCP) scans them into cases of four, two cases fill a
// pallet, the operator packs one at the touchscreen and closes a short
// case and pallet; what may not be packed is refused. Every label on the
// case printer carries its SSCC; central, having applied the events,
// answers what is inside each SSCC, and granted every SSCC to this line.
func TestAgentPacksWhileProducing(t *testing.T) {
	const units = 60
	broker := testcentral.StartBroker(t, "127.0.0.1:0").URL()
	lineID := testcentral.LineID("pack")
	st, cctx, scheme := packCentral(t, broker, lineID)
	l, lcfg := startLine(t, lineID, units, 600)
	prnAddr, labels := casePrinter(t)
	handheld, err := scannersim.New(scannersim.Config{Name: "handheld"}, testkit.Logger(t))
	require.NoError(t, err)
	hhAddr := serveOn(t, func(ctx context.Context, ln net.Listener) { _ = handheld.Serve(ctx, ln) })

	cfg := agentConfig(t, lineID, l, lcfg, broker)
	cfg.Packing = agent.PackingConfig{Enabled: true, CompanyPrefix: packPrefix, CaseExtension: 0, PalletExtension: 1,
		CaseSize: 4, PalletSize: 2, LowWater: 2, RequestSize: 3, RequestRetry: 500 * time.Millisecond,
		Printer: agent.CasePrinterConfig{Config: printer.Config{Name: "case-printer", Transport: "tcp:" + prnAddr, StatusInterval: 50 * time.Millisecond}, DPI: 203},
		Scanner: scanner.Config{Name: "handheld", Transport: "tcp:" + hhAddr, Format: scanner.Format{AssumeGS1: true},
			ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond}}
	require.NoError(t, cfg.Validate())
	a := runAgent(t, cfg)
	addr := a.HTTPAddr()
	require.Eventually(t, func() bool {
		s := state(t, addr)
		return len(s.Orders) == 1 && len(s.Alarms) == 0 && handheld.Stats().Clients > 0
	}, testcentral.Wait, 5*time.Millisecond, "central's order arrives, the devices are up")

	scr := newScreen(t, addr).signIn(t, pinAna)
	code, body := scr.post(t, "/ui/start", map[string]string{"order": "WO-7"})
	require.Equal(t, http.StatusOK, code, string(body))
	packed(t, a, "packing follows the station's order", func(s packing.Snapshot) bool { return s.Order == "WO-7" })

	// The units central has as commissioned, in grant order, while the line
	// still runs (the packer recorded each in the commit of its event,
	// before it was sent).
	serialOf := func(c uint64) string {
		b, err := scheme.Serial(nil, c)
		require.NoError(t, err)
		return string(b)
	}
	var good []string
	require.Eventually(t, func() bool {
		good = good[:0]
		grants, err := st.Grants(cctx, "WO-7")
		require.NoError(t, err)
		for _, g := range grants {
			for _, r := range g.Ranges {
				for c := r.Start; c < r.End() && len(good) < 9; c++ {
					u, err := st.Unit(cctx, packGTIN, serialOf(c))
					if err == nil && u.State == orders.StateCommissioned {
						good = append(good, u.Serial)
					}
				}
			}
		}
		return len(good) == 9
	}, testcentral.Wait, 20*time.Millisecond, "nine units commissioned at central")
	unitCode := func(sn string) string {
		return gs1.ElementString{{AI: "01", Value: packGTIN}, {AI: "17", Value: "281231"}, {AI: "10", Value: "LOT7"}, {AI: "21", Value: sn}}.Sorted().Transmitted()
	}
	scan := func(data string) packing.Snapshot {
		t.Helper()
		before := a.State().Packing
		_, err := handheld.InspectData(data, true)
		require.NoError(t, err)
		return packed(t, a, "scan taken", func(s packing.Snapshot) bool { return s.Accepted+s.Refused > before.Accepted+before.Refused })
	}

	// Eight units by the handheld: two cases, which fill the pallet.
	for i, sn := range good[:8] {
		s := scan(unitCode(sn))
		require.Equal(t, uint64(i+1), s.Accepted, "unit %d accepted: %+v", i, s.Refusals)
	}
	s := packed(t, a, "two cases and their pallet closed", func(s packing.Snapshot) bool { return len(s.LastClosed) == 3 })
	case1, case2, pallet1 := s.LastClosed[2].SSCC, s.LastClosed[1].SSCC, s.LastClosed[0].SSCC
	require.Equal(t, packing.LevelPallet, s.LastClosed[0].Level)
	require.Nil(t, s.Case)
	require.Nil(t, s.Pallet, "the full pallet is closed")

	// Refused at the scan, with the reason.
	for _, tc := range []struct {
		name, data string
		reason     packing.Reason
	}{
		{"packed already", unitCode(good[0]), packing.RefuseAlreadyPacked},
		{"never commissioned", unitCode("9999999999"), packing.RefuseNotCommissioned},
		{"a case label", "00" + case1, packing.RefuseNotUnit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := scan(tc.data)
			require.Equal(t, tc.reason, s.Refusals[0].Reason, s.Refusals[0].Detail)
		})
	}

	// At the touchscreen: the ninth unit typed in, the short case and the
	// pallet closed by the operator.
	code, body = scr.post(t, "/ui/pack/scan", map[string]string{"data": "(01)" + packGTIN + "(21)" + good[8]})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = scr.post(t, "/ui/pack/close-case", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = scr.post(t, "/ui/pack/close-pallet", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	s = packed(t, a, "the short case and its pallet closed", func(s packing.Snapshot) bool { return len(s.LastClosed) == 5 })
	case3, pallet2 := s.LastClosed[1].SSCC, s.LastClosed[0].SSCC

	// Every label printed carries its container's SSCC, read from pixels.
	var printed []string
	for range 5 {
		select {
		case p := <-labels:
			dec, err := label.Decode(p.Image)
			require.NoError(t, err)
			es, err := gs1.ParseTransmitted(dec.Data)
			require.NoError(t, err)
			v, ok := es.Get("00")
			require.True(t, ok, dec.Data)
			printed = append(printed, v)
		case <-time.After(testcentral.Wait):
			t.Fatal("a case or pallet label was not printed")
		}
	}
	require.Equal(t, []string{case1, case2, pallet1, case3, pallet2}, printed)
	for _, p := range []string{pallet1, pallet2} {
		require.True(t, strings.HasPrefix(p, "1"+packPrefix), "pallet extension digit 1: %s", p)
	}

	// The line finishes; central acknowledges every event.
	_, err = l.Wait(testkit.Context(t), func(c line.Counters) bool { return c.Good+c.Rejected == units })
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s := state(t, addr)
		return s.InFlight == 0 && s.Outbox.Pending == 0
	}, testcentral.Wait, 10*time.Millisecond, "central acknowledged every event")

	// Central answers what is inside each SSCC.
	ref := func(sn string) string { return wire.UnitRef(packGTIN, sn) }
	refs := func(sns []string) []string {
		out := make([]string, len(sns))
		for i, sn := range sns {
			out[i] = ref(sn)
		}
		return out
	}
	for _, tc := range []struct {
		sscc, parent    string
		units, children []string
	}{
		{pallet1, "", nil, []string{case1, case2}},
		{case1, pallet1, refs(good[0:4]), nil},
		{case2, pallet1, refs(good[4:8]), nil},
		{pallet2, "", nil, []string{case3}},
		{case3, pallet2, refs(good[8:9]), nil},
	} {
		c, err := st.Container(cctx, tc.sscc)
		require.NoError(t, err, tc.sscc)
		require.Equal(t, lineID, c.Line)
		require.Equal(t, tc.parent, c.Parent, tc.sscc)
		require.ElementsMatch(t, tc.units, c.Units, tc.sscc)
		require.ElementsMatch(t, tc.children, c.Children, tc.sscc)
		g, err := st.SSCCGrantOf(cctx, tc.sscc, 7)
		require.NoError(t, err)
		require.Equal(t, lineID, g.Line, "central granted %s to this line", tc.sscc)
	}
	u, err := st.Unit(cctx, packGTIN, good[8])
	require.NoError(t, err)
	require.Equal(t, case3, u.Parent)
	dead, err := st.DeadLetters(cctx, lineevents.DeadLetterFilter{Line: lineID})
	require.NoError(t, err)
	require.Empty(t, dead, "central applied every event")
}
