package server

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/pki"
	"github.com/serialine/serialine/shared/wire"
)

const certsUsage = `usage: serialine-central certs --dir DIR [--hosts HOST,...] [--lines LINE,...]
                              [--service-user NAME] [--days N] [--force]

certs makes the certificates of a plant without a PKI of its own, in DIR:

  ca.crt, ca.key              a private CA (ECDSA P-256, ten years); reused when
                              DIR already has one, never overwritten
  server.crt, server.key      central's certificate for HTTPS and the broker's
                              TLS listener, for every name of --hosts (IP
                              addresses become IP SANs)
  clients/NAME.crt, .key      one client certificate per line of --lines and one
                              for central's service user; the common name is the
                              MQTT username

Without --hosts no server certificate is made: to add a line later, run
  serialine-central certs --dir DIR --lines NEWLINE --service-user ""
Private keys are written 0600, certificates 0644. An existing server or
client file is an error unless --force is given. docs/operations.md (TLS) has the steps.

  --dir DIR            where to write (created 0700)
  --hosts HOST,...     names central is reached by: DNS names and IP addresses
  --lines LINE,...     line ids to make client certificates for
  --service-user NAME  central's MQTT user (default central; "" for none)
  --days N             validity of the server and client certificates (default 825)
  --force              replace existing server and client files
`

// certsCommand runs `serialine-central certs`.
func certsCommand(args []string, env Env) int {
	fs := flag.NewFlagSet("serialine-central certs", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprint(env.Stderr, certsUsage) }
	dir := fs.String("dir", "", "output directory")
	hosts := fs.String("hosts", "", "comma-separated host names and IP addresses")
	lines := fs.String("lines", "", "comma-separated line ids")
	service := fs.String("service-user", ingest.DefaultUsername, "central's MQTT user")
	days := fs.Int("days", pki.DefaultDays, "validity in days")
	force := fs.Bool("force", false, "replace existing server and client files")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "serialine-central certs: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	if *dir == "" {
		return fail("--dir: missing")
	}
	hostList := splitList(*hosts)
	var clients []string
	for _, l := range splitList(*lines) {
		if err := wire.ValidateLine(l); err != nil {
			return fail("--lines: %q: %v", l, err)
		}
		clients = append(clients, l)
	}
	if *service != "" {
		if err := wire.ValidateLine(*service); err != nil {
			return fail("--service-user: %q: %v", *service, err)
		}
		clients = append(clients, *service)
	}
	if len(hostList) == 0 && len(clients) == 0 {
		return fail("--hosts: missing; name central's host names and IP addresses, e.g. --hosts central.plant.example,10.0.0.5 (or give --lines)")
	}
	res, err := pki.Make(pki.Options{Dir: *dir, Hosts: hostList, Clients: clients, Days: *days, Force: *force})
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central certs: %v\n", err)
		if len(res.Written) > 0 {
			fmt.Fprintf(env.Stderr, "written before the error: %s\n", strings.Join(res.Written, ", "))
		}
		if errors.Is(err, pki.ErrExists) {
			return 2
		}
		return 1
	}
	if res.CAReused {
		fmt.Fprintf(env.Stdout, "using the existing CA %s\n", filepath.Join(*dir, pki.CACert))
	}
	for _, f := range res.Written {
		fmt.Fprintln(env.Stdout, "wrote", f)
	}
	if len(hostList) == 0 {
		return 0
	}
	fmt.Fprintf(env.Stdout, "\ncentral: --tls-cert %s --tls-key %s (and mqtt.tls_client_ca: %s)\n",
		filepath.Join(*dir, pki.ServerCert), filepath.Join(*dir, pki.ServerKey), filepath.Join(*dir, pki.CACert))
	fmt.Fprintf(env.Stdout, "each line: mqtt.ca_file %s, mqtt.cert_file and mqtt.key_file from %s\n",
		filepath.Join(*dir, pki.CACert), filepath.Join(*dir, pki.ClientsDir))
	return 0
}

// splitList splits a comma-separated flag, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
