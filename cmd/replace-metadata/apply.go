package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/job"
	"github.com/replace-metadata/replace-metadata/reports"
)

// apply is the run command: it applies the input to Clerk and writes the
// run folder. The run folder's path is the last line on stdout.
func apply(ctx context.Context, cfg config, e env) error {
	sec := &secrets{}
	stdout := &scrubbed{w: e.stdout, s: sec}
	stderr := &scrubbed{w: e.stderr, s: sec}
	err := applyScrubbed(ctx, cfg, e, sec, stdout, stderr)
	if err == nil {
		return nil
	}
	// No error leaves with the key in it, whatever produced it.
	var ee *exitError
	var ue *usageError
	code := exitAborted
	switch {
	case errors.As(err, &ee):
		if ee.err == nil {
			return err
		}
		code = ee.code
	case errors.As(err, &ue):
		code = exitUsage
	}
	return &exitError{code: code, err: errors.New(string(sec.scrub([]byte(err.Error()))))}
}

func applyScrubbed(ctx context.Context, cfg config, e env, sec *secrets, stdout, stderr *scrubbed) error {
	log, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	src, err := openSource(cfg, e.stdin, true)
	if err != nil {
		return err
	}
	defer src.Close()

	runID := cfg.RunID
	if runID == "" {
		runID = time.Now().UTC().Format("20060102T150405Z")
	}
	if !runIDRE.MatchString(runID) || strings.Contains(runID, "..") {
		return usagef("run id %q: use letters, digits, '.', '_' and '-' (it names a folder)", runID)
	}
	dir := filepath.Join(cfg.ReportDir, runID)
	if cfg.ShardCount > 1 {
		dir = filepath.Join(dir, fmt.Sprintf("shard-%d-of-%d", cfg.ShardIndex, cfg.ShardCount))
	}
	prev, err := reports.ReadSummary(dir)
	if err != nil {
		return &usageError{err}
	}
	if err := checkResume(prev, src, cfg.Force, runID); err != nil {
		return err
	}

	// The key and the server: a sandbox brings its own.
	var key, apiURL, keyKind string
	var sandbox *sandbox
	if cfg.Sandbox {
		sandbox, err = startSandbox(cfg, src)
		if err != nil {
			return err
		}
		defer sandbox.Close()
		key, apiURL, keyKind = sandbox.key, sandbox.url, "sandbox"
	} else {
		key, err = secretKey(cfg, e.getenv)
		if err != nil {
			return err
		}
		u, err := job.CheckBaseURL(cfg.APIURL, cfg.AllowInsecureHTTP)
		if err != nil {
			return &usageError{err}
		}
		apiURL, keyKind = u.String(), "test"
		if strings.HasPrefix(key, "sk_live_") {
			keyKind = "live"
		}
	}
	sec.add(key)

	rows, err := input.Open(src.r, src.name, src.format)
	if err != nil {
		return &usageError{err}
	}
	if keyKind == "live" && !cfg.Yes {
		if err := confirm(e, src, apiURL); err != nil {
			return err
		}
	}
	w, err := reports.Open(dir, reports.Options{
		Format: string(src.format),
		Header: input.Header(rows),
	})
	if errors.Is(err, reports.ErrLocked) {
		// Another process has the run (a pod not yet gone): nothing was
		// sent, and a later attempt will resume it.
		return &exitError{code: exitAborted, err: fmt.Errorf("run %s: %w; try again once it has stopped", runID, err)}
	}
	if err != nil {
		return &usageError{err}
	}

	total := src.rows
	if cfg.ShardCount > 1 && total > 0 {
		total = (total + cfg.ShardCount - 1) / cfg.ShardCount // an estimate
	}
	start := time.Now()
	sum := reports.Summary{
		RunID: runID, ToolVersion: toolVersion(), Input: cfg.Input, Format: string(src.format),
		InputSHA256: src.sha256, Total: total, Start: start.UTC(), Sessions: 1,
	}
	var prevRequests, prevRetries, prevLimited int64
	if prev != nil {
		sum.Sessions = prev.Sessions + 1
		prevRequests, prevRetries, prevLimited = prev.Requests, prev.Retries, prev.RateLimited
	}
	logStart(log, cfg, runID, dir, apiURL, keyKind, src, prev != nil, w.Counts())
	sum.Counts = w.Counts()
	if err := reports.WriteSummary(dir, sum); err != nil {
		w.Close()
		return &usageError{err}
	}

	if cfg.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, start.Add(time.Duration(cfg.Deadline)),
			fmt.Errorf("the run's deadline (%v) passed", time.Duration(cfg.Deadline)))
		defer cancel()
	}
	client := job.NewClient(job.ClientOptions{
		BaseURL: apiURL, Key: key, UserAgent: userAgent(),
		HTTP: job.NewHTTPClient(max(int(cfg.Workers), job.MaxWorkers)),
	})
	jlog := log.With().Str("input", src.name).Logger()
	// Clerk's limit is the instance's, not a pod's: shards share the rate.
	rate := float64(cfg.Rate) / float64(cfg.ShardCount)
	limiter := job.NewLimiter(rate, nil, jlog)
	j := &job.Job{
		Client:  client,
		Limiter: limiter,
		Log:     jlog,
		Options: job.Options{
			Rate: rate, Workers: int(cfg.Workers), MaxAttempts: cfg.MaxAttempts,
			Timeout: time.Duration(cfg.Timeout), Grace: time.Duration(cfg.Grace), Breaker: cfg.Breaker,
			RejectDuplicates: cfg.RejectDuplicates,
			Shard:            job.Shard{Index: cfg.ShardIndex, Count: cfg.ShardCount},
			Total:            total, Progress: time.Duration(cfg.Progress), Kill: e.kill,
		},
	}
	pushes := startMetrics(ctx, cfg, log, runID, start, w, j)

	// Keep summary.json current while the run goes.
	stopSummaries := make(chan struct{})
	summariesDone := make(chan struct{})
	go func() {
		defer close(summariesDone)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopSummaries:
				return
			case <-t.C:
				s := sum
				s.Counts = w.Counts()
				s.Requests = prevRequests + client.Requests()
				s.End = time.Now().UTC()
				reports.WriteSummary(dir, s)
			}
		}
	}()

	st, runErr := j.Run(ctx, rows, w)
	close(stopSummaries)
	<-summariesDone
	closeErr := w.Close()

	end := time.Now()
	sum.Counts = w.Counts()
	sum.Duplicates = st.Duplicates
	sum.Complete = runErr == nil && st.EOF && st.Skipped+st.Recorded == st.Rows
	if st.EOF {
		sum.Total = st.Rows
	} else {
		sum.Total = max(sum.Total, sum.Counts.Total())
	}
	sum.InputSHA256 = src.digest(st.EOF)
	sum.Requests = prevRequests + st.Requests
	sum.Retries = prevRetries + st.Retries
	sum.RateLimited = prevLimited + st.RateLimited
	sum.End = end.UTC()
	sum.ElapsedSeconds = round(end.Sub(start).Seconds(), 3)
	if secs := end.Sub(start).Seconds(); secs > 0 {
		sum.AchievedRate = round(float64(st.Requests)/secs, 2)
	}
	code := exitOK
	switch {
	case runErr != nil || closeErr != nil || !sum.Complete:
		code = exitAborted
	case sum.Failed+sum.Invalid > 0:
		code = exitRows
	}
	sum.ExitCode = code
	if runErr != nil {
		sum.Stopped = runErr.Error()
	}
	if sandbox != nil {
		if err := sandbox.dump(filepath.Join(dir, "sandbox-users.ndjson")); err != nil {
			log.Warn().Err(err).Msg("could not write the sandbox's final users")
		}
	}
	if err := reports.WriteSummary(dir, sum); err != nil && closeErr == nil {
		closeErr = err
	}
	pushes.finish(sum)

	ev := log.Info()
	if code != exitOK {
		ev = log.Warn()
	}
	ev.Int("total", sum.Total).Int("succeeded", sum.Succeeded).Int("failed", sum.Failed).
		Int("invalid", sum.Invalid).Int("duplicates", sum.Duplicates).Bool("complete", sum.Complete).
		Int64("requests", st.Requests).Int64("retries", st.Retries).Int64("rate_limited", st.RateLimited).
		Float64("elapsed_seconds", sum.ElapsedSeconds).Float64("achieved_rate", sum.AchievedRate).
		Int("exit_code", code).Str("run_dir", dir).Msg("run finished")
	fmt.Fprintln(stdout, dir)

	switch {
	case closeErr != nil:
		return &exitError{code: exitAborted, err: fmt.Errorf("write reports: %w", closeErr)}
	case runErr != nil:
		var se *job.StopError
		msg := runErr.Error()
		if errors.As(runErr, &se) {
			msg = se.Reason
		}
		return &exitError{code: exitAborted, err: fmt.Errorf("%s; %d rows have no outcome yet: resume with --run-id %s",
			msg, max(sum.Total-sum.Counts.Total(), 0), runID)}
	case code == exitAborted:
		return &exitError{code: code, err: fmt.Errorf("%d rows have no outcome: resume with --run-id %s",
			max(sum.Total-sum.Counts.Total(), 0), runID)}
	}
	return &exitError{code: code}
}

var runIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

// checkResume refuses to resume a run over an input that is not the one
// it started with.
func checkResume(prev *reports.Summary, src *source, force bool, runID string) error {
	if prev == nil || force {
		return nil
	}
	if prev.Format != "" && prev.Format != string(src.format) {
		return usagef("run %s read %s input; this input is %s: use a new --run-id", runID, prev.Format, src.format)
	}
	if src.sha256 == "" {
		return usagef("run %s exists, and standard input cannot be checked against the input it started with: pass --force to resume it anyway, or use a new --run-id", runID)
	}
	if prev.InputSHA256 != "" && prev.InputSHA256 != src.sha256 {
		return usagef("run %s was started on an input with sha256 %s, and %s has sha256 %s: use a new --run-id, or pass --force to resume anyway",
			runID, prev.InputSHA256, src.name, src.sha256)
	}
	return nil
}

// secretKey returns the key from CLERK_SECRET_KEY or secret_key_file.
func secretKey(cfg config, getenv func(string) string) (string, error) {
	envKey := getenv("CLERK_SECRET_KEY")
	var key, from string
	switch {
	case envKey != "" && cfg.SecretKeyFile != "":
		return "", usagef("both CLERK_SECRET_KEY and secret_key_file are set: keep one")
	case envKey != "":
		key, from = envKey, "CLERK_SECRET_KEY"
	case cfg.SecretKeyFile != "":
		b, err := os.ReadFile(cfg.SecretKeyFile)
		if err != nil {
			return "", usagef("read secret_key_file: %v", err)
		}
		key, from = strings.TrimSpace(string(b)), "secret_key_file "+cfg.SecretKeyFile
	default:
		return "", usagef("no secret key: set CLERK_SECRET_KEY or secret_key_file (or use --sandbox to try the tool)")
	}
	if !keyRE.MatchString(key) {
		return "", usagef("%s does not look like a Clerk secret key (sk_live_... or sk_test_...)", from)
	}
	return key, nil
}

