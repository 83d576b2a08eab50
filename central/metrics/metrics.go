// Package metrics is a tiny registry of counters and gauges written in the
// Prometheus text exposition format (version 0.0.4), so that /metrics needs
// no client library. It knows counters, gauges and gauges computed at
// scrape time; that is all central reports.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Registry holds metrics and writes them. The zero value is not usable;
// call NewRegistry. It is safe for concurrent use.
type Registry struct {
	mu      sync.Mutex
	metrics map[string]writer
}

// writer is one metric family.
type writer interface {
	write(w *bufio.Writer)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{metrics: make(map[string]writer)}
}

// register adds a family. A bad or repeated name is a programming error
// (names are constants in the code), so it panics, as a bad regexp literal
// would.
func (r *Registry) register(name string, labels []string, m writer) {
	if !validName(name) {
		panic(fmt.Sprintf("metrics: %q is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", name))
	}
	for _, l := range labels {
		if !validName(l) || strings.Contains(l, ":") || strings.HasPrefix(l, "__") {
			panic(fmt.Sprintf("metrics: %s: %q is not a valid label name", name, l))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.metrics[name]; dup {
		panic(fmt.Sprintf("metrics: %s is registered twice", name))
	}
	r.metrics[name] = m
}

// Counter registers a counter: a value that only goes up (name it
// ..._total). labels name its label dimensions; each Add passes values
// for them, in the same order.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	c := &Counter{vec: newVec(name, help, "counter", labels)}
	r.register(name, labels, c)
	return c
}

// Gauge registers a gauge: a value that goes up and down.
func (r *Registry) Gauge(name, help string, labels ...string) *Gauge {
	g := &Gauge{vec: newVec(name, help, "gauge", labels)}
	r.register(name, labels, g)
	return g
}

// Sample is one series of a GaugeFunc: its label values (in the order of
// the registered labels) and its value.
type Sample struct {
	Labels []string
	Value  float64
}

// GaugeFunc registers a gauge whose series fn computes at every scrape,
// for values that are cheaper to compute than to keep up to date (ages,
// sizes). fn must be quick and safe for concurrent use.
func (r *Registry) GaugeFunc(name, help string, fn func() []Sample, labels ...string) {
	r.register(name, labels, &gaugeFunc{name: name, help: help, typ: "gauge", labels: labels, fn: fn})
}

// CounterFunc registers a counter whose series fn reads at every scrape,
// for counts kept elsewhere (another library's counters). fn must be
// quick, safe for concurrent use, and its values must only go up.
func (r *Registry) CounterFunc(name, help string, fn func() []Sample, labels ...string) {
	r.register(name, labels, &gaugeFunc{name: name, help: help, typ: "counter", labels: labels, fn: fn})
}

// Include adds every family of other to r, as they are at the time of the
// call: r writes them with its own. A component that keeps its metrics
// in a registry of its own (created before it is known whether it will
// run) is added to the process's registry once it does. A name both have
// panics, as registering it twice does.
func (r *Registry) Include(other *Registry) {
	other.mu.Lock()
	fams := make(map[string]writer, len(other.metrics))
	for n, m := range other.metrics {
		fams[n] = m
	}
	other.mu.Unlock()
	for _, n := range slices.Sorted(maps.Keys(fams)) {
		r.register(n, nil, fams[n])
	}
}

// WriteText writes every metric in the Prometheus text format, families by
// name and series by label values, so that the output is stable.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.metrics))
	for n := range r.metrics {
		names = append(names, n)
	}
	fams := make([]writer, len(names))
	slices.Sort(names)
	for i, n := range names {
		fams[i] = r.metrics[n]
	}
	r.mu.Unlock()
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		f.write(bw)
	}
	return bw.Flush()
}

// ContentType is the media type of WriteText's output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves WriteText on GET (and HEAD).
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		_ = r.WriteText(w)
	})
}

// vec is a family of series keyed by label values.
type vec struct {
	name, help, typ string
	labels          []string

	mu     sync.Mutex
	series map[string]*series
}

type series struct {
	values []string
	v      float64
}

