package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/broker"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// TestIngest runs the same scenarios against SQLite and PostgreSQL, each
// through the embedded broker and through the real Mosquitto.
func TestIngest(t *testing.T) {
	for _, be := range storetest.Backends() {
		for _, bk := range []string{"embedded", "mosquitto"} {
			t.Run(be.Name+"/"+bk, func(t *testing.T) {
				log, _ := captureLogger(t)
				var b mqttBroker
				if bk == "embedded" {
					b = startEmbedded(t, log)
				} else {
					b = mosquitto(t)
				}
				c := newCentral(t, be.DSN(t), b, nil)
				runScenarios(t, c, b)
			})
		}
	}
}

func runScenarios(t *testing.T, c *central, b mqttBroker) {
	// newLine also arranges for the line's retained messages to be removed
	// from a shared broker.
	newLine := func(t *testing.T, n uint64) (*line, *edge) {
		l := c.newLine(t, n)
		if !b.embedded {
			clearRetained(t, b, l.id)
		}
		return l, mustEdge(t, b, l.id)
	}

	t.Run("applies in order and acks after the commit, lines side by side", func(t *testing.T) {
		l1, e1 := newLine(t, 100)
		l2, e2 := newLine(t, 100)
		e1.sendEvents(t, l1.events(t, 1, 10))
		e2.sendEvents(t, l2.events(t, 1, 5))
		e1.sendEvents(t, l1.events(t, 11, 20))
		require.Equal(t, uint64(20), e1.awaitAck(t, 20).Seq)
		require.Equal(t, uint64(5), e2.awaitAck(t, 5).Seq)
		require.Equal(t, uint64(20), unitCount(t, c, l1.order))
		require.Equal(t, uint64(5), unitCount(t, c, l2.order))
		ls, err := c.st.LineSeq(c.ctx, l1.id)
		require.NoError(t, err)
		require.Equal(t, uint64(20), ls.Acked, "the ack is what the database holds")
		require.Empty(t, deadLetters(t, c, l1.id))
	})

	t.Run("duplicate events are applied once and acked again", func(t *testing.T) {
		l, e := newLine(t, 100)
		first := l.events(t, 1, 5)
		e.sendEvents(t, first)
		require.Equal(t, uint64(5), e.awaitAck(t, 5).Seq)
		dups := metric(t, c.reg, `serialine_ingest_events_total{outcome="duplicate"}`)

		e.sendEvents(t, first) // the ack was lost, the edge resends
		require.Equal(t, uint64(5), e.nextAck(t).Seq, "a resent batch is acked again")
		overlap := append(first[3:], l.events(t, 6, 8)...)
		e.sendEvents(t, overlap)
		require.Equal(t, uint64(8), e.nextAck(t).Seq)

		require.Equal(t, uint64(8), unitCount(t, c, l.order))
		u, err := c.st.Unit(c.ctx, gtin, first[0].Serial)
		require.NoError(t, err)
		require.Len(t, u.History, 1, "one history row per event, however often it came")
		require.Equal(t, dups+7, metric(t, c.reg, `serialine_ingest_events_total{outcome="duplicate"}`))
		require.Empty(t, deadLetters(t, c, l.id))
	})

	t.Run("events beyond a gap are held and applied when it fills", func(t *testing.T) {
		l, e := newLine(t, 100)
		early := l.events(t, 1, 3)
		late := l.events(t, 4, 6)
		e.sendEvents(t, late)
		a := e.nextAck(t)
		require.Equal(t, uint64(0), a.Seq, "the ack covers only the contiguous part")
		require.Equal(t, &wire.SeqRange{From: 1, To: 3}, a.Missing, "the ack names what central lacks")
		require.Equal(t, uint64(0), unitCount(t, c, l.order))

		gap := findGap(c.in.Gaps(), l.id)
		require.NotNil(t, gap, "the gap is reported")
		require.Equal(t, []lineevents.SeqGap{{From: 1, To: 3}}, gap.Gaps)
		require.Equal(t, uint64(3), gap.Missing)
		require.False(t, gap.Stale)
		require.Equal(t, 3.0, metric(t, c.reg, `serialine_ingest_gap_missing_seqs{line="`+l.id+`"}`))
		ls, err := c.st.LineSeq(c.ctx, l.id)
		require.NoError(t, err)
		require.Equal(t, []uint64{4, 5, 6}, ls.Pending)

		e.sendEvents(t, early)
		a = e.nextAck(t)
		require.Equal(t, uint64(6), a.Seq)
		require.Nil(t, a.Missing)
		require.Equal(t, uint64(6), unitCount(t, c, l.order))
		require.Nil(t, findGap(c.in.Gaps(), l.id), "a filled gap is no longer reported")
		require.Empty(t, deadLetters(t, c, l.id))
	})

	t.Run("malformed JSON is a dead letter and blocks nothing", func(t *testing.T) {
		l, e := newLine(t, 100)
		e.publish(t, wire.KindEvents, []byte(`{"v":1,"line":`), false)
		e.publish(t, wire.KindEvents, []byte(`{"v":2,"line":"`+l.id+`","events":[]}`), false)
		e.sendEvents(t, l.events(t, 1, 3))
		require.Equal(t, uint64(3), e.awaitAck(t, 3).Seq)
		require.Equal(t, uint64(3), unitCount(t, c, l.order))

		dl := deadLetters(t, c, l.id)
		require.Len(t, dl, 2)
		require.Equal(t, `{"v":1,"line":`, string(dl[0].Payload))
		require.Contains(t, dl[0].Reason, "not valid JSON")
		require.Equal(t, "serialine/v1/lines/"+l.id+"/events", dl[0].Topic)
		require.Contains(t, dl[1].Reason, "version 2 is not supported")
	})

	t.Run("a GTIN with a wrong check digit is dead-lettered, the rest applied", func(t *testing.T) {
		l, e := newLine(t, 100)
		evs := l.events(t, 1, 3)
		evs[1].GTIN = badGTIN
		e.sendEvents(t, evs)
		require.Equal(t, uint64(3), e.awaitAck(t, 3).Seq, "the bad event's seq counts as done")
		require.Equal(t, uint64(2), unitCount(t, c, l.order))
		dl := deadLetters(t, c, l.id)
		require.Len(t, dl, 1)
		require.Equal(t, evs[1].ID, dl[0].EventID)
		require.Equal(t, uint64(2), dl[0].Seq)
		require.Contains(t, dl[0].Reason, "check digit")
		require.Equal(t, wire.CheckEvent(evs[1]).Err().Error(), dl[0].Reason, "the decoder's reason, carried to the store")
	})

	t.Run("a batch naming another line than its topic is a dead letter", func(t *testing.T) {
		l, e := newLine(t, 100)
		other := c.newLine(t, 100)
		e.publish(t, wire.KindEvents, batch(t, other.id, other.events(t, 1, 3)), false)
		e.sendEvents(t, l.events(t, 1, 2))
		require.Equal(t, uint64(2), e.awaitAck(t, 2).Seq)
		require.Equal(t, uint64(0), unitCount(t, c, other.order), "nothing of the other line's batch is applied")
		dl := deadLetters(t, c, l.id)
		require.Len(t, dl, 1)
		require.Contains(t, dl[0].Reason, `line "`+other.id+`" published on the topic of line `+l.id)
	})

	t.Run("events of a line central does not know are a dead letter", func(t *testing.T) {
		id := "L" + testkit.RandHex(4)
		if !b.embedded {
			clearRetained(t, b, id)
		}
		e := mustEdge(t, b, id)
		l := &line{id: id}
		payload := batch(t, id, []wire.Event{{ID: id + ":1", Seq: 1, Type: wire.OrderStarted, At: t0, Order: "WO-X"}})
		e.publish(t, wire.KindEvents, payload, false)
		var dl []lineevents.DeadLetter
		testkit.Eventually(t, "dead letter of the unknown line", func() bool {
			dl = deadLetters(t, c, l.id)
			return len(dl) > 0
		})
		require.Contains(t, dl[0].Reason, "not found")
		require.Equal(t, payload, dl[0].Payload)
	})

	t.Run("a serial request retried after a lost answer gets the same grant", func(t *testing.T) {
		l, e := newLine(t, 0)
		req := wire.SerialRequest{V: 1, RequestID: "req-" + l.id, Line: l.id, Order: l.order, GTIN: gtin, Count: 50}
		payload, err := wire.Encode(req)
		require.NoError(t, err)
		e.publish(t, wire.KindSerialRequest, payload, false)
		g1 := e.nextGrant(t)
		require.Empty(t, g1.Error)
		require.Equal(t, uint64(50), g1.Count())
		require.Equal(t, req.RequestID, g1.RequestID)

		e.publish(t, wire.KindSerialRequest, payload, false) // the grant was lost; the edge retries
		g2 := e.nextGrant(t)
		require.Equal(t, g1, g2, "a retried request gets the very same grant")

		req.RequestID = "req2-" + l.id
		payload, err = wire.Encode(req)
		require.NoError(t, err)
		e.publish(t, wire.KindSerialRequest, payload, false)
		g3 := e.nextGrant(t)
		require.Equal(t, g1.Ranges[0].End(), g3.Ranges[0].Start, "a new request gets new serials")

		grants, err := c.st.Grants(c.ctx, l.order)
		require.NoError(t, err)
		require.Len(t, grants, 2)
	})

	t.Run("an invalid or refused serial request gets an error grant and a dead letter", func(t *testing.T) {
		l, e := newLine(t, 0)
		tests := []struct {
			name   string
			req    wire.SerialRequest
			reason string
			// unanswerable: a refusal must itself be a valid grant, and
			// one naming an invalid GTIN is not; the dead letter keeps it.
			unanswerable bool
		}{
			{name: "count 0", req: wire.SerialRequest{V: 1, RequestID: "r0-" + l.id, Line: l.id, Order: l.order, GTIN: gtin}, reason: "count"},
			{name: "over the cap", req: wire.SerialRequest{V: 1, RequestID: "r2-" + l.id, Line: l.id, Order: l.order, GTIN: gtin, Count: 100_001}, reason: "exceeds the 100000"},
			{name: "unknown order", req: wire.SerialRequest{V: 1, RequestID: "r3-" + l.id, Line: l.id, Order: "WO-nope", GTIN: gtin, Count: 5}, reason: "not found"},
			{name: "wrong check digit", req: wire.SerialRequest{V: 1, RequestID: "r1-" + l.id, Line: l.id, Order: l.order, GTIN: badGTIN, Count: 5}, reason: "check digit", unanswerable: true},
			{name: "another line's request", req: wire.SerialRequest{V: 1, RequestID: "r4-" + l.id, Line: "Lother", Order: l.order, GTIN: gtin, Count: 5}, reason: `line "Lother" published on the topic of line ` + l.id},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b, err := json.Marshal(tc.req)
				require.NoError(t, err)
				e.publish(t, wire.KindSerialRequest, b, false)
				if !tc.unanswerable {
					g := e.nextGrant(t)
					require.Equal(t, tc.req.RequestID, g.RequestID)
					require.Equal(t, l.id, g.Line)
					require.Contains(t, g.Error, tc.reason)
					require.Zero(t, g.Count())
				}
				var dl []lineevents.DeadLetter
				testkit.Eventually(t, "dead letter", func() bool {
					dl = deadLetters(t, c, l.id)
					return len(dl) == i+1
				})
				require.Contains(t, dl[i].Reason, tc.reason)
				require.Equal(t, b, dl[i].Payload)
			})
		}
		// Not JSON at all: nothing to answer, but kept.
		e.publish(t, wire.KindSerialRequest, []byte("garbage"), false)
		testkit.Eventually(t, "dead letter of the garbage request", func() bool { return len(deadLetters(t, c, l.id)) == len(tests)+1 })
	})

	t.Run("status is kept per line and goes offline by the last will", func(t *testing.T) {
		l := c.newLine(t, 0)
		if !b.embedded {
			clearRetained(t, b, l.id)
		}
		will, err := json.Marshal(wire.Status{V: 1, Line: l.id, State: wire.LineOffline})
		require.NoError(t, err)
		var mu sync.Mutex
		var conn net.Conn
		e := mustEdge(t, b, l.id, func(o *paho.ClientOptions) {
			o.SetBinaryWill("serialine/v1/lines/"+l.id+"/status", will, 1, true)
			o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
				cn, err := net.DialTimeout("tcp", u.Host, waitFor)
				mu.Lock()
				conn = cn
				mu.Unlock()
				return cn, err
			})
		})
		st := wire.Status{V: 1, Line: l.id, State: wire.LineRunning, At: t0, Order: l.order, Pool: wire.Pool{Available: 900, MinutesLeft: 12},
			Devices: map[string]wire.DeviceHealth{"printer": {State: wire.DeviceOK}}}
		payload, err := wire.Encode(st)
		require.NoError(t, err)
		before := time.Now()
		e.publish(t, wire.KindStatus, payload, true)
		testkit.Eventually(t, "running status", func() bool { return c.in.Statuses()[l.id].State == wire.LineRunning })
		got := c.in.Statuses()[l.id]
		require.Equal(t, uint64(900), got.Pool.Available)
		require.True(t, got.Online())
		require.False(t, got.LastSeen.Before(before.Add(-time.Second)))

		mu.Lock()
		require.NoError(t, conn.Close()) // a power cut: no DISCONNECT, the broker sends the will
		mu.Unlock()
		testkit.Eventually(t, "offline status", func() bool { return c.in.Statuses()[l.id].State == wire.LineOffline })
		require.False(t, c.in.Statuses()[l.id].Online())

		// A status naming another line is kept as a dead letter, not shown.
		e2 := mustEdge(t, b, l.id)
		bad, err := wire.Encode(wire.Status{V: 1, Line: "Lzz", State: wire.LineRunning, At: t0})
		require.NoError(t, err)
		e2.publish(t, wire.KindStatus, bad, false)
		testkit.Eventually(t, "dead letter of the bad status", func() bool { return len(deadLetters(t, c, l.id)) == 1 })
		require.Equal(t, wire.LineOffline, c.in.Statuses()[l.id].State)
	})

	t.Run("orders are published retained on release and at start-up", func(t *testing.T) {
		l, e := newLine(t, 0)
		require.NoError(t, c.in.PublishOrders(c.ctx, l.id))
		o := e.nextOrders(t)
		require.Equal(t, l.id, o.Line)
		require.Len(t, o.Orders, 1)
		require.Equal(t, l.order, o.Orders[0].ID)
		require.Equal(t, wire.OrderStateReleased, o.Orders[0].State)

		late := mustEdge(t, b, l.id) // connects later: gets the retained message
		require.Equal(t, o, late.nextOrders(t))

		// A replica starting up publishes every line's orders.
		startIngest(t, c.st, b, "g"+testkit.RandHex(4), nil)
		require.Equal(t, o, e.nextOrders(t))
	})

	t.Run("orders are republished when the line extends an allowance or reports a close", func(t *testing.T) {
		l, e := newLine(t, 0)
		require.NoError(t, c.in.PublishOrders(c.ctx, l.id))
		require.Equal(t, uint64(50), e.nextOrders(t).Orders[0].RejectAllowance)

		ext := wire.Event{ID: l.id + ":1", Seq: 1, Type: wire.AllowanceExtended, At: t0, Order: l.order, Allowance: 30, Note: "film splice", Operator: "sup"}
		e.sendEvents(t, []wire.Event{ext})
		require.Equal(t, uint64(1), e.awaitAck(t, 1).Seq)
		e.awaitOrders(t, func(o wire.Orders) bool { return o.Orders[0].RejectAllowance == 80 })

		// Closed at central (the API publishes), then the line reports it.
		closed, err := c.st.CloseOrder(c.ctx, l.order)
		require.NoError(t, err)
		require.NoError(t, c.in.PublishOrders(c.ctx, l.id))
		o := e.awaitOrders(t, func(o wire.Orders) bool { return len(o.Orders) == 1 && o.Orders[0].State == wire.OrderStateClosed })
		require.Equal(t, *closed.ClosedAt, o.Orders[0].ClosedAt)
		done := wire.Event{ID: l.id + ":2", Seq: 2, Type: wire.OrderClosed, At: time.Now(), Order: l.order, Counts: &wire.Reconciliation{}, Operator: "ana"}
		e.sendEvents(t, []wire.Event{done})
		require.Equal(t, uint64(2), e.awaitAck(t, 2).Seq)
		// The line's close reached central: the order is off its list.
		e.awaitOrders(t, func(o wire.Orders) bool { return len(o.Orders) == 0 })
	})
	incarnationScenarios(t, c, newLine)
}

