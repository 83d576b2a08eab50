package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

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
		writeJSON(w, http.StatusOK, a.State())
	})
	a.mu.Lock()
	extra := append([]mounted(nil), a.extra...)
	a.mu.Unlock()
	var closers []interface{ Close() }
	for _, m := range extra {
		if err := register(mux, m); err != nil {
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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// metricsWriter writes the Prometheus text exposition format (0.0.4): a
// HELP and a TYPE line per family, then its samples.
type metricsWriter struct {
	w    *bufio.Writer
	line string
}

func (m *metricsWriter) family(name, typ, help string) {
	fmt.Fprintf(m.w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

// sample writes one sample with the line label and extra label pairs.
func (m *metricsWriter) sample(name string, v float64, labels ...string) {
	m.w.WriteString(name)
	m.w.WriteString(`{line="`)
	m.w.WriteString(escapeLabel(m.line))
	m.w.WriteByte('"')
	for i := 0; i+1 < len(labels); i += 2 {
		m.w.WriteByte(',')
		m.w.WriteString(labels[i])
		m.w.WriteString(`="`)
		m.w.WriteString(escapeLabel(labels[i+1]))
		m.w.WriteByte('"')
	}
	m.w.WriteString("} ")
	m.w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	m.w.WriteByte('\n')
}

func (m *metricsWriter) one(name, typ, help string, v float64, labels ...string) {
	m.family(name, typ, help)
	m.sample(name, v, labels...)
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// serveMetrics writes the agent's counters and gauges.
func (a *Agent) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	s := a.State()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	m := &metricsWriter{w: bw, line: a.cfg.Line}
	c := s.Counts

	m.family("serialine_edge_line_state", "gauge", "1 for the line's current state (running, paused, stopped, alarm, offline).")
	for _, st := range []wire.LineState{wire.LineRunning, wire.LinePaused, wire.LineStopped, wire.LineAlarm, wire.LineOffline} {
		m.sample("serialine_edge_line_state", b2f(s.State == st), "state", string(st))
	}
	m.one("serialine_edge_alarms", "gauge", "Alarms shown to the operator.", float64(len(s.Alarms)))
	m.one("serialine_edge_triggers_total", "counter", "Product triggers from the PLC.", float64(c.Triggers))
	m.one("serialine_edge_printed_total", "counter", "Print jobs handed to the printer.", float64(c.Printed))
	m.family("serialine_edge_units_total", "counter", "Units decided at the camera, by outcome and reason.")
	m.sample("serialine_edge_units_total", float64(c.Good), "outcome", "commissioned", "reason", "")
	reasons := make([]string, 0, len(wire.Reasons()))
	for _, r := range wire.Reasons() {
		reasons = append(reasons, string(r))
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		m.sample("serialine_edge_units_total", float64(c.Rejected[wire.Reason(r)]), "outcome", "decommissioned", "reason", r)
	}
	m.sample("serialine_edge_units_total", float64(c.Blank), "outcome", "blank", "reason", "")
	m.sample("serialine_edge_units_total", float64(c.Ghosts), "outcome", "untracked", "reason", "")
	m.one("serialine_edge_voided_total", "counter", "Serials voided because the printer refused the job.", float64(c.Voided))
	m.one("serialine_edge_results_missed_total", "counter", "Units whose camera result never came (taken as no-reads).", float64(c.Missed))
	m.one("serialine_edge_results_unmatched_total", "counter", "Camera results that belonged to no tracked unit.", float64(c.Unmatch))
	m.one("serialine_edge_label_shifts_total", "counter", "Labels seen on another unit than the one printed for.", float64(c.Shifts))
	m.one("serialine_edge_rejects_sent_total", "counter", "Reject requests the PLC acknowledged.", float64(c.RejectsSent))
	m.one("serialine_edge_rejects_failed_total", "counter", "Reject requests the PLC did not get.", float64(c.RejectsFailed))
	m.one("serialine_edge_rate_units_per_minute", "gauge", "Trigger rate.", s.Rate)
	m.one("serialine_edge_units_in_flight", "gauge", "Units between print station and camera.", float64(s.InFlight))
	m.family("serialine_edge_print_latency_seconds", "gauge", "Trigger to print job handed to the printer, over the last units, by quantile.")
	m.sample("serialine_edge_print_latency_seconds", s.PrintLatency[0].Seconds(), "quantile", "0.5")
	m.sample("serialine_edge_print_latency_seconds", s.PrintLatency[1].Seconds(), "quantile", "0.99")

	m.family("serialine_edge_device_up", "gauge", "1 while a device reports healthy.")
	devs := make([]string, 0, len(s.Devices))
	for d := range s.Devices {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	for _, d := range devs {
		m.sample("serialine_edge_device_up", b2f(s.Devices[d].State == wire.DeviceOK), "device", d)
	}

	if p := s.Pool; p != nil {
		m.one("serialine_edge_pool_available", "gauge", "Serials granted and not yet used for the current order.", float64(p.Available), "order", p.Order)
		m.one("serialine_edge_pool_minutes_left", "gauge", "Minutes of production the pool holds at the current rate.", p.MinutesLeft, "order", p.Order)
		m.one("serialine_edge_pool_granted_total", "counter", "Serials granted to the current order.", float64(p.Granted), "order", p.Order)
		m.one("serialine_edge_pool_request_pending", "gauge", "1 while a serial request awaits its grant.", b2f(p.Pending != ""), "order", p.Order)
	}
	o := s.Outbox
	m.one("serialine_edge_outbox_pending", "gauge", "Events not yet acknowledged by central.", float64(o.Pending))
	m.one("serialine_edge_outbox_last_seq", "gauge", "Seq of the last event committed.", float64(o.LastSeq))
	m.one("serialine_edge_outbox_acked_seq", "gauge", "Highest seq central acknowledged.", float64(o.Acked))
	m.one("serialine_edge_outbox_commits_total", "counter", "Group-commit transactions.", float64(o.Commits))
	m.one("serialine_edge_outbox_events_total", "counter", "Events committed.", float64(o.Events))
	m.one("serialine_edge_outbox_batches_total", "counter", "Event batches published.", float64(o.Batches))
	m.one("serialine_edge_outbox_resends_total", "counter", "Restarts of publishing from the last ack.", float64(o.Resends))
	m.one("serialine_edge_mqtt_connected", "gauge", "1 while connected to the broker.", b2f(o.Connected))
}
