package lineevents_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

func applyOf(t *testing.T, f storetest.Fixture, line, inc string, events ...wire.Event) lineevents.ApplyResult {
	t.Helper()
	res, err := f.S.ApplyEventsOf(f.Ctx, line, inc, wire.CheckEvents(events))
	require.NoError(t, err)
	return res
}

// incEv is an event of incarnation inc: its ids are made unique per
// incarnation, as an edge that made the incarnation id with its store does.
func incEv(u *storetest.UnitSrc, line, inc string, seq uint64, i int) wire.Event {
	e := u.Ev(line, seq, wire.Commissioned, i)
	e.ID = fmt.Sprintf("%s:%s:%d", line, inc, seq)
	return e
}

func incarnationOf(t *testing.T, ls lineevents.LineSeq, inc string) lineevents.IncarnationSeq {
	t.Helper()
	for _, i := range ls.Incarnations {
		if i.Incarnation == inc {
			return i
		}
	}
	t.Fatalf("line %s has no incarnation %q: %+v", ls.Line, inc, ls.Incarnations)
	return lineevents.IncarnationSeq{}
}

// TestIncarnationReplacesLegacy is issue 15's lost disk: a line's edge
// (no incarnation: the legacy one) applied seqs 1-5 and holds 8 behind a
// gap; its data folder is lost and it comes back as a new incarnation
// whose seq restarts at 1. Nothing of the new one is taken for a replay of
// the old one; the takeover is recorded with what the old one had, shown
// in LineSeq and audited; the old incarnation's missing events still
// apply when they come; an event id of the old one reused by the new one
// is a conflict.
func TestIncarnationReplacesLegacy(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		res := storetest.Apply(t, f, storetest.Line1, u.Commission(storetest.Line1, 1, 0, 5)...)
		require.Equal(t, uint64(5), res.Acked)
		require.Empty(t, res.Incarnation)
		require.Nil(t, res.Replaced)
		res = storetest.Apply(t, f, storetest.Line1, u.Ev(storetest.Line1, 8, wire.Commissioned, 7))
		require.Equal(t, 1, res.Held)

		res = applyOf(t, f, storetest.Line1, "b2", incEv(u, storetest.Line1, "b2", 1, 20), incEv(u, storetest.Line1, "b2", 2, 21), incEv(u, storetest.Line1, "b2", 3, 22))
		require.Equal(t, "b2", res.Incarnation)
		require.Equal(t, uint64(3), res.Acked, "the new incarnation's seq starts at 1")
		require.Equal(t, 3, res.Applied)
		require.Zero(t, res.DeadLettered)
		require.NotNil(t, res.Replaced)
		require.Equal(t, "", res.Replaced.Incarnation)
		require.Equal(t, uint64(5), res.Replaced.Seq)
		require.Equal(t, 1, res.Replaced.Held)
		require.Equal(t, []lineevents.SeqGap{{From: 6, To: 7}}, res.Replaced.Gaps)
		require.False(t, res.Replaced.At.IsZero())

		ls, err := f.S.LineSeq(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, "b2", ls.Incarnation)
		require.Equal(t, uint64(3), ls.Acked)
		require.Empty(t, ls.Gaps)
		require.Len(t, ls.Incarnations, 2)
		old := incarnationOf(t, ls, "")
		require.False(t, old.Current)
		require.Equal(t, uint64(5), old.Acked)
		require.Equal(t, []uint64{8}, old.Pending, "the old one's held events stay visible")
		require.Equal(t, []lineevents.SeqGap{{From: 6, To: 7}}, old.Gaps)
		cur := incarnationOf(t, ls, "b2")
		require.True(t, cur.Current)
		require.NotNil(t, cur.FirstSeen)
		require.Equal(t, res.Replaced.Incarnation, cur.Replaced.Incarnation)
		require.Equal(t, ls.Incarnations[1].Incarnation, "b2", "oldest first")

		audits, err := f.S.Audit(f.Ctx, audit.Filter{Entity: "line_seq", EntityID: storetest.Line1})
		require.NoError(t, err)
		require.Len(t, audits, 1)
		require.Equal(t, "incarnation-replaced", audits[0].Action)
		require.JSONEq(t, `{"incarnation":"","applied_seq":5,"held":1,"gaps":"6-7"}`, string(audits[0].Before))
		require.JSONEq(t, `{"incarnation":"b2"}`, string(audits[0].After))

		// Every later ack of b2 says what it replaced, until QA resolves it.
		res = applyOf(t, f, storetest.Line1, "b2", incEv(u, storetest.Line1, "b2", 4, 23))
		require.NotNil(t, res.Replaced)
		require.Equal(t, uint64(4), res.Acked)

		// The old incarnation's missing events come after all: applied
		// in its own sequence, the held one with them; b2 stays current.
		res = storetest.Apply(t, f, storetest.Line1, u.Ev(storetest.Line1, 6, wire.Commissioned, 5), u.Ev(storetest.Line1, 7, wire.Commissioned, 6))
		require.Equal(t, uint64(8), res.Acked)
		require.Equal(t, 3, res.Applied)
		require.Nil(t, res.Replaced, "the old one replaced nothing")
		ls, err = f.S.LineSeq(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, "b2", ls.Incarnation)
		require.Equal(t, uint64(4), ls.Acked)
		require.Empty(t, incarnationOf(t, ls, "").Pending)

		// An id of the old incarnation under the new one: a conflict,
		// and its seq counts so nothing waits behind it.
		reused := u.Ev(storetest.Line1, 5, wire.Commissioned, 24)
		reused.ID = storetest.Line1 + ":2"
		res = applyOf(t, f, storetest.Line1, "b2", reused, incEv(u, storetest.Line1, "b2", 6, 25))
		require.Equal(t, uint64(6), res.Acked)
		require.Equal(t, 1, res.Applied)
		require.Len(t, res.Rejected, 1)
		require.True(t, strings.HasPrefix(res.Rejected[0].Reason, lineevents.ReasonConflict+": "), res.Rejected[0].Reason)
		require.Contains(t, res.Rejected[0].Reason, "event id L1:2 is taken by seq 2 of line L1")

		c, err := f.S.UnitCounts(f.Ctx, lineevents.UnitFilter{Order: "WO-1"})
		require.NoError(t, err)
		require.Equal(t, uint64(8+5), c.Commissioned, "every event of both incarnations")

		// Both incarnations' events are projected into EPCIS.
		evs, err := f.S.QueryEPCIS(f.Ctx, epcisdb.EPCISQuery{})
		require.NoError(t, err)
		require.Len(t, evs, 8+5)

		// QA resolves the takeover: the acks stop carrying it.
		require.ErrorIs(t, f.S.ResolveIncarnation(f.Ctx, storetest.Line1, "b2", ""), sqldb.ErrInvalid)
		require.ErrorIs(t, f.S.ResolveIncarnation(f.Ctx, storetest.Line1, "zz", "x"), sqldb.ErrNotFound)
		require.ErrorIs(t, f.S.ResolveIncarnation(f.Ctx, storetest.Line1, "", "x"), sqldb.ErrState, "the legacy one replaced nothing")
		require.NoError(t, f.S.ResolveIncarnation(f.Ctx, storetest.Line1, "b2", "old PC's last 2 packs pulled and destroyed"))
		require.ErrorIs(t, f.S.ResolveIncarnation(f.Ctx, storetest.Line1, "b2", "again"), sqldb.ErrState)
		res = applyOf(t, f, storetest.Line1, "b2", incEv(u, storetest.Line1, "b2", 7, 26))
		require.Nil(t, res.Replaced)
		ls, err = f.S.LineSeq(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		cur = incarnationOf(t, ls, "b2")
		require.NotNil(t, cur.Resolved)
		require.Equal(t, "user:test", cur.Resolved.By)
		require.NotNil(t, cur.Replaced, "what it replaced stays on record")
		audits, err = f.S.Audit(f.Ctx, audit.Filter{Entity: "line_seq", EntityID: storetest.Line1})
		require.NoError(t, err)
		require.Equal(t, "incarnation-resolved", audits[len(audits)-1].Action)
	})
}

