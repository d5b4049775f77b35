// Package job applies input rows to Clerk. A dispatcher reads rows in
// order and hands them to a Scheduler, which keeps each user's rows in
// order on a pool of workers; each row's step (the write) makes its
// requests through one policy (pacing, the shared Limiter, retries, the
// circuit breaker); and every row ends as exactly one result handed to a
// Recorder, or, when the run stops, as no result at all, left for a
// resumed run.
//
// A row that fails is a result, not an error; only a wrong key, a run of
// failures that no retry cures, a report that cannot be written, a signal
// or the deadline stop the run.
package job

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/reports"
)

// Options are the knobs of a run.
type Options struct {
	// Rate is the most requests per second; 0 means unlimited. It is used
	// when Job.Limiter is nil.
	Rate float64
	// Workers is how many rows may be worked on at once; 0 sizes the pool
	// from the rate and the latency observed.
	Workers int
	// MaxAttempts bounds the requests per row, retries included.
	MaxAttempts int
	// Timeout bounds each request.
	Timeout time.Duration
	// Grace is how long requests in flight may finish after a stop.
	Grace time.Duration
	// Breaker stops the run after this many requests in a row failed with
	// retryable errors after all their attempts; 0 turns it off.
	Breaker int
	// RejectDuplicates makes every row after a user's first invalid.
	RejectDuplicates bool
	// Shard, when Count > 1, keeps only the rows of users that hash to it.
	Shard Shard
	// NoRead turns reading off: rows are written blind, with no backup,
	// no skip of unchanged rows and no counting of removed keys.
	NoRead bool
	// WriteUnchanged writes rows whose every field already holds their
	// value (to fire Clerk's user.updated webhooks, say).
	WriteUnchanged bool
	// Plan reads and decides, backs up what would be replaced (the plan's
	// before.ndjson) and records, but writes nothing.
	Plan bool
	// LimitRemoved stops the run before the write that would take the
	// paths removed over MaxRemovedKeys. RemovedBefore are the paths
	// earlier sessions of the run removed.
	LimitRemoved   bool
	MaxRemovedKeys int
	RemovedBefore  int
	// Baseline, when set, is what each field must hold before it is
	// written (a plan's reading, or what a rolled-back run wrote): a row
	// whose user holds anything else is drifted and not written. It needs
	// reads.
	Baseline *Baseline
	// DriftSince words what the baseline is, for drifted rows' messages:
	// "the plan read it", "the run wrote it".
	DriftSince string
	// Verify reads every row's user and compares each field the row sets
	// with what Clerk holds, recording a verdict per field (a
	// reports.FieldChange with its Verdict); it writes nothing.
	Verify bool
	// Canary, when positive, sends only the first Canary writes (the first
	// rows that need one, in input order) and then stops the run, as a
	// stop does: a run of the same command goes on.
	Canary int
	// Kill, when closed, cancels requests in flight at once.
	Kill <-chan struct{}

	// Backoff is the bound of the first retry's pause, doubling with each
	// attempt up to 20s; 0 means 500ms.
	Backoff time.Duration
	// UserWindow is Clerk's per-user window for metadata writes (10 in 10s);
	// 0 means 10s. Emulators with shorter windows set it.
	UserWindow time.Duration
}

// maxQueued bounds the rows waiting for a worker, so memory stays flat
// when one user has many rows or workers are slower than the input.
const maxQueued = 4096

// Recorder takes the outcome of each row. It must be safe for concurrent use.
type Recorder interface {
	// Seen reports whether row n already has an outcome (a resumed run).
	Seen(n int, raw []byte) bool
	// Record stores row's outcome. An error means it could not be stored:
	// the run stops, and the row has no outcome.
	Record(r reports.Result, raw []byte) error
	// Backup makes the prior values of user's fields set in prior durable
	// before a write replaces them (unless the run backed them up already).
	// An error stops the run, and the write is not sent.
	Backup(userID string, prior clerkapi.Metadata) error
}

// Job applies rows to Clerk.
type Job struct {
	Client *clerkapi.Client
	// Limiter paces requests; nil means a new one at Options.Rate.
	Limiter *Limiter
	Log     zerolog.Logger
	// Now is the clock of durations, pacing and the limiter; nil means
	// time.Now.
	Now func() time.Time
	Options

	current atomic.Pointer[run]
}

// StopError says why a run stopped before every row had an outcome.
type StopError struct {
	Reason string
	// KeyRefused is set when Clerk refused the key (401, 403).
	KeyRefused bool
	// Canary is set when the run stopped after its canary writes.
	Canary bool
	// Cause is the underlying error, if any.
	Cause error
}

