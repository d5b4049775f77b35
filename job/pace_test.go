package job

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// paceWrite waits for id's pace on the fake clock, then records a write.
func paceWrite(p *userPace, c *fakeClock, id string) time.Time {
	if until := p.next(id); until.After(c.t) {
		c.t = until
	}
	p.record(id, c.t, false)
	return c.t
}

// Clerk allows 10 writes in any 10 s: the first ten go at once, the user's
// very first write among them, and the 11th waits for the first to leave
// the window, no longer.
func TestUserPaceTenInAWindow(t *testing.T) {
	t.Parallel()
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newUserPace(c.now, userWindow)
	var at []time.Time
	for range 25 {
		at = append(at, paceWrite(p, c, "user_a"))
		c.advance(10 * time.Millisecond) // each write takes 10 ms
	}
	for i := range 10 {
		if waited := at[i].Sub(at[0]); waited > 100*time.Millisecond {
			t.Errorf("write %d went %v after the first, want at once", i+1, waited)
		}
	}
	for i := 10; i < len(at); i++ {
		if got, want := at[i].Sub(at[i-10]), userWindow+userMargin; got != want {
			t.Errorf("write %d went %v after write %d, want %v", i+1, got, i-9, want)
		}
	}
	// No span of Clerk's window holds more than 10.
	for i := range at {
		n := 0
		for _, b := range at[i:] {
			if b.Sub(at[i]) < userWindow {
				n++
			}
		}
		if n > userLimit {
			t.Fatalf("%d writes within %v of write %d", n, userWindow, i+1)
		}
	}
}

// A write Clerk refused does not count: the next one goes at once.
func TestUserPaceForgetsRefused(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 10} {
		c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		p := newUserPace(c.now, userWindow)
		for range n - 1 {
			paceWrite(p, c, "user_a")
		}
		p.forget("user_a", paceWrite(p, c, "user_a"))
		if got := p.recentWrites("user_a"); got != n-1 {
			t.Errorf("%d writes, the last refused: recentWrites = %d, want %d", n, got, n-1)
		}
		if until := p.next("user_a"); !until.IsZero() {
			t.Errorf("%d writes, the last refused: the next waits until %v", n, until.Sub(c.t))
		}
	}
}

// Other users never wait on one that is paced.
func TestUserPaceOthersGoOn(t *testing.T) {
	t.Parallel()
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newUserPace(c.now, time.Second)
	for range userLimit {
		paceWrite(p, c, "user_busy")
	}
	if p.next("user_busy").IsZero() {
		t.Fatal("the 11th write of user_busy would go at once")
	}
	for i := range 100 {
		if until := p.next(fmt.Sprintf("user_%d", i)); !until.IsZero() {
			t.Fatalf("user_%d waits", i)
		}
	}
}

// Memory follows the users with two writes in the last two windows, not
// the run; single writes take a fixed table.
func TestUserPaceForgetsOldUsers(t *testing.T) {
	t.Parallel()
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newUserPace(c.now, time.Second)
	for i := range 100_000 {
		paceWrite(p, c, fmt.Sprintf("user_%d", i))
		if i%10 == 0 {
			paceWrite(p, c, fmt.Sprintf("user_%d", i)) // one user in ten writes twice
		}
		c.advance(100 * time.Microsecond) // 10,000 users a second, 10 s
	}
	c.advance(3 * time.Second)
	paceWrite(p, c, "user_last")
	if n := len(p.many); n > 2_000 {
		t.Errorf("%d rings kept after 10 s of 10,000 users a second and 3 s more, want at most two windows' worth", n)
	}
}

// Users that meet in a slot of the single-write table never go over the
// limit: a table of 4 slots for 300 users, each with 12 rows in a random
// order (the first fresh), and still no user has more than 10 writes in
// any window.
func TestUserPaceSlotsNeverUndercount(t *testing.T) {
	t.Parallel()
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newUserPace(c.now, userWindow)
	p.once, p.mask = make([]int64, 4), 3
	var order []string
	for u := range 300 {
		for range 12 {
			order = append(order, fmt.Sprintf("user_%d", u))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	writes := map[string][]time.Time{}
	for _, id := range order {
		at := c.t
		if w := writes[id]; len(w) > 0 && w[len(w)-1].After(at) {
			at = w[len(w)-1].Add(time.Millisecond) // a user's writes one after another
		}
		if until := p.next(id); until.After(at) {
			at = until // this user waits; the clock goes on for the others
		}
		p.record(id, at, len(writes[id]) == 0) // a user's first write is fresh
		writes[id] = append(writes[id], at)
		c.advance(2 * time.Millisecond)
	}
	for id, at := range writes {
		for i := range at {
			if i+userLimit < len(at) && at[i+userLimit].Sub(at[i]) < userWindow {
				t.Fatalf("%s: %d writes within %v from %v", id, userLimit+1, userWindow, at[i].Sub(at[0]))
			}
		}
	}
}
