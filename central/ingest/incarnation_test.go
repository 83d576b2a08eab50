package ingest_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/shared/wire"
)

// sendOf publishes events as a batch of incarnation inc.
func (e *edge) sendOf(tb testing.TB, inc string, events []wire.Event) {
	tb.Helper()
	b, err := json.Marshal(wire.EventBatch{V: 1, Line: e.line, Incarnation: inc, Events: events})
	require.NoError(tb, err)
	e.publish(tb, wire.KindEvents, b, false)
}

// ofIncarnation gives events ids unique to the incarnation, as an edge
// that made the incarnation with its store numbers them.
func ofIncarnation(inc string, events []wire.Event) []wire.Event {
	for i := range events {
		events[i].ID = fmt.Sprintf("%s:%s", inc, events[i].ID)
	}
	return events
}

// incarnationScenarios: issue 15's lost disk and rolled-back store, and
// the seq that stalled a line, end to end through a broker.
func incarnationScenarios(t *testing.T, c *central, newLine func(t *testing.T, n uint64) (*line, *edge)) {
	t.Run("a new incarnation has its own sequence and its acks say what it replaced", func(t *testing.T) {
		l, e := newLine(t, 100)
		e.sendEvents(t, l.events(t, 1, 5))
		a := e.awaitAck(t, 5)
		require.Empty(t, a.Incarnation, "a line that names no incarnation")
		require.Nil(t, a.Replaced)

		// The edge restarts on an empty data folder: a new incarnation,
		// whose seq starts at 1 again.
		e.sendOf(t, "b2", ofIncarnation("b2", l.events(t, 1, 3)))
		a = e.nextAck(t)
		require.Equal(t, wire.Ack{V: 1, Line: l.id, Seq: 3, Incarnation: "b2", Replaced: a.Replaced}, a)
		require.NotNil(t, a.Replaced)
		require.Equal(t, "", a.Replaced.Incarnation)
		require.Equal(t, uint64(5), a.Replaced.Seq)
		require.False(t, a.Replaced.At.IsZero())
		require.Equal(t, uint64(8), unitCount(t, c, l.order), "every event of both incarnations is applied")
		require.Empty(t, deadLetters(t, c, l.id))

		e.sendOf(t, "b2", ofIncarnation("b2", l.events(t, 4, 4)))
		a = e.nextAck(t)
		require.Equal(t, uint64(4), a.Seq)
		require.NotNil(t, a.Replaced, "every ack of b2 says it, until QA resolves it")

		require.NoError(t, c.st.ResolveIncarnation(c.ctx, l.id, "b2", "checked"))
		e.sendOf(t, "b2", ofIncarnation("b2", l.events(t, 5, 5)))
		a = e.nextAck(t)
		require.Equal(t, uint64(5), a.Seq)
		require.Nil(t, a.Replaced)

		// An edge that keeps the old id scheme after losing its store
		// sends ids central has taken: conflicts, kept as dead letters
		// (never applied as duplicates), and its seq goes on.
		reused := l.events(t, 6, 6)
		reused[0].ID = fmt.Sprintf("%s:1", l.id)
		e.sendOf(t, "b2", reused)
		require.Equal(t, uint64(6), e.nextAck(t).Seq)
		dl := deadLetters(t, c, l.id)
		require.Len(t, dl, 1)
		require.True(t, strings.HasPrefix(dl[0].Reason, lineevents.ReasonConflict+": "), dl[0].Reason)
		require.Equal(t, "b2", dl[0].Incarnation)

		ls, err := c.st.LineSeq(c.ctx, l.id)
		require.NoError(t, err)
		require.Equal(t, "b2", ls.Incarnation)
		require.Len(t, ls.Incarnations, 2)
	})

	t.Run("a rolled-back store's other content is a conflict, acked above its last seq", func(t *testing.T) {
		l, e := newLine(t, 100)
		e.sendOf(t, "r1", ofIncarnation("r1", l.events(t, 1, 10)))
		require.Equal(t, uint64(10), e.awaitAck(t, 10).Seq)

		// Restored from an older copy: it numbers new events from 6 again.
		e.sendOf(t, "r1", ofIncarnation("r1", l.events(t, 6, 7)))
		a := e.nextAck(t)
		require.Equal(t, "r1", a.Incarnation)
		require.Equal(t, uint64(10), a.Seq, "above the sender's last seq (7): the edge sees it was rolled back")
		require.Nil(t, a.Replaced)
		dl := deadLetters(t, c, l.id)
		require.Len(t, dl, 2)
		for _, d := range dl {
			require.True(t, strings.HasPrefix(d.Reason, "conflict: "), d.Reason)
			require.Contains(t, d.Reason, "was taken with other content")
		}
		require.Equal(t, uint64(10), unitCount(t, c, l.order))
	})

	t.Run("a seq above 2^63-1 is a dead letter and the line goes on", func(t *testing.T) {
		l, e := newLine(t, 100)
		evs := l.events(t, 1, 2)
		evs[1].Seq, evs[1].ID = 1<<63, l.id+":huge"
		e.sendEvents(t, evs)
		require.Equal(t, uint64(1), e.nextAck(t).Seq)
		e.sendEvents(t, l.events(t, 2, 3))
		require.Equal(t, uint64(3), e.nextAck(t).Seq, "never stalled")
		dl := deadLetters(t, c, l.id)
		require.Len(t, dl, 1)
		require.Contains(t, dl[0].Reason, "exceeds the largest seq (2^63-1)")
		require.Contains(t, string(dl[0].Payload), `"seq":9223372036854775808`)
		ls, err := c.st.LineSeq(c.ctx, l.id)
		require.NoError(t, err)
		require.Equal(t, uint64(3), ls.Acked)
		require.Empty(t, ls.Pending)
	})
}
