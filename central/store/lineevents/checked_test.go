package lineevents_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/wire"
)

// TestApplyDecodedBatch: the events of a decoded payload reach the store
// with their check's results, and each one the decoder found invalid is
// dead-lettered with the decoder's reason (an unusable seq without taking
// part in the sequence, any other in its turn, held behind a gap or not).
func TestApplyDecodedBatch(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		evs := u.Commission(storetest.Line1, 1, 0, 5)
		evs[1].GTIN = storetest.GTINRand[:13] + "0" // check digit off
		evs[2].Seq = 0                              // so seq 3 is missing: 4 and 5 wait
		evs[4].Lot = "has space"
		data, err := json.Marshal(wire.EventBatch{V: wire.Version, Line: storetest.Line1, Events: evs})
		require.NoError(t, err)
		b, checked, err := wire.DecodeCheckedBatch(data)
		var be *wire.BatchError
		require.True(t, errors.As(err, &be), "%T %v", err, err)
		require.Equal(t, []int{1, 2, 4}, be.Indexes())

		res, err := f.S.ApplyEventsOf(f.Ctx, storetest.Line1, b.Incarnation, checked)
		require.NoError(t, err)
		require.Equal(t, uint64(2), res.Acked)
		require.Equal(t, 1, res.Applied)
		require.Equal(t, 2, res.Held)
		require.Equal(t, []lineevents.Rejection{
			{EventID: evs[2].ID, Seq: 0, Reason: checked[2].Err().Error()},
			{EventID: evs[1].ID, Seq: 2, Reason: checked[1].Err().Error()},
		}, res.Rejected)

		res = storetest.Apply(t, f, storetest.Line1, u.Ev(storetest.Line1, 3, wire.Commissioned, 2))
		require.Equal(t, uint64(5), res.Acked, "the held invalid event's seq counts as done")
		require.Equal(t, 2, res.Applied)
		require.Equal(t, []lineevents.Rejection{{EventID: evs[4].ID, Seq: 5, Reason: checked[4].Err().Error()}}, res.Rejected,
			"the reason was carried through the held row")

		dls, err := f.S.DeadLetters(f.Ctx, lineevents.DeadLetterFilter{Line: storetest.Line1})
		require.NoError(t, err)
		reasons := make([]string, len(dls))
		for i, d := range dls {
			reasons[i] = d.Reason
		}
		require.ElementsMatch(t, []string{checked[1].Err().Error(), checked[2].Err().Error(), checked[4].Err().Error()}, reasons)
	})
}
