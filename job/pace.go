package job

import (
	"context"
	"sync"
	"time"
)

// Clerk allows a user 10 metadata writes in 10 seconds.
const (
	userLimit  = 10
	userWindow = 10 * time.Second
	// userMargin keeps clear of the edge of Clerk's window.
	userMargin = 100 * time.Millisecond
)

// userPace keeps a user's writes under Clerk's per-user limit, so a file
// with many rows for one user waits on that user alone instead of drawing
// 429s that would pause every worker.
//
// Only rows whose user appeared on an earlier row are paced and recorded:
// a user's first write is not tracked (most users have one row, and a map
// entry per user would grow with the run), so a tracked user may have one
// more write in the window than the ring shows, and the ring holds one
// fewer than Clerk's limit.
type userPace struct {
	now    func() time.Time
	window time.Duration

	mu     sync.Mutex
	recent map[string]*userWrites
	swept  time.Time
}

// paced is how many tracked writes the window may hold: Clerk's limit less
// the untracked first write.
const paced = userLimit - 1

// userWrites is a ring of a user's last tracked write times.
type userWrites struct {
	at   [paced]time.Time
	next int
}

func newUserPace(now func() time.Time, window time.Duration) *userPace {
	return &userPace{now: now, window: window, recent: make(map[string]*userWrites)}
}

// wait blocks until one more write for id stays under the per-user limit.
func (p *userPace) wait(ctx context.Context, id string) error {
	p.mu.Lock()
	var until time.Time
	if w := p.recent[id]; w != nil {
		// The oldest of the last paced writes must leave the window.
		if oldest := w.at[w.next]; !oldest.IsZero() {
			until = oldest.Add(p.window + userMargin)
		}
	}
	d := until.Sub(p.now())
	p.mu.Unlock()
	if until.IsZero() || d <= 0 {
		return nil
	}
	return sleep(ctx, d)
}

// record notes a write for id sent at t.
func (p *userPace) record(id string, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.recent[id]
	if w == nil {
		w = &userWrites{}
		p.recent[id] = w
	}
	w.at[w.next] = t
	w.next = (w.next + 1) % paced
	if t.Sub(p.swept) > p.window {
		p.sweep(t)
	}
}

// recentWrites returns how many tracked writes for id were sent in the
// last window.
func (p *userPace) recentWrites(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.recent[id]
	if w == nil {
		return 0
	}
	n := 0
	cutoff := p.now().Add(-p.window)
	for _, t := range w.at {
		if t.After(cutoff) {
			n++
		}
	}
	return n
}

// sweep forgets users with no write in the last window.
func (p *userPace) sweep(now time.Time) {
	p.swept = now
	cutoff := now.Add(-p.window - userMargin)
	for id, w := range p.recent {
		last := w.at[(w.next+paced-1)%paced]
		if last.Before(cutoff) {
			delete(p.recent, id)
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
