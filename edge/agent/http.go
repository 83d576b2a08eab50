package agent

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/serialine/serialine/edge/pool"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/metrics"
	"github.com/serialine/serialine/shared/wire"
)

// handler serves /metrics, the line's state and the handlers mounted with
// Handle (the touchscreen, which alone may act on the line: it asks for an
// operator's PIN first). It returns the mounted handlers that want closing
// before the server shuts down.
func (a *Agent) handler() (http.Handler, []interface{ Close() }, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", a.serveMetrics)
	mux.HandleFunc("GET /api/v1/state", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, a.State())
	})
	a.mu.Lock()
	extra := append([]mounted(nil), a.extra...)
	a.mu.Unlock()
	var closers []interface{ Close() }
	for _, m := range extra {
		if err := register(mux, m); err != nil {
			for _, c := range closers {
				c.Close()
			}
			return nil, nil, err
		}
		if c, ok := m.h.(interface{ Close() }); ok {
			closers = append(closers, c)
		}
	}
	return mux, closers, nil
}

// register mounts m, turning ServeMux's panic on a bad pattern into an error.
func register(mux *http.ServeMux, m mounted) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("http: handler %q: %v", m.pattern, r)
		}
	}()
	mux.Handle(m.pattern, m.h)
	return nil
}

// scrape is the state one /metrics answer reports: taken once, read by
// every family, so the figures agree with each other.
type scrape struct {
	mu sync.Mutex // one scrape at a time
	s  State
}

