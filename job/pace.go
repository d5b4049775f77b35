package job

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// Clerk allows a user 10 metadata writes in 10 seconds.
const (
	userLimit  = 10
	userWindow = 10 * time.Second
	// userMargin keeps clear of the edge of Clerk's window: Clerk counts
	// a write when it arrives, a little after it was sent.
	userMargin = 100 * time.Millisecond
)

// userPace keeps every user's metadata writes under Clerk's per-user
// limit, 10 in any window, so a file with many rows for one user waits on
// that user alone instead of drawing 429s that would pause every worker.
// The 11th write in a window waits until the oldest of the last 10 has
// left it, and no longer.
//
// Every write is tracked, a user's first too. Most users have one row, so
// a write is kept as one map entry (the id's 64-bit hash to the time) in
// the current generation; generations last a window and the one before
// is dropped whole, so memory follows the writes of the last two windows,
// not the run. A user's second write in a window moves it to a ring of
// its last 10, swept when its newest write leaves the window. (Two ids
// with the same hash would share a pace: a wait too many, never a 429.)
type userPace struct {
	now    func() time.Time
	window time.Duration // Clerk's, plus userMargin
	seed   maphash.Seed

	mu       sync.Mutex
	cur, old map[uint64]int64 // a user's one write (Unix nanoseconds), this generation and the last
	gen      int64            // when cur began
	many     map[uint64]*userWrites
}

// userWrites is a ring of a user's last writes, oldest at next.
type userWrites struct {
	at   [userLimit]int64 // Unix nanoseconds; 0: none
	next int
}

func (w *userWrites) add(t int64) {
	w.at[w.next] = t
	w.next = (w.next + 1) % userLimit
}

func (w *userWrites) newest() int64 { return w.at[(w.next+userLimit-1)%userLimit] }

func newUserPace(now func() time.Time, window time.Duration) *userPace {
	return &userPace{now: now, window: window + userMargin, seed: maphash.MakeSeed(),
		cur: map[uint64]int64{}, old: map[uint64]int64{}, many: map[uint64]*userWrites{}}
}

// wait blocks until one more write for id stays under the per-user limit.
func (p *userPace) wait(ctx context.Context, id string) error {
	until := p.next(id)
	if until.IsZero() {
		return nil
	}
	return sleep(ctx, until.Sub(p.now()))
}

// next returns when the next write for id may leave: zero if at once.
func (p *userPace) next(id string) time.Time {
	h := maphash.String(p.seed, id)
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.many[h]; w != nil && w.at[w.next] != 0 {
		return time.Unix(0, w.at[w.next]+int64(p.window)) // the ring is full: its oldest must leave
	}
	return time.Time{}
}

// record notes a write for id sent at t.
func (p *userPace) record(id string, t time.Time) {
	h, at := maphash.String(p.seed, id), t.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	if at-p.gen >= int64(p.window) {
		p.rotate(at)
	}
	if w := p.many[h]; w != nil {
		w.add(at)
		return
	}
	first, ok := p.cur[h]
	if !ok {
		first, ok = p.old[h]
	}
	if !ok || at-first >= int64(p.window) {
		p.cur[h] = at
		return
	}
	w := &userWrites{}
	w.add(first)
	w.add(at)
	p.many[h] = w
	delete(p.cur, h)
	delete(p.old, h)
}

// forget takes back the write for id sent at t: Clerk refused it (429),
// so it does not count against the user.
func (p *userPace) forget(id string, t time.Time) {
	h, at := maphash.String(p.seed, id), t.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.many[h]; w != nil {
		// A user's writes never overlap: the refused one is the newest.
		if last := (w.next + userLimit - 1) % userLimit; w.at[last] == at {
			w.at[last], w.next = 0, last
		}
		return
	}
	for _, m := range []map[uint64]int64{p.cur, p.old} {
		if t, ok := m[h]; ok && t == at {
			delete(m, h)
		}
	}
}

// recentWrites returns how many writes for id were sent in the last
// window.
func (p *userPace) recentWrites(id string) int {
	h := maphash.String(p.seed, id)
	cutoff := p.now().Add(-p.window).UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.many[h]; w != nil {
		n := 0
		for _, t := range w.at {
			if t > cutoff {
				n++
			}
		}
		return n
	}
	for _, m := range []map[uint64]int64{p.cur, p.old} {
		if t, ok := m[h]; ok && t > cutoff {
			return 1
		}
	}
	return 0
}

// rotate starts a generation at now: the one before the last holds only
// writes older than a window. Rings whose newest write left the window go
// too. The caller holds mu.
func (p *userPace) rotate(now int64) {
	p.old, p.cur, p.gen = p.cur, make(map[uint64]int64, len(p.cur)), now
	cutoff := now - int64(p.window)
	for h, w := range p.many {
		if w.newest() <= cutoff {
			delete(p.many, h)
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
