// Package job applies input rows to Clerk: a dispatcher reads rows in
// order, a pool of workers sends them through one shared rate limiter, and
// every row ends as exactly one result handed to a Recorder, or, when the
// run is stopped, as no result at all, left for a resumed run.
//
// Rows for the same user go to the worker already busy with that user, so
// they are applied in input order and never overlap. A row that fails is a
// result, not an error; only a wrong key, a run of failures that no retry
// cures, a signal or the deadline stop the run.
package job

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/reports"
)

// Options are the knobs of a run.
type Options struct {
	// Rate is the most requests per second; 0 means unlimited.
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
	// Breaker stops the run after this many rows in a row failed with
	// retryable errors after all their attempts; 0 turns it off.
	Breaker int
	// RejectDuplicates makes every row after a user's first invalid.
	RejectDuplicates bool
	// Shard, when Count > 1, keeps only the rows of users that hash to it.
	Shard Shard
	// Total is the number of rows expected, for progress; 0 if unknown.
	Total int
	// Progress is how often a progress line is logged; 0 means never.
	Progress time.Duration
	// Kill, when closed, cancels requests in flight at once.
	Kill <-chan struct{}

	// Backoff is the bound of the first retry's pause, doubling with each
	// attempt up to 20s; 0 means 500ms.
	Backoff time.Duration
	// UserWindow is Clerk's per-user window for metadata writes (10 in 10s);
	// 0 means 10s. Emulators with shorter windows set it.
	UserWindow time.Duration
}

// Backoff bounds between attempts (full jitter between 0 and the bound).
const (
	defaultBackoff = 500 * time.Millisecond
	backoffCap     = 20 * time.Second
)

// maxQueued bounds the rows waiting behind a busy user, so memory stays
// flat when one user has many rows.
const maxQueued = 4096

// Recorder takes the outcome of each row. It must be safe for concurrent use.
type Recorder interface {
	// Seen reports whether row n already has an outcome (a resumed run).
	Seen(n int, raw []byte) bool
	// Record stores row's outcome.
	Record(r reports.Result, raw []byte)
}

// Job applies rows to Clerk.
type Job struct {
	Client *Client
	// Limiter paces requests; nil means a new one at Options.Rate.
	Limiter *Limiter
	Log     zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Options

	current atomic.Pointer[run]
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
	Retries     int64
	RateLimited int64
	// ByStatus counts responses by HTTP status; 0 counts requests that got
	// no response.
	ByStatus map[int]int64
	// EOF is true when the whole input was read.
	EOF bool
}

// Complete reports whether every row of the input has an outcome.
func (s *Stats) Complete() bool { return s.EOF && s.Unresolved == 0 }

// StopError says why a run stopped before every row had an outcome.
type StopError struct {
	Reason string
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
	r := j.newRun(ctx, rec)
	defer r.cancelReq()
	defer r.index.Close()
	j.current.Store(r)

	finished := make(chan struct{})
	go r.watchStop(finished)
	if j.Progress > 0 {
		go r.progress(finished)
	}
	if j.Workers == 0 {
		go r.sizePool(finished)
	}
	readErr := r.dispatch(rows)
	r.closePool()
	r.g.Wait()
	close(finished)

	st := r.stats()
	if readErr != nil {
		return st, readErr
	}
	if cause := context.Cause(r.stop); cause != nil {
		var se *StopError
		if !errors.As(cause, &se) {
			se = &StopError{Reason: "stopped: " + cause.Error(), Cause: cause}
		}
		return st, se
	}
	return st, nil
}

// run is the state of one Run.
type run struct {
	*Job
	rec   Recorder
	lim   *Limiter
	pace  *userPace
	index input.Index

	stop      context.Context // done: dispatch nothing more
	abort     context.CancelCauseFunc
	inflight  context.Context // requests in flight
	cancelReq context.CancelFunc

	// The workers: errgroup goroutines that live for the run, each taking
	// a user's rows from ready in turn; their number is kept at the pool
	// size (Options.Workers, or the auto size) by resize.
	g        errgroup.Group
	ready    chan assignment
	quit     chan struct{} // a token tells one worker to leave
	poolMu   sync.Mutex
	poolSize int
	closed   bool // ready is closed: the pool no longer changes
	size     atomic.Int64

	mu      sync.Mutex
	active  map[string]*queue // users with a worker
	backlog chan struct{}     // a token per queued row

	firstOnce sync.Once
	first     chan struct{} // closed when the first request is answered

	rows, duplicates, skipped atomic.Int64
	eof                       atomic.Bool

	recorded, unresolved   atomic.Int64
	retries, rateLimited   atomic.Int64
	exhausted              atomic.Int64 // consecutive rows failed after every retry
	byStatus               [600]atomic.Int64
	latencyMu              sync.Mutex
	latency, latencyJitter float64 // seconds, moving averages
}