// TestIncarnationFirstOfALine: a line's first incarnation replaces
// nothing (no alarm); a second one replaces it; a third replaces the
// second (not the first). A gap of a replaced incarnation can be skipped.
func TestIncarnationFirstOfALine(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		res := applyOf(t, f, storetest.Line1, "a1", incEv(u, storetest.Line1, "a1", 1, 0), incEv(u, storetest.Line1, "a1", 3, 2))
		require.Nil(t, res.Replaced)
		require.Equal(t, uint64(1), res.Acked)

		res = applyOf(t, f, storetest.Line1, "a2", incEv(u, storetest.Line1, "a2", 1, 10))
		require.NotNil(t, res.Replaced)
		require.Equal(t, "a1", res.Replaced.Incarnation)
		require.Equal(t, uint64(1), res.Replaced.Seq)
		require.Equal(t, 1, res.Replaced.Held)

		res = applyOf(t, f, storetest.Line1, "a3", incEv(u, storetest.Line1, "a3", 1, 20))
		require.Equal(t, "a2", res.Replaced.Incarnation)

		// SkipGap names the current one by default; SkipGapIn an earlier one.
		_, err := f.S.SkipGap(f.Ctx, storetest.Line1, 2, "x")
		require.ErrorIs(t, err, sqldb.ErrState, "a3 has no gap")
		res, err = f.S.SkipGapIn(f.Ctx, storetest.Line1, "a1", 2, "old PC scrapped")
		require.NoError(t, err)
		require.Equal(t, "a1", res.Incarnation)
		require.Equal(t, uint64(3), res.Acked)
		require.Equal(t, 1, res.Applied)
		_, err = f.S.SkipGapIn(f.Ctx, storetest.Line1, "nope", 2, "x")
		require.ErrorIs(t, err, sqldb.ErrNotFound)
		_, err = f.S.SkipGapIn(f.Ctx, storetest.Line1, "bad id!", 2, "x")
		require.ErrorIs(t, err, sqldb.ErrInvalid)
		_, err = f.S.ApplyEventsOf(f.Ctx, storetest.Line1, strings.Repeat("x", 65), wire.CheckEvents([]wire.Event{incEv(u, storetest.Line1, "x", 1, 30)}))
		require.ErrorIs(t, err, sqldb.ErrInvalid)
		ls, err := f.S.LineSeq(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, "a3", ls.Incarnation)
		require.Len(t, ls.Incarnations, 3)
	})
}

