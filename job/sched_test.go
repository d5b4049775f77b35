package job

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// item is a scheduler task in tests: a key and its number among the key's
// tasks.
type item struct {
	key string
	n   int
}

// tracker runs items and checks the scheduler's promises as they run.
type tracker struct {
	mu       sync.Mutex
	running  map[string]bool
	last     map[string]int
	ran      int
	overlaps int
	outOfOrd int
	inFlight int
	peak     int
	gate     chan struct{} // when not nil, each task waits for a token
}

func newTracker() *tracker {
	return &tracker{running: map[string]bool{}, last: map[string]int{}}
}

func (tr *tracker) run(it item) {
	tr.mu.Lock()
	if tr.running[it.key] {
		tr.overlaps++
	}
	if it.n != tr.last[it.key]+1 {
		tr.outOfOrd++
	}
	tr.running[it.key] = true
	tr.last[it.key] = it.n
	tr.inFlight++
	tr.peak = max(tr.peak, tr.inFlight)
	gate := tr.gate
	tr.mu.Unlock()
	if gate != nil {
		<-gate
	} else {
		time.Sleep(time.Duration(it.n%3) * time.Microsecond)
	}
	tr.mu.Lock()
	tr.running[it.key] = false
	tr.inFlight--
	tr.ran++
	tr.mu.Unlock()
}

func TestSchedulerOrderPerKey(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	s := NewScheduler(tr.run, nil, 8, 64)
	counts := map[string]int{}
	for i := range 5000 {
		key := fmt.Sprintf("user_%d", i%13) // few keys, many tasks each
		if i%7 == 0 {
			key = fmt.Sprintf("user_once_%d", i) // and some keys seen once
		}
		counts[key]++
		if err := s.Add(context.Background(), key, item{key, counts[key]}, false); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s.Wait()
	if tr.ran != 5000 || tr.overlaps != 0 || tr.outOfOrd != 0 {
		t.Errorf("ran %d of 5000, %d overlaps, %d out of order", tr.ran, tr.overlaps, tr.outOfOrd)
	}
	if tr.peak > 8 {
		t.Errorf("%d tasks ran at once on a pool of 8", tr.peak)
	}
}

func TestSchedulerBacklogBound(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	tr.gate = make(chan struct{})
	s := NewScheduler(tr.run, nil, 2, 10)
	added := make(chan int, 100)
	go func() {
		for i := range 30 {
			if s.Add(context.Background(), "user_a", item{"user_a", i + 1}, false) != nil {
				return
			}
			added <- i + 1
		}
		close(added)
	}()
	// One task runs (it holds the gate) and ten wait: the eleventh Add blocks.
	waitFor(t, func() bool { return len(added) == 11 })
	time.Sleep(10 * time.Millisecond) // a blocked Add would have gone on by now
	if n, w := len(added), s.Waiting(); n != 11 || w != 10 {
		t.Fatalf("%d tasks added, %d waiting, want 11 and 10", n, w)
	}
	close(tr.gate) // let everything run
	for range added {
	}
	s.Close()
	s.Wait()
	if tr.ran != 30 || tr.outOfOrd != 0 {
		t.Errorf("ran %d, %d out of order", tr.ran, tr.outOfOrd)
	}
}

func TestSchedulerResize(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	tr.gate = make(chan struct{})
	s := NewScheduler(tr.run, nil, 1, 1000)
	for i := range 40 {
		key := fmt.Sprintf("user_%d", i)
		if err := s.Add(context.Background(), key, item{key, 1}, false); err != nil {
			t.Fatal(err)
		}
	}
	inFlight := func() int { tr.mu.Lock(); defer tr.mu.Unlock(); return tr.inFlight }
	waitFor(t, func() bool { return inFlight() == 1 })
	s.Resize(6)
	waitFor(t, func() bool { return inFlight() == 6 })
	s.Resize(2)
	// Let the six finish; only two may start after them.
	for range 6 {
		tr.gate <- struct{}{}
	}
	waitFor(t, func() bool { return inFlight() == 2 })
	time.Sleep(10 * time.Millisecond)
	if n := inFlight(); n != 2 {
		t.Errorf("%d tasks in flight after shrinking to 2", n)
	}
	close(tr.gate)
	s.Close()
	s.Wait()
	if tr.ran != 40 {
		t.Errorf("ran %d of 40", tr.ran)
	}
}

func TestSchedulerStop(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	tr.gate = make(chan struct{})
	var dropped atomic.Int64
	s := NewScheduler(tr.run, func(item) { dropped.Add(1) }, 3, 100)
	for i := range 20 {
		key := fmt.Sprintf("user_%d", i%5)
		if err := s.Add(context.Background(), key, item{key, i/5 + 1}, false); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { tr.mu.Lock(); defer tr.mu.Unlock(); return tr.inFlight == 3 })
	s.Stop()
	close(tr.gate)
	s.Wait()
	if tr.ran != 3 || dropped.Load() != 17 {
		t.Errorf("ran %d and dropped %d, want the 3 running and 17 dropped", tr.ran, dropped.Load())
	}
	if err := s.Add(context.Background(), "user_x", item{"user_x", 1}, false); err != ErrStopped {
		t.Errorf("Add after Stop: %v, want ErrStopped", err)
	}
}

func TestSchedulerStopWakesBlockedAdd(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	tr.gate = make(chan struct{})
	defer close(tr.gate)
	s := NewScheduler(tr.run, nil, 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	s.Add(ctx, "user_a", item{"user_a", 1}, false)
	s.Add(ctx, "user_a", item{"user_a", 2}, false)
	errc := make(chan error)
	go func() { errc <- s.Add(ctx, "user_a", item{"user_a", 3}, false) }()
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Errorf("blocked Add after cancel: %v", err)
	}
	go func() { errc <- s.Add(context.Background(), "user_a", item{"user_a", 3}, false) }()
	s.Stop()
	if err := <-errc; err != ErrStopped {
		t.Errorf("blocked Add after Stop: %v", err)
	}
}

// TestSchedulerHeld: a held key's tasks wait for Release while others run,
// tasks added to it meanwhile follow in order, and a worker with nothing
// ready says so.
func TestSchedulerHeld(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	s := NewScheduler(tr.run, nil, 2, 100)
	ctx := context.Background()
	s.Add(ctx, "user_held", item{"user_held", 1}, true)
	s.Add(ctx, "user_free", item{"user_free", 1}, false)
	s.Add(ctx, "user_held", item{"user_held", 2}, false) // follows the held one
	waitFor(t, func() bool { tr.mu.Lock(); defer tr.mu.Unlock(); return tr.ran == 1 })
	waitFor(t, s.Starved)
	<-s.Starving()
	tr.mu.Lock()
	early := tr.last["user_held"] != 0
	tr.mu.Unlock()
	if early {
		t.Fatal("a held key ran before Release")
	}
	s.Release("user_held")
	s.Close()
	s.Wait()
	if tr.ran != 3 || tr.outOfOrd != 0 {
		t.Errorf("ran %d of 3, %d out of order", tr.ran, tr.outOfOrd)
	}
}

// waitFor polls cond; the scheduler's tests drive goroutines they cannot
// join one by one.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
