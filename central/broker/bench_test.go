package broker

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// BenchmarkBrokerPublish measures the raw rate of QoS 1 messages of 1 KB
// (an event batch) from one line through the embedded broker to one
// subscriber, both paho over loopback TCP. It is the ceiling the ingest
// figures are compared with. At most `window` messages are between publish
// and receipt, as with a real edge, so the broker never has to drop.
func BenchmarkBrokerPublish(b *testing.B) {
	const (
		size   = 1024
		window = 256
	)
	br, err := New(testConfig(), staticCreds(b), slog.New(slog.DiscardHandler))
	require.NoError(b, err)
	require.NoError(b, br.Start(context.Background()))
	b.Cleanup(func() { require.NoError(b, br.Close()) })

	inflight := make(chan struct{}, window)
	var received atomic.Int64
	done := make(chan struct{})
	want := int64(b.N)
	sub := mustDial(b, br.Addr(), "bench-central", serviceUser, testServicePassword)
	tok := sub.Subscribe("serialine/v1/lines/+/events", 1, func(paho.Client, paho.Message) {
		<-inflight
		if received.Add(1) == want {
			close(done)
		}
	})
	require.True(b, tok.WaitTimeout(waitFor))
	require.NoError(b, tok.Error())
	pub := mustDial(b, br.Addr(), "bench-L1", "L1", testLines()["L1"])
	events := topic("L1", "events")
	payload := make([]byte, size)

	b.SetBytes(size)
	b.ResetTimer()
	var last paho.Token
	for range b.N {
		inflight <- struct{}{}
		last = pub.Publish(events, 1, false, payload)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("subscriber got %d of %d messages", received.Load(), b.N)
	}
	b.StopTimer()
	require.True(b, last.WaitTimeout(waitFor))
	require.NoError(b, last.Error())
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