// task is a row on its way to a worker.
type task struct {
	row input.Row
	// repeat is set when the user appeared on an earlier row: only then
	// can the per-user limit come into play.
	repeat bool
}

type queue struct{ tasks []task }

// assignment hands a worker a user's first row; the rest follow in q.
type assignment struct {
	id string
	q  *queue
	t  task
}

func (j *Job) newRun(ctx context.Context, rec Recorder) *run {
	if j.Now == nil {
		j.Now = time.Now
	}
	if j.MaxAttempts < 1 {
		j.MaxAttempts = 1
	}
	if j.Timeout <= 0 {
		j.Timeout = 10 * time.Second
	}
	if j.Backoff <= 0 {
		j.Backoff = defaultBackoff
	}
	if j.UserWindow <= 0 {
		j.UserWindow = userWindow
	}
	lim := j.Limiter
	if lim == nil {
		lim = NewLimiter(j.Rate, j.Now, j.Log)
	}
	r := &run{
		Job:     j,
		rec:     rec,
		lim:     lim,
		pace:    newUserPace(j.Now, j.UserWindow),
		active:  make(map[string]*queue),
		backlog: make(chan struct{}, maxQueued),
		first:   make(chan struct{}),
		ready:   make(chan assignment),
		quit:    make(chan struct{}, MaxWorkers),
	}
	r.stop, r.abort = context.WithCancelCause(ctx)
	r.inflight, r.cancelReq = context.WithCancel(context.WithoutCancel(ctx))
	workers := j.Workers
	if workers <= 0 {
		workers = autoStart
	}
	r.resize(workers)
	return r
}

// resize brings the pool to n workers: it starts new ones, or tells some
// to leave once they finish the user they are on.
func (r *run) resize(n int) {
	r.poolMu.Lock()
	defer r.poolMu.Unlock()
	if r.closed {
		return
	}
	for ; r.poolSize < n; r.poolSize++ {
		select {
		case <-r.quit: // a worker told to leave, and not gone yet, stays
		default:
			r.g.Go(r.worker)
		}
	}
	for ; r.poolSize > n; r.poolSize-- {
		r.quit <- struct{}{}
	}
	r.size.Store(int64(n))
}

// closePool tells the workers no more users come; they finish and leave.
func (r *run) closePool() {
	r.poolMu.Lock()
	defer r.poolMu.Unlock()
	r.closed = true
	close(r.ready)
}

func (r *run) worker() error {
	for {
		select {
		case a, ok := <-r.ready:
			if !ok {
				return nil
			}
			r.work(a.id, a.q, a.t)
		case <-r.quit:
			return nil
		}
	}
}

// dispatch reads the input and hands each row to a worker, in order.
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
		if !r.Shard.owns(&row) {
			continue
		}
		r.rows.Add(1)
		repeat := r.index.Check(&row, r.RejectDuplicates)
		if repeat {
			r.duplicates.Add(1)
		}
		if r.rec.Seen(row.N, row.Raw) {
			r.skipped.Add(1)
			continue
		}
		if row.Err != nil {
			r.invalid(&row)
			continue
		}
		if err := r.submit(task{row: row, repeat: repeat}); err != nil {
			r.unresolved.Add(1)
			continue
		}
		if !firstSent {
			// The first request goes alone: a wrong key or URL then costs
			// one request, not one per worker.
			firstSent = true
			select {
			case <-r.first:
			case <-r.stop.Done():
			}
		}
	}
	return nil
}

