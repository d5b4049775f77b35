//go:build unix

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
)

// ttyRun is the run both terminal tests make: 40 rows at 4 a second
// against an emulator that answers in 1.2 s, so a few requests are always
// in flight; row 10's user does not exist, so its write fails, mid-run,
// and is logged. It is stopped by SIGINT once a dozen rows are done.
func ttyRun(t *testing.T) (srv *emulator.Server, dir string, vars map[string]string, args []string) {
	t.Helper()
	srv, url := startEmulator(t, emulator.Config{Latency: 1200 * time.Millisecond})
	var in strings.Builder
	for i := 1; i <= 40; i++ {
		id := fmt.Sprintf("user_tty%d", i)
		if i == 10 {
			id = "user_ttymissing"
		} else {
			srv.AddUser(id, nil, nil, nil)
		}
		fmt.Fprintf(&in, `{"user_id":%q,"public_metadata":{"row":%d}}`+"\n", id, i)
	}
	dir = t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in.String())
	vars = map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	args = []string{"run", "--input", "in.ndjson", "--run-id", "tty", "--rate", "4", "--workers", "8", "--no-read"}
	return srv, dir, vars, args
}

// TestTerminalDisplay runs the built command on a pseudo-terminal, as a
// person at a shell would, and reads the screen: the display appears and
// updates; the log line of the failed row, written while it is drawn,
// appears whole above it; Ctrl-C shows the requests in flight while the
// run stops, and leaves a clean screen: the final frame once, saying it
// stopped, then the summary, which names the commands to re-run the
// failed rows and to resume.
func TestTerminalDisplay(t *testing.T) {
	t.Parallel()
	srv, dir, vars, args := ttyRun(t)
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TERM=xterm-256color"}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	const width = 120
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: width})
	if err != nil {
		t.Skipf("no pseudo-terminal in this environment (%v): the display on a terminal is not tested", err)
	}
	defer ptmx.Close()
	var raw syncBuffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			raw.Write(buf[:n])
			if err != nil {
				return // EIO once the child has exited
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-read
	}()

	waitFor(t, "a dozen rows done on the display, and the failed row's log line", func() bool {
		s := raw.String()
		return strings.Contains(s, "user_ttymissing") && maxDone(s) >= 12
	})
	ptmx.Write([]byte{3}) // Ctrl-C: the terminal sends SIGINT
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("still running a minute after Ctrl-C\nscreen:\n%s", strings.Join(render(raw.String(), width), "\n"))
	}
	<-read
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) || ee.ExitCode() != exitAborted {
		t.Errorf("exit %v after Ctrl-C, want %d", waitErr, exitAborted)
	}
	out := raw.String()
	if p := os.Getenv("TTY_TRANSCRIPT"); p != "" {
		os.WriteFile(p, []byte(out), 0o644)
	}
	lines := render(out, width)
	shown := strings.Join(lines, "\n")

	if n := countFrames(out); n < 3 {
		t.Errorf("the display showed %d different counts of rows done, want it to update:\n%q", n, out)
	}
	if !regexp.MustCompile(`stopping: \d+ requests? in flight`).MatchString(out) {
		t.Errorf("the display never said it was stopping, with the requests in flight:\n%q", out)
	}
	frame, logLine := -1, -1
	for i, l := range lines {
		if strings.HasPrefix(l, "run in.ndjson ") {
			if frame >= 0 {
				t.Errorf("the screen shows two frames of the display, lines %d and %d:\n%s", frame, i, shown)
			}
			frame = i
		}
		if strings.Contains(l, "user_ttymissing") && logLine < 0 {
			logLine = i
		}
		if strings.Contains(l, " WRN ") || strings.Contains(l, " INF ") {
			if !logStart.MatchString(l) {
				t.Errorf("a log line does not start at the first column, line %d: %q", i, l)
			}
		}
		if strings.Contains(l, "^C") {
			t.Errorf("the echo of Ctrl-C is still on the screen, line %d:\n%s", i, shown)
		}
	}
	switch {
	case frame < 0:
		t.Fatalf("no frame of the display on the screen:\n%s", shown)
	case !strings.Contains(lines[frame], "stopped: interrupted (SIGINT)") || !regexp.MustCompile(` \d+/40 `).MatchString(lines[frame]):
		t.Errorf("the final frame does not say the run stopped, and how far it got: %q", lines[frame])
	case !strings.HasPrefix(lines[frame+1], "succeeded "):
		t.Errorf("the final frame's second line: %q", lines[frame+1])
	}
	if logLine < 0 || logLine > frame {
		t.Errorf("the failed row's log line is not above the display (line %d, frame at %d):\n%s", logLine, frame, shown)
	} else if l := lines[logLine]; !regexp.MustCompile(`^\d\d:\d\d:\d\d WRN row failed`).MatchString(l) ||
		!strings.Contains(l, "http_status=404") || strings.Contains(l, "rows/s") {
		t.Errorf("the failed row's log line is torn: %q", l)
	}
	for _, want := range []string{
		"Run tty stopped (exit 3): interrupted (SIGINT)",
		"re-run the failed rows  replace-metadata run --input runs/tty/failed.ndjson --run-id tty-retry",
		"replace-metadata run --input in.ndjson --run-id tty",
		"resource_not_found",
	} {
		if !strings.Contains(shown, want) {
			t.Errorf("the summary on the screen lacks %q:\n%s", want, shown)
		}
	}
	if strings.Contains(out, testKey) {
		t.Error("the secret key is on the screen")
	}
	if srv.Stats().WritesApplied == 0 {
		t.Error("no write reached the emulator")
	}
}

