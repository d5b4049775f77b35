package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The limits scenarios measure the rate limiter against every way a server
// may count Clerk's documented production limit (1000 requests per 10 s,
// 100 a second): fixed and sliding windows of 1 to 60 s, and token buckets
// with a burst of one second's worth and of one window's worth. Each runs
// the tool at 2x and 5x the limit and under it, every run against a fresh
// emulator, reads and writes mixed (the tool reads each batch of users
// before writing them).

// limitPerSecond is the limit every shape counts.
const limitPerSecond = 100

// limitShape is one way the emulator counts limitPerSecond.
type limitShape struct {
	name   string // as in the scenario's name: limits-<name>
	label  string // as in the table
	shape  string // -instance-shape
	window time.Duration
	burst  int // token bucket: -instance-burst; 0 is one window's worth
}

var limitShapes = []limitShape{
	{"fixed-1s", "fixed windows, 1 s (100)", "fixed", time.Second, 0},
	{"fixed-10s", "fixed windows, 10 s (1000)", "fixed", 10 * time.Second, 0},
	{"fixed-60s", "fixed windows, 60 s (6000)", "fixed", time.Minute, 0},
	{"sliding-1s", "sliding windows, 1 s (100)", "sliding", time.Second, 0},
	{"sliding-10s", "sliding windows, 10 s (1000)", "sliding", 10 * time.Second, 0},
	{"sliding-60s", "sliding windows, 60 s (6000)", "sliding", time.Minute, 0},
	{"bucket-10s-burst-1s", "token bucket, 1000 per 10 s, burst 100 (1 s)", "token-bucket", 10 * time.Second, limitPerSecond},
	{"bucket-10s-burst-10s", "token bucket, 1000 per 10 s, burst 1000 (10 s)", "token-bucket", 10 * time.Second, 0},
}

// limitScenarios are the limits scenarios, one a shape, in the order of
// limitShapes; scenarios lists them.
var limitScenarios = func() []scenario {
	var out []scenario
	for _, s := range limitShapes {
		out = append(out, scenario{"limits-" + s.name,
			s.label + ": --rate at 2x and 5x the limit, and 90% of it", true, limitRuns(s)})
	}
	return out
}()

// limitRow is one run of a limits scenario, for the table that sets the
// shapes side by side.
type limitRow struct {
	shape string
	mult  float64 // 2 or 5; 0 for the run under the limit
	// Over the limit: accepted/s after the first window, over the limit.
	// Under it: requests/s over --rate.
	ratio, share429 float64
	requests        int64
	ok              bool
}

// Measure spans: over the limit, after the first window, at least this
// long and four windows; under it, at least this long and two windows.
// Over a span of fewer windows, a fixed window's pauses weigh by where
// they fall: a run over the limit fills each window early, then waits
// for the next, and still uses all of it.
const (
	limitSpan, limitSpanQuick = 120 * time.Second, 30 * time.Second
	underSpan, underSpanQuick = 30 * time.Second, 15 * time.Second
	underShare                = 0.9 // --rate under the limit
)

// overSpan is how long a run over the limit is measured after its first
// window, and overRows how many rows make it last that: the first window
// may let two windows' worth through (fixed windows are aligned to the
// clock, so the run's first window straddles two), and the rest go at the
// limit. A quick run is shorter than a window or two: its figures are
// printed, not judged.
func (b *bench) overSpan(s limitShape) time.Duration {
	if b.quick {
		return limitSpanQuick
	}
	return max(limitSpan, 4*s.window)
}

func (b *bench) overRows(s limitShape) int {
	extra := s.window // the straddle
	if b.quick {
		extra = 0
	}
	return b.pick(limitPerSecond*int((2*s.window+b.overSpan(s))/time.Second), limitPerSecond*int((s.window+extra+b.overSpan(s))/time.Second))
}

func limitRuns(s limitShape) func(context.Context, *bench) error {
	return func(ctx context.Context, b *bench) error {
		span := b.overSpan(s)
		b.describe("limits-"+s.name, "emulator -instance-limit %d -instance-window %v -instance-shape %s%s -latency 20ms -jitter 10ms -auto-create "+
			"(a fresh one for each run); tool --rate %d and %d (workers auto) for the first window and %v after it (%d rows), then --rate %.0f "+
			"for %v; rows of distinct users, read in batches of 100 before they are written",
			limitPerSecond*int(s.window/time.Second), s.window, s.shape, burstFlag(s), 2*limitPerSecond, 5*limitPerSecond, span,
			b.overRows(s), underShare*limitPerSecond, b.underSpan(s))
		for _, mult := range []float64{2, 5} {
			if err := b.overLimit(ctx, s, mult, span); err != nil {
				return err
			}
		}
		return b.underLimit(ctx, s)
	}
}

