package station

import (
	"sort"
	"sync"
	"time"
)

// latencyKeep is how many trigger → print latencies are kept.
const latencyKeep = 1 << 16

// latencies keeps the trigger → print job times of the last units.
type latencies struct {
	mu   sync.Mutex
	d    []time.Duration
	next int
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	if len(l.d) < cap(l.d) {
		l.d = append(l.d, d)
	} else {
		l.d[l.next] = d
		l.next = (l.next + 1) % len(l.d)
	}
	l.mu.Unlock()
}

// PrintLatencies returns the trigger → print job times of up to the last
// 65,536 units, sorted, and clears them.
func (s *Station) PrintLatencies() []time.Duration {
	s.lat.mu.Lock()
	out := append([]time.Duration(nil), s.lat.d...)
	s.lat.d, s.lat.next = s.lat.d[:0], 0
	s.lat.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// LatencyQuantiles returns the trigger → print job time at each quantile
// q (0..1) over the last units kept, without clearing them; zero before
// the first unit.
func (s *Station) LatencyQuantiles(qs ...float64) []time.Duration {
	s.lat.mu.Lock()
	d := append([]time.Duration(nil), s.lat.d...)
	s.lat.mu.Unlock()
	out := make([]time.Duration, len(qs))
	if len(d) == 0 {
		return out
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	for i, q := range qs {
		out[i] = d[min(len(d)-1, int(q*float64(len(d))))]
	}
	return out
}

// rateMeter measures units/min over the last 256 triggers.
type rateMeter struct {
	mu   sync.Mutex
	at   [256]int64
	n    int
	head int
}

func (r *rateMeter) add(t time.Time) {
	r.mu.Lock()
	r.at[r.head] = t.UnixNano()
	r.head = (r.head + 1) % len(r.at)
	r.n = min(r.n+1, len(r.at))
	r.mu.Unlock()
}

// perMinute is the trigger rate, 0 when the line has not moved for 10 s.
func (r *rateMeter) perMinute(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n < 2 {
		return 0
	}
	newest := r.at[(r.head-1+len(r.at))%len(r.at)]
	oldest := r.at[(r.head-r.n+len(r.at))%len(r.at)]
	if now.UnixNano()-newest > int64(10*time.Second) || newest <= oldest {
		return 0
	}
	return float64(r.n-1) / (float64(newest-oldest) / float64(time.Minute))
}
