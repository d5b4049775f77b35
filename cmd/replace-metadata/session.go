package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/job"
	"github.com/replace-metadata/replace-metadata/reports"
)

// session is one invocation of the run command. It opens the input and
// the run folder, connects to Clerk (or the sandbox), executes the job and
// finishes the reports; what those mean (complete, totals, the exit code)
// is decided by reports.Summary.Settle.
type session struct {
	plan   bool // the plan command: read and decide, write nothing
	verify bool // a verify pass: read and compare, write nothing, keep the run's summary
	// A run built on another folder: run --plan applies planSum (the plan
	// in dir), rollback puts a run's backup back; both check each write
	// against baseline. dirOverride is the run folder when it is not
	// <report_dir>/<run id>; seedFrom the users file a sandbox starts with
	// (a run's sandbox-users.ndjson) instead of the input's users.
	planSum     *reports.Summary
	against     *reports.Summary // what the session acts on: same API URL, same key
	baseline    *job.Baseline
	driftSince  string
	dirOverride string
	seedFrom    string
	// filter, when set, wraps the input's rows (a verify pass's: the
	// fields each row last wrote).
	filter func(input.Reader) input.Reader
	cfg    config
	env    env
	sec    *secrets
	stdout io.Writer
	log    zerolog.Logger

	// open
	src   *source
	rows  input.Reader
	runID string
	dir   string
	prev  *reports.Summary

	// connect
	sandbox    *sandbox
	ownSandbox bool // closed with the session (not a run's, lent to its verify)
	apiURL     string
	rateFrom   string // where the rate came from: set, or auto for the key
	keyKind    string // live, test or sandbox
	client     *clerkapi.Client

	// execute
	priorDone int            // rows with an outcome from earlier sessions
	verdicts  map[string]int // a verify pass's fields by verdict
	key       string
	w         recorder
	job       *job.Job
	sum       reports.Summary
	start     time.Time

	display *display // the live progress on a terminal; nil when not drawn
}

// recorder is what a session records rows in: a run's reports.Writer, or
// a plan's reports.PlanWriter.
type recorder interface {
	job.Recorder
	Done() int
	Keys() reports.KeyCounts
	TopRemoved(n int) []reports.PathCount
	Close() error
}

// apply is the run command (plan is true for the plan command): it
// applies the input to Clerk, or plans it, and writes the run folder. The
// run folder's path is the last line on stdout. No error leaves with the
// key in it, whatever produced it.
func apply(ctx context.Context, cfg config, e env, plan bool) error {
	sec := &secrets{}
	s := &session{plan: plan, cfg: cfg, env: e, sec: sec, stdout: &scrubbed{w: e.stdout, s: sec}}
	if cfg.Plan != "" {
		if plan {
			return usagef("--plan applies a plan with run; plan makes one")
		}
		if err := s.usePlan(cfg.Plan); err != nil {
			return err
		}
	}
	return runSession(ctx, s)
}

// runSession runs s, and scrubs the key from any error it returns.
func runSession(ctx context.Context, s *session) error {
	sec := s.sec
	err := s.run(ctx)
	if err == nil {
		return nil
	}
	code := reports.ExitStopped
	var ee *exitError
	var ue *usageError
	switch {
	case errors.As(err, &ee):
		if ee.err == nil {
			return err
		}
		code = ee.code
	case errors.As(err, &ue):
		code = reports.ExitUsage
	}
	return &exitError{code: code, err: errors.New(string(sec.scrub([]byte(err.Error()))))}
}

func (s *session) run(ctx context.Context) error {
	log, err := newLogger(s.progressDisplay(&scrubbed{w: s.env.stderr, s: s.sec}), s.cfg.LogLevel, s.cfg.LogFormat)
	if err != nil {
		return err
	}
	s.log = log
	return s.runConnected(ctx)
}

// runConnected is run once the logger is set, and the client too when a
// session lends its own (a verify pass after a run uses the run's).
func (s *session) runConnected(ctx context.Context) error {
	defer s.close()
	if err := s.open(); err != nil {
		return err
	}
	if s.client == nil {
		if err := s.connect(); err != nil {
			return err
		}
	}
	if err := s.openRows(); err != nil {
		return err
	}
	if err := s.begin(); err != nil {
		return err
	}
	st, runErr := s.execute(ctx)
	return s.finish(st, runErr)
}

