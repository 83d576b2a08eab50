package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Env is what Main uses of its surroundings, so that tests can run the
// command in-process.
type Env struct {
	Stdout, Stderr io.Writer
	// Stdin is read by `epcis hash -` (os.Stdin when nil).
	Stdin io.Reader
	// Getenv defaults to os.Getenv.
	Getenv func(string) string
	// Started, if set, is called once the server is up (tests use it to
	// learn the addresses it bound).
	Started func(*Server)
}

const usage = `usage: serialine-central serve [--config FILE] [--http HOST:PORT] [--db DSN] [--mqtt BROKER]
       serialine-central epcis hash FILE...
       serialine-central verify [--config FILE] [--db DSN] CODE
       serialine-central certs --dir DIR [--hosts HOST,...] [--lines LINE,...] [--force]
       serialine-central backup|restore|check [--db DSN] ...
       serialine-central skip-serials [--db DSN] --count N --reason TEXT

serve runs central: database, MQTT ingest, HTTP API and web UI, until
interrupted (SIGINT/SIGTERM).

  --config FILE     YAML configuration (see configs/central.yaml); flags override it
  --http HOST:PORT  HTTP listen address (default 127.0.0.1:8080)
  --db DSN          sqlite:PATH or postgres://user@host:port/db (default sqlite:data/central.db)
  --mqtt BROKER     embedded (127.0.0.1:1883 or the next free port), embedded:HOST:PORT,
                    or tcp://HOST:PORT / ssl://HOST:PORT for an external broker (default embedded)
  --tls-cert FILE   serve HTTPS with this certificate (PEM; with --tls-key)
  --tls-key FILE    the certificate's private key (PEM)
  --mqtt-tls HOST:PORT  add a TLS listener to the embedded broker (needs --tls-cert)

epcis hash prints the CBV 2.0 event hash ID of every event of each EPCIS
document (XML or JSON-LD; - reads standard input), one per line in document
order: the IDs GS1's reference generator gives, which the repository uses.

certs makes a private CA, central's server certificate and client
certificates for the lines (docs/operations.md ("TLS")); serialine-central certs --help.

verify asks another manufacturer's LMVS responder whether a pack is genuine
(our returns desk); serialine-central verify --help says more.

backup, restore and check: an online backup of a SQLite database, its
restore, and the check of a database (also after pg_restore);
serialine-central backup --help says more. skip-serials, after a restore,
keeps central from granting again what it granted after the backup.

Environment: SERIALINE_ADMIN_TOKEN (bootstrap admin token), SERIALINE_MQTT_PASSWORD
(central's MQTT password), SERIALINE_KEY_FILE (secrets.key_file).
`

// Main runs the serialine-central command line with args (without the
// program name) until ctx ends, and returns the exit code: 0, 1 when
// central failed, 2 for bad usage or configuration.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Stdout == nil {
		env.Stdout = os.Stdout
	}
	if env.Stderr == nil {
		env.Stderr = os.Stderr
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Stdin == nil {
		env.Stdin = os.Stdin
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "epcis" {
		return epcisCommand(args[1:], env)
	}
	if args[0] == "certs" {
		return certsCommand(args[1:], env)
	}
	if args[0] == "verify" {
		return verifyCommand(ctx, args[1:], env)
	}
	if args[0] == "backup" || args[0] == "restore" || args[0] == "check" {
		return backupCommand(ctx, args[0], args[1:], env)
	}
	if args[0] == "skip-serials" {
		return skipSerialsCommand(ctx, args[1:], env)
	}
	if args[0] != "serve" {
		fmt.Fprintf(env.Stderr, "serialine-central: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	cfg, err := serveConfig(args[1:], env.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central: %v\n", err)
		return 2
	}
	log := cfg.Log.Logger(env.Stderr)
	srv, err := New(cfg, log, WithOutput(env.Stdout), WithEnv(env.Getenv))
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central: %v\n", err)
		return 2
	}
	if err := srv.Start(ctx); err != nil {
		log.Error("central did not start", "err", err)
		fmt.Fprintf(env.Stderr, "serialine-central: %v\n", err)
		if errors.Is(err, ErrInvalidConfig) {
			return 2
		}
		return 1
	}
	if env.Started != nil {
		env.Started(srv)
	}
	waitErr := srv.Wait(ctx)
	if waitErr != nil {
		log.Error("http server failed", "err", waitErr)
	}
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.WithDefaults().HTTP.ShutdownTimeout)
	defer cancel()
	log.Info("central shutting down")
	if err := srv.Shutdown(stop); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	if waitErr != nil {
		return 1
	}
	return 0
}

// serveConfig reads --config and applies the flags over it; every error
// names the key or flag, and nothing has started yet.
func serveConfig(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("serialine-central serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	configPath := fs.String("config", "", "YAML configuration file")
	httpAddr := fs.String("http", "", "HTTP listen address HOST:PORT")
	db := fs.String("db", "", "database: sqlite:PATH or postgres://...")
	mqtt := fs.String("mqtt", "", "broker: embedded, embedded:HOST:PORT, tcp://HOST:PORT or ssl://HOST:PORT")
	tlsCert := fs.String("tls-cert", "", "HTTPS certificate file (PEM)")
	tlsKey := fs.String("tls-key", "", "HTTPS private key file (PEM)")
	mqttTLS := fs.String("mqtt-tls", "", "embedded broker's TLS listen address HOST:PORT")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	var cfg Config
	if *configPath != "" {
		var err error
		if cfg, err = LoadConfig(*configPath); err != nil {
			return Config{}, err
		}
	}
	// Flags win over the file; a flag given empty is an error, not a default.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, f := range []struct {
		name string
		val  string
		dst  *string
	}{{"http", *httpAddr, &cfg.HTTP.Listen}, {"db", *db, &cfg.Database.URL}, {"mqtt", *mqtt, &cfg.MQTT.Broker},
		{"tls-cert", *tlsCert, &cfg.HTTP.TLSCert}, {"tls-key", *tlsKey, &cfg.HTTP.TLSKey}, {"mqtt-tls", *mqttTLS, &cfg.MQTT.TLSListen}} {
		if !set[f.name] {
			continue
		}
		if strings.TrimSpace(f.val) == "" {
			return Config{}, fmt.Errorf("--%s: empty", f.name)
		}
		*f.dst = f.val
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		// Name the flag when the value came from one.
		for flagName, key := range map[string]string{"http": "http.listen", "db": "database.url", "mqtt": "mqtt.broker",
			"tls-cert": "http.tls_cert", "tls-key": "http.tls_key", "mqtt-tls": "mqtt.tls_listen"} {
			if set[flagName] && strings.Contains(err.Error(), ": "+key+": ") {
				return Config{}, fmt.Errorf("--%s: %w", flagName, err)
			}
		}
		return Config{}, err
	}
	return cfg, nil
}
