package wire_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/wire"
)

// TestDecodeCheckedBatch: the decoder hands each event over with its own
// check's result, the one its *BatchError reason is made of; repeats are
// batch rules and stay out of the events' results.
func TestDecodeCheckedBatch(t *testing.T) {
	b := validBatch(t, 4)
	b.Events[1].GTIN = badGTIN
	b.Events[2].Seq = 0
	b.Events[3].ID = b.Events[0].ID // repeats an id
	data, err := json.Marshal(b)
	require.NoError(t, err)

	got, checked, err := wire.DecodeCheckedBatch(data)
	var be *wire.BatchError
	require.True(t, errors.As(err, &be), "%T %v", err, err)
	require.Equal(t, b, got)
	require.Len(t, checked, 4)
	for i, c := range checked {
		require.Equal(t, b.Events[i], c.Event())
	}
	require.NoError(t, checked[0].Err())
	require.NoError(t, checked[3].Err(), "an id repeated in the batch is not the event's own fault")
	require.Equal(t, []int{1, 2, 3}, be.Indexes())
	for _, i := range []int{1, 2} {
		var fe *wire.FieldError
		require.True(t, errors.As(checked[i].Err(), &fe), "%T", checked[i].Err())
		require.Equal(t, "events["+itoa(uint64(i))+"]."+checked[i].Err().Error(), be.Invalid[i].Error())
	}
	require.ErrorContains(t, checked[1].Err(), "gtin: AI (01)")
	require.ErrorContains(t, checked[2].Err(), "seq: must be at least 1")

	_, checked, err = wire.DecodeCheckedBatch([]byte(`{"v":1,"line":"L1","events":[]}`))
	require.ErrorContains(t, err, "events: empty")
	require.Nil(t, checked, "no events when the envelope is refused")
}

func TestCheckEvent(t *testing.T) {
	e := validEvent(t, wire.Commissioned, 1)
	c := wire.CheckEvent(e)
	require.NoError(t, c.Err())
	ev := c.Event()
	ev.GTIN = badGTIN
	require.NoError(t, c.Err(), "the event handed out is a copy")
	require.Equal(t, testGTIN, c.Event().GTIN)

	cs := wire.CheckEvents([]wire.Event{e, ev})
	require.NoError(t, cs[0].Err())
	require.ErrorContains(t, cs[1].Err(), "gtin: AI (01)")

	require.ErrorContains(t, wire.CheckedEvent{}.Err(), "never checked", "a CheckedEvent made outside the package is not valid")
}
