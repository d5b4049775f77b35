package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/job"
	"github.com/replace-metadata/replace-metadata/reports/metrics/gatewaytest"
)

// metricValue returns a pushed series' value, failing when there is not
// exactly one.
func metricValue(t *testing.T, gr gatewaytest.Group, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := gr.Value(name, labels)
	if !ok {
		t.Fatalf("no single series %s%v in group %v: %+v", name, labels, gr.Labels, gr.Families[name])
	}
	return v
}

// TestMetricsPushed runs the command twice for one job and shard against a
// real Pushgateway: a successful run, then one with an invalid row. The
// gateway holds each run's rows by status, requests by code, retries and
// exit code, and the first run's last-success timestamp survives the
// second.
func TestMetricsPushed(t *testing.T) {
	t.Parallel()
	gw := gatewaytest.Start(t)
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true})
	// The first request gets a 500 and is retried.
	var calls atomic.Int64
	srv.SetFault(func(*http.Request) emulator.Fault {
		if calls.Add(1) == 1 {
			return emulator.Fault500
		}
		return emulator.FaultNone
	})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ok.ndjson"), manyRows(20, 20))
	writeFile(t, filepath.Join(dir, "bad.ndjson"), manyRows(4, 4)+`{"user_id":"user_sig9","public_metdata":{}}`+"\n")
	// Userinfo in the URL is basic auth to the gateway: never logged.
	gwURL := strings.Replace(gw.URL, "http://", "http://pusher:pgsecret123@", 1)
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	key := map[string]string{"job": "rm-e2e", "shard": "0-of-1"}
	args := func(input, runID string) []string {
		// --no-read: the counts below are the writes' (the second run's
		// rows would otherwise be unchanged, and not written).
		return []string{"run", "--input", input, "--run-id", runID, "--rate", "unlimited", "--no-read",
			"--pushgateway-url", gwURL, "--metrics-job", "rm-e2e", "--push-interval", "20ms"}
	}

	before := time.Now()
	first := runIn(t, dir, vars, args("ok.ndjson", "ok")...)
	if first.code != exitOK {
		t.Fatalf("first run exit %d\nstderr:\n%s", first.code, first.stderr)
	}
	after := time.Now()
	if !strings.Contains(first.stderr, `"pushgateway_url":"`+gw.URL+`"`) {
		t.Errorf("the start line does not name the gateway %s:\n%s", gw.URL, first.stderr)
	}
	if strings.Contains(first.stderr, "pgsecret123") || strings.Contains(first.stdout, "pgsecret123") {
		t.Errorf("the gateway's password was printed:\n%s", first.stderr)
	}
	if strings.Contains(first.stderr, "could not push") {
		t.Errorf("pushes failed:\n%s", first.stderr)
	}
	gr, ok := gw.Group(t, key)
	if !ok {
		t.Fatalf("no group %v at the gateway: %+v", key, gw.Groups(t))
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"replace_metadata_rows", map[string]string{"status": "succeeded"}, 20},
		{"replace_metadata_rows", map[string]string{"status": "failed"}, 0},
		{"replace_metadata_rows", map[string]string{"status": "invalid"}, 0},
		{"replace_metadata_requests_total", map[string]string{"code": "200"}, 20},
		{"replace_metadata_requests_total", map[string]string{"code": "500"}, 1},
		{"replace_metadata_requests_total", map[string]string{"code": "0"}, 0},
		{"replace_metadata_retries_total", nil, 1},
		{"replace_metadata_rate_limited_total", nil, 0},
		{"replace_metadata_run_complete", nil, 1},
		{"replace_metadata_run_exit_code", nil, 0},
		{"replace_metadata_run_info", map[string]string{"run_id": "ok"}, 1},
	} {
		if got := metricValue(t, gr, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	lastSuccess := metricValue(t, gr, "replace_metadata_last_success_timestamp_seconds", nil)
	if lastSuccess < float64(before.Unix()) || lastSuccess > float64(after.Unix()+1) {
		t.Errorf("last success %v, want between %d and %d", lastSuccess, before.Unix(), after.Unix())
	}
	started := metricValue(t, gr, "replace_metadata_run_start_timestamp_seconds", nil)
	if started < float64(before.Unix()) || started > lastSuccess {
		t.Errorf("start %v, want between %d and the end %v", started, before.Unix(), lastSuccess)
	}
	if d := metricValue(t, gr, "replace_metadata_run_duration_seconds", nil); d < 0 || d > float64(after.Sub(before).Seconds())+1 {
		t.Errorf("duration %v", d)
	}

	second := runIn(t, dir, vars, args("bad.ndjson", "bad")...)
	if second.code != exitRows {
		t.Fatalf("second run exit %d, want 1\nstderr:\n%s", second.code, second.stderr)
	}
	gr, _ = gw.Group(t, key)
	if got := metricValue(t, gr, "replace_metadata_last_success_timestamp_seconds", nil); got != lastSuccess {
		t.Errorf("last success after a failed run %v, want the first run's %v", got, lastSuccess)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"replace_metadata_rows", map[string]string{"status": "succeeded"}, 4},
		{"replace_metadata_rows", map[string]string{"status": "invalid"}, 1},
		{"replace_metadata_requests_total", map[string]string{"code": "200"}, 4},
		{"replace_metadata_retries_total", nil, 0},
		{"replace_metadata_run_complete", nil, 1},
		{"replace_metadata_run_exit_code", nil, 1},
		{"replace_metadata_run_info", map[string]string{"run_id": "bad"}, 1},
	} {
		if got := metricValue(t, gr, c.name, c.labels); got != c.want {
			t.Errorf("after the failed run: %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := gr.Value("replace_metadata_requests_total", map[string]string{"code": "500"}); ok {
		t.Error("the first run's 500 is still at the gateway after the second run")
	}
}

// TestMetricsDuringRun: while a run goes, its metrics are pushed every
// interval (exit code -1); a stop pushes the end (exit code 3) and no
// last success. Each shard is its own group.
func TestMetricsDuringRun(t *testing.T) {
	t.Parallel()
	gw := gatewaytest.Start(t)
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true})
	srv.SetFault(hangAfter(5))
	dir := t.TempDir()
	// Every user on shard 1 of 2, so the five requests that pass are its
	// (blind writes: this is about pushes, not reads).
	var rows strings.Builder
	for i, n := 0, 0; n < 40; i++ {
		if id := fmt.Sprintf("user_push%d", i); job.ShardOf(id, 2) == 1 {
			fmt.Fprintf(&rows, `{"user_id":%q,"public_metadata":{"n":%d}}`+"\n", id, i)
			n++
		}
	}
	writeFile(t, filepath.Join(dir, "in.ndjson"), rows.String())
	s := startBinary(t, dir, map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url},
		"run", "--input", "in.ndjson", "--run-id", "live", "--shard-count", "2", "--shard-index", "1",
		"--workers", "2", "--timeout", "10m", "--grace-period", "100ms", "--no-read", // the five requests are writes
		"--pushgateway-url", gw.URL, "--metrics-job", "rm-live", "--push-interval", "20ms")
	key := map[string]string{"job": "rm-live", "shard": "1-of-2"}
	waitFor(t, "a push of the run in progress with five rows done", func() bool {
		gr, ok := gw.Group(t, key)
		if !ok {
			return false
		}
		done, _ := gr.Value("replace_metadata_rows", map[string]string{"status": "succeeded"})
		code, _ := gr.Value("replace_metadata_run_exit_code", nil)
		return done == 5 && code == -1
	})
	gr, _ := gw.Group(t, key)
	if got := metricValue(t, gr, "replace_metadata_run_complete", nil); got != 0 {
		t.Errorf("complete %v while running", got)
	}
	if _, ok := gr.Families["replace_metadata_last_success_timestamp_seconds"]; ok {
		t.Error("last success pushed while running")
	}

	s.cmd.Process.Signal(syscall.SIGTERM)
	got := s.wait(t, time.Minute)
	if got.code != exitAborted {
		t.Fatalf("exit %d, want 3\nstderr:\n%s", got.code, got.stderr)
	}
	gr, _ = gw.Group(t, key)
	if code := metricValue(t, gr, "replace_metadata_run_exit_code", nil); code != exitAborted {
		t.Errorf("exit code at the gateway %v, want 3", code)
	}
	if got := metricValue(t, gr, "replace_metadata_run_complete", nil); got != 0 {
		t.Errorf("complete %v after a stop", got)
	}
	if got := metricValue(t, gr, "replace_metadata_rows", map[string]string{"status": "succeeded"}); got != 5 {
		t.Errorf("succeeded %v, want 5", got)
	}
	if _, ok := gr.Families["replace_metadata_last_success_timestamp_seconds"]; ok {
		t.Error("last success pushed for a stopped run")
	}
}

