package lineevents_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

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
		f := storetest.Fixture{S: old, Ctx: ctx}
		require.NoError(t, old.PutProduct(ctx, storetest.Product(storetest.GTINRand, storetest.RandSpec)))
		require.NoError(t, old.PutLine(ctx, master.Line{ID: storetest.Line1, Name: "Line 1"}))
		f.Order(t, "WO-1", storetest.GTINRand, storetest.Line1)
		u := storetest.NewUnitSrc(t, f.Grant(t, "r1", storetest.Line1, "WO-1", storetest.GTINRand, 20))
		held, err := json.Marshal(u.Ev(storetest.Line1, 8, wire.Commissioned, 7))
		require.NoError(t, err)
		big := []byte(strings.Repeat("y", 100_000))
		storetest.RawExec(t, dsn,
			[]any{"UPDATE line_seq SET applied_seq = 5 WHERE line_id = $1", storetest.Line1},
			[]any{"INSERT INTO applied_events (event_id, line_id, seq, outcome, applied_at) VALUES ($1, $2, 3, 'applied', $3)", storetest.Line1 + ":3", storetest.Line1, storetest.T0},
			[]any{"INSERT INTO pending_events (line_id, seq, event_id, payload, received_at) VALUES ($1, 8, $2, $3, $4)", storetest.Line1, storetest.Line1 + ":8", string(held), storetest.T0},
			[]any{"INSERT INTO epcis_line_cursor (line_id, seq) VALUES ($1, 5)", storetest.Line1},
			// A history row below the cursor: projected already, never again.
			[]any{`INSERT INTO unit_history (gtin, serial, event_id, seq, type, at, line_id, details) VALUES ($1, $2, $3, 3, 'commissioned', $4, $5, '{}')`,
				storetest.GTINRand, u.Serial[2], storetest.Line1 + ":3", storetest.T0, storetest.Line1},
			[]any{"INSERT INTO dead_letters (received_at, topic, line_id, event_id, seq, payload, reason) VALUES ($1, 't', $2, '', 0, $3, 'too large')", storetest.T0, storetest.Line1, big},
		)
		old.Close()

		s := storetest.Open(t, dsn, testkit.Logger(t))
		f.S = s
		ls, err := s.LineSeq(ctx, storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, "", ls.Incarnation)
		require.Equal(t, uint64(5), ls.Acked)
		require.Equal(t, []uint64{8}, ls.Pending)
		require.Len(t, ls.Incarnations, 1)
		require.Nil(t, ls.Incarnations[0].FirstSeen, "from before incarnations")

		res := storetest.Apply(t, f, storetest.Line1, u.Ev(storetest.Line1, 3, wire.Commissioned, 2))
		require.Equal(t, 1, res.Duplicates, "an id taken before the digests is a duplicate")
		res = storetest.Apply(t, f, storetest.Line1, u.Ev(storetest.Line1, 6, wire.Commissioned, 5), u.Ev(storetest.Line1, 7, wire.Commissioned, 6))
		require.Equal(t, uint64(8), res.Acked)
		require.Equal(t, 3, res.Applied, "the held event applies")
		require.Nil(t, res.Replaced)

		evs, err := s.QueryEPCIS(ctx, epcisdb.EPCISQuery{})
		require.NoError(t, err)
		require.Len(t, evs, 3, "seqs 6-8; the cursor kept 1-5 done")

		dls, err := s.DeadLetters(ctx, lineevents.DeadLetterFilter{Line: storetest.Line1})
		require.NoError(t, err)
		require.Len(t, dls, 1)
		sum := sha256.Sum256(big)
		require.Equal(t, hex.EncodeToString(sum[:]), dls[0].SHA256)
		require.Equal(t, int64(len(big)), dls[0].Size)
		require.Equal(t, big[:lineevents.MaxDeadLetterPayload], dls[0].Payload)
	})
}
