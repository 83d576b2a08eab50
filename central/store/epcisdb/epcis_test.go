package epcisdb_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// TestLineEventsAsEPCIS: units applied through ApplyEvents come back from
// QueryEPCIS as commissioning ObjectEvents with ILMD lot and expiry,
// aggregation and decommissioning events; a second query projects nothing
// twice.
func TestLineEventsAsEPCIS(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		f, u := storetest.Applied(t, dsn)
		storetest.Apply(t, f, storetest.Line1, u.Commission(storetest.Line1, 1, 0, 4)...)
		caseA := testkit.SSCC(t, 0, "0614141", 1)
		agg := storetest.Ev(storetest.Line1, 5, wire.Aggregated)
		agg.Order, agg.Parent, agg.Children = "WO-1", caseA, []string{wire.UnitRef(storetest.GTINRand, u.Serial[0]), wire.UnitRef(storetest.GTINRand, u.Serial[1])}
		dec := u.Ev(storetest.Line1, 6, wire.Decommissioned, 3)
		dec.Reason, dec.Counter = wire.ReasonDestroyed, nil
		storetest.Apply(t, f, storetest.Line1, agg, dec)

		all, err := f.S.QueryEPCIS(f.Ctx, epcisdb.EPCISQuery{})
		require.NoError(t, err)
		require.Len(t, all, 6, "4 commissioning, 1 aggregation, 1 destroying")

		sgtin0, err := gs1.SGTINURI(storetest.GTINRand, u.Serial[0], 7)
		require.NoError(t, err)
		com, err := f.S.QueryEPCIS(f.Ctx, epcisdb.EPCISQuery{BizSteps: []string{"urn:epcglobal:cbv:bizstep:commissioning"}, MatchEPC: []string{sgtin0}})
		require.NoError(t, err)
		require.Len(t, com, 1)
		e := com[0]
		require.Equal(t, epcis.ObjectEvent, e.Type)
		require.Equal(t, epcis.ActionAdd, e.Action)
		require.Equal(t, "active", e.Disposition)
		require.Equal(t, []string{sgtin0}, e.EPCList)
		require.Equal(t, storetest.Lot, e.ILMD["cbvmda:lotNumber"])
		require.Equal(t, "2028-12-31", e.ILMD["cbvmda:itemExpirationDate"])
		require.Equal(t, storetest.T0.Add(time.Millisecond), e.EventTime.UTC())
		require.NoError(t, e.Validate())

		// MATCH_epc finds the aggregation through childEPCs; MATCH_anyEPC by parentID too.
		hits, err := f.S.QueryEPCIS(f.Ctx, epcisdb.EPCISQuery{MatchEPC: []string{sgtin0}})
		require.NoError(t, err)
		require.Len(t, hits, 2)
		require.Equal(t, epcis.AggregationEvent, hits[1].Type)
		require.Equal(t, "packing", hits[1].BizStep)
		caseURI, err := gs1.SSCCURI(gs1.SSCC(caseA), 7)
		require.NoError(t, err)
		require.Equal(t, caseURI, hits[1].ParentID)
		hits, err = f.S.QueryEPCIS(f.Ctx, epcisdb.EPCISQuery{MatchAnyEPC: []string{"https://id.gs1.org/00/" + caseA}})
		require.NoError(t, err)
		require.Len(t, hits, 1)

		hits, err = f.S.QueryEPCIS(f.Ctx, epcisdb.EPCISQuery{Dispositions: []string{"destroyed"}})
		require.NoError(t, err)
		require.Len(t, hits, 1)
		require.Equal(t, "destroying", hits[0].BizStep)
		require.Equal(t, "destroyed", hits[0].Extensions["serialine:reason"])

		unit, err := f.S.UnitEPCIS(f.Ctx, storetest.GTINRand, u.Serial[1])
		require.NoError(t, err)
		require.Len(t, unit, 2)

		// More events later: only they are projected.
		storetest.Apply(t, f, storetest.Line1, u.Commission(storetest.Line1, 7, 4, 6)...)
		all, err = f.S.QueryEPCIS(f.Ctx, epcisdb.EPCISQuery{EventTypes: []string{"ObjectEvent"}})
		require.NoError(t, err)
		require.Len(t, all, 7)
	})
}

// TestCaptureEPCISRollback: one invalid event refuses the whole capture,
// naming the event and field; a repeated capture stores nothing new.
func TestCaptureEPCISRollback(t *testing.T) {
	s := storetest.Open(t, storetest.SQLiteDSN(t), testkit.Logger(t))
	ctx := storetest.Context(t)
	good := epcis.Event{Type: epcis.ObjectEvent, Action: epcis.ActionObserve, EventTime: storetest.T0, EPCList: []string{"urn:epc:id:sgtin:0614141.107346.2017"}, BizStep: "shipping", Disposition: "in_transit"}
	bad := good
	bad.BizStep = "shiping"
	_, err := s.CaptureEPCIS(ctx, []epcis.Event{good, bad}, nil)
	require.ErrorIs(t, err, sqldb.ErrInvalid)
	require.ErrorContains(t, err, `eventList[1].bizStep: "shiping" is not a CBV 2.0 business step`)
	got, err := s.QueryEPCIS(ctx, epcisdb.EPCISQuery{})
	require.NoError(t, err)
	require.Empty(t, got)

	res, err := s.CaptureEPCIS(ctx, []epcis.Event{good}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Stored)
	res, err = s.CaptureEPCIS(ctx, []epcis.Event{good, good}, nil)
	require.NoError(t, err)
	require.Equal(t, 0, res.Stored)
	require.Equal(t, 2, res.Duplicates)

	_, err = s.QueryEPCIS(ctx, epcisdb.EPCISQuery{Limit: epcisdb.MaxEPCISLimit + 1})
	require.ErrorIs(t, err, sqldb.ErrInvalid)
}
