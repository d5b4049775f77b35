package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/reports"
)

// run is the state of one Run: the dispatcher's, the scheduler it feeds,
// the policy every request goes through, and the counters.
type run struct {
	opts     Options
	client   *clerkapi.Client
	log      zerolog.Logger
	now      func() time.Time
	rec      Recorder
	index    input.Index // users seen, to tell a user's later rows
	sched    *Scheduler[task]
	policy   *policy
	users    *users    // nil with NoRead
	reader   *reader   // nil with NoRead
	resolver *resolver // for rows keyed by external id or email, once one comes
	guard    *guard

	stop      context.Context // done: dispatch nothing more
	abort     context.CancelCauseFunc
	inflight  context.Context // requests in flight
	cancelReq context.CancelFunc

	rows, duplicates, skipped atomic.Int64
	recorded, unresolved      atomic.Int64
	reads, writes             atomic.Int64
	readLat                   readLatency
	canaryLeft                atomic.Int64
	eof                       atomic.Bool
}

// task is a row on its way to a worker.
type task struct {
	row input.Row
	// repeat is set when the user appeared on an earlier row: only then
	// can the per-user limit come into play.
	repeat bool
	// user is what the run knows of the row's user (nil with NoRead).
	user *user
	// res is what the row's key resolved to, for rows that name their
	// user by an external id or an email address.
	res *resolution
}

func newRun(ctx context.Context, j *Job, rec Recorder) *run {
	o := j.Options
	now := j.Now
	if now == nil {
		now = time.Now
	}
	o.MaxAttempts = max(o.MaxAttempts, 1)
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = defaultBackoff
	}
	if o.UserWindow <= 0 {
		o.UserWindow = userWindow
	}
	lim := j.Limiter
	if lim == nil {
		lim = NewLimiter(o.Rate, now, j.Log)
	}
	r := &run{opts: o, client: j.Client, log: j.Log, now: now, rec: rec}
	r.stop, r.abort = context.WithCancelCause(ctx)
	r.inflight, r.cancelReq = context.WithCancel(context.WithoutCancel(ctx))
	r.policy = &policy{
		lim: lim, pace: newUserPace(now, o.UserWindow), now: now, log: j.Log,
		maxAttempts: o.MaxAttempts, backoff: o.Backoff, timeout: o.Timeout, breaker: o.Breaker,
		stop: r.stop, inflight: r.inflight, abort: r.abort, kill: r.cancelReq,
		first: make(chan struct{}),
	}
	workers := o.Workers
	if workers <= 0 {
		workers = autoStart
	}
	r.sched = NewScheduler(r.step, r.drop, workers, maxQueued)
	r.guard = newGuard(o.LimitRemoved, o.MaxRemovedKeys, o.RemovedBefore)
	r.canaryLeft.Store(int64(o.Canary))
	if !o.NoRead {
		r.users = newUsers()
		r.reader = newReader(r)
	}
	return r
}

// dispatch reads the input and hands each row to the scheduler, in order.
func (r *run) dispatch(rows input.Reader) error {
	firstSent := false
	for r.stop.Err() == nil {
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			r.eof.Store(true)
			return nil
		}
		if err != nil {
			r.abort(&StopError{Reason: "input unreadable: " + err.Error(), Cause: err})
			return err
		}
		t, ok := r.admit(row)
		if !ok {
			continue
		}
		if err := r.submit(t); err != nil {
			r.unresolved.Add(1)
			continue
		}
		if !firstSent {
			// The first request goes alone: a wrong key or URL then costs
			// one request, not one per worker.
			firstSent = true
			if r.resolver != nil {
				r.resolver.send(false)
			}
			select {
			case <-r.policy.first:
			case <-r.stop.Done():
			}
		}
	}
	return nil
}

