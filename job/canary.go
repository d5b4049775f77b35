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
		eof := false
		for len(toRead) < clerkapi.MaxListValues && len(window) < maxQueued {
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
			if r.users != nil {
				u, read := r.users.acquire(t.row.UserID)
				t.user = u
				if read {
					toRead = append(toRead, u)
				}
			}
			window = append(window, t)
		}
		if len(toRead) > 0 {
			r.reader.read(toRead)
		}
		for i, t := range window {
			if r.stop.Err() != nil {
				for _, left := range window[i:] {
					r.drop(left)
				}
				break
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
