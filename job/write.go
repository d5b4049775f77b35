package job

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/job/jsondiff"
	"github.com/replace-metadata/replace-metadata/reports"
)

// Codes of rows the read decided.
const (
	// CodeReadFailed: the user could not be read, so nothing was written
	// (a write is never sent without a backup of what it replaces).
	CodeReadFailed = "read_failed"
	// CodeNotFound is Clerk's code for a user that does not exist.
	CodeNotFound = "resource_not_found"
	// CodeDrifted: the user changed since its baseline (a plan's reading,
	// a rolled-back run's write), so the row was not written.
	CodeDrifted = "drifted"
	// CodeVerifyMismatch: Clerk answered the write with a stored value that
	// is not what was sent.
	CodeVerifyMismatch = "verify_mismatch"
)

// step is a row's work on its worker: with reads on, decide from the
// user's current metadata whether the row changes anything, count what it
// removes, stop at the removal guard, back up what it replaces; then (not
// in a plan) write it and record the outcome. A run that stops first
// leaves the row without an outcome, for a resumed run.
func (r *run) step(t task) {
	row := &t.row
	meta := clerkapi.Metadata{row.Public, row.Private, row.Unsafe}
	if t.user == nil {
		r.write(t, meta, reports.Result{})
		return
	}
	u := t.user
	defer r.users.release(u)
	if !u.known && !u.missing && u.readErr == nil {
		r.reader.readOne(u)
	}
	if r.opts.Verify {
		r.verify(row, u, meta)
		return
	}
	switch {
	case r.stop.Err() != nil:
		r.unresolved.Add(1)
		return
	case u.readErr != nil:
		r.readFailed(row, u.readErr)
		return
	case u.missing:
		r.notFound(row)
		return
	case !u.known: // the read was cut short by the stop
		r.unresolved.Add(1)
		return
	}
	if fields := r.drifted(u, meta); fields != nil {
		r.drift(row, fields)
		return
	}
	changes, same := diff(u.current, meta)
	res := reports.Result{Action: reports.ActionChange}
	res.SetChanges(changes)
	if same && !r.opts.WriteUnchanged {
		res.Status, res.Action = reports.Unchanged, reports.ActionUnchanged
		r.touch(u, meta)
		r.record(row, res)
		return
	}
	if !r.canaryTicket() {
		r.unresolved.Add(1)
		return
	}
	if !r.guard.take(res.RemovedKeys) {
		r.unresolved.Add(1)
		r.abort(r.guard.stopError(r.rec))
		return
	}
	prior := clerkapi.Metadata{}
	for f := range meta {
		if meta[f] != nil {
			prior[f] = u.current[f]
		}
	}
	if err := r.rec.Backup(u.id, prior); err != nil {
		r.guard.give(res.RemovedKeys)
		r.unresolved.Add(1)
		r.abort(&StopError{Reason: "cannot write the backup: " + err.Error(), Cause: err})
		return
	}
	if r.opts.Plan {
		for f := range meta {
			if meta[f] != nil {
				u.current[f] = meta[f] // what the write would store
			}
		}
		r.record(row, res)
		return
	}
	r.touch(u, meta)
	r.write(t, meta, res)
}

// drifted returns the fields of the row whose current value is neither
// what the baseline expects nor already the row's value, or nil. Only a
// user's fields this session has not touched are checked: the others hold
// the run's own writes.
func (r *run) drifted(u *user, meta clerkapi.Metadata) []string {
	b := r.opts.Baseline
	if b == nil {
		return nil
	}
	want, missing := b.lookup(u.id)
	var fields []string
	for f, v := range meta {
		if v == nil || u.touched[f] {
			continue
		}
		switch {
		case missing:
			// The user did not exist when the baseline was taken.
		case jsondiff.Equal(u.current[f], v):
			continue // already applied
		case want[f] == 0 && jsondiff.Hash(u.current[f]) == jsondiff.Hash(v),
			want[f] != 0 && jsondiff.Hash(u.current[f]) == want[f]:
			continue // as expected: written as planned
		}
		fields = append(fields, clerkapi.FieldNames[f])
	}
	return fields
}

// touch marks the row's fields as this session's own.
func (r *run) touch(u *user, meta clerkapi.Metadata) {
	for f, v := range meta {
		if v != nil {
			u.touched[f] = true
		}
	}
}

// drift records a row not written because its user changed since the
// baseline was taken.
func (r *run) drift(row *input.Row, fields []string) {
	since := cmp.Or(r.opts.DriftSince, "the plan read it")
	msg := fmt.Sprintf("%s changed since %s: not written", strings.Join(fields, ", "), since)
	r.log.Warn().Int("row", row.N).Int("line", row.Line).Str("user_id", row.UserID).
		Strs("fields", fields).Msg("row drifted: not written")
	r.record(row, reports.Result{Status: reports.Drifted, ErrorCode: CodeDrifted, ErrorMessage: msg})
}

// canaryTicket reports whether one more write may be sent: with Canary
// set, only the first Canary are; the one after stops the run.
func (r *run) canaryTicket() bool {
	if r.opts.Canary <= 0 {
		return true
	}
	if r.canaryLeft.Add(-1) >= 0 {
		return true
	}
	r.abort(&StopError{Canary: true, Reason: fmt.Sprintf("canary: the first %d writes are sent", r.opts.Canary)})
	return false
}

