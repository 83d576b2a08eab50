package epcisdb_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
)

func shipEvent(i int) epcis.Event {
	return epcis.Event{Type: epcis.ObjectEvent, Action: epcis.ActionObserve, EventTime: storetest.T0.Add(time.Duration(i) * time.Second),
		EventTimeZoneOffset: "+00:00", EPCList: []string{fmt.Sprintf("urn:epc:id:sgtin:0614141.107346.%d", 1000+i)},
		BizStep: "shipping", Disposition: "in_transit", ReadPoint: "urn:epc:id:sgln:0614141.07346.1234"}
}

// TestEPCISEventIDs: an event without eventID is stored under its hash ID,
// one with an eventID under that; both are found by EQ_eventID and by
// EPCISEvent, and a resend under either ID is a duplicate.
func TestEPCISEventIDs(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		a, b := shipEvent(1), shipEvent(2)
		b.EventID = "urn:uuid:6a1d2c1e-1b7e-4e0a-9a4e-0f3e8f7d1c2b"
		res, err := s.CaptureEPCIS(ctx, []epcis.Event{a, b}, nil)
		require.NoError(t, err)
		require.Equal(t, 2, res.Stored)
		ha, err := epcis.HashID(a)
		require.NoError(t, err)
		require.Equal(t, []string{ha, b.EventID}, res.EventIDs)

		got, err := s.QueryEPCIS(ctx, epcisdb.EPCISQuery{EventIDs: []string{ha, b.EventID}})
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, ha, got[0].EventID)
		require.Equal(t, b.EventID, got[1].EventID)
		again, err := epcis.HashID(got[0])
		require.NoError(t, err)
		require.Equal(t, ha, again, "the stored event hashes to its ID")

		one, err := s.EPCISEvent(ctx, b.EventID)
		require.NoError(t, err)
		require.Equal(t, b.EPCList, one.EPCList)
		_, err = s.EPCISEvent(ctx, "urn:uuid:00000000-0000-0000-0000-000000000000")
		require.ErrorIs(t, err, sqldb.ErrNotFound)

		// The same content under another eventID, the same eventID with other
		// content: both duplicates.
		c := a
		c.EventID = "urn:uuid:11111111-1b7e-4e0a-9a4e-0f3e8f7d1c2b"
		d := shipEvent(3)
		d.EventID = b.EventID
		res, err = s.CaptureEPCIS(ctx, []epcis.Event{c, d}, nil)
		require.NoError(t, err)
		require.Equal(t, 0, res.Stored)
		require.Equal(t, 2, res.Duplicates)
	})
}

// TestEPCISErrorDeclaration: an event captured again with an
// errorDeclaration marks the stored event (found by EQ_errorReason and
// EXISTS_errorDeclaration, carrying the corrective event IDs) instead of
// adding one; with or without the eventID.
func TestEPCISErrorDeclaration(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		a, b, fix := shipEvent(1), shipEvent(2), shipEvent(3)
		b.EventID = "urn:uuid:6a1d2c1e-1b7e-4e0a-9a4e-0f3e8f7d1c2b"
		fix.EventID = "urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"
		_, err := s.CaptureEPCIS(ctx, []epcis.Event{a, b}, nil)
		require.NoError(t, err)
		declared, err := s.QueryEPCIS(ctx, epcisdb.EPCISQuery{ErrorDeclared: true})
		require.NoError(t, err)
		require.Empty(t, declared)

		decl := &epcis.ErrorDeclaration{DeclarationTime: storetest.T0.Add(time.Hour), Reason: "urn:epcglobal:cbv:er:incorrect_data",
			CorrectiveEventIDs: []string{fix.EventID}}
		ea, eb := a, b
		ea.ErrorDeclaration, eb.ErrorDeclaration = decl, &epcis.ErrorDeclaration{DeclarationTime: storetest.T0.Add(2 * time.Hour), Reason: "did_not_occur"}
		res, err := s.CaptureEPCIS(ctx, []epcis.Event{ea, eb, fix}, nil)
		require.NoError(t, err)
		require.Equal(t, 2, res.Declared)
		require.Equal(t, 1, res.Stored, "only the corrective event is new")

		all, err := s.QueryEPCIS(ctx, epcisdb.EPCISQuery{})
		require.NoError(t, err)
		require.Len(t, all, 3)
		declared, err = s.QueryEPCIS(ctx, epcisdb.EPCISQuery{ErrorDeclared: true})
		require.NoError(t, err)
		require.Len(t, declared, 2)
		inc, err := s.QueryEPCIS(ctx, epcisdb.EPCISQuery{ErrorReasons: []string{"incorrect_data"}})
		require.NoError(t, err)
		require.Len(t, inc, 1)
		require.Equal(t, a.EPCList, inc[0].EPCList)
		require.NotNil(t, inc[0].ErrorDeclaration)
		require.Equal(t, []string{fix.EventID}, inc[0].ErrorDeclaration.CorrectiveEventIDs)
		require.Equal(t, decl.Reason, inc[0].ErrorDeclaration.Reason, "kept as captured")
		ha, err := epcis.HashID(a)
		require.NoError(t, err)
		require.Equal(t, ha, inc[0].EventID, "the declaration keeps the event's ID")
		dno, err := s.QueryEPCIS(ctx, epcisdb.EPCISQuery{ErrorReasons: []string{"https://ref.gs1.org/cbv/ER-did_not_occur"}})
		require.NoError(t, err)
		require.Len(t, dno, 1)
		require.Equal(t, b.EventID, dno[0].EventID)

		// A declaration of an event this repository never saw is stored.
		other := shipEvent(9)
		other.ErrorDeclaration = decl
		res, err = s.CaptureEPCIS(ctx, []epcis.Event{other}, nil)
		require.NoError(t, err)
		require.Equal(t, 1, res.Stored)
		require.Zero(t, res.Declared)
	})
}

