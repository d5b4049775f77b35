package job

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// Limiter paces every request to one Clerk instance on a single budget:
// writes now, batched reads later, since Clerk counts both against the
// same instance-wide limit. It holds the whole pool back when Clerk answers
// 429, and finds Clerk's real limit when the configured rate is above it.
//
// Every 429 pauses the pool for its Retry-After. The rate itself is cut
// only when 429s keep coming: when the first request sent after a pause
// is answered 429 again, twice in a row (Retry-After was shorter than
// Clerk's window), or when one pause gathers a burst of 429s (many
// requests in flight over the limit) while the rate is well above what
// Clerk accepts. A lone 429 among successes, as a proxy or another client
// may cause, pauses but does not cut, so it cannot ratchet the rate down;
// a rate just above the limit is left to the pauses, which then cost a
// few 429s a window and no throughput. A cut sets the rate just under
// what Clerk accepted in its current 10 s window (or over the run of
// requests since the last pause, for servers with shorter windows).
// After ten quiet seconds the rate creeps back up by a small step every
// five seconds. A --rate above the server's limit so settles at it, with
// few 429s.
type Limiter struct {
	lim *rate.Limiter
	max rate.Limit // the configured rate
	now func() time.Time
	log zerolog.Logger

	mu         sync.Mutex
	start      time.Time
	pauseFrom  time.Time // the current or last pause
	pauseUntil time.Time
	burst      int  // 429s answered during the current pause
	probed     bool // the first answer after the last pause was seen
	strikes    int  // pauses in a row whose first answer was a 429
	settleTill time.Time
	last429    time.Time
	lastRaise  time.Time
	accepted   window
	cuts       int

	// The run of requests between two pauses ends with the first 429; what
	// Clerk accepted over it, spread over it plus the wait Clerk asked
	// for, is its limit as seen by that run: Clerk's window ends, or its
	// oldest request leaves it, Retry-After from now.
	acceptedTotal int64
	burstBase     int64      // acceptedTotal when the current run began
	burstStart    time.Time  // when it began: the start, or the end of a pause
	burstRate     float64    // the limit the last run showed, per second
	ceiling       rate.Limit // just over the limit last measured
}

// Tuning of the limiter; see Limiter.
const (
	clerkWindow   = 10 * time.Second
	quietPeriod   = 10 * time.Second
	raiseEvery    = 5 * time.Second
	raiseStep     = 1.025
	cutMargin     = 0.95
	minRate       = 0.5
	settlePeriod  = 2 * time.Second
	burstCut      = 3
	overshoot     = 1.1
	forgetLimit   = time.Minute
	strikesCut    = 2
	maxRetryAfter = 2 * time.Minute
)

// NewLimiter returns a limiter at perSecond requests a second; 0 or less
// means unlimited (429s can still slow it down).
func NewLimiter(perSecond float64, now func() time.Time, log zerolog.Logger) *Limiter {
	limit := rate.Inf
	if perSecond > 0 {
		limit = rate.Limit(perSecond)
	}
	if now == nil {
		now = time.Now
	}
	t := now()
	return &Limiter{
		lim:        rate.NewLimiter(limit, 1),
		max:        limit,
		now:        now,
		log:        log,
		start:      t,
		lastRaise:  t,
		probed:     true,
		burstStart: t,
	}
}

// Rate returns the rate in force, in requests per second (+Inf when
// unlimited).
func (l *Limiter) Rate() float64 { return float64(l.lim.Limit()) }

// Wait blocks until a request may leave: after any pause, and at the paced
// rate. No request leaves during a pause, even one whose slot was booked
// before the pause began.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		if err := l.waitPause(ctx); err != nil {
			return err
		}
		if err := l.lim.Wait(ctx); err != nil {
			return err
		}
		l.mu.Lock()
		paused := l.now().Before(l.pauseUntil)
		l.mu.Unlock()
		if !paused {
			return nil
		}
	}
}

