package job

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(perSecond float64) (*Limiter, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return NewLimiter(perSecond, c.now, zerolog.Nop()), c
}

// accept records n accepted answers spread over d.
func accept(l *Limiter, c *fakeClock, n int, d time.Duration) {
	for range n {
		c.advance(d / time.Duration(n))
		l.Observe(c.t, 200, 0)
	}
}

func TestLimiterLoneRateLimitDoesNotCut(t *testing.T) {
	t.Parallel()
	l, c := newTestLimiter(100)
	for range 20 {
		accept(l, c, 50, time.Second)
		l.Observe(c.t, 429, time.Second) // one spurious 429 a second
		c.advance(time.Second)
		accept(l, c, 5, 100*time.Millisecond) // the first answers after the pause succeed
	}
	if l.Rate() != 100 || l.Cuts() != 0 {
		t.Errorf("rate %v after %d cuts, want 100 and no cut", l.Rate(), l.Cuts())
	}
}

func TestLimiterBurstCuts(t *testing.T) {
	t.Parallel()
	l, c := newTestLimiter(200)
	// Clerk's 10 s window: 1000 accepted in its first 8 s at our 125/s,
	// then it refuses until the window ends, 2 s later.
	accept(l, c, 1000, 8*time.Second)
	sent := c.t
	for range 3 {
		l.Observe(sent, 429, 2*time.Second) // three in flight hit the limit
	}
	if got := l.Rate(); got < 90 || got > 101 {
		t.Errorf("rate after a burst of 429s = %v, want just under Clerk's 100/s", got)
	}
	// More 429s while the cut settles change nothing.
	l.Observe(sent, 429, time.Second)
	if l.Cuts() != 1 {
		t.Errorf("%d cuts, want 1", l.Cuts())
	}
}

func TestLimiterStrikesCut(t *testing.T) {
	t.Parallel()
	l, c := newTestLimiter(50)
	accept(l, c, 200, 10*time.Second) // 20/s accepted
	// Retry-After is shorter than the server's window: the first request
	// after each pause is refused again.
	for range 2 {
		l.Observe(c.t, 429, time.Second)
		c.advance(1100 * time.Millisecond)
		sent := c.t
		c.advance(10 * time.Millisecond)
		l.Observe(sent, 429, time.Second)
		c.advance(1100 * time.Millisecond)
	}
	if l.Cuts() == 0 || l.Rate() >= 50 {
		t.Errorf("rate %v after %d cuts, want a cut", l.Rate(), l.Cuts())
	}
}

func TestLimiterRecovers(t *testing.T) {
	t.Parallel()
	l, c := newTestLimiter(100)
	accept(l, c, 500, 10*time.Second)
	for range 3 {
		l.Observe(c.t, 429, time.Second)
	}
	cut := l.Rate()
	if cut >= 100 {
		t.Fatalf("no cut: rate %v", cut)
	}
	// Quiet for a while: the rate comes back, slowly, up to the configured.
	accept(l, c, 100, 12*time.Second)
	mid := l.Rate()
	if mid <= cut || mid >= 100 {
		t.Errorf("rate %v after 12 quiet seconds, want between %v and 100", mid, cut)
	}
	accept(l, c, 10000, 10*time.Minute)
	if l.Rate() != 100 {
		t.Errorf("rate %v after ten quiet minutes, want 100", l.Rate())
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
