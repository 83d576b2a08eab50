package outbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/edge/internal/testcentral"
	"github.com/serialine/serialine/edge/session"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// openLinked opens an outbox that publishes through a session to broker,
// wired as the agent wires them; the session is not connected yet.
func openLinked(tb testing.TB, db *bolt.DB, broker string, cfg Config) (*Outbox, *session.Session) {
	tb.Helper()
	var o *Outbox
	s, err := session.New(session.Config{Line: cfg.Line, Broker: broker, ReconnectMax: 100 * time.Millisecond},
		session.Handlers{Acks: func(a wire.Ack) { o.Ack(a) }, Connected: func() { o.Wake() }}, testkit.Logger(tb))
	require.NoError(tb, err)
	cfg.Publisher = s
	o = openOutbox(tb, db, cfg)
	tb.Cleanup(s.Close)
	return o, s
}

func openOutbox(tb testing.TB, db *bolt.DB, cfg Config) *Outbox {
	tb.Helper()
	o, err := Open(db, cfg, testkit.Logger(tb))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = o.Close() })
	return o
}

// unitEvent is a commissioned event for serial number i.
func unitEvent(i int) wire.Event {
	c := uint64(i)
	return wire.Event{Type: wire.Commissioned, At: time.Date(2026, 5, 1, 8, 0, 0, i, time.UTC), Order: "WO-1",
		GTIN: "09506000134352", Serial: fmt.Sprintf("S%d", i), Lot: "LOT42", Expiry: "271231", Counter: &c}
}

func appendN(tb testing.TB, o *Outbox, from, n int) {
	tb.Helper()
	for i := from; i < from+n; i++ {
		require.NoError(tb, o.Append(unitEvent(i)))
	}
	require.NoError(tb, o.Flush(testkit.Context(tb)))
}

func TestEventsSurviveRestart(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "edge.db")
			db := testkit.OpenBolt(t, path)
			o, err := Open(db, Config{Line: "t-ob"}, testkit.Logger(t))
			require.NoError(t, err)
			appendN(t, o, 0, 250)
			last, err := o.AppendSync(testkit.Context(t), unitEvent(250), unitEvent(251))
			require.NoError(t, err)
			require.Equal(t, uint64(252), last)
			before, err := o.Events(0, 1000)
			require.NoError(t, err)
			if clean {
				require.NoError(t, o.Close())
			}
			require.NoError(t, db.Close()) // unclean: the outbox never closed

			db = testkit.OpenBolt(t, path)
			defer db.Close()
			o = openOutbox(t, db, Config{Line: "t-ob"})
			after, err := o.Events(0, 1000)
			require.NoError(t, err)
			require.Equal(t, before, after)
			for i, e := range after {
				require.Equal(t, uint64(i+1), e.Seq)
				require.Equal(t, fmt.Sprintf("S%d", i), e.Serial)
				require.NoError(t, e.Validate())
			}
			// Seq continues; ids stay unique across runs.
			last, err = o.AppendSync(testkit.Context(t), unitEvent(252))
			require.NoError(t, err)
			require.Equal(t, uint64(253), last)
			evs, err := o.Events(252, 10)
			require.NoError(t, err)
			require.Len(t, evs, 1)
			ids := map[string]bool{}
			for _, e := range append(after, evs...) {
				require.False(t, ids[e.ID], "id %s twice", e.ID)
				ids[e.ID] = true
			}
			require.Equal(t, uint64(253), o.Stats().Pending)
		})
	}
}

func TestAppendRejectsInvalidEvents(t *testing.T) {
	db := testkit.OpenBolt(t, filepath.Join(t.TempDir(), "edge.db"))
	defer db.Close()
	o := openOutbox(t, db, Config{Line: "t-ob"})
	bad := unitEvent(1)
	bad.GTIN = "09506000134353"
	err := o.Append(bad)
	require.ErrorContains(t, err, "gtin")
	bad = unitEvent(2)
	bad.Reason = wire.ReasonNoRead
	_, err = o.AppendSync(testkit.Context(t), unitEvent(3), bad)
	require.ErrorContains(t, err, "events[1]: ")
	require.ErrorContains(t, err, "reason")
	require.NoError(t, o.Flush(testkit.Context(t)))
	require.Zero(t, o.Stats().LastSeq, "nothing of a rejected call is stored")
	require.NoError(t, o.Close())
	require.ErrorIs(t, o.Append(unitEvent(4)), ErrClosed)
}

