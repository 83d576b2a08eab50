package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/lmvs"
	"github.com/serialine/serialine/central/outbound/outboundtest"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// TestVerifyCommand: `serialine-central verify CODE` asks another
// manufacturer's responder (central's own, on its own store, behind TLS)
// through the partner endpoint in our database, prints the answer and
// exits 0 verified, 1 not, 2 for usage; the request is in our log.
func TestVerifyCommand(t *testing.T) {
	ctx := sqldb.WithActor(context.Background(), "test")
	quiet := slog.New(slog.DiscardHandler)
	const gtin, lot, exp = "00312345678913", "LOT42", "281231"
	themSite, usGLN := "0312345000004", "0614141000005"

	// Them: a manufacturer with one commissioned pack, who issued us a
	// partner token.
	them := storetest.OpenSQLite(t, quiet)
	require.NoError(t, them.PutProduct(ctx, master.Product{GTIN: gtin, Name: "Paracetamol", CompanyPrefixLen: 7, NDC: "12345-678-91",
		Markets: []master.Market{master.MarketUSDSCSA}, Scheme: serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}}))
	require.NoError(t, them.PutSite(ctx, master.Site{GLN: themSite, Name: "Their Plant"}))
	require.NoError(t, them.PutPartner(ctx, master.Partner{GLN: usGLN, Name: "Us"}))
	tok, _, err := auth.IssuePartnerToken(ctx, them, "us", usGLN)
	require.NoError(t, err)
	require.NoError(t, them.PutLine(ctx, master.Line{ID: "L1", SiteGLN: themSite, Name: "Line", PasswordHash: "x"}))
	_, err = them.CreateOrder(ctx, orders.WorkOrder{ID: "WO-1", GTIN: gtin, Lot: lot, Expiry: exp, Quantity: 10})
	require.NoError(t, err)
	_, err = them.ReleaseOrder(ctx, "WO-1", "L1")
	require.NoError(t, err)
	g, err := them.Grant(ctx, wire.SerialRequest{V: 1, RequestID: "g", Line: "L1", Order: "WO-1", GTIN: gtin, Count: 1}, 0)
	require.NoError(t, err)
	sc, err := serials.New(*g.Scheme)
	require.NoError(t, err)
	sn, err := sc.Serial(nil, g.Ranges[0].Start)
	require.NoError(t, err)
	c := g.Ranges[0].Start
	res, err := them.ApplyEvents(ctx, "L1", []wire.Event{{ID: "L1:1", Seq: 1, Type: wire.Commissioned, At: time.Now().UTC(), Order: "WO-1",
		GTIN: gtin, Serial: string(sn), Counter: &c, Lot: lot, Expiry: exp}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Applied)
	rs, err := lmvs.NewResponder(them, lmvs.Config{}, quiet)
	require.NoError(t, err)
	ca := outboundtest.NewCA(t, "their CA")
	srv := outboundtest.Server(t, lmvs.Route(rs, http.NotFoundHandler()), ca, nil)

	// Us: their plant as a partner with its company prefix and endpoint.
	dsn := storetest.SQLiteDSN(t)
	us := storetest.Open(t, dsn, quiet)
	require.NoError(t, us.PutPartner(ctx, master.Partner{GLN: themSite, Name: "Their Pharma", CompanyPrefixLen: 7}))
	_, err = us.PutPartnerEndpoint(ctx, master.PartnerEndpoint{GLN: themSite, Kind: master.EndpointVerification,
		URL: "https://localhost" + srv.URL[strings.LastIndex(srv.URL, ":"):], Auth: master.EndpointAuthBearer, Secret: tok, CACert: ca.PEM})
	require.NoError(t, err)
	cfgPath := filepath.Join(t.TempDir(), "central.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
database:
  url: %s
outbound:
  allow_networks: [127.0.0.0/8, "::1/128"]
verification:
  requester_gln: "%s"
log:
  level: error
`, dsn, usGLN)), 0o600))

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(ctx, append([]string{"verify"}, args...), Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			if k == "USER" {
				return "ana"
			}
			return ""
		}})
		return code, out.String(), errb.String()
	}
	code, out, errs := run("--config", cfgPath, "(01)"+gtin+"(17)"+exp+"(10)"+lot+"(21)"+string(sn))
	require.Equal(t, 0, code, "%s%s", out, errs)
	var got lmvs.Result
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, "company-prefix", got.Route)
	require.Equal(t, lmvs.Data{Verified: true}, *got.Response.Data)

	code, out, errs = run("--config", cfgPath, "--gtin", gtin, "--serial", string(sn), "--lot", "LOT9", "--expiry", exp)
	require.Equal(t, 1, code, "%s%s", out, errs)
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, lmvs.ReasonGTINSerialLot, got.Response.Data.VerificationFailureReason)

	code, _, errs = run("--config", cfgPath, "(01)"+gtin+"(21)"+string(sn))
	require.Equal(t, 2, code)
	require.Contains(t, errs, "lot")
	code, _, _ = run("--config", cfgPath)
	require.Equal(t, 2, code)

	log, err := us.Verifications(ctx, supply.VerificationFilter{Direction: supply.VerificationOut})
	require.NoError(t, err)
	require.Len(t, log, 2)
	require.Equal(t, "cli:ana", log[0].Actor)
}
