package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// runCentral runs the command line in-process: exit code, stdout, stderr.
func runCentral(tb testing.TB, args ...string) (int, string, string) {
	tb.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

// countsOf is Inspect's counts by table (Inspect must find no problem).
func countsOf(tb testing.TB, dsn string) map[string]int64 {
	tb.Helper()
	rep, err := sqldb.Inspect(context.Background(), dsn)
	require.NoError(tb, err)
	require.Empty(tb, rep.Problems, dsn)
	out := map[string]int64{}
	for _, c := range rep.Counts {
		out[c.Table] = c.Rows
	}
	return out
}

// lineCreates counts the audit trail's line creations.
func lineCreates(tb testing.TB, path string) int64 {
	tb.Helper()
	out, err := exec.Command("sqlite3", "-readonly", path, "SELECT count(*) FROM audit_log WHERE entity = 'line' AND action = 'create'").CombinedOutput()
	require.NoError(tb, err, string(out))
	var n int64
	_, err = fmt.Sscan(string(out), &n)
	require.NoError(tb, err, string(out))
	return n
}

// TestBackupRestoreSQLite: a backup taken while central's store writes is
// one consistent snapshot (each line's row, seq row and audit entry were
// written in one transaction: the backup has all three or none), 0600,
// with no temporary file left; restore refuses a database in use and an
// existing one without --force, keeps the one it replaces, and what it
// restores is the backup.
func TestBackupRestoreSQLite(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 (the real client) is not installed")
	}
	ctx := sqldb.WithActor(context.Background(), "test")
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "central.db")
	dsn := "sqlite:" + dbPath
	st, err := store.Open(ctx, dsn, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			st.Close()
		}
	})

	// A writer that does not stop while the backup runs.
	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	enough := make(chan struct{})
	tick := make(chan struct{}, 1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := st.PutLine(ctx, master.Line{ID: fmt.Sprintf("L%d", i), Name: "Line", PasswordHash: "x"}); err != nil {
				t.Errorf("PutLine: %v", err)
				return
			}
			if written.Add(1) == 50 {
				close(enough)
			}
			select {
			case tick <- struct{}{}:
			default:
			}
		}
	}()
	<-enough
	backup := filepath.Join(t.TempDir(), "central-backup.db")
	code, out, errs := runCentral(t, "backup", "--db", dsn, "-o", backup)
	require.Equal(t, 0, code, "%s%s", out, errs)
	atBackup := written.Load()
	for written.Load() < atBackup+20 { // more writes after the backup
		<-tick
	}
	close(stop)
	wg.Wait()
	require.Contains(t, out, "backup of "+dbPath+" written to "+backup)
	require.Contains(t, out, "integrity: ok")

	fi, err := os.Stat(backup)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the backup holds the serial schemes' keys")
	entries, err := os.ReadDir(filepath.Dir(backup))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left beside the backup")

	// One snapshot: every line with its seq row and its audit entry.
	bc := countsOf(t, "sqlite:"+backup)
	require.GreaterOrEqual(t, bc["lines"], int64(50))
	require.Less(t, bc["lines"], written.Load(), "the backup was taken while the writes went on")
	require.Equal(t, bc["lines"], lineCreates(t, backup), "each line's audit entry is in the backup with it")
	var seqRows int64
	outSeq, err := exec.Command("sqlite3", "-readonly", backup, "SELECT count(*) FROM line_seq").CombinedOutput()
	require.NoError(t, err, string(outSeq))
	_, err = fmt.Sscan(string(outSeq), &seqRows)
	require.NoError(t, err)
	require.Equal(t, bc["lines"], seqRows)

	// A second backup to the same name is refused; --force replaces it.
	code, _, errs = runCentral(t, "backup", "--db", dsn, "-o", backup)
	require.Equal(t, 1, code)
	require.Contains(t, errs, "output "+backup+" exists")

	// Restore onto the running store's database: refused, even with --force.
	code, _, errs = runCentral(t, "restore", "--db", dsn, "-i", backup, "--force")
	require.Equal(t, 1, code, errs)
	require.Contains(t, errs, "is open in another process (stop central first)")
	require.Equal(t, written.Load(), countsOf(t, dsn)["lines"], "the database in use is untouched")

	st.Close()
	closed = true
	code, _, errs = runCentral(t, "restore", "--db", dsn, "-i", backup)
	require.Equal(t, 1, code, errs)
	require.Contains(t, errs, "database "+dbPath+" exists: restoring replaces it")

	code, out, errs = runCentral(t, "restore", "--db", dsn, "-i", backup, "--force")
	require.Equal(t, 0, code, "%s%s", out, errs)
	require.Contains(t, out, "restored "+dbPath+" from "+backup)
	kept := strings.TrimSpace(strings.TrimPrefix(out[strings.Index(out, "the database it replaced is kept as "):], "the database it replaced is kept as "))
	kept = strings.SplitN(kept, "\n", 2)[0]
	require.Equal(t, written.Load(), countsOf(t, "sqlite:"+kept)["lines"], "the replaced database is kept whole")
	require.NoFileExists(t, dbPath+"-wal")
	fi, err = os.Stat(dbPath)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// Central opens the restored database: the backup's records.
	st2, err := store.Open(ctx, dsn, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	st2.Close()
	require.Equal(t, bc, countsOf(t, dsn))
	code, out, errs = runCentral(t, "check", "--db", dsn)
	require.Equal(t, 0, code, "%s%s", out, errs)
	rep, err := sqldb.Inspect(ctx, dsn)
	require.NoError(t, err)
	require.Equal(t, rep.Latest, rep.Version)
	require.Contains(t, out, fmt.Sprintf("schema version %d (this build: %d), integrity: ok", rep.Latest, rep.Latest))

	// check of a mistyped path fails and creates nothing.
	missing := filepath.Join(dir, "nope.db")
	code, _, errs = runCentral(t, "check", "--db", "sqlite:"+missing)
	require.Equal(t, 1, code)
	require.Contains(t, errs, "no such file")
	require.NoFileExists(t, missing)
}

