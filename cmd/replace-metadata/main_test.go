package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/clerkapi/emulator/emulatortest"
	"github.com/replace-metadata/replace-metadata/reports"
)

const testKey = "sk_test_cmdtestkey0123456789abcdef"

// binary is the command built once for the tests that run it as a process
// (signals, exit codes, the whole stdout and stderr).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "replace-metadata-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "replace-metadata")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		build = exec.Command("go", "build", "-o", binary, ".")
	}
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startEmulator serves an emulator on loopback that accepts testKey.
func startEmulator(t testing.TB, cfg emulator.Config) (*emulator.Server, string) {
	t.Helper()
	return emulatortest.Start(t, testKey, cfg)
}

// result is what one run of the command did.
type result struct {
	code           int
	stdout, stderr string
	wd             string // the working directory it ran in
}

// runDir is the run folder: the last line of stdout, taken from the
// working directory the command ran in.
func (r result) runDir(t testing.TB) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	dir := lines[len(lines)-1]
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(r.wd, dir)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("last stdout line %q is not the run folder: %v\nstderr:\n%s", dir, err, r.stderr)
	}
	return dir
}

// runInProcess calls run like main does, with the given environment.
func runInProcess(t testing.TB, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, env{
		stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr,
		getenv: func(k string) string { return vars[k] },
	})
	return result{code: report(err, &stderr), stdout: stdout.String(), stderr: stderr.String()}
}

// runIn calls run like main does, in the working directory dir, with only
// the given environment: the command end to end, in process (fast,
// parallel, covered). Tests of signals, locks and SIGKILL use runBinary.
func runIn(t testing.TB, dir string, vars map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, env{
		stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		getenv: func(k string) string { return vars[k] }, dir: dir,
	})
	return result{code: report(err, &stderr), stdout: stdout.String(), stderr: stderr.String(), wd: dir}
}

// runBinary runs the built command in dir with only the given environment.
func runBinary(t testing.TB, dir string, vars map[string]string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String(), wd: dir}
}

func writeFile(t testing.TB, path, data string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readSummary(t testing.TB, dir string) reports.Summary {
	t.Helper()
	s, err := reports.ReadSummary(dir)
	if err != nil || s == nil {
		t.Fatalf("summary in %s: %v", dir, err)
	}
	return *s
}

// results reads results.csv as row number -> status, failing on a row
// reported twice.
func results(t testing.TB, dir string) map[int]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, reports.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	if i := strings.LastIndexByte(string(b), '\n'); i >= 0 {
		b = b[:i+1] // a torn last line is not a result: the next session cuts it
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "row,line,user_id,status,http_status,error_code,error_message,attempts,duration_ms,clerk_trace_id,removed_keys,added_keys,changed_keys,key" {
		t.Fatalf("results.csv header %q", lines[0])
	}
	for _, l := range lines[1:] {
		var n int
		fmt.Sscanf(l, "%d,", &n)
		if _, dup := out[n]; dup {
			t.Errorf("row %d reported twice in %s", n, dir)
		}
		f := strings.Split(l, ",")
		out[n] = f[3]
		if strings.HasPrefix(f[2], `"`) { // a quoted id with a comma
			out[n] = "?"
		}
	}
	return out
}

// readBackup reads a run folder's backup.ndjson: its lines by user id.
func readBackup(t testing.TB, dir string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, reports.BackupFile))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		var row struct {
			UserID string `json:"user_id"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("backup line %q: %v", line, err)
		}
		out[row.UserID] = append(out[row.UserID], line)
	}
	return out
}

// sameJSON: see emulatortest.SameJSON.
var sameJSON = emulatortest.SameJSON
