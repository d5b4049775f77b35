package job

import (
	"fmt"
	"strings"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/reports"
)

// CodeAmbiguousUser: the email address a row names its user by belongs to
// more than one user, so the row is not written.
const CodeAmbiguousUser = "ambiguous_user"

// resolver turns the keys that rows name their users by (an external id,
// an email address) into Clerk users, with the batched read that fetches
// their metadata anyway (GET /v1/users?external_id=…, email_address=…):
// one read per user, as with user ids. Rows wait in input order until
// their key is resolved and then go to the scheduler under the resolved
// user id, so two rows that resolve to one user (two of its addresses)
// are applied in input order and never at once. It runs on the
// dispatcher's goroutine; reads report back on a channel.
type resolver struct {
	r      *run
	filter clerkapi.Filter

	pending []task                 // rows in input order, waiting for their key
	keys    map[string]*resolution // by canonical key: pending, being read, or recently resolved
	recent  int                    // resolved entries in keys
	batch   []*resolution
	reading int // reads in flight
	done    chan readDone
}

// resolution is what a key turned out to name.
type resolution struct {
	key, value string // canonical, and as first written
	resolved   bool
	fresh      bool           // read for the rows waiting now: its metadata is current
	user       *clerkapi.User // nil: no such user
	ambiguous  int            // users that share the key, when more than one
	failed     *outcome       // the read failed after its retries
}

type readDone struct {
	batch []*resolution
}

// recentKeys bounds the resolutions kept for later rows of the same key.
const recentKeys = 16384

func newResolver(r *run, kind input.KeyKind) *resolver {
	return &resolver{r: r, filter: clerkapi.Filter(kind.String()), keys: map[string]*resolution{},
		done: make(chan readDone, maxReads)}
}

// add queues a row whose user is named by an external id or an email
// address, then submits every row at the head of the queue whose key is
// resolved.
func (rv *resolver) add(t task) {
	key := t.row.Key.Canonical()
	res := rv.keys[key]
	if res == nil {
		res = &resolution{key: key, value: t.row.Key.Value}
		rv.keys[key] = res
		rv.batch = append(rv.batch, res)
	}
	t.res = res
	rv.pending = append(rv.pending, t)
	rv.collect(false)
	switch {
	case len(rv.batch) >= clerkapi.MaxListValues:
		rv.send(true)
	case len(rv.batch) > 0 && rv.reading == 0 && rv.r.sched.Starved():
		rv.send(false) // the pool would idle: do not wait for more
	}
	for len(rv.pending) >= maxQueued && rv.r.stop.Err() == nil {
		if rv.reading == 0 {
			rv.send(false)
		}
		rv.collect(true)
	}
}

// send reads the batch, waiting for a read slot (full: and for the users
// read ahead to be taken, as the reader does).
func (rv *resolver) send(full bool) {
	if full {
		rv.r.sched.WaitReady(rv.r.stop, readyAhead)
	}
	for rv.reading >= rv.r.readSlots() && rv.r.stop.Err() == nil {
		rv.collect(true)
	}
	if len(rv.batch) == 0 || rv.r.stop.Err() != nil {
		return
	}
	n := min(len(rv.batch), clerkapi.MaxListValues)
	batch := rv.batch[:n:n]
	rv.batch = append([]*resolution(nil), rv.batch[n:]...)
	rv.reading++
	go func() {
		rv.read(batch)
		rv.done <- readDone{batch}
	}()
}

// collect takes the reads that are done (waiting for one when block is
// set) and submits the rows at the head of the queue that they resolved.
func (rv *resolver) collect(block bool) {
	for {
		var d readDone
		if block {
			select {
			case d = <-rv.done:
			case <-rv.r.stop.Done():
				return
			}
			block = false
		} else {
			select {
			case d = <-rv.done:
			default:
				rv.flush()
				return
			}
		}
		rv.reading--
		for _, res := range d.batch {
			res.resolved, res.fresh = true, true
			rv.recent++
		}
	}
}

// flush submits the rows at the head of the queue whose key is resolved.
func (rv *resolver) flush() {
	i := 0
	for ; i < len(rv.pending) && rv.pending[i].res.resolved && rv.r.stop.Err() == nil; i++ {
		rv.submit(rv.pending[i])
		rv.pending[i] = task{}
	}
	rv.pending = append(rv.pending[:0], rv.pending[i:]...)
	if rv.recent > recentKeys {
		// Forget what is resolved; a later row of the key reads it again.
		for k, res := range rv.keys {
			if res.resolved {
				delete(rv.keys, k)
			}
		}
		for _, t := range rv.pending {
			rv.keys[t.res.key] = t.res
		}
		rv.recent = 0
	}
}

