package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// scenario measures one or more of the targets.
type scenario struct {
	name, about string
	emulator    bool // needs clerk-emulator
	run         func(context.Context, *bench) error
}

var scenarios = slices.Concat([]scenario{
	{"pacing", "--rate under the emulator's limit, a fixed pool", true, pacing},
	{"pacing-auto", "300 ms jittered latency, --rate 100, --workers auto", true, pacingAuto},
	{"overhead", "--rate unlimited --no-read vs a bare net/http loop, same W, same emulator, same rows", true, overhead},
	{"overhead-read", "--rate unlimited, reads on, vs a bare net/http write loop and --no-read, same W, same emulator", true, overheadRead},
	{"memory-validate", "peak RSS of validate, 10,000 vs 1,000,000 rows", false, memoryValidate},
	{"memory-run", "peak RSS of run --no-read at an unlimited rate, 10,000 vs 1,000,000 rows", true, memoryRun},
	{"memory-run-read", "peak RSS of run, reads on, at an unlimited rate, 10,000 vs 1,000,000 rows", true, memoryRunRead},
	{"validate-speed", "validate on one core, NDJSON and CSV", false, validateSpeed},
	{"curl", "the seed's cURL call driven by xargs -P W vs the tool, same rows, same W", true, curlCompare},
	{"sync", "a nightly sync of 1,000,000 rows, 1% changed, at 1,000 requests/s; then --no-read", true, syncNightly},
}, limitScenarios)

func scenarioNames() string {
	var names []string
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

// selectScenarios picks the scenarios -only names: a name, or else a group
// prefix ("memory" for the memory scenarios, "limits" or "limits-sliding"
// for the limits scenarios). Empty selects them all.
func selectScenarios(only string) ([]scenario, error) {
	if strings.TrimSpace(only) == "" {
		return scenarios, nil
	}
	var out []scenario
	for item := range strings.SplitSeq(only, ",") {
		item = strings.TrimSpace(item)
		exact := slices.ContainsFunc(scenarios, func(s scenario) bool { return s.name == item })
		found := false
		for _, s := range scenarios {
			if s.name == item || !exact && strings.HasPrefix(s.name, item+"-") {
				found = true
				if !slices.ContainsFunc(out, func(o scenario) bool { return o.name == s.name }) {
					out = append(out, s)
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("-only: no scenario %q (have %s)", item, scenarioNames())
		}
	}
	// Keep the canonical order.
	slices.SortFunc(out, func(a, b scenario) int {
		return slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == a.name }) -
			slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == b.name })
	})
	return out, nil
}

func pct(x float64) string        { return fmt.Sprintf("%.1f%%", 100*x) }
func mb(bytes int64) string       { return fmt.Sprintf("%.1f MB", float64(bytes)/1e6) }
func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// cost describes a process's CPU time and peak RSS.
func cost(u usage) string {
	return fmt.Sprintf("%s CPU in %s wall (%.0f%% of a core), peak RSS %s", secs(u.cpu), secs(u.wall),
		100*u.cpu.Seconds()/u.wall.Seconds(), mb(u.maxRSS))
}

// pacing: a --rate under the server's limit, with workers enough for the
// latency, must be achieved (≥ 98%) with no 429.
func pacing(ctx context.Context, b *bench) error {
	const rate, limit, workers = 200, 2500, 16
	rows := b.pick(12000, 2000)
	b.describe("pacing", "emulator -instance-limit %d (per 10 s: %d/s) -latency 20ms -jitter 10ms -auto-create; "+
		"tool --rate %d --workers %d; %d rows of distinct users (%.0f s at R)",
		limit, limit/10, rate, workers, rows, float64(rows)/rate)
	return b.paced(ctx, "pacing", rate, rows, []string{"-instance-limit", strconv.Itoa(limit), "-latency", "20ms", "-jitter", "10ms"},
		"--rate", strconv.Itoa(rate), "--workers", strconv.Itoa(workers))
}

