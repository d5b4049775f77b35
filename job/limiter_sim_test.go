package job

import (
	"container/heap"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
)

// A simulation drives a Limiter the way the pool does, on a clock of its
// own: workers book a slot, send when it comes (unless a pause voided
// it), and the emulator answers after a latency, its limits counting at
// the simulated time. Nothing sleeps, so a simulated minute takes a
// fraction of a second and every run is the same.
type simConfig struct {
	emu      emulator.Config // its Now is set by the simulation
	rate     float64         // the Limiter's configured rate
	workers  int
	latency  time.Duration // plus a uniform draw from [0, jitter)
	jitter   time.Duration
	duration time.Duration
	seed     uint64
	log      zerolog.Logger
	// every, when set, is called every 100 ms of simulated time (another
	// client taking from the instance's budget, say).
	every func(srv *emulator.Server, elapsed time.Duration)
}

// simResult counts requests by when the emulator saw them.
type simResult struct {
	requests, limited int
	// accepted per 100 ms slot of simulated time, from the start
	accepted []int
	refused  []int
	rates    []float64
	lim      *Limiter
}

// acceptedRate is the accepted requests a second from from to the end.
func (r simResult) acceptedRate(from time.Duration) float64 {
	i := int(from / (100 * time.Millisecond))
	if i >= len(r.accepted) {
		return 0
	}
	n := 0
	for _, a := range r.accepted[i:] {
		n += a
	}
	return float64(n) / (float64(len(r.accepted)-i) / 10)
}

func (r simResult) share429() float64 { return float64(r.limited) / float64(max(r.requests, 1)) }

type simEvent struct {
	at     time.Time
	worker int
	seq    int
}

type simQueue []simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// simulate runs c and returns what the emulator saw.
func simulate(t testing.TB, c simConfig) simResult {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(1234 * time.Millisecond)}
	start := clock.t
	c.emu.Now = clock.now
	c.emu.Keys = []string{testKey}
	if err := c.emu.Validate(); err != nil {
		t.Fatal(err)
	}
	srv := emulator.New(c.emu)
	lim := NewLimiter(c.rate, clock.now, c.log)
	rng := rand.New(rand.NewPCG(c.seed, 7))
	slots := int(c.duration/(100*time.Millisecond)) + 1
	res := simResult{accepted: make([]int, slots), refused: make([]int, slots), rates: make([]float64, slots), lim: lim}

	type worker struct {
		phase int // 0: book a slot; 1: the slot came; 2: the answer came
		slot  time.Time
		epoch uint64
	}
	ws := make([]worker, c.workers)
	q := &simQueue{}
	seq := 0
	push := func(at time.Time, w int) {
		seq++
		heap.Push(q, simEvent{at, w, seq})
	}
	for i := range ws {
		push(start, i)
	}
	const tick = -1 // the worker number of the every events
	if c.every != nil {
		push(start, tick)
	}
	end := start.Add(c.duration)
	for q.Len() > 0 {
		e := heap.Pop(q).(simEvent)
		if e.at.After(end) {
			break
		}
		clock.t = e.at
		if e.worker == tick {
			c.every(srv, e.at.Sub(start))
			push(e.at.Add(100*time.Millisecond), tick)
			continue
		}
		w := &ws[e.worker]
		switch w.phase {
		case 0:
			w.slot, w.epoch = lim.reserve(e.at)
			w.phase = 1
			push(w.slot, e.worker)
		case 1:
			if !lim.admit(e.at, w.epoch) {
				w.phase = 0
				push(e.at, e.worker)
				continue
			}
			w.slot = e.at
			lat := c.latency
			if c.jitter > 0 {
				lat += time.Duration(rng.Int64N(int64(c.jitter)))
			}
			w.phase = 2
			push(e.at.Add(lat), e.worker)
		case 2:
			status, ra := simServe(srv)
			res.requests++
			i := int(e.at.Sub(start) / (100 * time.Millisecond))
			if status == 429 {
				res.limited++
				if i < slots {
					res.refused[i]++
				}
			} else if i < slots {
				res.accepted[i]++
			}
			if i < slots {
				res.rates[i] = lim.rate
			}
			lim.Observe(w.slot, status, ra)
			w.phase = 0
			push(e.at, e.worker)
		}
	}
	return res
}

var simRequest = func() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/users/count", nil)
	r.Header.Set("Authorization", "Bearer "+testKey)
	return r
}()

func simServe(srv *emulator.Server) (int, time.Duration) {
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, simRequest.Clone(simRequest.Context()))
	ra, _ := strconv.Atoi(rec.Header().Get("Retry-After"))
	return rec.Code, time.Duration(ra) * time.Second
}

