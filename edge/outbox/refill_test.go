package outbox

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// TestMissingEventsSentAgain: the outbox keeps its newest KeepAcked
// acknowledged events; an ack naming events central lacks (a central
// restored from a backup) gets the kept ones among them published again,
// once per ack, never those above the last ack twice; what was not kept
// cannot be sent.
func TestMissingEventsSentAgain(t *testing.T) {
	line := testcentral.LineID("rf")
	central := testcentral.New(t, testcentral.Mosquitto, line, testcentral.Options{NoAck: true})
	db := testkit.OpenBolt(t, filepath.Join(t.TempDir(), "edge.db"))
	defer db.Close()
	o, sess := openLinked(t, db, testcentral.Mosquitto, Config{Line: line, BatchMax: 100, ResendAfter: 2 * time.Second, KeepAcked: 300})
	require.NoError(t, sess.Connect())
	appendN(t, o, 0, 1000)
	ctx := testkit.Context(t)
	central.WaitFor(ctx, "1000 events", func(s testcentral.Snapshot) bool { return s.Contiguous == 1000 })
	central.Ack(1000)
	require.Eventually(t, func() bool { return o.Stats().Acked == 1000 }, testcentral.Wait, time.Millisecond)
	appendN(t, o, 1000, 1) // a write trims
	kept, err := o.Events(0, 2000)
	require.NoError(t, err)
	require.Len(t, kept, 301, "the newest 300 acknowledged events stay, and the new one")
	require.Equal(t, uint64(701), kept[0].Seq)
	central.WaitFor(ctx, "1001 events", func(s testcentral.Snapshot) bool { return s.Contiguous == 1001 })
	central.Ack(1001)
	require.Eventually(t, func() bool { return o.Stats().Acked == 1001 }, testcentral.Wait, time.Millisecond)
	dupes := central.Snapshot().Dupes
	kept, err = o.Events(0, 2000)
	require.NoError(t, err)
	require.Equal(t, uint64(702), kept[0].Seq, "the newest 300 acknowledged events stay")

	// Central lacks 601..1000: 702..1000 are kept and come again; 601..701
	// are gone.
	inc := o.Incarnation()
	central.AckRaw(wire.Ack{V: wire.Version, Line: line, Seq: 600, Incarnation: inc, Missing: &wire.SeqRange{From: 601, To: 1000}})
	s := central.WaitFor(ctx, "299 events again", func(s testcentral.Snapshot) bool { return s.Dupes >= dupes+299 })
	require.Equal(t, dupes+299, s.Dupes)
	require.Equal(t, uint64(1001), o.Stats().Acked, "a lower ack moves nothing back")

	// A later ack naming 801..900 gets exactly those (once ResendAfter
	// has passed since the last time).
	central.AckRaw(wire.Ack{V: wire.Version, Line: line, Seq: 800, Incarnation: inc, Missing: &wire.SeqRange{From: 801, To: 900}})
	central.WaitFor(ctx, "100 events again", func(s testcentral.Snapshot) bool { return s.Dupes >= dupes+399 })

	// Another incarnation's ack is not ours.
	central.AckRaw(wire.Ack{V: wire.Version, Line: line, Seq: 700, Incarnation: "other", Missing: &wire.SeqRange{From: 701, To: 800}})
	appendN(t, o, 1001, 1)
	s = central.WaitFor(ctx, "the next event", func(s testcentral.Snapshot) bool { return s.Contiguous == 1002 })
	require.Equal(t, dupes+399, s.Dupes, "nothing sent again for another incarnation")
}