func findGap(gaps []ingest.LineGap, line string) *ingest.LineGap {
	for _, g := range gaps {
		if g.Line == line {
			return &g
		}
	}
	return nil
}

// TestUnknownCredentialsRefused: the embedded broker refuses a line login
// with a wrong password before anything reaches ingest.
func TestUnknownCredentialsRefused(t *testing.T) {
	log, _ := captureLogger(t)
	b := startEmbedded(t, log)
	c := newCentral(t, storetest.SQLiteDSN(t), b, nil)
	l := c.newLine(t, 10)
	refused := func(err error) bool {
		return errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) || errors.Is(err, packets.ErrorRefusedNotAuthorised)
	}
	_, err := dialEdge(t, b, l.id, func(o *paho.ClientOptions) { o.SetPassword("wrong") })
	require.True(t, refused(err), "CONNACK refuses a wrong password: %v", err)
	_, err = dialEdge(t, b, "central", func(o *paho.ClientOptions) { o.SetPassword("guess") })
	require.True(t, refused(err), "CONNACK refuses a guessed service password: %v", err)
	require.Zero(t, metric(t, c.reg, `serialine_ingest_messages_total{kind="events"}`))
}

// TestStaleGapStaysVisible: a gap older than GapAlert is flagged and
// logged, and nothing behind it is applied or skipped.
func TestStaleGapStaysVisible(t *testing.T) {
	log, _ := captureLogger(t)
	b := startEmbedded(t, log)
	c := newCentral(t, storetest.SQLiteDSN(t), b, func(cfg *ingest.Config) {
		cfg.GapAlert = time.Nanosecond
		cfg.GapCheck = 10 * time.Millisecond
	})
	l := c.newLine(t, 10)
	e := mustEdge(t, b, l.id)
	l.events(t, 1, 2) // lost
	e.sendEvents(t, l.events(t, 3, 4))
	require.Equal(t, uint64(0), e.nextAck(t).Seq)
	gap := findGap(c.in.Gaps(), l.id)
	require.NotNil(t, gap)
	require.True(t, gap.Stale)
	require.Equal(t, 1.0, metric(t, c.reg, "serialine_ingest_gaps_stale"))
	testkit.Eventually(t, "stale gap warning", func() bool {
		return strings.Contains(c.log.String(), "gap persists") && strings.Contains(c.log.String(), "line="+l.id)
	})
	require.Equal(t, uint64(0), unitCount(t, c, l.order), "nothing is skipped silently")

	// An operator closes it; the next batch is acked through.
	res, err := c.st.SkipGap(c.ctx, l.id, 2, "edge PC replaced")
	require.NoError(t, err)
	require.Equal(t, uint64(4), res.Acked)
	testkit.Eventually(t, "gap re-read from the database", func() bool { return findGap(c.in.Gaps(), l.id) == nil })
}