// simShape is one way a server may count a limit of 100 requests a second.
type simShape struct {
	name   string
	window time.Duration
	shape  emulator.LimitShape
	burst  int // token bucket: 0 is one window's worth, 1 one second's
}

func (s simShape) config(perSecond int) emulator.Config {
	burst := 0
	if s.burst == 1 {
		burst = perSecond
	}
	return emulator.Config{InstanceLimit: perSecond * int(s.window/time.Second), InstanceWindow: s.window,
		InstanceShape: s.shape, InstanceBurst: burst}
}

var simShapes = []simShape{
	{"fixed 1s", time.Second, emulator.LimitFixed, 0},
	{"fixed 2s", 2 * time.Second, emulator.LimitFixed, 0},
	{"fixed 10s", 10 * time.Second, emulator.LimitFixed, 0},
	{"fixed 60s", 60 * time.Second, emulator.LimitFixed, 0},
	{"sliding 1s", time.Second, emulator.LimitSliding, 0},
	{"sliding 2s", 2 * time.Second, emulator.LimitSliding, 0},
	{"sliding 10s", 10 * time.Second, emulator.LimitSliding, 0},
	{"sliding 60s", 60 * time.Second, emulator.LimitSliding, 0},
	{"bucket 10s, burst 1s", 10 * time.Second, emulator.LimitTokenBucket, 1},
	{"bucket 10s, burst 10s", 10 * time.Second, emulator.LimitTokenBucket, 0},
	{"bucket 60s, burst 1s", 60 * time.Second, emulator.LimitTokenBucket, 1},
	{"bucket 60s, burst 60s", 60 * time.Second, emulator.LimitTokenBucket, 0},
	{"bucket 1s", time.Second, emulator.LimitTokenBucket, 0},
}

// TestLimiterSimulated runs the limiter against every shape at 2x and 5x
// its limit, and under it, on simulated time.
func TestLimiterSimulated(t *testing.T) {
	t.Parallel()
	const limit = 100
	for _, sh := range simShapes {
		for _, mult := range []float64{0.9, 2, 5} {
			t.Run(fmt.Sprintf("%s/%gx", sh.name, mult), func(t *testing.T) {
				t.Parallel()
				r := simulate(t, simConfig{emu: sh.config(limit), rate: mult * limit, workers: 32,
					latency: 20 * time.Millisecond, jitter: 10 * time.Millisecond,
					duration: sh.window + 120*time.Second, seed: 1})
				got := r.acceptedRate(sh.window) / limit
				t.Logf("%-24s %3gx: accepted after the first window %5.1f%% of the limit, 429s %.2f%% (%d of %d), cuts %d, final rate %.1f",
					sh.name, mult, 100*got, 100*r.share429(), r.limited, r.requests, r.lim.Cuts(), r.lim.Rate())
				if mult < 1 {
					if got < 0.98*mult || r.limited > 0 {
						t.Errorf("under the limit: %.1f%% of the rate, %d 429s", 100*got/mult, r.limited)
					}
					return
				}
				if got < 0.9 || r.share429() >= 0.05 {
					t.Errorf("accepted %.1f%% of the limit, 429s %.2f%%", 100*got, 100*r.share429())
				}
			})
		}
	}
}

// TestLimiterSimulatedNoise: 429s that are not the run's pace cut the
// rate only as far as the evidence says, and it recovers when they stop;
// another client using part of the budget leaves the run what is left.
func TestLimiterSimulatedNoise(t *testing.T) {
	t.Parallel()
	const limit = 100
	sliding := simShape{"sliding 1s", time.Second, emulator.LimitSliding, 0}
	fixed10 := simShape{"fixed 10s", 10 * time.Second, emulator.LimitFixed, 0}
	// Every 429 pauses the run a second: random ones at p per request
	// leave rate/(1+p*rate) whatever the limiter does.
	paused := func(rate, p float64) float64 { return rate / (1 + p*rate) }
	for _, tc := range []struct {
		name     string
		emu      emulator.Config
		rate     float64
		every    func(*emulator.Server, time.Duration)
		want     float64 // accepted a second after the first 10 s, at least
		wantRate float64 // the rate at the end, at least
	}{
		{"spurious 0.2%, no limit", withFaults(emulator.Config{}, 0.002), 80, nil, 0.9 * paused(80, 0.002), 0.8 * 80},
		{"spurious 0.2% under a sliding 1s limit", withFaults(sliding.config(limit), 0.002), 80, nil, 0.9 * paused(80, 0.002), 0.8 * 80},
		{"spurious 1%: no collapse", withFaults(emulator.Config{}, 0.01), 80, nil, 0.6 * paused(80, 0.01), 0.4 * 80},
		{"shared: 30/s of sliding 1s", withBackground(sliding.config(limit), 30), 2 * limit, nil, 0.9 * 70, 0.9 * 70},
		{"shared: 30/s of fixed 10s", withBackground(fixed10.config(limit), 30), 2 * limit, nil, 0.9 * 70, 0.9 * 70},
		// 30 s at 70/s then 50 s at 100/s after the first 10 s.
		{"shared for the first 40s, sliding 1s", sliding.config(limit), 2 * limit, consume(30, 40*time.Second),
			0.8 * (30*70 + 50*100) / 80, 0.9 * limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := simulate(t, simConfig{emu: tc.emu, rate: tc.rate, workers: 32,
				latency: 20 * time.Millisecond, jitter: 10 * time.Millisecond,
				duration: 90 * time.Second, seed: 1, every: tc.every})
			got := r.acceptedRate(10 * time.Second)
			t.Logf("%-40s accepted %.1f/s (want %.1f), 429s %.2f%%, cuts %d, final rate %.1f",
				tc.name, got, tc.want, 100*r.share429(), r.lim.Cuts(), r.lim.Rate())
			if got < tc.want || r.lim.Rate() < tc.wantRate {
				t.Errorf("accepted %.1f/s, rate %.1f at the end; want at least %.1f/s and %.1f", got, r.lim.Rate(), tc.want, tc.wantRate)
			}
		})
	}
}

