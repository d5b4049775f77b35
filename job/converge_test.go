package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/reports"
)

// The convergence tests run the job over HTTP against the emulator's
// limit shapes, at a limit of 50 requests a second in windows of 1 and 2
// s, so that a few hundred rows cover many windows. They assert counts
// (429s, rows, the rate the limiter settled at), never how long a run
// took: limiter_sim_test.go measures throughput, on simulated time. The
// runs of a test go at once, each in its own goroutine (they mostly wait,
// and -parallel is only GOMAXPROCS), and are judged one by one after.

const convergeLimit = 50 // requests a second

// convergeShape is a way the emulator counts 50 requests a second.
type convergeShape struct {
	name string
	cfg  emulator.Config
	// over is how far over the limit the rate may end at twice the limit:
	// a token bucket refills while a pause lasts, so a rate a little over
	// costs a 429 now and then and no throughput, and the limiter may
	// still be coming down when a short run ends. On fixed windows a run's
	// measure can take in part of the next window's budget: in about one
	// run in four, a 16 s run ended with a probe step held at 58/s (16%
	// over) and no 429 yet to say so. The 429s are the bound that matters;
	// the bench measures the rate over minutes (BENCHMARKS.md: 92-97%).
	over float64
}

var convergeShapes = []convergeShape{
	{"fixed 1s", emulator.Config{InstanceLimit: 50, InstanceWindow: time.Second, InstanceShape: emulator.LimitFixed}, 1.25},
	{"sliding 1s", emulator.Config{InstanceLimit: 50, InstanceWindow: time.Second, InstanceShape: emulator.LimitSliding}, 1.15},
	{"fixed 2s", emulator.Config{InstanceLimit: 100, InstanceWindow: 2 * time.Second, InstanceShape: emulator.LimitFixed}, 1.25},
	{"sliding 2s", emulator.Config{InstanceLimit: 100, InstanceWindow: 2 * time.Second, InstanceShape: emulator.LimitSliding}, 1.15},
	{"token bucket, 1s burst", emulator.Config{InstanceLimit: 100, InstanceWindow: 2 * time.Second,
		InstanceShape: emulator.LimitTokenBucket, InstanceBurst: 50}, 1.5},
	{"token bucket, window burst", emulator.Config{InstanceLimit: 100, InstanceWindow: 2 * time.Second,
		InstanceShape: emulator.LimitTokenBucket, InstanceBurst: 100}, 1.5},
}

// convergeResult is what a run left: the emulator's counters and the
// limiter, and the run's failure (nil when every row succeeded).
type convergeResult struct {
	stats emulator.Stats
	lim   *Limiter
	log   *bytes.Buffer
	err   error
}

// convergeAll runs each case at once, rows rows at rate, and returns what
// each run left, in order.
func convergeAll[C any](t *testing.T, cases []C, cfg func(C) emulator.Config, rate func(C) float64, rows int,
	setup func(C, *emulator.Server)) []convergeResult {
	t.Helper()
	out := make([]convergeResult, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		srv, url := startEmulator(t, cfg(c))
		if setup != nil {
			setup(c, srv)
		}
		out[i].log = &bytes.Buffer{}
		out[i].lim = NewLimiter(rate(c), nil, zerolog.New(out[i].log))
		wg.Go(func() {
			out[i].err = convergeRun(url, out[i].lim, rate(c), rows)
			out[i].stats = srv.Stats()
		})
	}
	wg.Wait()
	return out
}

// convergeRun runs rows rows of distinct users (read in batches, then
// written) at rate through lim, and fails unless every row succeeded.
func convergeRun(url string, lim *Limiter, rate float64, rows int) error {
	var lines []string
	for i := range rows {
		lines = append(lines, fmt.Sprintf(`{"user_id":"user_c%d","public_metadata":{"i":%d}}`, i, i))
	}
	rec := newMemRecorder()
	j := newJob(url, Options{Rate: rate, Workers: 8, MaxAttempts: 20})
	j.Limiter = lim
	data := strings.Join(lines, "\n") + "\n"
	st, err := j.Run(context.Background(), input.NewNDJSON(strings.NewReader(data), "test.ndjson"), rec)
	switch {
	case err != nil:
		return err
	case !st.Complete():
		return fmt.Errorf("run not complete: %+v", st)
	case rec.count(reports.Succeeded) != rows:
		return fmt.Errorf("%d of %d rows succeeded", rec.count(reports.Succeeded), rows)
	case st.Reads == 0:
		return errors.New("no reads: the run did not mix reads and writes")
	}
	return nil
}

// withLatency gives the emulator the latency of a real network, so that
// requests are in flight together.
func withLatency(cfg emulator.Config) emulator.Config {
	cfg.AutoCreate = true
	cfg.Latency, cfg.Jitter = 5*time.Millisecond, 5*time.Millisecond
	return cfg
}

