package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/broker"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// TestFloodFromOneLine is issue 15's flood: line X publishes 50,000 junk
// messages as fast as it can (not JSON on its events topic, QoS 0 on it,
// and on line Y's topic, which it may not use) while line Y produces
// valid batches, through the embedded broker and the real ingest. Every
// event of Y is applied and acked, with no resend (Y publishes each batch
// once); nothing is dropped toward central; and every junk message is a
// dead letter or a counted drop.
func TestFloodFromOneLine(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			log, lb := captureLogger(t)
			st := storetest.Open(t, be.DSN(t), log)
			pw := testkit.RandHex(16)
			br, err := broker.New(broker.Config{Listen: "127.0.0.1:0", ServiceUser: "central", ServicePassword: pw}, anyLine{}, log,
				broker.WithDropKeeper(ingest.DropKeeper(st)))
			require.NoError(t, err)
			reg := br.Metrics()
			require.NoError(t, br.Start(context.Background()))
			t.Cleanup(func() { _ = br.Close() })
			b := mqttBroker{name: "embedded", url: "tcp://" + br.Addr(), user: "central", pw: pw, embedded: true}
			ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "user:test"), 2*time.Minute)
			t.Cleanup(cancel)
			require.NoError(t, st.PutProduct(ctx, testProduct()))
			in, _, _ := startIngest(t, st, b, "g"+testkit.RandHex(4), nil)
			c := &central{st: st, in: in, reg: reg, ctx: ctx, log: lb}

			x, y := c.newLine(t, 0), c.newLine(t, 1000)
			ex, ey := mustEdge(t, b, x.id), mustEdge(t, b, y.id)

			const junk = 50_000
			var qos0, denied, bad int
			toks := make(chan paho.Token, junk)
			flooded, flooding := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(flooded)
				own, _ := wire.Topic(x.id, wire.KindEvents)
				other, _ := wire.Topic(y.id, wire.KindEvents)
				for i := range junk {
					if i == junk/10 {
						close(flooding)
					}
					switch i % 10 {
					case 0:
						toks <- ex.Publish(own, 0, false, fmt.Sprintf("junk %d at QoS 0", i))
					case 1:
						toks <- ex.Publish(other, 1, false, fmt.Sprintf("junk %d on another line's topic", i))
					default:
						toks <- ex.Publish(own, 1, false, fmt.Sprintf("junk %d", i))
					}
				}
				close(toks)
			}()
			for i := range junk {
				switch i % 10 {
				case 0:
					qos0++
				case 1:
					denied++
				default:
					bad++
				}
			}
			select {
			case <-flooding:
			case <-time.After(waitFor):
				t.Fatalf("%d junk messages not published within %v", junk/10, waitFor)
			}

			// Y produces while X floods: 20 batches of 50, each sent once.
			start := time.Now()
			for from := uint64(1); from <= 1000; from += 50 {
				ey.sendEvents(t, y.events(t, from, from+49))
			}
			require.Equal(t, uint64(1000), ey.awaitAck(t, 1000).Seq)
			yTook := time.Since(start)
			require.Equal(t, uint64(1000), unitCount(t, c, y.order))
			require.Empty(t, deadLetters(t, c, y.id), "nothing of Y is a dead letter")
			select {
			case <-flooded:
			case <-time.After(time.Minute):
				t.Fatal("the flood was not all published within a minute")
			}
			for tok := range toks {
				require.True(t, tok.WaitTimeout(waitFor))
				require.NoError(t, tok.Error())
			}

			// Every junk message: a dead letter of X (ingest's for the
			// junk, the broker's for QoS 0) or a counted drop (denied).
			deadlineX := time.Now().Add(time.Minute)
			var n int
			for {
				d, err := st.DeadLetters(ctx, lineevents.DeadLetterFilter{Line: x.id, Limit: 2 * junk})
				require.NoError(t, err)
				n = len(d)
				if n >= bad+qos0 || time.Now().After(deadlineX) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			notKept := metric(t, reg, "serialine_mqtt_drops_not_kept_total")
			require.Equal(t, float64(bad+qos0), float64(n)+notKept, "dead letters of X")
			require.Equal(t, float64(qos0), metric(t, reg, `serialine_mqtt_dropped_messages_total{reason="qos0"}`))
			require.Equal(t, float64(denied), metric(t, reg, `serialine_mqtt_dropped_messages_total{reason="denied"}`))
			for _, r := range []string{"inflight_full", "writes_pending", "too_large"} {
				require.Zero(t, metric(t, reg, `serialine_mqtt_dropped_messages_total{reason="`+r+`"}`), r)
			}
			require.Positive(t, metric(t, reg, fmt.Sprintf(`serialine_mqtt_backpressure_waits_total{line="%s"}`, x.id)), "the flood was held back")
			require.Zero(t, metric(t, reg, fmt.Sprintf(`serialine_mqtt_backpressure_waits_total{line="%s"}`, y.id)), "Y never was")
			t.Logf("flood of %d: %d dead letters of %s, %d drops counted, %.1f s of backpressure; Y's 1,000 events acked %v after its first batch",
				junk, n, x.id, denied, metric(t, reg, fmt.Sprintf(`serialine_mqtt_backpressure_seconds_total{line="%s"}`, x.id)), yTook.Round(time.Millisecond))
		})
	}
}