// TestPipeNoEscapes: the same run, stopped the same way, with stdout and
// stderr on pipes: not one escape code; every line of stderr is a JSON
// object, and the run finished line carries the summary's facts.
func TestPipeNoEscapes(t *testing.T) {
	t.Parallel()
	srv, dir, vars, args := ttyRun(t)
	vars["TERM"] = "xterm-256color"
	s := startBinary(t, dir, vars, append(args, "--progress-interval", "1s")...)
	waitFor(t, "a dozen writes", func() bool { return srv.Stats().WritesApplied >= 12 })
	s.cmd.Process.Signal(os.Interrupt)
	got := s.wait(t, time.Minute)
	if got.code != exitAborted {
		t.Errorf("exit %d, want %d\nstderr:\n%s", got.code, exitAborted, got.stderr)
	}
	if strings.ContainsRune(got.stdout+got.stderr, 0x1b) {
		t.Errorf("escape codes on a pipe:\nstdout %q\nstderr %q", got.stdout, got.stderr)
	}
	var finished map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(got.stderr, "\n"), "\n") {
		if strings.HasPrefix(l, "replace-metadata: ") {
			continue // the error main prints last
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Errorf("a line of stderr is not a JSON object: %q", l)
			continue
		}
		if obj["message"] == "run finished" {
			finished = obj
		}
	}
	next, _ := finished["next"].(map[string]any)
	errs, _ := finished["top_errors"].([]any)
	if next["rerun_failed"] != "replace-metadata run --input runs/tty/failed.ndjson --run-id tty-retry" ||
		next["resume"] != "replace-metadata run --input in.ndjson --run-id tty" || len(errs) != 1 {
		t.Errorf("the run finished line lacks the summary's facts: %v", finished)
	}
	if strings.Contains(got.stderr, `"progress"`) == false {
		t.Errorf("no progress line on a pipe:\n%s", got.stderr)
	}
}

var (
	doneRE   = regexp.MustCompile(` (\d+)/40 `)
	logStart = regexp.MustCompile(`^\d\d:\d\d:\d\d (INF|WRN) `)
)

// maxDone is the most rows done a frame in raw showed.
func maxDone(raw string) int {
	n := 0
	for _, m := range doneRE.FindAllStringSubmatch(raw, -1) {
		d, _ := strconv.Atoi(m[1])
		n = max(n, d)
	}
	return n
}

// countFrames counts the different numbers of rows done the frames showed.
func countFrames(raw string) int {
	seen := map[string]bool{}
	for _, m := range doneRE.FindAllStringSubmatch(raw, -1) {
		seen[m[1]] = true
	}
	return len(seen)
}

// render is what a terminal width columns wide shows after raw: enough of
// a terminal for what the tool writes (text, line breaks, carriage
// returns, cursor up, erase below, erase line; colors are dropped), with
// the scrolled lines kept above. A line the terminal wrapped is one line
// here; trailing blanks are cut.
func render(raw string, width int) []string {
	type row struct {
		cells   []rune
		wrapped bool // continues the row above
	}
	var rows []row
	r, col := 0, 0
	at := func(i int) *row {
		for len(rows) <= i {
			rows = append(rows, row{})
		}
		return &rows[i]
	}
	for i := 0; i < len(raw); {
		c, size := utf8.DecodeRuneInString(raw[i:])
		i += size
		switch {
		case c == 0x1b && i < len(raw) && raw[i] == '[':
			j := i + 1
			for j < len(raw) && (raw[j] < 0x40 || raw[j] > 0x7e) {
				j++
			}
			if j == len(raw) {
				i = j
				break
			}
			params, final := raw[i+1:j], raw[j]
			i = j + 1
			n, err := strconv.Atoi(params)
			if err != nil || n < 1 {
				n = 1
			}
			switch final {
			case 'A': // up, in the same column
				r = max(r-n, 0)
			case 'J': // erase from the cursor to the end of the screen
				l := at(r)
				l.cells = l.cells[:min(col, len(l.cells))]
				rows = rows[:r+1]
			case 'K': // erase to the end of the line
				l := at(r)
				l.cells = l.cells[:min(col, len(l.cells))]
			}
		case c == 0x1b:
			i++ // a two-character escape
		case c == '\r':
			col = 0
		case c == '\n':
			r++
			at(r)
		case c == '\b':
			col = max(col-1, 0)
		case c < ' ':
		default:
			if col >= width {
				r, col = r+1, 0
				at(r).wrapped = true
			}
			l := at(r)
			for len(l.cells) <= col {
				l.cells = append(l.cells, ' ')
			}
			l.cells[col] = c
			col++
		}
	}
	var out []string
	for _, l := range rows {
		if l.wrapped && len(out) > 0 {
			out[len(out)-1] += string(l.cells)
			continue
		}
		out = append(out, string(l.cells))
	}
	for i := range out {
		out[i] = strings.TrimRight(out[i], " ")
	}
	return out
}
