package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrInUse is wrapped when a database file is open in another process
// (a running central): it may not be replaced.
var ErrInUse = errors.New("database in use")

// Report is what Inspect found in a database. Problems is empty for a
// sound Serialine database this build can run on.
type Report struct {
	Dialect string `json:"dialect"`
	// Version is the database's schema version, Latest this build's.
	Version int `json:"version"`
	Latest  int `json:"latest"`
	// Integrity is SQLite's integrity_check and foreign_key_check ("ok"
	// when clean); PostgreSQL has no equivalent: "not applicable".
	Integrity string `json:"integrity"`
	// Counts are the rows of the tables that hold the records.
	Counts []TableCount `json:"counts"`
	// Notes are facts worth knowing that are not problems (an older
	// schema, migrated at the next start).
	Notes    []string `json:"notes,omitempty"`
	Problems []string `json:"problems,omitempty"`
}

// TableCount is one table's row count.
type TableCount struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// countedTables are the tables Inspect counts: the records an operator
// compares before and after a restore.
var countedTables = []string{"products", "lines", "work_orders", "grants", "units", "unit_history",
	"applied_events", "pending_events", "dead_letters", "audit_log", "epcis_events", "line_incarnations"}

// SQLitePath returns the file of a "sqlite:PATH" dsn.
func SQLitePath(dsn string) (string, bool) {
	p, ok := strings.CutPrefix(dsn, "sqlite:")
	return p, ok && p != ""
}

// sqliteURL is the driver's URL for an existing file: mode=rw never creates
// it (a mistyped path is an error, not a new empty database).
func sqliteURL(path string, pragmas ...string) string {
	u := (&url.URL{Scheme: "file", Opaque: path}).String() + "?mode=rw&_pragma=busy_timeout(10000)"
	for _, p := range pragmas {
		u += "&_pragma=" + p
	}
	return u
}

// openExistingSQLite opens path, which must be an existing file, on one
// connection.
func openExistingSQLite(path string, pragmas ...string) (*sql.DB, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite %s: '?' and '#' are not allowed in the path", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("sqlite %s: not a regular file", path)
	}
	db, err := sql.Open("sqlite", sqliteURL(path, pragmas...))
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Inspect checks the database named by dsn without migrating or changing
// it: that it is a Serialine database (schema_migrations, the tables and
// append-only triggers of its version), its integrity (SQLite), its schema
// version against this build's, and its record counts. An error means it
// could not be inspected at all; what is wrong with it is in Problems.
func Inspect(ctx context.Context, dsn string) (Report, error) {
	if path, ok := SQLitePath(dsn); ok {
		db, err := openExistingSQLite(path, "query_only(1)")
		if err != nil {
			return Report{}, err
		}
		defer db.Close()
		return inspect(ctx, SQLite, sqliteTx{x: db})
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return Report{}, fmt.Errorf("postgres %s: %w", RedactDSN(dsn), err)
		}
		defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
		// Read-only: a check never changes what it checks.
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
		if err != nil {
			return Report{}, fmt.Errorf("postgres %s: %w", RedactDSN(dsn), err)
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		return inspect(ctx, Postgres, pgTx{c: tx})
	}
	return Report{}, fmt.Errorf("dsn %q: want sqlite:PATH or a postgres:// URL", RedactDSN(dsn))
}

