package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// started is a run of the binary in the background.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	wd             string
}

// syncBuffer is a bytes.Buffer the test may read while the process writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startBinary(t *testing.T, dir string, vars map[string]string, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.Command(binary, args...), done: make(chan struct{}), wd: dir}
	s.cmd.Dir = dir
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-s.done })
	return s
}

// wait returns the process's result, failing the test if it does not end
// within limit: a stuck process is a bug, not a slow one.
func (s *started) wait(t *testing.T, limit time.Duration) result {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(limit):
		s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("process did not exit within %v\nstderr:\n%s", limit, s.stderr.String())
	}
	code := s.cmd.ProcessState.ExitCode()
	if ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = -int(ws.Signal())
	}
	return result{code: code, stdout: s.stdout.String(), stderr: s.stderr.String(), wd: s.wd}
}

func manyRows(n, users int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"user_id":"user_sig%d","public_metadata":{"row":%d}}`+"\n", i%users, i)
	}
	return b.String()
}

// TestStopThenResume: SIGTERM (or SIGKILL) in the middle of a run, then a
// rerun with the same --run-id. Together the two sessions report every row
// exactly once, all succeeded, and the emulator applied no more extra
// writes than were in flight when the first session stopped. The backup
// holds every user's value from before the run, once: the resumed session
// reads the first one's writes, and never backs them up.
func TestStopThenResume(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			const n, users, workers = 600, 450, 8
			srv, url := startEmulator(t, emulator.Config{Latency: 10 * time.Millisecond, Jitter: 20 * time.Millisecond})
			for i := range users {
				srv.AddUser(fmt.Sprintf("user_sig%d", i), []byte(fmt.Sprintf(`{"before":%d}`, i)), nil, nil)
			}
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "in.ndjson"), manyRows(n, users))
			vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
			args := []string{"run", "--input", "in.ndjson", "--run-id", "stop", "--rate", "300", "--workers", fmt.Sprint(workers), "--log-level", "warn"}

			first := startBinary(t, dir, vars, args...)
			waitFor(t, "a third of the writes", func() bool { return srv.Stats().WritesApplied >= n/3 })
			if err := first.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			got := first.wait(t, 30*time.Second)
			runDir := filepath.Join(dir, "runs", "stop")
			switch sig {
			case syscall.SIGKILL:
				if got.code != -int(syscall.SIGKILL) {
					t.Fatalf("exit %d after SIGKILL", got.code)
				}
			default:
				if got.code != exitAborted {
					t.Fatalf("exit %d after %v, want 3\nstderr:\n%s", got.code, sig, got.stderr)
				}
				sum := readSummary(t, runDir)
				if want := map[syscall.Signal]string{syscall.SIGINT: "interrupted (SIGINT)", syscall.SIGTERM: "terminated (SIGTERM)"}[sig]; sum.Complete || sum.ExitCode != exitAborted || sum.Stopped != want {
					t.Errorf("summary after %v: %+v", sig, sum)
				}
				if !strings.Contains(got.stderr, "resume with --run-id stop") {
					t.Errorf("stderr does not say how to resume:\n%s", got.stderr)
				}
			}
			firstResults := len(results(t, runDir))
			if firstResults == 0 || firstResults >= n {
				t.Fatalf("%d results after the stop, want some but not all of %d", firstResults, n)
			}
			appliedAtStop := srv.Stats().WritesApplied

			second := runBinary(t, dir, vars, args...)
			if second.code != exitOK {
				t.Fatalf("resumed run exit %d\nstderr:\n%s", second.code, second.stderr)
			}
			res := results(t, runDir)
			if len(res) != n {
				t.Errorf("%d rows in results.csv after the resume, want %d", len(res), n)
			}
			// A write in flight when the first session stopped may have
			// landed with no result: the resume reads it back, and the row
			// is unchanged, not written twice.
			unchanged := 0
			for row, status := range res {
				switch status {
				case "succeeded":
				case "unchanged":
					unchanged++
				default:
					t.Errorf("row %d %s", row, status)
				}
			}
			sum := readSummary(t, runDir)
			if !sum.Complete || sum.Counts[reports.Succeeded]+unchanged != n || unchanged > workers || sum.Sessions != 2 || sum.ExitCode != 0 {
				t.Errorf("summary after the resume (%d unchanged): %+v", unchanged, sum)
			}
			extra := srv.Stats().WritesApplied - int64(n-unchanged)
			if extra < 0 || extra > workers {
				t.Errorf("%d writes beyond one per row (first session: %d results, %d applied), want at most %d in flight",
					extra, firstResults, appliedAtStop, workers)
			}
			for i := n - users + 1; i <= n; i++ {
				u, _ := srv.User(fmt.Sprintf("user_sig%d", i%users))
				if want := fmt.Sprintf(`{"row":%d}`, i); string(u.Public) != want {
					t.Errorf("user_sig%d = %s, want its last row %s", i%users, u.Public, want)
				}
			}
			backup := readBackup(t, runDir)
			if len(backup) != users {
				t.Errorf("%d users in the backup, want %d", len(backup), users)
			}
			for id, lines := range backup {
				var i int
				fmt.Sscanf(id, "user_sig%d", &i)
				if want := fmt.Sprintf(`{"user_id":%q,"public_metadata":{"before":%d}}`, id, i); len(lines) != 1 || lines[0] != want {
					t.Errorf("backup of %s: %q, want once %s", id, lines, want)
				}
			}
		})
	}
}

// TestSecondSignal: a second signal cancels the requests in flight at once,
// without waiting out the grace period, and the reports stay consistent.
func TestSecondSignal(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), manyRows(200, 200))
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	// Every request after the tenth hangs until the client gives up.
	srv.SetFault(hangAfter(10))
	s := startBinary(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "twice", "--grace-period", "10m", "--timeout", "10m", "--workers", "4")
	waitFor(t, "requests in flight", func() bool { return srv.Stats().InFlight >= 4 })
	s.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, "the first signal to be taken", func() bool { return strings.Contains(s.stderr.String(), "stopping") })
	s.cmd.Process.Signal(syscall.SIGTERM)
	got := s.wait(t, 20*time.Second)
	if got.code != exitAborted {
		t.Fatalf("exit %d, want 3\nstderr:\n%s", got.code, got.stderr)
	}
	runDir := filepath.Join(dir, "runs", "twice")
	sum := readSummary(t, runDir)
	res := results(t, runDir)
	// Ten requests were answered, reads and writes: each write's row is a
	// result; those that hung have none.
	if sum.Complete || sum.Counts[reports.Succeeded] != len(res) || len(res) == 0 || int64(len(res)) != 10-sum.Reads {
		t.Errorf("summary %+v with %d results, want the writes of 10 answers succeeded and not complete", sum, len(res))
	}
}

// TestDeadline: --deadline stops the run like SIGTERM does.
func TestDeadline(t *testing.T) {
	t.Parallel()
	_, url := startEmulator(t, emulator.Config{AutoCreate: true, Latency: 50 * time.Millisecond})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), manyRows(500, 500))
	got := runBinary(t, dir, map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url},
		"run", "--input", "in.ndjson", "--run-id", "dl", "--rate", "20", "--deadline", "700ms")
	if got.code != exitAborted {
		t.Fatalf("exit %d, want 3\nstderr:\n%s", got.code, got.stderr)
	}
	sum := readSummary(t, got.runDir(t))
	if sum.Complete || !strings.Contains(sum.Stopped, "deadline") || sum.Counts[reports.Succeeded] == 0 {
		t.Errorf("summary %+v", sum)
	}
}

// TestResumeChecksInput: a resume over a changed input is refused (exit 2,
// nothing sent) unless --force.
func TestResumeChecksInput(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true})
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.ndjson"), manyRows(5, 5))
	writeFile(t, filepath.Join(dir, "other.ndjson"), manyRows(300, 300))
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	if got := runIn(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "r"); got.code != exitOK {
		t.Fatalf("first run exit %d\n%s", got.code, got.stderr)
	}
	writeFile(t, in, manyRows(6, 6)) // edited: one row more, rows changed
	before := srv.Stats().Requests
	// An edited input, and another file altogether, are refused, --force
	// or not: their rows would be taken for done without being sent.
	for _, args := range [][]string{
		{"--input", "in.ndjson"}, {"--input", "in.ndjson", "--force"}, {"--input", "other.ndjson", "--force"},
	} {
		got := runIn(t, dir, vars, append([]string{"run", "--run-id", "r"}, args...)...)
		if got.code != exitUsage || !strings.Contains(got.stderr, "sha256") || !strings.Contains(got.stderr, "started on in.ndjson") ||
			!strings.Contains(got.stderr, "new --run-id") {
			t.Errorf("resume %v: exit %d, want 2 naming the run's input\n%s", args, got.code, got.stderr)
		}
	}
	if srv.Stats().Requests != before {
		t.Error("a refused resume sent requests")
	}
	sum := readSummary(t, filepath.Join(dir, "runs", "r"))
	if sum.Total != 5 || sum.Counts.Total() != 5 {
		t.Errorf("the run's summary changed: total %d, %d outcomes", sum.Total, sum.Counts.Total())
	}
	// A new run id is the way: rows already applied end unchanged.
	got := runIn(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "r2")
	if got.code != exitOK {
		t.Fatalf("new run id: exit %d\n%s", got.code, got.stderr)
	}
	if sum := readSummary(t, got.runDir(t)); sum.Counts[reports.Unchanged] == 0 || sum.Counts.Total() != 6 {
		t.Errorf("the new run: %+v", sum.Counts)
	}
}

// hangAfter lets n requests through, then hangs every later one until the
// client gives up.
func hangAfter(n int64) func(*http.Request) emulator.Fault {
	var seen atomic.Int64
	return func(*http.Request) emulator.Fault {
		if seen.Add(1) > n {
			return emulator.FaultHang
		}
		return emulator.FaultNone
	}
}

// TestRunInUse: a second process on a run folder in use stops at once,
// exit 3 (retry later), sending nothing.
func TestRunInUse(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true})
	srv.SetFault(hangAfter(0))
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), manyRows(10, 10))
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	first := startBinary(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "busy", "--timeout", "10m")
	waitFor(t, "the first run's request", func() bool { return srv.Stats().InFlight >= 1 })
	got := runBinary(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "busy")
	if got.code != exitAborted || !strings.Contains(got.stderr, "another process") {
		t.Errorf("second process: exit %d, want 3\nstderr:\n%s", got.code, got.stderr)
	}
	if n := srv.Stats().Requests; n != 1 {
		t.Errorf("%d requests, want only the first run's one", n)
	}
	first.cmd.Process.Kill()
}
