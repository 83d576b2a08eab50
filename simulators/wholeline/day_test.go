package wholeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/dscsa"
	"github.com/serialine/serialine/central/fmd"
	"github.com/serialine/serialine/central/outbound/outboundtest"
	"github.com/serialine/serialine/central/store/eufmd"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/supply"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	printersim "github.com/serialine/serialine/simulators/printer"
	scannersim "github.com/serialine/serialine/simulators/scanner"
)

// packingRig is the packing station of a line: the case-label printer and
// the packer's handheld scanner, both simulated on TCP.
type packingRig struct {
	caseSize, palletSize     int
	printerAddr, scannerAddr string
	scanner                  *scannersim.Simulator
	mu                       sync.Mutex
	labels                   []string // data of the case and pallet labels printed
}

func startPacking(t *testing.T, caseSize, palletSize int) *packingRig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pk := &packingRig{caseSize: caseSize, palletSize: palletSize}
	quiet := slog.New(slog.DiscardHandler)
	prn, err := printersim.New(printersim.Config{Name: "case-printer", DPI: 203, WidthMM: 100, HeightMM: 50,
		OnPrint: func(p printersim.Printed) { pk.mu.Lock(); pk.labels = append(pk.labels, p.Data); pk.mu.Unlock() }}, quiet)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = prn.Serve(ctx, ln) }()
	t.Cleanup(func() { _ = prn.Close() })
	pk.printerAddr = ln.Addr().String()
	pk.scanner, err = scannersim.New(scannersim.Config{Name: "handheld"}, quiet)
	require.NoError(t, err)
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = pk.scanner.Serve(ctx, sln) }()
	pk.scannerAddr = sln.Addr().String()
	return pk
}

// scan has the packer's handheld read a unit's label.
func (pk *packingRig) scan(t *testing.T, r *rig, data string) {
	t.Helper()
	before := r.state(t).Packing
	require.NotNil(t, before, "packing mode is on")
	require.Eventually(t, func() bool { return pk.scanner.Stats().Clients > 0 }, wait, 10*time.Millisecond, "the agent holds the handheld")
	_, err := pk.scanner.InspectData(data, true)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p := r.state(t).Packing
		return p.Accepted+p.Refused > before.Accepted+before.Refused
	}, wait, 10*time.Millisecond, "the packer took the scan")
}