// pacingAuto: the same at 300 ms of jittered latency, the pool sized by
// --workers auto from the latency it observes.
func pacingAuto(ctx context.Context, b *bench) error {
	const rate, limit = 100, 2500
	rows := b.pick(6000, 3000)
	b.describe("pacing-auto", "emulator -instance-limit %d (per 10 s) -latency 250ms -jitter 100ms (250-350 ms, mean 300 ms) -auto-create; "+
		"tool --rate %d --workers auto; %d rows (%.0f s at R)", limit, rate, rows, float64(rows)/rate)
	return b.paced(ctx, "pacing-auto", rate, rows, []string{"-instance-limit", strconv.Itoa(limit), "-latency", "250ms", "-jitter", "100ms"},
		"--rate", strconv.Itoa(rate), "--workers", "auto")
}

func (b *bench) paced(ctx context.Context, name string, rate float64, rows int, emuArgs []string, flags ...string) error {
	emu, err := b.startEmulator(ctx, append(emuArgs, "-auto-create")...)
	if err != nil {
		return err
	}
	defer emu.stop()
	in, err := b.input("ndjson", rows)
	if err != nil {
		return err
	}
	u, s, err := b.apply(ctx, emu.url, in, flags...)
	if err != nil {
		return err
	}
	st, err := emu.stats(ctx)
	if err != nil {
		return err
	}
	achieved := float64(s.Requests) / s.ElapsedSeconds
	b.add(figure{name, "throughput / R (summary: requests / elapsed_seconds)", "≥ 98%",
		fmt.Sprintf("%s (%.1f/s of %g/s: %d requests in %.2f s)", pct(achieved/rate), achieved, rate, s.Requests, s.ElapsedSeconds),
		verdict(achieved/rate >= 0.98 && s.Succeeded == rows)})
	b.add(figure{name, "429s", "0", fmt.Sprintf("%d of %d requests", st.RateLimited, st.Requests), verdict(st.RateLimited == 0)})
	b.add(figure{name, "rows / process wall time", "", fmt.Sprintf("%.1f/s (%d rows, %d succeeded, in %s; most in flight at the emulator: %d)",
		float64(rows)/u.wall.Seconds(), rows, s.Succeeded, secs(u.wall), st.MaxInFlight), ""})
	b.add(figure{name, "tool's cost", "", cost(u), ""})
	return nil
}

// sample is the emulator's counters at a moment.
type sample struct {
	at time.Time
	st emuStats
}

// bareLoop sends rows [0, n) as the SDK would, from W goroutines over W
// kept-alive connections, reading and discarding every answer. It returns
// the requests per second and the CPU time this process spent.
func bareLoop(ctx context.Context, apiURL string, w, n int) (float64, time.Duration, error) {
	paths := make([]string, n)
	bodies := make([][]byte, n)
	for i := range n {
		id, _, _, _ := realisticRow(i)
		paths[i] = apiURL + "/v1/users/" + id + "/metadata"
		bodies[i] = body(i)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(w, 100)
	tr.MaxIdleConnsPerHost = w
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var next, failed atomic.Int64
	var firstErr atomic.Value
	cpu0 := selfCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				req, _ := http.NewRequestWithContext(rctx, http.MethodPut, paths[i], bytes.NewReader(bodies[i]))
				req.Header.Set("Authorization", "Bearer "+benchKey)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("User-Agent", "replace-metadata-bench")
				req.Header.Set("Clerk-API-Version", "2026-05-12")
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				cancel()
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := selfCPU() - cpu0
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if f := failed.Load(); f > 0 {
		return 0, 0, fmt.Errorf("bare loop: %d of %d requests failed, first: %v", f, n, firstErr.Load())
	}
	return float64(n) / elapsed.Seconds(), cpu, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rates(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, strconv.FormatFloat(x, 'f', 0, 64))
	}
	return strings.Join(parts, ", ")
}