func burstFlag(s limitShape) string {
	if s.burst == 0 {
		return ""
	}
	return " -instance-burst " + strconv.Itoa(s.burst)
}

func (b *bench) startLimited(ctx context.Context, s limitShape) (*emulatorProc, error) {
	args := []string{"-instance-limit", strconv.Itoa(limitPerSecond * int(s.window/time.Second)),
		"-instance-window", s.window.String(), "-instance-shape", s.shape,
		"-latency", "20ms", "-jitter", "10ms", "-auto-create"}
	if s.burst > 0 {
		args = append(args, "-instance-burst", strconv.Itoa(s.burst))
	}
	return b.startEmulator(ctx, args...)
}

// overLimit runs the tool at mult times the limit: after the first window,
// the accepted requests a second must be at least 90% of the limit, with
// under 5% of all requests answered 429.
func (b *bench) overLimit(ctx context.Context, s limitShape, mult float64, span time.Duration) error {
	name := "limits-" + s.name
	rows := b.overRows(s)
	emu, err := b.startLimited(ctx, s)
	if err != nil {
		return err
	}
	defer emu.stop()
	in, err := b.input("ndjson", rows)
	if err != nil {
		return err
	}
	rate := mult * limitPerSecond
	samples, end, u, sum, err := b.sampled(ctx, emu, func() (usage, summary, error) {
		return b.apply(ctx, emu.url, in, "--rate", strconv.FormatFloat(rate, 'f', -1, 64))
	})
	if err != nil {
		return err
	}
	final, err := emu.stats(ctx)
	if err != nil {
		return err
	}
	cuts := b.lastRunLines("rate cut")
	share := float64(final.RateLimited) / float64(max(final.Requests, 1))
	label := fmt.Sprintf("%gx (--rate %g)", mult, rate)

	// After the first window: from the first sample a window after the
	// first request the emulator saw, to the tool's exit.
	t0 := end.Add(-u.wall)
	for _, sm := range samples {
		if sm.st.Requests > 0 {
			t0 = sm.at
			break
		}
	}
	var after *sample
	for i := range samples {
		if !samples[i].at.Before(t0.Add(s.window)) {
			after = &samples[i]
			break
		}
	}
	row := limitRow{shape: s.label, mult: mult, share429: share, requests: final.Requests}
	if after == nil || end.Sub(after.at) < 5*time.Second {
		b.add(figure{name, label + ": accepted/s after the first window / limit", "≥ 90%", "run too short to tell", "MISS"})
	} else {
		secs := end.Sub(after.at).Seconds()
		conv := float64(final.accepted()-after.st.accepted()) / secs
		n, limited := final.Requests-after.st.Requests, final.RateLimited-after.st.RateLimited
		row.ratio = conv / limitPerSecond
		v := verdict(row.ratio >= 0.9)
		measured := fmt.Sprintf("%s (%.1f/s over the last %.1f s; 429s there: %d of %d)", pct(row.ratio), conv, secs, limited, n)
		switch {
		case b.quick:
			measured += "; a quick run, too short to judge (run without -quick)"
			v = ""
		case secs < 0.9*span.Seconds():
			measured += fmt.Sprintf("; shorter than the %v planned", span)
		}
		b.add(figure{name, label + ": accepted/s after the first window / limit", "≥ 90%", measured, v})
	}
	row.ok = (b.quick || row.ratio >= 0.9) && share < 0.05 && sum.Failed == 0
	b.add(figure{name, label + ": 429s / requests (whole run)", "< 5%",
		fmt.Sprintf("%s (%d of %d; reads %d, writes %d; rows failed: %d; rate cuts: %d)", pct(share), final.RateLimited, final.Requests,
			sum.Reads, sum.Writes, sum.Failed, cuts),
		verdict(share < 0.05 && sum.Failed == 0)})
	b.add(figure{name, label + ": accepted/s over the whole run / limit", "",
		fmt.Sprintf("%s (%d accepted in %.1f s)", pct(float64(final.accepted())/sum.ElapsedSeconds/limitPerSecond), final.accepted(), sum.ElapsedSeconds), ""})
	b.limitRows = append(b.limitRows, row)
	return nil
}

