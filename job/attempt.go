package job

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/clerkapi"
)

// Backoff bounds between attempts (full jitter between 0 and the bound).
const (
	defaultBackoff = 500 * time.Millisecond
	backoffCap     = 20 * time.Second
)

// policy is how every request of a run is made, a write or a read: wait
// for the user's pace and the shared limiter, send, judge the answer, and
// retry what may succeed later after a back-off, until the request is
// done, fails for good, runs out of attempts, or the run stops. It feeds
// what it sees to the limiter, the pool sizing and the run's counters, and
// trips the circuit breaker and the key abort.
type policy struct {
	lim         *Limiter
	pace        *userPace
	now         func() time.Time
	log         zerolog.Logger
	maxAttempts int
	backoff     time.Duration
	timeout     time.Duration
	breaker     int

	stop     context.Context // done: no new attempt starts
	inflight context.Context // the parent of every request
	abort    func(error)     // stops the run
	kill     func()          // cancels the requests in flight

	firstOnce sync.Once
	first     chan struct{} // closed when the first answer (or none) came

	retries, rateLimited atomic.Int64
	inFlight             atomic.Int64 // requests sent and not answered
	exhausted            atomic.Int64 // requests in a row that failed every attempt
	byStatus             [600]atomic.Int64

	latencyMu              sync.Mutex
	latency, latencyJitter float64 // seconds, moving averages
}

// outcome is what came of a request after its attempts.
type outcome struct {
	resp     clerkapi.Response
	verdict  clerkapi.Verdict
	attempts int
	// stopped: the run stopped before the request had an answer that
	// decides it; the row has no outcome and a resumed run sends it.
	stopped bool
}

// do sends a request with send until it is decided. user names the user
// whose per-user write limit the request counts against ("" for a read);
// fresh says the user has had no write this session before this one (its
// first row, by user id), which spares the pace a ring for it; rows is how
// many rows its failure fails (a read's users), for the circuit breaker.
func (p *policy) do(user string, fresh bool, rows int, send func(ctx context.Context) clerkapi.Response) outcome {
	for attempt := 1; ; attempt++ {
		if p.stop.Err() != nil {
			return outcome{stopped: true, attempts: attempt - 1}
		}
		if user != "" && p.pace.wait(p.stop, user) != nil {
			return outcome{stopped: true, attempts: attempt - 1}
		}
		if p.lim.Wait(p.stop) != nil {
			return outcome{stopped: true, attempts: attempt - 1}
		}
		sent := p.now()
		ctx, cancel := context.WithTimeout(p.inflight, p.timeout)
		p.inFlight.Add(1)
		resp := send(ctx)
		p.inFlight.Add(-1)
		cancel()
		// Every write is paced under the user's limit, so a 429 is that
		// user's own only when the write was its 10th in the window
		// (Clerk saw the writes arrive closer than they left, or another
		// client writes the user too): then only this request waits, the
		// pool goes on. Any other 429 is the instance's, and informs the
		// limiter. A refused write does not count against the user.
		userLimited := false
		if user != "" {
			p.pace.record(user, sent, fresh && attempt == 1)
			if resp.Status == 429 {
				userLimited = p.pace.recentWrites(user)-1 >= userLimit-1 // the writes before this one
				p.pace.forget(user, sent)
			}
		}
		p.observe(sent, &resp, userLimited)
		p.firstOnce.Do(func() { close(p.first) })
		if resp.Code == clerkapi.CodeCanceled {
			return outcome{resp: resp, stopped: true, attempts: attempt}
		}
		out := outcome{resp: resp, verdict: resp.Verdict(), attempts: attempt}
		switch {
		case out.verdict == clerkapi.KeyRefused:
			p.abortForKey(&resp)
			out.stopped = true
			return out
		case out.verdict != clerkapi.Retryable:
			p.exhausted.Store(0)
			return out
		case attempt >= p.maxAttempts:
			p.tripBreaker(&resp, rows)
			return out
		}
		wait := p.retryWait(attempt, &resp, userLimited)
		p.log.Debug().Str("user_id", user).Int("attempt", attempt).Int("http_status", resp.Status).
			Str("error_code", resp.Code).Str("wait", wait.Round(time.Millisecond).String()).Msg("retrying")
		if wait > 0 && sleep(p.stop, wait) != nil {
			return outcome{resp: resp, stopped: true, attempts: attempt}
		}
	}
}

// retryWait is the pause before the next attempt, and counts the retry.
func (p *policy) retryWait(attempt int, resp *clerkapi.Response, userLimited bool) time.Duration {
	p.retries.Add(1)
	wait := backoff(p.backoff, attempt)
	switch {
	case userLimited:
		p.rateLimited.Add(1)
		wait = max(resp.RetryAfter, time.Second)
	case resp.Status == 429:
		// The instance's limit: the limiter pauses everyone (observe told
		// it), and this request waits there too.
		p.rateLimited.Add(1)
		wait = 0
	case resp.RetryAfter > 0:
		wait = max(wait, min(resp.RetryAfter, maxRetryAfter))
	}
	return wait
}

// tripBreaker counts the rows of a request that failed every attempt, and
// stops the run when too many did in a row: Clerk or the network is down.
func (p *policy) tripBreaker(resp *clerkapi.Response, rows int) {
	n := p.exhausted.Add(int64(rows))
	if p.breaker > 0 && n >= int64(p.breaker) {
		p.abort(&StopError{Reason: fmt.Sprintf(
			"circuit breaker: the last %d rows failed after %d attempts each (last: %s %s); Clerk or the network is not healthy",
			n, p.maxAttempts, statusText(resp.Status), resp.Code)})
	}
}

func (p *policy) abortForKey(resp *clerkapi.Response) {
	p.abort(&StopError{KeyRefused: true, Reason: fmt.Sprintf(
		"Clerk rejected the secret key (%s %s: %s): no row can succeed with it; check CLERK_SECRET_KEY and the API URL, then resume with the same --run-id",
		statusText(resp.Status), resp.Code, resp.Message)})
	// Every request in flight carries the same key: stop them now.
	p.kill()
}

// observe counts an answer and feeds the limiter and the pool sizing.
func (p *policy) observe(sent time.Time, resp *clerkapi.Response, userLimited bool) {
	p.byStatus[min(max(resp.Status, 0), len(p.byStatus)-1)].Add(1)
	if resp.Status == 0 {
		return
	}
	if !userLimited {
		p.lim.Observe(sent, resp.Status, resp.RetryAfter)
	}
	s := p.now().Sub(sent).Seconds()
	p.latencyMu.Lock()
	if p.latency == 0 {
		p.latency = s
	} else {
		p.latencyJitter += 0.1 * (math.Abs(s-p.latency) - p.latencyJitter)
		p.latency += 0.1 * (s - p.latency)
	}
	p.latencyMu.Unlock()
}

// latencies returns the moving average of answers' latency and its spread.
func (p *policy) latencies() (latency, jitter float64) {
	p.latencyMu.Lock()
	defer p.latencyMu.Unlock()
	return p.latency, p.latencyJitter
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