func TestOnCommitRunsInTheCommit(t *testing.T) {
	db := testkit.OpenBolt(t, filepath.Join(t.TempDir(), "edge.db"))
	defer db.Close()
	var seen []uint64
	o := openOutbox(t, db, Config{Line: "t-ob", Hooks: []CommitHook{func(tx *bolt.Tx, evs []wire.Event) error {
		require.True(t, tx.Writable())
		for _, e := range evs {
			seen = append(seen, e.Seq)
		}
		return nil
	}}})
	appendN(t, o, 0, 3)
	require.Equal(t, []uint64{1, 2, 3}, seen)
}

// TestDeliveryAndAck runs against the project's Mosquitto: everything
// arrives once, in order, and the outbox deletes exactly what was acked.
func TestDeliveryAndAck(t *testing.T) {
	line := testcentral.LineID("ob")
	central := testcentral.New(t, testcentral.Mosquitto, line, testcentral.Options{NoAck: true})
	db := testkit.OpenBolt(t, filepath.Join(t.TempDir(), "edge.db"))
	defer db.Close()
	o, sess := openLinked(t, db, testcentral.Mosquitto, Config{Line: line, BatchMax: 100, ResendAfter: time.Minute})
	require.NoError(t, sess.Connect())
	appendN(t, o, 0, 1234)
	ctx := testkit.Context(t)
	s := central.WaitFor(ctx, "1234 events", func(s testcentral.Snapshot) bool { return s.Contiguous == 1234 })
	for i, e := range s.Events {
		require.Equal(t, uint64(i+1), e.Seq)
		require.Equal(t, fmt.Sprintf("S%d", i), e.Serial)
	}
	require.GreaterOrEqual(t, s.Batches, 13, "batches of at most 100")
	require.Equal(t, uint64(1234), o.Stats().Pending, "nothing deleted before an ack")

	central.Ack(500)
	require.Eventually(t, func() bool { return o.Stats().Acked == 500 }, testcentral.Wait, time.Millisecond)
	left, err := o.Events(0, 2000)
	require.NoError(t, err)
	require.Len(t, left, 734)
	require.Equal(t, uint64(501), left[0].Seq)
	require.Equal(t, uint64(734), o.Stats().Pending)

	// An older ack changes nothing; an ack without an incarnation (an older
	// central) beyond what was sent is capped. (One of this incarnation
	// beyond it means a rolled-back store: TestRolledBackStore.)
	central.Ack(100)
	central.AckRaw(wire.Ack{V: wire.Version, Line: line, Seq: 99999})
	require.Eventually(t, func() bool { return o.Stats().Acked == 1234 }, testcentral.Wait, time.Millisecond)
	left, err = o.Events(0, 2000)
	require.NoError(t, err)
	require.Empty(t, left)
	last, err := o.AppendSync(ctx, unitEvent(1234))
	require.NoError(t, err)
	require.Equal(t, uint64(1235), last, "seq goes on after a full trim")
}

