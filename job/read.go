package job

import (
	"context"
	"sync"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi"
)

// Read-ahead: reads in flight at once, and how many users may wait ready
// (read, not yet taken by a worker) before another full batch is read.
// With the batch being filled, the users read ahead of their writes stay
// a few batches deep (at most 5 of 100), never the file. More in flight
// did not make a sync (all reads) faster, and cost memory: 4 and 8 took a
// 1M-row run from 77 MB to 90 and 103 (BENCHMARKS.md).
const (
	maxReadsInFlight = 2
	readyAhead       = 2 * clerkapi.MaxListValues
)

// settle is how long a partial batch is given to grow before it goes
// because the pool would idle: the dispatcher may be adding users still.
const settle = 2 * time.Millisecond

// reader batches the users that must be read before their first write:
// up to 100 a request (GET /v1/users?user_id=…). A batch goes out when it
// is full, or sooner when waiting would leave workers idle: a worker waits,
// nothing is ready for it, and no read in flight will bring anything. Each
// read goes through the run's policy, so the limiter, retries and the key
// abort are the writes' own; when it is answered, its users' rows are
// released to the scheduler.
type reader struct {
	run *run

	mu       sync.Mutex
	batch    []*user
	inflight int

	slots chan struct{} // one token a read in flight
	wake  chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup // reads in flight
	loop  sync.WaitGroup
}

func newReader(r *run) *reader {
	rd := &reader{
		run:   r,
		slots: make(chan struct{}, maxReadsInFlight),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	rd.loop.Add(1)
	go rd.watch()
	return rd
}

// add queues u for reading. Its rows were added to the scheduler held; the
// read releases them. add blocks while a full batch cannot go out yet.
func (rd *reader) add(u *user) {
	rd.mu.Lock()
	rd.batch = append(rd.batch, u)
	full := len(rd.batch) >= clerkapi.MaxListValues
	rd.mu.Unlock()
	if full {
		rd.send(true)
		return
	}
	rd.poke()
}

func (rd *reader) poke() {
	select {
	case rd.wake <- struct{}{}:
	default:
	}
}

// watch sends a partial batch whenever waiting for more users would leave
// the pool idle.
func (rd *reader) watch() {
	defer rd.loop.Done()
	for {
		select {
		case <-rd.done:
			return
		case <-rd.wake:
		case <-rd.run.sched.Starving():
		}
		if rd.stalled() {
			rd.send(false)
		}
	}
}

// stalled reports whether a partial batch should go now: the pool would
// idle (nothing ready, no read in flight to bring anything) and the batch
// has stopped growing (the input is slow, or ended).
func (rd *reader) stalled() bool {
	for {
		rd.mu.Lock()
		n := len(rd.batch)
		idle := n > 0 && n < clerkapi.MaxListValues && rd.inflight == 0 && rd.run.sched.Starved()
		rd.mu.Unlock()
		if !idle {
			return false
		}
		select {
		case <-rd.done:
			return false
		case <-time.After(settle):
		}
		rd.mu.Lock()
		grew := len(rd.batch) != n
		rd.mu.Unlock()
		if !grew {
			return true
		}
	}
}

// send sends the batch being filled, if any. A full batch (full set) waits
// for a free read slot and for the users read ahead to be taken; a partial
// one goes when a slot is free.
func (rd *reader) send(full bool) {
	stop := rd.run.stop
	if full && rd.run.sched.WaitReady(stop, readyAhead) != nil {
		return
	}
	select {
	case rd.slots <- struct{}{}:
	case <-stop.Done():
		return
	}
	rd.mu.Lock()
	batch := rd.batch
	if len(batch) > clerkapi.MaxListValues {
		batch = batch[:clerkapi.MaxListValues]
	}
	rd.batch = append([]*user(nil), rd.batch[len(batch):]...)
	if len(batch) == 0 {
		rd.mu.Unlock()
		<-rd.slots
		return
	}
	rd.inflight++
	rd.mu.Unlock()
	rd.wg.Add(1)
	go func() {
		defer rd.wg.Done()
		rd.read(batch)
		rd.mu.Lock()
		rd.inflight--
		rd.mu.Unlock()
		<-rd.slots
		rd.poke()
	}()
}

// read reads one batch and releases its users' rows. A read that fails
// after its retries fails those rows, and nothing is written for them; a
// read the run's stop cut short leaves them held, and the stop drops them.
func (rd *reader) read(batch []*user) {
	r := rd.run
	ids := make([]string, len(batch))
	for i, u := range batch {
		ids[i] = u.id
	}
	found, out := r.list(clerkapi.ByUserID, ids)
	if out.stopped {
		return
	}
	byID := make(map[string]*clerkapi.User, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	for _, u := range batch {
		if out.verdict != clerkapi.Done {
			r.users.read(u, nil, &out)
		} else {
			r.users.read(u, byID[u.id], nil)
		}
		r.sched.Release(u.id)
	}
}

// list makes one batched read through the policy: the users named by
// values of filter. A failure fails the rows of every value, for the
// circuit breaker.
func (r *run) list(filter clerkapi.Filter, values []string) ([]clerkapi.User, outcome) {
	var found []clerkapi.User
	out := r.policy.do("", len(values), func(ctx context.Context) clerkapi.Response {
		r.reads.Add(1)
		var resp clerkapi.Response
		found, resp = r.client.ListUsers(ctx, filter, values)
		return resp
	})
	return found, out
}

// readOne reads u on its own, from its worker: its last write's outcome is
// unknown, so what Clerk stores is too.
func (rd *reader) readOne(u *user) {
	rd.read([]*user{u})
}

// close sends what is left once the input has ended, and waits for every
// read.
func (rd *reader) close() {
	for {
		rd.mu.Lock()
		n := len(rd.batch)
		rd.mu.Unlock()
		if n == 0 || rd.run.stop.Err() != nil {
			break
		}
		rd.send(false)
	}
	close(rd.done)
	rd.loop.Wait()
	rd.wg.Wait()
}
