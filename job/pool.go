package job

import (
	"math"
	"time"
)

// Pool sizing when Options.Workers is 0 ("auto"): enough workers to keep
// the rate in force busy at the latency observed (Little's law, with room
// for the latency's spread), within bounds.
const (
	autoStart     = 16
	autoMin       = 4
	autoMax       = MaxWorkers
	autoUnlimited = 64 // when the rate is unlimited there is nothing to size from
	autoEvery     = 500 * time.Millisecond
)

// MaxWorkers bounds the pool that --workers auto sizes.
const MaxWorkers = 512

// sizePool resizes the pool from the latency observed until the run ends.
func (r *run) sizePool(finished <-chan struct{}) {
	t := time.NewTicker(autoEvery)
	defer t.Stop()
	first := r.policy.first // the first answer gives the first latency: size at once
	for {
		select {
		case <-finished:
			return
		case <-first:
			first = nil
		case <-t.C:
		}
		lat, jitter := r.policy.latencies()
		if lat == 0 {
			continue
		}
		n := poolSize(r.policy.lim.Rate(), lat, jitter)
		if old := r.sched.Size(); n != old {
			r.sched.Resize(n)
			r.log.Debug().Int("workers", n).Int("was", old).Float64("latency_ms", math.Round(lat*1000)).Msg("pool resized")
		}
	}
}

// poolSize is the number of workers that keeps rate requests a second
// going when a request takes latency seconds, give or take jitter.
func poolSize(rate, latency, jitter float64) int {
	if unlimited(rate) {
		return autoUnlimited
	}
	n := int(math.Ceil(rate*(latency+3*jitter)*1.2)) + 2
	return min(max(n, autoMin), autoMax)
}

// unlimited reports whether rate (requests a second, as Limiter.Rate
// gives it) is no limit: +Inf, or x/time/rate's Inf, which is MaxFloat64.
func unlimited(rate float64) bool {
	return math.IsInf(rate, 1) || rate >= math.MaxFloat64
}