// TestWindowBoundsWhatIsInFlight: with central not acking, no more than
// Window events go out; each ack lets the next ones go.
func TestWindowBoundsWhatIsInFlight(t *testing.T) {
	line := testcentral.LineID("ob")
	central := testcentral.New(t, testcentral.Mosquitto, line, testcentral.Options{NoAck: true})
	db := testkit.OpenBolt(t, filepath.Join(t.TempDir(), "edge.db"))
	defer db.Close()
	o, sess := openLinked(t, db, testcentral.Mosquitto, Config{Line: line, BatchMax: 40, Window: 100, ResendAfter: time.Hour})
	require.NoError(t, sess.Connect())
	appendN(t, o, 0, 1000)
	ctx := testkit.Context(t)
	central.WaitFor(ctx, "the first window", func(s testcentral.Snapshot) bool { return s.Contiguous == 100 })
	// Published counts a batch once the broker acknowledged it, which may
	// come after central already has it.
	require.Eventually(t, func() bool { st := o.Stats(); return st.WindowFull > 0 && st.Published == 100 }, testcentral.Wait, time.Millisecond)
	require.Len(t, central.Snapshot().Events, 100)

	central.Ack(60)
	central.WaitFor(ctx, "the window to slide", func(s testcentral.Snapshot) bool { return s.Contiguous == 160 })
	require.Eventually(t, func() bool { st := o.Stats(); return st.WindowFull > 1 && st.Published == 160 }, testcentral.Wait, time.Millisecond)
	require.Len(t, central.Snapshot().Events, 160, "no more than the window went out")

	// Acking as it goes drains the rest.
	for s := central.Snapshot(); s.Contiguous < 1000; s = central.WaitFor(ctx, "more", func(n testcentral.Snapshot) bool { return n.Contiguous > s.Contiguous }) {
		central.Ack(s.Contiguous)
	}
	central.Ack(1000)
	require.Eventually(t, func() bool { return o.Stats().Pending == 0 }, testcentral.Wait, time.Millisecond)
}

// TestResumesAfterBrokerRestart stops an embedded broker while events are
// being appended and starts it again on the same port.
func TestResumesAfterBrokerRestart(t *testing.T) {
	broker := testcentral.StartBroker(t, "127.0.0.1:0")
	line := testcentral.LineID("ob")
	central := testcentral.New(t, broker.URL(), line, testcentral.Options{})
	db := testkit.OpenBolt(t, filepath.Join(t.TempDir(), "edge.db"))
	defer db.Close()
	o, sess := openLinked(t, db, broker.URL(), Config{Line: line, ResendAfter: 2 * time.Second})
	require.NoError(t, sess.Connect())
	require.Eventually(t, func() bool { return o.Stats().Connected }, testcentral.Wait, time.Millisecond)
	ctx := testkit.Context(t)
	appendN(t, o, 0, 300)
	central.WaitFor(ctx, "300 events", func(s testcentral.Snapshot) bool { return s.Contiguous == 300 })
	require.Eventually(t, func() bool { return o.Stats().Pending == 0 }, testcentral.Wait, time.Millisecond)

	addr := broker.Addr
	broker.Stop()
	require.Eventually(t, func() bool { return !o.Stats().Connected }, testcentral.Wait, time.Millisecond)
	appendN(t, o, 300, 300) // the line goes on while the broker is away
	require.Equal(t, uint64(300), o.Stats().Pending)

	testcentral.StartBroker(t, addr)
	s := central.WaitFor(ctx, "600 events after the restart", func(s testcentral.Snapshot) bool { return s.Contiguous == 600 })
	require.Len(t, s.Events, 600)
	require.Eventually(t, func() bool { return o.Stats().Pending == 0 }, testcentral.Wait, time.Millisecond)
	require.GreaterOrEqual(t, sess.Stats().Connects, uint64(2))
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"line", Config{Line: "a+b"}, "outbox: line:"},
		{"batch", Config{Line: "L", BatchMax: 20000}, "batch_max"},
		{"window", Config{Line: "L", BatchMax: 100, Window: 50}, "window: must be at least batch_max"},
		{"linger", Config{Line: "L", Linger: -1}, "linger"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, tc.cfg.Validate(), tc.msg)
		})
	}
}

// incarnations records what OnIncarnation was told.
type incarnations struct {
	mu  sync.Mutex
	got []Incarnation
}

func (r *incarnations) add(i Incarnation) {
	r.mu.Lock()
	r.got = append(r.got, i)
	r.mu.Unlock()
}

func (r *incarnations) list() []Incarnation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Incarnation(nil), r.got...)
}

