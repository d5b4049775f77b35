// Package metrics pushes a run's metrics to a Prometheus Pushgateway, for
// batch jobs (a Kubernetes CronJob, an indexed Job's shards) that no
// Prometheus scrapes: rows by status, requests by HTTP status, retries,
// 429s, the run's start, duration, completeness and exit code, and the time
// of the last successful run for staleness alerts.
//
// A Pusher sends snapshots that its caller takes of the run; it carries
// counts and timestamps only, never a key or a metadata value.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/replace-metadata/replace-metadata/reports"
)

// DefaultTimeout bounds a push when Pusher.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Snapshot is what a run has done so far, or in all when Finished.
type Snapshot struct {
	RunID   string
	Version string // the tool's version
	// Rows are the outcomes recorded so far, earlier sessions of the run
	// included.
	Rows reports.Counts
	// Requests counts this session's requests by HTTP status; 0 counts the
	// requests that got no response.
	Requests    map[int]int64
	Retries     int64
	RateLimited int64 // 429 answers
	// Start is when this session started; At is when the snapshot was
	// taken, the run's end when Finished.
	Start, At time.Time
	// Finished is set on the run's last snapshot; Complete and ExitCode
	// mean something only then.
	Finished bool
	Complete bool
	ExitCode int
}

// Succeeded reports whether the snapshot is of a run that ended with
// every row succeeded (exit code 0).
func (s Snapshot) Succeeded() bool { return s.Finished && s.Complete && s.ExitCode == 0 }

// Pusher pushes snapshots to one Pushgateway group: the job name and the
// grouping labels (a shard, say) make the group's key. It is safe for
// concurrent use; pushes are sent one at a time.
//
// Every push is an Add (HTTP POST), never a Push (PUT). A PUT replaces
// every metric of the group, so a failed run's pushes would erase the
// last-success timestamp that the last good run left, and with it the
// staleness alert's input ("no success for a day"). A POST replaces only
// the metric families it carries. Each push therefore carries every run
// metric, each family with at least one sample (all three row statuses,
// requests with code "0"), so nothing of an earlier run lingers next to
// this one's, and carries the last-success timestamp only when the run
// ended with exit code 0: the failed runs in between leave it as it was.
type Pusher struct {
	// Timeout bounds each push, the request and its answer; zero means
	// DefaultTimeout.
	Timeout time.Duration

	url  string // without userinfo: safe to log
	push *push.Pusher
	col  *collector
	mu   sync.Mutex // one push at a time
}

// ErrURL means the Pushgateway URL cannot be used. Its message never holds
// the URL: a URL may carry a password.
var ErrURL = errors.New("pushgateway url must be http:// or https://host[:port][/path], without query or fragment")

// labelNameRE is a label name every Pushgateway version takes.
var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Label names the pushed metrics use: the grouping key must not reuse them.
var ownLabels = []string{"status", "code", "run_id", "version", "job"}

// New returns a Pusher to the Pushgateway at gatewayURL (the gateway's
// root, not its /metrics/job/… path) for the group of job and grouping.
// Userinfo in the URL becomes HTTP basic auth and is kept out of the URL
// that errors and URL show. client sends the pushes; it should have a
// timeout of its own.
func New(gatewayURL, job string, grouping map[string]string, client *http.Client) (*Pusher, error) {
	u, err := url.Parse(gatewayURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, ErrURL
	}
	if job == "" {
		return nil, errors.New("pushgateway job name is empty")
	}
	if client == nil {
		return nil, errors.New("pushgateway: no http client")
	}
	user := u.User
	u.User = nil
	p := &Pusher{url: u.String(), col: &collector{}}
	reg := prometheus.NewRegistry() // private: nothing else of the process is pushed
	if err := reg.Register(p.col); err != nil {
		return nil, err
	}
	p.push = push.New(p.url, job).Gatherer(reg).Client(client)
	if user != nil {
		pw, _ := user.Password()
		p.push.BasicAuth(user.Username(), pw)
	}
	for _, k := range slices.Sorted(maps.Keys(grouping)) {
		if !labelNameRE.MatchString(k) || strings.HasPrefix(k, "__") {
			return nil, fmt.Errorf("pushgateway grouping label %q: use letters, digits and '_', not first a digit", k)
		}
		if slices.Contains(ownLabels, k) {
			return nil, fmt.Errorf("pushgateway grouping label %q is a label of the pushed metrics", k)
		}
		p.push.Grouping(k, grouping[k])
	}
	if err := p.push.Error(); err != nil {
		return nil, fmt.Errorf("pushgateway grouping: %w", err)
	}
	return p, nil
}

