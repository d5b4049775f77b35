package job

import (
	"context"
	"errors"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Scheduler runs tasks keyed by user on a pool of workers. Tasks of one
// key run one at a time, in the order they were added; tasks of different
// keys run at once, up to the pool's size, which may change while it runs.
// It does no I/O of its own: run is the work.
//
// Invariants, under mu:
//   - a key is in queues from its first Add until a worker finds its queue
//     empty; while there, at most one worker has it (running is set), so
//     its tasks never overlap;
//   - a key is in ready only when it has tasks, is not running and is not
//     held; ready is in the order the keys became ready;
//   - waiting counts the tasks in every queue (running ones excluded) and
//     never exceeds backlog, so memory stays flat however the input runs.
type Scheduler[T any] struct {
	run  func(T)
	drop func(T) // a task that will not run: the scheduler stopped first

	mu       sync.Mutex
	work     sync.Cond // a key became ready, or the pool, Close or Stop changed: workers wait on it
	room     sync.Cond // a task left the backlog or a key was taken: Add and WaitReady wait on it
	queues   map[string]*keyQueue[T]
	ready    []string // keys to take, oldest first (ready[head:])
	head     int
	waiting  int
	backlog  int
	workers  int // goroutines alive
	want     int // pool size asked for
	idle     int // workers waiting for a ready key
	closed   bool
	stopped  bool
	starving chan struct{}  // a token when a worker finds nothing to do
	pool     errgroup.Group // the workers
}

type keyQueue[T any] struct {
	tasks   []T
	running bool
	held    bool
}

// ErrStopped is returned by Add once the scheduler has stopped or closed.
var ErrStopped = errors.New("scheduler stopped")

// NewScheduler returns a scheduler that runs each task with run on up to
// workers goroutines, holding at most backlog tasks that wait. drop, if
// not nil, gets each task left waiting when Stop is called.
func NewScheduler[T any](run, drop func(T), workers, backlog int) *Scheduler[T] {
	s := &Scheduler[T]{
		run:      run,
		drop:     drop,
		queues:   make(map[string]*keyQueue[T]),
		backlog:  max(backlog, 1),
		starving: make(chan struct{}, 1),
	}
	s.work.L, s.room.L = &s.mu, &s.mu
	s.Resize(workers)
	return s
}

// Add queues t behind the tasks of key, waiting while the backlog is
// full. A key that had no tasks becomes ready at once, unless held: then
// it waits for Release (a read its tasks need, say); tasks added to a key
// that is already queued follow it, held or not. Add returns ErrStopped,
// or ctx's error, when t was not queued.
func (s *Scheduler[T]) Add(ctx context.Context, key string, t T, held bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiting >= s.backlog && !s.closed && !s.stopped && ctx.Err() == nil {
		stop := context.AfterFunc(ctx, func() {
			s.mu.Lock()
			s.room.Broadcast()
			s.mu.Unlock()
		})
		for s.waiting >= s.backlog && !s.closed && !s.stopped && ctx.Err() == nil {
			s.room.Wait()
		}
		stop()
	}
	switch {
	case s.closed || s.stopped:
		return ErrStopped
	case ctx.Err() != nil:
		return ctx.Err()
	}
	q := s.queues[key]
	if q == nil {
		q = &keyQueue[T]{held: held}
		s.queues[key] = q
	}
	q.tasks = append(q.tasks, t)
	s.waiting++
	if len(q.tasks) == 1 && !q.running && !q.held {
		s.push(key)
	}
	return nil
}

// Release lets the tasks of a held key run.
func (s *Scheduler[T]) Release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[key]
	if q == nil || !q.held {
		return
	}
	q.held = false
	if len(q.tasks) > 0 && !q.running {
		s.push(key)
	}
}

func (s *Scheduler[T]) push(key string) {
	s.ready = append(s.ready, key)
	s.work.Signal()
}

// Resize sets the pool's size. Extra workers leave once they finish the
// key they are on.
func (s *Scheduler[T]) Resize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want = max(n, 1)
	for ; s.workers < s.want && !s.closed && !s.stopped; s.workers++ {
		s.pool.Go(s.worker)
	}
	s.work.Broadcast()
}