// TestIncarnationNamesTheBatches: every batch names the store's
// incarnation; an ack of another incarnation deletes nothing, one of ours
// does; a new data file is a new incarnation.
func TestIncarnationNamesTheBatches(t *testing.T) {
	line := testcentral.LineID("inc")
	central := testcentral.New(t, testcentral.Mosquitto, line, testcentral.Options{NoAck: true})
	db := testkit.OpenBolt(t, filepath.Join(t.TempDir(), "edge.db"))
	defer db.Close()
	o, sess := openLinked(t, db, testcentral.Mosquitto, Config{Line: line, ResendAfter: time.Minute})
	require.NoError(t, sess.Connect())
	inc := o.Incarnation()
	require.Regexp(t, `^[0-9a-f]{12}$`, inc)
	appendN(t, o, 0, 20)
	ctx := testkit.Context(t)
	s := central.WaitFor(ctx, "20 events", func(s testcentral.Snapshot) bool { return s.Contiguous == 20 })
	require.Equal(t, inc, s.Incarnation)
	require.Equal(t, line+":"+inc+":1", s.Events[0].ID)

	central.AckRaw(wire.Ack{V: wire.Version, Line: line, Seq: 15, Incarnation: "0123456789ab"})
	central.Ack(10)
	require.Eventually(t, func() bool { return o.Stats().Acked == 10 }, testcentral.Wait, time.Millisecond)
	require.Equal(t, uint64(10), o.Stats().Pending, "the other incarnation's ack deleted nothing")

	other := openOutbox(t, testkit.OpenBolt(t, filepath.Join(t.TempDir(), "edge.db")), Config{Line: "t-ob"})
	require.NotEqual(t, inc, other.Incarnation(), "a new store is a new incarnation")
}

// TestReplacedIsToldOnce: central's acks of a new incarnation say which one
// it replaced; the line is told once, also across restarts.
func TestReplacedIsToldOnce(t *testing.T) {
	line := testcentral.LineID("inc")
	central := testcentral.New(t, testcentral.Mosquitto, line, testcentral.Options{NoAck: true})
	path := filepath.Join(t.TempDir(), "edge.db")
	var told incarnations
	cfg := Config{Line: line, OnIncarnation: told.add}
	db := testkit.OpenBolt(t, path)
	o, sess := openLinked(t, db, testcentral.Mosquitto, cfg)
	require.NoError(t, sess.Connect())
	inc := o.Incarnation()
	appendN(t, o, 0, 5)
	ctx := testkit.Context(t)
	central.WaitFor(ctx, "5 events", func(s testcentral.Snapshot) bool { return s.Contiguous == 5 })
	replaced := &wire.Replaced{Incarnation: "0123456789ab", Seq: 4591}
	for seq := uint64(3); seq <= 5; seq++ {
		central.AckRaw(wire.Ack{V: wire.Version, Line: line, Seq: seq, Incarnation: inc, Replaced: replaced})
	}
	require.Eventually(t, func() bool { return o.Stats().Acked == 5 }, testcentral.Wait, time.Millisecond)
	require.Equal(t, []Incarnation{{Kind: IncarnationReplaced, Current: inc, Previous: "0123456789ab", PreviousSeq: 4591}}, told.list())
	sess.Close()
	require.NoError(t, o.Close())
	require.NoError(t, db.Close())

	db = testkit.OpenBolt(t, path)
	defer db.Close()
	o, sess = openLinked(t, db, testcentral.Mosquitto, cfg)
	require.NoError(t, sess.Connect())
	appendN(t, o, 5, 1)
	central.WaitFor(ctx, "the sixth", func(s testcentral.Snapshot) bool { return s.Contiguous == 6 })
	central.AckRaw(wire.Ack{V: wire.Version, Line: line, Seq: 6, Incarnation: inc, Replaced: replaced})
	require.Eventually(t, func() bool { return o.Stats().Acked == 6 }, testcentral.Wait, time.Millisecond)
	require.Len(t, told.list(), 1, "told once across the restart")
}