// TestLimiterSimulatedSpurious429: one 429 among successes pauses the run
// and cuts nothing.
func TestLimiterSimulatedSpurious429(t *testing.T) {
	t.Parallel()
	for _, at := range []int{5, 300, 2000} {
		t.Run(fmt.Sprintf("request %d", at), func(t *testing.T) {
			t.Parallel()
			n := 0
			r := simulate(t, simConfig{emu: emulator.Config{}, rate: 80, workers: 16,
				latency: 20 * time.Millisecond, jitter: 10 * time.Millisecond, duration: 60 * time.Second, seed: 1,
				every: func(srv *emulator.Server, _ time.Duration) {
					if n == 0 {
						srv.SetFault(func(*http.Request) emulator.Fault {
							if n++; n == at {
								return emulator.Fault429
							}
							return emulator.FaultNone
						})
					}
				}})
			if r.limited != 1 || r.lim.Rate() != 80 {
				t.Errorf("%d 429s, rate %v at the end after %d cuts; want 1 and 80", r.limited, r.lim.Rate(), r.lim.Cuts())
			}
		})
	}
}

// sweep runs TestLimiterSweep: every shape at 2x and 5x under several
// latencies and limits, four seeds each, for tuning the limiter.
var sweep = flag.Bool("limiter.sweep", false, "run TestLimiterSweep (a minute or two)")

func TestLimiterSweep(t *testing.T) {
	if !*sweep {
		t.Skip("-limiter.sweep not set")
	}
	for _, c := range []struct {
		limit           int
		latency, jitter time.Duration
		workers         int
	}{
		{100, 20 * time.Millisecond, 10 * time.Millisecond, 32},
		{20, time.Millisecond, time.Millisecond, 8},
		{100, 80 * time.Millisecond, 60 * time.Millisecond, 64},
		{1000, 20 * time.Millisecond, 20 * time.Millisecond, 128},
	} {
		for _, sh := range simShapes {
			for _, mult := range []float64{2, 5} {
				worst, worst429, sum := 2.0, 0.0, 0.0
				for seed := uint64(1); seed <= 4; seed++ {
					r := simulate(t, simConfig{emu: sh.config(c.limit), rate: mult * float64(c.limit), workers: c.workers,
						latency: c.latency, jitter: c.jitter, duration: sh.window + 120*time.Second, seed: seed})
					got := r.acceptedRate(sh.window) / float64(c.limit)
					worst, worst429, sum = min(worst, got), max(worst429, r.share429()), sum+got
				}
				t.Logf("limit %4d/s, latency %-5v %-24s %gx: accepted after the first window, worst %5.1f%%, mean %5.1f%%; 429s at most %.2f%%",
					c.limit, c.latency, sh.name, mult, 100*worst, 100*sum/4, 100*worst429)
			}
		}
	}
}

func withFaults(c emulator.Config, p429 float64) emulator.Config {
	c.Faults = map[emulator.Fault]float64{emulator.Fault429: p429}
	return c
}

func withBackground(c emulator.Config, perSecond float64) emulator.Config {
	c.BackgroundLoad = perSecond
	return c
}

// consume has another client take perSecond of the instance's budget
// until until.
func consume(perSecond int, until time.Duration) func(*emulator.Server, time.Duration) {
	return func(srv *emulator.Server, elapsed time.Duration) {
		if elapsed < until {
			srv.ConsumeInstance(perSecond / 10)
		}
	}
}
