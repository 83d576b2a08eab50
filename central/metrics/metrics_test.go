package metrics_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/metrics"
)

func text(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, r.WriteText(&b))
	return b.String()
}

func TestWriteText(t *testing.T) {
	tests := []struct {
		name string
		fill func(r *metrics.Registry)
		want string
	}{
		{
			name: "unlabelled counter exists at zero",
			fill: func(r *metrics.Registry) { r.Counter("a_total", "Things.") },
			want: "# HELP a_total Things.\n# TYPE a_total counter\na_total 0\n",
		},
		{
			name: "labelled counter sorted by label values",
			fill: func(r *metrics.Registry) {
				c := r.Counter("events_total", "Events by outcome.", "outcome")
				c.Add(3, "held")
				c.Add(500, "applied")
				c.Inc("applied")
				c.Add(-5, "applied") // ignored: counters only go up
			},
			want: "# HELP events_total Events by outcome.\n# TYPE events_total counter\n" +
				"events_total{outcome=\"applied\"} 501\nevents_total{outcome=\"held\"} 3\n",
		},
		{
			name: "labelled family without series has only HELP and TYPE",
			fill: func(r *metrics.Registry) { r.Gauge("g", "G.", "line") },
			want: "# HELP g G.\n# TYPE g gauge\n",
		},
		{
			name: "gauge set, add, delete; families sorted by name",
			fill: func(r *metrics.Registry) {
				g := r.Gauge("seq", "Acked seq.", "line", "kind")
				g.Set(10, "L2", "x")
				g.Set(7, "L1", "x")
				g.Add(-2, "L1", "x")
				g.Set(1, "L3", "x")
				g.Delete("L3", "x")
				r.Counter("b_total", "B.")
			},
			want: "# HELP b_total B.\n# TYPE b_total counter\nb_total 0\n" +
				"# HELP seq Acked seq.\n# TYPE seq gauge\nseq{line=\"L1\",kind=\"x\"} 5\nseq{line=\"L2\",kind=\"x\"} 10\n",
		},
		{
			name: "escaping of help and label values",
			fill: func(r *metrics.Registry) {
				r.Gauge("esc", "back\\slash\nnew \"quoted\"", "v").Set(0.5, "a\"b\\c\nd")
			},
			want: "# HELP esc back\\\\slash\\nnew \"quoted\"\n# TYPE esc gauge\nesc{v=\"a\\\"b\\\\c\\nd\"} 0.5\n",
		},
		{
			name: "gauge func computed at scrape, wrong label counts dropped",
			fill: func(r *metrics.Registry) {
				r.GaugeFunc("age_seconds", "Age.", func() []metrics.Sample {
					return []metrics.Sample{{Labels: []string{"L2"}, Value: 2}, {Labels: []string{"L1"}, Value: 1e9}, {Labels: nil, Value: 3}}
				}, "line")
			},
			want: "# HELP age_seconds Age.\n# TYPE age_seconds gauge\nage_seconds{line=\"L1\"} 1e+09\nage_seconds{line=\"L2\"} 2\n",
		},
		{
			name: "counter func read at scrape",
			fill: func(r *metrics.Registry) {
				r.CounterFunc("drops_total", "Drops.", func() []metrics.Sample {
					return []metrics.Sample{{Labels: []string{"b"}, Value: 2}, {Labels: []string{"a"}, Value: 7}}
				}, "reason")
			},
			want: "# HELP drops_total Drops.\n# TYPE drops_total counter\ndrops_total{reason=\"a\"} 7\ndrops_total{reason=\"b\"} 2\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := metrics.NewRegistry()
			tc.fill(r)
			require.Equal(t, tc.want, text(t, r))
		})
	}
}

// TestInclude: a registry includes another's families and writes them
// with its own, with their values as they change; a name twice panics.
func TestInclude(t *testing.T) {
	own, other := metrics.NewRegistry(), metrics.NewRegistry()
	own.Counter("a_total", "A.").Inc()
	c := other.Counter("b_total", "B.", "reason")
	own.Include(other)
	c.Add(3, "x")
	require.Equal(t, "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n# HELP b_total B.\n# TYPE b_total counter\nb_total{reason=\"x\"} 3\n", text(t, own))
	require.Panics(t, func() { own.Include(other) })
}

func TestRegistrationMistakesPanic(t *testing.T) {
	tests := []struct {
		name string
		fn   func(r *metrics.Registry)
	}{
		{"bad metric name", func(r *metrics.Registry) { r.Counter("1abc", "x") }},
		{"dash in name", func(r *metrics.Registry) { r.Counter("a-b", "x") }},
		{"bad label name", func(r *metrics.Registry) { r.Gauge("a", "x", "la-bel") }},
		{"reserved label name", func(r *metrics.Registry) { r.Gauge("a", "x", "__name") }},
		{"twice", func(r *metrics.Registry) { r.Counter("a", "x"); r.Gauge("a", "y") }},
		{"wrong number of label values", func(r *metrics.Registry) { r.Counter("a", "x", "line").Inc() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Panics(t, func() { tc.fn(metrics.NewRegistry()) })
		})
	}
}

func TestConcurrentUpdates(t *testing.T) {
	r := metrics.NewRegistry()
	c := r.Counter("n_total", "N.", "line")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Inc([]string{"L1", "L2"}[i%2])
				_ = text(t, r)
			}
		})
	}
	wg.Wait()
	require.Equal(t, 4000.0, c.Value("L1"))
	require.Equal(t, 4000.0, c.Value("L2"))
}

func TestHandler(t *testing.T) {
	r := metrics.NewRegistry()
	r.Counter("hits_total", "Hits.").Add(2)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: r.Handler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, metrics.ContentType, resp.Header.Get("Content-Type"))
	require.Contains(t, string(body), "\nhits_total 2\n")

	resp, err = http.Post("http://"+ln.Addr().String()+"/metrics", "text/plain", nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}