// TestReplicasShareTheFeed: two central replicas on one PostgreSQL
// database share the events through a shared subscription; every event is
// applied exactly once and the acks cover everything.
func TestReplicasShareTheFeed(t *testing.T) {
	for _, bk := range []string{"mosquitto", "embedded"} {
		t.Run(bk, func(t *testing.T) {
			log, _ := captureLogger(t)
			var b mqttBroker
			if bk == "embedded" {
				b = startEmbedded(t, log)
			} else {
				b = mosquitto(t)
			}
			dsn := storetest.PostgresDSN(t)
			c := newCentral(t, dsn, b, nil)
			// The second replica: its own store connections, the same group.
			group := "r" + testkit.RandHex(4)
			_, reg1, _ := startIngest(t, c.st, b, group, nil)
			_, reg2, _ := startIngest(t, storetest.Open(t, dsn, log), b, group, nil)
			require.NoError(t, c.in.Close(context.Background())) // only the two replicas in the group read

			const batches, per = 20, 25
			type lineRun struct {
				l *line
				e *edge
			}
			var runs []lineRun
			for range 2 {
				l := c.newLine(t, batches*per)
				if !b.embedded {
					clearRetained(t, b, l.id)
				}
				runs = append(runs, lineRun{l, mustEdge(t, b, l.id)})
			}
			for i := range batches {
				for _, r := range runs {
					from := uint64(i*per + 1)
					r.e.sendEvents(t, r.l.events(t, from, from+per-1))
				}
			}
			db, err := pgx.Connect(c.ctx, dsn)
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close(context.Background()) })
			for _, r := range runs {
				require.Equal(t, uint64(batches*per), r.e.awaitAck(t, batches*per).Seq)
				require.Equal(t, uint64(batches*per), unitCount(t, c, r.l.order))
				require.Empty(t, deadLetters(t, c, r.l.id))
				for _, table := range []string{"unit_history", "applied_events"} {
					var n int
					require.NoError(t, db.QueryRow(c.ctx, "SELECT count(*) FROM "+table+" WHERE line_id = $1", r.l.id).Scan(&n))
					require.Equal(t, batches*per, n, "%s rows of line %s", table, r.l.id)
				}
			}
			applied := metric(t, reg1, `serialine_ingest_events_total{outcome="applied"}`) + metric(t, reg2, `serialine_ingest_events_total{outcome="applied"}`)
			require.Equal(t, float64(2*batches*per), applied, "every event applied exactly once across the replicas")
			require.Positive(t, metric(t, reg1, `serialine_ingest_messages_total{kind="events"}`), "replica 1 got a share")
			require.Positive(t, metric(t, reg2, `serialine_ingest_messages_total{kind="events"}`), "replica 2 got a share")
			// On the shared Mosquitto, other tests' lines publish under the same
			// wildcard and reach the group too (dead-lettered here: their lines
			// are unknown), so the message count is a floor; exactly-once is the
			// applied count and the rows above.
			require.GreaterOrEqual(t, metric(t, reg1, `serialine_ingest_messages_total{kind="events"}`)+metric(t, reg2, `serialine_ingest_messages_total{kind="events"}`), float64(2*batches),
				"every batch reached a replica")
		})
	}
}

