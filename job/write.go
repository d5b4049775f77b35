package job

import (
	"context"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/reports"
)

// write is a row's step: replace the fields it sets, through the policy,
// and record the outcome, unless the run stops first: then the row has no
// outcome and a resumed run sends it again.
func (r *run) write(t task) {
	row := &t.row
	start := r.now()
	meta := clerkapi.Metadata{row.Public, row.Private, row.Unsafe}
	user := ""
	if t.repeat {
		user = row.UserID // only repeats can meet the per-user limit
	}
	out := r.policy.do(user, func(ctx context.Context) clerkapi.Response {
		return r.client.ReplaceMetadata(ctx, row.UserID, meta)
	})
	if out.stopped {
		r.unresolved.Add(1)
		return
	}
	resp := &out.resp
	res := reports.Result{
		Status: reports.Succeeded, HTTPStatus: resp.Status, Attempts: out.attempts,
		DurationMS: r.now().Sub(start).Milliseconds(), TraceID: resp.TraceID,
	}
	if out.verdict != clerkapi.Done {
		res.Status, res.ErrorCode, res.ErrorMessage = reports.Failed, resp.Code, resp.Message
		r.log.Warn().Int("row", row.N).Int("line", row.Line).Str("user_id", row.UserID).
			Int("http_status", resp.Status).Str("error_code", resp.Code).Str("error", resp.Message).
			Int("attempts", out.attempts).Str("clerk_trace_id", resp.TraceID).Msg("row failed")
	}
	r.record(row, res)
}