// TestRestoreRefusesBadBackups: a file that is not a Serialine database,
// not a database at all, or damaged is refused, and the database stays.
func TestRestoreRefusesBadBackups(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 (the real client) is not installed")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "central.db")
	st, err := store.Open(context.Background(), "sqlite:"+target, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	st.Close()
	before, err := os.ReadFile(target)
	require.NoError(t, err)

	other := filepath.Join(dir, "other.db")
	out, err := exec.Command("sqlite3", other, "CREATE TABLE t (x); INSERT INTO t VALUES (1);").CombinedOutput()
	require.NoError(t, err, string(out))
	garbage := filepath.Join(dir, "garbage.db")
	require.NoError(t, os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 500), 0o600))
	// A damaged backup: a real one with a run of pages wiped in the middle.
	damaged := filepath.Join(dir, "damaged.db")
	code, o, e := runCentral(t, "backup", "--db", "sqlite:"+target, "-o", damaged)
	require.Equal(t, 0, code, o+e)
	b, err := os.ReadFile(damaged)
	require.NoError(t, err)
	require.Greater(t, len(b), 40*4096)
	copy(b[20*4096:30*4096], bytes.Repeat([]byte{0xA5}, 10*4096))
	require.NoError(t, os.WriteFile(damaged, b, 0o600))

	for _, tc := range []struct {
		name, file, want string
	}{
		{"not serialine", other, "not a Serialine database: no schema_migrations table"},
		{"not a database", garbage, "not a database"},
		{"damaged", damaged, "backup " + damaged},
		{"missing", filepath.Join(dir, "nope.db"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCentral(t, "restore", "--db", "sqlite:"+target, "-i", tc.file, "--force")
			require.Equal(t, 1, code, errs)
			require.Contains(t, errs, tc.want)
			after, err := os.ReadFile(target)
			require.NoError(t, err)
			require.True(t, bytes.Equal(before, after), "the database is untouched")
		})
	}
	code, _, errs := runCentral(t, "check", "--db", "sqlite:"+damaged)
	require.Equal(t, 1, code, "check finds the damage: %s", errs)
}

