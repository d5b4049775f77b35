package job

import (
	"container/list"
	"sync"

	"github.com/replace-metadata/replace-metadata/clerkapi"
)

// user is what a run knows of one user while its rows go through. The
// read fills it before the user's rows are released to a worker; from
// then on only the worker running the user's rows touches it, one row at
// a time, and each write's answer (the user as stored) updates it.
type user struct {
	id string
	// pending counts the user's rows dispatched and not yet done; a user
	// with none can leave the registry. Under users.mu.
	pending int
	// reading is set while a read for the user is queued or in flight.
	// Under users.mu.
	reading bool

	known   bool              // current holds what Clerk stores
	missing bool              // the read found no such user
	readErr *outcome          // the read failed after its retries
	current clerkapi.Metadata // the fields as last read or written
	// touched marks the fields this session has written (or found already
	// written) for the user: only the others are checked for drift.
	touched [clerkapi.NumFields]bool
}

// users are the users of a run's rows in flight, and a bounded cache of
// the users whose rows are done, so a user's later rows are compared with
// what its last write stored without a new read. A user that has left the
// cache is read again: the cost is one more read, never a wrong backup
// (the writer remembers what it backed up for the whole run).
type users struct {
	mu     sync.Mutex
	active map[string]*user
	recent map[string]*list.Element // of *user, newest at the front
	order  list.List
	limit  int
}

// recentUsers bounds the cache of users whose rows are done.
const recentUsers = 4096

func newUsers() *users {
	return &users{active: map[string]*user{}, recent: map[string]*list.Element{}, limit: recentUsers}
}

// acquire returns the user of a row being dispatched, and whether it must
// be read (in a batch) before the row runs: it has no rows in flight and is
// not known. A user with rows in flight is never batched again: its rows
// are queued behind the ones running, and a worker that finds it unknown
// (a write whose outcome is unknown) reads it there and then.
func (us *users) acquire(id string) (u *user, read bool) {
	us.mu.Lock()
	defer us.mu.Unlock()
	u = us.active[id]
	fresh := u == nil
	if fresh {
		if e := us.recent[id]; e != nil {
			u = us.order.Remove(e).(*user)
			delete(us.recent, id)
		} else {
			u = &user{id: id}
		}
		us.active[id] = u
	}
	u.pending++
	if fresh && !u.known && !u.missing {
		u.reading = true
		return u, true
	}
	return u, false
}

// acquireKnown is acquire for a row whose user was just read (to resolve
// the key the row names it by): a user new to the registry takes known's
// metadata and needs no read. known nil is acquire.
func (us *users) acquireKnown(id string, known *clerkapi.User) (u *user, read bool) {
	u, read = us.acquire(id)
	if read && known != nil {
		us.mu.Lock()
		u.reading = false
		us.mu.Unlock()
		u.current, u.known = known.Metadata, true
		return u, false
	}
	return u, read
}

// release says one of u's rows is done (or will never run).
func (us *users) release(u *user) {
	us.mu.Lock()
	defer us.mu.Unlock()
	if u.pending--; u.pending > 0 {
		return
	}
	delete(us.active, u.id)
	if !u.known && !u.missing {
		return // nothing worth keeping
	}
	us.recent[u.id] = us.order.PushFront(u)
	for us.order.Len() > us.limit {
		old := us.order.Remove(us.order.Back()).(*user)
		delete(us.recent, old.id)
	}
}

// read records what the read of u found; it runs before u's rows do.
func (us *users) read(u *user, found *clerkapi.User, failed *outcome) {
	us.mu.Lock()
	u.reading = false
	us.mu.Unlock()
	switch {
	case failed != nil:
		u.readErr = failed
	case found == nil:
		u.missing, u.known = true, false
	default:
		u.current, u.known, u.readErr = found.Metadata, true, nil
	}
}