// overhead: at an unlimited rate against a server that answers at once,
// the tool's requests per second against a bare net/http loop's, same W,
// same emulator process, same rows, alternating.
func overhead(ctx context.Context, b *bench) error {
	w := b.workers
	rows := b.pick(30000, 5000)
	rounds := 3
	if b.quick {
		rounds = 1
	}
	b.describe("overhead", "one emulator -auto-create (no latency, no limits); a bare loop pass creates the users first; "+
		"then %d round(s) of bare loop (W=%d goroutines in this process) and tool (--rate unlimited --workers %d --no-read: blind, as the loop), "+
		"each updating the same %d users; tool req/s = summary requests / elapsed_seconds, bare req/s = rows / loop time; medians compared",
		rounds, w, w, rows)
	emu, err := b.startEmulator(ctx, "-auto-create")
	if err != nil {
		return err
	}
	defer emu.stop()
	in, err := b.input("ndjson", rows)
	if err != nil {
		return err
	}
	if _, _, err := bareLoop(ctx, emu.url, w, rows); err != nil {
		return err
	}
	perReq := func(d time.Duration) float64 { return d.Seconds() / float64(rows) * 1e6 }
	var bare, tool, bareCPU, toolCPU, emuBare, emuTool []float64
	for range rounds {
		e0 := emu.cpu()
		rps, cpu, err := bareLoop(ctx, emu.url, w, rows)
		if err != nil {
			return err
		}
		e1 := emu.cpu()
		bare = append(bare, rps)
		bareCPU = append(bareCPU, perReq(cpu))
		emuBare = append(emuBare, perReq(e1-e0))
		u, s, err := b.apply(ctx, emu.url, in, "--rate", "unlimited", "--workers", strconv.Itoa(w), "--no-read")
		if err != nil {
			return err
		}
		tool = append(tool, float64(s.Requests)/s.ElapsedSeconds)
		toolCPU = append(toolCPU, perReq(u.cpu))
		emuTool = append(emuTool, perReq(emu.cpu()-e1))
	}
	mBare, mTool := median(bare), median(tool)
	b.add(figure{"overhead", fmt.Sprintf("tool req/s / bare loop req/s (W=%d)", w), "≥ 70%",
		fmt.Sprintf("%s (tool %.0f/s, bare %.0f/s: medians)", pct(mTool/mBare), mTool, mBare), verdict(mTool/mBare >= 0.7)})
	b.add(figure{"overhead", "req/s of each round", "", fmt.Sprintf("bare %s; tool %s (tool / bare, round by round: %s)",
		rates(bare), rates(tool), ratios(tool, bare)), ""})
	b.add(figure{"overhead", "CPU per request", "",
		fmt.Sprintf("tool %.0f µs (whole process), bare loop %.0f µs; the emulator's per request: %.0f µs during the tool, %.0f µs during the bare loop (medians)",
			median(toolCPU), median(bareCPU), median(emuTool), median(emuBare)), ""})
	return nil
}

// memorySizes are the small and large inputs of the memory scenarios.
func (b *bench) memorySizes() (small, large int) {
	large = b.pick(1_000_000, 100_000)
	return min(10_000, max(large/10, 1)), large
}

func (b *bench) memoryFigures(name string, small, large int, us, ul usage) {
	bound := 1.25*float64(us.maxRSS) + 24*float64(large-small)
	b.add(figure{name, fmt.Sprintf("peak RSS, %d rows ≤ 1.25 × peak at %d rows + 24 B × %d", large, small, large-small),
		"≤ " + mb(int64(bound)), fmt.Sprintf("%s (%d rows: %s)", mb(ul.maxRSS), small, mb(us.maxRSS)), verdict(float64(ul.maxRSS) <= bound)})
	b.add(figure{name, fmt.Sprintf("peak RSS, %d rows", large), "< 100 MB", mb(ul.maxRSS), verdict(ul.maxRSS < 100e6)})
}