func newVec(name, help, typ string, labels []string) vec {
	return vec{name: name, help: help, typ: typ, labels: slices.Clone(labels), series: make(map[string]*series)}
}

// get returns the series for values, creating it. A wrong number of
// values is a programming error and panics.
func (v *vec) get(values []string) *series {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s has labels %v, got %d values %q", v.name, v.labels, len(values), values))
	}
	key := strings.Join(values, "\xff")
	s, ok := v.series[key]
	if !ok {
		s = &series{values: slices.Clone(values)}
		v.series[key] = s
	}
	return s
}

func (v *vec) write(w *bufio.Writer) {
	v.mu.Lock()
	samples := make([]Sample, 0, len(v.series))
	for _, s := range v.series {
		samples = append(samples, Sample{Labels: s.values, Value: s.v})
	}
	v.mu.Unlock()
	writeFamily(w, v.name, v.help, v.typ, v.labels, samples)
}

// Counter is a family of counters; see Registry.Counter.
type Counter struct{ vec }

// Add adds delta (which must not be negative; a negative delta is
// ignored) to the series with labelValues.
func (c *Counter) Add(delta float64, labelValues ...string) {
	if delta < 0 || math.IsNaN(delta) {
		return
	}
	c.mu.Lock()
	c.get(labelValues).v += delta
	c.mu.Unlock()
}

// Inc adds 1.
func (c *Counter) Inc(labelValues ...string) { c.Add(1, labelValues...) }

// Value returns the series' value (0 if it was never touched).
func (c *Counter) Value(labelValues ...string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.get(labelValues).v
}

// Gauge is a family of gauges; see Registry.Gauge.
type Gauge struct{ vec }

// Set sets the series with labelValues to v.
func (g *Gauge) Set(v float64, labelValues ...string) {
	g.mu.Lock()
	g.get(labelValues).v = v
	g.mu.Unlock()
}

// Add adds delta (possibly negative).
func (g *Gauge) Add(delta float64, labelValues ...string) {
	g.mu.Lock()
	g.get(labelValues).v += delta
	g.mu.Unlock()
}

// Value returns the series' value (0 if it was never set).
func (g *Gauge) Value(labelValues ...string) float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.get(labelValues).v
}

// Delete removes the series with labelValues, e.g. a line that no longer
// has a gap.
func (g *Gauge) Delete(labelValues ...string) {
	g.mu.Lock()
	delete(g.series, strings.Join(labelValues, "\xff"))
	g.mu.Unlock()
}

// gaugeFunc is a family computed at scrape time (a gauge, or a counter
// kept elsewhere).
type gaugeFunc struct {
	name, help, typ string
	labels          []string
	fn              func() []Sample
}

func (g *gaugeFunc) write(w *bufio.Writer) {
	var ok []Sample
	for _, s := range g.fn() {
		if len(s.Labels) == len(g.labels) {
			ok = append(ok, s)
		}
	}
	writeFamily(w, g.name, g.help, g.typ, g.labels, ok)
}

func writeFamily(w *bufio.Writer, name, help, typ string, labels []string, samples []Sample) {
	slices.SortFunc(samples, func(a, b Sample) int { return slices.Compare(a.Labels, b.Labels) })
	w.WriteString("# HELP " + name + " " + escapeHelp(help) + "\n")
	w.WriteString("# TYPE " + name + " " + typ + "\n")
	if len(labels) == 0 && len(samples) == 0 {
		// An unlabelled metric exists from registration on, at 0.
		samples = []Sample{{}}
	}
	for _, s := range samples {
		w.WriteString(name)
		if len(labels) > 0 {
			w.WriteByte('{')
			for i, l := range labels {
				if i > 0 {
					w.WriteByte(',')
				}
				w.WriteString(l + `="` + escapeLabel(s.Labels[i]) + `"`)
			}
			w.WriteByte('}')
		}
		w.WriteByte(' ')
		w.WriteString(formatValue(s.Value))
		w.WriteByte('\n')
	}
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// escape writes s with backslash and newline escaped, and the double
// quote too inside label values.
func escape(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func escapeHelp(s string) string  { return escape(s, false) }
func escapeLabel(s string) string { return escape(s, true) }

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
