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
// a user's single write is one slot of a fixed table (2 MB), picked by the
// id's hash: the latest write of the users whose hashes meet there. A slot
// can only hold a write later than a user's own, never lose one, so a
// meeting costs a wait too many, never a 429; and memory stays the same
// at 25,000 writes a second (an unlimited rate) as at Clerk's 100. A
// user's second write in a window moves it to a ring of its last 10, swept
// when its newest write leaves the window; a user's first write of the
// session (fresh) cannot be the one in its slot, so it makes no ring. (Two
// ids with the same 64-bit hash would share a ring: again a wait too many,
// never a 429.)
type userPace struct {
	now    func() time.Time
	window time.Duration // Clerk's, plus userMargin
	seed   maphash.Seed

	mu    sync.Mutex
	once  []int64 // firstSlots slots: the latest single write there (Unix nanoseconds), 0 for none
	mask  uint64  // len(once) - 1
	swept int64   // when the rings were last swept
	many  map[uint64]*userWrites
}

// firstSlots is the size of userPace's table of single writes, a power
// of two. At 25,000 writes a second, a window's writes fill about 60% of
// it; a user's second row then meets another's write in the slot as often,
// which counts one write too many in its ring: it waits only if it has 10
// rows in the window.
const firstSlots = 1 << 18

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
		once: make([]int64, firstSlots), mask: firstSlots - 1, many: map[uint64]*userWrites{}}
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

// record notes a write for id sent at t; fresh says id had no write
// before it this session.
func (p *userPace) record(id string, t time.Time, fresh bool) {
	h, at := maphash.String(p.seed, id), t.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	if at-p.swept >= int64(p.window) {
		p.sweep(at)
	}
	if w := p.many[h]; w != nil {
		w.add(at)
		return
	}
	slot := &p.once[h&p.mask]
	if first := *slot; first == 0 || at-first >= int64(p.window) {
		*slot = at
		return
	}
	if fresh {
		// The write in the slot is another user's: the slot keeps the
		// later of the two, which counts for both.
		*slot = max(*slot, at)
		return
	}
	// A write in the window already: the user's own, or a later one of a
	// user it meets in the slot, which stays for that user.
	w := &userWrites{}
	w.add(*slot)
	w.add(at)
	p.many[h] = w
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
	if slot := &p.once[h&p.mask]; *slot == at {
		*slot = 0 // it was empty, or its write had left the window, before
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
	if p.once[h&p.mask] > cutoff {
		return 1
	}
	return 0
}

// sweep drops the rings whose newest write left the window. The caller
// holds mu.
func (p *userPace) sweep(now int64) {
	p.swept = now
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
