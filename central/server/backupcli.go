package server

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/sqldb"
)

const backupUsage = `usage: serialine-central backup  [--config FILE] [--db DSN] -o FILE [--force]
       serialine-central restore [--config FILE] [--db DSN] -i FILE [--force]
       serialine-central check   [--config FILE] [--db DSN] [--json]

backup writes an online backup of a SQLite database while central runs and
writes (one consistent snapshot, VACUUM INTO), to a temporary name beside
FILE, mode 0600, checks it and renames it to FILE. An existing FILE is
refused unless --force.

restore puts the backup FILE in place of the SQLite database, after checking
that FILE is a sound Serialine database (integrity check, schema). Stop
central first: a database open in a running central is refused. An existing
database is refused unless --force; it is kept beside as
PATH.replaced-TIMESTAMP. Events the lines sent after the backup are not in it:
see docs/operations.md, "Backups and restore".

check inspects a database without changing it: schema version (this build's
and the database's), the tables and append-only triggers of that version,
SQLite's integrity and foreign-key checks, and record counts. Run it after
a backup, a restore or a pg_restore. Exit status 1 when it finds a problem.

PostgreSQL is backed up and restored with its own tools, pg_dump -Fc and
pg_restore (docs/operations.md, "Backups and restore"); backup and restore
refuse a postgres:// database and print the commands.

Exit status: 0 done, 1 failed or problems found, 2 usage or configuration.
`

// commandConfig is the configuration of an administrator's command: the
// file at path when given, its database replaced by db when given, with
// the defaults, checked.
func commandConfig(path, db string) (Config, error) {
	var cfg Config
	if path != "" {
		var err error
		if cfg, err = LoadConfig(path); err != nil {
			return Config{}, err
		}
	}
	if db != "" {
		cfg.Database.URL = db
	}
	cfg = cfg.WithDefaults()
	return cfg, cfg.Validate()
}

// backupCommand runs `serialine-central backup|restore|check`.
//
// It is long because it is one CLI command: the flag set of its three modes, the
// configuration, then one case per mode.
func backupCommand(ctx context.Context, cmd string, args []string, env Env) int {
	fs := flag.NewFlagSet("serialine-central "+cmd, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprint(env.Stderr, backupUsage) }
	configPath := fs.String("config", "", "YAML configuration file (database.url)")
	db := fs.String("db", "", "database: sqlite:PATH or postgres://...")
	var file *string
	var force, asJSON *bool
	switch cmd {
	case "backup":
		file = fs.String("o", "", "the backup file to write")
	case "restore":
		file = fs.String("i", "", "the backup file to restore")
	case "check":
		asJSON = fs.Bool("json", false, "print the report as JSON")
	}
	if cmd != "check" {
		force = fs.Bool("force", false, "replace an existing file")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "serialine-central %s: "+format+"\n\n%s", append([]any{cmd}, append(a, backupUsage)...)...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q (flags start with -)", fs.Arg(0))
	}
	if file != nil && strings.TrimSpace(*file) == "" {
		return usage("-%s FILE is required", map[string]string{"backup": "o", "restore": "i"}[cmd])
	}
	cfg, err := commandConfig(*configPath, *db)
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central %s: %v\n", cmd, err)
		return 2
	}
	dsn := cfg.Database.URL
	path, isSQLite := sqldb.SQLitePath(dsn)
	fail := func(err error) int {
		fmt.Fprintf(env.Stderr, "serialine-central %s: %v\n", cmd, err)
		return 1
	}
	switch {
	case cmd == "check":
		rep, err := sqldb.Inspect(ctx, dsn)
		if err != nil {
			return fail(err)
		}
		printReport(env.Stdout, rep, *asJSON)
		if len(rep.Problems) > 0 {
			fmt.Fprintf(env.Stderr, "serialine-central check: %d problem(s) found\n", len(rep.Problems))
			return 1
		}
		return 0
	case !isSQLite:
		// PostgreSQL has its own tools, which know its formats, roles and
		// versions better than a copy of them here would.
		fmt.Fprintf(env.Stderr, "serialine-central %s: %s is a PostgreSQL database: use its own tools (docs/operations.md, \"Backups and restore\"):\n%s", cmd, sqldb.RedactDSN(dsn), pgProcedure(cmd, dsn, *file))
		return 2
	case cmd == "backup":
		rep, err := sqldb.BackupSQLite(ctx, path, *file, *force)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(env.Stdout, "backup of %s written to %s (0600)\n", path, *file)
		printReport(env.Stdout, rep, false)
		return 0
	default: // restore
		rep, kept, err := sqldb.RestoreSQLite(ctx, *file, path, *force)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(env.Stdout, "restored %s from %s\n", path, *file)
		if kept != "" {
			fmt.Fprintf(env.Stdout, "the database it replaced is kept as %s\n", kept)
		}
		printReport(env.Stdout, rep, false)
		return 0
	}
}

