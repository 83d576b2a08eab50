package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// CeilingBatch is the events per transaction of CopyCeiling, as the edge
// batches them and the store's benchmarks apply them.
const CeilingBatch = 500

// CeilingRows says what CopyCeiling copies per event.
type CeilingRows int

const (
	// AppliedRows are the rows an applied commissioning event writes: its
	// units row, its unit_history row with the same details JSON, and its
	// applied_events row.
	AppliedRows CeilingRows = iota
	// UnitRowsOnly is the units row alone: a narrower reference.
	UnitRowsOnly
)

// commissioning is what the rows of one applied commissioning event are
// made of.
type commissioning struct {
	id, serial, gtin, line, order string
	seq, counter                  uint64
	at, appliedAt                 time.Time
}

// ceilingTable is a plain copy (no keys, indexes or checks) of a table
// apply writes, and the row one commissioning puts into it.
type ceilingTable struct {
	name, ddl string
	cols      []string
	row       func(c commissioning) []any
}

var ceilingTables = [...]ceilingTable{
	{
		name: "plain_units",
		ddl: `CREATE TABLE plain_units (gtin TEXT, serial TEXT, counter BIGINT, order_id TEXT, lot TEXT, expiry TEXT,
			state TEXT, reason TEXT, line_id TEXT, parent TEXT, last_event TEXT, updated_at TIMESTAMPTZ)`,
		cols: []string{"gtin", "serial", "counter", "order_id", "lot", "expiry", "state", "reason", "line_id", "parent", "last_event", "updated_at"},
		row: func(c commissioning) []any {
			return []any{c.gtin, c.serial, int64(c.counter), c.order, ceilingLot, ceilingExpiry, "commissioned", "", c.line, "", c.id, c.at}
		},
	},
	{
		name: "plain_unit_history",
		ddl: `CREATE TABLE plain_unit_history (gtin TEXT, serial TEXT, event_id TEXT, seq BIGINT, type TEXT, at TIMESTAMPTZ,
			line_id TEXT, incarnation TEXT, details JSONB)`,
		cols: []string{"gtin", "serial", "event_id", "seq", "type", "at", "line_id", "incarnation", "details"},
		row: func(c commissioning) []any {
			// The details apply keeps with a commissioning.
			details := fmt.Sprintf(`{"order":%q,"lot":%q,"expiry":%q,"counter":%d,"operator":"ana"}`, c.order, ceilingLot, ceilingExpiry, c.counter)
			return []any{c.gtin, c.serial, c.id, int64(c.seq), string(wire.Commissioned), c.at, c.line, "", details}
		},
	},
	{
		name: "plain_applied_events",
		ddl:  `CREATE TABLE plain_applied_events (event_id TEXT, line_id TEXT, incarnation TEXT, seq BIGINT, digest TEXT, outcome TEXT, applied_at TIMESTAMPTZ)`,
		cols: []string{"event_id", "line_id", "incarnation", "seq", "digest", "outcome", "applied_at"},
		row: func(c commissioning) []any {
			// The digest apply keeps: a SHA-256 in hex (of the event's content).
			digest := sha256.Sum256([]byte(c.id + c.serial))
			return []any{c.id, c.line, "", int64(c.seq), hex.EncodeToString(digest[:]), "applied", c.appliedAt}
		},
	},
}

const (
	ceilingLot    = "LOT42"
	ceilingExpiry = "271231"
)

// CopyCeiling is the ceiling of the store's apply and of central's
// ingest: a raw pgx CopyFrom of the rows of b.N batches of CeilingBatch
// commissioning events of gtin (serials made by spec) into plain tables on
// a fresh PostgreSQL database, one transaction per batch, on one
// connection. It reports events (not rows) per second. Everything else
// apply does (the line's seq lock, the probes, the checks, index upkeep)
// is what the measured path pays above it.
func CopyCeiling(b *testing.B, gtin string, spec serials.Spec, what CeilingRows) {
	tables := ceilingTables[:]
	if what == UnitRowsOnly {
		tables = tables[:1]
	}
	dsn := PostgresDSN(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(b, err)
	b.Cleanup(func() { conn.Close(context.Background()) })
	for _, t := range tables {
		_, err = conn.Exec(ctx, t.ddl)
		require.NoError(b, err)
	}
	sc, err := serials.New(spec)
	require.NoError(b, err)
	// rows[i][t] are batch i's rows of tables[t], made before the clock starts.
	rows := make([][][][]any, b.N)
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	now := time.Now().UTC().Truncate(time.Microsecond)
	var seq uint64
	for i := range rows {
		rows[i] = make([][][]any, len(tables))
		for range CeilingBatch {
			seq++
			s, err := sc.Serial(nil, seq)
			require.NoError(b, err)
			c := commissioning{id: fmt.Sprintf("B1:%d", seq), serial: string(s), gtin: gtin, line: "B1", order: "WO-B1", seq: seq, counter: seq,
				at: t0.Add(time.Duration(seq) * time.Millisecond), appliedAt: now}
			for t, tb := range tables {
				rows[i][t] = append(rows[i][t], tb.row(c))
			}
		}
	}
	b.ResetTimer()
	for _, batch := range rows {
		tx, err := conn.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for t, tb := range tables {
			n, err := tx.CopyFrom(ctx, pgx.Identifier{tb.name}, tb.cols, pgx.CopyFromRows(batch[t]))
			if err != nil || n != CeilingBatch {
				b.Fatal(tb.name, n, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*CeilingBatch)/b.Elapsed().Seconds(), "events/s")
	// Every row arrived.
	for _, t := range tables {
		var n int
		require.NoError(b, conn.QueryRow(ctx, "SELECT count(*) FROM "+t.name).Scan(&n))
		require.Equal(b, b.N*CeilingBatch, n, t.name)
	}
}