// TestScriptedDay is issue #6's scripted day on the running system: an
// order is produced on a simulated line, packed at the line into cases
// and a pallet, picked and shipped against a sales order; the shipment's
// EPCIS validates against GS1's schemas, the DSCSA documents list exactly
// the shipped units (and reach the customer's endpoint), and a recall of
// the lot names the customer and the pallet.
func TestScriptedDay(t *testing.T) {
	const units, caseSize, palletSize = 40, 10, 2
	s := newSystem(t)
	pk := startPacking(t, caseSize, palletSize)
	r := s.addLine(t, "L1", lineOpts{units: units, speed: 1_200, noRead: 0.02, packing: pk})
	r.startEdge(t)
	r.run(t)
	r.awaitUnits(t, units)

	// Central has every unit event of the line once its counts are the agent's.
	good := r.state(t).Counts.Good
	require.GreaterOrEqual(t, good, uint64(caseSize*palletSize))
	require.Eventually(t, func() bool {
		var o orderView
		code, _ := s.api.do(t, "GET", "/api/v1/orders/"+r.order, nil, &o)
		return code == http.StatusOK && o.Reconciliation.Commissioned == good
	}, wait, 20*time.Millisecond, "central has the commissioned units")
	rows, err := s.db(t).Query(testkit.ContextFor(t, wait), "SELECT serial FROM units WHERE order_id = $1 AND state = 'commissioned' ORDER BY serial", r.order)
	require.NoError(t, err)
	var commissioned []string
	for rows.Next() {
		var sn string
		require.NoError(t, rows.Scan(&sn))
		commissioned = append(commissioned, sn)
	}
	require.NoError(t, rows.Err())
	data := func(sn string) string {
		es := gs1.ElementString{{AI: "01", Value: gtin}, {AI: "17", Value: expiry}, {AI: "10", Value: "LOT-" + r.id}, {AI: "21", Value: sn}}
		return es.Sorted().Transmitted()
	}

	// Pack two cases onto a pallet; a unit scanned twice is refused.
	packed := commissioned[:caseSize*palletSize]
	for i, sn := range packed {
		pk.scan(t, r, data(sn))
		if i == 3 {
			pk.scan(t, r, data(packed[0]))
			p := r.state(t).Packing
			require.NotEmpty(t, p.Refusals, "a unit packed already is refused")
			require.Equal(t, "already-packed", string(p.Refusals[0].Reason), "the refusal says why: %+v", p.Refusals[0])
		}
	}
	var pallet string
	require.Eventually(t, func() bool {
		for _, c := range r.state(t).Packing.LastClosed {
			if c.Level == "pallet" {
				pallet = c.SSCC
				return true
			}
		}
		return false
	}, wait, 20*time.Millisecond, "the pallet closed by itself when full")
	r.scr.signIn(t, pinAna)
	v := r.finish(t, units)
	s.agree(t, r, v, nil)

	// Central knows what is inside the pallet, at any depth.
	var inside supply.ContainerTree
	s.api.must(t, "GET", "/api/v1/containers/"+pallet, nil, &inside)
	require.Len(t, inside.Children, palletSize, "the pallet holds its cases")
	var inPallet []string
	for _, c := range inside.Children {
		require.Len(t, c.Units, caseSize, "case %s is full", c.SSCC)
		for _, u := range c.Units {
			es, err := gs1.Parse(u)
			require.NoError(t, err)
			sn, _ := es.Get("21")
			inPallet = append(inPallet, sn)
		}
	}
	require.EqualValues(t, len(packed), inside.Total)
	require.ElementsMatch(t, packed, inPallet, "the pallet holds the packed units")

	// Master data for the sale: our warehouse, the customer and its DSCSA endpoint.
	ours, customer := testkit.GLN(t, "950600000001"), testkit.GLN(t, "061414100002")
	s.api.must(t, "PUT", "/api/v1/sites/"+ours, map[string]any{"name": "Serialine Pharma plant",
		"address": map[string]string{"street": "1 Plant Road", "city": "Springfield", "state": "IL", "postal_code": "62701", "country": "US"}}, nil)
	s.api.must(t, "PUT", "/api/v1/locations/"+ours+"/WH1", map[string]string{"site_gln": ours, "name": "Finished goods"}, nil)
	s.api.must(t, "PUT", "/api/v1/partners/"+customer, map[string]any{"name": "Acme Wholesale", "address": map[string]string{"street": "9 Market St", "city": "Newark", "state": "NJ", "postal_code": "07102", "country": "US"},
		"licences": map[string]string{"us-nj-wholesale": "WD-1234"}}, nil)

	// The EU FMD data set of the batch lists exactly its commissioned
	// packs, under the product's EU master data (the plant as MAH).
	s.api.must(t, "PUT", "/api/v1/products/"+gtin+"/eu-fmd", map[string]any{"common_name": "paracetamol", "pack_type": "carton",
		"manufacturer": ours, "markets": []map[string]any{{"country": "AT", "mah": ours}}}, nil)
	code, body := s.api.do(t, "GET", "/api/v1/orders/"+r.order+"/fmd", nil, nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	up := validFMD[fmd.Document](t, body)
	require.Equal(t, fmd.TypeBatch, up.Type)
	require.NotNil(t, up.Batch)
	require.Equal(t, gtin, up.Batch.ProductCode)
	require.Equal(t, "LOT-"+r.id, up.Batch.Batch)
	require.ElementsMatch(t, commissioned, up.Batch.Serials)
	var received struct {
		sync.Mutex
		bodies []string
	}
	ca := outboundtest.NewCA(t, "Acme's CA")
	endpoint := outboundtest.Server(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		received.Lock()
		received.bodies = append(received.bodies, string(b))
		received.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}), ca, nil)
	s.api.must(t, "PUT", "/api/v1/partners/"+customer+"/endpoints/dscsa", map[string]string{"url": endpoint.URL, "ca_cert": ca.PEM}, nil)

	// Sell, pick the pallet, ship.
	s.api.must(t, "POST", "/api/v1/sales-orders", map[string]any{"id": "SO-1", "customer_gln": customer, "po_number": "PO-77", "currency": "USD",
		"lines": []map[string]any{{"gtin": gtin, "quantity": len(packed), "unit_price": 1250}}}, nil)
	s.api.must(t, "POST", "/api/v1/shipments", map[string]string{"id": "SHP-1", "sales_order": "SO-1", "source_gln": ours, "source_extension": "WH1"}, nil)
	// A unit that is not on the pallet and not commissioned is refused at the pick.
	code, body = s.api.do(t, "POST", "/api/v1/shipments/SHP-1/picks", map[string]any{"picks": []map[string]string{{"gtin": gtin, "serial": "000000000000"}}}, nil)
	require.Equal(t, http.StatusUnprocessableEntity/100, code/100, "%s", body)
	s.api.must(t, "POST", "/api/v1/shipments/SHP-1/picks", map[string]any{"picks": []map[string]string{{"sscc": pallet}}}, nil)
	s.api.must(t, "POST", "/api/v1/shipments/SHP-1/confirm", map[string]any{}, nil)

	// The invoice: quantity × price.
	var so struct {
		Invoice struct {
			Total int64 `json:"total"`
		} `json:"invoice"`
	}
	s.api.must(t, "GET", "/api/v1/sales-orders/SO-1", nil, &so)
	require.EqualValues(t, len(packed)*1250, so.Invoice.Total)

	// The shipment's EPCIS, in JSON-LD and XML, validates against GS1's schemas.
	dir := t.TempDir()
	for _, f := range []struct{ path, file, tool string }{
		{"/api/v1/shipments/SHP-1/epcis", "shipment.jsonld", "validate-epcis-json"},
		{"/api/v1/shipments/SHP-1/epcis.xml", "shipment.xml", "validate-epcis-xml"},
	} {
		code, body := s.api.do(t, "GET", f.path, nil, nil)
		require.Equal(t, http.StatusOK, code, "%s", body)
		for _, sn := range packed {
			require.Contains(t, string(body), sn, "%s names shipped unit %s", f.file, sn)
		}
		path := filepath.Join(dir, f.file)
		require.NoError(t, os.WriteFile(path, body, 0o600))
		args := []string{path}
		if f.tool == "validate-epcis-json" {
			args = []string{"--schema", "modular", path}
		}
		msg, exit := testkit.RunValidator(t, f.tool, args...)
		require.Zero(t, exit, "%s: %s", f.file, msg)
	}

	// DSCSA: the transaction information lists exactly the shipped units.
	var doc dscsa.Package
	s.api.must(t, "GET", "/api/v1/shipments/SHP-1/dscsa", nil, &doc)
	var listed []string
	for _, p := range doc.TI.Products {
		listed = append(listed, p.Serials...)
	}
	require.ElementsMatch(t, packed, listed, "the DSCSA transaction information lists exactly the shipped units")
	require.Equal(t, "Acme Wholesale", doc.TI.Buyer.Name)
	require.NotEmpty(t, doc.TS.Statement)
	// The confirmation queued the document for the customer's endpoint.
	require.Eventually(t, func() bool {
		var out struct {
			Messages []messages.OutboundMessage `json:"messages"`
		}
		s.api.must(t, "GET", "/api/v1/shipments/SHP-1/outbound", nil, &out)
		return len(out.Messages) == 1 && out.Messages[0].State == messages.OutboundDelivered
	}, wait, 50*time.Millisecond, "the DSCSA document is delivered")
	received.Lock()
	require.Len(t, received.bodies, 1, "the customer's endpoint got the document")
	for _, sn := range packed {
		require.Contains(t, received.bodies[0], sn)
	}
	received.Unlock()

	// A recall of the lot names the customer and the pallet, and holds what
	// is still in stock.
	var rc struct {
		ID string `json:"id"`
	}
	s.api.must(t, "POST", "/api/v1/recalls", map[string]any{"gtin": gtin, "lot": "LOT-" + r.id, "reason": "label misprint"}, &rc)
	code, report := s.api.do(t, "GET", "/api/v1/recalls/"+rc.ID+"/report", nil, nil)
	require.Equal(t, http.StatusOK, code, "%s", report)
	require.Contains(t, string(report), "Acme Wholesale")
	require.Contains(t, string(report), pallet)
	code, csv := s.api.do(t, "GET", "/api/v1/recalls/"+rc.ID+"/units.csv", nil, nil)
	require.Equal(t, http.StatusOK, code)
	rowsCSV := strings.Split(strings.TrimSpace(string(csv)), "\n")
	require.Greater(t, len(rowsCSV), len(commissioned), "a header and a row per unit of the lot")
	for _, sn := range commissioned {
		require.Contains(t, string(csv), sn, "the recall CSV lists unit %s", sn)
	}
	// The recall of an EU FMD product decommissions exactly the lot's
	// packs at the hub: one status update, every commissioned pack.
	code, body = s.api.do(t, "GET", "/api/v1/recalls/"+rc.ID+"/fmd", nil, nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	var statuses struct {
		Documents []json.RawMessage `json:"documents"`
	}
	require.NoError(t, json.Unmarshal(body, &statuses))
	require.Len(t, statuses.Documents, 1, "%s", body)
	st := validFMD[fmd.Document](t, statuses.Documents[0])
	require.NotNil(t, st.Status)
	require.Equal(t, eufmd.FMDRecall, st.Status.Kind)
	var packs []string
	for _, p := range st.Status.Packs {
		require.Equal(t, "LOT-"+r.id, p.Batch)
		packs = append(packs, p.Serial)
	}
	require.ElementsMatch(t, commissioned, packs, "the status update names exactly the lot's packs")

	// A shipped unit now verifies as recalled; a unit left in stock is on hold.
	var ver struct {
		Verified bool   `json:"verified"`
		Reason   string `json:"reason"`
	}
	s.api.must(t, "GET", fmt.Sprintf("/api/v1/verify?gtin=%s&serial=%s&lot=%s&expiry=%s", gtin, packed[0], "LOT-"+r.id, expiry), nil, &ver)
	require.False(t, ver.Verified)
	require.Contains(t, ver.Reason, "recall")
	// Where things are: a shipped unit names its pallet, shipment and
	// customer; a unit still in our stock is on hold under the recall.
	var shipped, kept supply.UnitWhereabouts
	s.api.must(t, "GET", "/api/v1/whereis/"+gtin+"/"+packed[0], nil, &shipped)
	require.Equal(t, pallet, shipped.Pallet)
	require.Equal(t, "SHP-1", shipped.Shipment)
	require.Equal(t, "Acme Wholesale", shipped.CustomerName)
	require.Equal(t, []string{rc.ID}, shipped.Recalls)
	stock := commissioned[len(packed)]
	s.api.must(t, "GET", "/api/v1/whereis/"+gtin+"/"+stock, nil, &kept)
	require.True(t, kept.OnHold, "unit %s, still in stock, is on hold: %+v", stock, kept)
	require.Empty(t, kept.Shipment)
}