// TestMetricsNeverFailTheRun: a gateway that is down costs a warning, not
// the run; a URL that is no gateway's is a config error, found before
// anything is sent, and its password is never printed.
func TestMetricsNeverFailTheRun(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), manyRows(5, 5))
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}

	got := runIn(t, dir, vars, "run", "--input", "in.ndjson", "--pushgateway-url", "http://127.0.0.1:1", "--push-interval", "10ms")
	if got.code != exitOK || !strings.Contains(got.stderr, "could not push metrics") {
		t.Errorf("gateway down: exit %d, want 0 with a warning\nstderr:\n%s", got.code, got.stderr)
	}
	if n := strings.Count(got.stderr, "could not push metrics"); n > 2 {
		t.Errorf("%d push warnings: want the first failure and the final push, not one per interval\n%s", n, got.stderr)
	}

	before := srv.Stats().Requests
	got = runIn(t, dir, vars, "run", "--input", "in.ndjson", "--pushgateway-url", "ftp://user:pgsecret123@127.0.0.1/")
	if got.code != exitUsage || !strings.Contains(got.stderr, "pushgateway_url") {
		t.Errorf("ftp URL: exit %d, want 2 naming the setting\nstderr:\n%s", got.code, got.stderr)
	}
	if strings.Contains(got.stderr, "pgsecret123") {
		t.Errorf("the gateway's password was printed:\n%s", got.stderr)
	}
	if srv.Stats().Requests != before {
		t.Error("requests sent despite a config error")
	}
}