// TestIncarnationRollback: an edge whose store was rolled back (restored
// from an older copy) keeps its incarnation and numbers new events from a
// lower seq: each with an id and seq central has taken with other content
// is a conflict dead letter, not a silent duplicate, and the ack stays at
// central's seq, above the sender's last, which is how the edge sees it
// was rolled back. An identical replay is still a duplicate.
func TestIncarnationRollback(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		sent := make([]wire.Event, 10)
		for i := range sent {
			sent[i] = incEv(u, storetest.Line1, "r1", uint64(i+1), i)
		}
		res := applyOf(t, f, storetest.Line1, "r1", sent...)
		require.Equal(t, uint64(10), res.Acked)

		res = applyOf(t, f, storetest.Line1, "r1", sent[4:7]...)
		require.Equal(t, 3, res.Duplicates, "a replay of the same content")

		rolledBack := []wire.Event{incEv(u, storetest.Line1, "r1", 5, 40), incEv(u, storetest.Line1, "r1", 6, 41), incEv(u, storetest.Line1, "r1", 7, 42)}
		res = applyOf(t, f, storetest.Line1, "r1", rolledBack...)
		require.Equal(t, uint64(10), res.Acked, "above the sender's last seq (7)")
		require.Zero(t, res.Applied+res.Duplicates)
		require.Len(t, res.Rejected, 3)
		for i, r := range res.Rejected {
			require.Equal(t, uint64(5+i), r.Seq)
			require.True(t, strings.HasPrefix(r.Reason, "conflict: event id L1:r1:"), r.Reason)
			require.Contains(t, r.Reason, "was taken with other content")
		}
		dls, err := f.S.DeadLetters(f.Ctx, lineevents.DeadLetterFilter{Line: storetest.Line1})
		require.NoError(t, err)
		require.Len(t, dls, 3)
		require.Equal(t, "r1", dls[0].Incarnation)
		require.Contains(t, string(dls[0].Payload), u.Serial[40], "the dead letter keeps the new content")

		// Other content held beyond a gap is a conflict too.
		held := incEv(u, storetest.Line1, "r1", 12, 50)
		res = applyOf(t, f, storetest.Line1, "r1", held)
		require.Equal(t, 1, res.Held)
		other := incEv(u, storetest.Line1, "r1", 12, 51)
		res = applyOf(t, f, storetest.Line1, "r1", other)
		require.Len(t, res.Rejected, 1)
		require.Contains(t, res.Rejected[0].Reason, "conflict: event id L1:r1:12 (seq 12 of line L1 incarnation r1) is held with other content")
		res = applyOf(t, f, storetest.Line1, "r1", held)
		require.Equal(t, 1, res.Duplicates)
	})
}

