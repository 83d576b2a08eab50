package pool

import "time"

// rateSamples is how many recent takes the rate is measured over.
const rateSamples = 256

// idleAfter: with no take for this long the line is taken as stopped, and
// the last measured rate stands (time to empty stays meaningful while the
// line pauses).
const idleAfter = time.Minute

// rateMeter measures the take rate over the last rateSamples takes
// without allocating.
type rateMeter struct {
	at   [rateSamples]int64 // unix nanoseconds, a ring
	n    int                // samples held (≤ rateSamples)
	head int                // next slot to write
	last float64            // last rate measured while running, units/min
}

func (r *rateMeter) add(t time.Time) {
	r.at[r.head] = t.UnixNano()
	r.head = (r.head + 1) % rateSamples
	if r.n < rateSamples {
		r.n++
	}
}

// perMinute is the current rate in units/min, or the last one while idle,
// or nominal before any was measured.
func (r *rateMeter) perMinute(now time.Time, nominal float64) float64 {
	if r.n >= 2 {
		newest := r.at[(r.head-1+rateSamples)%rateSamples]
		oldest := r.at[(r.head-r.n+rateSamples)%rateSamples]
		if now.UnixNano()-newest < int64(idleAfter) && newest > oldest {
			r.last = float64(r.n-1) / (float64(newest-oldest) / float64(time.Minute))
		}
	}
	if r.last > 0 {
		return r.last
	}
	return nominal
}
