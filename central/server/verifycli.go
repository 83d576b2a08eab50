package server

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/serialine/serialine/central/lmvs"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
)

const verifyUsage = `usage: serialine-central verify [--config FILE] [--db DSN] [--as NAME] CODE
       serialine-central verify [--config FILE] [--db DSN] [--as NAME] --gtin GTIN --serial S --lot L --expiry YYMMDD

verify asks another manufacturer's LMVS responder whether a pack is genuine
(our returns desk): routed by the GTIN's company prefix to a trading partner
with a verification endpoint, or through the VRS router (verification.router_gln),
as the configuration's verification.requester_gln. CODE is the pack's code in any
GS1 form: "(01)…(17)…(10)…(21)…", scanner data, or a GS1 Digital Link URI.
The request and the answer are kept in central's verification log.

Prints the route, the status and the LMVS answer as JSON. Exit status: 0
verified, 1 not verified or no answer, 2 usage or configuration.
`

// verifyCommand runs `serialine-central verify`.
//
// It is long because it is one CLI command: the pack from flags or a CODE, the
// configuration, the store and the requester, then the request and its exit status.
func verifyCommand(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("serialine-central verify", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprint(env.Stderr, verifyUsage) }
	configPath := fs.String("config", "", "YAML configuration file (database, verification, outbound)")
	db := fs.String("db", "", "database: sqlite:PATH or postgres://...")
	as := fs.String("as", "", "who asks, for the log (default $USER)")
	var p lmvs.Pack
	fs.StringVar(&p.GTIN, "gtin", "", "GTIN")
	fs.StringVar(&p.Serial, "serial", "", "serial (AI 21)")
	fs.StringVar(&p.Lot, "lot", "", "lot (AI 10)")
	fs.StringVar(&p.Expiry, "expiry", "", "expiry YYMMDD (AI 17)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "serialine-central verify: "+format+"\n\n%s", append(a, verifyUsage)...)
		return 2
	}
	switch {
	case fs.NArg() > 1:
		return usage("one CODE, got %d arguments", fs.NArg())
	case fs.NArg() == 1 && p != (lmvs.Pack{}):
		return usage("give a CODE or --gtin, --serial, --lot and --expiry, not both")
	case fs.NArg() == 1:
		es, err := gs1.Parse(fs.Arg(0))
		if err != nil {
			return usage("CODE: %v", err)
		}
		m := es.Map()
		p = lmvs.Pack{GTIN: m["01"], Serial: m["21"], Lot: m["10"], Expiry: m["17"]}
	case p == (lmvs.Pack{}):
		return usage("nothing to verify")
	}
	cfg, err := commandConfig(*configPath, *db)
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central verify: %v\n", err)
		return 2
	}
	log := cfg.Log.Logger(env.Stderr)
	policy, _, err := cfg.senderConfig()
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central verify: %v\n", err)
		return 2
	}
	st, err := store.Open(ctx, cfg.Database.URL, log, store.WithDB(sqldb.WithPostgresConns(2)))
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central verify: database: %v\n", err)
		return 1
	}
	defer st.Close()
	r, err := cfg.requester(st, policy, log)
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central verify: %v\n", err)
		return 2
	}
	if r == nil {
		fmt.Fprint(env.Stderr, "serialine-central verify: no requester: set verification.requester_gln (or responder_gln) in the configuration\n")
		return 2
	}
	who := *as
	if who == "" {
		who = env.Getenv("USER")
	}
	res, err := r.Verify(sqldb.WithActor(ctx, "cli:"+who), p)
	var re *lmvs.RequestError
	switch {
	case errors.As(err, &re):
		return usage("%s: %s", re.Param, re.Rule)
	case err != nil:
		fmt.Fprintf(env.Stderr, "serialine-central verify: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(res)
	if res.Response == nil || res.Response.Data == nil || !res.Response.Data.Verified {
		if res.Error != "" {
			fmt.Fprintf(env.Stderr, "serialine-central verify: %s\n", res.Error)
		}
		return 1
	}
	return 0
}