var keyRE = regexp.MustCompile(`^sk_(live|test)_[A-Za-z0-9_\-]{4,}$`)

// confirm asks before a run writes to a production instance, when a
// person is there to answer; scheduled runs are never asked.
func confirm(e env, src *source, apiURL string) error {
	if !isTerminal(e.stdin) || !isTerminal(e.stderr) {
		return nil
	}
	if src.file == nil {
		return usagef("the key is a live key and the input is standard input, so there is no one to confirm: pass --yes")
	}
	rows := "the rows of " + src.name
	if src.rows > 0 {
		rows = fmt.Sprintf("%d rows of %s", src.rows, src.name)
	}
	fmt.Fprintf(e.stderr, "This run writes %s to a PRODUCTION Clerk instance (live key) at %s.\nType yes to go on: ", rows, apiURL)
	answer, _ := bufio.NewReader(e.stdin).ReadString('\n')
	if strings.TrimSpace(answer) != "yes" {
		return usagef("not confirmed: nothing was sent")
	}
	return nil
}

func logStart(log zerolog.Logger, cfg config, runID, dir, apiURL, keyKind string, src *source, resumed bool, prior reports.Counts) {
	ev := log.Info().Str("version", toolVersion()).Str("run_id", runID).Str("run_dir", dir).
		Str("input", src.name).Str("format", string(src.format)).
		Str("api_url", apiURL).Str("key", keyKind).
		Str("rate", cfg.Rate.String()).Str("workers", cfg.Workers.String()).
		Int("max_attempts", cfg.MaxAttempts).Stringer("timeout", &cfg.Timeout).
		Stringer("deadline", &cfg.Deadline).Stringer("grace_period", &cfg.Grace).
		Int("circuit_breaker", cfg.Breaker).Bool("reject_duplicates", cfg.RejectDuplicates).
		Bool("resumed", resumed)
	if cfg.ShardCount > 1 {
		ev = ev.Int("shard_index", cfg.ShardIndex).Int("shard_count", cfg.ShardCount)
	}
	if cfg.Metrics.PushgatewayURL != "" {
		ev = ev.Str("pushgateway_url", redactURL(cfg.Metrics.PushgatewayURL))
	}
	if src.sha256 != "" {
		ev = ev.Str("input_sha256", src.sha256)
	}
	if src.rows > 0 {
		ev = ev.Int("rows", src.rows)
		if cfg.Rate > 0 {
			// Shards split the rows and the rate alike.
			left := max(src.rows-prior.Total(), 0)
			d := time.Duration(float64(left) / float64(cfg.Rate) * float64(time.Second))
			ev = ev.Str("expected_duration", d.Round(time.Second).String())
		}
	}
	if resumed {
		ev = ev.Int("already_done", prior.Total())
	}
	switch keyKind {
	case "live":
		ev.Msg("starting run against a PRODUCTION instance (live key)")
	case "sandbox":
		ev.Msg("starting run against the built-in sandbox (no real Clerk instance)")
	default:
		ev.Msg("starting run against a development instance (test key)")
	}
}