// TestCheckPostgres: check reads a PostgreSQL database without changing
// it, and names what a careless pg_restore leaves out (the audit trail's
// append-only triggers, a migration row) or a schema newer than the
// build; backup and restore refuse PostgreSQL and print the pg_dump and
// pg_restore commands, the password hidden.
func TestCheckPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	st, err := store.Open(ctx, dsn, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	st.Close()
	code, out, errs := runCentral(t, "check", "--db", dsn)
	require.Equal(t, 0, code, out+errs)
	require.Contains(t, out, "database: postgres, schema version")
	require.Contains(t, out, "integrity: not applicable")
	require.Contains(t, out, "audit_log")

	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, tc := range []struct {
		name, sql, want string
	}{
		{"trigger dropped", "DROP TRIGGER audit_log_no_update_delete ON audit_log", "trigger audit_log_no_update_delete is missing"},
		{"migration row lost", "DELETE FROM schema_migrations WHERE version = 5", "migration 0005_commerce is missing from schema_migrations"},
		{"newer schema", "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', now())", "schema version 999 is newer than this build's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conn.Exec(ctx, tc.sql)
			require.NoError(t, err)
			code, out, errs := runCentral(t, "check", "--db", dsn)
			require.Equal(t, 1, code, out+errs)
			require.Contains(t, out, "PROBLEM: "+tc.want)
		})
	}

	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), "s3cret")
	for _, cmd := range []struct{ args []string }{{[]string{"backup", "--db", u.String(), "-o", "x.dump"}}, {[]string{"restore", "--db", u.String(), "-i", "x.dump"}}} {
		code, out, errs := runCentral(t, cmd.args...)
		require.Equal(t, 2, code, out+errs)
		require.Contains(t, errs, "is a PostgreSQL database: use its own tools")
		require.Contains(t, errs, "pg_")
		require.NotContains(t, errs, "s3cret")
	}
}

// TestPostgresDumpRestoreProcedure follows docs/operations.md with the
// real tools: pg_dump -Fc of a database central wrote, pg_restore into a
// new database, check, and central opens it with the same records.
func TestPostgresDumpRestoreProcedure(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	ctx := sqldb.WithActor(context.Background(), "test")
	src := storetest.PostgresDSN(t)
	st, err := store.Open(ctx, src, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, st.PutLine(ctx, master.Line{ID: fmt.Sprintf("L%d", i), Name: "Line", PasswordHash: "x"}))
	}
	st.Close()
	dump := filepath.Join(t.TempDir(), "central.dump")
	out, err := exec.Command("pg_dump", "-Fc", "-f", dump, src).CombinedOutput()
	require.NoError(t, err, string(out))
	dst := storetest.PostgresDSN(t) // an empty database of its own
	out, err = exec.Command("pg_restore", "--exit-on-error", "--no-owner", "-d", dst, dump).CombinedOutput()
	require.NoError(t, err, string(out))
	code, o, e := runCentral(t, "check", "--db", dst)
	require.Equal(t, 0, code, o+e)
	require.Equal(t, countsOf(t, src), countsOf(t, dst))
	require.Equal(t, int64(5), countsOf(t, dst)["lines"])
	st, err = store.Open(ctx, dst, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	st.Close()
}

