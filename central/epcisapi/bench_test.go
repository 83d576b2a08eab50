package epcisapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/epcis"
)

// heapWatch samples the heap in use while a benchmark runs and reports
// its peak: what "bounded memory" is measured by.
type heapWatch struct {
	peak atomic.Uint64
	stop chan struct{}
	done sync.WaitGroup
}

func watchHeap() *heapWatch {
	w := &heapWatch{stop: make(chan struct{})}
	runtime.GC()
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > w.peak.Load() {
				w.peak.Store(m.HeapInuse)
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *heapWatch) report(b *testing.B) {
	close(w.stop)
	w.done.Wait()
	b.ReportMetric(float64(w.peak.Load())/(1<<20), "peak-heap-MB")
}

// BenchmarkEPCISCapture10k captures a 10,000-event JSON-LD document
// through POST /epcis/capture and waits for its job (parse, hash IDs as
// GS1's reference computes them, validation, storage in one transaction),
// on each backend. Each op captures new events.
func BenchmarkEPCISCapture10k(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			e := newEnv(b, be.DSN(b))
			docs := make([][]byte, 0, 4)
			next := 0
			doc := func() []byte {
				d := shipDoc(b, next*10_000, 10_000, "shipping")
				next++
				return d
			}
			docs = append(docs, doc())
			w := watchHeap()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				if i >= len(docs) {
					docs = append(docs, doc())
				}
				body := docs[i]
				b.StartTimer()
				j := e.capture(b, auth.RolePlanner, body, "Content-Type", "application/ld+json")
				if j.Stored != 10_000 {
					b.Fatalf("stored %d of 10,000: %+v", j.Stored, j.Errors)
				}
			}
			b.ReportMetric(float64(b.N)*10_000/b.Elapsed().Seconds(), "events/s")
			w.report(b)
		})
	}
}

// BenchmarkEPCISPaged1M pages through 1,000,000 stored events on
// PostgreSQL with GET /epcis/events?perPage=10000, following the Link
// headers (100 pages): events/s, and the server's peak heap, which stays
// that of a page. The events are written with COPY and not timed.
func BenchmarkEPCISPaged1M(b *testing.B) {
	const total, perPage = 1_000_000, 10_000
	dsn := storetest.PostgresDSN(b)
	e := newEnv(b, dsn)
	seedEvents(b, dsn, total)
	h := e.h
	w := watchHeap()
	b.ResetTimer()
	for b.Loop() {
		path := fmt.Sprintf("/epcis/events?perPage=%d", perPage)
		n := 0
		for path != "" {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.Header.Set("Authorization", "Bearer "+e.tokens[auth.RoleAuditor])
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
			n += strings.Count(rec.Body.String(), `"eventID":`)
			path = ""
			if m := reNext.FindStringSubmatch(rec.Header().Get("Link")); m != nil {
				path = m[1]
			}
		}
		if n != total {
			b.Fatalf("paged %d of %d events", n, total)
		}
	}
	b.ReportMetric(float64(b.N)*total/b.Elapsed().Seconds(), "events/s")
	w.report(b)
}

// seedEvents writes n shipping events straight into epcis_events (records
// as the store writes them) with COPY.
func seedEvents(b *testing.B, dsn string, n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(b, err)
	defer conn.Close(context.Background())
	rec := t0.Add(time.Hour)
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"epcis_events"},
		[]string{"hash_id", "event_id", "event_type", "event_time", "record_time", "action", "biz_step", "disposition", "biz_location", "read_point", "source", "source_ref", "event"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			ev := epcis.Event{Type: epcis.ObjectEvent, Action: epcis.ActionObserve, EventTime: t0.Add(time.Duration(i) * time.Millisecond),
				EventTimeZoneOffset: "+00:00", EPCList: []string{fmt.Sprintf("urn:epc:id:sgtin:0614141.107346.%d", 1_000_000+i)},
				BizStep: "shipping", Disposition: "in_transit", ReadPoint: "urn:epc:id:sgln:0614141.07346.1234", RecordTime: &rec,
				EventID: fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", i)}
			doc, err := epcis.MarshalEventRecord(ev)
			if err != nil {
				return nil, err
			}
			i++
			return []any{fmt.Sprintf("seed-%d", i), ev.EventID, "ObjectEvent", ev.EventTime, rec, "OBSERVE", "shipping", "in_transit", "",
				"https://id.gs1.org/414/0614141073467/254/1234", "capture", "seed", string(doc)}, nil
		}))
	require.NoError(b, err)
	_, err = conn.Exec(ctx, "ANALYZE epcis_events")
	require.NoError(b, err)
}
