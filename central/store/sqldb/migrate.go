package sqldb

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema version: NNNN_name.sql for both dialects, or
// NNNN_name.postgres.sql and NNNN_name.sqlite.sql where they differ.
type migration struct {
	version int
	name    string
	sql     string
}

// migrateLockKey is the PostgreSQL advisory lock that serialises Opens.
const migrateLockKey = 0x5e71a1e0 // "serialine"

// typeTokens maps the type tokens of the shared migration files to each
// dialect's types.
var typeTokens = map[Dialect]*strings.Replacer{
	Postgres: strings.NewReplacer(
		"{{id}}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
		"{{ts}}", "TIMESTAMPTZ",
		"{{json}}", "JSONB",
		"{{bytes}}", "BYTEA",
	),
	SQLite: strings.NewReplacer(
		"{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{{ts}}", "TIMESTAMP",
		"{{json}}", "TEXT",
		"{{bytes}}", "BLOB",
	),
}

// migrations returns the dialect's migrations in version order.
func migrations(d Dialect) ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	byVersion := map[int]migration{}
	for _, e := range entries {
		base := strings.TrimSuffix(e.Name(), ".sql")
		name := base
		if stem, dial, ok := strings.Cut(base, "."); ok {
			if dial != d.String() {
				continue
			}
			name = stem
		}
		num, rest, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration file %s: name must be NNNN_name[.dialect].sql", e.Name())
		}
		if prev, dup := byVersion[v]; dup {
			return nil, fmt.Errorf("store: migration %d: both %s and %s", v, prev.name, rest)
		}
		body, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		byVersion[v] = migration{version: v, name: rest, sql: typeTokens[d].Replace(string(body))}
	}
	out := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migrations: version %d is missing for %s", i+1, d)
		}
	}
	return out, nil
}

// migrate applies the migrations the database lacks, in one transaction
// that first takes the migration lock, so that concurrent Opens migrate
// once and a failed migration leaves nothing behind.
func (db *DB) migrate(ctx context.Context, upTo int, hooks map[string]Hook) error {
	ms, err := migrations(db.d)
	if err != nil {
		return err
	}
	if upTo > 0 && upTo < len(ms) {
		ms = ms[:upTo]
	}
	var applied []int
	var bytewise []string
	err = db.Write(ctx, func(tx Tx) error {
		if db.d == Postgres {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLockKey)); err != nil {
				return fmt.Errorf("store: migration lock: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at `+typeTokens[db.d].Replace("{{ts}}")+` NOT NULL)`); err != nil {
			return fmt.Errorf("store: schema_migrations: %w", err)
		}
		have := map[int]bool{}
		r, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return fmt.Errorf("store: schema_migrations: %w", err)
		}
		for r.Next() {
			var v int
			if err := r.Scan(&v); err != nil {
				r.Close()
				return err
			}
			have[v] = true
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		for v := range have {
			if v > len(ms) {
				return fmt.Errorf("store: the database is at schema version %d, newer than this build's %d: upgrade serialine-central", v, len(ms))
			}
		}
		for _, m := range ms {
			if have[m.version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("store: migration %04d_%s: %w", m.version, m.name, err)
			}
			if hook := hooks[m.name]; hook != nil {
				if err := hook(ctx, tx); err != nil {
					return fmt.Errorf("store: migration %04d_%s: %w", m.version, m.name, err)
				}
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", m.version, m.name, Now()); err != nil {
				return fmt.Errorf("store: migration %04d_%s: %w", m.version, m.name, err)
			}
			applied = append(applied, m.version)
		}
		if db.d == Postgres {
			bytewise, err = bytewiseText(ctx, tx)
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		db.log.Info("schema migrated", "versions", applied)
	}
	if len(bytewise) > 0 {
		db.log.Info("text columns made bytewise (COLLATE \"C\")", "tables", bytewise)
	}
	return nil
}

// bytewiseText gives every TEXT column of the schema's tables on
// PostgreSQL the "C" collation, so that keys compare bytewise, and returns
// the tables it changed. It runs at every Open, after the migrations, so
// that new tables and columns follow without their migrations saying so.
//
// Why: the keys are GTINs, GS1 serials (CSET 82), SSCCs, ids and
// enumerations, all ASCII, which a database's UTF-8 collation (C.UTF-8,
// en_US.UTF-8, ...) orders no differently but compares through the locale
// (strcoll) at every B-tree step: on ingest into PostgreSQL 15 that was
// about a tenth of the server's CPU (perf), and ingest gained about 4 %
// without it. Every TEXT column gets it, not only the hot keys, because an
// index serves only comparisons in its own collation: a units.order_id in
// "C" joined to a work_orders.id in the default collation would not use
// work_orders' key. (SQLite compares TEXT bytewise already.)
func bytewiseText(ctx context.Context, tx Tx) ([]string, error) {
	r, err := tx.Query(ctx, `SELECT c.relname,
			format('ALTER TABLE %I ', c.relname) ||
			string_agg(format('ALTER COLUMN %I TYPE TEXT COLLATE "C"', a.attname), ', ' ORDER BY a.attnum)
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
			AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'text'::regtype
			AND a.attcollation <> (SELECT oid FROM pg_collation WHERE collname = 'C' AND collnamespace = 'pg_catalog'::regnamespace)
		GROUP BY c.relname ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("store: bytewise text: %w", err)
	}
	var tables, alters []string
	for r.Next() {
		var table, alter string
		if err := r.Scan(&table, &alter); err != nil {
			r.Close()
			return nil, err
		}
		tables, alters = append(tables, table), append(alters, alter)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("store: bytewise text: %w", err)
	}
	for i, alter := range alters {
		if _, err := tx.Exec(ctx, alter); err != nil {
			return nil, fmt.Errorf("store: bytewise text of table %s: %w", tables[i], err)
		}
	}
	return tables, nil
}

// SchemaVersion returns the highest migration applied.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.Read(ctx, func(q Tx) error {
		return q.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v)
	})
	return v, err
}

// MigrationVersion returns the version of the migration named name (its
// number may change when branches merge; its name does not).
func MigrationVersion(name string) (int, error) {
	ms, err := migrations(SQLite)
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		if m.name == name {
			return m.version, nil
		}
	}
	return 0, fmt.Errorf("no migration named %q", name)
}