func (r *run) invalid(row *input.Row) {
	var re *input.RowError
	code, reason := input.CodeInvalidJSON, row.Err.Error()
	if errors.As(row.Err, &re) {
		code, reason = re.Code, re.Reason
	}
	r.rec.Record(reports.Result{
		Row: row.N, Line: row.Line, UserID: row.UserID, Status: reports.Invalid,
		ErrorCode: code, ErrorMessage: reason,
	}, row.Raw)
	r.recorded.Add(1)
	r.Log.Warn().Int("row", row.N).Int("line", row.Line).Str("user_id", quoteID(row.UserID)).
		Str("error_code", code).Str("reason", reason).Msg("invalid row: not sent")
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

// submit queues t behind the worker busy with its user, or hands it to a
// free worker, waiting for one.
func (r *run) submit(t task) error {
	id := t.row.UserID
	r.mu.Lock()
	q := r.active[id]
	r.mu.Unlock()
	if q != nil {
		// Take a backlog token first, without the lock: the worker may be
		// finishing meanwhile, in which case a new one starts below.
		select {
		case r.backlog <- struct{}{}:
		case <-r.stop.Done():
			return r.stop.Err()
		}
		r.mu.Lock()
		if q = r.active[id]; q != nil {
			q.tasks = append(q.tasks, t)
			r.mu.Unlock()
			return nil
		}
		r.mu.Unlock()
		<-r.backlog
	}
	q = &queue{}
	r.mu.Lock()
	r.active[id] = q
	r.mu.Unlock()
	select {
	case r.ready <- assignment{id: id, q: q, t: t}: // a free worker took it
		return nil
	case <-r.stop.Done():
		r.mu.Lock()
		delete(r.active, id)
		r.mu.Unlock()
		return r.stop.Err()
	}
}

// work applies t, then the rows queued behind it for the same user.
func (r *run) work(id string, q *queue, t task) {
	for {
		r.apply(t)
		r.mu.Lock()
		if len(q.tasks) == 0 || r.stop.Err() != nil {
			left := len(q.tasks)
			delete(r.active, id)
			r.mu.Unlock()
			for range left {
				<-r.backlog
			}
			r.unresolved.Add(int64(left))
			return
		}
		t = q.tasks[0]
		q.tasks[0] = task{}
		q.tasks = q.tasks[1:]
		r.mu.Unlock()
		<-r.backlog
	}
}

// verdict is what a response means for its row.
type verdict int

const (
	done      verdict = iota // applied
	permanent                // failed; a retry would fail the same way
	retryable                // may succeed later
	keyAbort                 // the key is wrong for every row
)

func judge(resp *Response) verdict {
	switch s := resp.Status; {
	case resp.OK():
		return done
	case resp.Code == CodeRedirect, resp.Code == input.CodeInvalidUserID:
		return permanent
	case s == 0, s == 408, s == 429, s >= 500 && s != 501 && s != 505:
		return retryable
	case resp.Code == CodeInvalidResponse:
		return retryable
	case s == 401, s == 403:
		return keyAbort
	default:
		return permanent
	}
}

// apply sends one row, retrying what may succeed later, and records its
// outcome, unless the run stops first: then the row has no outcome and a
// resumed run sends it again.
func (r *run) apply(t task) {
	j := r.Job
	row := &t.row
	start := r.Now()
	var resp Response
	for attempt := 1; ; attempt++ {
		if r.stop.Err() != nil {
			r.unresolved.Add(1)
			return
		}
		if t.repeat {
			if r.pace.wait(r.stop, row.UserID) != nil {
				r.unresolved.Add(1)
				return
			}
		}
		if r.lim.Wait(r.stop) != nil {
			r.unresolved.Add(1)
			return
		}
		sent := r.Now()
		ctx, cancel := context.WithTimeout(r.inflight, r.Timeout)
		resp = r.Client.ReplaceMetadata(ctx, row)
		cancel()
		// A 429 for a user just written several times is most likely that
		// user's own limit: only this row waits, the pool goes on.
		userLimited := false
		if t.repeat {
			r.pace.record(row.UserID, sent)
			userLimited = resp.Status == 429 && r.pace.recentWrites(row.UserID) > paced/2
		}
		r.observe(sent, &resp, userLimited)
		r.firstOnce.Do(func() { close(r.first) })
		if resp.Code == CodeCanceled {
			r.unresolved.Add(1)
			return
		}
		v := judge(&resp)
		switch {
		case v == keyAbort:
			r.unresolved.Add(1)
			r.abortForKey(&resp)
			return
		case v == done:
			r.exhausted.Store(0)
			r.record(row, start, attempt, &resp, reports.Succeeded)
			return
		case v == permanent:
			r.exhausted.Store(0)
			r.record(row, start, attempt, &resp, reports.Failed)
			return
		case attempt >= r.MaxAttempts:
			r.record(row, start, attempt, &resp, reports.Failed)
			if n := r.exhausted.Add(1); r.Breaker > 0 && n >= int64(r.Breaker) {
				r.abort(&StopError{Reason: fmt.Sprintf(
					"circuit breaker: the last %d rows failed after %d attempts each (last: %s %s); Clerk or the network is not healthy",
					n, r.MaxAttempts, statusText(resp.Status), resp.Code)})
			}
			return
		}
		// Retry, after a pause.
		r.retries.Add(1)
		wait := backoff(j.Backoff, attempt)
		switch {
		case userLimited:
			r.rateLimited.Add(1)
			wait = max(resp.RetryAfter, time.Second)
		case resp.Status == 429:
			// The instance's limit: the limiter pauses everyone (observe
			// told it), and this row waits there too.
			r.rateLimited.Add(1)
			wait = 0
		case resp.RetryAfter > 0:
			wait = max(wait, min(resp.RetryAfter, maxRetryAfter))
		}
		r.Log.Debug().Int("row", row.N).Str("user_id", row.UserID).Int("attempt", attempt).
			Int("http_status", resp.Status).Str("error_code", resp.Code).Str("wait", wait.Round(time.Millisecond).String()).Msg("retrying")
		if wait > 0 && sleep(r.stop, wait) != nil {
			r.unresolved.Add(1)
			return
		}
	}
}

// observe counts a response and feeds the limiter and the pool sizing.
func (r *run) observe(sent time.Time, resp *Response, userLimited bool) {
	r.byStatus[min(max(resp.Status, 0), len(r.byStatus)-1)].Add(1)
	if resp.Status == 0 {
		return
	}
	if !userLimited {
		r.lim.Observe(sent, resp.Status, resp.RetryAfter)
	}
	s := r.Now().Sub(sent).Seconds()
	r.latencyMu.Lock()
	if r.latency == 0 {
		r.latency = s
	} else {
		r.latencyJitter += 0.1 * (math.Abs(s-r.latency) - r.latencyJitter)
		r.latency += 0.1 * (s - r.latency)
	}
	r.latencyMu.Unlock()
}

func (r *run) record(row *input.Row, start time.Time, attempts int, resp *Response, status reports.Status) {
	res := reports.Result{
		Row: row.N, Line: row.Line, UserID: row.UserID, Status: status,
		HTTPStatus: resp.Status, Attempts: attempts,
		DurationMS: r.Now().Sub(start).Milliseconds(), TraceID: resp.TraceID,
	}
	if status != reports.Succeeded {
		res.ErrorCode, res.ErrorMessage = resp.Code, resp.Message
		r.Log.Warn().Int("row", row.N).Int("line", row.Line).Str("user_id", row.UserID).
			Int("http_status", resp.Status).Str("error_code", resp.Code).Str("error", resp.Message).
			Int("attempts", attempts).Str("clerk_trace_id", resp.TraceID).Msg("row failed")
	}
	r.rec.Record(res, row.Raw)
	r.recorded.Add(1)
}

func (r *run) abortForKey(resp *Response) {
	r.abort(&StopError{Reason: fmt.Sprintf(
		"Clerk rejected the secret key (%s %s: %s): no row can succeed with it; check CLERK_SECRET_KEY and the API URL, then resume with the same --run-id",
		statusText(resp.Status), resp.Code, resp.Message)})
	// Every request in flight carries the same key: stop them now.
	r.cancelReq()
}

func statusText(s int) string {
	if s == 0 {
		return "no response"
	}
	return fmt.Sprint(s)
}

// backoff returns the pause before retry number attempt: full jitter up to
// an exponential, capped bound.
func backoff(base time.Duration, attempt int) time.Duration {
	bound := backoffCap
	if attempt < 16 {
		bound = min(base<<(attempt-1), backoffCap)
	}
	return time.Duration(rand.Int64N(int64(bound) + 1))
}

// watchStop gives requests in flight the grace period once the run stops,
// then cancels them; a kill cancels them at once.
func (r *run) watchStop(finished <-chan struct{}) {
	select {
	case <-finished:
		return
	case <-r.stop.Done():
	}
	if r.inflight.Err() == nil {
		r.Log.Warn().Str("reason", context.Cause(r.stop).Error()).Str("grace_period", r.Grace.String()).
			Msg("stopping: no new requests; those in flight may finish within the grace period (a second signal cancels them)")
	}
	t := time.NewTimer(r.Grace)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		r.Log.Warn().Str("grace_period", r.Grace.String()).Msg("grace period over: canceling requests in flight")
		r.cancelReq()
	case <-r.Kill:
		r.cancelReq()
	}
}