// exampleInput is the shipped example a sandbox runs without --input.
const exampleInput = "input/example.ndjson"

var runIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// open opens the input, names the run folder and checks that a run
// already there may be resumed with this input. It writes nothing.
func (s *session) open() error {
	if s.cfg.Input == "" && s.cfg.Sandbox && !s.verify {
		s.cfg.Input = exampleInput // the sandbox alone may fall back to it
	}
	src, err := openSource(s.cfg, s.env, true)
	if err != nil {
		return err
	}
	s.src = src
	s.runID = s.cfg.RunID
	if s.runID == "" {
		s.runID = time.Now().UTC().Format("20060102T150405Z")
	}
	if !runIDRE.MatchString(s.runID) || strings.Contains(s.runID, "..") {
		return usagef("run id %q: use letters, digits, '.', '_' and '-' (it names a folder)", s.runID)
	}
	s.dir = filepath.Join(s.cfg.ReportDir, s.runID)
	if s.cfg.ShardCount > 1 {
		s.dir = filepath.Join(s.dir, fmt.Sprintf("shard-%d-of-%d", s.cfg.ShardIndex, s.cfg.ShardCount))
	}
	if s.dirOverride != "" {
		s.dir = s.dirOverride
	}
	if s.verify {
		return nil
	}
	if s.prev, err = reports.ReadSummary(s.env.path(s.dir)); err != nil {
		return &usageError{err}
	}
	if s.planSum != nil {
		if err := s.checkPlanInput(); err != nil {
			return err
		}
		if s.prev != nil && s.prev.Command == "plan" {
			s.prev = nil // the plan's own summary: the run starts now
		}
	}
	if s.plan {
		if s.cfg.NoRead {
			return usagef("a plan reads every user: --no-read makes no sense with it")
		}
		return nil // OpenPlan refuses a folder that holds a plan or a run
	}
	return checkResume(s.prev, src, s.runID)
}

// connect finds the key and the server (a sandbox brings its own) and
// builds the client.
func (s *session) connect() error {
	var key string
	if s.cfg.Sandbox {
		seed := cmp.Or(s.seedFrom, s.env.path(s.cfg.Input))
		sb, err := startSandbox(seed, s.seedFrom != "", s.src)
		if err != nil {
			return err
		}
		s.sandbox, s.ownSandbox = sb, true
		key, s.apiURL, s.keyKind = sb.key, sb.url, "sandbox"
	} else {
		var err error
		if key, err = secretKey(s.cfg, s.env); err != nil {
			return err
		}
		u, err := clerkapi.CheckBaseURL(s.cfg.APIURL, s.cfg.AllowInsecureHTTP)
		if err != nil {
			return &usageError{err}
		}
		s.apiURL, s.keyKind = u.String(), "test"
		if strings.HasPrefix(key, "sk_live_") {
			s.keyKind = "live"
		}
	}
	s.sec.add(key)
	s.key = key
	s.cfg.Rate, s.rateFrom = rateFor(s.cfg.Rate, s.keyKind)
	s.client = clerkapi.NewClient(clerkapi.ClientOptions{
		BaseURL: s.apiURL, Key: key, UserAgent: userAgent(),
		HTTP: clerkapi.NewHTTPClient(max(int(s.cfg.Workers), job.MaxWorkers)),
	})
	return nil
}

// openRows checks the instance against what the session acts on, reads
// the input's header and asks before writing to production.
func (s *session) openRows() error {
	if err := s.checkInstance(); err != nil {
		return err
	}
	rows, err := s.src.opts.Open(s.src.r, s.src.name, s.src.format)
	if err != nil {
		return &usageError{err}
	}
	s.rows = rows
	if s.filter != nil {
		s.rows = s.filter(rows)
	}
	if s.keyKind == "live" && !s.cfg.Yes && !s.plan && !s.verify {
		if err := confirm(s.env, s.src, s.apiURL); err != nil {
			return err
		}
	}
	return nil
}