// URL returns the Pushgateway's URL without userinfo.
func (p *Pusher) URL() string { return p.url }

// Send pushes s, within Timeout. A failed push changes nothing at the
// gateway; the next one sends the whole state again.
func (p *Pusher) Send(ctx context.Context, s Snapshot) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p.col.set(s)
	if err := p.push.AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics: %w", err)
	}
	return nil
}

// The metrics. Counters count this session (a resumed run starts them
// again, as a restarted process would); rows count every session.
var (
	descRows = prometheus.NewDesc("replace_metadata_rows",
		"Input rows with an outcome, by status (succeeded, failed, invalid), over every session of the run.",
		[]string{"status"}, nil)
	descRequests = prometheus.NewDesc("replace_metadata_requests_total",
		"Requests sent to Clerk in this session, by HTTP status of the answer; code 0 counts requests that got no answer.",
		[]string{"code"}, nil)
	descRetries = prometheus.NewDesc("replace_metadata_retries_total",
		"Requests in this session that repeated an earlier attempt of their row.", nil, nil)
	descRateLimited = prometheus.NewDesc("replace_metadata_rate_limited_total",
		"429 answers in this session.", nil, nil)
	descStart = prometheus.NewDesc("replace_metadata_run_start_timestamp_seconds",
		"Unix time this session of the run started.", nil, nil)
	descDuration = prometheus.NewDesc("replace_metadata_run_duration_seconds",
		"Seconds since this session started, or that it took once it ended.", nil, nil)
	descComplete = prometheus.NewDesc("replace_metadata_run_complete",
		"1 once every input row of the run (or shard) has an outcome, else 0.", nil, nil)
	descExitCode = prometheus.NewDesc("replace_metadata_run_exit_code",
		"The run's exit code (0 all succeeded, 1 some rows failed or were invalid, 3 stopped early); -1 while it runs.", nil, nil)
	descInfo = prometheus.NewDesc("replace_metadata_run_info",
		"The run id and tool version of the latest run; always 1.", []string{"run_id", "version"}, nil)
	descLastSuccess = prometheus.NewDesc("replace_metadata_last_success_timestamp_seconds",
		"Unix time the last run that ended with exit code 0 ended; failed runs leave it alone.", nil, nil)
)

// collector turns the latest snapshot into metrics when the push gathers.
type collector struct {
	mu sync.Mutex
	s  Snapshot
}

func (c *collector) set(s Snapshot) {
	s.Requests = maps.Clone(s.Requests) // the caller may go on counting
	c.mu.Lock()
	c.s = s
	c.mu.Unlock()
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRows, descRequests, descRetries, descRateLimited,
		descStart, descDuration, descComplete, descExitCode, descInfo, descLastSuccess} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s := c.s
	c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, st := range reports.Statuses() {
		gauge(descRows, float64(s.Rows[st]), st.String())
	}
	// Code 0 is always there, so the family is never empty: an Add
	// without it would leave the previous run's codes standing.
	counter(descRequests, float64(s.Requests[0]), "0")
	for code, n := range s.Requests {
		if code != 0 {
			counter(descRequests, float64(n), strconv.Itoa(code))
		}
	}
	counter(descRetries, float64(s.Retries))
	counter(descRateLimited, float64(s.RateLimited))
	gauge(descStart, unixSeconds(s.Start))
	gauge(descDuration, max(s.At.Sub(s.Start).Seconds(), 0))
	complete, exit := 0.0, -1.0
	if s.Finished {
		exit = float64(s.ExitCode)
		if s.Complete {
			complete = 1
		}
	}
	gauge(descComplete, complete)
	gauge(descExitCode, exit)
	gauge(descInfo, 1, s.RunID, s.Version)
	if s.Succeeded() {
		gauge(descLastSuccess, unixSeconds(s.At))
	}
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
