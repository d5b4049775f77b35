package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchKey is the secret key the emulator accepts and the tool sends.
const benchKey = "sk_test_replacemetadatabench0123"

// usage is what a finished process cost.
type usage struct {
	wall   time.Duration
	cpu    time.Duration // user + system, the process and every child it waited for
	maxRSS int64         // bytes: the peak resident set of the process (or its largest child)
	exit   int
}

// wireUsage is usage as the measuring intermediary reports it.
type wireUsage struct {
	WallNS, CPUNS, MaxRSS int64
	Exit                  int
}

func usageOf(ps *os.ProcessState, wall time.Duration) usage {
	u := usage{wall: wall, exit: ps.ExitCode()}
	u.cpu, u.maxRSS = childUsage(ps)
	return u
}

// measureEnv, set in its environment, makes this program the measuring
// intermediary: it runs its arguments as a command and writes the
// command's usage to fd 3.
//
// Why: Go starts a child with vfork (CLONE_VM), and at exec Linux folds
// the peak RSS of the memory the child was sharing, the parent's, into
// the child's ru_maxrss. A child of the bench would so report at least the
// bench's own peak (tens of MB once it has generated inputs). The
// intermediary is a fresh, small process (a few MB), below any peak of
// the tool's, so the tool's ru_maxrss is the tool's own.
const measureEnv = "RMBENCH_MEASURE_CHILD"

// measureChild is the intermediary's main: it returns its exit code.
func measureChild(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "measure: no command")
		return 127
	}
	out := os.NewFile(3, "usage")
	syscall.CloseOnExec(3)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, measureEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// If the bench kills this process, the command goes too.
	dieWithParent(cmd)
	start := time.Now()
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		return 127
	}
	u := usageOf(cmd.ProcessState, time.Since(start))
	json.NewEncoder(out).Encode(wireUsage{WallNS: int64(u.wall), CPUNS: int64(u.cpu), MaxRSS: u.maxRSS, Exit: u.exit})
	out.Close()
	return 0
}

// measured runs cmd (built with exec.CommandContext, its Env, Dir, Stdin,
// Stdout and Stderr set) through the measuring intermediary and returns
// its usage. A non-zero exit is not an error here.
func measured(cmd *exec.Cmd) (usage, error) {
	self, err := os.Executable()
	if err != nil {
		return usage{}, err
	}
	cmd.Args = append([]string{self}, cmd.Args...)
	cmd.Path = self
	cmd.Err = nil // the command's name was resolved for the intermediary's sake only
	cmd.Env = append(cmd.Env, measureEnv+"=1")
	r, w, err := os.Pipe()
	if err != nil {
		return usage{}, err
	}
	defer r.Close()
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		w.Close()
		return usage{}, err
	}
	w.Close()
	werr := cmd.Wait()
	var wu wireUsage
	if err := json.NewDecoder(r).Decode(&wu); err != nil {
		return usage{}, fmt.Errorf("%s: no usage reported (%v, %v)", strings.Join(cmd.Args[1:], " "), werr, err)
	}
	return usage{wall: time.Duration(wu.WallNS), cpu: time.Duration(wu.CPUNS), maxRSS: wu.MaxRSS, exit: wu.Exit}, nil
}

// cleanEnv is the environment for the processes the bench starts: the
// caller's, without any setting of the tool or Clerk, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REPLACE_METADATA_") || strings.HasPrefix(kv, "CLERK_") ||
			strings.HasPrefix(kv, "GOMAXPROCS=") || strings.HasPrefix(kv, "JOB_COMPLETION_INDEX=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// emulatorProc is a clerk-emulator process.
type emulatorProc struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{}
	http *http.Client
}

// startEmulator starts clerk-emulator on a free loopback port with the
// bench's key and args, and waits for its "listening on" line.
func (b *bench) startEmulator(ctx context.Context, args ...string) (*emulatorProc, error) {
	args = append([]string{"-addr", "127.0.0.1:0", "-key", benchKey, "-seed", "1"}, args...)
	cmd := exec.Command(b.emulator, args...)
	cmd.Env = cleanEnv()
	logf, err := os.Create(filepath.Join(b.dir, fmt.Sprintf("emulator-%d.log", b.nextRun())))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e := &emulatorProc{cmd: cmd, done: make(chan struct{}), http: &http.Client{Timeout: 10 * time.Second}}
	go func() {
		cmd.Wait()
		close(e.done)
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				lines <- u
			}
		}
		close(lines)
	}()
	select {
	case u, ok := <-lines:
		if !ok {
			e.stop()
			return nil, fmt.Errorf("clerk-emulator %v exited before listening (see %s)", args, logf.Name())
		}
		e.url = u
	case <-time.After(10 * time.Second):
		e.stop()
		return nil, errors.New("clerk-emulator did not start listening within 10s")
	case <-ctx.Done():
		e.stop()
		return nil, ctx.Err()
	}
	return e, nil
}