// submit hands a row whose key is resolved to the scheduler under the
// user's id.
func (rv *resolver) submit(t task) {
	r := rv.r
	t, read, ok := rv.prepare(t)
	if !ok {
		return
	}
	if err := r.sched.Add(r.stop, t.user.id, t, read); err != nil {
		r.users.release(t.user)
		r.unresolved.Add(1)
		return
	}
	if read {
		r.reader.add(t.user)
	}
}

// prepare readies a row whose key is resolved: it names the resolved user
// (row.UserID, the user's state, whether it must still be read), or it
// records why the row cannot be written and reports false.
func (rv *resolver) prepare(t task) (_ task, read, ok bool) {
	r, res, row := rv.r, t.res, &t.row
	switch {
	case res.failed != nil:
		r.readFailed(row, res.failed)
		return t, false, false
	case res.ambiguous > 1:
		msg := fmt.Sprintf("%d users have the %s %s: not written", res.ambiguous, row.Key.Kind, row.Key.Value)
		r.log.Warn().Int("row", row.N).Int("line", row.Line).Str("error_code", CodeAmbiguousUser).Msg("row failed: " + msg)
		r.record(row, reports.Result{Status: reports.Failed, Action: reports.ActionNotFound, ErrorCode: CodeAmbiguousUser, ErrorMessage: msg})
		return t, false, false
	case res.user == nil:
		msg := fmt.Sprintf("No user has the %s %s (nothing was written)", row.Key.Kind, row.Key.Value)
		r.log.Warn().Int("row", row.N).Int("line", row.Line).Str("error_code", CodeNotFound).Msg("row failed: no such user")
		r.record(row, reports.Result{Status: reports.Failed, Action: reports.ActionNotFound, HTTPStatus: 404,
			ErrorCode: CodeNotFound, ErrorMessage: msg})
		return t, false, false
	}
	row.UserID = res.user.ID
	var known *clerkapi.User
	if res.fresh {
		known = res.user
	}
	t.user, read = r.users.acquireKnown(row.UserID, known)
	res.fresh = false // a later row of the key finds the user in the registry, or reads it again
	return t, read, true
}

// read reads one batch of keys through the policy. An email matches a
// user that has it among its addresses, without regard to case; an
// external id, the user that has it.
func (rv *resolver) read(batch []*resolution) {
	r := rv.r
	todo := batch
	for len(todo) > 0 {
		values := make([]string, len(todo))
		for i, res := range todo {
			values[i] = res.value
		}
		found, out := r.list(rv.filter, values)
		if out.stopped {
			return // the stop drops the rows that wait
		}
		if out.verdict != clerkapi.Done {
			for _, res := range todo {
				res.failed = &out
			}
			return
		}
		var unmatched []*resolution
		for _, res := range todo {
			res.user, res.ambiguous = nil, 0
			for i := range found {
				if rv.matches(&found[i], res.key) {
					res.ambiguous++
					res.user = &found[i]
				}
			}
			if res.user == nil {
				unmatched = append(unmatched, res)
			}
		}
		// A full answer may have been cut at the limit (an address two
		// users share takes two places): ask again for what it lacked.
		if len(found) < len(todo) || len(unmatched) == len(todo) {
			return
		}
		todo = unmatched
	}
}

func (rv *resolver) matches(u *clerkapi.User, key string) bool {
	if rv.filter == clerkapi.ByExternalID {
		return u.ExternalID == key
	}
	for _, e := range u.Emails {
		if strings.EqualFold(e, key) {
			return true
		}
	}
	return false
}

// close reads what is left once the input has ended and submits every row.
func (rv *resolver) close() {
	for (len(rv.pending) > 0 || rv.reading > 0) && rv.r.stop.Err() == nil {
		if len(rv.batch) > 0 {
			rv.send(false)
			continue
		}
		rv.collect(rv.reading > 0)
	}
	for rv.reading > 0 { // after a stop: wait for the reads in flight
		<-rv.done
		rv.reading--
	}
	rv.r.unresolved.Add(int64(len(rv.pending))) // stopped before their key was read
	rv.pending = nil
}