// Size returns the pool size asked for.
func (s *Scheduler[T]) Size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.want
}

// Waiting returns how many tasks wait (held, ready or behind a running one).
func (s *Scheduler[T]) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// WaitReady waits until fewer than n keys are ready and not yet taken,
// so work prepared ahead (users read ahead of their writes) stays a few
// batches deep. It returns early when the scheduler stops or closes, or
// with ctx's error.
func (s *Scheduler[T]) WaitReady(ctx context.Context, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ready)-s.head < n || s.closed || s.stopped {
		return ctx.Err()
	}
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.room.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	for len(s.ready)-s.head >= n && !s.closed && !s.stopped && ctx.Err() == nil {
		s.room.Wait()
	}
	return ctx.Err()
}

// Has reports whether key has tasks waiting or running.
func (s *Scheduler[T]) Has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queues[key] != nil
}

// Starved reports whether a worker waits and no key is ready for it: work
// held back (a read not yet sent) would leave the pool idle.
func (s *Scheduler[T]) Starved() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle > 0 && s.head == len(s.ready)
}

// Starving receives a token when a worker finds nothing ready to take.
func (s *Scheduler[T]) Starving() <-chan struct{} { return s.starving }

// Close says no more tasks come: the workers run every task queued, held
// keys once released, then leave. Wait waits for them.
func (s *Scheduler[T]) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.work.Broadcast()
	s.room.Broadcast()
}

// Stop says no task may start any more: workers finish the task they run
// and leave; every task still waiting goes to drop. Wait waits for them.
func (s *Scheduler[T]) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	var left []T
	for key, q := range s.queues {
		left = append(left, q.tasks...)
		s.waiting -= len(q.tasks)
		q.tasks = nil
		if !q.running {
			delete(s.queues, key)
		}
	}
	s.ready, s.head = nil, 0
	s.work.Broadcast()
	s.room.Broadcast()
	s.mu.Unlock()
	if s.drop != nil {
		for _, t := range left {
			s.drop(t)
		}
	}
}

// Wait waits until every worker has left, after Close or Stop.
func (s *Scheduler[T]) Wait() { _ = s.pool.Wait() } // workers never fail

func (s *Scheduler[T]) worker() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		key, ok := s.take()
		if !ok {
			s.workers--
			if s.head < len(s.ready) {
				s.work.Signal() // the signal this worker took goes to another
			}
			return nil
		}
		q := s.queues[key]
		q.running = true
		for len(q.tasks) > 0 && !s.stopped {
			t := q.tasks[0]
			var zero T
			q.tasks[0] = zero
			q.tasks = q.tasks[1:]
			s.waiting--
			s.room.Broadcast() // room in the backlog
			s.mu.Unlock()
			s.run(t)
			s.mu.Lock()
		}
		q.running = false
		if len(q.tasks) == 0 {
			delete(s.queues, key)
			if s.closed && len(s.queues) == 0 {
				s.work.Broadcast() // the idle workers may leave
			}
		}
	}
}

// take waits for a ready key, and reports false when the worker must leave:
// the pool shrank, the scheduler stopped, or it closed with nothing left.
// It is called with mu held.
func (s *Scheduler[T]) take() (string, bool) {
	for {
		switch {
		case s.stopped, s.workers > s.want:
			return "", false
		case s.head < len(s.ready):
			key := s.ready[s.head]
			s.ready[s.head] = ""
			s.head++
			s.room.Broadcast() // one fewer ready: WaitReady
			if s.head == len(s.ready) {
				s.ready, s.head = s.ready[:0], 0
			} else if s.head > 1024 && s.head*2 > len(s.ready) {
				s.ready = append(s.ready[:0], s.ready[s.head:]...)
				s.head = 0
			}
			return key, true
		case s.closed && len(s.queues) == 0:
			return "", false
		}
		s.idle++
		select {
		case s.starving <- struct{}{}:
		default:
		}
		s.work.Wait()
		s.idle--
	}
}