// TestEPCISPagingWhileCapturing pages through the repository in record
// order while other captures add events: every event stored before the
// first page and every one added during the paging comes exactly once.
func TestEPCISPagingWhileCapturing(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		const before, during, batch = 300, 200, 20
		var evs []epcis.Event
		for i := range before {
			evs = append(evs, shipEvent(i))
		}
		_, err := s.CaptureEPCIS(ctx, evs, nil)
		require.NoError(t, err)

		var wg sync.WaitGroup
		adding, cancel := context.WithCancel(ctx)
		defer cancel()
		errs := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < during; k += batch {
				var more []epcis.Event
				for i := k; i < k+batch; i++ {
					more = append(more, shipEvent(before+i))
				}
				if _, err := s.CaptureEPCIS(adding, more, nil); err != nil {
					errs <- err
					return
				}
			}
		}()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		deadline := time.After(time.Minute)
		seen := map[string]int{}
		var after *epcisdb.EPCISCursor
		pages, finished := 0, false
		for {
			p, err := s.QueryEPCISPage(ctx, epcisdb.EPCISQuery{SkipLineSync: true}, epcisdb.EPCISPageRequest{After: after, Size: 17})
			require.NoError(t, err)
			for _, e := range p.Events {
				seen[e.EventID]++
			}
			pages++
			if p.Last != nil {
				after = p.Last
			}
			if p.More {
				continue
			}
			if finished {
				break
			}
			// Caught up with the writer: poll the database until it is done,
			// then read once more.
			select {
			case err := <-errs:
				require.NoError(t, err)
			case <-done:
				finished = true
			case <-deadline:
				t.Fatal("the writer did not finish within a minute")
			case <-time.After(5 * time.Millisecond):
			}
		}
		wg.Wait()
		require.Len(t, seen, before+during)
		for id, n := range seen {
			require.Equal(t, 1, n, "event %s came %d times", id, n)
		}
		require.Greater(t, pages, (before+during)/17)
	})
}

// TestLineEventsReadPoint: a line configured with its own SGLN gives its
// units' events that readPoint and its site's SGLN as bizLocation; events
// are found by EQ_readPoint in either spelling and carry their hash ID.
func TestLineEventsReadPoint(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		site := testkit.GLN(t, "950600000001")
		require.NoError(t, f.S.PutSite(f.Ctx, master.Site{GLN: site, Name: "Plant"}))
		readPoint := "urn:epc:id:sgln:9506000.00001.L1"
		require.ErrorIs(t, f.S.PutLine(f.Ctx, master.Line{ID: storetest.Line1, Name: "Line 1", SiteGLN: site, ReadPoint: "urn:epc:id:sgtin:9506000.134369.1"}), sqldb.ErrInvalid)
		require.NoError(t, f.S.PutLine(f.Ctx, master.Line{ID: storetest.Line1, Name: "Line 1", SiteGLN: site, ReadPoint: readPoint, PasswordHash: "pbkdf2$x"}))
		l, err := f.S.Line(f.Ctx, storetest.Line1)
		require.NoError(t, err)
		require.Equal(t, readPoint, l.ReadPoint)
		storetest.Apply(t, f, storetest.Line1, u.Commission(storetest.Line1, 1, 0, 3)...)

		siteSGLN, err := gs1.SGLNURI(gs1.GLN(site), "0", 7)
		require.NoError(t, err)
		got, err := f.S.QueryEPCIS(f.Ctx, epcisdb.EPCISQuery{ReadPoints: []string{"https://id.gs1.org/414/" + testkit.GLN(t, "950600000001") + "/254/L1"}})
		require.NoError(t, err)
		require.Len(t, got, 3)
		for _, e := range got {
			require.Equal(t, readPoint, e.ReadPoint)
			require.Equal(t, siteSGLN, e.BizLocation)
			h, err := epcis.HashID(e)
			require.NoError(t, err)
			require.Equal(t, h, e.EventID)
		}
	})
}
