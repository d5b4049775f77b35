package job

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// driver sends requests through a Limiter one after another on a fake
// clock, as a pool of one worker would, and answers them itself.
type driver struct {
	*testing.T
	l   *Limiter
	c   *fakeClock
	log *bytes.Buffer
}

func newDriver(t *testing.T, perSecond float64) *driver {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	return &driver{T: t, l: NewLimiter(perSecond, c.now, zerolog.New(&log)), c: c, log: &log}
}

// send waits for a slot as Wait does, on the fake clock, and returns when
// the request left.
func (d *driver) send() time.Time {
	for {
		at, epoch := d.l.reserve(d.c.t)
		if at.After(d.c.t) {
			d.c.t = at
		}
		if d.l.admit(d.c.t, epoch) {
			return d.c.t
		}
	}
}

// accept sends n requests, each answered 200 at once.
func (d *driver) accept(n int) {
	for range n {
		d.l.Observe(d.send(), 200, 0)
	}
}

// acceptFor sends at the pace for d and answers every request 200.
func (d *driver) acceptFor(span time.Duration) {
	end := d.c.t.Add(span)
	for d.c.t.Before(end) {
		d.l.Observe(d.send(), 200, 0)
	}
}

// refuse sends n requests at once (in flight together) and answers each
// 429 with retryAfter.
func (d *driver) refuse(n int, retryAfter time.Duration) {
	sent := make([]time.Time, n)
	for i := range sent {
		sent[i] = d.send()
	}
	for _, s := range sent {
		d.l.Observe(s, 429, retryAfter)
	}
}

// settle moves the clock to the end of the pause (if any) and lets the
// limiter judge it.
func (d *driver) settle() {
	d.l.mu.Lock()
	until := d.l.pauseUntil
	d.l.mu.Unlock()
	if until.After(d.c.t) {
		d.c.t = until
	}
	d.l.reserve(d.c.t)
}

func TestLimiterPaces(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 50)
	prev := d.send()
	for range 100 {
		s := d.send()
		if gap := s.Sub(prev); gap < 20*time.Millisecond-time.Microsecond {
			t.Fatalf("two requests %v apart at 50/s", gap)
		}
		prev = s
	}
}

// A fixed 10 s window of 1000 fills in 5 s at 200/s; the requests in
// flight then are refused, and Clerk asks for the 5 s the window has left.
func TestLimiterBurstCuts(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 200)
	d.accept(1000)
	d.refuse(4, 5*time.Second)
	if got := d.l.Rate(); got != 200 {
		t.Errorf("rate %v during the pause, want 200 until it ends", got)
	}
	d.settle()
	if got := d.l.Rate(); got < 90 || got > 100 {
		t.Errorf("rate after the pause = %v, want just under Clerk's 100/s", got)
	}
	if d.l.Cuts() != 1 {
		t.Errorf("%d cuts, want 1", d.l.Cuts())
	}
	if !strings.Contains(d.log.String(), `"limit_per_second":`) || !strings.Contains(d.log.String(), "rate cut") {
		t.Errorf("the cut is not logged with the measured limit:\n%s", d.log)
	}
}

// One 429 among thousands of successes, asking for a second: a pause,
// nothing more.
func TestLimiterLoneRateLimitDoesNotCut(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 100)
	d.acceptFor(30 * time.Second)
	d.refuse(1, time.Second)
	d.settle()
	d.acceptFor(30 * time.Second)
	if d.l.Rate() != 100 || d.l.Cuts() != 0 {
		t.Errorf("rate %v after %d cuts, want 100 and no cut", d.l.Rate(), d.l.Cuts())
	}
}

// A 429 for the first request after a pause (Retry-After was shorter than
// the limit's window) measures nothing alone: the next episode measures
// both runs.
func TestLimiterThinRunMeasuresOnward(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 40)
	d.accept(40) // 1 s at 40/s: 20/s measured over 1 s and a 1 s wait
	d.refuse(1, time.Second)
	d.settle()
	cut := d.l.Rate()
	if cut >= 40 {
		t.Fatalf("no cut: rate %v", cut)
	}
	d.refuse(1, time.Second) // the first request after the pause
	d.settle()
	if got := d.l.Rate(); got != cut {
		t.Errorf("rate %v after a run of nothing, want %v kept", got, cut)
	}
}

func TestLimiterRecovers(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 100)
	d.accept(500) // 5 s, then Clerk asks for 5 s more: about 50/s
	d.refuse(3, 5*time.Second)
	d.settle()
	cut := d.l.Rate()
	if cut >= 60 {
		t.Fatalf("rate %v after the limit measured 50/s", cut)
	}
	// Whatever limited the run went away: the rate comes back, slowly,
	// up to the configured.
	d.acceptFor(15 * time.Second)
	if mid := d.l.Rate(); mid <= cut || mid >= 100 {
		t.Errorf("rate %v after 15 quiet seconds, want between %v and 100", mid, cut)
	}
	d.acceptFor(10 * time.Minute)
	if d.l.Rate() != 100 {
		t.Errorf("rate %v after ten quiet minutes, want 100", d.l.Rate())
	}
	if !strings.Contains(d.log.String(), "rate restored") {
		t.Errorf("no recovery logged:\n%s", d.log)
	}
}

// A probe that meets a 429 falls back just under the level that held, and
// the rate then holds near it instead of probing again at once.
func TestLimiterProbeFallsBack(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 200)
	d.accept(400) // 2 s at 200/s
	d.refuse(3, time.Second)
	d.settle()
	d.acceptFor(30 * time.Second)
	held := d.l.Rate()
	if held <= 100 {
		t.Fatalf("rate %v after 30 quiet seconds: no probe", held)
	}
	d.refuse(3, time.Second) // the probe overshot
	d.settle()
	back := d.l.Rate()
	if back >= held || back < 0.9*held {
		t.Errorf("rate %v after a probe at %v met a 429, want a little under it", back, held)
	}
	d.acceptFor(10 * time.Second)
	if got := d.l.Rate(); got > held {
		t.Errorf("rate %v 10 s after the probe failed at %v: probed again too soon", got, held)
	}
}

// No request leaves during a pause, even one whose slot was booked before.
func TestLimiterPauseVoidsBookedSlots(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 10)
	s := d.send()
	at, epoch := d.l.reserve(d.c.t) // the next slot, 100 ms on
	d.l.Observe(s, 429, time.Second)
	d.c.t = at
	if d.l.admit(at, epoch) {
		t.Error("a slot booked before the pause was used during it")
	}
	if next := d.send(); next.Sub(s) < time.Second {
		t.Errorf("next request %v after the 429, want after its Retry-After", next.Sub(s))
	}
}

// An unlimited rate is cut to what Clerk measured, never to "unlimited".
func TestLimiterUnlimitedCuts(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 0)
	for range 300 {
		d.l.Observe(d.send(), 200, 0)
		d.c.advance(time.Millisecond) // 1000/s
	}
	d.refuse(8, time.Second)
	d.settle()
	if got := d.l.Rate(); got > 1000 || got < 100 {
		t.Errorf("rate %v after 429s at about 1000/s, want a measured rate", got)
	}
}

func TestLimiterPauseHoldsEveryone(t *testing.T) {
	t.Parallel()
	l := NewLimiter(0, nil, zerolog.Nop())
	l.Observe(time.Now(), 429, 1500*time.Millisecond)
	start := time.Now()
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("Wait returned after %v, during the pause", waited)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.Observe(time.Now(), 429, time.Minute)
	cancel()
	if err := l.Wait(ctx); err == nil {
		t.Error("Wait ignored its context during a pause")
	}
}