// pgProcedure is what to run instead, with the database named as given
// (its password hidden).
func pgProcedure(cmd, dsn, file string) string {
	if file == "" {
		file = "central.dump"
	}
	u := sqldb.RedactDSN(dsn)
	if cmd == "backup" {
		return fmt.Sprintf("  pg_dump -Fc -f %s '%s'\n  pg_restore --list %s > /dev/null   # the archive reads back\n", file, u, file)
	}
	return fmt.Sprintf("  (stop every central replica)\n  createdb NEWDB\n  pg_restore --exit-on-error -d 'postgres://.../NEWDB' %s\n  serialine-central check --db 'postgres://.../NEWDB'\n  (point database.url at NEWDB and start central)\n", file)
}

func printReport(w io.Writer, rep sqldb.Report, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return
	}
	fmt.Fprintf(w, "database: %s, schema version %d (this build: %d), integrity: %s\n", rep.Dialect, rep.Version, rep.Latest, rep.Integrity)
	for _, c := range rep.Counts {
		fmt.Fprintf(w, "  %-18s %d\n", c.Table, c.Rows)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
}

const skipUsage = `usage: serialine-central skip-serials [--config FILE] [--db DSN] --count N --reason TEXT [--as NAME]

With sealed scheme keys, give the configuration (secrets.key_file) or
SERIALINE_KEY_FILE, as for serve.

skip-serials advances every product's serial counter and every SSCC
prefix's counter by N, audited with the reason. Run it on a database
restored from a backup before central starts again: the grants made after
the backup are not in the restored database, and central would otherwise
grant those serial numbers a second time. Choose N above the serials (and
SSCCs) all lines together can have been granted since the backup; skipped
numbers are never used. Exit status: 0 done, 1 failed, 2 usage.
`

// skipSerialsCommand runs `serialine-central skip-serials`.
func skipSerialsCommand(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("serialine-central skip-serials", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprint(env.Stderr, skipUsage) }
	configPath := fs.String("config", "", "YAML configuration file (database.url)")
	db := fs.String("db", "", "database: sqlite:PATH or postgres://...")
	count := fs.Uint64("count", 0, "serials to skip per product (and SSCC references per prefix)")
	reason := fs.String("reason", "", "why, for the audit trail")
	as := fs.String("as", "", "who, for the audit trail (default $USER)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "serialine-central skip-serials: "+format+"\n\n%s", append(a, skipUsage)...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %q (flags start with -)", fs.Arg(0))
	case *count == 0:
		return usage("--count N is required (at least 1)")
	case strings.TrimSpace(*reason) == "":
		return usage("--reason is required: it goes into the audit trail")
	}
	cfg, err := commandConfig(*configPath, *db)
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central skip-serials: %v\n", err)
		return 2
	}
	who := *as
	if who == "" {
		who = env.Getenv("USER")
	}
	log := cfg.Log.Logger(env.Stderr)
	// The products' scheme keys may be sealed: open the store as serve does.
	keys, err := (&Server{cfg: cfg, log: log, getenv: env.Getenv}).secretKeys()
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central skip-serials: %v\n", err)
		return 2
	}
	opts := []store.Option{store.WithDB(sqldb.WithPostgresConns(1))}
	if keys != nil {
		opts = append(opts, store.WithDB(sqldb.WithSecretKeys(keys)))
	}
	st, err := store.Open(ctx, cfg.Database.URL, log, opts...)
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central skip-serials: database: %v\n", err)
		return 1
	}
	defer st.Close()
	skipped, err := st.SkipSerials(sqldb.WithActor(ctx, "cli:"+who), *count, *reason)
	if err != nil {
		fmt.Fprintf(env.Stderr, "serialine-central skip-serials: %v\n", err)
		return 1
	}
	for _, c := range skipped {
		what := "GTIN " + c.GTIN + " serial counter"
		if c.SSCC != nil {
			what = fmt.Sprintf("SSCC prefix %s extension %d reference", c.SSCC.CompanyPrefix, c.SSCC.Extension)
		}
		fmt.Fprintf(env.Stdout, "%s: %d -> %d\n", what, c.From, c.To)
	}
	return 0
}