// stop ends the emulator: SIGTERM, then SIGKILL if it lingers.
func (e *emulatorProc) stop() {
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		e.cmd.Process.Kill()
		<-e.done
	}
}

// emuStats is the part of GET /_emulator/stats the bench reads.
type emuStats struct {
	Requests      int64            `json:"requests"`
	ByStatus      map[int]int64    `json:"by_status"`
	RateLimited   int64            `json:"rate_limited"`
	WritesApplied int64            `json:"writes_applied"`
	MaxInFlight   int64            `json:"max_in_flight"`
	Faults        map[string]int64 `json:"faults"`
}

// accepted is the requests the server let through its limits.
func (s emuStats) accepted() int64 { return s.Requests - s.RateLimited }

func (e *emulatorProc) stats(ctx context.Context) (emuStats, error) {
	var st emuStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/_emulator/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return st, fmt.Errorf("emulator stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("emulator stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// cpu returns the CPU time the emulator has used so far, from
// /proc/<pid>/stat (utime and stime, in clock ticks of 1/100 s), or 0 when
// it cannot be read.
func (e *emulatorProc) cpu() time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", e.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	_, rest, ok := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func (b *bench) nextRun() int {
	b.runs++
	return b.runs
}

// toolRun is one invocation of replace-metadata.
type toolRun struct {
	args []string
	// pin runs it on one core: GOMAXPROCS=1 and, when installed,
	// taskset -c 0.
	pin bool
	// exits lists the exit codes that are not an error (default 0).
	exits []int
}

// runTool runs the tool to its end in a folder of its own (so no
// config.yaml is read) and returns what it cost, and its stdout.
func (b *bench) runTool(ctx context.Context, t toolRun, extraEnv ...string) (usage, string, error) {
	n := b.nextRun()
	wd := filepath.Join(b.dir, fmt.Sprintf("run-%d", n))
	if err := os.MkdirAll(wd, 0o755); err != nil {
		return usage{}, "", err
	}
	name, args := b.tool, t.args
	env := cleanEnv(extraEnv...)
	if t.pin {
		env = append(env, "GOMAXPROCS=1")
		if ts, err := exec.LookPath("taskset"); err == nil {
			name, args = ts, append([]string{"-c", "0", b.tool}, args...)
		}
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = wd
	cmd.Env = env
	var stdout strings.Builder
	cmd.Stdout = &stdout
	logPath := filepath.Join(wd, "stderr.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return usage{}, "", err
	}
	defer logf.Close()
	cmd.Stderr = logf
	u, err := measured(cmd)
	if err != nil {
		return u, "", fmt.Errorf("replace-metadata %s: %w: %s", strings.Join(t.args, " "), err, tail(logPath, 600))
	}
	ok := u.exit == 0
	for _, c := range t.exits {
		ok = ok || u.exit == c
	}
	if !ok {
		return u, stdout.String(), fmt.Errorf("replace-metadata %s: exit %d: %s", strings.Join(t.args, " "), u.exit, tail(logPath, 600))
	}
	return u, stdout.String(), nil
}

// tail returns the end of a log file, for an error message.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// summary is the part of a run folder's summary.json the bench reads.
type summary struct {
	Total          int     `json:"total"`
	Succeeded      int     `json:"succeeded"`
	Failed         int     `json:"failed"`
	Invalid        int     `json:"invalid"`
	Complete       bool    `json:"complete"`
	Requests       int64   `json:"requests"`
	Retries        int64   `json:"retries"`
	RateLimited    int64   `json:"rate_limited"`
	Reads          int64   `json:"reads"`
	Writes         int64   `json:"writes"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	AchievedRate   float64 `json:"achieved_rate"`
}

// apply runs the tool's run command on input against the emulator at
// apiURL with the extra flags, and reads the run's summary.json.
func (b *bench) apply(ctx context.Context, apiURL, input string, flags ...string) (usage, summary, error) {
	runID := fmt.Sprintf("bench-%d", b.nextRun())
	reportDir := filepath.Join(b.dir, "runs")
	args := append([]string{"run", "--input", input, "--report-dir", reportDir, "--run-id", runID,
		"--api-url", apiURL, "--log-format", "json"}, flags...)
	// Exit 1 is a finished run with failed rows: the figures say how many.
	u, out, err := b.runTool(ctx, toolRun{args: args, exits: []int{1}}, "CLERK_SECRET_KEY="+benchKey)
	if err != nil {
		return u, summary{}, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	dir := lines[len(lines)-1] // the run folder, under the absolute reportDir
	raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return u, summary{}, err
	}
	var s summary
	if err := json.Unmarshal(raw, &s); err != nil {
		return u, summary{}, fmt.Errorf("%s: %w", dir, err)
	}
	if !s.Complete {
		return u, s, fmt.Errorf("run %s not complete: %s", runID, strconv.Quote(string(raw)))
	}
	return u, s, nil
}