// It is long because it is the list of checks of a database, in the order an operator
// reads them.
func inspect(ctx context.Context, d Dialect, q Tx) (Report, error) {
	rep := Report{Dialect: d.String()}
	ms, err := migrations(d)
	if err != nil {
		return rep, err
	}
	rep.Latest = len(ms)
	tables, err := namesOf(ctx, d, q, "table")
	if err != nil {
		return rep, err
	}
	if !tables["schema_migrations"] {
		rep.Problems = append(rep.Problems, "not a Serialine database: no schema_migrations table")
		return rep, nil
	}
	have := map[int]string{}
	r, err := q.Query(ctx, "SELECT version, name FROM schema_migrations ORDER BY version")
	if err != nil {
		return rep, fmt.Errorf("schema_migrations: %w", err)
	}
	for r.Next() {
		var v int
		var name string
		if err := r.Scan(&v, &name); err != nil {
			r.Close()
			return rep, fmt.Errorf("schema_migrations: %w", err)
		}
		have[v] = name
		rep.Version = max(rep.Version, v)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return rep, fmt.Errorf("schema_migrations: %w", err)
	}
	switch {
	case rep.Version == 0:
		rep.Problems = append(rep.Problems, "not a Serialine database: schema_migrations is empty")
		return rep, nil
	case rep.Version > rep.Latest:
		rep.Problems = append(rep.Problems, fmt.Sprintf("schema version %d is newer than this build's %d: use the serialine-central that wrote it", rep.Version, rep.Latest))
	case rep.Version < rep.Latest:
		rep.Notes = append(rep.Notes, fmt.Sprintf("schema version %d is older than this build's %d: serve migrates it at its next start", rep.Version, rep.Latest))
	}
	for _, m := range ms {
		if m.version > rep.Version {
			break
		}
		name, ok := have[m.version]
		switch {
		case !ok:
			rep.Problems = append(rep.Problems, fmt.Sprintf("migration %04d_%s is missing from schema_migrations", m.version, m.name))
		case name != m.name:
			rep.Problems = append(rep.Problems, fmt.Sprintf("migration %04d is %q in the database, %q in this build: not this program's schema", m.version, name, m.name))
		}
	}
	wantTables, wantTriggers := expectedSchema(ms, rep.Version)
	for _, t := range wantTables {
		if !tables[t] {
			rep.Problems = append(rep.Problems, fmt.Sprintf("table %s is missing", t))
		}
	}
	triggers, err := namesOf(ctx, d, q, "trigger")
	if err != nil {
		return rep, err
	}
	for _, t := range wantTriggers {
		if !triggers[t] {
			rep.Problems = append(rep.Problems, fmt.Sprintf("trigger %s is missing (a restore without triggers leaves the audit trail writable)", t))
		}
	}
	if rep.Integrity, err = integrity(ctx, d, q); err != nil {
		return rep, err
	}
	if rep.Integrity != "ok" && rep.Integrity != "not applicable" {
		rep.Problems = append(rep.Problems, "integrity check: "+rep.Integrity)
	}
	for _, t := range countedTables {
		if !tables[t] {
			continue
		}
		var n int64
		if err := q.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return rep, fmt.Errorf("counting %s: %w", t, err)
		}
		rep.Counts = append(rep.Counts, TableCount{Table: t, Rows: n})
	}
	return rep, nil
}

// namesOf returns the names of the tables or triggers of the database
// (PostgreSQL: of the schemas on the search path).
func namesOf(ctx context.Context, d Dialect, q Tx, kind string) (map[string]bool, error) {
	var query string
	switch {
	case d == SQLite:
		query = "SELECT name FROM sqlite_master WHERE type = '" + kind + "'"
	case kind == "table":
		query = "SELECT c.relname FROM pg_class c WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)"
	default:
		query = "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND pg_table_is_visible(c.oid)"
	}
	r, err := q.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("listing %ss: %w", kind, err)
	}
	defer r.Close()
	out := map[string]bool{}
	for r.Next() {
		var n string
		if err := r.Scan(&n); err != nil {
			return nil, fmt.Errorf("listing %ss: %w", kind, err)
		}
		out[n] = true
	}
	return out, r.Err()
}

var (
	reCreateTable   = regexp.MustCompile(`(?i)\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)`)
	reDropTable     = regexp.MustCompile(`(?i)\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\w+)`)
	reRenameTable   = regexp.MustCompile(`(?i)\bALTER\s+TABLE\s+(\w+)\s+RENAME\s+TO\s+(\w+)`)
	reCreateTrigger = regexp.MustCompile(`(?i)\bCREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)`)
	reDropTrigger   = regexp.MustCompile(`(?i)\bDROP\s+TRIGGER\s+(?:IF\s+EXISTS\s+)?(\w+)`)
	reSQLComment    = regexp.MustCompile(`--[^\n]*`)
)