// admit takes a row read from the input: it reports false for a row that
// is another shard's, has an outcome from an earlier session, or is
// invalid (recorded here); else it returns the row's task.
func (r *run) admit(row input.Row) (task, bool) {
	if !r.opts.Shard.owns(&row) {
		return task{}, false
	}
	r.rows.Add(1)
	repeat := r.index.Check(&row, r.opts.RejectDuplicates)
	if repeat {
		r.duplicates.Add(1)
	}
	if r.rec.Seen(row.N, row.Raw) {
		r.skipped.Add(1)
		return task{}, false
	}
	if row.Err != nil {
		r.invalid(&row)
		return task{}, false
	}
	return task{row: row, repeat: repeat}, true
}

// submit hands a valid row to the scheduler. With reads on, a user not
// known yet is added held, and queued for the next batched read, which
// releases it.
func (r *run) submit(t task) error {
	if k := t.row.Key.Kind; k == input.ExternalID || k == input.Email {
		if r.users == nil {
			r.abort(&StopError{Reason: fmt.Sprintf("the input names its users by %s, which only a read resolves to Clerk users: run without --no-read", k)})
			return errStopped
		}
		if r.resolver == nil {
			r.resolver = newResolver(r, k)
		}
		r.resolver.add(t)
		return nil
	}
	if r.users == nil {
		return r.sched.Add(r.stop, t.row.UserID, t, false)
	}
	u, read := r.users.acquire(t.row.UserID)
	t.user = u
	if err := r.sched.Add(r.stop, u.id, t, read); err != nil {
		r.users.release(u)
		return err
	}
	if read {
		r.reader.add(u) // after Add: the read may release u at once
	}
	return nil
}

var errStopped = errors.New("stopped")

// drop is a row the scheduler will not run: the run stopped first.
func (r *run) drop(t task) {
	if t.user != nil {
		r.users.release(t.user)
	}
	r.unresolved.Add(1)
}

// invalid records a row that is never sent.
func (r *run) invalid(row *input.Row) {
	var re *input.RowError
	code, reason := input.CodeInvalidJSON, row.Err.Error()
	if errors.As(row.Err, &re) {
		code, reason = re.Code, re.Reason
	}
	r.log.Warn().Int("row", row.N).Int("line", row.Line).Str("user_id", quoteID(row.UserID)).
		Str("error_code", code).Str("reason", reason).Msg("invalid row: not sent")
	r.record(row, reports.Result{Status: reports.Invalid, Action: reports.ActionInvalid, ErrorCode: code, ErrorMessage: reason})
}

// record hands a row's outcome to the recorder. A result that cannot be
// written stops the run at once: going on would send rows whose outcome
// no resumed run could know.
func (r *run) record(row *input.Row, res reports.Result) {
	res.Row, res.Line, res.UserID, res.Key = row.N, row.Line, row.UserID, row.Key.Value
	if err := r.rec.Record(res, row.Raw); err != nil {
		r.unresolved.Add(1)
		r.abort(&StopError{Reason: "cannot write the report: " + err.Error(), Cause: err})
		return
	}
	r.recorded.Add(1)
}

// quoteID keeps a malformed id from breaking a log line's meaning.
func quoteID(id string) string {
	if input.CheckUserID(id) == nil {
		return id
	}
	if len(id) > 80 {
		id = id[:80] + "..."
	}
	return fmt.Sprintf("%q", id)
}

// watchStop gives requests in flight the grace period once the run stops,
// then cancels them; a kill cancels them at once.
func (r *run) watchStop(finished <-chan struct{}) {
	select {
	case <-finished:
		return
	case <-r.stop.Done():
	}
	r.sched.Stop()
	if r.inflight.Err() == nil {
		r.log.Warn().Str("reason", context.Cause(r.stop).Error()).Str("grace_period", r.opts.Grace.String()).
			Msg("stopping: no new requests; those in flight may finish within the grace period (a second signal cancels them)")
	}
	t := time.NewTimer(r.opts.Grace)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		r.log.Warn().Str("grace_period", r.opts.Grace.String()).Msg("grace period over: canceling requests in flight")
		r.cancelReq()
	case <-r.opts.Kill:
		r.cancelReq()
	}
}