// underSpan is how long the run under the limit lasts: at least two
// windows, so that a window fills as far as the pace lets it.
func (b *bench) underSpan(s limitShape) time.Duration {
	span := underSpan
	if b.quick {
		span = underSpanQuick
	}
	return max(span, 2*s.window)
}

// underLimit runs the tool at 90% of the limit: it must keep ≥ 98% of
// --rate, with no 429.
func (b *bench) underLimit(ctx context.Context, s limitShape) error {
	name := "limits-" + s.name
	rate := underShare * limitPerSecond
	rows := b.pick(int(rate*b.underSpan(s).Seconds()), int(rate*b.underSpan(s).Seconds()))
	emu, err := b.startLimited(ctx, s)
	if err != nil {
		return err
	}
	defer emu.stop()
	in, err := b.input("ndjson", rows)
	if err != nil {
		return err
	}
	_, sum, err := b.apply(ctx, emu.url, in, "--rate", strconv.FormatFloat(rate, 'f', -1, 64))
	if err != nil {
		return err
	}
	st, err := emu.stats(ctx)
	if err != nil {
		return err
	}
	achieved := float64(sum.Requests) / sum.ElapsedSeconds
	row := limitRow{shape: s.label, ratio: achieved / rate, share429: float64(st.RateLimited) / float64(max(st.Requests, 1)), requests: st.Requests}
	row.ok = row.ratio >= 0.98 && st.RateLimited == 0
	b.add(figure{name, fmt.Sprintf("under (--rate %g): throughput / R", rate), "≥ 98%",
		fmt.Sprintf("%s (%.1f/s: %d requests in %.1f s; reads %d, writes %d)", pct(row.ratio), achieved, sum.Requests, sum.ElapsedSeconds, sum.Reads, sum.Writes),
		verdict(row.ratio >= 0.98)})
	b.add(figure{name, fmt.Sprintf("under (--rate %g): 429s", rate), "0", fmt.Sprintf("%d of %d requests", st.RateLimited, st.Requests),
		verdict(st.RateLimited == 0)})
	b.limitRows = append(b.limitRows, row)
	return nil
}

// sampled runs run while sampling the emulator's counters every 100 ms,
// and returns the samples and when run returned.
func (b *bench) sampled(ctx context.Context, emu *emulatorProc, run func() (usage, summary, error)) ([]sample, time.Time, usage, summary, error) {
	var samples []sample
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if st, err := emu.stats(ctx); err == nil {
				samples = append(samples, sample{time.Now(), st})
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	u, s, err := run()
	end := time.Now()
	close(stop)
	<-polled
	return samples, end, u, s, err
}

// lastRunLines counts the lines of the last tool run's log that contain
// substr.
func (b *bench) lastRunLines(substr string) int {
	f, err := os.Open(filepath.Join(b.dir, fmt.Sprintf("run-%d", b.runs), "stderr.log"))
	if err != nil {
		return -1
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			n++
		}
	}
	return n
}

// printLimits writes the limits runs side by side: a row a shape, the
// runs over the limit and under it in columns.
func (b *bench) printLimits(w io.Writer) {
	if len(b.limitRows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nRate limits (limit %d/s; over it: accepted/s after the first window / limit, target ≥ 90%%, and 429s / all requests, "+
		"target < 5%%; under it, --rate %.0f: requests/s / --rate, target ≥ 98%%, and 429s, target 0):\n\n", limitPerSecond, underShare*limitPerSecond)
	fmt.Fprintln(w, "| shape | 2x: accepted/s / limit | 2x: 429s | 5x: accepted/s / limit | 5x: 429s | under: req/s / --rate | under: 429s | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	var shapes []string
	cells := map[string]map[float64]limitRow{}
	for _, r := range b.limitRows {
		if cells[r.shape] == nil {
			shapes = append(shapes, r.shape)
			cells[r.shape] = map[float64]limitRow{}
		}
		cells[r.shape][r.mult] = r
	}
	for _, sh := range shapes {
		line, all := "| "+sh, true
		for _, m := range []float64{2, 5, 0} {
			r, ok := cells[sh][m]
			switch {
			case !ok:
				line += " | | "
				all = false
			case m == 0:
				line += fmt.Sprintf(" | %s | %d of %d", pct(r.ratio), int64(r.share429*float64(r.requests)+0.5), r.requests)
			default:
				line += fmt.Sprintf(" | %s | %s", pct(r.ratio), pct(r.share429))
			}
			all = all && (!ok || r.ok)
		}
		fmt.Fprintf(w, "%s | %s |\n", line, verdict(all))
	}
}
