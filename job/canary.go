package job

import (
	"errors"
	"io"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/input"
)

// dispatchCanary is dispatch for a canary run (Options.Canary): rows are
// decided one at a time, in input order, on this goroutine, so the writes
// sent are exactly the first rows that need one. Users are still read in
// batches: the rows of up to 100 users not yet known are read from the
// input, their users read in one request, and the rows stepped in order.
func (r *run) dispatchCanary(rows input.Reader) error {
	for r.stop.Err() == nil {
		var window []task
		var toRead []*user
		var toResolve []*resolution
		eof := false
		for len(toRead) < clerkapi.MaxListValues && len(toResolve) < clerkapi.MaxListValues && len(window) < maxQueued {
			row, err := rows.Next()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				r.abort(&StopError{Reason: "input unreadable: " + err.Error(), Cause: err})
				return err
			}
			t, ok := r.admit(row)
			if !ok {
				continue
			}
			switch k := t.row.Key.Kind; {
			case (k == input.ExternalID || k == input.Email) && r.users != nil:
				t.res = r.canaryKey(t, k, &toResolve)
			case r.users != nil:
				u, read := r.users.acquire(t.row.UserID)
				t.user = u
				if read {
					toRead = append(toRead, u)
				}
			}
			window = append(window, t)
		}
		if len(toResolve) > 0 {
			r.resolver.read(toResolve)
			for _, res := range toResolve {
				res.resolved, res.fresh = true, true
			}
			toResolve = nil
		}
		if len(toRead) > 0 {
			r.reader.read(toRead)
		}
		for i, t := range window {
			if r.stop.Err() != nil {
				for _, left := range window[i:] {
					if left.res == nil {
						r.drop(left)
					} else {
						r.unresolved.Add(1)
					}
				}
				break
			}
			if t.res != nil {
				var read, ok bool
				if t, read, ok = r.resolver.prepare(t); !ok {
					continue
				}
				if read {
					r.reader.read([]*user{t.user})
				}
			}
			r.step(t)
		}
		if eof {
			r.eof.Store(true)
			return nil
		}
	}
	return nil
}

// canaryKey returns the resolution of a row keyed by an external id or an
// email address, queueing a new one in toResolve.
func (r *run) canaryKey(t task, k input.KeyKind, toResolve *[]*resolution) *resolution {
	if r.resolver == nil {
		r.resolver = newResolver(r, k)
	}
	key := t.row.Key.Canonical()
	res := r.resolver.keys[key]
	if res == nil || res.resolved && !res.fresh {
		res = &resolution{key: key, value: t.row.Key.Value}
		r.resolver.keys[key] = res
		*toResolve = append(*toResolve, res)
	}
	return res
}