// TestSkipSerialsAfterRestore is the restore's serial hazard written as
// it happens: a grant made after the backup is not in the restored
// database, so the restored central grants the same serials again; after
// `skip-serials` it grants beyond them, and the skip is audited.
func TestSkipSerialsAfterRestore(t *testing.T) {
	ctx := sqldb.WithActor(context.Background(), "test")
	quiet := slog.New(slog.DiscardHandler)
	const gtin = "00312345678906"
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "central.db")
	st, err := store.Open(ctx, "sqlite:"+dbPath, quiet)
	require.NoError(t, err)
	require.NoError(t, st.PutProduct(ctx, master.Product{GTIN: gtin, Name: "Paracetamol", CompanyPrefixLen: 7, NDC: "12345-678-90",
		Markets: []master.Market{master.MarketUSDSCSA}, Scheme: serials.Spec{Kind: serials.KindSequential, Length: 10, Start: 1}}))
	require.NoError(t, st.PutLine(ctx, master.Line{ID: "L1", Name: "Line", PasswordHash: "x"}))
	_, err = st.CreateOrder(ctx, orders.WorkOrder{ID: "WO-1", GTIN: gtin, Lot: "LOT1", Expiry: "291231", Quantity: 10_000})
	require.NoError(t, err)
	_, err = st.ReleaseOrder(ctx, "WO-1", "L1")
	require.NoError(t, err)
	grant := func(st *store.Store, id string) wire.CounterRange {
		g, err := st.Grant(ctx, wire.SerialRequest{V: 1, RequestID: id, Line: "L1", Order: "WO-1", GTIN: gtin, Count: 100}, 0)
		require.NoError(t, err)
		require.Len(t, g.Ranges, 1)
		return g.Ranges[0]
	}
	grant(st, "before")
	_, err = st.GrantSSCC(ctx, wire.SerialRequest{V: 1, RequestID: "sscc-1", Line: "L1", Kind: wire.RequestSSCC,
		SSCC: &wire.SSCCPrefix{CompanyPrefix: "0312345", Extension: 1}, Count: 10}, 0)
	require.NoError(t, err)
	backup := filepath.Join(dir, "backup.db")
	code, out, errs := runCentral(t, "backup", "--db", "sqlite:"+dbPath, "-o", backup)
	require.Equal(t, 0, code, out+errs)
	after := grant(st, "after-the-backup") // held by the line, unknown to the backup
	st.Close()
	code, out, errs = runCentral(t, "restore", "--db", "sqlite:"+dbPath, "-i", backup, "--force")
	require.Equal(t, 0, code, out+errs)

	// Without the skip: the same serials again (on a copy).
	b, err := os.ReadFile(dbPath)
	require.NoError(t, err)
	unsafe := filepath.Join(dir, "unskipped.db")
	require.NoError(t, os.WriteFile(unsafe, b, 0o600))
	st2, err := store.Open(ctx, "sqlite:"+unsafe, quiet)
	require.NoError(t, err)
	require.Equal(t, after, grant(st2, "next"), "a restored database grants the post-backup serials again")
	st2.Close()

	for _, bad := range [][]string{{"--count", "0", "--reason", "x"}, {"--count", "1000"}} {
		code, _, errs = runCentral(t, append([]string{"skip-serials", "--db", "sqlite:" + dbPath}, bad...)...)
		require.Equal(t, 2, code, errs)
	}
	code, out, errs = runCentral(t, "skip-serials", "--db", "sqlite:"+dbPath, "--count", "1000", "--reason", "restored from backup.db", "--as", "ops")
	require.Equal(t, 0, code, out+errs)
	require.Contains(t, out, fmt.Sprintf("GTIN %s serial counter: %d -> %d", gtin, after.Start, after.Start+1000))
	require.Contains(t, out, "SSCC prefix 0312345 extension 1 reference: 10 -> 1010")
	st3, err := store.Open(ctx, "sqlite:"+dbPath, quiet)
	require.NoError(t, err)
	defer st3.Close()
	next := grant(st3, "next")
	require.GreaterOrEqual(t, next.Start, after.End(), "after the skip, nothing granted after the backup is granted again")
	entries, err := st3.Audit(ctx, audit.Filter{Entity: "serial_counter"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "cli:ops", entries[0].Actor)
	require.Equal(t, "skip-serials", entries[0].Action)
	entries, err = st3.Audit(ctx, audit.Filter{Entity: "sscc_counter"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

// TestSkipSerialsSealedKeys: skip-serials reads the products as serve
// does, so on a database whose scheme keys are sealed it needs the same
// key file (SERIALINE_KEY_FILE or secrets.key_file), and says so without it.
func TestSkipSerialsSealedKeys(t *testing.T) {
	ctx := sqldb.WithActor(context.Background(), "test")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "secrets.key")
	keyText := "k1:" + strings.Repeat("cd", 32) + "\n"
	require.NoError(t, os.WriteFile(keyFile, []byte(keyText), 0o600))
	keys, err := sqldb.ParseSecretKeys([]byte(keyText))
	require.NoError(t, err)
	db := filepath.Join(dir, "central.db")
	st, err := store.Open(ctx, "sqlite:"+db, slog.New(slog.DiscardHandler), store.WithDB(sqldb.WithSecretKeys(keys)))
	require.NoError(t, err)
	require.NoError(t, st.PutProduct(ctx, master.Product{GTIN: "00312345678906", Name: "Paracetamol", CompanyPrefixLen: 7,
		NDC: "12345-678-90", Markets: []master.Market{master.MarketUSDSCSA},
		Scheme: serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetNumeric, Key: "5e11a1e5ec2e7000000000000000beef"}}))
	st.Close()

	run := func(env map[string]string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), []string{"skip-serials", "--db", "sqlite:" + db, "--count", "10", "--reason", "restore"},
			Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
		return code, out.String(), errb.String()
	}
	code, out, errs := run(nil)
	require.Equal(t, 1, code, out+errs)
	require.Contains(t, errs, "00312345678906")
	code, out, errs = run(map[string]string{EnvKeyFile: keyFile})
	require.Equal(t, 0, code, out+errs)
	require.Contains(t, out, "GTIN 00312345678906 serial counter: 0 -> 10")
}