// begin takes the run folder (another process holding it is a stop, not
// a usage error: a later attempt resumes) and writes the first summary.
func (s *session) begin() error {
	var err error
	switch {
	case s.plan:
		s.w, err = s.openPlan()
	case s.verify:
		var v *reports.VerifyWriter
		if v, err = reports.OpenVerify(s.env.path(s.dir)); err == nil {
			s.w = v
		}
	default:
		var prior []reports.PathCount
		if s.prev != nil {
			prior = s.prev.TopRemoved
		}
		var w *reports.Writer
		w, err = reports.Open(s.env.path(s.dir), reports.Options{
			Format: string(s.src.format), Header: input.Header(s.rows), PriorRemoved: prior,
		})
		if err == nil {
			s.w = w
		}
	}
	if errors.Is(err, reports.ErrLocked) {
		return &exitError{code: reports.ExitStopped, err: fmt.Errorf("run %s: %w; try again once it has stopped", s.runID, err)}
	}
	if err != nil {
		return &usageError{err}
	}
	s.start = time.Now()
	total := s.src.rows
	if s.cfg.ShardCount > 1 && total > 0 {
		total = (total + s.cfg.ShardCount - 1) / s.cfg.ShardCount // an estimate
	}
	s.sum = reports.Summary{
		Command: "run", RunID: s.runID, ToolVersion: toolVersion(), Input: s.cfg.Input, Format: string(s.src.format),
		InputSHA256: s.src.sha256, APIURL: s.apiURL, KeyFingerprint: keyFingerprint(s.key), Sandbox: s.sandbox != nil,
		Total: total, Start: s.start.UTC(), Sessions: 1,
		ExitCode: reports.ExitRunning, // until the session ends, no code says it did
	}
	switch w := s.w.(type) {
	case *reports.Writer:
		s.sum.Counts, s.sum.KeyCounts = w.Counts(), w.Keys()
		s.priorDone = s.sum.Counts.Total()
	case *reports.PlanWriter:
		s.sum.Command, s.sum.Actions = "plan", &reports.ActionCounts{}
	case *reports.VerifyWriter:
		s.sum.Command = "verify"
		s.logStart()
		return nil // the run's summary.json is the run's
	}
	if s.prev != nil && !s.plan {
		s.sum.Sessions = s.prev.Sessions + 1
	}
	s.logStart()
	if err := reports.WriteSummary(s.env.path(s.dir), s.sum); err != nil {
		return &usageError{err}
	}
	return nil
}

// execute runs the job, with the updater feeding summary.json, the
// metrics and the progress line while it goes.
func (s *session) execute(ctx context.Context) (job.Stats, error) {
	if s.cfg.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, s.start.Add(time.Duration(s.cfg.Deadline)),
			fmt.Errorf("the run's deadline (%v) passed", time.Duration(s.cfg.Deadline)))
		defer cancel()
	}
	jlog := s.log.With().Str("input", s.src.name).Logger()
	// Clerk's limit is the instance's, not a pod's: shards share the rate.
	rate := float64(s.cfg.Rate) / float64(s.cfg.ShardCount)
	s.job = &job.Job{
		Client:  s.client,
		Limiter: job.NewLimiter(rate, nil, jlog),
		Log:     jlog,
		Options: job.Options{
			Rate: rate, Workers: int(s.cfg.Workers), MaxAttempts: s.cfg.MaxAttempts,
			Timeout: time.Duration(s.cfg.Timeout), Grace: time.Duration(s.cfg.Grace), Breaker: s.cfg.Breaker,
			RejectDuplicates: s.cfg.RejectDuplicates,
			Shard:            job.Shard{Index: s.cfg.ShardIndex, Count: s.cfg.ShardCount},
			Kill:             s.env.kill,
			NoRead:           s.cfg.NoRead, WriteUnchanged: s.cfg.WriteUnchanged, Plan: s.plan,
			// A plan counts every removed key, and says at the end.
			LimitRemoved: s.cfg.MaxRemovedKeys >= 0 && !s.plan, MaxRemovedKeys: int(s.cfg.MaxRemovedKeys),
			RemovedBefore: s.sum.Removed,
			Baseline:      s.baseline, DriftSince: s.driftSince, Verify: s.verify, Canary: s.cfg.Canary,
		},
	}
	u := &reports.Updater{Snapshot: s.progress}
	if !s.verify {
		u.Every(summaryInterval, s.writeSummary)
	}
	u.Every(time.Duration(s.cfg.Progress), s.logProgress())
	u.Every(displayInterval, s.display.Update)
	if m := startMetrics(s.cfg, s.log, s.runID, s.start); m != nil {
		u.Every(time.Duration(s.cfg.Metrics.PushInterval), m.push)
	}
	u.Start()
	st, runErr := s.job.Run(ctx, s.rows, s.w)
	u.Halt() // the snapshots read the recorder and the summary: no more of them
	closeErr := s.w.Close()
	s.recorded()
	s.w = nil
	s.settle(st, runErr, closeErr)
	final := s.progress()
	final.Summary = &s.sum
	u.Stop(final)
	if runErr == nil && closeErr != nil {
		runErr = &job.StopError{Reason: "write reports: " + closeErr.Error(), Cause: closeErr}
	}
	return st, runErr
}

