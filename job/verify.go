package job

import (
	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/job/jsondiff"
	"github.com/replace-metadata/replace-metadata/reports"
)

// verify is a row's step in a verify pass: each field the row sets is
// compared, as a JSON value, with what the read found; a mismatch lists
// the paths from the value written to the one stored.
func (r *run) verify(row *input.Row, u *user, meta clerkapi.Metadata) {
	if r.stop.Err() != nil || !u.known && !u.missing && u.readErr == nil {
		r.unresolved.Add(1)
		return
	}
	res := reports.Result{Status: reports.Succeeded}
	for f, v := range meta {
		if v == nil {
			continue
		}
		c := reports.FieldChange{Field: clerkapi.FieldNames[f], Verdict: reports.VerifyOK}
		switch {
		case u.readErr != nil:
			c.Verdict = reports.VerifyReadFailed
		case u.missing:
			c.Verdict = reports.VerifyMissing
		case !jsondiff.Equal(v, u.current[f]):
			d := jsondiff.Compare(c.Field, v, u.current[f])
			c.Verdict, c.Removed, c.Added, c.Changed = reports.VerifyMismatch, d.Removed, d.Added, d.Changed
		}
		if c.Verdict != reports.VerifyOK {
			res.Status = reports.Failed
			r.log.Warn().Int("row", row.N).Str("user_id", row.UserID).Str("field", c.Field).
				Str("verdict", c.Verdict).Msg("verify: Clerk does not hold what the run wrote")
		}
		res.Changes = append(res.Changes, c)
	}
	r.record(row, res)
}