// TestSeqBeyondMax is issue 15's stalled line: a seq above 2^63-1 (which
// the database cannot hold) is a dead letter; the rest of the batch and
// everything after it applies.
func TestSeqBeyondMax(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		huge := u.Ev(storetest.Line1, 1<<63, wire.Commissioned, 5)
		huger := u.Ev(storetest.Line1, math.MaxUint64, wire.Commissioned, 6)
		res := storetest.Apply(t, f, storetest.Line1, u.Ev(storetest.Line1, 1, wire.Commissioned, 0), huge, huger, u.Ev(storetest.Line1, 2, wire.Commissioned, 1))
		require.Equal(t, uint64(2), res.Acked)
		require.Equal(t, 2, res.Applied)
		require.Len(t, res.Rejected, 2)
		require.Contains(t, res.Rejected[0].Reason, "exceeds the largest seq (2^63-1)")
		res = storetest.Apply(t, f, storetest.Line1, u.Ev(storetest.Line1, 3, wire.Commissioned, 2))
		require.Equal(t, uint64(3), res.Acked, "the line goes on")
		dls, err := f.S.DeadLetters(f.Ctx, lineevents.DeadLetterFilter{Line: storetest.Line1})
		require.NoError(t, err)
		require.Len(t, dls, 2)
		require.Zero(t, dls[0].Seq, "the column cannot hold it")
		require.Contains(t, string(dls[0].Payload), `"seq":9223372036854775808`, "the payload has it")

		// The largest seq is a seq like any other (held behind the gap).
		res = storetest.Apply(t, f, storetest.Line1, u.Ev(storetest.Line1, wire.MaxSeq, wire.Commissioned, 9))
		require.Equal(t, 1, res.Held)
		ls, err := f.S.LineSeq(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, []uint64{wire.MaxSeq}, ls.Pending)
	})
}

// TestHeldInvalidEventUnstorableText: an invalid event held behind a gap
// may carry what the held payload's JSON column cannot store (a NUL:
// PostgreSQL's jsonb refuses \u0000); it is held all the same, and
// dead-lettered as it came when its turn comes. An invalid id with a NUL
// is a dead letter too, never a failed transaction.
func TestHeldInvalidEventUnstorableText(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		bad := u.Ev(storetest.Line1, 3, wire.Commissioned, 2)
		bad.Operator = "an\x00a"
		badID := u.Ev(storetest.Line1, 9, wire.Commissioned, 8)
		badID.ID = "L1:\x00"
		res := storetest.Apply(t, f, storetest.Line1, bad, u.Ev(storetest.Line1, 4, wire.Commissioned, 3), badID)
		require.Equal(t, 2, res.Held)
		require.Equal(t, 1, res.DeadLettered)
		res = storetest.Apply(t, f, storetest.Line1, u.Commission(storetest.Line1, 1, 0, 2)...)
		require.Equal(t, uint64(4), res.Acked)
		require.Equal(t, 3, res.Applied)
		require.Len(t, res.Rejected, 1)
		require.Contains(t, res.Rejected[0].Reason, "operator: control character")
		dls, err := f.S.DeadLetters(f.Ctx, lineevents.DeadLetterFilter{Line: storetest.Line1})
		require.NoError(t, err)
		require.Len(t, dls, 2)
		require.Equal(t, `L1:\x00`, dls[0].EventID, "kept readable")
		require.Contains(t, string(dls[1].Payload), `"operator":"an\u0000a"`, "the event as it came")
		require.Equal(t, uint64(3), dls[1].Seq)
		res = storetest.Apply(t, f, storetest.Line1, bad)
		require.Equal(t, 1, res.Duplicates, "the dead-lettered id is taken")
	})
}