// TestRolledBackStore: the store is rolled back (a copy of an older
// edge.db); central acks more of the incarnation than the store has. The
// store starts a new incarnation with every unacknowledged event, numbered
// from 1, and the line is told; nothing is deleted on the strength of
// central's ack of events the store never had.
func TestRolledBackStore(t *testing.T) {
	line := testcentral.LineID("inc")
	central := testcentral.New(t, testcentral.Mosquitto, line, testcentral.Options{NoAck: true})
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.db")
	db := testkit.OpenBolt(t, path)
	o, err := Open(db, Config{Line: line}, testkit.Logger(t))
	require.NoError(t, err)
	appendN(t, o, 0, 10)
	require.NoError(t, o.Close())
	require.NoError(t, db.Close())
	snapshot, err := os.ReadFile(path)
	require.NoError(t, err)

	// The store goes on to 30 events, which central applies and acks.
	var told incarnations
	cfg := Config{Line: line, ResendAfter: time.Minute, OnIncarnation: told.add}
	db = testkit.OpenBolt(t, path)
	o, sess := openLinked(t, db, testcentral.Mosquitto, cfg)
	require.NoError(t, sess.Connect())
	old := o.Incarnation()
	appendN(t, o, 10, 20)
	ctx := testkit.Context(t)
	central.WaitFor(ctx, "30 events", func(s testcentral.Snapshot) bool { return s.Contiguous == 30 })
	sess.Close()
	require.NoError(t, o.Close())
	require.NoError(t, db.Close())

	// Rolled back to the copy with 10, which makes 3 new events.
	require.NoError(t, os.WriteFile(path, snapshot, 0o600))
	db = testkit.OpenBolt(t, path)
	defer db.Close()
	o, sess = openLinked(t, db, testcentral.Mosquitto, cfg)
	require.Equal(t, old, o.Incarnation())
	appendN(t, o, 100, 3)
	require.NoError(t, sess.Connect())
	central.WaitFor(ctx, "the resend", func(s testcentral.Snapshot) bool { return s.Dupes >= 10 })
	central.Ack(30)
	require.Eventually(t, func() bool { return len(told.list()) == 1 }, testcentral.Wait, time.Millisecond)
	got := told.list()[0]
	require.Equal(t, IncarnationRolledBack, got.Kind)
	require.Equal(t, old, got.Previous)
	require.Equal(t, uint64(30), got.PreviousSeq)
	require.Equal(t, uint64(13), got.LocalSeq)
	require.Equal(t, uint64(13), got.Renumbered, "every unacknowledged event moves")
	require.NotEqual(t, old, o.Incarnation())
	require.Equal(t, o.Incarnation(), got.Current)

	s := central.WaitFor(ctx, "the new incarnation's events", func(s testcentral.Snapshot) bool {
		return s.Incarnation == got.Current && s.Contiguous == 13
	})
	n := len(s.Events)
	require.Equal(t, "S102", s.Events[n-1].Serial, "the rolled-back store's own events go on in the new incarnation")
	require.Equal(t, line+":"+got.Current+":13", s.Events[n-1].ID)
	require.Equal(t, uint64(13), o.Stats().Pending, "nothing deleted on the old incarnation's ack")
	central.Ack(13)
	require.Eventually(t, func() bool { return o.Stats().Pending == 0 }, testcentral.Wait, time.Millisecond)
}

// TestCommitErrorIsToldAtOnce: a failing commit is reported with its
// events at its first failure, retried, and reported cleared when a commit
// succeeds again; nothing is dropped.
func TestCommitErrorIsToldAtOnce(t *testing.T) {
	var fail atomic.Int32
	fail.Store(3)
	type report struct {
		err error
		n   int
	}
	reports := make(chan report, 10)
	db := testkit.OpenBolt(t, filepath.Join(t.TempDir(), "edge.db"))
	defer db.Close()
	o := openOutbox(t, db, Config{Line: "t-ob",
		Hooks: []CommitHook{func(*bolt.Tx, []wire.Event) error {
			if fail.Add(-1) >= 0 {
				return errors.New("no space left on device")
			}
			return nil
		}},
		OnCommitError: func(err error, evs []wire.Event) { reports <- report{err, len(evs)} }})
	require.NoError(t, o.Append(unitEvent(1)))
	r := <-reports
	require.ErrorContains(t, r.err, "no space left")
	require.Equal(t, 1, r.n)
	require.NoError(t, o.Flush(testkit.Context(t)))
	r = <-reports
	require.NoError(t, r.err, "cleared once a commit succeeds")
	require.Empty(t, reports, "told once per spell")
	evs, err := o.Events(0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1, "nothing dropped")
}