// expectedSchema replays the migrations up to version by their DDL: the
// tables and triggers a database of that version has.
func expectedSchema(ms []migration, version int) (tables, triggers []string) {
	tbl, trg := map[string]bool{}, map[string]bool{}
	for _, m := range ms {
		if m.version > version {
			break
		}
		sqlText := reSQLComment.ReplaceAllString(m.sql, "")
		// Statements in order, so that a create, rename and drop of one
		// migration (0010) end where the migration ends.
		for _, stmt := range strings.Split(sqlText, ";") {
			switch {
			case reCreateTable.MatchString(stmt):
				tbl[reCreateTable.FindStringSubmatch(stmt)[1]] = true
			case reRenameTable.MatchString(stmt):
				s := reRenameTable.FindStringSubmatch(stmt)
				delete(tbl, s[1])
				tbl[s[2]] = true
			case reDropTable.MatchString(stmt):
				delete(tbl, reDropTable.FindStringSubmatch(stmt)[1])
			case reCreateTrigger.MatchString(stmt):
				trg[reCreateTrigger.FindStringSubmatch(stmt)[1]] = true
			case reDropTrigger.MatchString(stmt):
				delete(trg, reDropTrigger.FindStringSubmatch(stmt)[1])
			}
		}
	}
	for t := range tbl {
		tables = append(tables, t)
	}
	for t := range trg {
		triggers = append(triggers, t)
	}
	slices.Sort(tables)
	slices.Sort(triggers)
	return tables, triggers
}

// integrity runs SQLite's integrity_check and foreign_key_check: "ok" or
// what they found (the first 20 lines).
func integrity(ctx context.Context, d Dialect, q Tx) (string, error) {
	if d != SQLite {
		return "not applicable", nil
	}
	var found []string
	for _, pragma := range []string{"PRAGMA integrity_check", "PRAGMA foreign_key_check"} {
		r, err := q.Query(ctx, pragma)
		if err != nil {
			return "", fmt.Errorf("%s: %w", pragma, err)
		}
		cols := 1
		if strings.Contains(pragma, "foreign") {
			cols = 4 // table, rowid, parent, fkid
		}
		for r.Next() {
			vals := make([]any, cols)
			ptrs := make([]any, cols)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				r.Close()
				return "", fmt.Errorf("%s: %w", pragma, err)
			}
			line := fmt.Sprint(vals...)
			if cols == 4 {
				line = fmt.Sprintf("foreign key: table %v row %v refers to a missing %v", vals[0], vals[1], vals[2])
			}
			if line != "ok" && len(found) < 20 {
				found = append(found, line)
			}
		}
		r.Close()
		if err := r.Err(); err != nil {
			return "", fmt.Errorf("%s: %w", pragma, err)
		}
	}
	if len(found) == 0 {
		return "ok", nil
	}
	return strings.Join(found, "; "), nil
}

// BackupSQLite writes a consistent copy of the SQLite database at src to
// dst while central may be running and writing: VACUUM INTO reads one
// snapshot (a read transaction: writers go on, the WAL's committed
// transactions are in it). The copy is written 0600 under a temporary name
// beside dst, checked (Inspect), synced, and only then renamed to dst, so
// dst is either absent or a whole, checked backup. An existing dst is
// refused unless overwrite.
func BackupSQLite(ctx context.Context, src, dst string, overwrite bool) (Report, error) {
	if !overwrite {
		if _, err := os.Lstat(dst); err == nil {
			return Report{}, fmt.Errorf("output %s exists (choose a new name, or --force to replace it)", dst)
		}
	}
	srcRep, err := Inspect(ctx, "sqlite:"+src)
	if err != nil {
		return Report{}, err
	}
	if len(srcRep.Problems) > 0 {
		return srcRep, fmt.Errorf("database %s: %s", src, strings.Join(srcRep.Problems, "; "))
	}
	db, err := openExistingSQLite(src)
	if err != nil {
		return Report{}, err
	}
	defer db.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return Report{}, fmt.Errorf("output %s: %w", dst, err)
	}
	tmpName := tmp.Name()
	defer func() { _ = os.Remove(tmpName) }() // a no-op after the rename
	// CreateTemp makes it 0600; VACUUM INTO writes into the existing empty
	// file, keeping that mode (the backup holds the serial schemes' keys).
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return Report{}, fmt.Errorf("output %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return Report{}, fmt.Errorf("output %s: %w", tmpName, err)
	}
	if _, err := db.ExecContext(ctx, "VACUUM INTO $1", tmpName); err != nil {
		return Report{}, fmt.Errorf("backup of %s: %w", src, err)
	}
	rep, err := Inspect(ctx, "sqlite:"+tmpName)
	if err != nil {
		return Report{}, fmt.Errorf("checking the backup: %w", err)
	}
	if len(rep.Problems) > 0 {
		return rep, fmt.Errorf("the backup does not check: %s", strings.Join(rep.Problems, "; "))
	}
	if err := syncFile(tmpName); err != nil {
		return rep, err
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return rep, fmt.Errorf("output %s: %w", dst, err)
	}
	return rep, syncDir(filepath.Dir(dst))
}

