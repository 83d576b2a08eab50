package lineevents_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

func TestDeadLetterAdd(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		id, err := s.AddDeadLetter(ctx, lineevents.DeadLetter{Topic: "serialine/v1/lines/L1/events", Line: storetest.Line1, Payload: []byte("{not json"), Reason: "payload is not valid JSON"})
		require.NoError(t, err)
		require.Positive(t, id)
		_, err = s.AddDeadLetter(ctx, lineevents.DeadLetter{Topic: "t", Reason: "empty payload"})
		require.NoError(t, err)
		dls, err := s.DeadLetters(ctx, lineevents.DeadLetterFilter{Line: storetest.Line1})
		require.NoError(t, err)
		require.Len(t, dls, 1)
		require.Equal(t, []byte("{not json"), dls[0].Payload)
		_, err = s.AddDeadLetter(ctx, lineevents.DeadLetter{Topic: "t"})
		require.ErrorIs(t, err, sqldb.ErrInvalid)
	})
}
