package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/reports"
	"github.com/replace-metadata/replace-metadata/reports/metrics"
	"github.com/replace-metadata/replace-metadata/reports/metrics/gatewaytest"
)

func mustNew(t *testing.T, url, job string, grouping map[string]string) *metrics.Pusher {
	t.Helper()
	p, err := metrics.New(url, job, grouping, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func value(t *testing.T, gr gatewaytest.Group, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := gr.Value(name, labels)
	if !ok {
		t.Fatalf("no single series %s%v in group %v: %+v", name, labels, gr.Labels, gr.Families[name])
	}
	return v
}

// TestPushSequence pushes what three runs of one shard push, in turn, to a
// real Pushgateway: a run in progress, its successful end, then a failed
// run. The last-success timestamp appears with the success and survives
// the failed run; everything else is the latest run's, with no codes left
// over from an earlier one.
func TestPushSequence(t *testing.T) {
	t.Parallel()
	gw := gatewaytest.Start(t)
	key := map[string]string{"job": "seq", "shard": "1-of-3"}
	p := mustNew(t, gw.URL, "seq", map[string]string{"shard": "1-of-3"})
	ctx := context.Background()
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

	running := metrics.Snapshot{
		RunID: "r1", Version: "v1.2.3", Rows: reports.Counts{reports.Succeeded: 5, reports.Invalid: 1},
		Requests: map[int]int64{200: 5, 500: 2, 429: 1}, Retries: 3, RateLimited: 1,
		Start: start, At: start.Add(90 * time.Second),
	}
	if err := p.Send(ctx, running); err != nil {
		t.Fatal(err)
	}
	gr, ok := gw.Group(t, key)
	if !ok {
		t.Fatalf("no group %v in %+v", key, gw.Groups(t))
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"replace_metadata_rows", map[string]string{"status": "succeeded"}, 5},
		{"replace_metadata_rows", map[string]string{"status": "failed"}, 0},
		{"replace_metadata_rows", map[string]string{"status": "invalid"}, 1},
		{"replace_metadata_requests_total", map[string]string{"code": "200"}, 5},
		{"replace_metadata_requests_total", map[string]string{"code": "500"}, 2},
		{"replace_metadata_requests_total", map[string]string{"code": "429"}, 1},
		{"replace_metadata_requests_total", map[string]string{"code": "0"}, 0},
		{"replace_metadata_retries_total", nil, 3},
		{"replace_metadata_rate_limited_total", nil, 1},
		{"replace_metadata_run_start_timestamp_seconds", nil, float64(start.Unix())},
		{"replace_metadata_run_duration_seconds", nil, 90},
		{"replace_metadata_run_complete", nil, 0},
		{"replace_metadata_run_exit_code", nil, -1},
		{"replace_metadata_run_info", map[string]string{"run_id": "r1", "version": "v1.2.3"}, 1},
	} {
		if got := value(t, gr, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if s := gr.Families["replace_metadata_rows"].Samples[0]; s.Labels["job"] != "seq" || s.Labels["shard"] != "1-of-3" {
		t.Errorf("series labels %v, want the grouping key's job and shard", s.Labels)
	}
	if gr.Families["replace_metadata_requests_total"].Type != "COUNTER" || gr.Families["replace_metadata_rows"].Type != "GAUGE" {
		t.Errorf("types: requests %s, rows %s", gr.Families["replace_metadata_requests_total"].Type, gr.Families["replace_metadata_rows"].Type)
	}
	if _, ok := gr.Families["replace_metadata_last_success_timestamp_seconds"]; ok {
		t.Error("last success pushed for a run still in progress")
	}

	end := start.Add(2 * time.Minute)
	done := running
	done.Rows = reports.Counts{reports.Succeeded: 10}
	done.Requests = map[int]int64{200: 10, 500: 2, 429: 1}
	done.At, done.Finished, done.Complete, done.ExitCode = end, true, true, 0
	if err := p.Send(ctx, done); err != nil {
		t.Fatal(err)
	}
	gr, _ = gw.Group(t, key)
	if got := value(t, gr, "replace_metadata_last_success_timestamp_seconds", nil); got != float64(end.Unix()) {
		t.Errorf("last success %v, want %v", got, end.Unix())
	}
	if got := value(t, gr, "replace_metadata_run_exit_code", nil); got != 0 {
		t.Errorf("exit code %v, want 0", got)
	}
	if got := value(t, gr, "replace_metadata_run_complete", nil); got != 1 {
		t.Errorf("complete %v, want 1", got)
	}

	// A later run fails: its pushes replace the run metrics, not the
	// last success.
	start2 := end.Add(time.Hour)
	failed := metrics.Snapshot{
		RunID: "r2", Version: "v1.2.3", Rows: reports.Counts{reports.Succeeded: 3, reports.Failed: 2},
		Requests: map[int]int64{200: 3, 404: 2}, Start: start2, At: start2.Add(time.Minute),
		Finished: true, Complete: true, ExitCode: 1,
	}
	if err := p.Send(ctx, failed); err != nil {
		t.Fatal(err)
	}
	gr, _ = gw.Group(t, key)
	if got := value(t, gr, "replace_metadata_last_success_timestamp_seconds", nil); got != float64(end.Unix()) {
		t.Errorf("after a failed run, last success %v, want the earlier run's %v", got, end.Unix())
	}
	if got := value(t, gr, "replace_metadata_run_exit_code", nil); got != 1 {
		t.Errorf("exit code %v, want 1", got)
	}
	if got := value(t, gr, "replace_metadata_rows", map[string]string{"status": "failed"}); got != 2 {
		t.Errorf("failed rows %v, want 2", got)
	}
	if _, ok := gr.Value("replace_metadata_requests_total", map[string]string{"code": "500"}); ok {
		t.Error("the earlier run's code 500 is still there")
	}
	if got := value(t, gr, "replace_metadata_requests_total", map[string]string{"code": "404"}); got != 2 {
		t.Errorf("404s %v, want 2", got)
	}
	if _, ok := gr.Value("replace_metadata_run_info", map[string]string{"run_id": "r1"}); ok {
		t.Error("the earlier run's info is still there")
	}

	// Another shard is its own group: the first one's metrics stay.
	other := mustNew(t, gw.URL, "seq", map[string]string{"shard": "2-of-3"})
	if err := other.Send(ctx, running); err != nil {
		t.Fatal(err)
	}
	if _, ok := gw.Group(t, map[string]string{"job": "seq", "shard": "2-of-3"}); !ok {
		t.Error("no group for shard 2-of-3")
	}
	gr, _ = gw.Group(t, key)
	if got := value(t, gr, "replace_metadata_run_exit_code", nil); got != 1 {
		t.Errorf("shard 1's exit code %v after shard 2 pushed, want 1", got)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	client := &http.Client{Timeout: time.Second}
	for _, c := range []struct {
		name, url, job string
		grouping       map[string]string
	}{
		{"no scheme", "127.0.0.1:9091", "j", nil},
		{"ftp", "ftp://host/", "j", nil},
		{"no host", "http:///x", "j", nil},
		{"query", "http://host/?a=b", "j", nil},
		{"bad url with a password", "http://user:s3cret@[::1", "j", nil},
		{"empty job", "http://host", "", nil},
		{"grouping clash", "http://host", "j", map[string]string{"status": "x"}},
		{"bad grouping name", "http://host", "j", map[string]string{"0bad": "x"}},
	} {
		_, err := metrics.New(c.url, c.job, c.grouping, client)
		if err == nil {
			t.Errorf("%s: New(%q) accepted", c.name, c.url)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error shows the password: %v", c.name, err)
		}
	}
}

// TestUserinfo: a password in the URL is sent as basic auth and never
// shown: not in URL, not in an error, not in the request path.
func TestUserinfo(t *testing.T) {
	t.Parallel()
	type seen struct {
		user, pass, path, method string
		ok                       bool
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		got <- seen{u, p, r.URL.Path, r.Method, ok}
		http.Error(w, "rejected "+r.URL.String(), http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	url := strings.Replace(srv.URL, "http://", "http://pusher:s3cret@", 1) + "/gw"
	p := mustNew(t, url, "replace-metadata", map[string]string{"shard": "0-of-1"})
	if strings.Contains(p.URL(), "s3cret") || strings.Contains(p.URL(), "pusher") {
		t.Errorf("URL() = %q shows the userinfo", p.URL())
	}
	err := p.Send(context.Background(), metrics.Snapshot{RunID: "r"})
	if err == nil {
		t.Fatal("a 400 from the gateway is no error")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password: %v", err)
	}
	s := <-got
	if !s.ok || s.user != "pusher" || s.pass != "s3cret" {
		t.Errorf("basic auth %+v, want pusher / s3cret", s)
	}
	if s.method != http.MethodPost {
		t.Errorf("method %s, want POST (Add): a PUT would erase the last success", s.method)
	}
	if want := "/gw/metrics/job/replace-metadata/shard/0-of-1"; s.path != want {
		t.Errorf("path %s, want %s", s.path, want)
	}
}

// TestTimeout: a gateway that never answers costs one Timeout, not the run.
func TestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	p := mustNew(t, srv.URL, "j", nil)
	p.Timeout = 50 * time.Millisecond
	err := p.Send(context.Background(), metrics.Snapshot{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send to a silent gateway: %v, want a deadline error", err)
	}
}