// TestConnectsLateAndReconnects: ingest started while the broker is down
// connects once it is up, and after the broker restarts it reconnects,
// subscribes again and republishes the retained orders the broker lost.
func TestConnectsLateAndReconnects(t *testing.T) {
	log, _ := captureLogger(t)
	// A free port for a broker that is not there yet.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	st := storetest.Open(t, storetest.SQLiteDSN(t), log)
	pw := testkit.RandHex(8)
	ilog, _ := captureLogger(t)
	in, err := ingest.New(ingest.Config{Broker: "tcp://" + addr, Username: "central", Password: pw}, st, nil, ilog)
	require.NoError(t, err)
	require.NoError(t, in.Start(context.Background()))
	t.Cleanup(func() { _ = in.Close(context.Background()) })
	require.False(t, in.Connected())
	require.ErrorIs(t, in.PublishOrders(context.Background(), "L1"), ingest.ErrNotConnected)

	startBroker := func() mqttBroker {
		b, err := broker.New(broker.Config{Listen: addr, ServiceUser: "central", ServicePassword: pw}, anyLine{}, log)
		require.NoError(t, err)
		require.NoError(t, b.Start(context.Background()))
		t.Cleanup(func() { _ = b.Close() })
		return mqttBroker{url: "tcp://" + addr, embedded: true, close: b.Close}
	}
	b := startBroker()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, in.WaitReady(ctx))

	c := &central{st: st, in: in, ctx: sqldb.WithActor(ctx, "user:test")}
	require.NoError(t, st.PutProduct(c.ctx, testProduct()))
	l := c.newLine(t, 10)
	require.NoError(t, in.PublishOrders(ctx, l.id))

	require.NoError(t, b.close())
	testkit.Eventually(t, "connection loss noticed", func() bool { return !in.Connected() })
	startBroker() // empty: no retained orders, no subscriptions

	e := mustEdge(t, b, l.id)
	o := e.nextOrders(t) // republished on reconnect
	require.Equal(t, l.order, o.Orders[0].ID)
	e.sendEvents(t, l.events(t, 1, 2))
	require.Equal(t, uint64(2), e.awaitAck(t, 2).Seq)
}