// memoryValidate: validate streams; only the index of users grows.
func memoryValidate(ctx context.Context, b *bench) error {
	small, large := b.memorySizes()
	b.describe("memory-validate", "validate --input rows.ndjson at %d and %d rows of distinct users; peak RSS is the process's ru_maxrss (taken through a small intermediary, see measureEnv)", small, large)
	var us [2]usage
	for i, n := range []int{small, large} {
		in, err := b.input("ndjson", n)
		if err != nil {
			return err
		}
		if us[i], _, err = b.runTool(ctx, toolRun{args: []string{"validate", "--input", in}}); err != nil {
			return err
		}
	}
	b.memoryFigures("memory-validate", small, large, us[0], us[1])
	b.add(figure{"memory-validate", fmt.Sprintf("validate, %d rows", large), "", cost(us[1]), ""})
	return nil
}

// memoryRun: the same for a whole run at an unlimited rate.
func memoryRun(ctx context.Context, b *bench) error {
	small, large := b.memorySizes()
	b.describe("memory-run", "run --rate unlimited --no-read (workers auto) at %d and %d rows of distinct users, each against a fresh emulator -auto-create (no latency, no limits)", small, large)
	var us [2]usage
	var sums [2]summary
	for i, n := range []int{small, large} {
		in, err := b.input("ndjson", n)
		if err != nil {
			return err
		}
		emu, err := b.startEmulator(ctx, "-auto-create")
		if err != nil {
			return err
		}
		us[i], sums[i], err = b.apply(ctx, emu.url, in, "--rate", "unlimited", "--no-read")
		emu.stop()
		if err != nil {
			return err
		}
		if sums[i].Succeeded != n {
			return fmt.Errorf("%d rows: %d succeeded", n, sums[i].Succeeded)
		}
	}
	b.memoryFigures("memory-run", small, large, us[0], us[1])
	b.add(figure{"memory-run", fmt.Sprintf("run, %d rows", large), "",
		fmt.Sprintf("%.0f req/s (summary); %s", sums[1].AchievedRate, cost(us[1])), ""})
	return nil
}

// validateSpeed: validate on one core, NDJSON ≥ 150,000 rows/s, CSV within
// 2x of NDJSON.
func validateSpeed(ctx context.Context, b *bench) error {
	n := b.pick(1_000_000, 100_000)
	reps := 2
	if b.quick {
		reps = 1
	}
	pin := "GOMAXPROCS=1 and taskset -c 0"
	if _, err := exec.LookPath("taskset"); err != nil {
		pin = "GOMAXPROCS=1 (taskset is not installed)"
	}
	b.describe("validate-speed", "validate --input rows.{ndjson,csv} of %d realistic rows, %s; rows/s = rows / process wall time, best of %d", n, pin, reps)
	best := map[string]usage{}
	for _, format := range []string{"ndjson", "csv"} {
		in, err := b.input(format, n)
		if err != nil {
			return err
		}
		for range reps {
			u, _, err := b.runTool(ctx, toolRun{args: []string{"validate", "--input", in}, pin: true})
			if err != nil {
				return err
			}
			if old, ok := best[format]; !ok || u.wall < old.wall {
				best[format] = u
			}
		}
	}
	nd, cs := best["ndjson"], best["csv"]
	ndRate, csRate := float64(n)/nd.wall.Seconds(), float64(n)/cs.wall.Seconds()
	b.add(figure{"validate-speed", "NDJSON rows/s on one core", "≥ 150,000",
		fmt.Sprintf("%.0f (%d rows in %s; %s CPU)", ndRate, n, secs(nd.wall), secs(nd.cpu)), verdict(ndRate >= 150_000)})
	ratio := cs.wall.Seconds() / nd.wall.Seconds()
	b.add(figure{"validate-speed", "CSV time / NDJSON time", "≤ 2×",
		fmt.Sprintf("%.2f× (CSV %.0f rows/s, %s)", ratio, csRate, secs(cs.wall)), verdict(ratio <= 2)})
	return nil
}

