package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/job"
	"github.com/replace-metadata/replace-metadata/reports"
)

// TestGoldenSummary: what a run prints at its end on a terminal, and the
// run finished log line that carries the same facts when no terminal
// watches, for a finished run with failed rows and a backup, and for the
// same run stopped by SIGINT in its second session. Both come from the
// session's own conclusion, over a run folder written as a run writes it,
// with the settled summary and this session's stats fixed.
func TestGoldenSummary(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	wd := t.TempDir()
	dir := filepath.Join("runs", "plan-migration")
	w, err := reports.Open(filepath.Join(wd, dir), reports.Options{Format: "csv", Header: []byte("user_id,public_metadata\n")})
	if err != nil {
		t.Fatal(err)
	}
	row := 0
	record := func(n int, r reports.Result) {
		for range n {
			row++
			r.Row, r.Line, r.UserID = row, row+1, fmt.Sprintf("user_%d", row)
			raw := ""
			if r.Status.Failure() {
				raw = r.UserID + ",{}\n"
			}
			if err := w.Record(r, []byte(raw)); err != nil {
				t.Fatal(err)
			}
		}
	}
	record(1180, reports.Result{Status: reports.Succeeded, HTTPStatus: 200, Attempts: 1, RemovedKeys: 1, AddedKeys: 2})
	record(9, reports.Result{Status: reports.Failed, HTTPStatus: 404, ErrorCode: "resource_not_found", ErrorMessage: "No user was found", Attempts: 1})
	record(6, reports.Result{Status: reports.Unchanged})
	record(3, reports.Result{Status: reports.Failed, HTTPStatus: 422, ErrorCode: "form_param_value_invalid", ErrorMessage: "public_metadata exceeds the maximum allowed size", Attempts: 1})
	record(2, reports.Result{Status: reports.Invalid, ErrorCode: "invalid_json", ErrorMessage: "public_metadata: unexpected end of JSON"})
	if err := w.Backup("user_1", [3]json.RawMessage{[]byte(`{"plan":"free"}`)}); err != nil {
		t.Fatal(err)
	}
	counts := w.Counts()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	finished := reports.Summary{
		Command: "run", RunID: "plan-migration", ToolVersion: "v1.2.3", Input: "users.csv", Format: "csv",
		Total: 1200, Counts: counts, Complete: true, Requests: 1215, Retries: 3, RateLimited: 2, Reads: 12, Writes: 1203,
		KeyCounts: reports.KeyCounts{Removed: 1180, Added: 2360},
		TopRemoved: []reports.PathCount{{Path: "public_metadata.plan", Users: 1100}, {Path: "public_metadata.trial.ends", Users: 80},
			{Path: `public_metadata["a.b"]`, Users: 3}},
		Start: start, End: start.Add(2*time.Minute + 15*time.Second), ElapsedSeconds: 135, AchievedRate: 9, Sessions: 1,
		ExitCode: exitRows,
	}
	stopped := finished
	stopped.Total, stopped.Complete, stopped.ExitCode, stopped.Stopped, stopped.Sessions = 1500, false, exitAborted, "interrupted (SIGINT)", 2
	for _, c := range []struct {
		name string
		sum  reports.Summary
		prev *reports.Summary
	}{
		{"finished", finished, nil},
		{"stopped in its second session", stopped, &reports.Summary{}},
	} {
		// finish writes the settled summary, then concludes.
		if err := reports.WriteSummary(filepath.Join(wd, dir), c.sum); err != nil {
			t.Fatal(err)
		}
		st := job.Stats{Requests: 1215, Reads: 12, Writes: 1203, Retries: 3, RateLimited: 2}
		cfg := defaults()
		s := &session{cfg: cfg, env: env{dir: wd}, dir: dir, sum: c.sum, prev: c.prev, log: zerolog.Nop()}
		var screen bytes.Buffer
		s.display = newDisplay(&screen, "run users.csv", 0) // done drawing: lines pass through
		s.conclusion(st).print()

		var logged bytes.Buffer
		s.display, s.log = nil, zerolog.New(&logged)
		end := s.conclusion(st)
		end.print() // prints nothing: no one watches
		end.fields(s.log.Warn().Int("total", c.sum.Total)).Msg("run finished")
		var line bytes.Buffer
		if err := json.Indent(&line, logged.Bytes(), "", "  "); err != nil {
			t.Fatalf("the run finished line is not one JSON object: %v\n%s", err, logged.String())
		}
		if strings.Count(logged.String(), "\n") != 1 {
			t.Errorf("the run finished line is not one line:\n%s", logged.String())
		}
		golden(t, "summary-"+strings.ReplaceAll(c.name, " ", "-")+".golden",
			"-- on a terminal --\n"+screen.String()+"-- the run finished log line, indented --\n"+line.String())
	}
}
