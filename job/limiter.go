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
// same instance-wide limit. It also holds the whole pool back when Clerk
// answers 429, and finds Clerk's real limit when the configured rate is
// above it.
//
// The control is deliberately simple. On a 429 the pool pauses for
// Retry-After and the rate drops to just under what Clerk accepted over
// the last ten seconds (Clerk's window); 429s that arrive while that cut
// is still settling change nothing more. After ten quiet seconds the rate
// creeps back up by a small step every five seconds, so a --rate above
// the server's limit settles a few percent under it with few 429s.
type Limiter struct {
	lim *rate.Limiter
	max rate.Limit // the configured rate
	now func() time.Time
	log zerolog.Logger

	mu         sync.Mutex
	pauseUntil time.Time
	settleTill time.Time // 429s before this do not cut again
	last429    time.Time
	lastRaise  time.Time
	accepted   window
	start      time.Time
	cuts       int
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
		lim:       rate.NewLimiter(limit, 1),
		max:       limit,
		now:       now,
		log:       log,
		start:     t,
		lastRaise: t,
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
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Accepted notes a request Clerk answered with anything but 429: it counts
// against Clerk's limit, so the accepted rate is what Clerk lets through.
func (l *Limiter) Accepted() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.accepted.add(now)
	cur := l.lim.Limit()
	if cur >= l.max || now.Sub(l.last429) < quietPeriod || now.Sub(l.lastRaise) < raiseEvery {
		return
	}
	l.lastRaise = now
	next := min(rate.Limit(float64(cur)*raiseStep), l.max)
	l.lim.SetLimitAt(now, next)
	if next == l.max {
		l.log.Info().Str("rate", fmtRate(next)).Msg("rate restored: no 429 for a while")
	} else {
		l.log.Debug().Str("rate", fmtRate(next)).Msg("rate raised")
	}
}

// RateLimited notes a 429 from Clerk: the whole pool pauses for
// retryAfter, and the rate is cut to what Clerk has been accepting.
func (l *Limiter) RateLimited(retryAfter time.Duration) {
	retryAfter = min(max(retryAfter, time.Second), maxRetryAfter)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.last429 = now
	if until := now.Add(retryAfter); until.After(l.pauseUntil) {
		l.pauseUntil = until
	}
	if now.Before(l.settleTill) {
		return
	}
	l.settleTill = l.pauseUntil.Add(settlePeriod)
	span := min(now.Sub(l.start), clerkWindow)
	accepted := float64(l.accepted.count(now)) / max(span.Seconds(), 1)
	cur := l.lim.Limit()
	next := rate.Limit(math.Max(minRate, accepted*cutMargin))
	if next >= cur {
		// Clerk accepted more than we now send: the 429 came from
		// elsewhere (another client, a spike); keep the rate, slightly
		// lower so repeated 429s still converge.
		next = rate.Limit(math.Max(minRate, float64(cur)*cutMargin))
		if cur == rate.Inf {
			next = rate.Limit(math.Max(minRate, accepted*cutMargin))
		}
	}
	l.cuts++
	l.lim.SetLimitAt(now, next)
	l.log.Warn().Str("rate", fmtRate(next)).Str("was", fmtRate(cur)).
		Float64("accepted_per_second", math.Round(accepted*10)/10).
		Dur("pause", retryAfter).Msg("rate cut: Clerk answered 429")
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
