package main

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// TestGoldenDisplay: the display's two lines, frame by frame, for the
// progress the updater gives a run over a file (the bar, rows per second,
// the ETA, a rate cut while 429s come and not after, the stop with the
// requests in flight, the final frame), a narrow terminal, a run over
// standard input (a spinner, no total), and a plan (no outcomes to
// count). The view is a function of the progress alone, so the frames are
// the same on every machine.
func TestGoldenDisplay(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	frame := func(v *view, name string, width int, p reports.Progress) {
		v.update(p)
		v.spin++
		l := v.lines(width)
		fmt.Fprintf(&b, "-- %s (%d columns) --\n%s\n%s\n", name, width, l[0], l[1])
		for _, line := range l {
			if len(line) > width {
				t.Errorf("%s: a line of %d columns on a terminal of %d: %q", name, len(line), width, line)
			}
		}
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	counts := func(ok, same, failed, invalid int) reports.Counts {
		var c reports.Counts
		c[reports.Succeeded], c[reports.Unchanged], c[reports.Failed], c[reports.Invalid] = ok, same, failed, invalid
		return c
	}

	run := &view{title: "run users.ndjson"}
	p := reports.Progress{Elapsed: sec(0.2), Total: 1000, Rate: 10, Workers: 4}
	frame(run, "first update", 120, p)
	p.Elapsed, p.Done, p.Counts, p.Reads, p.Writes, p.Requests, p.InFlight = sec(1.2), 10, counts(10, 0, 0, 0), 1, 10, 11, 2
	frame(run, "a second in", 120, p)
	p.Elapsed, p.Done, p.Counts, p.Reads, p.Writes, p.Requests = sec(5.2), 50, counts(45, 2, 2, 1), 1, 49, 50
	p.Retries, p.RateLimited, p.Rate = 3, 2, 6.3
	frame(run, "429s: the rate is cut", 120, p)
	frame(run, "the same, narrow", 60, p)
	p.Elapsed, p.Done, p.Counts, p.Writes, p.Requests = sec(20), 150, counts(141, 5, 3, 1), 149, 150
	frame(run, "no 429 for 15 s", 120, p)
	p.Elapsed, p.Stopping, p.InFlight = sec(21), true, 3
	frame(run, "stopping", 120, p)
	p.InFlight = 1
	frame(run, "stopping, the last request", 120, p)
	final := p
	final.Elapsed, final.Final, final.InFlight, final.Done, final.Counts = sec(22), true, 0, 151, counts(142, 5, 3, 1)
	final.Summary = &reports.Summary{Stopped: "interrupted (SIGINT)"}
	frame(run, "final, stopped", 120, final)

	done := &view{title: "run users.csv"}
	p = reports.Progress{Elapsed: sec(0.2), Total: 4, Rate: 90, Done: 0}
	frame(done, "first update", 100, p)
	p.Elapsed, p.Done, p.Counts, p.Writes, p.Requests = sec(1.5), 4, counts(4, 0, 0, 0), 4, 5
	p.Reads = 1
	frame(done, "every row done, not finished", 100, p)
	p.Elapsed, p.Final, p.Summary = sec(1.6), true, &reports.Summary{}
	frame(done, "final", 100, p)

	stdin := &view{title: "run stdin"}
	p = reports.Progress{Elapsed: sec(0.2), Rate: math.Inf(1), Workers: 8}
	frame(stdin, "first update", 100, p)
	p.Elapsed, p.Done, p.Counts, p.Writes, p.Requests, p.InFlight = sec(2.2), 2400, counts(2400, 0, 0, 0), 2400, 2400, 8
	frame(stdin, "two seconds in", 100, p)
	p.Elapsed, p.Final, p.Summary, p.InFlight = sec(3), true, &reports.Summary{}, 0
	frame(stdin, "final", 100, p)

	plan := &view{title: "plan users.ndjson"}
	p = reports.Progress{Elapsed: sec(0.2), Total: 300, Rate: 90}
	frame(plan, "first update", 100, p)
	p.Elapsed, p.Done, p.Reads, p.Requests = sec(1.2), 200, 2, 2
	frame(plan, "a second in", 100, p)

	golden(t, "display.golden", b.String())
}

// TestDisplayDraws: drawn (forced, on a buffer: mpb's cursor moves and
// all), the display shows its frames; a line written through it comes
// out whole, before a frame, never inside one; Finish leaves the final
// frame and lines after it pass straight through; a display never
// started writes lines as they come and draws nothing.
func TestDisplayDraws(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	d := newDisplay(&out, "run in.ndjson", 0)
	const logLine = `{"level":"warn","user_id":"user_7","message":"row failed"}` + "\n"
	p := reports.Progress{Elapsed: 200 * time.Millisecond, Total: 10, Rate: 5}
	d.Update(p)
	waitFor(t, "the first frame", func() bool { return strings.Contains(out.String(), "run in.ndjson [") })
	d.Write([]byte(logLine))
	p.Elapsed, p.Done, p.Counts[reports.Succeeded] = 1400*time.Millisecond, 5, 5
	d.Update(p)
	waitFor(t, "a frame with 5 rows done", func() bool { return strings.Contains(out.String(), " 5/10 ") })
	final := p
	final.Final, final.Done, final.Elapsed, final.Summary = true, 10, 2*time.Second, &reports.Summary{}
	final.Counts[reports.Succeeded] = 10
	d.Finish(final)
	d.Write([]byte("after\n"))
	got := out.String()
	if !strings.Contains(got, "\n"+logLine) && !strings.Contains(got, "\x1b[J"+logLine) {
		t.Errorf("the log line is not whole at the start of a line:\n%q", got)
	}
	last := got[strings.LastIndex(got, "\x1b[J")+len("\x1b[J"):]
	if lines := strings.Split(last, "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "run in.ndjson [") ||
		!strings.Contains(lines[0], "10/10 100%") || !strings.Contains(lines[0], "done in 2s") ||
		!strings.HasPrefix(lines[1], "succeeded 10 ") || lines[2] != "after" {
		t.Errorf("after the last cursor move, want the final frame, then the line written after Finish:\n%q", last)
	}
	var quiet bytes.Buffer
	q := newDisplay(&quiet, "run in.ndjson", 0)
	q.Write([]byte(logLine))
	q.Finish(final)
	q.Write([]byte("after\n"))
	if quiet.String() != logLine+"after\n" {
		t.Errorf("a display never started wrote %q", quiet.String())
	}
	var nilDisplay *display
	nilDisplay.Update(p) // a session without a display feeds it all the same
	nilDisplay.Finish(final)
}

// TestProgressFlag: --progress on draws the display (and the summary)
// whatever stderr is, here a pipe; auto draws nothing when stderr is no
// terminal, and off never does: both log the progress line instead.
func TestProgressFlag(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"on", "auto", "off"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			_, url := startEmulator(t, emulator.Config{AutoCreate: true})
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "in.ndjson"), manyRows(8, 8))
			got := runBinary(t, dir, map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url},
				"run", "--input", "in.ndjson", "--run-id", "p", "--rate", "10", "--progress", mode, "--progress-interval", "300ms")
			if got.code != exitOK {
				t.Fatalf("exit %d\nstderr:\n%s", got.code, got.stderr)
			}
			drawn := strings.Contains(got.stderr, "\x1b[") && strings.Contains(got.stderr, "run in.ndjson [") &&
				strings.Contains(got.stderr, "Run p finished (exit 0)")
			logged := strings.Contains(got.stderr, `"message":"progress"`)
			if drawn != (mode == "on") || logged != (mode != "on") {
				t.Errorf("--progress %s: display drawn %v, progress logged %v\nstderr:\n%q", mode, drawn, logged, got.stderr)
			}
			if mode != "on" && strings.ContainsRune(got.stderr, 0x1b) {
				t.Errorf("--progress %s wrote escape codes:\n%q", mode, got.stderr)
			}
			if lastLine(got.stdout) != filepath.Join("runs", "p") {
				t.Errorf("the run folder is not the last line of stdout: %q", got.stdout)
			}
		})
	}
	if got := runInProcess(t, nil, "", "run", "--progress", "sometimes"); got.code != exitUsage || !strings.Contains(got.stderr, "auto, on or off") {
		t.Errorf("--progress sometimes: exit %d\n%s", got.code, got.stderr)
	}
}
