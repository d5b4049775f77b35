package job

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi"
)

// Read-ahead: how many users may wait ready (read, not yet taken by a
// worker) before another full batch is read, so the users read ahead of
// their writes stay a few batches deep, never the file; and the reads in
// flight at once, from minReads to maxReads (readsInFlight).
const (
	readyAhead = 2 * clerkapi.MaxListValues
	minReads   = 2
	maxReads   = 16
)

// readsInFlight is how many reads may be in flight at rate requests a
// second when a read takes latency: enough for reads to use the whole
// rate, as a sync whose rows are unchanged does (its requests are nearly
// all reads). An unlimited rate (the sandbox, the bench) keeps minReads:
// more made no sync faster there and cost memory (4 and 8 took a 1M-row
// run, every user changed, from 77 MB to 90 and 103; BENCHMARKS.md).
func readsInFlight(rate float64, latency time.Duration) int {
	if unlimited(rate) || latency <= 0 {
		return minReads
	}
	n := int(math.Ceil(rate*latency.Seconds()*1.5)) + 1
	return min(max(n, minReads), maxReads)
}

// readLatency is the run's moving average of how long a read's request
// takes, once answered.
type readLatency struct {
	mu  sync.Mutex
	avg time.Duration
}

func (l *readLatency) observe(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.avg == 0 {
		l.avg = d
		return
	}
	l.avg += (d - l.avg) / 5
}

func (l *readLatency) get() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.avg
}

// readSlots is how many reads may be in flight now: never more than the
// pool has workers (--workers bounds the reads too), but minReads.
func (r *run) readSlots() int {
	return min(readsInFlight(r.policy.lim.Rate(), r.readLat.get()), max(r.sched.Size(), minReads))
}

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
	freed    chan struct{} // closed when a read ends, then replaced

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup // reads in flight
	loop sync.WaitGroup
}

func newReader(r *run) *reader {
	rd := &reader{
		run:   r,
		freed: make(chan struct{}),
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
	rd.mu.Lock()
	for rd.inflight >= rd.run.readSlots() {
		freed := rd.freed
		rd.mu.Unlock()
		select {
		case <-freed:
		case <-stop.Done():
			return
		}
		rd.mu.Lock()
	}
	batch := rd.batch
	if len(batch) > clerkapi.MaxListValues {
		batch = batch[:clerkapi.MaxListValues]
	}
	rd.batch = append([]*user(nil), rd.batch[len(batch):]...)
	if len(batch) == 0 {
		rd.mu.Unlock()
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
		close(rd.freed)
		rd.freed = make(chan struct{})
		rd.mu.Unlock()
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
	out := r.policy.do("", false, len(values), func(ctx context.Context) clerkapi.Response {
		r.reads.Add(1)
		var resp clerkapi.Response
		sent := time.Now()
		found, resp = r.client.ListUsers(ctx, filter, values)
		if resp.Status != 0 {
			r.readLat.observe(time.Since(sent))
		}
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