func (l *Limiter) waitPause(ctx context.Context) error {
	for {
		l.mu.Lock()
		d := l.pauseUntil.Sub(l.now())
		l.mu.Unlock()
		if d <= 0 {
			return nil
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
}

// Observe notes Clerk's answer to a request sent at sent: its status and
// Retry-After. Answers other than 429 count against Clerk's limit too, so
// they measure what Clerk lets through.
func (l *Limiter) Observe(sent time.Time, status int, retryAfter time.Duration) {
	if status == 0 {
		return // no answer: says nothing about the limit
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	probe := !l.probed && !sent.Before(l.pauseUntil)
	if probe {
		l.probed = true
	}
	if status != 429 {
		l.accepted.add(now)
		l.acceptedTotal++
		if probe {
			l.strikes = 0
		}
		l.maybeRaise(now)
		return
	}
	l.last429 = now
	if probe {
		l.strikes++
	}
	retryAfter = min(max(retryAfter, time.Second), maxRetryAfter)
	if now.Before(l.pauseUntil) {
		l.burst++
	} else {
		// A new pause: the run of requests since the last one is over.
		// Retry-After comes in whole seconds, rounded up: take half a
		// second back.
		span := now.Sub(l.burstStart) + retryAfter - time.Second/2
		l.burstRate = float64(l.acceptedTotal-l.burstBase) / max(span.Seconds(), 0.5)
		l.burstBase = l.acceptedTotal
		l.burstStart = now.Add(retryAfter)
		l.pauseFrom, l.burst, l.probed = now, 1, false
	}
	if until := now.Add(retryAfter); until.After(l.pauseUntil) {
		l.pauseUntil = until
	}
	if now.Before(l.settleTill) {
		return
	}
	switch {
	case l.burst >= burstCut:
		// Many requests in flight met the limit at once. Clerk's window
		// is 10 s and frees up Retry-After from now, so what it accepted
		// since the window began is the limit; a run shorter than that
		// measures a server with shorter windows. Take the larger.
		// (Retry-After is rounded up to whole seconds: half a second back.)
		inWindow := float64(l.accepted.countSince(now, clerkWindow-retryAfter+time.Second/2)) / clerkWindow.Seconds()
		l.cut(now, retryAfter, max(inWindow, l.burstRate))
	case l.strikes >= strikesCut:
		// Retry-After keeps proving too short, so runs are too short to
		// measure: take what Clerk accepted over its 10 s window.
		span := min(now.Sub(l.start), clerkWindow)
		l.cut(now, retryAfter, float64(l.accepted.count(now))/max(span.Seconds(), 1))
	}
}

func (l *Limiter) cut(now time.Time, pause time.Duration, accepted float64) {
	cur := l.lim.Limit()
	l.ceiling = rate.Limit(accepted * overshoot)
	if l.strikes < strikesCut && float64(cur) < accepted*overshoot {
		// Only a little above the limit: each window fills up just before
		// it ends and the pause covers the rest; a cut would waste more
		// than the few 429s cost. And with a 429 every window, the rate
		// is not raised further.
		return
	}
	l.settleTill = l.pauseUntil.Add(settlePeriod)
	l.strikes, l.burst = 0, 0
	next := rate.Limit(math.Max(minRate, accepted*cutMargin))
	if next >= cur {
		// Clerk accepted more than we send now: the 429s come from
		// elsewhere too (another client on the instance). Step down.
		next = rate.Limit(math.Max(minRate, float64(cur)*0.8))
	}
	l.cuts++
	l.lim.SetLimitAt(now, next)
	l.log.Warn().Str("rate", fmtRate(next)).Str("was", fmtRate(cur)).
		Float64("accepted_per_second", math.Round(accepted*10)/10).
		Str("pause", pause.String()).Msg("rate cut: Clerk keeps answering 429")
}

func (l *Limiter) maybeRaise(now time.Time) {
	cur := l.lim.Limit()
	if cur >= l.max || now.Sub(l.last429) < quietPeriod || now.Sub(l.lastRaise) < raiseEvery {
		return
	}
	l.lastRaise = now
	next := min(rate.Limit(float64(cur)*raiseStep), l.max)
	if l.ceiling > 0 && now.Sub(l.last429) < forgetLimit {
		// Clerk's limit was measured not long ago: no higher than just
		// over it.
		next = min(next, max(cur, l.ceiling))
	}
	if next == cur {
		return
	}
	if l.max == rate.Inf && l.cuts > 0 && now.Sub(l.last429) > 10*quietPeriod {
		next = rate.Inf // long quiet: whatever limited us has gone
	}
	l.lim.SetLimitAt(now, next)
	if next == l.max {
		l.log.Info().Str("rate", fmtRate(next)).Msg("rate restored: no 429 for a while")
	} else {
		l.log.Debug().Str("rate", fmtRate(next)).Msg("rate raised")
	}
}

// Cuts returns how many times a 429 cut the rate.
func (l *Limiter) Cuts() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cuts
}

func fmtRate(r rate.Limit) string {
	if r == rate.Inf {
		return "unlimited"
	}
	return strconv.FormatFloat(float64(r), 'f', 1, 64) + "/s"
}

// window counts events over the last clerkWindow in 100ms buckets.
type window struct {
	buckets [100]int
	stamp   [100]int64 // which 100ms slot each bucket holds
}

func (w *window) add(t time.Time) {
	slot := t.UnixMilli() / 100
	i := slot % int64(len(w.buckets))
	if w.stamp[i] != slot {
		w.stamp[i], w.buckets[i] = slot, 0
	}
	w.buckets[i]++
}

// countSince counts the events of the last d (at most the window).
func (w *window) countSince(t time.Time, d time.Duration) int {
	if d <= 0 {
		return 0
	}
	slot := t.UnixMilli() / 100
	back := min(int64(d/(100*time.Millisecond)), int64(len(w.buckets)))
	n := 0
	for i, s := range w.stamp {
		if slot-s < back {
			n += w.buckets[i]
		}
	}
	return n
}

func (w *window) count(t time.Time) int {
	slot := t.UnixMilli() / 100
	n := 0
	for i, s := range w.stamp {
		if slot-s < int64(len(w.buckets)) {
			n += w.buckets[i]
		}
	}
	return n
}