// TestFutureEventTimes: an event stamped more than the skew ahead of
// central's clock is applied and flagged for QA; one within it is not.
func TestFutureEventTimes(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.Fixture{S: storetest.Open(t, dsn, testkit.Logger(t), store.WithFutureSkew(5*time.Minute)), Ctx: storetest.Context(t)}
		require.NoError(t, f.S.PutProduct(f.Ctx, storetest.Product(storetest.GTINRand, storetest.RandSpec)))
		require.NoError(t, f.S.PutLine(f.Ctx, master.Line{ID: storetest.Line1, Name: "Line 1"}))
		f.Order(t, "WO-1", storetest.GTINRand, storetest.Line1)
		u := storetest.NewUnitSrc(t, f.Grant(t, "r1", storetest.Line1, "WO-1", storetest.GTINRand, 10))
		now := time.Now().UTC()
		at := []time.Time{now.Add(4 * time.Minute), now.Add(time.Hour), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), now.Add(-time.Hour)}
		events := make([]wire.Event, len(at))
		for i, a := range at {
			events[i] = u.Ev(storetest.Line1, uint64(i+1), wire.Commissioned, i)
			events[i].At = a
		}
		res := storetest.Apply(t, f, storetest.Line1, events...)
		require.Equal(t, 4, res.Applied)
		flags, err := f.S.EventFlags(f.Ctx, lineevents.FlagFilter{Line: storetest.Line1})
		require.NoError(t, err)
		require.Len(t, flags, 2)
		require.Equal(t, []string{"L1:2", "L1:3"}, []string{flags[0].EventID, flags[1].EventID})
		for _, fl := range flags {
			require.Equal(t, lineevents.FlagFutureTime, fl.Flag)
			require.Equal(t, "WO-1", fl.Order)
			require.Contains(t, fl.Detail, "more than the allowed 5m0s")
		}
		require.True(t, flags[1].EventAt.Equal(at[2]))
	})
}

// TestDeadLetterBounds is issue 15's disk filler: a dead letter keeps at
// most MaxDeadLetterPayload bytes of a payload, with its full size and
// SHA-256.
func TestDeadLetterBounds(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		big := []byte(strings.Repeat("x", 10<<20))
		small := []byte("{not json")
		err := f.S.AddDeadLetters(f.Ctx, []lineevents.DeadLetter{
			{Topic: "serialine/v1/lines/L1/events", Line: storetest.Line1, Payload: big, Reason: "too large"},
			{Topic: "serialine/v1/lines/L1/events", Line: storetest.Line1, Payload: small, Reason: "not JSON"},
			// The broker read only the head of an oversized packet.
			{Topic: "serialine/v1/lines/L1/events", Line: storetest.Line1, Payload: []byte("head"), Size: 200 << 20, Reason: "packet too large"},
		})
		require.NoError(t, err)
		_, err = f.S.AddDeadLetter(f.Ctx, lineevents.DeadLetter{Topic: "t", Payload: []byte("abc"), Size: 2, Reason: "x"})
		require.ErrorIs(t, err, sqldb.ErrInvalid, "a size below the payload kept")

		dls, err := f.S.DeadLetters(f.Ctx, lineevents.DeadLetterFilter{Line: storetest.Line1})
		require.NoError(t, err)
		require.Len(t, dls, 3)
		sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
		require.Len(t, dls[0].Payload, lineevents.MaxDeadLetterPayload)
		require.Equal(t, int64(len(big)), dls[0].Size)
		require.Equal(t, sum(big), dls[0].SHA256)
		require.True(t, dls[0].Truncated())
		require.Equal(t, small, dls[1].Payload)
		require.Equal(t, int64(len(small)), dls[1].Size)
		require.Equal(t, sum(small), dls[1].SHA256)
		require.False(t, dls[1].Truncated())
		require.Equal(t, int64(200<<20), dls[2].Size)
		require.Empty(t, dls[2].SHA256)
		require.True(t, dls[2].Truncated())
	})
}

// TestVoidedAfterCrashFlagged: a serial the line voided because a crash
// left its fate unknown (its note says so) is flagged for QA; an ordinary
// void (a print job the printer refused) is not.
func TestVoidedAfterCrashFlagged(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f := storetest.NewFixture(t, dsn)
		f.Order(t, "WO-1", storetest.GTINRand, storetest.Line1)
		u := storetest.NewUnitSrc(t, f.Grant(t, "r1", storetest.Line1, "WO-1", storetest.GTINRand, 10))
		plain := u.Ev(storetest.Line1, 1, wire.Voided, 0)
		unclean := u.Ev(storetest.Line1, 2, wire.Voided, 1)
		unclean.Note = "unaccounted after an unclean stop"
		res := storetest.Apply(t, f, storetest.Line1, plain, unclean)
		require.Equal(t, 2, res.Applied)
		flags, err := f.S.EventFlags(f.Ctx, lineevents.FlagFilter{Order: "WO-1"})
		require.NoError(t, err)
		require.Len(t, flags, 1)
		require.Equal(t, lineevents.FlagVoidedUnclean, flags[0].Flag)
		require.Equal(t, unclean.ID, flags[0].EventID)
		require.Equal(t, "unaccounted after an unclean stop", flags[0].Detail)
	})
}