// TestCloseWhileConnecting: Close ends the background connection attempts
// to a broker that is not there, and a closed ingest does not start again.
func TestCloseWhileConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	log, _ := captureLogger(t)
	in, err := ingest.New(ingest.Config{Broker: "tcp://" + addr}, storetest.Open(t, storetest.SQLiteDSN(t), log), nil, log)
	require.NoError(t, err)
	require.NoError(t, in.Start(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, in.Close(ctx))
	require.NoError(t, ctx.Err(), "Close returned without waiting for its deadline")
	require.ErrorIs(t, in.Start(context.Background()), ingest.ErrClosed)
	require.ErrorIs(t, in.WaitReady(context.Background()), ingest.ErrClosed)
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	st := &store.Store{}
	log, _ := captureLogger(t)
	for _, tc := range []struct {
		cfg  ingest.Config
		want string
	}{
		{ingest.Config{}, "mqtt.broker: missing"},
		{ingest.Config{Broker: "mqtt://h:1"}, `mqtt.broker: "mqtt://h:1": scheme "mqtt" is not supported`},
		{ingest.Config{Broker: "tcp://h"}, "mqtt.broker: \"tcp://h\" has no host:port"},
		{ingest.Config{Broker: "tcp://h:1", Username: "a b"}, "mqtt.service_user:"},
		{ingest.Config{Broker: "tcp://h:1", ShareGroup: "a/b"}, "mqtt.share_group:"},
		{ingest.Config{Broker: "tcp://h:1", MaxMergeEvents: -1}, "ingest.max_merge_events:"},
		{ingest.Config{Broker: "tcp://h:1", LineQueue: 1 << 20}, "ingest.line_queue:"},
		{ingest.Config{Broker: "tcp://h:1", GapAlert: -time.Second}, "ingest.gap_alert: -1s is negative"},
		{ingest.Config{Broker: "tcp://h:1", Retries: 101}, "ingest.retries:"},
	} {
		_, err := ingest.New(tc.cfg, st, nil, log)
		require.ErrorIs(t, err, ingest.ErrInvalidConfig)
		require.ErrorContains(t, err, tc.want)
	}
}
