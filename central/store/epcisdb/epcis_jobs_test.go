package epcisdb_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
)

// TestCaptureJobs: a job is closed with its events in one transaction; a
// job left running by a stop is closed as failed at the next start; jobs
// list in pages.
func TestCaptureJobs(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		for _, id := range []string{"c1", "c2", "c3"} {
			require.NoError(t, s.CreateCaptureJob(ctx, epcisdb.CaptureJob{CaptureID: id, Behaviour: "proceed", Principal: "ana", Events: 2}))
		}
		require.ErrorIs(t, s.CreateCaptureJob(ctx, epcisdb.CaptureJob{CaptureID: "c4", Behaviour: "maybe"}), sqldb.ErrInvalid)
		res, err := s.CaptureEPCISForJob(ctx, "c1", []epcis.Event{shipEvent(1)}, nil, 1, []string{"eventList[1].bizStep: bad"})
		require.NoError(t, err)
		require.Equal(t, "c1", res.CaptureID)
		require.NoError(t, s.FailCaptureJob(ctx, "c2", 2, []string{"eventList[0].epcList[0]: bad"}))

		j, err := s.CaptureJobByID(ctx, "c1")
		require.NoError(t, err)
		require.False(t, j.Running)
		require.False(t, j.Success, "proceed with an error")
		require.Equal(t, 1, j.Stored)
		require.Equal(t, 1, j.Rejected)
		require.Equal(t, []string{"eventList[1].bizStep: bad"}, j.Errors)
		require.NotNil(t, j.FinishedAt)

		n, err := s.AbandonCaptureJobs(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n, "only c3 was running")
		j, err = s.CaptureJobByID(ctx, "c3")
		require.NoError(t, err)
		require.False(t, j.Running || j.Success)
		require.Equal(t, []string{epcisdb.AbandonedCapture}, j.Errors)
		_, err = s.CaptureJobByID(ctx, "nope")
		require.ErrorIs(t, err, sqldb.ErrNotFound)

		page, last, more, err := s.CaptureJobs(ctx, 0, 2)
		require.NoError(t, err)
		require.True(t, more)
		require.Equal(t, []string{"c1", "c2"}, []string{page[0].CaptureID, page[1].CaptureID})
		page, _, more, err = s.CaptureJobs(ctx, last, 2)
		require.NoError(t, err)
		require.False(t, more)
		require.Len(t, page, 1)
	})
}

// TestEPCISQueriesAndSubscriptions: named queries by name, a taken name
// refused, subscriptions of a query kept with their delivery state and
// gone with their query.
func TestEPCISQueriesAndSubscriptions(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		def := json.RawMessage(`{"EQ_bizStep": ["shipping"]}`)
		require.NoError(t, s.CreateEPCISQuery(ctx, epcisdb.NamedQuery{Name: "ship", Definition: def, CreatedBy: "ana"}))
		require.ErrorIs(t, s.CreateEPCISQuery(ctx, epcisdb.NamedQuery{Name: "ship", Definition: def}), sqldb.ErrConflict)
		q, err := s.EPCISQueryByName(ctx, "ship")
		require.NoError(t, err)
		require.JSONEq(t, string(def), string(q.Definition))

		sub := epcisdb.Subscription{ID: "s1", Query: "ship", Dest: "https://x.example/hook", Secret: "k", Stream: true, InitialRecordTime: storetest.T0, LastID: 7}
		require.NoError(t, s.CreateSubscription(ctx, sub))
		require.ErrorIs(t, s.CreateSubscription(ctx, epcisdb.Subscription{ID: "s2", Query: "nope", Dest: "https://x", InitialRecordTime: storetest.T0}), sqldb.ErrNotFound)
		next := storetest.T0.Add(time.Hour)
		require.NoError(t, s.FailedSubscription(ctx, "s1", next, "answered 500"))
		got, err := s.SubscriptionByID(ctx, "ship", "s1")
		require.NoError(t, err)
		require.Equal(t, int64(7), got.LastID)
		require.Equal(t, 1, got.Attempts)
		require.Equal(t, "answered 500", got.LastError)
		require.Equal(t, next, got.NextAttempt.UTC())
		require.NoError(t, s.DeliveredSubscription(ctx, "s1", 12, 5, nil))
		got, err = s.SubscriptionByID(ctx, "ship", "s1")
		require.NoError(t, err)
		require.Equal(t, int64(12), got.LastID)
		require.Equal(t, int64(5), got.Delivered)
		require.Zero(t, got.Attempts)
		require.Nil(t, got.NextAttempt)

		require.NoError(t, s.DeleteEPCISQuery(ctx, "ship"))
		_, err = s.SubscriptionByID(ctx, "ship", "s1")
		require.ErrorIs(t, err, sqldb.ErrNotFound)
		require.ErrorIs(t, s.DeliveredSubscription(ctx, "s1", 13, 1, nil), epcisdb.ErrSubscriptionGone)
		require.ErrorIs(t, s.DeleteEPCISQuery(ctx, "ship"), sqldb.ErrNotFound)
	})
}

// TestEPCISVocabulary lists distinct values in pages.
func TestEPCISVocabulary(t *testing.T) {
	s, ctx := storetest.Open(t, storetest.SQLiteDSN(t), testkit.Logger(t)), storetest.Context(t)
	a, b := shipEvent(1), shipEvent(2)
	b.BizStep = "receiving"
	_, err := s.CaptureEPCIS(ctx, []epcis.Event{a, b, shipEvent(3)}, nil)
	require.NoError(t, err)
	vals, more, err := s.EPCISVocabulary(ctx, "bizStep", "", 1)
	require.NoError(t, err)
	require.Equal(t, []string{"receiving"}, vals)
	require.True(t, more)
	vals, more, err = s.EPCISVocabulary(ctx, "bizStep", "receiving", 1)
	require.NoError(t, err)
	require.Equal(t, []string{"shipping"}, vals)
	require.False(t, more)
	vals, _, err = s.EPCISVocabulary(ctx, "epc", "", 10)
	require.NoError(t, err)
	require.Len(t, vals, 3)
	_, _, err = s.EPCISVocabulary(ctx, "colour", "", 10)
	require.ErrorIs(t, err, sqldb.ErrInvalid)
}

// TestDeliveryLease: one holder at a time; a released or lapsed lease
// passes to another.
func TestDeliveryLease(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		ok, err := s.DeliveryLease(ctx, "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = s.DeliveryLease(ctx, "b", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "a holds it")
		ok, err = s.DeliveryLease(ctx, "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "a renews")
		require.NoError(t, s.ReleaseDeliveryLease(ctx, "a"))
		ok, err = s.DeliveryLease(ctx, "b", -time.Second) // b takes it, already lapsed
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = s.DeliveryLease(ctx, "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "b's lease lapsed")
	})
}