func (r *run) stats() Stats {
	st := Stats{
		Rows: int(r.rows.Load()), Skipped: int(r.skipped.Load()), Duplicates: int(r.duplicates.Load()),
		Recorded: int(r.recorded.Load()), Unresolved: int(r.unresolved.Load()),
		Requests: r.Client.Requests(), Retries: r.retries.Load(), RateLimited: r.rateLimited.Load(),
		ByStatus: map[int]int64{}, EOF: r.eof.Load(),
	}
	for s := range r.byStatus {
		if n := r.byStatus[s].Load(); n > 0 {
			st.ByStatus[s] = n
		}
	}
	if r.stop.Err() != nil {
		st.EOF = false
	}
	return st
}

// Shard names one of Count disjoint parts of the input.
type Shard struct{ Index, Count int }

// owns reports whether the row belongs to this shard. Every row of a user
// goes to the same shard, so per-user order holds across shards. Rows
// with no user id go by row number.
func (s Shard) owns(row *input.Row) bool {
	if s.Count <= 1 {
		return true
	}
	if row.UserID == "" {
		return row.N%s.Count == s.Index
	}
	return ShardOf(row.UserID, s.Count) == s.Index
}

// ShardOf returns the shard of a user id among count: FNV-1a, the same in
// every process.
func ShardOf(userID string, count int) int {
	h := fnv.New64a()
	h.Write([]byte(userID))
	return int(h.Sum64() % uint64(count))
}