// diff compares each field the row sets with its current value.
func diff(current, next clerkapi.Metadata) (changes []reports.FieldChange, same bool) {
	same = true
	for f, v := range next {
		if v == nil {
			continue
		}
		if jsondiff.Equal(current[f], v) {
			continue
		}
		same = false
		c := jsondiff.Compare(clerkapi.FieldNames[f], current[f], v)
		changes = append(changes, reports.FieldChange{
			Field: clerkapi.FieldNames[f], Removed: orEmpty(c.Removed), Added: orEmpty(c.Added), Changed: orEmpty(c.Changed),
		})
	}
	return changes, same
}

// mismatch compares each field sent with the one Clerk says it stored, as
// JSON values, and describes the fields that differ ("" when none does).
func mismatch(sent, stored clerkapi.Metadata) string {
	var parts []string
	for f, v := range sent {
		if v == nil || jsondiff.Equal(v, stored[f]) {
			continue
		}
		c := jsondiff.Compare(clerkapi.FieldNames[f], v, stored[f])
		part := clerkapi.FieldNames[f]
		if n := len(c.Removed) + len(c.Added) + len(c.Changed); n > 0 {
			part += fmt.Sprintf(" (%s)", describeChanges(c))
		}
		parts = append(parts, part)
	}
	if parts == nil {
		return ""
	}
	return "Clerk stored a value that is not what was sent: " + strings.Join(parts, "; ")
}

// describeChanges says in a few words how one value differs from another.
func describeChanges(c jsondiff.Changes) string {
	var s []string
	for _, l := range []struct {
		what  string
		paths []string
	}{{"missing", c.Removed}, {"extra", c.Added}, {"different", c.Changed}} {
		if len(l.paths) > 0 {
			list := l.paths
			if len(list) > 3 {
				list = append(list[:3:3], "…")
			}
			s = append(s, l.what+" "+strings.Join(list, ", "))
		}
	}
	return strings.Join(s, "; ")
}

// orEmpty keeps an empty list a list in plan.ndjson, not null.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// write sends the row's replace through the policy and records its
// outcome; res holds what the read decided (changes, action).
func (r *run) write(t task, meta clerkapi.Metadata, res reports.Result) {
	row := &t.row
	start := r.now()
	// A row keyed by an external id or email was told apart from the
	// user's other rows by its key, not its user id: not fresh.
	fresh := !t.repeat && t.res == nil
	out := r.policy.do(row.UserID, fresh, 1, func(ctx context.Context) clerkapi.Response { // every write is paced
		r.writes.Add(1)
		return r.client.ReplaceMetadata(ctx, row.UserID, meta)
	})
	if out.stopped {
		r.guard.give(res.RemovedKeys)
		r.unresolved.Add(1)
		return
	}
	resp := &out.resp
	res.HTTPStatus, res.Attempts, res.TraceID = resp.Status, out.attempts, resp.TraceID
	res.DurationMS = r.now().Sub(start).Milliseconds()
	res.Status = reports.Succeeded
	if u := t.user; u != nil {
		switch {
		case resp.User != nil:
			u.current = resp.User.Metadata
		case out.verdict == clerkapi.Retryable:
			u.known = false // it may have been applied: read again before the next row
		}
	}
	if out.verdict == clerkapi.Done && resp.User != nil {
		if msg := mismatch(meta, resp.User.Metadata); msg != "" {
			res.Status, res.ErrorCode, res.ErrorMessage = reports.Failed, CodeVerifyMismatch, msg
			r.log.Warn().Int("row", row.N).Int("line", row.Line).Str("user_id", row.UserID).
				Str("error_code", CodeVerifyMismatch).Str("error", msg).Msg("row failed: Clerk stored something else")
			r.record(row, res)
			return
		}
	}
	if out.verdict != clerkapi.Done {
		if out.verdict == clerkapi.Permanent {
			r.guard.give(res.RemovedKeys) // refused: nothing was removed
		}
		res.Status, res.ErrorCode, res.ErrorMessage = reports.Failed, resp.Code, resp.Message
		r.log.Warn().Int("row", row.N).Int("line", row.Line).Str("user_id", row.UserID).
			Int("http_status", resp.Status).Str("error_code", resp.Code).Str("error", resp.Message).
			Int("attempts", out.attempts).Str("clerk_trace_id", resp.TraceID).Msg("row failed")
	}
	r.record(row, res)
}

// readFailed records a row whose user could not be read: nothing is
// written for it.
func (r *run) readFailed(row *input.Row, out *outcome) {
	resp := &out.resp
	msg := fmt.Sprintf("the user could not be read, so nothing was written (after %d attempts: %s %s: %s)",
		out.attempts, statusText(resp.Status), resp.Code, resp.Message)
	r.log.Warn().Int("row", row.N).Int("line", row.Line).Str("user_id", row.UserID).
		Int("http_status", resp.Status).Str("error_code", CodeReadFailed).Str("error", msg).Msg("row failed")
	r.record(row, reports.Result{Status: reports.Failed, Action: reports.ActionReadFailed,
		HTTPStatus: resp.Status, ErrorCode: CodeReadFailed, ErrorMessage: msg, TraceID: resp.TraceID})
}

// notFound records a row whose user the read did not return.
func (r *run) notFound(row *input.Row) {
	msg := "No user was found with id " + row.UserID + " (nothing was written)"
	r.log.Warn().Int("row", row.N).Int("line", row.Line).Str("user_id", row.UserID).
		Int("http_status", http.StatusNotFound).Str("error_code", CodeNotFound).Msg("row failed: no such user")
	r.record(row, reports.Result{Status: reports.Failed, Action: reports.ActionNotFound,
		HTTPStatus: http.StatusNotFound, ErrorCode: CodeNotFound, ErrorMessage: msg})
}