// summaryInterval is how often summary.json is rewritten during a run.
const summaryInterval = 5 * time.Second

// recorded copies what the recorder holds into the summary.
func (s *session) recorded() {
	switch w := s.w.(type) {
	case *reports.Writer:
		s.sum.Counts = w.Counts()
	case *reports.PlanWriter:
		a := w.Actions()
		s.sum.Actions, s.sum.PlanUsers = &a, w.Users()
	case *reports.VerifyWriter:
		s.verdicts = w.Verdicts()
	}
	s.sum.KeyCounts = s.w.Keys()
	s.sum.TopRemoved = s.w.TopRemoved(reports.TopPaths)
}

// progress is the updater's snapshot of the run.
func (s *session) progress() reports.Progress {
	st := s.job.Stats()
	p := reports.Progress{
		Elapsed: time.Since(s.start), Total: s.sum.Total, Counts: s.sum.Counts, Done: s.sum.Counts.Total(),
		Requests: st.Requests, Reads: st.Reads, Writes: st.Writes, Retries: st.Retries, RateLimited: st.RateLimited,
		ByStatus: st.ByStatus, Rate: st.Rate, Workers: st.Workers, InFlight: st.InFlight, Stopping: st.Stopping,
	}
	if s.w != nil {
		p.Done = s.w.Done()
		if w, ok := s.w.(*reports.Writer); ok {
			p.Counts = w.Counts()
		}
	}
	return p
}

// writeSummary keeps summary.json current while the run goes; the final
// one is written by finish.
func (s *session) writeSummary(p reports.Progress) {
	if p.Final {
		return
	}
	sum := s.sum
	sum.Counts = p.Counts
	if w, ok := s.w.(*reports.Writer); ok {
		sum.KeyCounts = w.Keys()
	}
	sum.Requests = s.prevRequests() + p.Requests
	sum.End = time.Now().UTC()
	reports.WriteSummary(s.env.path(s.dir), sum)
}

func (s *session) prevRequests() int64 {
	if s.prev == nil || s.plan {
		return 0
	}
	return s.prev.Requests
}

// settle fills in the summary from how the session ended.
func (s *session) settle(st job.Stats, runErr, closeErr error) {
	end := time.Now()
	s.sum.Duplicates = st.Duplicates
	e := reports.End{Rows: st.Rows, EOF: st.EOF, Unresolved: st.Unresolved}
	var se *job.StopError
	switch {
	case errors.As(runErr, &se):
		e.Stopped, e.KeyRefused = se.Reason, se.KeyRefused
	case runErr != nil:
		e.Stopped = runErr.Error()
	case closeErr != nil:
		e.Stopped = "write reports: " + closeErr.Error()
	}
	if s.plan {
		s.sum.SettlePlan(e, int(s.cfg.MaxRemovedKeys))
	} else {
		s.sum.Settle(e)
	}
	s.sum.InputSHA256 = s.src.digest(st.EOF)
	s.sum.Requests, s.sum.Reads, s.sum.Writes = st.Requests, st.Reads, st.Writes
	if p := s.prev; p != nil && !s.plan {
		s.sum.Requests += p.Requests
		s.sum.Reads += p.Reads
		s.sum.Writes += p.Writes
		s.sum.Retries, s.sum.RateLimited = p.Retries, p.RateLimited
	}
	s.sum.Retries += st.Retries
	s.sum.RateLimited += st.RateLimited
	s.sum.End = end.UTC()
	s.sum.ElapsedSeconds = round(end.Sub(s.start).Seconds(), 3)
	if secs := end.Sub(s.start).Seconds(); secs > 0 {
		s.sum.AchievedRate = round(float64(st.Requests)/secs, 2)
	}
}

