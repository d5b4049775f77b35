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
	first := r.first // the first answer gives the first latency: size at once
	for {
		select {
		case <-finished:
			return
		case <-first:
			first = nil
		case <-t.C:
		}
		r.latencyMu.Lock()
		lat, jitter := r.latency, r.latencyJitter
		r.latencyMu.Unlock()
		if lat == 0 {
			continue
		}
		n := poolSize(r.lim.Rate(), lat, jitter)
		if old := int(r.size.Load()); n != old {
			r.resize(n)
			r.Log.Debug().Int("workers", n).Int("was", old).Float64("latency_ms", math.Round(lat*1000)).Msg("pool resized")
		}
	}
}

// poolSize is the number of workers that keeps rate requests a second
// going when a request takes latency seconds, give or take jitter.
func poolSize(rate, latency, jitter float64) int {
	if math.IsInf(rate, 1) {
		return autoUnlimited
	}
	n := int(math.Ceil(rate*(latency+3*jitter)*1.2)) + 2
	return min(max(n, autoMin), autoMax)
}

// progress logs how far the run is, every Options.Progress.
func (r *run) progress(finished <-chan struct{}) {
	t := time.NewTicker(r.Progress)
	defer t.Stop()
	last, lastAt := int64(0), r.Now()
	for {
		select {
		case <-finished:
			return
		case <-t.C:
		}
		now := r.Now()
		rec := r.recorded.Load()
		perSec := float64(rec-last) / now.Sub(lastAt).Seconds()
		last, lastAt = rec, now
		done := int(rec + r.skipped.Load())
		ev := r.Log.Info().Int("done", done).Float64("rows_per_second", math.Round(perSec*10)/10).
			Int64("requests", r.Client.Requests()).Str("rate_limit", fmtRate(r.lim.lim.Limit())).
			Int64("workers", r.size.Load())
		if r.Total > 0 {
			ev = ev.Int("total", r.Total)
			if left := r.Total - done; left > 0 && perSec > 0 {
				ev = ev.Str("eta", time.Duration(float64(left)/perSec*float64(time.Second)).Round(time.Second).String())
			}
		}
		ev.Msg("progress")
	}
}