// curlScript is the seed's cURL call, one row per invocation.
const curlScript = `ID=$1 BODY=$2; curl -sS -X PUT "$CLERK_API_URL/v1/users/$ID/metadata" -H "Authorization: Bearer $CLERK_SECRET_KEY" -H "Content-Type: application/json" -H "Clerk-API-Version: 2026-05-12" --data-binary "$BODY"`

// curlCompare: what a user would do instead, the seed's cURL call driven by
// xargs -P W, against the tool at the same concurrency on the same rows.
func curlCompare(ctx context.Context, b *bench) error {
	w := b.workers
	n := b.pick(2000, 200)
	if _, err := exec.LookPath("curl"); err != nil {
		b.add(figure{"curl", "tool vs curl + xargs", "≥ 5× faster, less CPU", "not measured: curl is not installed", "n/a"})
		return nil
	}
	b.describe("curl", "%d rows; xargs -0 -n 2 -P %d sh -c '%s' (one sh + one curl per row; stdout to /dev/null) "+
		"vs replace-metadata run --rate unlimited --workers %d --no-read (blind, as curl); each against a fresh emulator -auto-create; "+
		"wall and CPU (user+system of the process and every child it waited for) of the whole process tree",
		n, w, curlScript, w)

	// curl + xargs
	emu, err := b.startEmulator(ctx, "-auto-create")
	if err != nil {
		return err
	}
	var args bytes.Buffer
	for i := range n {
		id, _, _, _ := realisticRow(i)
		args.WriteString(id)
		args.WriteByte(0)
		args.Write(body(i))
		args.WriteByte(0)
	}
	logPath := filepath.Join(b.dir, "curl-xargs.log")
	logf, err := os.Create(logPath)
	if err != nil {
		emu.stop()
		return err
	}
	cmd := exec.CommandContext(ctx, "xargs", "-0", "-n", "2", "-P", strconv.Itoa(w), "sh", "-c", curlScript, "sh")
	cmd.Env = cleanEnv("CLERK_API_URL="+emu.url, "CLERK_SECRET_KEY="+benchKey)
	cmd.Stdin = &args
	cmd.Stderr = logf
	cu, err := measured(cmd)
	logf.Close()
	if err == nil && cu.exit != 0 {
		err = fmt.Errorf("exit %d", cu.exit)
	}
	st, serr := emu.stats(ctx)
	emu.stop()
	if err != nil || serr != nil {
		return fmt.Errorf("curl + xargs: %v %v: %s", err, serr, tail(logPath, 400))
	}
	if ok := st.ByStatus[200]; ok != int64(n) {
		return fmt.Errorf("curl + xargs: %d of %d rows answered 200: %s", ok, n, tail(logPath, 400))
	}

	// the tool
	emu, err = b.startEmulator(ctx, "-auto-create")
	if err != nil {
		return err
	}
	defer emu.stop()
	in, err := b.input("ndjson", n)
	if err != nil {
		return err
	}
	tu, s, err := b.apply(ctx, emu.url, in, "--rate", "unlimited", "--workers", strconv.Itoa(w), "--no-read")
	if err != nil {
		return err
	}
	if s.Succeeded != n {
		return fmt.Errorf("tool: %d of %d rows succeeded", s.Succeeded, n)
	}
	speed := cu.wall.Seconds() / tu.wall.Seconds()
	b.add(figure{"curl", fmt.Sprintf("speed: curl+xargs wall / tool wall (W=%d, %d rows)", w, n), "≥ 5×",
		fmt.Sprintf("%.1f× (curl %s = %.0f rows/s; tool %s = %.0f rows/s)", speed, secs(cu.wall), float64(n)/cu.wall.Seconds(),
			secs(tu.wall), float64(n)/tu.wall.Seconds()), verdict(speed >= 5)})
	b.add(figure{"curl", "CPU: tool vs curl+xargs (whole process trees)", "tool < curl",
		fmt.Sprintf("tool %s vs curl %s (%.1f× less)", secs(tu.cpu), secs(cu.cpu), cu.cpu.Seconds()/tu.cpu.Seconds()),
		verdict(tu.cpu < cu.cpu)})
	return nil
}