// finish writes the final summary, logs the end and says how to go on.
func (s *session) finish(st job.Stats, runErr error) error {
	sum := &s.sum
	if s.verify {
		return s.finishVerify(runErr)
	}
	if s.sandbox != nil {
		if err := s.sandbox.dump(s.env.path(filepath.Join(s.dir, "sandbox-users.ndjson"))); err != nil {
			s.log.Warn().Err(err).Msg("could not write the sandbox's final users")
		}
	}
	writeErr := reports.WriteSummary(s.env.path(s.dir), *sum)
	ev := s.log.Info()
	if sum.ExitCode != reports.ExitOK {
		ev = s.log.Warn()
	}
	ev = ev.Int("total", sum.Total)
	for _, status := range reports.Statuses() {
		ev = ev.Int(status.String(), sum.Counts[status])
	}
	ev = ev.Int("duplicates", sum.Duplicates).Bool("complete", sum.Complete).
		Int64("requests", st.Requests).Int64("reads", st.Reads).Int64("writes", st.Writes).
		Int64("retries", st.Retries).Int64("rate_limited", st.RateLimited).
		Int("removed_keys", sum.Removed).Int("added_keys", sum.Added).Int("changed_keys", sum.Changed).
		Float64("elapsed_seconds", sum.ElapsedSeconds).Float64("achieved_rate", sum.AchievedRate).
		Int("exit_code", sum.ExitCode).Str("run_dir", s.dir)
	end := s.conclusion(st)
	end.fields(ev).Msg(sum.Command + " finished")
	end.print()
	if s.plan {
		printPlan(s.stdout, sum, int(s.cfg.MaxRemovedKeys))
	}
	if s.plan && writeErr == nil {
		writeErr = reports.WritePlan(s.env.path(s.dir), *sum)
	}
	var se *job.StopError
	if errors.As(runErr, &se) && se.Canary {
		s.printCanary()
	}
	if s.cfg.Verify && sum.Complete && runErr == nil && writeErr == nil {
		if code := s.verifyAfter(); code > sum.ExitCode {
			sum.ExitCode = code
			reports.WriteSummary(s.env.path(s.dir), *sum)
		}
	}
	fmt.Fprintln(s.stdout, s.dir)

	switch {
	case runErr != nil:
		msg := runErr.Error()
		if se != nil {
			msg = se.Reason
		}
		if sum.ExitCode == reports.ExitKeyRefused {
			return &exitError{code: sum.ExitCode, err: errors.New(msg)}
		}
		return &exitError{code: reports.ExitStopped, err: fmt.Errorf("%s; %s %s no outcome yet: resume with --run-id %s",
			msg, count(sum.Left(), "row"), verb(sum.Left(), "has", "have"), s.runID)}
	case writeErr != nil:
		return &exitError{code: reports.ExitStopped, err: fmt.Errorf("write reports: %w", writeErr)}
	case sum.ExitCode == reports.ExitStopped:
		return &exitError{code: sum.ExitCode, err: fmt.Errorf("%s %s no outcome: resume with --run-id %s",
			count(sum.Left(), "row"), verb(sum.Left(), "has", "have"), s.runID)}
	}
	return &exitError{code: sum.ExitCode}
}

func (s *session) close() {
	if s.w != nil {
		s.w.Close()
	}
	if s.sandbox != nil && s.ownSandbox {
		s.sandbox.Close()
	}
	if s.src != nil {
		s.src.Close()
	}
}