// TestConvergeAboveLimit: at twice the limit, whatever its shape, the rate
// comes down to about the limit (see convergeShape.over), the 429s stay
// few, and each cut is logged with the limit measured. (The old controller
// never cut on sliding windows: a 429 a window, the rate left at twice the
// limit.)
func TestConvergeAboveLimit(t *testing.T) {
	t.Parallel()
	const rate, rows = 2 * convergeLimit, 800
	results := convergeAll(t, convergeShapes, func(c convergeShape) emulator.Config { return withLatency(c.cfg) },
		func(convergeShape) float64 { return rate }, rows, nil)
	for i, sh := range convergeShapes {
		t.Run(sh.name, func(t *testing.T) {
			r := results[i]
			if r.err != nil {
				t.Fatal(r.err)
			}
			st := r.stats
			t.Logf("%d requests, %d answered 429, %d cuts, rate at the end %.1f/s (measured %.1f, good %.1f, bad %.1f, probing %v)", st.Requests, st.RateLimited, r.lim.Cuts(), r.lim.Rate(), r.lim.measured, r.lim.good, r.lim.bad, r.lim.probing)
			if max429 := st.Requests / 20; st.RateLimited > max429 {
				t.Errorf("%d of %d requests answered 429, want at most %d", st.RateLimited, st.Requests, max429)
			}
			if got := r.lim.Rate(); got > sh.over*convergeLimit || got < 0.8*convergeLimit {
				t.Errorf("rate at the end %.1f/s, want the limit, %d/s, to %.0f%% over", got, convergeLimit, 100*(sh.over-1))
			}
			if !strings.Contains(r.log.String(), "rate cut") || !strings.Contains(r.log.String(), `"limit_per_second":`) {
				t.Errorf("no cut logged with the limit measured:\n%s", r.log)
			}
		})
	}
}

// TestConvergeUnderLimit: under the limit, whatever its shape, no 429.
func TestConvergeUnderLimit(t *testing.T) {
	t.Parallel()
	const rate, rows = 0.8 * convergeLimit, 200
	results := convergeAll(t, convergeShapes, func(c convergeShape) emulator.Config { return withLatency(c.cfg) },
		func(convergeShape) float64 { return rate }, rows, nil)
	for i, sh := range convergeShapes {
		t.Run(sh.name, func(t *testing.T) {
			r := results[i]
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.stats.RateLimited > 0 || r.lim.Rate() != rate {
				t.Errorf("%d of %d requests answered 429, rate %v at the end; want none and %v",
					r.stats.RateLimited, r.stats.Requests, r.lim.Rate(), rate)
			}
		})
	}
}

// TestConvergeSpurious429: one 429 among successes, none of the pace's
// doing, pauses the run and cuts nothing. With requests in flight, those
// sent after it succeed; without, a long run of successes came before it.
func TestConvergeSpurious429(t *testing.T) {
	t.Parallel()
	type spurious struct {
		name    string
		latency time.Duration
		rate    float64
		at      int64 // the request answered 429
	}
	cases := []spurious{
		{"requests in flight", 50 * time.Millisecond, 100, 100},
		{"after a long run", 0, 60, 400},
	}
	results := convergeAll(t, cases,
		func(c spurious) emulator.Config {
			return emulator.Config{AutoCreate: true, Latency: c.latency,
				InstanceLimit: 1000, InstanceWindow: time.Second, InstanceShape: emulator.LimitSliding}
		},
		func(c spurious) float64 { return c.rate }, 500,
		func(c spurious, srv *emulator.Server) {
			var n atomic.Int64
			srv.SetFault(func(*http.Request) emulator.Fault {
				if n.Add(1) == c.at {
					return emulator.Fault429
				}
				return emulator.FaultNone
			})
		})
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := results[i]
			if r.err != nil {
				t.Fatal(r.err)
			}
			if got := r.stats.Faults[emulator.Fault429]; got != 1 || r.stats.RateLimited != 0 {
				t.Fatalf("%d spurious 429s and %d of the limit's, want one and none", got, r.stats.RateLimited)
			}
			if r.lim.Cuts() != 0 || r.lim.Rate() != c.rate {
				t.Errorf("rate %v at the end after %d cuts, want %v and no cut", r.lim.Rate(), r.lim.Cuts(), c.rate)
			}
		})
	}
}

// TestConvergeSharedLimit: another client uses part of the instance's
// budget; the run settles on what is left, with few 429s. (The other
// client does not retry: when the run's requests come first, it loses
// some of its own, so the run may take a little more than its share.)
func TestConvergeSharedLimit(t *testing.T) {
	t.Parallel()
	const other = 20 // requests a second: 30 of 50 left
	shapes := convergeShapes[:4]
	results := convergeAll(t, shapes,
		func(c convergeShape) emulator.Config {
			cfg := withLatency(c.cfg)
			cfg.BackgroundLoad = other
			return cfg
		},
		func(convergeShape) float64 { return 2 * convergeLimit }, 300, nil)
	left := float64(convergeLimit - other)
	for i, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			r := results[i]
			if r.err != nil {
				t.Fatal(r.err)
			}
			st := r.stats
			t.Logf("%d requests, %d answered 429, the other client's: %d taken, %d refused; rate at the end %.1f/s",
				st.Requests, st.RateLimited, st.Background, st.BackgroundLimited, r.lim.Rate())
			if max429 := st.Requests / 20; st.RateLimited > max429 {
				t.Errorf("%d of %d requests answered 429, want at most %d", st.RateLimited, st.Requests, max429)
			}
			if got := r.lim.Rate(); got > 1.4*left || got < 0.6*left {
				t.Errorf("rate at the end %.1f/s, want about what the other client leaves, %.0f/s", got, left)
			}
		})
	}
}
