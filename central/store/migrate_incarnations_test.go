package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// rawExec runs statements on the database at dsn directly, as an older
// build would have written it.
func rawExec(t *testing.T, dsn string, stmts ...[]any) {
	t.Helper()
	ctx := storetest.Context(t)
	if strings.HasPrefix(dsn, "sqlite:") {
		db := openRawSQLite(t, dsn)
		for _, s := range stmts {
			_, err := db.ExecContext(ctx, s[0].(string), s[1:]...)
			require.NoError(t, err, s[0])
		}
		return
	}
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	for _, s := range stmts {
		_, err := conn.Exec(ctx, s[0].(string), s[1:]...)
		require.NoError(t, err, s[0])
	}
}

// TestMigrateToIncarnations: a database an older build left (a line at
// seq 5 with an event held behind a gap, its EPCIS cursor, a dead letter
// of 100 KB) is migrated without losing anything: the line's state becomes
// its legacy incarnation's and its edge goes on as before; the dead letter
// is cut with its size and hash kept.
func TestMigrateToIncarnations(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		v, err := sqldb.MigrationVersion("incarnations")
		require.NoError(t, err)
		ctx := storetest.Context(t)
		old, err := store.Open(ctx, dsn, testkit.Logger(t), store.WithDB(sqldb.WithMigrationsUpTo(v-1)))
		require.NoError(t, err)
		f := fixture{s: old, ctx: ctx}
		require.NoError(t, old.PutProduct(ctx, product(gtinRand, randSpec)))
		require.NoError(t, old.PutLine(ctx, master.Line{ID: line1, Name: "Line 1"}))
		f.order(t, "WO-1", gtinRand, line1)
		u := newUnitSrc(t, f.grant(t, "r1", line1, "WO-1", gtinRand, 20))
		held, err := json.Marshal(u.ev(line1, 8, wire.Commissioned, 7))
		require.NoError(t, err)
		big := []byte(strings.Repeat("y", 100_000))
		rawExec(t, dsn,
			[]any{"UPDATE line_seq SET applied_seq = 5 WHERE line_id = $1", line1},
			[]any{"INSERT INTO applied_events (event_id, line_id, seq, outcome, applied_at) VALUES ($1, $2, 3, 'applied', $3)", line1 + ":3", line1, t0},
			[]any{"INSERT INTO pending_events (line_id, seq, event_id, payload, received_at) VALUES ($1, 8, $2, $3, $4)", line1, line1 + ":8", string(held), t0},
			[]any{"INSERT INTO epcis_line_cursor (line_id, seq) VALUES ($1, 5)", line1},
			// A history row below the cursor: projected already, never again.
			[]any{`INSERT INTO unit_history (gtin, serial, event_id, seq, type, at, line_id, details) VALUES ($1, $2, $3, 3, 'commissioned', $4, $5, '{}')`,
				gtinRand, u.serial[2], line1 + ":3", t0, line1},
			[]any{"INSERT INTO dead_letters (received_at, topic, line_id, event_id, seq, payload, reason) VALUES ($1, 't', $2, '', 0, $3, 'too large')", t0, line1, big},
		)
		old.Close()

		s := open(t, dsn)
		f.s = s
		ls, err := s.LineSeq(ctx, line1)
		require.NoError(t, err)
		require.Equal(t, "", ls.Incarnation)
		require.Equal(t, uint64(5), ls.Acked)
		require.Equal(t, []uint64{8}, ls.Pending)
		require.Len(t, ls.Incarnations, 1)
		require.Nil(t, ls.Incarnations[0].FirstSeen, "from before incarnations")

		res := apply(t, f, line1, u.ev(line1, 3, wire.Commissioned, 2))
		require.Equal(t, 1, res.Duplicates, "an id taken before the digests is a duplicate")
		res = apply(t, f, line1, u.ev(line1, 6, wire.Commissioned, 5), u.ev(line1, 7, wire.Commissioned, 6))
		require.Equal(t, uint64(8), res.Acked)
		require.Equal(t, 3, res.Applied, "the held event applies")
		require.Nil(t, res.Replaced)

		evs, err := s.QueryEPCIS(ctx, epcisdb.EPCISQuery{})
		require.NoError(t, err)
		require.Len(t, evs, 3, "seqs 6-8; the cursor kept 1-5 done")

		dls, err := s.DeadLetters(ctx, lineevents.DeadLetterFilter{Line: line1})
		require.NoError(t, err)
		require.Len(t, dls, 1)
		sum := sha256.Sum256(big)
		require.Equal(t, hex.EncodeToString(sum[:]), dls[0].SHA256)
		require.Equal(t, int64(len(big)), dls[0].Size)
		require.Equal(t, big[:lineevents.MaxDeadLetterPayload], dls[0].Payload)
	})
}
