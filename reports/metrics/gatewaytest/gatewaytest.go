// Package gatewaytest runs a real Prometheus Pushgateway on loopback for
// tests, and reads back what was pushed to it.
//
// The binary is Debian's prometheus-pushgateway or one built by
// `go install github.com/prometheus/pushgateway@v1.11.1`; .ci/run
// installs one. Without it, Start skips the test, or fails it when CI is
// set: CI must not pass by skipping.
package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Install says how to get a Pushgateway binary.
const Install = "install one: apt-get install prometheus-pushgateway (Debian), or go install github.com/prometheus/pushgateway@v1.11.1; or run .ci/run"

// Find returns the path of a Pushgateway binary, or "" when there is none:
// prometheus-pushgateway or pushgateway on PATH, Debian's
// /usr/bin/prometheus-pushgateway, or pushgateway in Go's bin folder.
func Find() string {
	for _, name := range []string{"prometheus-pushgateway", "pushgateway"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	candidates := []string{"/usr/bin/prometheus-pushgateway"}
	if gobin := goEnv("GOBIN"); gobin != "" {
		candidates = append(candidates, filepath.Join(gobin, "pushgateway"))
	}
	if gopath := goEnv("GOPATH"); gopath != "" {
		for _, dir := range filepath.SplitList(gopath) {
			candidates = append(candidates, filepath.Join(dir, "bin", "pushgateway"))
		}
	}
	for _, p := range candidates {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func goEnv(name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// Gateway is a running Pushgateway.
type Gateway struct {
	// URL is the gateway's root, like http://127.0.0.1:41234.
	URL    string
	client *http.Client
}

// Start starts a Pushgateway on a free loopback port, in memory only (no
// persistence file), and stops it when the test ends. It skips the test
// when no binary is found, unless the environment sets CI: then it fails.
func Start(t testing.TB) *Gateway {
	t.Helper()
	bin := Find()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Pushgateway binary found (CI is set, so this fails instead of skipping): %s", Install)
		}
		t.Skipf("no Pushgateway binary found on PATH, at /usr/bin/prometheus-pushgateway or in $(go env GOPATH)/bin: %s", Install)
	}
	// The port is free when picked, but another process may take it
	// before the gateway binds it: then try another.
	var last string
	for range 5 {
		g, out, err := start(t, bin)
		if err == nil {
			return g
		}
		last = fmt.Sprintf("%v\n%s", err, out)
	}
	t.Fatalf("start %s: %s", bin, last)
	return nil
}

func start(t testing.TB, bin string) (*Gateway, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := l.Addr().String()
	l.Close()

	var out lockedBuffer
	cmd := exec.Command(bin,
		"--web.listen-address="+addr,
		"--persistence.file=", // in memory: nothing outlives the test
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}

	g := &Gateway{URL: "http://" + addr, client: &http.Client{Timeout: 5 * time.Second}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return nil, out.String(), fmt.Errorf("pushgateway exited before it was ready")
		default:
		}
		if g.ready() {
			t.Cleanup(stop)
			return g, "", nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, out.String(), fmt.Errorf("pushgateway not ready at %s after 30s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *Gateway) ready() bool {
	resp, err := g.client.Get(g.URL + "/-/ready")
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Group is one grouping key's metrics, as the gateway's
// /api/v1/metrics lists them.
type Group struct {
	// Labels is the grouping key, job included.
	Labels map[string]string
	// Families maps a metric name to its samples.
	Families map[string]Family
}

// Family is a metric family in a group.
type Family struct {
	Type    string   `json:"type"`
	Help    string   `json:"help"`
	Samples []Sample `json:"metrics"`
}

// Sample is one series: its labels (grouping labels included) and value.
type Sample struct {
	Labels map[string]string `json:"labels"`
	Value  string            `json:"value"`
}

// Groups returns every group the gateway holds.
func (g *Gateway) Groups(t testing.TB) []Group {
	t.Helper()
	resp, err := g.client.Get(g.URL + "/api/v1/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/metrics: %d %v\n%s", resp.StatusCode, err, b)
	}
	var doc struct {
		Status string                       `json:"status"`
		Data   []map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Status != "success" {
		t.Fatalf("GET /api/v1/metrics: %v\n%s", err, b)
	}
	var out []Group
	for _, d := range doc.Data {
		gr := Group{Families: map[string]Family{}}
		for k, v := range d {
			switch k {
			case "labels":
				if err := json.Unmarshal(v, &gr.Labels); err != nil {
					t.Fatalf("group labels %s: %v", v, err)
				}
			case "last_push_successful":
			default:
				var f Family
				if err := json.Unmarshal(v, &f); err != nil {
					t.Fatalf("metric %s: %s: %v", k, v, err)
				}
				gr.Families[k] = f
			}
		}
		out = append(out, gr)
	}
	return out
}

// Group returns the group whose grouping key is exactly labels (job
// included), and whether there is one.
func (g *Gateway) Group(t testing.TB, labels map[string]string) (Group, bool) {
	t.Helper()
	for _, gr := range g.Groups(t) {
		if maps.Equal(gr.Labels, labels) {
			return gr, true
		}
	}
	return Group{}, false
}

// Value returns the value of the series of metric name whose labels
// include want, and whether exactly one series matches.
func (gr Group) Value(name string, want map[string]string) (float64, bool) {
	var v float64
	found := 0
	for _, s := range gr.Families[name].Samples {
		match := true
		for k, w := range want {
			if s.Labels[k] != w {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		x, err := strconv.ParseFloat(s.Value, 64)
		if err != nil {
			return 0, false
		}
		v = x
		found++
	}
	return v, found == 1
}

// lockedBuffer collects a process's output while tests may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
