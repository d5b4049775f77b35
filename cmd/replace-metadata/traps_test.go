package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// TestNoInputIsNotTheExample: with the shipped config.yaml, a run against
// Clerk without --input is a usage error; it never sends the example.
// Only --sandbox falls back to it.
func TestNoInputIsNotTheExample(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true})
	root, _ := filepath.Abs("../..")
	got := runIn(t, root, map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url},
		"run", "--report-dir", t.TempDir())
	if got.code != exitUsage || !strings.Contains(got.stderr, "no input") || srv.Stats().Requests != 0 {
		t.Errorf("run without --input: exit %d, %d requests\n%s", got.code, srv.Stats().Requests, got.stderr)
	}
	if got := runIn(t, root, nil, "run", "--sandbox", "--report-dir", t.TempDir()); got.code != exitRows {
		t.Errorf("sandbox without --input: exit %d, want the example's 1\n%s", got.code, got.stderr)
	}
}

// TestRateFromKey: without --rate, a test key's run goes at a development
// instance's pace (9/s) and a live key's at production's (90/s), and the
// start line says which.
func TestRateFromKey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		key, rate string
		args      []string
	}{
		{testKey, `"rate":"9","rate_from":"auto: a test key`, nil},
		{"sk_live_cmdtestkey0123456789abcdef", `"rate":"90","rate_from":"auto: a production`, []string{"--yes"}},
		{testKey, `"rate":"50","rate_from":"set"`, []string{"--rate", "50"}},
	} {
		_, url := startEmulator(t, emulator.Config{AutoCreate: true, Keys: []string{tt.key}})
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "in.ndjson"), `{"user_id":"user_1","public_metadata":{"a":1}}`+"\n")
		got := runIn(t, dir, map[string]string{"CLERK_SECRET_KEY": tt.key, "CLERK_API_URL": url},
			append([]string{"run", "--input", "in.ndjson", "--log-format", "json"}, tt.args...)...)
		if got.code != exitOK || !strings.Contains(got.stderr, tt.rate) {
			t.Errorf("key %s…: exit %d, want the start line to say %s\n%s", tt.key[:8], got.code, tt.rate, got.stderr)
		}
	}
}

// TestSIGHUP: a closed terminal stops the run as SIGTERM does: exit 3, a
// settled summary, and a resume gives every row one outcome. While it
// goes, summary.json's exit code is -1, never 0.
func TestSIGHUP(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true, Latency: 20 * time.Millisecond})
	dir := t.TempDir()
	const n = 300
	writeFile(t, filepath.Join(dir, "in.ndjson"), manyRows(n, n))
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	args := []string{"run", "--input", "in.ndjson", "--run-id", "hup", "--rate", "200", "--workers", "4"}
	s := startBinary(t, dir, vars, args...)
	runDir := filepath.Join(dir, "runs", "hup")
	waitFor(t, "some writes", func() bool { return srv.Stats().WritesApplied >= 20 })
	var running struct {
		ExitCode *int `json:"exit_code"`
	}
	b, err := os.ReadFile(filepath.Join(runDir, reports.SummaryFile))
	if err != nil || json.Unmarshal(b, &running) != nil || running.ExitCode == nil || *running.ExitCode != reports.ExitRunning {
		t.Errorf("summary.json while running: %s (%v), want exit_code -1", b, err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	got := s.wait(t, 30*time.Second)
	if got.code != exitAborted || !strings.Contains(got.stderr, "run finished") {
		t.Fatalf("after SIGHUP: exit %d, want 3 with the final log line\n%s", got.code, got.stderr)
	}
	if sum := readSummary(t, runDir); sum.Complete || sum.ExitCode != exitAborted {
		t.Errorf("summary after SIGHUP: complete %v, exit %d", sum.Complete, sum.ExitCode)
	}
	if got := runBinary(t, dir, vars, args...); got.code != exitOK || len(results(t, runDir)) != n {
		t.Errorf("resume: exit %d, %d results\n%s", got.code, len(results(t, runDir)), got.stderr)
	}
}

// TestSpreadsheetRun: run takes a ';'-separated spreadsheet CSV with a
// column for people (--ignore-columns) as validate does.
func TestSpreadsheetRun(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	srv.AddUser("user_s1", []byte(`{}`), nil, nil)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.csv"), "\ufeffuser_id;name;public_metadata;\r\nuser_s1;Jane;\"{\"\"plan\"\":\"\"pro\"\"}\";\r\n")
	got := runIn(t, dir, map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url},
		"run", "--input", "in.csv", "--ignore-columns", "name")
	if got.code != exitOK {
		t.Fatalf("exit %d\n%s", got.code, got.stderr)
	}
	if u, _ := srv.User("user_s1"); string(u.Public) != `{"plan":"pro"}` {
		t.Errorf("user_s1 = %s", u.Public)
	}
}