func (e *StopError) Error() string { return e.Reason }
func (e *StopError) Unwrap() error { return e.Cause }

// Run reads rows until the input ends or the run stops, and hands every
// row's outcome to rec. Cancelling ctx stops the run: no new request
// starts, requests in flight get Options.Grace to finish. The error is a
// *StopError when the run stopped, or a failure to read the input.
func (j *Job) Run(ctx context.Context, rows input.Reader, rec Recorder) (Stats, error) {
	r := newRun(ctx, j, rec)
	defer r.cancelReq()
	defer r.index.Close()
	j.current.Store(r)

	// The helpers beside the dispatcher: the stop's grace period and the
	// pool's sizing. They return once the run has finished.
	var helpers errgroup.Group
	finished := make(chan struct{})
	helpers.Go(func() error { r.watchStop(finished); return nil })
	if j.Workers == 0 {
		helpers.Go(func() error { r.sizePool(finished); return nil })
	}
	var readErr error
	if j.Canary > 0 {
		readErr = r.dispatchCanary(rows)
	} else {
		readErr = r.dispatch(rows)
	}
	if r.resolver != nil {
		r.resolver.close()
	}
	if r.reader != nil {
		r.reader.close()
	}
	if r.stop.Err() != nil {
		r.sched.Stop()
	}
	r.sched.Close()
	r.sched.Wait()
	close(finished)
	_ = helpers.Wait()

	st := r.stats()
	if readErr != nil {
		return st, readErr
	}
	if cause := context.Cause(r.stop); cause != nil {
		var se *StopError
		if !errors.As(cause, &se) {
			// The cause says why ("interrupted (SIGINT)"); a bare
			// cancellation says nothing, so it says it stopped.
			reason := cause.Error()
			if cause == context.Canceled {
				reason = "stopped: " + reason
			}
			se = &StopError{Reason: reason, Cause: cause}
		}
		return st, se
	}
	return st, nil
}

// Stats returns what the run in progress (or the last one) has done so far.
// It is safe to call while Run runs, e.g. to push metrics.
func (j *Job) Stats() Stats {
	if r := j.current.Load(); r != nil {
		return r.stats()
	}
	return Stats{ByStatus: map[int]int64{}}
}

// Stats tell what a run did.
type Stats struct {
	Rows       int // rows read (of this shard)
	Skipped    int // rows that had an outcome from an earlier session
	Duplicates int // rows whose user appeared on an earlier row
	Recorded   int // outcomes recorded in this session
	Unresolved int // rows left without an outcome (stopped or canceled)

	Requests    int64
	Reads       int64 // read requests, retries included
	Writes      int64 // write requests, retries included
	Retries     int64
	RateLimited int64
	// ByStatus counts responses by HTTP status; 0 counts requests that got
	// no response.
	ByStatus map[int]int64
	// Rate is the limiter's rate in force (+Inf when unlimited), Workers
	// the pool's size, InFlight the requests sent and not yet answered.
	Rate     float64
	Workers  int
	InFlight int
	// EOF is true when the whole input was read and the run did not stop.
	EOF bool
	// Stopping is set once the run was told to stop (a signal, the
	// deadline, a refused key...); Stop says why.
	Stopping bool
	Stop     string
}

// Complete reports whether every row of the input has an outcome.
func (s *Stats) Complete() bool { return s.EOF && s.Unresolved == 0 }

func (r *run) stats() Stats {
	st := Stats{
		Rows: int(r.rows.Load()), Skipped: int(r.skipped.Load()), Duplicates: int(r.duplicates.Load()),
		Recorded: int(r.recorded.Load()), Unresolved: int(r.unresolved.Load()),
		Requests: r.client.Requests(), Reads: r.reads.Load(), Writes: r.writes.Load(), Retries: r.policy.retries.Load(), RateLimited: r.policy.rateLimited.Load(),
		ByStatus: map[int]int64{}, EOF: r.eof.Load() && r.stop.Err() == nil,
		Rate: r.policy.lim.Rate(), Workers: r.sched.Size(), InFlight: int(r.policy.inFlight.Load()),
	}
	if cause := context.Cause(r.stop); cause != nil {
		st.Stopping, st.Stop = true, cause.Error()
	}
	for s := range r.policy.byStatus {
		if n := r.policy.byStatus[s].Load(); n > 0 {
			st.ByStatus[s] = n
		}
	}
	return st
}