// RestoreSQLite puts the backup src in place of the SQLite database dst.
// The backup must be a sound Serialine database (Inspect). An existing
// dst is refused unless overwrite, and refused always while a process has
// it open (ErrInUse: stop central first); the database replaced is kept
// beside it as dst.replaced-TIMESTAMP, and its -wal and -shm files are
// removed (SQLite would replay a stale WAL onto the restored file). It
// returns the restored database's report and the name the replaced one
// was kept under ("" if there was none).
func RestoreSQLite(ctx context.Context, src, dst string, overwrite bool) (Report, string, error) {
	rep, err := Inspect(ctx, "sqlite:"+src)
	if err != nil {
		return Report{}, "", fmt.Errorf("backup %s: %w", src, err)
	}
	if len(rep.Problems) > 0 {
		return rep, "", fmt.Errorf("backup %s: %s", src, strings.Join(rep.Problems, "; "))
	}
	_, statErr := os.Lstat(dst)
	exists := statErr == nil
	if exists && !overwrite {
		return rep, "", fmt.Errorf("database %s exists: restoring replaces it and every record since the backup; give --force to do that", dst)
	}
	if exists {
		if err := notInUse(ctx, dst); err != nil {
			return rep, "", err
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".restore-*")
	if err != nil {
		return rep, "", fmt.Errorf("database %s: %w", dst, err)
	}
	tmpName := tmp.Name()
	defer func() { _ = os.Remove(tmpName) }()
	in, err := os.Open(src)
	if err != nil {
		_ = tmp.Close()
		return rep, "", fmt.Errorf("backup %s: %w", src, err)
	}
	_, err = io.Copy(tmp, in)
	_ = in.Close()
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rep, "", fmt.Errorf("database %s: writing %s: %w", dst, tmpName, err)
	}
	kept := ""
	if exists {
		kept = dst + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(dst, kept); err != nil {
			return rep, "", fmt.Errorf("database %s: keeping it as %s: %w", dst, kept, err)
		}
	}
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(dst + side); err != nil && !errors.Is(err, os.ErrNotExist) {
			return rep, kept, fmt.Errorf("database %s: removing the old %s: %w", dst, dst+side, err)
		}
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return rep, kept, fmt.Errorf("database %s: %w", dst, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return rep, kept, err
	}
	return rep, kept, nil
}

// notInUse fails with ErrInUse while another connection has the file
// open: in WAL mode every open connection holds a shared lock, so the
// exclusive lock that locking_mode=EXCLUSIVE takes is refused at once. The
// probe, as the last connection, checkpoints the WAL into the file and
// removes it, so the file alone holds every committed transaction.
func notInUse(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Opaque: path}).String()+"?mode=rw&_pragma=busy_timeout(0)&_pragma=locking_mode(EXCLUSIVE)&_txlock=exclusive")
	if err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err == nil {
		var n int
		err = tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n)
		_ = tx.Rollback()
	}
	switch {
	case err == nil:
		return nil
	case isBusy(err):
		return fmt.Errorf("database %s is open in another process (stop central first): %w", path, ErrInUse)
	case strings.Contains(err.Error(), "not a database"):
		return nil // nothing SQLite could have open
	default:
		return fmt.Errorf("database %s: %w", path, err)
	}
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// syncDir makes a rename in dir durable (a no-op where directories cannot
// be synced, as on Windows).
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