// newMetrics registers the agent's families (shared/metrics): all computed
// at scrape time from the line's state, each series labelled with the line.
func (a *Agent) newMetrics() *metrics.Registry {
	r := metrics.NewRegistry()
	sc := &a.scrape
	line := a.cfg.Line
	one := func(v float64, labels ...string) []metrics.Sample {
		return []metrics.Sample{{Labels: append([]string{line}, labels...), Value: v}}
	}
	gauge := func(name, help string, fn func(s State) []metrics.Sample, labels ...string) {
		r.GaugeFunc(name, help, func() []metrics.Sample { return fn(sc.s) }, append([]string{"line"}, labels...)...)
	}
	counter := func(name, help string, fn func(s State) []metrics.Sample, labels ...string) {
		r.CounterFunc(name, help, func() []metrics.Sample { return fn(sc.s) }, append([]string{"line"}, labels...)...)
	}
	gauge("serialine_edge_line_state", "1 for the line's current state (running, paused, stopped, alarm, offline).", func(s State) []metrics.Sample {
		var out []metrics.Sample
		for _, st := range []wire.LineState{wire.LineRunning, wire.LinePaused, wire.LineStopped, wire.LineAlarm, wire.LineOffline} {
			out = append(out, one(b2f(s.State == st), string(st))...)
		}
		return out
	}, "state")
	gauge("serialine_edge_alarms", "Alarms shown to the operator.", func(s State) []metrics.Sample { return one(float64(len(s.Alarms))) })
	for _, c := range []struct {
		name, help string
		v          func(station.Counts) uint64
	}{
		{"serialine_edge_triggers_total", "Product triggers from the PLC.", func(c station.Counts) uint64 { return c.Triggers }},
		{"serialine_edge_printed_total", "Print jobs handed to the printer.", func(c station.Counts) uint64 { return c.Printed }},
		{"serialine_edge_voided_total", "Serials voided because the printer refused the job.", func(c station.Counts) uint64 { return c.Voided }},
		{"serialine_edge_results_missed_total", "Units whose camera result never came (taken as no-reads).", func(c station.Counts) uint64 { return c.Missed }},
		{"serialine_edge_results_unmatched_total", "Camera results that belonged to no tracked unit.", func(c station.Counts) uint64 { return c.Unmatch }},
		{"serialine_edge_label_shifts_total", "Labels seen on another unit than the one printed for.", func(c station.Counts) uint64 { return c.Shifts }},
		{"serialine_edge_rejects_sent_total", "Reject requests the PLC acknowledged.", func(c station.Counts) uint64 { return c.RejectsSent }},
		{"serialine_edge_rejects_failed_total", "Reject requests the PLC did not get.", func(c station.Counts) uint64 { return c.RejectsFailed }},
	} {
		counter(c.name, c.help, func(s State) []metrics.Sample { return one(float64(c.v(s.Counts))) })
	}
	counter("serialine_edge_units_total", "Units decided at the camera, by outcome and reason.", func(s State) []metrics.Sample {
		c := s.Counts
		out := one(float64(c.Good), "commissioned", "")
		for _, r := range wire.Reasons() {
			out = append(out, one(float64(c.Rejected[r]), "decommissioned", string(r))...)
		}
		out = append(out, one(float64(c.Blank), "blank", "")...)
		return append(out, one(float64(c.Ghosts), "untracked", "")...)
	}, "outcome", "reason")
	gauge("serialine_edge_rate_units_per_minute", "Trigger rate.", func(s State) []metrics.Sample { return one(s.Rate) })
	gauge("serialine_edge_units_in_flight", "Units between print station and camera.", func(s State) []metrics.Sample { return one(float64(s.InFlight)) })
	gauge("serialine_edge_print_latency_seconds", "Trigger to print job handed to the printer, over the last units, by quantile.", func(s State) []metrics.Sample {
		return append(one(s.PrintLatency[0].Seconds(), "0.5"), one(s.PrintLatency[1].Seconds(), "0.99")...)
	}, "quantile")
	gauge("serialine_edge_device_up", "1 while a device reports healthy.", func(s State) []metrics.Sample {
		var out []metrics.Sample
		for d, h := range s.Devices {
			out = append(out, one(b2f(h.State == wire.DeviceOK), d)...)
		}
		return out
	}, "device")
	poolGauge := func(fn func(p *pool.Level) float64) func(s State) []metrics.Sample {
		return func(s State) []metrics.Sample {
			if s.Pool == nil {
				return nil
			}
			return one(fn(s.Pool), s.Pool.Order)
		}
	}
	gauge("serialine_edge_pool_available", "Serials granted and not yet used for the current order.", poolGauge(func(p *pool.Level) float64 { return float64(p.Available) }), "order")
	gauge("serialine_edge_pool_minutes_left", "Minutes of production the pool holds at the current rate.", poolGauge(func(p *pool.Level) float64 { return p.MinutesLeft }), "order")
	counter("serialine_edge_pool_granted_total", "Serials granted to the current order.", poolGauge(func(p *pool.Level) float64 { return float64(p.Granted) }), "order")
	gauge("serialine_edge_pool_request_pending", "1 while a serial request awaits its grant.", poolGauge(func(p *pool.Level) float64 { return b2f(p.Pending != "") }), "order")
	gauge("serialine_edge_outbox_pending", "Events not yet acknowledged by central.", func(s State) []metrics.Sample { return one(float64(s.Outbox.Pending)) })
	gauge("serialine_edge_outbox_last_seq", "Seq of the last event committed.", func(s State) []metrics.Sample { return one(float64(s.Outbox.LastSeq)) })
	gauge("serialine_edge_outbox_acked_seq", "Highest seq central acknowledged.", func(s State) []metrics.Sample { return one(float64(s.Outbox.Acked)) })
	counter("serialine_edge_outbox_commits_total", "Group-commit transactions.", func(s State) []metrics.Sample { return one(float64(s.Outbox.Commits)) })
	counter("serialine_edge_outbox_events_total", "Events committed.", func(s State) []metrics.Sample { return one(float64(s.Outbox.Events)) })
	counter("serialine_edge_outbox_batches_total", "Event batches published.", func(s State) []metrics.Sample { return one(float64(s.Outbox.Batches)) })
	counter("serialine_edge_outbox_resends_total", "Restarts of publishing from the last ack.", func(s State) []metrics.Sample { return one(float64(s.Outbox.Resends)) })
	gauge("serialine_edge_mqtt_connected", "1 while connected to the broker.", func(s State) []metrics.Sample { return one(b2f(s.Outbox.Connected)) })
	return r
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// serveMetrics writes the agent's counters and gauges from one snapshot of
// its state.
func (a *Agent) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	a.scrape.mu.Lock()
	defer a.scrape.mu.Unlock()
	a.scrape.s = a.State()
	w.Header().Set("Content-Type", metrics.ContentType)
	_ = a.metrics.WriteText(w)
}
